/**
 * Attack: a certificate PEM with a `Proc-Type: 4,ENCRYPTED` header. Read
 * with no password callback, OpenSSL falls back to its default one, which
 * prints "Enter PEM pass phrase:" on the terminal and blocks reading it — a
 * server that loads a CA bundle or chain file someone could write to hangs.
 *
 * The loads run in a child process on a pseudo-terminal (util-linux
 * `script`), whose input stays open, so a prompt would block; a watchdog
 * bounds the wait. Every load must fail at once with the typed error, and the
 * terminal must show nothing but the child's own report lines.
 */
import assert from "node:assert/strict";
import { fixturePath } from "../helpers.ts";

const CHILD = new URL("./peers/load_encrypted_pem.ts", import.meta.url).pathname;
const WATCHDOG_MS = 20_000;

/** Single-quotes a word for `sh -c`. */
const shellQuote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

async function onTerminal(args: string[]): Promise<{ output: string; code: number | null }> {
  const command = args.map(shellQuote).join(" ");
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    stdin: "piped", // kept open: a prompt would wait for it
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let output = "";
  const decoder = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of child.stdout) output += decoder.decode(chunk, { stream: true });
  })();
  const drainErr = (async () => {
    for await (const chunk of child.stderr) output += decoder.decode(chunk, { stream: true });
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), WATCHDOG_MS);
  });
  const status = await Promise.race([child.status, timeout]);
  clearTimeout(timer);
  if (status === null) child.kill("SIGKILL");
  await child.stdin.close().catch(() => {});
  await child.status;
  await Promise.all([pump, drainErr]);
  return { output, code: status === null ? null : status.code };
}

Deno.test("PEM prompt: an encrypted certificate PEM never prompts on the terminal or blocks", async () => {
  const started = performance.now();
  const { output, code } = await onTerminal([
    Deno.execPath(),
    "run",
    "--allow-all",
    "--no-check",
    CHILD,
    fixturePath("names/encrypted-header.pem"),
    fixturePath("server-key-pkcs8-aes256.pem"),
  ]);
  const lines = output.replaceAll("\r", "").split("\n").filter((line) => line.length > 0);
  assert.notEqual(code, null, `blocked on the terminal (killed after ${WATCHDOG_MS} ms); it printed:\n${output}`);
  assert.equal(code, 0, output);
  // Only the child's report lines: no prompt, nothing OpenSSL wrote.
  const reports = lines.map((line) => {
    try {
      return JSON.parse(line);
    } catch {
      assert.fail(`unexpected output on the terminal: ${JSON.stringify(line)}\n${output}`);
    }
  });
  assert.deepEqual(reports, [
    { case: "X509Certificate.fromPEM", error: "UnableToReadCertificateError" },
    { case: "ca option", error: "UnableToReadCertificateError" },
    { case: "addTrustedCertificate", error: "UnableToReadCertificateError" },
    { case: "useCertificateChain", error: "UnableToReadCertificateError" },
    { case: "useCertificateChainFile", error: "UnableToReadCertificateError" },
    { case: "PrivateKey.fromFile", error: "UnableToReadPrivateKeyError" },
  ]);
  assert.ok(performance.now() - started < WATCHDOG_MS);
});
