/**
 * Node-style context options (`cert`, `key`, `passphrase`, `pfx`, `ca`,
 * `requestCert`, `rejectUnauthorized`, `ALPNProtocols`): each context is made
 * both ways — with the options and with the setters they map onto — and both
 * must behave the same against openssl s_server/s_client and Node's `tls`.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  type SecureSocket,
  SecureSocketContext,
  type SecureSocketContextOptions,
  VerifyMode,
} from "../mod.ts";
import {
  connectLocal,
  fixture,
  fixturePath,
  nodePeer,
  readAll,
  readUntil,
  settle,
  TestServer,
  waitExit,
} from "./helpers.ts";
import { clientCertArgs, opensslServer, sClient, serverCertArgs, verifiedAt } from "./peers/openssl.ts";

const PASS = "secsock-pass";

type Maker = () => SecureSocketContext;

/**
 * The same context, once from Node-style options and once from setters (on a
 * context made with `settersOptions`, the secsock names of the other options).
 */
function bothWays(
  options: SecureSocketContextOptions,
  setters: (ctx: SecureSocketContext) => void,
  settersOptions: SecureSocketContextOptions = {},
) {
  return {
    options: () => new SecureSocketContext({ useSystemTrust: false, ...options }),
    setters: () => {
      const ctx = new SecureSocketContext({ useSystemTrust: false, ...settersOptions });
      setters(ctx);
      return ctx;
    },
  } satisfies Record<string, Maker>;
}

/** What a secsock server saw of one client: the client's CN and the ALPN protocol, or the error's class. */
async function greet(socket: SecureSocket): Promise<string> {
  const { alpnProtocol } = await socket.handshake();
  const cn = socket.peerCertificate?.subject.match(/CN=([^,]+)/)?.[1] ?? null;
  await socket.write(new TextEncoder().encode(`hello ${cn}\n`));
  await socket.closeWrite();
  await readAll(socket).catch(() => {});
  return `${cn} ${alpnProtocol}`;
}

function outcomeText(outcome: Awaited<ReturnType<TestServer<string>["outcome"]>>): string {
  return outcome.ok ? outcome.value : (outcome.error as Error).name;
}

Deno.test("server: cert + encrypted key + passphrase + ca + requestCert + ALPNProtocols = the setters (s_client, Node tls)", async () => {
  const variants = bothWays({
    cert: fixture("server-chain.pem"),
    key: fixture("server-key-pkcs8-aes256.pem"),
    passphrase: PASS,
    ca: fixture("ca.pem"),
    requestCert: true,
    ALPNProtocols: ["http/1.1"],
  }, (ctx) => {
    ctx.useCertificateChain(fixture("server-chain.pem"));
    ctx.usePrivateKey(fixture("server-key-pkcs8-aes256.pem"), PASS);
    ctx.addTrustedCertificate(fixture("ca.pem"));
    ctx.setVerify(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert);
  }, { alpnProtocols: ["http/1.1"] });
  const seen: Record<string, string[]> = {};
  for (const [how, make] of Object.entries(variants)) {
    const server = new TestServer(make(), greet, { sequential: true });
    try {
      const withCert = await sClient(server.port, [
        ...clientCertArgs(),
        "-CAfile",
        fixturePath("ca.pem"),
        "-servername",
        "localhost",
        "-alpn",
        "http/1.1",
        "-ign_eof",
      ]);
      assert.match(withCert, /hello secsock client/, withCert);
      const withoutCert = await sClient(server.port, ["-CAfile", fixturePath("ca.pem"), "-ign_eof"]);
      const node = nodePeer("node_mtls_peer.mjs", ["client", fixturePath(""), String(server.port), "yes"]);
      const { exited } = await waitExit(node);
      assert.ok(exited, node.output());
      assert.match(node.output(), /CLIENT \{"authorized":true,"alpn":"http\/1.1","data":"hello secsock client\\n"\}/);
      seen[how] = [];
      for (const i of [0, 1, 2]) seen[how].push(outcomeText(await server.outcome(i)));
      assert.doesNotMatch(withoutCert, /hello/, "a client without a certificate is refused");
    } finally {
      await server.close();
    }
  }
  assert.deepEqual(seen.options, ["secsock client http/1.1", "HandshakeError", "secsock client http/1.1"]);
  assert.deepEqual(seen.options, seen.setters);
});

Deno.test("client: cert + encrypted key + passphrase + ca = the setters (s_server -Verify, Node tls requestCert)", async () => {
  const variants = bothWays({
    cert: fixture("client-chain.pem"),
    key: fixture("client-key-pkcs8-aes256.pem"),
    passphrase: PASS,
    ca: fixture("ca.pem"),
  }, (ctx) => {
    ctx.useCertificateChain(fixture("client-chain.pem"));
    ctx.usePrivateKey(fixture("client-key-pkcs8-aes256.pem"), PASS);
    ctx.addTrustedCertificate(fixture("ca.pem"));
  });
  for (const make of Object.values(variants)) {
    const sServer = await opensslServer([
      ...serverCertArgs(),
      "-Verify",
      "1",
      "-verify_return_error",
      "-CAfile",
      fixturePath("ca.pem"),
      "-www",
    ]);
    try {
      const socket = await connectLocal(make(), sServer.port);
      await socket.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
      assert.match(await readUntil(socket, "\r\n\r\n"), /200 ok/i);
      socket.close();
      assert.ok(verifiedAt(sServer.output(), 0, "secsock client"), sServer.output());
    } finally {
      await sServer.close();
    }
    const node = nodePeer("node_mtls_peer.mjs", ["server", fixturePath("")]);
    try {
      const port = Number((await node.waitFor(/LISTENING (\d+)/))[1]);
      const socket = await connectLocal(make(), port);
      assert.equal(await readUntil(socket, "\n"), "hello secsock client\n");
      socket.close();
      await node.waitFor(/CONN \{"authorized":true,"cn":"secsock client","alpn":null\}/);
    } finally {
      await node.close();
    }
  }
});

