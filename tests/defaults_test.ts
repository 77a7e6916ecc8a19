/**
 * Secure defaults: each one refuses what it should, with the right typed
 * error, against real peers (openssl s_server / s_client) and our own server.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  describeAlert,
  HandshakeError,
  InfoWhere,
  type SecureSocket,
  SecureSocketContext,
  SecureSocketError,
  SecureSocketListener,
} from "../mod.ts";
import {
  clientContext,
  connectLocal,
  enc,
  fixture,
  fixtureFingerprint,
  fixturePath,
  type Peer,
  readUntil,
  serverContext,
  stopPeer,
  waitExit,
  within,
} from "./helpers.ts";
import { opensslClient, opensslServer, serverCertArgs, sniServerArgs } from "./peers/openssl.ts";

// X509_V_ERR_* codes (stable across OpenSSL 3.x).
const CERT_NOT_YET_VALID = 9;
const CERT_HAS_EXPIRED = 10;
const DEPTH_ZERO_SELF_SIGNED_CERT = 18;
const SELF_SIGNED_CERT_IN_CHAIN = 19;
const UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20;
const HOSTNAME_MISMATCH = 62;
const IP_ADDRESS_MISMATCH = 64;
// TLS alert codes.
const ALERT_NO_RENEGOTIATION = 100;

/** Connects our default client (trusting the fixture root only) to an s_server; returns the error. */
async function failureAgainst(
  serverArgs: string[],
  options: { hostname?: string; context?: SecureSocketContext } = {},
): Promise<unknown> {
  const peer = await opensslServer(serverArgs);
  const ctx = options.context ?? clientContext();
  try {
    const socket = await within(connectLocal(ctx, peer.port, options.hostname ?? "localhost"), 10_000, "handshake")
      .catch((error) => error);
    if (!(socket instanceof Error)) {
      (socket as SecureSocket).close();
      return null;
    }
    return socket;
  } finally {
    if (!options.context) ctx.close();
    await stopPeer(peer);
  }
}

/** `openssl s_client` to our listener, trusting the fixture root, with extra arguments. */
function sClientTo(listener: SecureSocketListener, args: string[]): Peer {
  return opensslClient(listener.addr.port, ["-CAfile", fixturePath("ca.pem"), ...args]);
}

/** The codes of the alerts sockets of `ctx` write, collected by an info callback. */
function writtenAlerts(ctx: SecureSocketContext): number[] {
  const written: number[] = [];
  ctx.setInfoCallback((_socket, where, ret) => {
    if ((where & InfoWhere.WriteAlert) === InfoWhere.WriteAlert) written.push(describeAlert(ret).code);
  });
  return written;
}

function assertVerifyError(error: unknown, code: number, depth: number): void {
  assert.ok(error instanceof CertificateVerificationError, `expected CertificateVerificationError, got ${error}`);
  assert.equal(error.code, code, error.message);
  assert.equal(error.depth, depth, error.message);
  assert.ok(error instanceof SecureSocketError);
  assert.match(error.message, /certificate/i);
}

/** `-cert`/`-key` (and `-cert_chain`) arguments for a fixture leaf. */
const certArgs = (leaf: string, chain?: string) => [
  ...["-cert", fixturePath(`${leaf}.pem`), "-key", fixturePath(`${leaf}.key`)],
  ...(chain ? ["-cert_chain", fixturePath(chain)] : []),
];

/** s_servers our default client must refuse: test name, s_server arguments, X509_V_ERR code, depth. */
const REFUSED_SERVERS: [string, string[], number, number][] = [
  ["untrusted server: self-signed leaf → code 18 at depth 0", certArgs("selfsigned"), DEPTH_ZERO_SELF_SIGNED_CERT, 0],
  [
    "untrusted server: leaf from another CA → code 20 at depth 0",
    certArgs("other-client"),
    UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    0,
  ],
  [
    "untrusted server: chain up to another root → code 19 at depth 1",
    certArgs("other-client", "other-ca.pem"),
    SELF_SIGNED_CERT_IN_CHAIN,
    1,
  ],
  ["server that omits its intermediate → code 20 at depth 0", certArgs("server"), UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 0],
  ["expired server certificate → code 10 at depth 0", serverCertArgs("expired"), CERT_HAS_EXPIRED, 0],
  ["not-yet-valid server certificate → code 9 at depth 0", serverCertArgs("not-yet-valid"), CERT_NOT_YET_VALID, 0],
  [
    "wrong host: wrong.example chain verified as localhost → code 62",
    serverCertArgs("wronghost"),
    HOSTNAME_MISMATCH,
    0,
  ],
];

