/**
 * Faults and bad input (issue 4). Each case must end in a clear, typed error
 * from mod.ts (or a clean end), never a crash, a hang or a leak: every wait is
 * bounded, every socket and process is closed, and the count of live native
 * sockets returns to where it started.
 */
import assert from "node:assert/strict";
import {
  HandshakeError,
  InfoWhere,
  SecureSocket,
  type SecureSocketContext,
  SecureSocketError,
  SecureSocketListener,
  SocketClosedError,
  TruncatedStreamError,
} from "../mod.ts";
import { liveSocketCount } from "../lib/callbacks/connection.ts";
import {
  clientContext,
  closeBothWays,
  concat,
  dec,
  delay,
  enc,
  fixture,
  freePort,
  hasPeer,
  indexOfBytes,
  type Outcome,
  randomBytes,
  readAll,
  readExactly,
  serverContext,
  settle,
  sha256,
  TestServer,
  type Version,
  VERSIONS,
  waitUntil,
  within,
} from "./helpers.ts";
import {
  captureClientHello,
  CHOSEN_CLIENT_SUBJECT,
  ChunkingProxy,
  drainRaw,
  echoHandler,
  jsonEvents,
  nodeScript,
  observed,
  Proc,
  randomText,
  rawConnect,
  recordingClientContext,
  recordingServerContext,
  tlsRecord,
  TrickleConn,
  waitForEvent,
  WatchedConn,
} from "./matrix_utils.ts";
import { serverCertArgs } from "./peers/openssl.ts";

function connectTo(ctx: SecureSocketContext, port: number, handshakeTimeout = 10_000): Promise<SecureSocket> {
  return SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: "localhost", port, handshakeTimeout });
}

/** Runs `fn` and asserts that it left no native socket behind. */
function faultTest(name: string, fn: (t: Deno.TestContext) => Promise<void>, options: { ignore?: boolean } = {}) {
  Deno.test({
    name: `faults: ${name}`,
    ignore: options.ignore,
    async fn(t) {
      const before = liveSocketCount();
      await fn(t);
      assert.equal(liveSocketCount(), before, "native SSL handles left registered (leak)");
    },
  });
}

/** Asserts that `outcome` failed with an instance of `type`; returns the error. */
function assertFailed<E>(outcome: Outcome<unknown>, type: new (...args: never[]) => E, what = "the outcome"): E {
  assert.equal(outcome.ok, false, `${what}: expected ${type.name}, but it succeeded`);
  const error = (outcome as { error: unknown }).error;
  assert.ok(
    error instanceof type,
    `${what}: expected ${type.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`,
  );
  return error;
}

/** Asserts that `outcome` succeeded (showing the error if not); returns its value. */
function assertOk<T>(outcome: Outcome<T>): T {
  assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
  return outcome.value;
}

/** Asserts that `promise` rejects with an instance of `type` within `ms`; returns the error. */
async function rejectsWithin<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
  ms: number,
  what: string,
): Promise<E> {
  return assertFailed(await within(settle(promise), ms, what), type, what);
}

