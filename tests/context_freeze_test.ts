/**
 * What changing a context does once sockets were made from it. Settings that
 * decide who is accepted or what is presented are frozen after the first
 * socket (pyOpenSSL's `_require_not_used`): the setter throws
 * ContextInUseError and the context keeps working as configured. Operational
 * settings (ticket keys, the stapled OCSP response, the info, keylog and
 * password callbacks) stay live: a change reaches sockets that already exist.
 */
import assert from "node:assert/strict";
import {
  ContextInUseError,
  InfoWhere,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  VerifyMode,
} from "../mod.ts";
import { ownedPair, success, tlsPair } from "./callback_utils.ts";
import {
  acceptHandshake,
  clientContext,
  connectLocal,
  echoServer,
  fixture,
  fixturePath,
  serverContext,
  within,
} from "./helpers.ts";

/** Every frozen setter, each called as it would be to configure a fresh context. */
const FROZEN: [string, (ctx: SecureSocketContext) => void][] = [
  ["addTrustedCertificate()", (ctx) => ctx.addTrustedCertificate(fixture("ca.pem"))],
  ["setVerify()", (ctx) => ctx.setVerify(VerifyMode.Peer)],
  ["setCertificateVerifyCallback()", (ctx) => ctx.setCertificateVerifyCallback((ok) => ok)],
  ["setVerifyDepth()", (ctx) => ctx.setVerifyDepth(3)],
  ["useCertificateChain()", (ctx) => ctx.useCertificateChain(fixture("server-chain.pem"))],
  ["usePrivateKey()", (ctx) => ctx.usePrivateKey(fixture("server.key"))],
  ["usePkcs12()", (ctx) => ctx.usePkcs12(Deno.readFileSync(fixturePath("client.p12")), "secsock-pass")],
  ["setClientCertificateCallback()", (ctx) => ctx.setClientCertificateCallback(() => null)],
  ["setServerNameCallback()", (ctx) => ctx.setServerNameCallback(() => null)],
  ["setAlpnSelectCallback()", (ctx) => ctx.setAlpnSelectCallback(() => null)],
  ["setSessionIdContext()", (ctx) => ctx.setSessionIdContext("policy")],
  [
    "setSessionCacheCallbacks()",
    (ctx) => ctx.setSessionCacheCallbacks({ newSession: () => {}, getSession: () => null }),
  ],
  ["setOcspResponseCallback()", (ctx) => ctx.setOcspResponseCallback(() => true)],
];

for (const [setter, change] of FROZEN) {
  Deno.test(`context: ${setter} works before the first socket and is refused after it`, () => {
    using fresh = new SecureSocketContext();
    change(fresh); // configuring is fine while no socket exists

    using used = new SecureSocketContext();
    const socket = new SecureSocket(used, { hostname: "localhost" });
    try {
      assert.throws(() => change(used), (e: unknown) => e instanceof ContextInUseError && e.message.includes(setter));
    } finally {
      socket.close();
    }
    // Closing the socket does not unfreeze: OpenSSL may still share the context's state.
    assert.throws(() => change(used), ContextInUseError);
  });
}

Deno.test("context: a listener's accepted socket freezes the context the listener was given", async () => {
  using ctx = serverContext();
  using client = clientContext();
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const open: SecureSocket[] = [];
  const connect = () =>
    within(
      Promise.all([connectLocal(client, listener.addr.port), acceptHandshake(listener)]),
      10_000,
      "a handshake",
    ).then((pair) => (open.push(...pair), pair));
  try {
    // The listener alone makes no socket: still configurable.
    ctx.setVerifyDepth(4);
    await connect();
    assert.throws(() => ctx.setVerify(VerifyMode.Peer), ContextInUseError);
    // The refusal changed nothing: the next client is served as before.
    const [, second] = await connect();
    assert.equal(second.peerCertificate, null, "the refused setVerify() must not have asked for a certificate");
  } finally {
    for (const socket of open) socket.close();
    listener.close();
  }
});