Deno.test("client: pfx + passphrase = usePkcs12(), and ALPNProtocols = alpnProtocols (Node tls server)", async () => {
  const p12 = Deno.readFileSync(fixturePath("client.p12"));
  const variants = bothWays(
    { pfx: p12, passphrase: PASS, ca: fixture("ca.pem"), ALPNProtocols: ["http/1.1"] },
    (ctx) => {
      ctx.usePkcs12(p12, PASS);
      ctx.addTrustedCertificate(fixture("ca.pem"));
    },
    { alpnProtocols: ["http/1.1"] },
  );
  const node = nodePeer("node_mtls_peer.mjs", ["server", fixturePath("")]);
  try {
    const port = Number((await node.waitFor(/LISTENING (\d+)/))[1]);
    for (const make of Object.values(variants)) {
      const socket = await connectLocal(make(), port);
      assert.deepEqual(await socket.handshake(), { alpnProtocol: "http/1.1" });
      assert.equal(await readUntil(socket, "\n"), "hello secsock client\n");
      socket.close();
    }
    const lines = node.output().match(/CONN .*/g) ?? [];
    assert.deepEqual(lines, Array(2).fill('CONN {"authorized":true,"cn":"secsock client","alpn":"http/1.1"}'));
  } finally {
    await node.close();
  }
});

Deno.test("client: rejectUnauthorized: false = VerifyMode.None: connects, and verifyResult reports what failed", async () => {
  const variants = bothWays({ rejectUnauthorized: false, ca: fixture("ca.pem") }, (ctx) => {
    ctx.addTrustedCertificate(fixture("ca.pem"));
    ctx.setVerify(VerifyMode.None);
  });
  for (const [leaf, code] of [["expired", 10], ["wronghost", 62], ["server", 0]] as const) {
    const peer = await opensslServer([...serverCertArgs(leaf), "-www"]);
    try {
      const results = [];
      for (const make of Object.values(variants)) {
        const socket = await connectLocal(make(), peer.port);
        await socket.handshake();
        results.push(socket.verifyResult);
        socket.close();
      }
      assert.equal(results[0].code, code, `${leaf}: ${results[0].errorString}`);
      assert.deepEqual(results[0], results[1]);
      // The default (rejectUnauthorized: true) refuses the same server.
      const strict = await settle(connectLocal(new SecureSocketContext({ ca: fixture("ca.pem") }), peer.port));
      if (code === 0) {
        assert.ok(strict.ok);
        strict.value.close();
      } else {
        assert.ok(!strict.ok && strict.error instanceof CertificateVerificationError, `${leaf}`);
        assert.equal(strict.error.code, code);
      }
    } finally {
      await peer.close();
    }
  }
});

Deno.test("server: requestCert + rejectUnauthorized: false = VerifyMode.Peer: a client without a certificate is served", async () => {
  const variants = bothWays({
    cert: fixture("server-chain.pem"),
    key: fixture("server.key"),
    ca: fixture("ca.pem"),
    requestCert: true,
    rejectUnauthorized: false,
  }, (ctx) => {
    ctx.useCertificateChain(fixture("server-chain.pem"));
    ctx.usePrivateKey(fixture("server.key"));
    ctx.addTrustedCertificate(fixture("ca.pem"));
    ctx.setVerify(VerifyMode.Peer);
  });
  const seen: string[][] = [];
  for (const make of Object.values(variants)) {
    const server = new TestServer(make(), greet, { sequential: true });
    try {
      const anonymous = await sClient(server.port, ["-CAfile", fixturePath("ca.pem"), "-ign_eof"]);
      assert.match(anonymous, /hello null/);
      const other = await sClient(server.port, [
        "-cert",
        fixturePath("other-client.pem"),
        "-key",
        fixturePath("other-client.key"),
        "-ign_eof",
      ]);
      assert.doesNotMatch(other, /hello/, "a certificate that does not verify is still refused");
      seen.push([outcomeText(await server.outcome(0)), outcomeText(await server.outcome(1))]);
    } finally {
      await server.close();
    }
  }
  assert.deepEqual(seen[0], ["null null", "CertificateVerificationError"]);
  assert.deepEqual(seen[0], seen[1]);
});

Deno.test("Node-style options: contradictory or mistyped combinations are a TypeError", () => {
  const p12 = Deno.readFileSync(fixturePath("client.p12"));
  const cases: [string, SecureSocketContextOptions][] = [
    ["pfx with cert and key", { pfx: p12, cert: fixture("client.pem"), key: fixture("client.key") }],
    ["cert without key", { cert: fixture("client.pem") }],
    ["key without cert", { key: fixture("client.key") }],
    ["passphrase alone", { passphrase: PASS }],
    ["both ALPN names", { alpnProtocols: ["h2"], ALPNProtocols: ["h2"] }],
    ["verifyMode and requestCert", { verifyMode: VerifyMode.Peer, requestCert: true }],
    ["verifyMode and rejectUnauthorized", { verifyMode: VerifyMode.Peer, rejectUnauthorized: false }],
    ["rejectUnauthorized as a string", { rejectUnauthorized: "false" as unknown as boolean }],
    ["pfx as a string", { pfx: "not bytes" as unknown as Uint8Array }],
    ["certificateCompression as a string", { certificateCompression: "no" as unknown as boolean }],
  ];
  for (const [what, options] of cases) {
    assert.throws(() => new SecureSocketContext(options), TypeError, what);
  }
});