/** Runs `body` against a {@linkcode TestServer} on `ctx` serving with `handler`; closes the server afterwards. */
async function withTestServer<T>(
  ctx: SecureSocketContext,
  handler: (socket: SecureSocket) => Promise<T>,
  body: (server: TestServer<T>) => Promise<void>,
  options: { handshakeTimeout?: number } = {},
): Promise<void> {
  const server = new TestServer(ctx, handler, options);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** Runs `body` with `count` plain TCP connections to 127.0.0.1:port; closes them afterwards. */
async function withRawConns(
  port: number,
  count: number,
  body: (conns: Deno.TcpConn[]) => Promise<void>,
): Promise<void> {
  const conns = await Promise.all(Array.from({ length: count }, () => rawConnect(port)));
  try {
    await body(conns);
  } finally {
    conns.forEach((c) => c.close());
  }
}

/** Runs `body` with a plain TCP connection to 127.0.0.1:port; closes it afterwards. */
function withRawConn(port: number, body: (conn: Deno.TcpConn) => Promise<void>): Promise<void> {
  return withRawConns(port, 1, ([conn]) => body(conn));
}

/**
 * A plain TCP listener standing in for a TLS server: its first connection is
 * handed to `serve`, then closed. `body` gets the port and what `serve`
 * returns; afterwards the listener and the connection are closed and `serve`
 * is waited for.
 */
async function withRawServer<T>(
  serve: (conn: Deno.Conn) => Promise<T>,
  body: (port: number, served: Promise<T>) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let conn: Deno.Conn | null = null;
  const closeConn = () => {
    try {
      conn?.close();
    } catch { /* closed */ }
  };
  const served = (async () => {
    conn = await listener.accept();
    try {
      return await serve(conn);
    } finally {
      closeConn();
    }
  })();
  let failed = true;
  try {
    await body(listener.addr.port, served);
    failed = false;
  } finally {
    listener.close();
    closeConn();
    if (failed) await settle(served);
    else await served;
  }
}

/** Runs `body` with tests/peers/matrix_fault_peer.mjs started with `args`; stops it afterwards. */
async function withFaultPeer<T>(args: string[], body: (peer: Proc) => Promise<T>): Promise<T> {
  const peer = nodeScript("matrix_fault_peer.mjs", args);
  try {
    return await body(peer);
  } finally {
    await peer.stop();
  }
}

/** `openssl s_server` (binary-safe {@linkcode Proc}) for one connection on a free port, with the fixture chain. */
function sServerProc(args: string[]): { server: Proc; port: number } {
  const port = freePort();
  const server = new Proc("openssl", [
    ...["s_server", "-accept", `127.0.0.1:${port}`, "-naccept", "1", ...serverCertArgs()],
    ...args,
  ]);
  return { server, port };
}

/** `openssl s_client` (binary-safe {@linkcode Proc}) verifying the secsock server on 127.0.0.1:port as "localhost". */
function sClientProc(port: number, args: string[]): Proc {
  return new Proc("openssl", [
    ...["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost"],
    ...["-CAfile", "ca.pem", "-verify_return_error", ...args],
  ]);
}

/** Connects a client to 127.0.0.1:port and runs `body` with it; closes it afterwards. */
async function withClient(
  ctx: SecureSocketContext,
  port: number,
  body: (socket: SecureSocket) => Promise<void>,
): Promise<void> {
  const socket = await connectTo(ctx, port);
  try {
    await body(socket);
  } finally {
    socket.close();
  }
}

/** Mutual-TLS contexts pinned to `version` whose callbacks record into `serverObs` and `clientObs`. */
function recordingMutualTls(version: Version) {
  const serverObs = observed();
  const clientObs = observed();
  const sctx = recordingServerContext(version, serverObs, true);
  const cctx = recordingClientContext(version, clientObs);
  return {
    serverObs,
    clientObs,
    sctx,
    cctx,
    [Symbol.dispose]() {
      cctx.close();
      sctx.close();
    },
  };
}

/** A {@linkcode TestServer} handler that only runs the handshake. */
const handshakeOnly = async (socket: SecureSocket): Promise<void> => void await socket.handshake();

/** A good client still completes a handshake with `server`: the accept loop survived. */
async function assertServerStillWorks(server: TestServer<unknown>): Promise<void> {
  using ctx = clientContext();
  const index = server.accepted;
  const socket = await within(connectTo(ctx, server.port), 10_000, "a good client");
  try {
    assert.ok(socket.protocol, "no protocol after the handshake");
  } finally {
    socket.close();
  }
  assertOk(await server.outcome(index));
}

// ---------------------------------------------------------------- re-chunked ciphertext

faultTest("ciphertext delivered one byte at a time (proxy), both directions, mutual TLS", async (t) => {
  for (const version of VERSIONS) {
    await t.step(version, async () => {
      using contexts = recordingMutualTls(version);
      const { serverObs, clientObs, sctx, cctx } = contexts;
      await withTestServer(sctx, echoHandler, async (server) => {
        const proxy = new ChunkingProxy(server.port, { mode: "bytes", chunkSize: 1 });
        try {
          const socket = await within(connectTo(cctx, proxy.port, 60_000), 60_000, "handshake through the proxy");
          const payload = randomBytes(20_000);
          try {
            assert.equal(socket.protocol, version);
            const [, echoed] = await within(
              Promise.all([socket.write(payload), readExactly(socket, payload.length)]),
              60_000,
              "echo one byte at a time",
            );
            assert.equal(await sha256(echoed), await sha256(payload));
            await closeBothWays(socket, 30_000, "close_notify");
          } finally {
            socket.close();
          }
          const { received } = assertOk(await server.outcome(0, 30_000));
          assert.equal(await sha256(received), await sha256(payload));
          // Really one byte per write, in both directions.
          assert.equal(proxy.toClient.largestWrite, 1);
          assert.equal(proxy.toServer.largestWrite, 1);
          assert.ok(proxy.toClient.writes > payload.length && proxy.toServer.writes > payload.length);
          // The callbacks still saw whole chains.
          assert.deepEqual(clientObs.verifyDepths, [2, 1, 0]);
          assert.deepEqual(serverObs.verifyDepths, [2, 1, 0]);
          assert.equal(clientObs.clientCertCalls, 1);
        } finally {
          await proxy.close();
        }
      });
    });
  }
});

faultTest(
  "ciphertext handed to OpenSSL exactly one byte per transport read (startTls over a trickling conn)",
  async (t) => {
    for (const version of VERSIONS) {
      await t.step(version, async () => {
        using contexts = recordingMutualTls(version);
        const { serverObs, clientObs, sctx, cctx } = contexts;
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const [a, b] = await Promise.all([rawConnect(listener.addr.port), listener.accept() as Promise<Deno.TcpConn>]);
        listener.close();
        const clientConn = new TrickleConn(a);
        const serverConn = new TrickleConn(b);
        const [client, server] = await within(
          Promise.all([
            SecureSocket.startTls(clientConn.conn, cctx, { hostname: "127.0.0.1", servername: "localhost" }),
            SecureSocket.startTls(serverConn.conn, sctx, { server: true }),
          ]),
          30_000,
          "handshake one byte at a time",
        );
        try {
          const payload = randomBytes(5000);
          const [, got] = await within(
            Promise.all([
              (async () => {
                await client.write(payload);
                await client.closeWrite();
              })(),
              readAll(server),
            ]),
            30_000,
            "data one byte at a time",
          );
          assert.equal(await sha256(got), await sha256(payload));
          await server.closeWrite();
          assert.equal(await within(client.read(new Uint8Array(8)), 10_000, "close_notify"), null);
          assert.equal(client.protocol, version);
          assert.equal(server.peerCertificate?.subject, CHOSEN_CLIENT_SUBJECT);
        } finally {
          client.close();
          server.close();
        }
        assert.equal(clientConn.largestRead, 1);
        assert.equal(serverConn.largestRead, 1);
        assert.ok(serverConn.reads > 5000, `server transport reads: ${serverConn.reads}`);
        assert.deepEqual(clientObs.verifyDepths, [2, 1, 0]);
        assert.deepEqual(serverObs.verifyDepths, [2, 1, 0]);
      });
    }
  },
);

faultTest("ciphertext coalesced into single chunks (proxy)", async (t) => {
  for (const version of VERSIONS) {
    await t.step(version, async () => {
      using sctx = serverContext({ minVersion: version, maxVersion: version });
      using cctx = clientContext({ minVersion: version, maxVersion: version });
      await withTestServer(sctx, echoHandler, async (server) => {
        const proxy = new ChunkingProxy(server.port, { mode: "coalesce", idleMs: 40 });
        try {
          const socket = await within(connectTo(cctx, proxy.port), 20_000, "handshake through the proxy");
          // 300 small writes: 300 records that the proxy hands over as one chunk.
          const parts = Array.from({ length: 300 }, () => randomBytes(1 + Math.floor(Math.random() * 200)));
          const payload = concat(parts);
          try {
            const reading = readExactly(socket, payload.length);
            for (const part of parts) await socket.write(part);
            const echoed = await within(reading, 20_000, "coalesced echo");
            assert.equal(await sha256(echoed), await sha256(payload));
            await closeBothWays(socket, 10_000, "close_notify");
          } finally {
            socket.close();
          }
          assertOk(await server.outcome(0));
          // The 300 records went to the server in a few large writes.
          assert.ok(proxy.toServer.writes <= 10, `proxy wrote ${proxy.toServer.writes} chunks to the server`);
          assert.ok(proxy.toServer.largestWrite > payload.length, `largest chunk ${proxy.toServer.largestWrite}`);
          assert.ok(proxy.toClient.largestWrite > payload.length, `largest chunk ${proxy.toClient.largestWrite}`);
        } finally {
          await proxy.close();
        }
      });
    });
  }
});

// ---------------------------------------------------------------- the peer goes away

faultTest("peer closes mid-handshake: HandshakeError on both sides", async (t) => {
  await t.step("server side: half a ClientHello, then FIN", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    const hello = await captureClientHello(cctx);
    await withTestServer(sctx, handshakeOnly, async (server) => {
      await withRawConn(server.port, async (conn) => {
        await conn.write(hello.subarray(0, hello.length >> 1));
        await conn.closeWrite();
        assertFailed(await server.outcome(0), HandshakeError);
        // Our side closed the connection.
        assert.ok((await drainRaw(conn)).ok);
      });
      await assertServerStillWorks(server);
    });
  });

  // The server reads the ClientHello, (optionally) answers, and closes.
  const closingServers: [string, Uint8Array | null][] = [
    ["the server reads the ClientHello and closes", null],
    [
      "the server sends half a ServerHello and closes",
      // A handshake record announcing 90 bytes; 40 arrive.
      concat([new Uint8Array([0x16, 0x03, 0x03, 0x00, 90]), new Uint8Array(40).fill(2)]),
    ],
  ];
  for (const [name, answer] of closingServers) {
    await t.step(`client side: ${name}`, async () => {
      using cctx = clientContext();
      await withRawServer(async (conn) => {
        await conn.read(new Uint8Array(4096));
        if (answer) await conn.write(answer);
      }, async (port) => {
        await rejectsWithin(connectTo(cctx, port), HandshakeError, 10_000, "connect");
      });
    });
  }
});

