/**
 * The `inspect` command (cli/inspect.ts), run as a subprocess the way users
 * run it, against fixture servers: `openssl s_server` with the good, expired
 * and wrong-host chains and with `-Verify` asking for a client certificate,
 * and a secsock server stapling an OCSP response. Checks the JSON fields, the
 * exit codes, and that the text shows every depth.
 */
import assert from "node:assert/strict";
import { SecureSocketContext, X509Certificate } from "../mod.ts";
import { dec, echoServer, fixture, fixturePath, freePort, run, serverContext, sha256, stopPeer } from "./helpers.ts";
import { opensslServer, SERVER_CHAIN_SUBJECTS, serverCertArgs, TLS13_CIPHER, verifiedAt } from "./peers/openssl.ts";
import type { InspectReport } from "../cli/inspect.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CLI = `${ROOT}cli/inspect.ts`;
const ROOT_CA = "CN=secsock Test Root CA,O=secsock";
const HANDSHAKE_DONE = 0x20;

/** Runs the command (bounded) with `env` added; returns exit code and output. */
async function inspectCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("timeout", {
    args: [
      "-k",
      "2",
      "60",
      Deno.execPath(),
      "run",
      "--allow-ffi",
      "--allow-read",
      "--allow-net",
      "--allow-env",
      CLI,
      ...args,
    ],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

/** Runs with --json and parses the one object printed. */
async function inspectJson(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; report: InspectReport; stderr: string }> {
  const { code, stdout, stderr } = await inspectCli([...args, "--json"], env);
  let report: InspectReport;
  try {
    report = JSON.parse(stdout);
  } catch {
    throw new Error(`not one JSON object (exit ${code}):\n${stdout}\n${stderr}`);
  }
  return { code, report, stderr };
}

const trustFixtures = ["--ca", fixturePath("ca.pem")];

Deno.test("inspect: a good chain (openssl s_server) — verified, every depth reported, exit 0", async () => {
  const server = await opensslServer([...serverCertArgs("server"), "-www"]);
  try {
    const { code, report } = await inspectJson([`localhost:${server.port}`, ...trustFixtures]);
    assert.equal(code, 0, JSON.stringify(report));
    assert.equal(report.exitCode, 0);
    assert.match(report.verdict, /^OK: verified localhost, TLSv1\.3$/);
    assert.equal(report.verification.ok, true);
    assert.equal(report.verification.failure, null);
    assert.deepEqual(report.chain.map((c) => c.depth), [0, 1, 2]);
    assert.deepEqual(report.chain.map((c) => c.subject), [...SERVER_CHAIN_SUBJECTS, ROOT_CA]);
    assert.ok(report.chain.every((c) => c.ok && c.reports.length > 0 && c.reports.every((r) => r.ok && r.error === 0)));
    assert.deepEqual(report.sentChain, SERVER_CHAIN_SUBJECTS);
    // Expiry and SANs of the leaf, against the fixture read here.
    const leaf = X509Certificate.fromPEM(fixture("server.pem"));
    assert.equal(report.chain[0].notAfter, leaf.notAfter.toISOString());
    const expectedDays = Math.floor((leaf.notAfter.getTime() - Date.now()) / 86_400_000);
    assert.ok(Math.abs(report.chain[0].daysLeft - expectedDays) <= 1, `${report.chain[0].daysLeft} vs ${expectedDays}`);
    assert.deepEqual(report.chain[0].subjectAltNames, leaf.subjectAltNames);
    assert.equal(report.chain[0].fingerprint256, leaf.fingerprint256);
    assert.equal(report.protocol, "TLSv1.3");
    assert.match(report.cipher ?? "", TLS13_CIPHER);
    assert.equal(report.alpn, null);
    assert.equal(report.clientCertificate.requested, false);
    assert.equal(report.ocsp.stapled, false);
    // s_server issues tickets: the second connection resumed.
    assert.deepEqual(report.session, { issued: true, resumed: true });
    assert.ok(report.trace.some((t) => (t.where & HANDSHAKE_DONE) !== 0), "the trace reached handshake done");
    assert.equal(report.error, null);

    // The text form shows each depth and ends with the verdict.
    const text = await inspectCli([`localhost:${server.port}`, ...trustFixtures]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    for (const [depth, subject] of [...SERVER_CHAIN_SUBJECTS, ROOT_CA].entries()) {
      assert.ok(text.stdout.includes(`depth ${depth}: ${subject}`), `depth ${depth} missing:\n${text.stdout}`);
    }
    assert.equal(text.stdout.trim().split("\n").at(-1), report.verdict);
  } finally {
    await stopPeer(server);
  }
});

Deno.test("inspect: an expired leaf — FAIL at depth 0 with the expiry error, exit 1; --no-verify connects, exit 0", async () => {
  const server = await opensslServer([...serverCertArgs("expired"), "-www"]);
  try {
    const { code, report } = await inspectJson([`localhost:${server.port}`, ...trustFixtures]);
    assert.equal(code, 1, JSON.stringify(report));
    assert.equal(report.verification.ok, false);
    assert.equal(report.verification.failure?.depth, 0);
    assert.equal(report.verification.failure?.error, 10); // X509_V_ERR_CERT_HAS_EXPIRED
    assert.match(report.verdict, /^FAIL: .* at depth 0$/);
    // The whole chain is still shown: the intermediate and root verified, the leaf did not.
    assert.deepEqual(report.chain.map((c) => [c.depth, c.ok]), [[0, false], [1, true], [2, true]]);
    assert.ok(report.chain[0].daysLeft < 0);
    assert.equal(report.chain[0].notAfter, X509Certificate.fromPEM(fixture("expired.pem")).notAfter.toISOString());
    assert.equal(report.session.resumed, null, "no resumption attempt against a server that failed verification");

    const relaxed = await inspectJson([`localhost:${server.port}`, ...trustFixtures, "--no-verify"]);
    assert.equal(relaxed.code, 0, JSON.stringify(relaxed.report));
    assert.equal(relaxed.report.verification.ok, false);
    assert.equal(relaxed.report.verification.skipped, true);
    assert.equal(relaxed.report.verification.failure?.error, 10);
    assert.match(relaxed.report.verdict, /^OK \(NOT VERIFIED: .* at depth 0\)/);

    const text = await inspectCli([`localhost:${server.port}`, ...trustFixtures]);
    assert.equal(text.code, 1);
    for (const depth of [0, 1, 2]) assert.ok(text.stdout.includes(`depth ${depth}: `), text.stdout);
    assert.match(text.stdout.trim().split("\n").at(-1)!, /^FAIL: .* at depth 0$/);
  } finally {
    await stopPeer(server);
  }
});

Deno.test("inspect: a leaf for another host — hostname mismatch at depth 0, exit 1", async () => {
  const server = await opensslServer([...serverCertArgs("wronghost"), "-www"]);
  try {
    const { code, report } = await inspectJson([`localhost:${server.port}`, ...trustFixtures]);
    assert.equal(code, 1, JSON.stringify(report));
    assert.equal(report.verification.failure?.depth, 0);
    assert.equal(report.verification.failure?.error, 62); // X509_V_ERR_HOSTNAME_MISMATCH
    assert.deepEqual(report.chain[0].subjectAltNames, ["DNS:wrong.example"]);
    assert.ok(report.chain[1].ok && report.chain[2].ok);
    // --servername names what to verify: the same server passes as wrong.example.
    const named = await inspectJson([`127.0.0.1:${server.port}`, ...trustFixtures, "--servername", "wrong.example"]);
    assert.equal(named.code, 0, JSON.stringify(named.report));
    assert.equal(named.report.target.verifiedName, "wrong.example");
  } finally {
    await stopPeer(server);
  }
});

Deno.test("inspect: s_server -Verify — the request, the CA names, the certificate sent (encrypted key, --pass)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "secsock-inspect-" });
  const server = await opensslServer([...serverCertArgs("server"), "-www", "-Verify", "1", "-CAfile", "ca.pem"]);
  try {
    const password = crypto.randomUUID();
    const keyFile = `${dir}/client.key`;
    const enc = await run("openssl", [
      "pkcs8",
      "-topk8",
      "-v2",
      "aes-256-cbc",
      "-in",
      fixturePath("client.key"),
      "-out",
      keyFile,
      "-passout",
      `pass:${password}`,
    ]);
    assert.equal(enc.code, 0, enc.stderr);
    const withCert = ["--cert", fixturePath("client-chain.pem"), "--key", keyFile];

    const { code, report } = await inspectJson(
      [`localhost:${server.port}`, ...trustFixtures, ...withCert, "--pass", "env:INSPECT_KEY_PASS"],
      { INSPECT_KEY_PASS: password },
    );
    assert.equal(code, 0, JSON.stringify(report));
    assert.equal(report.clientCertificate.requested, true);
    assert.deepEqual(report.clientCertificate.acceptableIssuers, [ROOT_CA]);
    assert.equal(report.clientCertificate.sent, "CN=secsock client,O=secsock");
    assert.equal(report.clientCertificate.withheld, false);
    // The server verified the certificate we sent.
    await server.waitFor(/verify return:1/);
    assert.ok(verifiedAt(server.output(), 0, "secsock client"), server.output());

    // Without a certificate: the request is reported, the server refuses (after the handshake in TLS 1.3), exit 1.
    const without = await inspectJson([`localhost:${server.port}`, ...trustFixtures]);
    assert.equal(without.code, 1, JSON.stringify(without.report));
    assert.equal(without.report.clientCertificate.requested, true);
    assert.equal(without.report.clientCertificate.sent, null);
    assert.notEqual(without.report.error, null);
    assert.ok(without.report.trace.some((t) => t.alert?.level === "fatal"), "the server's fatal alert is in the trace");
    assert.match(without.report.verdict, /^FAIL: /);

    // An encrypted key without --pass is a usage error (2), not a prompt.
    const noPass = await inspectCli([`localhost:${server.port}`, ...trustFixtures, ...withCert]);
    assert.equal(noPass.code, 2, noPass.stdout + noPass.stderr);
    assert.match(noPass.stderr, /--pass/);
  } finally {
    await stopPeer(server);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inspect: a server that fails verification never gets the client certificate", async () => {
  const server = await opensslServer([...serverCertArgs("wronghost"), "-www", "-verify", "1", "-CAfile", "ca.pem"]);
  try {
    const { code, report } = await inspectJson([
      `localhost:${server.port}`,
      ...trustFixtures,
      "--cert",
      fixturePath("client-chain.pem"),
      "--key",
      fixturePath("client.key"),
    ]);
    assert.equal(code, 1, JSON.stringify(report));
    assert.equal(report.clientCertificate.requested, true);
    assert.equal(report.clientCertificate.withheld, true);
    assert.equal(report.clientCertificate.sent, null);
    // s_server (-verify: optional) saw no client certificate at all.
    assert.ok(!verifiedAt(server.output(), 0, "secsock client"), server.output());
  } finally {
    await stopPeer(server);
  }
});

Deno.test("inspect: a secsock server stapling OCSP — the staple is reported byte for byte", async () => {
  const der = Deno.readFileSync(fixturePath("server-ocsp.der"));
  using ctx = serverContext();
  ctx.setOcspResponse(der);
  const server = echoServer(ctx);
  try {
    const { code, report } = await inspectJson([`localhost:${server.port}`, ...trustFixtures]);
    assert.equal(code, 0, JSON.stringify(report));
    assert.equal(report.ocsp.stapled, true);
    assert.equal(report.ocsp.length, der.length);
    assert.equal(report.ocsp.sha256, await sha256(der));
    assert.deepEqual(report.chain.map((c) => c.depth), [0, 1, 2]);
  } finally {
    await server.close();
  }
  // The same server without a staple: reported absent.
  using plain = serverContext();
  const bare = echoServer(plain);
  try {
    const { report } = await inspectJson([`localhost:${bare.port}`, ...trustFixtures]);
    assert.equal(report.ocsp.stapled, false);
    assert.equal(report.ocsp.sha256, null);
  } finally {
    await bare.close();
  }
});

Deno.test("inspect: ALPN offered and reported (secsock server selecting from its list)", async () => {
  using ctx = new SecureSocketContext({ useSystemTrust: false, alpnProtocols: ["h2", "http/1.1"] });
  ctx.useCertificateChainFile(fixturePath("server-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("server.key"));
  const server = echoServer(ctx);
  try {
    const { code, report } = await inspectJson([`localhost:${server.port}`, ...trustFixtures, "--alpn", "http/1.1"]);
    assert.equal(code, 0, JSON.stringify(report));
    assert.equal(report.alpn, "http/1.1");
  } finally {
    await server.close();
  }
});

Deno.test("inspect: nothing listening — handshake failure, exit 1", async () => {
  const { code, report } = await inspectJson([`127.0.0.1:${freePort()}`, ...trustFixtures]);
  assert.equal(code, 1);
  assert.notEqual(report.error, null);
  assert.match(report.verdict, /^FAIL: /);
  assert.deepEqual(report.chain, []);
});

Deno.test("inspect: usage errors exit 2", async () => {
  for (
    const args of [
      [],
      ["localhost:99999"],
      ["localhost:443", "extra"],
      ["localhost:443", "--bogus"],
      ["localhost:443", "--cert", fixturePath("client.pem")],
      ["localhost:443", "--ca", fixturePath("client.key")],
      ["localhost:443", "--timeout", "soon"],
    ]
  ) {
    const { code, stdout, stderr } = await inspectCli(args);
    assert.equal(code, 2, `${args.join(" ")}: exit ${code}\n${stdout}${stderr}`);
    assert.match(stderr, /^inspect: /, args.join(" "));
  }
  const help = await inspectCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: inspect host:port/);
});
