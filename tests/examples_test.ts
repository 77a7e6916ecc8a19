/**
 * Runs each callback example as a child process, the way a user would
 * (`deno run --allow-ffi --allow-read --allow-net --allow-env examples/…`),
 * and checks that it exits 0 and prints what it demonstrates.
 */
import assert from "node:assert/strict";

const PERMISSIONS = ["--allow-ffi", "--allow-read", "--allow-net", "--allow-env"];

async function runExample(name: string): Promise<string> {
  const script = new URL(`../examples/${name}`, import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const out = new TextDecoder().decode(stdout);
  const err = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `${name} exited with ${code}\nstdout:\n${out}\nstderr:\n${err}`);
  return out;
}

function assertLines(output: string, patterns: RegExp[]): void {
  const lines = output.split("\n");
  for (const pattern of patterns) {
    assert.ok(lines.some((line) => pattern.test(line)), `no line matches ${pattern} in:\n${output}`);
  }
}

Deno.test("example: encrypted_key_server.ts (§1)", async () => {
  const out = await runExample("encrypted_key_server.ts");
  assertLines(out, [
    /^key is encrypted: true$/,
    /^wrong password rejected: UnableToReadPrivateKeyError$/,
    /^password callback: maxLength=\d+ rwflag=0$/,
    /^server key loaded from the inline encrypted PEM$/,
    /^client connected: TLSv1\.[23], server certificate CN=localhost,O=secsock$/,
    /^client received: hello, client$/,
  ]);
  assert.equal(out.match(/password callback:/g)?.length, 1, "called once for the one key load");
});

Deno.test("example: verify_logger.ts (§2)", async () => {
  const out = await runExample("verify_logger.ts");
  assertLines(out, [
    /^depth=2 ok=true subject=CN=secsock Test Root CA,O=secsock /,
    /^depth=1 ok=true subject=CN=secsock Test Intermediate CA,O=secsock /,
    /^depth=0 ok=true subject=CN=localhost,O=secsock /,
    /^handshake ok: TLSv1\.[23]$/,
    /^rejected without a pin: code=\d+ /,
    /^pinned fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}$/,
    /^depth=0 ok=false .*fingerprint matches the pin$/,
    /^pinned handshake ok: TLSv1\.[23]$/,
  ]);
  const depths = out.split("\n").filter((l) => /^depth=\d ok=true subject=/.test(l)).map((l) => l[6]);
  assert.deepEqual(depths, ["2", "1", "0"], "deepest first");
});

Deno.test("example: handshake_tracer.ts (§3)", async () => {
  const out = await runExample("handshake_tracer.ts");
  assertLines(out, [
    /^\[client\] SSL_connect:handshake start$/,
    /^\[client\] SSL_connect:.*write client hello$/,
    /^\[client\] SSL_connect:handshake done$/,
    /^\[server\] SSL_accept:handshake start$/,
    /^\[server\] SSL_accept:.*read client hello$/,
    /^\[server\] SSL_accept:handshake done$/,
    /^\[client\] SSL3 alert write:warning:/,
    /^\[server\] SSL3 alert read:warning:/,
    /^trace complete$/,
  ]);
  for (const line of out.split("\n").filter((l) => /^\[(client|server)\] SSL/.test(l))) {
    assert.match(line, /^\[client\] (SSL_connect:|SSL3 alert )|^\[server\] (SSL_accept:|SSL3 alert )/);
  }
});

Deno.test("example: client_cert_chooser.ts (§4)", async () => {
  const out = await runExample("client_cert_chooser.ts");
  assertLines(out, [
    /^client: server accepts issuers: .*CN=secsock Test Root CA,O=secsock/,
    /^client: chose CN=secsock client,O=secsock$/,
    /^server: client subject = CN=secsock client,O=secsock$/,
    /^client: server said "welcome"$/,
  ]);
});