faultTest("peer closes mid-record: TruncatedStreamError (also while other sockets are busy)", async (t) => {
  for (const version of VERSIONS) {
    await t.step(version, async () => {
      using sctx = serverContext({ minVersion: version, maxVersion: version });
      using cctx = clientContext({ minVersion: version, maxVersion: version });
      const message = randomBytes(10_000);
      // The server side lives in this process too and is reading when the cut
      // happens: its OpenSSL calls run between our failing read and its
      // classification. Five rounds, so a race cannot hide.
      const serve = async (s: SecureSocket) => {
        await s.handshake();
        await s.write(message);
        return await readAll(s).catch((e) => e);
      };
      await withTestServer(sctx, serve, async (server) => {
        for (let round = 0; round < 5; round++) {
          const proxy = new ChunkingProxy(server.port, { mode: "cut", cutAbove: 4096 });
          try {
            const socket = await within(connectTo(cctx, proxy.port), 10_000, "handshake");
            try {
              const error = await rejectsWithin(readAll(socket), TruncatedStreamError, 10_000, `read, round ${round}`);
              assert.match(error.message, /close_notify/);
              assert.ok(proxy.cut, "the proxy never cut a record");
              // Later calls report the same failure, no hang.
              await rejectsWithin(socket.read(new Uint8Array(8)), TruncatedStreamError, 1000, "second read");
            } finally {
              socket.close();
            }
          } finally {
            await proxy.close();
          }
        }
      });
    });
  }
});

faultTest("peer closes between records without close_notify: all data, then TruncatedStreamError", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  const parts = [randomBytes(1000), randomBytes(20_000), randomBytes(5)];
  const serve = async (s: SecureSocket) => {
    for (const p of parts) await s.write(p);
    // close() does not send close_notify (documented): a truncation for the reader.
  };
  await withTestServer(sctx, serve, async (server) => {
    await withClient(cctx, server.port, async (socket) => {
      const all = concat(parts);
      const got = await within(readExactly(socket, all.length), 10_000, "data before the truncation");
      assert.equal(await sha256(got), await sha256(all));
      await rejectsWithin(socket.read(new Uint8Array(100)), TruncatedStreamError, 10_000, "read at the end");
    });
    assertOk(await server.outcome(0));
  });
});

faultTest("peer closes with close_notify: every byte, then a clean null (repeatedly)", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  const parts = [randomBytes(1000), randomBytes(70_000)];
  const serve = async (s: SecureSocket) => {
    for (const p of parts) await s.write(p);
    await s.closeWrite();
  };
  await withTestServer(sctx, serve, async (server) => {
    await withClient(cctx, server.port, async (socket) => {
      const got = await within(readAll(socket), 10_000, "read to the end");
      assert.equal(await sha256(got), await sha256(concat(parts)));
      assert.equal(await socket.read(new Uint8Array(8)), null);
      assert.equal(await socket.read(new Uint8Array(8)), null);
    });
    assertOk(await server.outcome(0));
  });
});

faultTest("connection reset by the peer", async (t) => {
  await t.step("client side: a Node server resets after sending data (socket.resetAndDestroy)", async () => {
    using cctx = clientContext();
    await withFaultPeer(["reset-server", "TLSv1.3"], async (peer) => {
      const port = Number((await waitForEvent(peer, "listening")).port);
      await withClient(cctx, port, async (socket) => {
        const got = await within(readExactly(socket, 65536), 10_000, "data before the reset");
        assert.ok(got.every((b) => b === 0x61));
        await socket.write(enc("go"));
        await waitForEvent(peer, "reset");
        const error = await rejectsWithin(socket.read(new Uint8Array(100)), SecureSocketError, 10_000, "read");
        assert.ok(!(error instanceof SocketClosedError), "a reset is not our own close()");
        // The failure sticks.
        await rejectsWithin(socket.write(enc("x")), SecureSocketError, 1000, "write after the reset");
      });
    });
  });

  await t.step("server side: a client resets mid-handshake → HandshakeError", async () => {
    using sctx = serverContext();
    await withTestServer(sctx, handshakeOnly, async (server) => {
      await withFaultPeer(["reset-mid-handshake", String(server.port)], async (peer) => {
        await waitForEvent(peer, "reset");
        assertFailed(await server.outcome(0), HandshakeError, "a peer that vanished mid-handshake");
        await assertServerStillWorks(server);
      });
    });
  });
}, { ignore: !hasPeer("node") });

faultTest("half-close: after the peer's close_notify we still write the answer and it arrives", async () => {
  using sctx = serverContext();
  const serve = async (s: SecureSocket) => {
    // Read the whole request: it ends with the client's close_notify.
    const request = await readAll(s);
    // Answer after that: the request itself, in 7 writes.
    for (let i = 0; i < 7; i++) {
      await s.write(request.subarray(Math.floor((i * request.length) / 7), Math.floor(((i + 1) * request.length) / 7)));
    }
    await s.closeWrite();
    return request.length;
  };
  await withTestServer(sctx, serve, async (server) => {
    await withFaultPeer(["half-close", String(server.port), "200000"], async (peer) => {
      const answer = await waitForEvent(peer, "answer");
      assert.equal(answer.bytes, 200_000);
      assert.equal(answer.sha256, answer.requestSha256);
      assert.equal(assertOk(await server.outcome(0)), 200_000);
      assert.equal((await waitForEvent(peer, "close")).hadError, false);
      assert.deepEqual(jsonEvents(peer).filter((e) => e.event === "error"), []);
    });
  });
}, { ignore: !hasPeer("node") });

// ---------------------------------------------------------------- bad input before the handshake

