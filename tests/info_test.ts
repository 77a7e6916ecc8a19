/**
 * §3 The handshake information callback: `socket.setInfoCallback(cb)` and the
 * context-wide default `ctx.setInfoCallback(cb)`; the states and alerts it
 * reports on both ends, exceptions thrown from it, and `formatInfo` compared
 * with `openssl s_client -state`.
 */
import assert from "node:assert/strict";
import {
  describeAlert,
  formatInfo,
  type InfoCallback,
  InfoWhere,
  SecureSocket,
  SecureSocketContext,
  SecureSocketError,
  SecureSocketListener,
} from "../mod.ts";
import { clientContext, enc, readAll, serverContext } from "./helpers.ts";
import { failure, type Pair, type PairOptions, success, tlsPair } from "./callback_utils.ts";
import { opensslClient } from "./peers/openssl.ts";

/** One info callback invocation, with what was readable at that moment. */
interface Event {
  socket: SecureSocket;
  where: number;
  ret: number;
  state: string;
  line: string | null;
}

/** An info callback that records every invocation. */
function recorder(): InfoCallback & { events: Event[] } {
  const events: Event[] = [];
  const cb = ((socket: SecureSocket, where: number, ret: number) => {
    events.push({ socket, where, ret, state: socket.stateString, line: formatInfo(socket, where, ret) });
  }) as InfoCallback & { events: Event[] };
  cb.events = events;
  return cb;
}

/** A {@linkcode tlsPair} whose client and server sockets each record their info callback calls. */
async function tracedPair(
  server: SecureSocketContext,
  client: SecureSocketContext,
  options: PairOptions = {},
): Promise<Pair & { onClient: ReturnType<typeof recorder>; onServer: ReturnType<typeof recorder> }> {
  const onClient = recorder();
  const onServer = recorder();
  const pair = await tlsPair(server, client, {
    ...options,
    onClient: (s) => s.setInfoCallback(onClient),
    onServer: (s) => s.setInfoCallback(onServer),
  });
  return { ...pair, onClient, onServer };
}

const has = (where: number, flags: number) => (where & flags) === flags;
const alerts = (events: Event[], direction: number) => events.filter((e) => has(e.where, direction));

function assertHandshakeSequence(events: Event[], socket: SecureSocket, role: "connect" | "accept"): void {
  assert.ok(events.length > 0, "the info callback was called");
  for (const e of events) {
    assert.equal(e.socket, socket, "the callback receives the very SecureSocket");
    assert.equal(typeof e.state, "string");
    assert.ok(e.state.length > 0, "stateString is valid inside the callback");
  }
  const start = events.findIndex((e) => has(e.where, InfoWhere.HandshakeStart));
  const done = events.findIndex((e) => has(e.where, InfoWhere.HandshakeDone));
  assert.ok(start >= 0, "HandshakeStart was reported");
  assert.ok(done > start, "HandshakeDone was reported after HandshakeStart");
  const loop = role === "connect" ? InfoWhere.ConnectLoop : InfoWhere.AcceptLoop;
  const loops = events.slice(start, done).filter((e) => has(e.where, loop));
  assert.ok(loops.length >= 3, `several ${role} loop states between start and done (${loops.length})`);
  assert.ok(new Set(loops.map((e) => e.state)).size >= 3, "the loop states differ");
  const other = role === "connect" ? InfoWhere.AcceptLoop : InfoWhere.ConnectLoop;
  assert.ok(!events.some((e) => has(e.where, other)), `no ${role === "connect" ? "accept" : "connect"} states`);
}

Deno.test("info: socket callbacks see the whole handshake on client and server", async (t) => {
  for (const maxVersion of ["TLSv1.3", "TLSv1.2"] as const) {
    await t.step(maxVersion, async () => {
      using server = serverContext();
      using client = clientContext({ maxVersion });
      using pair = await tracedPair(server, client, { exchange: true });
      success(pair.clientResult);
      success(pair.serverResult);
      assert.equal(pair.client.protocol, maxVersion);
      assertHandshakeSequence(pair.onClient.events, pair.client, "connect");
      assertHandshakeSequence(pair.onServer.events, pair.server, "accept");
      assert.ok(
        has(pair.onClient.events[0].where, InfoWhere.HandshakeStart),
        "the client's first event starts the handshake",
      );
    });
  }
});

