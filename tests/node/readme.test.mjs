/**
 * Runs the README's Node.js client example (its ```js snippet) with `node`
 * against `openssl s_server`, importing "secsock" as an installed package
 * would: the snippet is placed inside the package directory, where the bare
 * specifier resolves to the package itself through its "exports".
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { test } from "node:test";
import { fixturePath, npmDir, opensslServer } from "./helpers.mjs";

const readme = readFileSync(join(npmDir, "README.md"), "utf8");
const snippets = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

test("the README has a Node.js client example", () => {
  assert.ok(snippets.some((s) => s.includes('from "secsock"')), "no ```js snippet imports secsock");
});

for (const [index, snippet] of snippets.entries()) {
  test(`README Node.js snippet ${index + 1} runs with node`, async () => {
    const peer = snippet.includes("8443")
      ? await opensslServer(["-cert", "server.pem", "-cert_chain", "intermediate.pem", "-key", "server.key", "-www"])
      : null;
    const file = join(npmDir, `.readme-snippet-${index}.mjs`);
    try {
      writeFileSync(file, peer ? snippet.replaceAll("8443", String(peer.port)) : snippet);
      const output = await new Promise((resolve, reject) => {
        execFile(process.execPath, [file], { cwd: fixturePath(""), timeout: 30_000 }, (error, stdout, stderr) => {
          if (error) reject(new Error(`snippet ${index + 1} failed:\n${snippet}\n---\n${stdout}${stderr}`));
          else resolve(stdout + stderr);
        });
      });
      if (snippet.includes("setCertificateVerifyCallback")) {
        assert.match(output, /depth 2: CN=secsock Test Root CA,O=secsock ok=true/);
        assert.match(output, /depth 0: CN=localhost,O=secsock ok=true/);
      }
      if (snippet.includes("GET /")) assert.match(output, /HTTP\/1\.0 200 ok/);
    } finally {
      rmSync(file, { force: true });
      await peer?.close();
    }
  });
}