faultTest("bad bytes instead of a handshake: HandshakeError, the accept loop survives", async (t) => {
  using sctx = serverContext();
  let index = 0;
  const cases: [string, Uint8Array, boolean][] = [
    ["an HTTP request to the TLS port", enc("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), false],
    ["random garbage", randomBytes(2048), true],
    ["an oversized record header", concat([new Uint8Array([0x16, 0x03, 0x01, 0xff, 0xff]), randomBytes(64)]), false],
    [
      "a record header with a length beyond 2^14 + 2048",
      concat([new Uint8Array([0x16, 0x03, 0x03, 0x48, 0x01]), randomBytes(64)]),
      false,
    ],
    ["an SSLv2-style ClientHello", new Uint8Array([0x80, 0x2e, 0x01, 0x00, 0x02, ...randomBytes(40)]), true],
    [
      "1000 empty plaintext handshake records",
      concat(Array.from({ length: 1000 }, () => tlsRecord(22, new Uint8Array(0), 0x0301))),
      true,
    ],
    [
      "1000 plaintext warning alerts",
      concat(Array.from({ length: 1000 }, () => tlsRecord(21, new Uint8Array([1, 90]), 0x0301))),
      true,
    ],
    [
      "a ClientHello claiming 16 MiB",
      tlsRecord(22, new Uint8Array([1, 0xff, 0xff, 0xff, 3, 3, ...randomBytes(32)]), 0x0301),
      true,
    ],
  ];
  await withTestServer(sctx, handshakeOnly, async (server) => {
    for (const [name, bytes, closeAfter] of cases) {
      await t.step(name, async () => {
        await withRawConn(server.port, async (conn) => {
          await conn.write(bytes).catch(() => {});
          // Some inputs leave OpenSSL waiting for more: then EOF must end it.
          if (closeAfter) await conn.closeWrite().catch(() => {});
          assertFailed(await server.outcome(index++), HandshakeError, "the handshake");
          // The server dropped the connection (possibly after an alert).
          await drainRaw(conn);
        });
      });
    }
    await t.step("a good client still gets through", () => assertServerStillWorks(server));
  });
});

/**
 * Random bytes OpenSSL refuses as soon as it has read a record header: the
 * first byte without its top bit (no SSLv2-style header) and the second not
 * 3 (no SSL 3/TLS version). Unshaped random bytes form a header announcing a
 * longer record about once in 400 tries, and the server then rightly waits
 * for the rest.
 */
function garbageHeader(length: number): Uint8Array {
  const bytes = randomBytes(length);
  bytes[0] &= 0x7f;
  if (bytes[1] === 0x03) bytes[1] = 0x04;
  return bytes;
}

faultTest("concurrent failing handshakes each keep their own OpenSSL reason", async () => {
  // OpenSSL's error queue is per thread and every socket here shares it: a
  // failure must be classified from its own entries, whatever other sockets
  // do meanwhile.
  using sctx = serverContext();
  const COUNT = 40;
  await withTestServer(sctx, handshakeOnly, async (server) => {
    await withRawConns(server.port, COUNT, async (conns) => {
      await Promise.all(
        conns.map((c, i) =>
          c.write(i % 2 ? enc("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") : garbageHeader(512)).catch(() => {})
        ),
      );
      const outcomes = await Promise.all(conns.map((_, i) => server.outcome(i)));
      const missing = outcomes.filter((o) =>
        !o.ok && o.error instanceof HandshakeError && o.error.openssl.length === 0
      );
      assert.ok(outcomes.every((o) => !o.ok && o.error instanceof HandshakeError));
      assert.equal(
        missing.length,
        0,
        `${missing.length} of ${COUNT} HandshakeErrors lost OpenSSL's reason, e.g. "${
          !missing[0]?.ok && (missing[0]?.error as Error)?.message
        }"`,
      );
    });
  });
});

// ---------------------------------------------------------------- bad records after the handshake

/**
 * tests/peers/matrix_fault_peer.mjs completes a TLS 1.3 handshake with Node,
 * derives Node's client write key from its key log, and writes records of its
 * own straight onto the TCP socket. `reader` runs on our server socket.
 */
async function withRecordWriter<T>(
  kind: string,
  count: number,
  reader: (s: SecureSocket) => Promise<T>,
): Promise<{ outcome: Outcome<T>; peer: Record<string, unknown>[] }> {
  using sctx = serverContext({ minVersion: "TLSv1.3", cipherSuites: "TLS_AES_128_GCM_SHA256" });
  const serve = async (s: SecureSocket) => {
    await s.handshake();
    return await reader(s);
  };
  let result!: { outcome: Outcome<T>; peer: Record<string, unknown>[] };
  await withTestServer(sctx, serve, async (server) => {
    result = await withFaultPeer(["records", String(server.port), kind, String(count)], async (peer) => {
      await waitForEvent(peer, "injected");
      const outcome = await server.outcome(0, 10_000);
      await waitForEvent(peer, "close");
      return { outcome, peer: jsonEvents(peer) };
    });
  });
  return result;
}

faultTest("encrypted records written raw after a TLS 1.3 handshake", async (t) => {
  const readText = async (s: SecureSocket) => {
    const buf = new Uint8Array(4096);
    const n = await s.read(buf);
    return n === null ? null : dec(buf.subarray(0, n));
  };

  await t.step("sanity: a well-formed injected record is read as data", async () => {
    const { outcome } = await withRecordWriter("data", 1, async (s) => {
      const text = await readText(s);
      await s.closeWrite();
      return text;
    });
    assert.equal(assertOk(outcome), "injected hello");
  });

  for (const [kind, what] of [["empty", "1000 empty records"], ["warn", "1000 warning alerts (user_canceled)"]]) {
    await t.step(`a flood of ${what} fails fast with a fatal alert`, async () => {
      const started = performance.now();
      const { outcome, peer } = await withRecordWriter(kind, 1000, (s) => readText(s));
      const error = assertFailed(outcome, SecureSocketError, "the flood");
      assert.ok(!(error instanceof SocketClosedError) && !(error instanceof TruncatedStreamError), String(error));
      assert.ok(error.openssl.length > 0, "the error carries OpenSSL's reason");
      // We told the peer: it saw a fatal alert.
      assert.ok(peer.some((e) => e.event === "error" && /alert/i.test(String(e.message))), JSON.stringify(peer));
      assert.ok(performance.now() - started < 10_000);
    });
  }

  await t.step("an oversized encrypted record header fails at once", async () => {
    const { outcome, peer } = await withRecordWriter("oversized", 1, (s) => readText(s));
    const error = assertFailed(outcome, SecureSocketError, "the oversized record");
    assert.ok(!(error instanceof SocketClosedError), String(error));
    assert.ok(peer.some((e) => e.event === "error" && /alert/i.test(String(e.message))), JSON.stringify(peer));
  });

  await t.step("application data after close_notify is never delivered", async () => {
    const { outcome } = await withRecordWriter("after-close", 1, async (s) => {
      const reads = [await readText(s), await readText(s), await readText(s)];
      await s.closeWrite();
      return reads;
    });
    assert.deepEqual(assertOk(outcome), ["before close_notify", null, null]);
  });
}, { ignore: !hasPeer("node") });

// ---------------------------------------------------------------- TLS 1.3 KeyUpdate, TLS 1.2 renegotiation

/** `-msg` trace lines (an openssl peer's `-msgfile`) about `message`: sent (">>>") and received ("<<<"). */
async function traced(msgfile: string, message: RegExp): Promise<{ sent: number; received: number }> {
  const trace = await Deno.readTextFile(msgfile);
  const lines = trace.split("\n").filter((l) => message.test(l));
  return {
    sent: lines.filter((l) => l.startsWith(">>>")).length,
    received: lines.filter((l) => l.startsWith("<<<")).length,
  };
}

/** `-msg` trace lines about KeyUpdate messages: sent (">>>") and received ("<<<"). */
function keyUpdates(msgfile: string): Promise<{ sent: number; received: number }> {
  return traced(msgfile, /KeyUpdate/i);
}

/** How many KeyUpdate commands s_client has taken from its stdin (it says so on stderr). */
function keyUpdateCommands(client: Proc): number {
  return client.stderr.match(/^KEYUPDATE$/gm)?.length ?? 0;
}

/** Finds every block in order inside `haystack`. */
function assertBlocksInOrder(haystack: Uint8Array, blocks: Uint8Array[], what: string): void {
  let from = 0;
  for (const [i, block] of blocks.entries()) {
    const at = indexOfBytes(haystack, block, from);
    assert.ok(at >= 0, `${what}: block ${i} of ${blocks.length} missing or out of order`);
    from = at + block.length;
  }
}

faultTest("TLS 1.3 KeyUpdate in both directions while data flows", async (t) => {
  await t.step("secsock client ↔ openssl s_server (K/k on its stdin, and our updateKeys())", async () => {
    using cctx = clientContext({ minVersion: "TLSv1.3" });
    const msgfile = await Deno.makeTempFile({ prefix: "secsock-keyupdate-" });
    const { server, port } = sServerProc(["-tls1_3", "-msg", "-msgfile", msgfile]);
    try {
      await server.waitForText(/ACCEPT/);
      const socket = await connectTo(cctx, port);
      const ups: Uint8Array[] = [];
      try {
        const round = async () => {
          const up = randomText(30_000);
          const down = randomText(30_000);
          ups.push(up);
          const [, , got] = await within(
            Promise.all([socket.write(up), server.write(down), readExactly(socket, down.length)]),
            20_000,
            "data round",
          );
          assert.equal(await sha256(got), await sha256(down));
        };
        await round();
        for (const update of ["K\n", "k\n", "ours+peer", "ours"]) {
          if (update === "ours+peer") await socket.updateKeys(true);
          else if (update === "ours") await socket.updateKeys(false);
          else {
            // A command must reach s_server as a read of its own: the next
            // round's data waits until s_server has acted on it (it sends a
            // KeyUpdate for K and for k, which its -msg trace shows).
            const sent = (await keyUpdates(msgfile)).sent;
            await server.write(update);
            await waitUntil(
              async () => (await keyUpdates(msgfile)).sent > sent,
              10_000,
              `s_server sent the KeyUpdate for ${JSON.stringify(update)}`,
            );
          }
          await round();
        }
        await closeBothWays(socket, 10_000, "close_notify");
      } finally {
        socket.close();
      }
      assert.equal((await server.exit(10_000)).code, 0, server.describe());
      // s_server's own status line for a command can land anywhere in its stdout: drop it.
      const data = enc(server.stdoutText.replaceAll(/SSL_do_handshake -> -?\d+\n/g, ""));
      assertBlocksInOrder(data, ups, "our data at s_server");
      const updates = await keyUpdates(msgfile);
      // s_server: K, k, and its answer to our request; we: the answer to K and our two.
      assert.ok(updates.sent >= 3, `s_server sent ${updates.sent} KeyUpdates`);
      assert.ok(updates.received >= 3, `s_server received ${updates.received} KeyUpdates`);
    } finally {
      await server.stop();
      await Deno.remove(msgfile);
    }
  });

  await t.step("openssl s_client (K/k on its stdin) ↔ secsock server (updateKeys(true) while echoing)", async () => {
    using sctx = serverContext({ minVersion: "TLSv1.3" });
    const msgfile = await Deno.makeTempFile({ prefix: "secsock-keyupdate-" });
    const serve = async (s: SecureSocket) => {
      const buf = new Uint8Array(65536);
      let reads = 0;
      for (;;) {
        const n = await s.read(buf);
        if (n === null) break;
        await s.write(buf.subarray(0, n));
        if (++reads % 4 === 0) await s.updateKeys(true);
      }
      await s.closeWrite();
      return reads;
    };
    try {
      await withTestServer(sctx, serve, async (server) => {
        const client = sClientProc(server.port, ["-tls1_3", "-msg", "-msgfile", msgfile]);
        try {
          const blocks: Uint8Array[] = [];
          const round = async () => {
            const block = randomText(20_000);
            blocks.push(block);
            await client.write(block);
            await client.waitFor(() => indexOfBytes(client.stdout, block) >= 0, 20_000, "the echo");
          };
          await round();
          for (const command of ["K\n", "k\n", "K\n"]) {
            // A command must reach s_client as a read of its own: the next
            // round's data waits until s_client has taken it (it says
            // KEYUPDATE on stderr).
            const taken = keyUpdateCommands(client);
            await client.write(command);
            await client.waitFor(
              () => keyUpdateCommands(client) > taken,
              10_000,
              `s_client took ${JSON.stringify(command)}`,
            );
            await round();
            await round();
          }
          await client.closeStdin();
          assert.equal((await client.exit(10_000)).code, 0, client.describe());
          assertBlocksInOrder(client.stdout, blocks, "the echo at s_client");
          assertOk(await server.outcome(0));
          const updates = await keyUpdates(msgfile);
          assert.ok(updates.sent >= 3, `s_client sent ${updates.sent} KeyUpdates`);
          assert.ok(updates.received >= 3, `s_client received ${updates.received} KeyUpdates`);
        } finally {
          await client.stop();
        }
      });
    } finally {
      await Deno.remove(msgfile);
    }
  });
}, { ignore: !hasPeer("openssl") });

faultTest("TLS 1.2 renegotiation attempts are refused cleanly", async (t) => {
  const NO_RENEGOTIATION = 0x0164; // warning(1) << 8 | no_renegotiation(100)
  const assertSentNoRenegotiation = (info: { where: number; ret: number }[]) =>
    assert.ok(
      info.some((i) => (i.where & InfoWhere.WriteAlert) === InfoWhere.WriteAlert && i.ret === NO_RENEGOTIATION),
      "we did not send a no_renegotiation alert",
    );

  await t.step("server-initiated (s_server 'r' and 'R'): our client refuses", async (t) => {
    for (const command of ["r\n", "R\n"]) {
      await t.step(JSON.stringify(command), async () => {
        const obs = observed();
        using cctx = recordingClientContext("TLSv1.2", obs);
        const msgfile = await Deno.makeTempFile({ prefix: "secsock-renegotiation-" });
        const { server, port } = sServerProc(["-tls1_2", "-msg", "-msgfile", msgfile]);
        try {
          await server.waitForText(/ACCEPT/);
          await withClient(cctx, port, async (socket) => {
            const finished = socket.getFinished();
            const down = randomText(1000);
            await server.write(down);
            assert.equal(await sha256(await readExactly(socket, down.length)), await sha256(down));
            const before = obs.info.length;
            await server.write(command);
            // The read below is the one after the attempt: s_server has sent its HelloRequest.
            await waitUntil(
              async () => (await traced(msgfile, /HelloRequest/)).sent > 0,
              10_000,
              "s_server sent a HelloRequest",
            );
            // Whatever s_server does next (it gives up on the connection), we
            // never hang and never renegotiate.
            const next = await within(settle(socket.read(new Uint8Array(4096))), 10_000, "read after the attempt");
            if (!next.ok) assert.ok(next.error instanceof SecureSocketError, String(next.error));
            const after = obs.info.slice(before);
            assertSentNoRenegotiation(after);
            assert.ok(
              !after.some((i) =>
                (i.where & InfoWhere.Alert) !== 0 && (i.ret >> 8) === 2 && (i.where & InfoWhere.Write)
              ),
              "we sent a fatal alert",
            );
            assert.deepEqual(socket.getFinished(), finished, "the handshake changed: renegotiated");
          });
          await server.exit(10_000);
          assert.match(server.stderr, /no renegotiation/i);
          // The client-certificate callback never ran (an 'R' would ask for a certificate).
          assert.equal(obs.clientCertCalls, 0);
        } finally {
          await server.stop();
          await Deno.remove(msgfile);
        }
      });
    }
  });

  await t.step("client-initiated (s_client 'R'): our server refuses", async () => {
    const obs = observed();
    using sctx = recordingServerContext("TLSv1.2", obs, false);
    let finishedBefore: Uint8Array | null = null;
    let finishedAfter: Uint8Array | null = null;
    const serve = async (s: SecureSocket) => {
      await s.handshake();
      finishedBefore = s.getFinished();
      const buf = new Uint8Array(65536);
      try {
        for (;;) {
          const n = await s.read(buf);
          if (n === null) return "clean end";
          await s.write(buf.subarray(0, n));
        }
      } finally {
        finishedAfter = s.getFinished();
      }
    };
    await withTestServer(sctx, serve, async (server) => {
      const client = sClientProc(server.port, ["-tls1_2"]);
      try {
        const block = randomText(1000);
        await client.write(block);
        await client.waitFor(() => indexOfBytes(client.stdout, block) >= 0, 10_000, "the echo");
        const before = obs.info.length;
        await client.write("R\n");
        const outcome = await server.outcome(0);
        // s_client answers our refusal with a fatal alert: a typed error on our side.
        if (!outcome.ok) {
          assert.ok(outcome.error instanceof SecureSocketError, String(outcome.error));
          assert.ok(!(outcome.error instanceof SocketClosedError), String(outcome.error));
        }
        assertSentNoRenegotiation(obs.info.slice(before));
        assert.ok(finishedBefore && finishedAfter, "no Finished message");
        assert.deepEqual(finishedAfter, finishedBefore, "the handshake changed: renegotiated");
        await client.closeStdin();
        await client.exit(10_000);
        assert.match(client.stderr, /RENEGOTIATING/);
      } finally {
        await client.stop();
      }
    });
  });
}, { ignore: !hasPeer("openssl") });

// ---------------------------------------------------------------- slow and stalled peers

faultTest("handshakeTimeout: silent or stalled peers cannot hold a server or a client", async (t) => {
  const LIMIT = 400;

  /** Asserts that a timed-out handshake failed after about LIMIT ms. */
  const assertTimedOut = (error: Error, elapsed: number) => {
    assert.match(error.message, /timed out/);
    assert.ok(elapsed >= LIMIT - 50 && elapsed < LIMIT + 1500, `failed after ${Math.round(elapsed)} ms`);
  };
  /** Runs `body` against a handshake-only {@linkcode TestServer} with a handshake time limit. */
  const withLimitedServer = async (body: (server: TestServer<void>) => Promise<void>) => {
    using sctx = serverContext();
    await withTestServer(sctx, handshakeOnly, body, { handshakeTimeout: LIMIT });
  };

  await t.step("server: a client that never sends a ClientHello", async () => {
    await withLimitedServer(async (server) => {
      await withRawConn(server.port, async (conn) => {
        const started = performance.now();
        const outcome = await server.outcome(0, 5000);
        const elapsed = performance.now() - started;
        assertTimedOut(assertFailed(outcome, HandshakeError), elapsed);
        // The server let go of the connection: we see its end.
        assert.ok((await drainRaw(conn, 3000)).ok);
      });
      await assertServerStillWorks(server);
    });
  });

  await t.step("server: a client that stalls after half a ClientHello", async () => {
    using cctx = clientContext();
    const hello = await captureClientHello(cctx);
    await withLimitedServer(async (server) => {
      await withRawConn(server.port, async (conn) => {
        await conn.write(hello.subarray(0, 60));
        assertFailed(await server.outcome(0, 5000), HandshakeError);
        assert.ok((await drainRaw(conn, 3000)).ok);
      });
    });
  });

  await t.step("server: 50 silent clients at once are all dropped", async () => {
    await withLimitedServer(async (server) => {
      await withRawConns(server.port, 50, async (conns) => {
        const outcomes = await Promise.all(conns.map((_, i) => server.outcome(i, 5000)));
        assert.ok(outcomes.every((o) => !o.ok && o.error instanceof HandshakeError));
        const ends = await Promise.all(conns.map((c) => drainRaw(c, 3000)));
        assert.ok(ends.every((e) => e.ok));
      });
    });
  });

  await t.step("client: a server that accepts and never answers", async () => {
    using cctx = clientContext();
    // Read the ClientHello, say nothing, wait for the client to give up.
    const silent = (conn: Deno.Conn) => readAll(conn).then(() => "closed", (e) => String(e));
    await withRawServer(silent, async (port, served) => {
      const started = performance.now();
      const error = await rejectsWithin(
        connectTo(cctx, port, LIMIT),
        HandshakeError,
        5000,
        "connect to a silent server",
      );
      assertTimedOut(error, performance.now() - started);
      // The client closed its connection.
      assert.equal(await within(served, 3000, "the client to hang up"), "closed");
    });
  });
});

// ---------------------------------------------------------------- backpressure

/** A write pending this long while nobody reads counts as stalled by backpressure. */
const STALL_MS = 100;

faultTest("backpressure: a reader that stops makes write() wait; memory stays bounded", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  // What the kernel may buffer on loopback (send + receive side), plus our own buffers.
  const sysctlMax = (name: string, fallback: number) => {
    try {
      return Number(Deno.readTextFileSync(`/proc/sys/net/ipv4/${name}`).trim().split(/\s+/)[2]) || fallback;
    } catch {
      return fallback;
    }
  };
  const BOUND = sysctlMax("tcp_wmem", 4 << 20) + sysctlMax("tcp_rmem", 6 << 20) + (8 << 20);
  const CHUNK = 256 * 1024;
  /** How long the stalled writer is watched for progress it must not make. */
  const QUIET_MS = 500;
  const TOTAL = Math.ceil((BOUND + (32 << 20)) / CHUNK) * CHUNK;
  const chunk = randomBytes(CHUNK);
  let written = 0;
  let pendingSince = 0;
  const serve = async (s: SecureSocket) => {
    while (written < TOTAL) {
      pendingSince = performance.now();
      await s.write(chunk);
      pendingSince = 0;
      written += CHUNK;
    }
    await s.closeWrite();
  };
  await withTestServer(sctx, serve, async (server) => {
    await withClient(cctx, server.port, async (socket) => {
      await socket.handshake();
      const rssBefore = Deno.memoryUsage().rss;
      // Not reading: the writer must stall once the socket buffers are full
      // (a write() pending for STALL_MS; `written` cannot move meanwhile).
      const stall = await settle(
        waitUntil(() => pendingSince > 0 && performance.now() - pendingSince >= STALL_MS, 10_000, "the writer stalls"),
      );
      assert.ok(stall.ok, `the writer never stalled (wrote ${written} bytes)`);
      const stalledAt = written;
      // Time is the condition here: nobody reads for QUIET_MS, and the writer
      // must not get a byte further meanwhile. No event marks "it stays stalled".
      await delay(QUIET_MS);
      assert.equal(written, stalledAt, "the writer went on while nobody read");
      assert.ok(pendingSince > 0, "write() resolved while nobody read");
      // Kernel buffers + our own at most, far below what was offered.
      assert.ok(stalledAt < BOUND, `accepted ${stalledAt} bytes without a reader (bound ${BOUND})`);
      const rssGrowth = Deno.memoryUsage().rss - rssBefore;
      assert.ok(rssGrowth < 64 * 1024 * 1024, `RSS grew ${rssGrowth} bytes while stalled`);
      console.log(
        `backpressure: the writer stalled after ${(stalledAt / 1048576).toFixed(1)} MiB of ${TOTAL / 1048576} MiB ` +
          `(bound ${(BOUND / 1048576).toFixed(1)} MiB); RSS grew ${(rssGrowth / 1048576).toFixed(1)} MiB meanwhile`,
      );
      // Reading again drains everything, in order.
      const buf = new Uint8Array(CHUNK);
      let total = 0;
      for (;;) {
        const n = await within(socket.read(buf.subarray(0, CHUNK - (total % CHUNK))), 10_000, "drain");
        if (n === null) break;
        assert.deepEqual(buf.subarray(0, n), chunk.subarray(total % CHUNK, (total % CHUNK) + n));
        total += n;
      }
      assert.equal(total, TOTAL);
    });
    assertOk(await server.outcome(0));
  });
});

// ---------------------------------------------------------------- API abuse

faultTest("API abuse: write after closeWrite/close, read after close, double close", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  await withTestServer(sctx, echoHandler, async (server) => {
    const socket = await connectTo(cctx, server.port);
    await socket.write(enc("ping"));
    await socket.closeWrite();
    await socket.closeWrite(); // idempotent
    await assert.rejects(socket.write(enc("after closeWrite")), SecureSocketError);
    assert.equal(dec(await within(readAll(socket), 10_000, "echo")), "ping");
    socket.close();
    socket.close();
    await assert.rejects(socket.read(new Uint8Array(8)), SocketClosedError);
    await assert.rejects(socket.write(enc("x")), SocketClosedError);
    await assert.rejects(socket.closeWrite(), SocketClosedError);
    assert.throws(() => socket.peerCertificate, SocketClosedError);
    assert.throws(() => socket.setInfoCallback(null), SocketClosedError);
    await socket[Symbol.asyncDispose](); // still fine
    assertOk(await server.outcome(0));
    // A socket closed before it ever connected.
    const unused = new SecureSocket(cctx, { hostname: "localhost" });
    unused.close();
    await assert.rejects(unused.connect({ hostname: "127.0.0.1", port: server.port }), SocketClosedError);
    await assert.rejects(unused.handshake(), SecureSocketError);
  });
});

