/**
 * Lifecycle: use after close, idempotent closes, contexts closed under live
 * sockets, listener shutdown, failing clients vs. the accept loop, graceful
 * and truncated ends, half-close, and the stream interfaces.
 */
import assert from "node:assert/strict";
import {
  HandshakeError,
  SecureSocket,
  SecureSocketError,
  SecureSocketListener,
  SocketClosedError,
  TruncatedStreamError,
} from "../mod.ts";
import {
  acceptHandshake,
  clientContext,
  concat,
  connectLocal,
  dec,
  echoServer,
  enc,
  fixture,
  randomBytes,
  readAll,
  readExactly,
  roundTrip,
  serverContext,
  sha256,
  within,
} from "./helpers.ts";

/**
 * A connected client/server pair over loopback (both handshakes done). The
 * pair owns its contexts: `close()` (or disposal) closes both sockets and both
 * contexts.
 */
async function connectedPair(): Promise<
  { client: SecureSocket; server: SecureSocket; close(): void; [Symbol.dispose](): void }
> {
  const serverCtx = serverContext();
  const clientCtx = clientContext();
  const listener = SecureSocketListener.listen(serverCtx, { hostname: "127.0.0.1", port: 0 });
  try {
    const [c, s] = await Promise.all([connectLocal(clientCtx, listener.addr.port), acceptHandshake(listener)]);
    const close = () => {
      c.close();
      s.close();
      clientCtx.close();
      serverCtx.close();
    };
    return { client: c, server: s, close, [Symbol.dispose]: close };
  } catch (error) {
    clientCtx.close();
    serverCtx.close();
    throw error;
  } finally {
    listener.close();
  }
}

Deno.test("use after close: I/O and getters throw SocketClosedError, on both ends", async () => {
  const pair = await connectedPair();
  for (const socket of [pair.client, pair.server]) {
    assert.equal(socket.protocol, "TLSv1.3");
    socket.close();
    await assert.rejects(socket.read(new Uint8Array(10)), SocketClosedError);
    await assert.rejects(socket.write(enc("x")), SocketClosedError);
    await assert.rejects(socket.closeWrite(), SocketClosedError);
    assert.throws(() => socket.setInfoCallback(() => {}), SocketClosedError);
    assert.throws(() => socket.peerCertificate, SocketClosedError);
    assert.throws(() => socket.peerCertificateChain, SocketClosedError);
    assert.throws(() => socket.protocol, SocketClosedError);
    assert.throws(() => socket.cipher, SocketClosedError);
    assert.throws(() => socket.alpnProtocol, SocketClosedError);
    assert.throws(() => socket.stateString, SocketClosedError);
    assert.throws(() => socket.acceptableIssuers, SocketClosedError);
    assert.throws(() => socket.servername, SocketClosedError);
    // The stream views report the same error.
    await assert.rejects(socket.readable.getReader().read(), SocketClosedError);
    const writer = socket.writable.getWriter();
    await assert.rejects(writer.write(enc("x")), SocketClosedError);
  }
  pair.close();
});

Deno.test("use after close: handshake() on a closed socket rejects with SocketClosedError", async () => {
  const pair = await connectedPair();
  pair.close();
  // The handshake had completed before close(): it must not report success now.
  await assert.rejects(pair.client.handshake(), SocketClosedError);
  await assert.rejects(pair.server.handshake(), SocketClosedError);
});

Deno.test("use after close: a socket closed before connecting refuses connect() and handshake()", async () => {
  using ctx = clientContext();
  const socket = new SecureSocket(ctx, { hostname: "localhost" });
  socket.close();
  await assert.rejects(socket.connect({ hostname: "127.0.0.1", port: 1 }), SocketClosedError);
  await assert.rejects(socket.handshake(), SocketClosedError);
  await assert.rejects(socket.read(new Uint8Array(1)), SocketClosedError);
});

Deno.test("double close is a no-op for sockets, listeners and contexts", async () => {
  const pair = await connectedPair();
  pair.client.close();
  pair.client.close();
  await pair.client[Symbol.asyncDispose]();
  pair.server.close();
  pair.server.close();
  pair.close();
  const ctx = serverContext();
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  listener.close();
  listener.close();
  listener[Symbol.dispose]();
  ctx.close();
  ctx.close();
  ctx[Symbol.dispose]();
  await assert.rejects(listener.accept(), SocketClosedError);
  assert.throws(() => new SecureSocket(ctx, { hostname: "localhost" }), SocketClosedError);
  assert.throws(() => SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 }), SocketClosedError);
});