for (const [name, args, code, depth] of REFUSED_SERVERS) {
  Deno.test(name, async () => {
    assertVerifyError(await failureAgainst(args), code, depth);
  });
}

Deno.test("IP verification: 127.0.0.1 matches the IP SAN and fails against wronghost (code 64)", async () => {
  const peer = await opensslServer([...serverCertArgs("server"), "-naccept", "1"]);
  using ctx = clientContext();
  try {
    const socket = await within(connectLocal(ctx, peer.port, "127.0.0.1"), 10_000, "handshake");
    assert.equal(socket.protocol, "TLSv1.3");
    assert.ok(socket.peerCertificate?.subjectAltNames.includes("IP:127.0.0.1"));
    socket.close();
  } finally {
    await stopPeer(peer);
  }
  assertVerifyError(
    await failureAgainst(serverCertArgs("wronghost"), { hostname: "127.0.0.1" }),
    IP_ADDRESS_MISMATCH,
    0,
  );
});

Deno.test("the system trust store alone (default context) rejects the test server", async () => {
  using server = serverContext();
  using client = new SecureSocketContext(); // useSystemTrust: true, no extra CA
  using listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const serverSide = (async () => {
    const socket = await listener.accept();
    try {
      await socket.handshake();
      return null;
    } catch (error) {
      return error;
    } finally {
      socket.close();
    }
  })();
  const error = await connectLocal(client, listener.addr.port).then((s) => {
    s.close();
    return null;
  }, (e) => e);
  // The server sends leaf + intermediate; the root is in no system store.
  assertVerifyError(error, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 1);
  const serverError = await serverSide;
  assert.ok(serverError instanceof HandshakeError, String(serverError));
  assert.match(serverError.message, /unknown ca/i);
});

Deno.test("TLS 1.1-only server is refused by default (HandshakeError); explicit opt-in connects", async () => {
  const tls11 = [...serverCertArgs("server"), "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"];
  const error = await failureAgainst(tls11);
  assert.ok(error instanceof HandshakeError, String(error));
  assert.ok(!(error instanceof CertificateVerificationError));
  assert.match(error.message, /protocol version|unsupported protocol|no protocols available/i);

  // Control: the same server is reachable when the client explicitly allows legacy TLS.
  using legacy = clientContext({ minVersion: "TLSv1.1", securityLevel: 0 });
  const peer = await opensslServer([...tls11, "-naccept", "1"]);
  try {
    const socket = await within(connectLocal(legacy, peer.port), 10_000, "legacy handshake");
    assert.equal(socket.protocol, "TLSv1.1");
    socket.close();
  } finally {
    await stopPeer(peer);
  }
});