Deno.test("info: the context's callback is the default, a socket's own overrides it", async () => {
  using server = serverContext();
  using client = clientContext();
  const serverDefault = recorder();
  const clientDefault = recorder();
  server.setInfoCallback(serverDefault);
  client.setInfoCallback(clientDefault);

  // First pair: both ends use the context defaults.
  {
    using pair = await tlsPair(server, client, { exchange: true });
    success(pair.clientResult);
    assertHandshakeSequence(clientDefault.events, pair.client, "connect");
    assertHandshakeSequence(serverDefault.events, pair.server, "accept");
  }
  // Second pair: the client socket has its own callback; the server keeps the default.
  const clientBefore = clientDefault.events.length;
  const serverBefore = serverDefault.events.length;
  const own = recorder();
  using pair = await tlsPair(server, client, { exchange: true, onClient: (s) => s.setInfoCallback(own) });
  success(pair.clientResult);
  assertHandshakeSequence(own.events, pair.client, "connect");
  assert.equal(clientDefault.events.length, clientBefore, "the context default is not called for that socket");
  assertHandshakeSequence(serverDefault.events.slice(serverBefore), pair.server, "accept");

  assert.throws(() => client.setInfoCallback("trace" as unknown as InfoCallback), TypeError);
  assert.throws(() => pair.client.setInfoCallback(42 as unknown as InfoCallback), TypeError);
});

Deno.test("info: a client rejecting the server writes a fatal alert that the server reads", async () => {
  using server = serverContext();
  using client = new SecureSocketContext({ useSystemTrust: false }); // trusts nothing
  using pair = await tracedPair(server, client);
  const { onClient, onServer } = pair;
  failure(pair.clientResult, "client");
  failure(pair.serverResult, "server");
  const written = alerts(onClient.events, InfoWhere.WriteAlert);
  const read = alerts(onServer.events, InfoWhere.ReadAlert);
  assert.equal(written.length, 1, "the client wrote one alert");
  assert.equal(read.length, 1, "the server read one alert");
  const sent = describeAlert(written[0].ret);
  const received = describeAlert(read[0].ret);
  assert.equal(sent.level, "fatal");
  assert.equal(typeof sent.description, "string");
  assert.ok(sent.description.length > 0);
  assert.deepEqual(received, sent, "the server read the alert the client wrote");
  assert.match(written[0].line ?? "", /^SSL3 alert write:fatal:/);
  assert.match(read[0].line ?? "", /^SSL3 alert read:fatal:/);
  assert.ok(written[0].line?.endsWith(sent.text), "formatInfo prints OpenSSL's text, as s_client -state");
  // The failed handshakes report their exit.
  assert.ok(onClient.events.some((e) => has(e.where, InfoWhere.ConnectExit) && e.ret <= 0));
  assert.ok(!onClient.events.some((e) => has(e.where, InfoWhere.HandshakeDone)));
});

Deno.test("info: close_notify shows as a warning alert on both ends", async () => {
  using server = serverContext();
  using client = clientContext();
  using pair = await tracedPair(server, client, { exchange: true });
  const { onClient, onServer } = pair;
  success(pair.clientResult);
  assert.equal(alerts(onClient.events, InfoWhere.Alert).length, 0, "no alert during a good handshake");
  await pair.client.write(enc("bye"));
  await pair.client.closeWrite();
  const received = await readAll(pair.server);
  assert.equal(received.length, 3);
  await pair.server.closeWrite();
  assert.equal(await pair.client.read(new Uint8Array(1)), null);

  for (
    const [events, direction] of [
      [onClient.events, InfoWhere.WriteAlert],
      [onServer.events, InfoWhere.ReadAlert],
      [onServer.events, InfoWhere.WriteAlert],
      [onClient.events, InfoWhere.ReadAlert],
    ] as const
  ) {
    const found = alerts(events, direction);
    assert.equal(found.length, 1);
    const alert = describeAlert(found[0].ret);
    assert.equal(alert.level, "warning");
    assert.equal(alert.code, 0, "close_notify is alert 0");
    assert.ok(alert.description.length > 0);
    assert.match(found[0].line ?? "", /^SSL3 alert (read|write):warning:/);
  }
});