Deno.test("context: a context SNI moved a connection to is frozen too", async () => {
  using chosen = serverContext();
  using listenerCtx = serverContext();
  listenerCtx.setServerNameCallback(() => chosen);
  using client = clientContext();
  using pair = await tlsPair(listenerCtx, client);
  success(pair.clientResult);
  success(pair.serverResult);
  assert.throws(() => chosen.addTrustedCertificate(fixture("ca.pem")), ContextInUseError);
});

Deno.test("context: the info callback set after a socket exists reaches that socket", async () => {
  const server = serverContext();
  const client = clientContext();
  const seen: string[] = [];
  using pair = await ownedPair(server, client, {
    // Both sockets exist when the callbacks are set.
    onClient: () =>
      client.setInfoCallback((s, where) => void (where & InfoWhere.HandshakeDone && seen.push(`client ${s.isServer}`))),
    onServer: () =>
      server.setInfoCallback((s, where) => void (where & InfoWhere.HandshakeDone && seen.push(`server ${s.isServer}`))),
  });
  success(pair.clientResult);
  success(pair.serverResult);
  assert.deepEqual(seen.sort(), ["client false", "server true"]);
});

Deno.test("context: the keylog callback set after a socket exists reaches that socket", async () => {
  const server = serverContext();
  const client = clientContext();
  const lines: string[] = [];
  using pair = await ownedPair(server, client, {
    onClient: (socket) => client.setKeylogCallback((s, line) => void (s === socket && lines.push(line))),
  });
  success(pair.clientResult);
  success(pair.serverResult);
  assert.ok(lines.length > 0, "no key log line for the socket that existed before the callback");
  assert.ok(lines.every((line) => /^[A-Z_0-9]+ [0-9a-f]+ [0-9a-f]+$/.test(line)), lines.join("\n"));
});

Deno.test("context: a refreshed OCSP response is stapled for a socket accepted before the refresh", async () => {
  const server = serverContext();
  server.setOcspResponse(new Uint8Array([1, 2, 3]));
  const client = new SecureSocketContext({ ca: fixture("ca.pem"), requestOcsp: true });
  const stapled: (Uint8Array | null)[] = [];
  client.setOcspResponseCallback((_socket, response) => {
    stapled.push(response);
    return true;
  });
  const refreshed = Deno.readFileSync(fixturePath("server-ocsp.der"));
  using pair = await ownedPair(server, client, { onServer: () => server.setOcspResponse(refreshed) });
  success(pair.clientResult);
  success(pair.serverResult);
  assert.deepEqual(stapled, [refreshed]);
});

Deno.test("context: ticket keys rotate while sockets exist; older tickets fall back to a full handshake", async () => {
  using server = serverContext({ maxVersion: "TLSv1.2" });
  using client = clientContext();
  const echo = echoServer(server);
  const open: SecureSocket[] = [];
  try {
    const first = await connectLocal(client, echo.port);
    open.push(first);
    const session = first.session;
    assert.ok(session, "no resumable session");
    const control = await connectLocal(client, echo.port, { servername: "localhost", session });
    open.push(control);
    assert.equal(control.isSessionReused, true, "the ticket did not resume before the rotation");
    // The server context has sockets (still open): rotating is an operational change.
    const keys = crypto.getRandomValues(new Uint8Array(80));
    server.setTicketKeys(keys);
    assert.deepEqual(server.getTicketKeys(), keys);
    const rotated = await connectLocal(client, echo.port, { servername: "localhost", session });
    open.push(rotated);
    assert.equal(rotated.isSessionReused, false, "a ticket sealed with the old keys resumed");
    const renewed = await connectLocal(client, echo.port, { servername: "localhost", session: rotated.session! });
    open.push(renewed);
    assert.equal(renewed.isSessionReused, true, "a ticket sealed with the new keys did not resume");
  } finally {
    for (const socket of open) {
      await socket.closeWrite().catch(() => {});
      socket.close();
    }
    await echo.close();
  }
});

Deno.test("context: the password callback can still change once sockets exist (it serves later key loads)", () => {
  using ctx = new SecureSocketContext();
  const socket = new SecureSocket(ctx, { hostname: "localhost" });
  try {
    ctx.setPasswordCallback(() => "secsock-pass");
    ctx.setPasswordCallback(null);
  } finally {
    socket.close();
  }
});