Deno.test("closing contexts while their sockets live: the sockets keep working", async () => {
  const serverCtx = serverContext();
  const clientCtx = clientContext();
  const echo = echoServer(serverCtx);
  // A socket made before the close, connected after it.
  const early = new SecureSocket(clientCtx, { hostname: "localhost" });
  const socket = await connectLocal(clientCtx, echo.port);
  clientCtx.close();
  serverCtx.close(); // the listener's already-accepted socket keeps its state too
  try {
    await assert.rejects(connectLocal(clientCtx, echo.port), SocketClosedError);
    const payload = randomBytes(200_000);
    const echoed = await roundTrip(socket, payload);
    assert.equal(await sha256(echoed), await sha256(payload));
    assert.equal(socket.peerCertificate?.subject, "CN=localhost,O=secsock");
  } finally {
    socket.close();
  }
  // The socket made before the close can still connect (to a fresh server).
  using serverCtx2 = serverContext();
  const echo2 = echoServer(serverCtx2);
  try {
    await early.connect({ hostname: "127.0.0.1", port: echo2.port });
    await early.write(enc("early"));
    await early.closeWrite();
    assert.equal(dec(await readAll(early)), "early");
  } finally {
    early.close();
    await echo2.close();
    await echo.close();
  }
  assert.deepEqual(echo.errors, []);
  assert.deepEqual(echo2.errors, []);
});

Deno.test("closing the listener ends `for await` and rejects pending and later accept()", async () => {
  using ctx = serverContext();
  using client = clientContext();
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const served: string[] = [];
  const loop = (async () => {
    for await (const socket of listener) {
      try {
        await socket.handshake();
        served.push(socket.protocol ?? "?");
        await socket.closeWrite();
      } finally {
        socket.close();
      }
    }
    return "ended";
  })();
  const socket = await connectLocal(client, listener.addr.port);
  assert.equal(dec(await readAll(socket)), "");
  socket.close();
  listener.close();
  assert.equal(await within(loop, 5_000, "for await to end"), "ended");
  assert.deepEqual(served, ["TLSv1.3"]);
  await assert.rejects(listener.accept(), SocketClosedError);

  const listener2 = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const pending = listener2.accept();
  listener2.close();
  await assert.rejects(pending, SocketClosedError);
});

Deno.test("clients that fail their handshake do not break the accept loop", async () => {
  using ctx = serverContext();
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const outcomes: unknown[] = [];
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const socket of listener) {
      tasks.push((async () => {
        try {
          const line = new Uint8Array(100);
          const n = await socket.read(line);
          await socket.write(enc(`echo:${dec(line.subarray(0, n ?? 0))}`));
          await socket.closeWrite();
          outcomes.push("ok");
        } catch (error) {
          outcomes.push(error);
        } finally {
          socket.close();
        }
      })());
    }
  })();
  const port = listener.addr.port;
  try {
    // 1. Plain HTTP to the TLS port.
    const http = await Deno.connect({ hostname: "127.0.0.1", port });
    await http.write(enc("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"));
    await within(readAll(http), 5_000, "server to drop the HTTP client"); // an alert at most, then EOF
    http.close();
    // 2. Binary garbage.
    const garbage = await Deno.connect({ hostname: "127.0.0.1", port });
    const junk = randomBytes(2000);
    junk[0] = 0x42; // not a TLS record type
    await garbage.write(junk);
    await within(readAll(garbage), 5_000, "server to drop the garbage client");
    garbage.close();
    // 3. A TCP connection that goes away before saying anything.
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    // 4. A TLS client that does not trust the server (it aborts the handshake).
    using untrusting = clientContext({ ca: fixture("other-ca.pem") });
    await assert.rejects(connectLocal(untrusting, port), SecureSocketError);
    // 5. A good client is still served.
    using good = clientContext();
    const socket = await connectLocal(good, port);
    try {
      await socket.write(enc("still serving"));
      assert.equal(dec(await within(readAll(socket), 5_000, "good client's reply")), "echo:still serving");
    } finally {
      socket.close();
    }
  } finally {
    listener.close();
    await loop;
    await Promise.all(tasks);
  }
  assert.equal(outcomes.length, 5);
  assert.equal(outcomes.filter((o) => o === "ok").length, 1);
  const failures = outcomes.filter((o) => o !== "ok");
  for (const failure of failures) assert.ok(failure instanceof HandshakeError, String(failure));
});