Deno.test("info: an exception thrown in the callback fails the handshake with the same object", async (t) => {
  const throwOn = (flag: number, thrown: unknown): InfoCallback => (_socket, where) => {
    if (has(where, flag)) throw thrown;
  };
  const points: [string, number][] = [["HandshakeStart", InfoWhere.HandshakeStart], [
    "HandshakeDone",
    InfoWhere.HandshakeDone,
  ]];
  for (const [label, flag] of points) {
    await t.step(`client, thrown at ${label}: connect() rejects with it, later reads reject`, async () => {
      using server = serverContext();
      using client = clientContext();
      const thrown = new Error(`info callback failed at ${label}`);
      using pair = await tlsPair(server, client, { onClient: (s) => s.setInfoCallback(throwOn(flag, thrown)) });
      assert.equal(failure(pair.clientResult, "client"), thrown);
      // The connection is failed for good: I/O rejects (with the same error, or as closed).
      const dead = (e: unknown) => e === thrown || e instanceof SecureSocketError;
      await assert.rejects(pair.client.read(new Uint8Array(1)), dead);
      await assert.rejects(pair.client.write(enc("x")), dead);
      // The server never sees a clean end: its handshake or its first read fails
      // (at HandshakeDone the client had already sent Finished, so the server's handshake may succeed).
      await assert.rejects(pair.server.read(new Uint8Array(1)), SecureSocketError);
    });
  }
  await t.step("server, thrown in a loop state: handshake() rejects with it, later reads reject with it", async () => {
    using server = serverContext();
    using client = clientContext();
    const thrown = { custom: "not even an Error" };
    using pair = await tlsPair(server, client, {
      exchange: true,
      onServer: (s) => s.setInfoCallback(throwOn(InfoWhere.AcceptLoop, thrown)),
    });
    assert.equal(failure(pair.serverResult, "server"), thrown);
    await assert.rejects(pair.server.read(new Uint8Array(1)), (e) => e === thrown);
    failure(pair.clientResult, "client");
  });
  await t.step("context default, thrown at HandshakeDone on the server", async () => {
    using server = serverContext();
    using client = clientContext();
    const thrown = new TypeError("server trace sink closed");
    server.setInfoCallback(throwOn(InfoWhere.HandshakeDone, thrown));
    using pair = await tlsPair(server, client, { exchange: true });
    assert.equal(failure(pair.serverResult, "server"), thrown);
    failure(pair.clientResult, "client");
  });
  await t.step("thrown while sending close_notify: closeWrite() rejects with it", async () => {
    using server = serverContext();
    using client = clientContext();
    const thrown = new Error("alert logger failed");
    using pair = await tlsPair(server, client, {
      exchange: true,
      onClient: (s) => s.setInfoCallback(throwOn(InfoWhere.WriteAlert, thrown)),
    });
    success(pair.clientResult);
    await assert.rejects(pair.client.closeWrite(), (e) => e === thrown);
  });
});

Deno.test("info: formatInfo writes s_client -state style lines", async () => {
  using server = serverContext();
  using client = clientContext();
  using pair = await tracedPair(server, client, { exchange: true });
  const { onClient, onServer } = pair;
  success(pair.clientResult);
  const clientLines = onClient.events.map((e) => e.line).filter((l) => l !== null);
  const serverLines = onServer.events.map((e) => e.line).filter((l) => l !== null);
  assert.ok(clientLines.length >= 5 && serverLines.length >= 5);
  for (const line of clientLines) assert.match(line, /^SSL_connect:/);
  for (const line of serverLines) assert.match(line, /^SSL_accept:/);
  for (const e of onClient.events) {
    if (has(e.where, InfoWhere.Loop)) assert.equal(e.line, `SSL_connect:${e.state}`);
  }
  assert.ok(clientLines.includes("SSL_connect:handshake start"));
  assert.ok(serverLines.includes("SSL_accept:handshake done"));
});

Deno.test("info: our trace matches openssl s_client -state against the same server", async () => {
  using server = serverContext();
  using client = clientContext();
  const listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  /** Serves one connection: a greeting, then close_notify, then waits for the peer's. */
  const serveOne = async () => {
    const socket = await listener.accept();
    try {
      await socket.handshake();
      await socket.write(enc("greetings from secsock\n"));
      await socket.closeWrite();
      await readAll(socket).catch(() => {});
    } finally {
      socket.close();
    }
  };

  // Our client, traced with formatInfo.
  const ours: string[] = [];
  const serving = serveOne();
  const socket = new SecureSocket(client, { hostname: "localhost" });
  socket.setInfoCallback((s, where, ret) => {
    const line = formatInfo(s, where, ret);
    if (line) ours.push(line);
  });
  await socket.connect({ hostname: "127.0.0.1", port });
  await readAll(socket);
  await socket.closeWrite();
  socket.close();
  await serving;

  // openssl s_client -state against the same server.
  const servingPeer = serveOne();
  const peer = opensslClient(port, ["-state", "-servername", "localhost", "-CAfile", "ca.pem"]);
  try {
    await peer.waitFor(/greetings from secsock/);
    await peer.waitFor(/SSL3 alert read:warning/);
  } finally {
    await peer.close();
    await servingPeer;
    listener.close();
  }
  const theirs = peer.output().split("\n").map((l) => l.trim()).filter((l) => /^(SSL_connect:|SSL3 alert )/.test(l));
  assert.ok(theirs.length >= 5, peer.output());
  const ourSet = new Set(ours);
  const missing = [...new Set(theirs)].filter((l) => !ourSet.has(l));
  assert.deepEqual(missing, [], `s_client printed lines our trace lacks:\nours:\n${ours.join("\n")}`);
  // Ours may add handshake start/done and non-blocking "error in" (want read) lines; the rest is shared.
  const theirSet = new Set(theirs);
  const extra = [...ourSet].filter((l) => !theirSet.has(l) && !/handshake (start|done)|:error in /.test(l));
  assert.deepEqual(extra, [], `our trace has lines s_client does not print:\ntheirs:\n${theirs.join("\n")}`);
});
