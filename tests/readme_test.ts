/**
 * Runs every TypeScript snippet of the README, so the documentation cannot rot.
 * Snippets that talk to "port 8443" get an `openssl s_server` like the README's
 * on a free port instead.
 */
import assert from "node:assert/strict";
import { opensslServer, serverCertArgs } from "./peers/openssl.ts";

const root = new URL("../", import.meta.url).pathname;
const readme = Deno.readTextFileSync(`${root}README.md`);
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

Deno.test("the README has a snippet for each of the four callbacks", () => {
  for (
    const api of [
      "setPasswordCallback",
      "setCertificateVerifyCallback",
      "setInfoCallback",
      "setClientCertificateCallback",
    ]
  ) {
    assert.ok(snippets.some((s) => s.includes(api)), `no README snippet uses ${api}`);
  }
});

/** What each snippet must print, found by an API it uses (first match wins). */
const EXPECTED: [string, RegExp][] = [
  ["createDispatcher", /key password asked[\s\S]*verify depth 0: CN=localhost,O=secsock ok=true[\s\S]*status 200/],
  ["serveHttps", /hello CN=secsock client,O=secsock \(TLSv1\.3, authorized: true\)/],
  ["SecureSocketDuplex", /TLSv1\.3 true localhost\s+HTTP\/1\.0 200 ok/],
  ["ocspGood", /OCSP: the stapled response is signed, current, about this certificate, and says good/],
  ["SecureSocketListener.listen", /hello CN=secsock client,O=secsock/],
  ["setPasswordCallback", /OpenSSL asks for a password: buffer \d+ bytes, rwflag 0[\s\S]*RSA 2048/],
  ["setCertificateVerifyCallback", /depth 2: CN=secsock Test Root CA[\s\S]*verified CN=localhost/],
  ["setInfoCallback", /SSL_connect:SSLv3\/TLS write client hello/],
  ["setClientCertificateCallback", /CN=secsock Test Root CA[\s\S]*HTTP\/1\.0 200 ok/],
  ["Pkcs12.parse", /CN=secsock client,O=secsock RSA/],
];

for (const [index, snippet] of snippets.entries()) {
  const title = snippet.split("\n").find((l) => l.includes("set") && l.includes("Callback"))?.trim() ??
    snippet.split("\n")[0];
  Deno.test(`README snippet ${index + 1} runs (${title.slice(0, 60)})`, async () => {
    const needsServer = snippet.includes("8443");
    const server = needsServer
      ? await opensslServer([
        ...serverCertArgs(),
        "-www",
        ...(snippet.includes("setClientCertificateCallback") ? ["-Verify", "1", "-CAfile", "ca.pem"] : []),
      ])
      : null;
    const file = `${root}.readme_snippet_${index}.ts`;
    try {
      Deno.writeTextFileSync(file, server ? snippet.replaceAll("8443", String(server.port)) : snippet);
      const result = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", file],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const output = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
      assert.equal(result.code, 0, `snippet ${index + 1} failed:\n${snippet}\n---\n${output}`);
      const expected = EXPECTED.find(([marker]) => snippet.includes(marker));
      if (expected) assert.match(output, expected[1]);
    } finally {
      Deno.removeSync(file);
      await server?.close();
    }
  });
}