Deno.test("`await using` sends close_notify: the peer sees a clean end (both directions)", async () => {
  {
    using pair = await connectedPair();
    {
      await using client = pair.client;
      await client.write(enc("bye"));
    }
    assert.throws(() => pair.client.protocol, SocketClosedError);
    // read() resolves null (close_notify), not a TruncatedStreamError.
    assert.equal(dec(await within(readAll(pair.server), 5_000, "server read")), "bye");
  }

  {
    using pair = await connectedPair();
    {
      await using server = pair.server;
      await server.write(enc("server bye"));
    }
    assert.equal(dec(await within(readAll(pair.client), 5_000, "client read")), "server bye");
  }
});

Deno.test("EOF without close_notify: the data arrives, then read() rejects with TruncatedStreamError", async () => {
  {
    using pair = await connectedPair();
    const data = randomBytes(100_000);
    await pair.server.write(data);
    pair.server.close(); // no close_notify
    assert.equal(await sha256(await readExactly(pair.client, data.length)), await sha256(data));
    await assert.rejects(pair.client.read(new Uint8Array(10)), TruncatedStreamError);
    // And it stays failed.
    await assert.rejects(pair.client.read(new Uint8Array(10)), TruncatedStreamError);
  }

  // The other direction: a client that vanishes after having read everything.
  {
    using pair = await connectedPair();
    await pair.server.write(enc("hello"));
    assert.equal(dec(await readExactly(pair.client, 5)), "hello");
    await pair.client.write(enc("last words"));
    pair.client.close();
    assert.equal(dec(await readExactly(pair.server, 10)), "last words");
    await assert.rejects(pair.server.read(new Uint8Array(10)), TruncatedStreamError);
  }
});

Deno.test("closeWrite() half-closes: the peer's reply is still read afterwards", async () => {
  using pair = await connectedPair();
  const request = randomBytes(50_000);
  await pair.client.write(request);
  await pair.client.closeWrite();
  await pair.client.closeWrite(); // idempotent
  await assert.rejects(pair.client.write(enc("too late")), SecureSocketError);
  // The server sees the whole request, then the end.
  const received = await within(readAll(pair.server), 5_000, "request");
  assert.equal(await sha256(received), await sha256(request));
  // ...and can still answer at length.
  const reply = randomBytes(300_000);
  const [, got] = await Promise.all([roundTrip(pair.server, reply), readAll(pair.client)]);
  assert.equal(await sha256(got), await sha256(reply));
});

Deno.test("readable/writable streams: a payload piped through `writable` comes back on `readable`", async () => {
  using server = serverContext();
  using client = clientContext();
  const echo = echoServer(server);
  const socket = await connectLocal(client, echo.port);
  try {
    const payload = randomBytes(3 * 1024 * 1024 + 11);
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < payload.length; i += 100_000) controller.enqueue(payload.slice(i, i + 100_000));
        controller.close();
      },
    });
    const chunks: Uint8Array[] = [];
    await within(
      Promise.all([
        source.pipeTo(socket.writable), // closing the writable sends close_notify
        (async () => {
          for await (const chunk of socket.readable) chunks.push(chunk.slice());
        })(),
      ]),
      30_000,
      "stream round trip",
    );
    const echoed = concat(chunks);
    assert.equal(echoed.length, payload.length);
    assert.equal(await sha256(echoed), await sha256(payload));
  } finally {
    socket.close();
    await echo.close();
  }
  assert.deepEqual(echo.errors, []);
});

Deno.test("cancelling `readable` closes the socket", async () => {
  using pair = await connectedPair();
  const reader = pair.client.readable.getReader();
  await pair.server.write(enc("x"));
  assert.equal(dec((await reader.read()).value!), "x");
  await reader.cancel();
  await assert.rejects(pair.client.read(new Uint8Array(1)), SocketClosedError);
});