Deno.test("our server refuses a TLS 1.1-only client by default", async () => {
  using server = serverContext();
  using listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const peer = sClientTo(listener, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
  try {
    const socket = await listener.accept();
    try {
      await assert.rejects(socket.handshake(), HandshakeError);
    } finally {
      socket.close();
    }
    const { status, exited } = await waitExit(peer, 10_000);
    assert.ok(exited);
    assert.notEqual(status.code, 0);
    assert.match(peer.output(), /alert protocol version|unsupported protocol|wrong version/i);
  } finally {
    await stopPeer(peer);
  }
});

Deno.test("the default client sends SNI (s_server switches certificate on it); none for an IP", async () => {
  // s_server serves the EC leaf only to clients asking for "localhost". Its
  // second context has no chain, so trust the intermediate too (still full verification).
  using ctx = clientContext({ ca: [fixture("ca.pem"), fixture("intermediate.pem")] });
  const ecLeaf = fixtureFingerprint("server-ec.pem");
  const rsaLeaf = fixtureFingerprint("server.pem");
  for (const [hostname, expected] of [["localhost", ecLeaf], ["127.0.0.1", rsaLeaf]]) {
    const peer = await opensslServer([...sniServerArgs(), "-naccept", "1"]);
    try {
      const socket = await within(connectLocal(ctx, peer.port, hostname), 10_000, "handshake");
      assert.equal(socket.peerCertificate?.fingerprint256, expected, `certificate served for ${hostname}`);
      socket.close();
    } finally {
      await stopPeer(peer);
    }
  }
});

Deno.test("the default client sends SNI: our server reads socket.servername", async () => {
  using server = serverContext();
  using client = clientContext();
  using listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const names: (string | null)[] = [];
  for (const hostname of ["localhost", "127.0.0.1"]) {
    const accepted = listener.accept().then(async (s) => {
      await s.handshake();
      return s;
    });
    const socket = await connectLocal(client, listener.addr.port, hostname);
    const serverSocket = await accepted;
    try {
      names.push(serverSocket.servername);
      assert.equal(socket.servername, hostname === "localhost" ? "localhost" : null);
    } finally {
      socket.close();
      serverSocket.close();
    }
  }
  assert.deepEqual(names, ["localhost", null]);
});

Deno.test("TLS 1.2 renegotiation requested by an s_server is refused (no_renegotiation alert)", async () => {
  const peer = await opensslServer([...serverCertArgs("server"), "-tls1_2", "-naccept", "1"]);
  using ctx = clientContext();
  const written = writtenAlerts(ctx);
  let socket: SecureSocket | null = null;
  try {
    socket = await within(connectLocal(ctx, peer.port), 10_000, "handshake");
    assert.equal(socket.protocol, "TLSv1.2");
    await peer.send("before\n");
    assert.equal(await within(readUntil(socket, "\n"), 10_000, "data before"), "before\n");
    // "R" on s_server's stdin: HelloRequest + renegotiation.
    const pending = socket.read(new Uint8Array(100));
    await peer.send("R\n");
    const outcome = await within(pending.then((n) => `read ${n}`, (e) => e), 10_000, "read during renegotiation");
    // We answered with no_renegotiation; s_server gave up on the connection.
    assert.ok(written.includes(ALERT_NO_RENEGOTIATION), `alerts written: ${written}`);
    await peer.waitFor(/no renegotiation/i);
    assert.ok(outcome instanceof SecureSocketError, String(outcome));
  } finally {
    socket?.close();
    await stopPeer(peer);
  }
});

Deno.test("TLS 1.2 renegotiation requested by an s_client is refused by our server", async () => {
  using server = serverContext();
  const written = writtenAlerts(server);
  using listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const peer = sClientTo(listener, ["-servername", "localhost", "-tls1_2"]);
  let socket: SecureSocket | null = null;
  try {
    socket = await listener.accept();
    await socket.handshake();
    await peer.send("hello\n");
    assert.equal(await within(readUntil(socket, "\n"), 10_000, "data before"), "hello\n");
    await socket.write(enc("still here\n"));
    await peer.waitFor(/still here/);
    // "R" on s_client's stdin: a new ClientHello on the established connection.
    await peer.send("R\n");
    await peer.waitFor(/RENEGOTIATING/);
    const outcome = await within(
      socket.read(new Uint8Array(100)).then((n) => `read ${n}`, (e) => e),
      10_000,
      "read during renegotiation",
    );
    assert.ok(written.includes(ALERT_NO_RENEGOTIATION), `alerts written: ${written}`);
    await peer.waitFor(/no renegotiation/i);
    assert.ok(outcome instanceof SecureSocketError, String(outcome));
    const { exited } = await waitExit(peer, 10_000);
    assert.ok(exited, "s_client gives up after the refusal");
  } finally {
    socket?.close();
    await stopPeer(peer);
  }
});