/**
 * Asserts that `promise` is still pending once the event loop has run what
 * was ready (I/O, timers due, microtasks): the call is waiting for its
 * peer, so a close() now is a close() during it.
 */
async function assertPending(promise: Promise<unknown>, what: string): Promise<void> {
  let settled = false;
  promise.then(() => (settled = true), () => (settled = true));
  await delay(0);
  assert.ok(!settled, `${what} settled before the test could close it`);
}

faultTest("close() during a pending read, write or handshake rejects it with SocketClosedError", async (t) => {
  /** How long a rejection nobody handled gets to be reported before the check that there was none. */
  const UNHANDLED_REPORT_MS = 50;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    unhandled.push(e.reason);
    e.preventDefault();
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    await t.step("pending read (client)", async () => {
      using sctx = serverContext();
      using cctx = clientContext();
      // The server's read starts once its handshake is done: our close() then
      // truncates a connection, not a handshake.
      const serverReading = Promise.withResolvers<void>();
      const serve = async (s: SecureSocket) => {
        await s.handshake();
        const reading = readAll(s).catch((e) => e);
        serverReading.resolve();
        return await reading;
      };
      await withTestServer(sctx, serve, async (server) => {
        const socket = await connectTo(cctx, server.port);
        try {
          const reading = socket.read(new Uint8Array(100));
          await within(serverReading.promise, 10_000, "the server's read to start");
          await assertPending(reading, "our read");
          socket.close();
          await rejectsWithin(reading, SocketClosedError, 2000, "the pending read");
        } finally {
          socket.close();
        }
        // The server sees a truncation, not a hang.
        const outcome = await server.outcome(0);
        assert.ok(outcome.ok && outcome.value instanceof TruncatedStreamError, String(outcome.ok && outcome.value));
      });
    });

    await t.step("pending read (server)", async () => {
      using sctx = serverContext();
      using cctx = clientContext();
      const serverReading = Promise.withResolvers<{ socket: SecureSocket; reading: Promise<number | null> }>();
      const serve = async (s: SecureSocket) => {
        await s.handshake();
        const reading = s.read(new Uint8Array(100));
        serverReading.resolve({ socket: s, reading });
        return await reading;
      };
      await withTestServer(sctx, serve, async (server) => {
        await withClient(cctx, server.port, async () => {
          const { socket, reading } = await within(serverReading.promise, 10_000, "the server's read to start");
          await assertPending(reading, "the server's read");
          socket.close();
          assertFailed(await server.outcome(0), SocketClosedError);
        });
      });
    });

    await t.step("pending write (stalled by backpressure)", async () => {
      using sctx = serverContext();
      using cctx = clientContext();
      // The server never reads after the handshake: our write fills the buffers and waits.
      let release!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      const serve = async (s: SecureSocket) => {
        await s.handshake();
        await hold;
      };
      await withTestServer(sctx, serve, async (server) => {
        try {
          // Over a transport that shows its pending write: stalled means a
          // transport write has waited STALL_MS for the kernel to take it.
          const transport = new WatchedConn(await rawConnect(server.port));
          const socket = await SecureSocket.startTls(transport.conn, cctx, { hostname: "localhost" });
          try {
            const writing = settle(socket.write(randomBytes(64 * 1024 * 1024)));
            await waitUntil(
              () => transport.writePendingFor >= STALL_MS,
              10_000,
              "the transport stops taking our write",
            );
            socket.close();
            await rejectsWithin(
              writing.then((r) => r.ok ? r.value : Promise.reject(r.error)),
              SocketClosedError,
              5000,
              "the pending write",
            );
          } finally {
            socket.close();
          }
        } finally {
          release();
        }
      });
    });

    await t.step("pending handshake (client and server)", async () => {
      using sctx = serverContext();
      using cctx = clientContext();
      // Client: the server accepts TCP, takes the ClientHello and never answers.
      const hello = Promise.withResolvers<void>();
      const silent = async (conn: Deno.Conn) => {
        try {
          if (await conn.read(new Uint8Array(16384)) !== null) hello.resolve();
          await readAll(conn);
        } catch {
          // the client's close may reset the connection
        }
      };
      await withRawServer(silent, async (port, served) => {
        const client = new SecureSocket(cctx, { hostname: "localhost" });
        try {
          const connecting = client.connect({ hostname: "127.0.0.1", port });
          await within(hello.promise, 5000, "the ClientHello to reach the server");
          await assertPending(connecting, "the client handshake");
          client.close();
          await rejectsWithin(connecting, SocketClosedError, 2000, "the pending client handshake");
        } finally {
          client.close();
        }
        await within(served, 3000, "the raw server to see the close");
      });

      // Server: the client connects and never sends a ClientHello.
      const secure = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
      const conn = await rawConnect(secure.addr.port);
      try {
        const accepted = await secure.accept();
        try {
          const handshaking = accepted.handshake();
          await assertPending(handshaking, "the server handshake");
          accepted.close();
          await rejectsWithin(handshaking, SocketClosedError, 2000, "the pending server handshake");
        } finally {
          accepted.close();
        }
        assert.ok((await drainRaw(conn, 3000)).ok);
      } finally {
        conn.close();
        secure.close();
      }
    });
    // Time is the condition here: a rejection nobody handled is reported on
    // a later turn of the event loop, and no event says "there was none".
    await delay(UNHANDLED_REPORT_MS);
    assert.deepEqual(unhandled, [], "unhandled rejections");
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});

faultTest("closing the context while its sockets live", async () => {
  const sctx = serverContext();
  const cctx = clientContext();
  await withTestServer(sctx, echoHandler, async (server) => {
    await withClient(cctx, server.port, async (socket) => {
      await socket.write(enc("one"));
      // Both contexts go away: the live connection keeps working.
      cctx.close();
      sctx.close();
      cctx.close(); // idempotent
      const payload = randomBytes(100_000);
      const [, echoed] = await Promise.all([socket.write(payload), readExactly(socket, 3 + payload.length)]);
      assert.equal(await sha256(echoed), await sha256(concat([enc("one"), payload])));
      assert.equal(socket.peerCertificate?.subject, "CN=localhost,O=secsock");
      await socket.closeWrite();
      assert.equal(await socket.read(new Uint8Array(8)), null);
    });
    assertOk(await server.outcome(0));
    // New sockets from a closed context: clear errors, on both sides.
    assert.throws(() => new SecureSocket(cctx, { hostname: "localhost" }), SocketClosedError);
    await assert.rejects(connectTo(cctx, server.port), SocketClosedError);
    assert.throws(() => cctx.setInfoCallback(null), SocketClosedError);
    // The listener holds its own reference to its context: it keeps serving
    // new clients after the user closed the context it was given.
    using freshClient = clientContext();
    const again = await connectTo(freshClient, server.port);
    try {
      await again.write(enc("still serving"));
      assert.equal(dec(await readExactly(again, 13)), "still serving");
      await again.closeWrite();
    } finally {
      again.close();
    }
    assert.equal(server.acceptErrors.length, 0);
    assert.throws(() => SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 }), SocketClosedError);
  });
});

faultTest("callbacks that close the socket from inside", async (t) => {
  await t.step("info callback calls socket.close() at the handshake start (client)", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    let calls = 0;
    cctx.setInfoCallback((socket, where) => {
      calls++;
      if (where & InfoWhere.HandshakeStart) socket.close();
    });
    await withTestServer(sctx, handshakeOnly, async (server) => {
      await rejectsWithin(connectTo(cctx, server.port), SocketClosedError, 5000, "connect");
      assert.ok(calls >= 1);
      assertFailed(await server.outcome(0), HandshakeError);
    });
  });

  await t.step("info callback calls socket.close() in the middle of the handshake (server)", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    let closedIn = "";
    let loops = 0;
    sctx.setInfoCallback((socket, where) => {
      // The 4th accept-loop state: well inside the handshake, whatever the OpenSSL version calls it.
      if ((where & InfoWhere.AcceptLoop) === InfoWhere.AcceptLoop && ++loops === 4) {
        closedIn = socket.stateString;
        socket.close();
        socket.close(); // twice, inside the callback
      }
    });
    await withTestServer(sctx, handshakeOnly, async (server) => {
      await rejectsWithin(connectTo(cctx, server.port), HandshakeError, 5000, "connect");
      assertFailed(await server.outcome(0), SocketClosedError);
      assert.ok(closedIn, "the callback never reached the 4th handshake state");
    });
  });

  await t.step("info callback closes the socket when the peer's close_notify arrives", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    cctx.setInfoCallback((socket, where) => {
      if ((where & InfoWhere.ReadAlert) === InfoWhere.ReadAlert) socket.close();
    });
    const serve = async (s: SecureSocket) => {
      await s.write(enc("bye"));
      await s.closeWrite();
    };
    await withTestServer(sctx, serve, async (server) => {
      await withClient(cctx, server.port, async (socket) => {
        assert.equal(dec(await readExactly(socket, 3)), "bye");
        await rejectsWithin(socket.read(new Uint8Array(8)), SocketClosedError, 5000, "read");
      });
    });
  });

  await t.step("verify callback closes the socket", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    cctx.setCertificateVerifyCallback((ok, store) => {
      if (store.depth === 0) store.socket.close();
      return ok;
    });
    await withTestServer(sctx, handshakeOnly, async (server) => {
      await rejectsWithin(connectTo(cctx, server.port), SocketClosedError, 5000, "connect");
      await server.outcome(0);
    });
  });

  await t.step("client-certificate callback closes the socket", async () => {
    const obs = observed();
    using sctx = recordingServerContext("TLSv1.3", obs, true);
    using cctx = clientContext();
    cctx.setClientCertificateCallback((socket) => {
      socket.close();
      return { certificate: fixture("client.pem"), privateKey: fixture("client.key") };
    });
    await withTestServer(sctx, handshakeOnly, async (server) => {
      await rejectsWithin(connectTo(cctx, server.port), SocketClosedError, 5000, "connect");
      await server.outcome(0);
    });
  });
});
