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
import { liveSocketCount } from "../lib/registry.ts";
import {
  clientContext,
  concat,
  dec,
  delay,
  enc,
  fixture,
  hasPeer,
  indexOfBytes,
  randomBytes,
  readAll,
  readExactly,
  serverContext,
  settle,
  sha256,
  type Version,
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
  TestServer,
  tlsRecord,
  TrickleConn,
  waitForEvent,
} from "./matrix_utils.ts";

const VERSIONS: Version[] = ["TLSv1.2", "TLSv1.3"];

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

/** Asserts that `promise` rejects with an instance of `type` within `ms`; returns the error. */
async function rejectsWithin<E extends Error>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => E,
  ms: number,
  what: string,
): Promise<E> {
  const result = await within(settle(promise), ms, what);
  assert.equal(result.ok, false, `${what}: expected ${type.name}, but it succeeded`);
  const error = (result as { error: unknown }).error;
  assert.ok(
    error instanceof type,
    `${what}: expected ${type.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`,
  );
  return error as E;
}

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
  const outcome = await server.outcome(index);
  assert.ok(outcome.ok, `the server failed the good client: ${!outcome.ok && outcome.error}`);
}

// ---------------------------------------------------------------- re-chunked ciphertext

faultTest("ciphertext delivered one byte at a time (proxy), both directions, mutual TLS", async (t) => {
  for (const version of VERSIONS) {
    await t.step(version, async () => {
      const serverObs = observed();
      const clientObs = observed();
      using sctx = recordingServerContext(version, serverObs, true);
      using cctx = recordingClientContext(version, clientObs);
      const server = new TestServer(sctx, echoHandler);
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
          await socket.closeWrite();
          assert.equal(await within(socket.read(new Uint8Array(8)), 30_000, "close_notify"), null);
        } finally {
          socket.close();
        }
        const outcome = await server.outcome(0, 30_000);
        assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
        assert.equal(await sha256(outcome.value.received), await sha256(payload));
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
        await server.close();
      }
    });
  }
});

faultTest(
  "ciphertext handed to OpenSSL exactly one byte per transport read (startTls over a trickling conn)",
  async (t) => {
    for (const version of VERSIONS) {
      await t.step(version, async () => {
        const serverObs = observed();
        const clientObs = observed();
        using sctx = recordingServerContext(version, serverObs, true);
        using cctx = recordingClientContext(version, clientObs);
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
      const server = new TestServer(sctx, echoHandler);
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
          await socket.closeWrite();
          assert.equal(await within(socket.read(new Uint8Array(8)), 10_000, "close_notify"), null);
        } finally {
          socket.close();
        }
        const outcome = await server.outcome(0);
        assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
        // The 300 records went to the server in a few large writes.
        assert.ok(proxy.toServer.writes <= 10, `proxy wrote ${proxy.toServer.writes} chunks to the server`);
        assert.ok(proxy.toServer.largestWrite > payload.length, `largest chunk ${proxy.toServer.largestWrite}`);
        assert.ok(proxy.toClient.largestWrite > payload.length, `largest chunk ${proxy.toClient.largestWrite}`);
      } finally {
        await proxy.close();
        await server.close();
      }
    });
  }
});

// ---------------------------------------------------------------- the peer goes away

faultTest("peer closes mid-handshake: HandshakeError on both sides", async (t) => {
  await t.step("server side: half a ClientHello, then FIN", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    const hello = await captureClientHello(cctx);
    const server = new TestServer(sctx, (s) => s.handshake());
    try {
      const conn = await rawConnect(server.port);
      try {
        await conn.write(hello.subarray(0, hello.length >> 1));
        await conn.closeWrite();
        const outcome = await server.outcome(0);
        assert.equal(outcome.ok, false);
        assert.ok(!outcome.ok && outcome.error instanceof HandshakeError, String(!outcome.ok && outcome.error));
        // Our side closed the connection.
        assert.ok((await drainRaw(conn)).ok);
      } finally {
        conn.close();
      }
      await assertServerStillWorks(server);
    } finally {
      await server.close();
    }
  });

  await t.step("client side: the server reads the ClientHello and closes", async () => {
    using cctx = clientContext();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const peer = (async () => {
      const conn = await listener.accept();
      try {
        await conn.read(new Uint8Array(4096));
      } finally {
        conn.close();
      }
    })();
    try {
      await rejectsWithin(connectTo(cctx, listener.addr.port), HandshakeError, 10_000, "connect");
    } finally {
      listener.close();
      await peer;
    }
  });

  await t.step("client side: the server sends half a ServerHello and closes", async () => {
    using cctx = clientContext();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const peer = (async () => {
      const conn = await listener.accept();
      try {
        await conn.read(new Uint8Array(4096));
        // A handshake record announcing 90 bytes; 40 arrive.
        await conn.write(concat([new Uint8Array([0x16, 0x03, 0x03, 0x00, 90]), new Uint8Array(40).fill(2)]));
      } finally {
        conn.close();
      }
    })();
    try {
      await rejectsWithin(connectTo(cctx, listener.addr.port), HandshakeError, 10_000, "connect");
    } finally {
      listener.close();
      await peer;
    }
  });
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
      const server = new TestServer(sctx, async (s) => {
        await s.handshake();
        await s.write(message);
        return await readAll(s).catch((e) => e);
      });
      try {
        for (let round = 0; round < 5; round++) {
          const proxy = new ChunkingProxy(server.port, { mode: "cut", cutAbove: 4096 });
          try {
            const socket = await within(connectTo(cctx, proxy.port), 10_000, "handshake");
            try {
              const error = await rejectsWithin(
                readAll(socket),
                TruncatedStreamError,
                10_000,
                `read, round ${round}`,
              );
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
      } finally {
        await server.close();
      }
    });
  }
});

faultTest("peer closes between records without close_notify: all data, then TruncatedStreamError", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  const parts = [randomBytes(1000), randomBytes(20_000), randomBytes(5)];
  const server = new TestServer(sctx, async (s) => {
    for (const p of parts) await s.write(p);
    // close() does not send close_notify (documented): a truncation for the reader.
  });
  try {
    const socket = await connectTo(cctx, server.port);
    try {
      const all = concat(parts);
      const got = await within(readExactly(socket, all.length), 10_000, "data before the truncation");
      assert.equal(await sha256(got), await sha256(all));
      await rejectsWithin(socket.read(new Uint8Array(100)), TruncatedStreamError, 10_000, "read at the end");
    } finally {
      socket.close();
    }
    assert.ok((await server.outcome(0)).ok);
  } finally {
    await server.close();
  }
});

faultTest("peer closes with close_notify: every byte, then a clean null (repeatedly)", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  const parts = [randomBytes(1000), randomBytes(70_000)];
  const server = new TestServer(sctx, async (s) => {
    for (const p of parts) await s.write(p);
    await s.closeWrite();
  });
  try {
    const socket = await connectTo(cctx, server.port);
    try {
      const got = await within(readAll(socket), 10_000, "read to the end");
      assert.equal(await sha256(got), await sha256(concat(parts)));
      assert.equal(await socket.read(new Uint8Array(8)), null);
      assert.equal(await socket.read(new Uint8Array(8)), null);
    } finally {
      socket.close();
    }
    assert.ok((await server.outcome(0)).ok);
  } finally {
    await server.close();
  }
});

faultTest("connection reset by the peer", async (t) => {
  await t.step("client side: a Node server resets after sending data (socket.resetAndDestroy)", async () => {
    using cctx = clientContext();
    const peer = nodeScript("matrix_fault_peer.mjs", ["reset-server", "TLSv1.3"]);
    try {
      const port = Number((await waitForEvent(peer, "listening")).port);
      const socket = await connectTo(cctx, port);
      try {
        const got = await within(readExactly(socket, 65536), 10_000, "data before the reset");
        assert.ok(got.every((b) => b === 0x61));
        await socket.write(enc("go"));
        await waitForEvent(peer, "reset");
        const error = await rejectsWithin(socket.read(new Uint8Array(100)), SecureSocketError, 10_000, "read");
        assert.ok(!(error instanceof SocketClosedError), "a reset is not our own close()");
        // The failure sticks.
        await rejectsWithin(socket.write(enc("x")), SecureSocketError, 1000, "write after the reset");
      } finally {
        socket.close();
      }
    } finally {
      await peer.stop();
    }
  });

  await t.step("server side: a client resets mid-handshake → HandshakeError", async () => {
    using sctx = serverContext();
    const server = new TestServer(sctx, (s) => s.handshake());
    const peer = nodeScript("matrix_fault_peer.mjs", ["reset-mid-handshake", String(server.port)]);
    try {
      await waitForEvent(peer, "reset");
      const outcome = await server.outcome(0);
      assert.equal(outcome.ok, false);
      const error = !outcome.ok && outcome.error;
      assert.ok(
        error instanceof HandshakeError,
        `a peer that vanished mid-handshake must be a HandshakeError, got ${(error as Error)?.constructor?.name}: ${
          (error as Error)?.message
        }`,
      );
      await assertServerStillWorks(server);
    } finally {
      await peer.stop();
      await server.close();
    }
  });
}, { ignore: !hasPeer("node") });

faultTest("half-close: after the peer's close_notify we still write the answer and it arrives", async () => {
  using sctx = serverContext();
  const server = new TestServer(sctx, async (s) => {
    // Read the whole request: it ends with the client's close_notify.
    const request = await readAll(s);
    // Answer after that: the request itself, in 7 writes.
    for (let i = 0; i < 7; i++) {
      await s.write(request.subarray(Math.floor((i * request.length) / 7), Math.floor(((i + 1) * request.length) / 7)));
    }
    await s.closeWrite();
    return request.length;
  });
  const peer = nodeScript("matrix_fault_peer.mjs", ["half-close", String(server.port), "200000"]);
  try {
    const answer = await waitForEvent(peer, "answer");
    assert.equal(answer.bytes, 200_000);
    assert.equal(answer.sha256, answer.requestSha256);
    const outcome = await server.outcome(0);
    assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
    assert.equal(outcome.value, 200_000);
    assert.equal((await waitForEvent(peer, "close")).hadError, false);
    assert.deepEqual(jsonEvents(peer).filter((e) => e.event === "error"), []);
  } finally {
    await peer.stop();
    await server.close();
  }
}, { ignore: !hasPeer("node") });

// ---------------------------------------------------------------- bad input before the handshake

faultTest("bad bytes instead of a handshake: HandshakeError, the accept loop survives", async (t) => {
  using sctx = serverContext();
  const server = new TestServer(sctx, (s) => s.handshake());
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
  try {
    for (const [name, bytes, closeAfter] of cases) {
      await t.step(name, async () => {
        const conn = await rawConnect(server.port);
        try {
          await conn.write(bytes).catch(() => {});
          // Some inputs leave OpenSSL waiting for more: then EOF must end it.
          if (closeAfter) await conn.closeWrite().catch(() => {});
          const outcome = await server.outcome(index++);
          assert.equal(outcome.ok, false, "the handshake succeeded");
          const error = !outcome.ok && outcome.error;
          assert.ok(
            error instanceof HandshakeError,
            `${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`,
          );
          // The server dropped the connection (possibly after an alert).
          await drainRaw(conn);
        } finally {
          conn.close();
        }
      });
    }
    await t.step("a good client still gets through", () => assertServerStillWorks(server));
  } finally {
    await server.close();
  }
});

faultTest("concurrent failing handshakes each keep their own OpenSSL reason", async () => {
  // OpenSSL's error queue is per thread and every socket here shares it: a
  // failure must be classified from its own entries, whatever other sockets
  // do meanwhile.
  using sctx = serverContext();
  const server = new TestServer(sctx, (s) => s.handshake());
  const COUNT = 40;
  try {
    const conns = await Promise.all(Array.from({ length: COUNT }, () => rawConnect(server.port)));
    try {
      await Promise.all(
        conns.map((c, i) =>
          c.write(i % 2 ? enc("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") : randomBytes(512)).catch(() => {})
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
    } finally {
      conns.forEach((c) => c.close());
    }
  } finally {
    await server.close();
  }
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
): Promise<{ outcome: Awaited<ReturnType<TestServer<T>["outcome"]>>; peer: Record<string, unknown>[] }> {
  using sctx = serverContext({ minVersion: "TLSv1.3", cipherSuites: "TLS_AES_128_GCM_SHA256" });
  const server = new TestServer(sctx, async (s) => {
    await s.handshake();
    return await reader(s);
  });
  const peer = nodeScript("matrix_fault_peer.mjs", ["records", String(server.port), kind, String(count)]);
  try {
    await waitForEvent(peer, "injected");
    const outcome = await server.outcome(0, 10_000);
    await waitForEvent(peer, "close");
    return { outcome, peer: jsonEvents(peer) };
  } finally {
    await peer.stop();
    await server.close();
  }
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
    assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
    assert.equal(outcome.value, "injected hello");
  });

  for (const [kind, what] of [["empty", "1000 empty records"], ["warn", "1000 warning alerts (user_canceled)"]]) {
    await t.step(`a flood of ${what} fails fast with a fatal alert`, async () => {
      const started = performance.now();
      const { outcome, peer } = await withRecordWriter(kind, 1000, (s) => readText(s));
      assert.equal(outcome.ok, false, `the flood was accepted: ${outcome.ok && outcome.value}`);
      const error = !outcome.ok && outcome.error;
      assert.ok(error instanceof SecureSocketError, String(error));
      assert.ok(!(error instanceof SocketClosedError) && !(error instanceof TruncatedStreamError), String(error));
      assert.ok((error as SecureSocketError).openssl.length > 0, "the error carries OpenSSL's reason");
      // We told the peer: it saw a fatal alert.
      assert.ok(peer.some((e) => e.event === "error" && /alert/i.test(String(e.message))), JSON.stringify(peer));
      assert.ok(performance.now() - started < 10_000);
    });
  }

  await t.step("an oversized encrypted record header fails at once", async () => {
    const { outcome, peer } = await withRecordWriter("oversized", 1, (s) => readText(s));
    assert.equal(outcome.ok, false);
    const error = !outcome.ok && outcome.error;
    assert.ok(error instanceof SecureSocketError && !(error instanceof SocketClosedError), String(error));
    assert.ok(peer.some((e) => e.event === "error" && /alert/i.test(String(e.message))), JSON.stringify(peer));
  });

  await t.step("application data after close_notify is never delivered", async () => {
    const { outcome } = await withRecordWriter("after-close", 1, async (s) => {
      const reads = [await readText(s), await readText(s), await readText(s)];
      await s.closeWrite();
      return reads;
    });
    assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
    assert.deepEqual(outcome.value, ["before close_notify", null, null]);
  });
}, { ignore: !hasPeer("node") });

// ---------------------------------------------------------------- TLS 1.3 KeyUpdate, TLS 1.2 renegotiation

/** `-msg` trace lines about KeyUpdate messages: sent (">>>") and received ("<<<"). */
async function keyUpdates(msgfile: string): Promise<{ sent: number; received: number }> {
  const trace = await Deno.readTextFile(msgfile);
  const lines = trace.split("\n").filter((l) => /KeyUpdate/i.test(l));
  return {
    sent: lines.filter((l) => l.startsWith(">>>")).length,
    received: lines.filter((l) => l.startsWith("<<<")).length,
  };
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
    const port = (() => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const p = l.addr.port;
      l.close();
      return p;
    })();
    const server = new Proc("openssl", [
      ...["s_server", "-accept", `127.0.0.1:${port}`, "-naccept", "1", "-tls1_3"],
      ...["-cert", "server.pem", "-key", "server.key", "-cert_chain", "intermediate.pem", "-msg", "-msgfile", msgfile],
    ]);
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
            // A command must reach s_server as a read of its own.
            await server.write(update);
            await delay(200);
          }
          await round();
        }
        await socket.closeWrite();
        assert.equal(await within(socket.read(new Uint8Array(8)), 10_000, "close_notify"), null);
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
    const server = new TestServer(sctx, async (s) => {
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
    });
    const client = new Proc("openssl", [
      ...["s_client", "-connect", `127.0.0.1:${server.port}`, "-servername", "localhost", "-tls1_3"],
      ...["-CAfile", "ca.pem", "-verify_return_error", "-msg", "-msgfile", msgfile],
    ]);
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
        await client.write(command);
        await delay(200);
        await round();
        await round();
      }
      await client.closeStdin();
      assert.equal((await client.exit(10_000)).code, 0, client.describe());
      assertBlocksInOrder(client.stdout, blocks, "the echo at s_client");
      const outcome = await server.outcome(0);
      assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
      const updates = await keyUpdates(msgfile);
      assert.ok(updates.sent >= 3, `s_client sent ${updates.sent} KeyUpdates`);
      assert.ok(updates.received >= 3, `s_client received ${updates.received} KeyUpdates`);
    } finally {
      await client.stop();
      await server.close();
      await Deno.remove(msgfile);
    }
  });
}, { ignore: !hasPeer("openssl") });

faultTest("TLS 1.2 renegotiation attempts are refused cleanly", async (t) => {
  const NO_RENEGOTIATION = 0x0164; // warning(1) << 8 | no_renegotiation(100)

  await t.step("server-initiated (s_server 'r' and 'R'): our client refuses", async (t) => {
    for (const command of ["r\n", "R\n"]) {
      await t.step(JSON.stringify(command), async () => {
        const obs = observed();
        using cctx = recordingClientContext("TLSv1.2", obs);
        const port = (() => {
          const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
          const p = l.addr.port;
          l.close();
          return p;
        })();
        const server = new Proc("openssl", [
          ...["s_server", "-accept", `127.0.0.1:${port}`, "-naccept", "1", "-tls1_2"],
          ...["-cert", "server.pem", "-key", "server.key", "-cert_chain", "intermediate.pem"],
        ]);
        try {
          await server.waitForText(/ACCEPT/);
          const socket = await connectTo(cctx, port);
          try {
            const finished = socket.getFinished();
            const down = randomText(1000);
            await server.write(down);
            assert.equal(await sha256(await readExactly(socket, down.length)), await sha256(down));
            const before = obs.info.length;
            await server.write(command);
            await delay(300);
            // Whatever s_server does next (it gives up on the connection), we
            // never hang and never renegotiate.
            const next = await within(settle(socket.read(new Uint8Array(4096))), 10_000, "read after the attempt");
            if (!next.ok) assert.ok(next.error instanceof SecureSocketError, String(next.error));
            const after = obs.info.slice(before);
            assert.ok(
              after.some((i) =>
                (i.where & InfoWhere.WriteAlert) === InfoWhere.WriteAlert && i.ret === NO_RENEGOTIATION
              ),
              "we did not send a no_renegotiation alert",
            );
            assert.ok(
              !after.some((i) =>
                (i.where & InfoWhere.Alert) !== 0 && (i.ret >> 8) === 2 && (i.where & InfoWhere.Write)
              ),
              "we sent a fatal alert",
            );
            assert.deepEqual(socket.getFinished(), finished, "the handshake changed: renegotiated");
          } finally {
            socket.close();
          }
          await server.exit(10_000);
          assert.match(server.stderr, /no renegotiation/i);
          // The client-certificate callback never ran (an 'R' would ask for a certificate).
          assert.equal(obs.clientCertCalls, 0);
        } finally {
          await server.stop();
        }
      });
    }
  });

  await t.step("client-initiated (s_client 'R'): our server refuses", async () => {
    const obs = observed();
    using sctx = recordingServerContext("TLSv1.2", obs, false);
    let finishedBefore: Uint8Array | null = null;
    let finishedAfter: Uint8Array | null = null;
    const server = new TestServer(sctx, async (s) => {
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
    });
    const client = new Proc("openssl", [
      ...["s_client", "-connect", `127.0.0.1:${server.port}`, "-servername", "localhost", "-tls1_2"],
      ...["-CAfile", "ca.pem", "-verify_return_error"],
    ]);
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
      const after = obs.info.slice(before);
      assert.ok(
        after.some((i) => (i.where & InfoWhere.WriteAlert) === InfoWhere.WriteAlert && i.ret === NO_RENEGOTIATION),
        "we did not send a no_renegotiation alert",
      );
      assert.ok(finishedBefore && finishedAfter, "no Finished message");
      assert.deepEqual(finishedAfter, finishedBefore, "the handshake changed: renegotiated");
      await client.closeStdin();
      await client.exit(10_000);
      assert.match(client.stderr, /RENEGOTIATING/);
    } finally {
      await client.stop();
      await server.close();
    }
  });
}, { ignore: !hasPeer("openssl") });

// ---------------------------------------------------------------- slow and stalled peers

faultTest("handshakeTimeout: silent or stalled peers cannot hold a server or a client", async (t) => {
  const LIMIT = 400;

  await t.step("server: a client that never sends a ClientHello", async () => {
    using sctx = serverContext();
    const server = new TestServer(sctx, (s) => s.handshake(), { handshakeTimeout: LIMIT });
    try {
      const conn = await rawConnect(server.port);
      try {
        const started = performance.now();
        const outcome = await server.outcome(0, 5000);
        const elapsed = performance.now() - started;
        assert.equal(outcome.ok, false);
        const error = !outcome.ok && outcome.error;
        assert.ok(error instanceof HandshakeError, String(error));
        assert.match((error as Error).message, /timed out/);
        assert.ok(elapsed >= LIMIT - 50 && elapsed < LIMIT + 1500, `failed after ${Math.round(elapsed)} ms`);
        // The server let go of the connection: we see its end.
        assert.ok((await drainRaw(conn, 3000)).ok);
      } finally {
        conn.close();
      }
      await assertServerStillWorks(server);
    } finally {
      await server.close();
    }
  });

  await t.step("server: a client that stalls after half a ClientHello", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    const hello = await captureClientHello(cctx);
    const server = new TestServer(sctx, (s) => s.handshake(), { handshakeTimeout: LIMIT });
    try {
      const conn = await rawConnect(server.port);
      try {
        await conn.write(hello.subarray(0, 60));
        const outcome = await server.outcome(0, 5000);
        assert.ok(!outcome.ok && outcome.error instanceof HandshakeError, String(!outcome.ok && outcome.error));
        assert.ok((await drainRaw(conn, 3000)).ok);
      } finally {
        conn.close();
      }
    } finally {
      await server.close();
    }
  });

  await t.step("server: 50 silent clients at once are all dropped", async () => {
    using sctx = serverContext();
    const server = new TestServer(sctx, (s) => s.handshake(), { handshakeTimeout: LIMIT });
    const conns = await Promise.all(Array.from({ length: 50 }, () => rawConnect(server.port)));
    try {
      const outcomes = await Promise.all(conns.map((_, i) => server.outcome(i, 5000)));
      assert.ok(outcomes.every((o) => !o.ok && o.error instanceof HandshakeError));
      const ends = await Promise.all(conns.map((c) => drainRaw(c, 3000)));
      assert.ok(ends.every((e) => e.ok));
    } finally {
      conns.forEach((c) => c.close());
      await server.close();
    }
  });

  await t.step("client: a server that accepts and never answers", async () => {
    using cctx = clientContext();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const accepted: Deno.Conn[] = [];
    const peer = (async () => {
      const conn = await listener.accept();
      accepted.push(conn);
      // Read the ClientHello, say nothing, wait for the client to give up.
      return await readAll(conn).then(() => "closed", (e) => String(e));
    })();
    try {
      const started = performance.now();
      const error = await rejectsWithin(
        connectTo(cctx, listener.addr.port, LIMIT),
        HandshakeError,
        5000,
        "connect to a silent server",
      );
      const elapsed = performance.now() - started;
      assert.match(error.message, /timed out/);
      assert.ok(elapsed >= LIMIT - 50 && elapsed < LIMIT + 1500, `failed after ${Math.round(elapsed)} ms`);
      // The client closed its connection.
      assert.equal(await within(peer, 3000, "the client to hang up"), "closed");
    } finally {
      listener.close();
      accepted.forEach((c) => {
        try {
          c.close();
        } catch { /* closed */ }
      });
      await settle(peer);
    }
  });
});

// ---------------------------------------------------------------- backpressure

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
  const TOTAL = Math.ceil((BOUND + (32 << 20)) / CHUNK) * CHUNK;
  const chunk = randomBytes(CHUNK);
  let written = 0;
  let pendingSince = 0;
  const server = new TestServer(sctx, async (s) => {
    while (written < TOTAL) {
      pendingSince = performance.now();
      await s.write(chunk);
      pendingSince = 0;
      written += CHUNK;
    }
    await s.closeWrite();
  });
  try {
    const socket = await connectTo(cctx, server.port);
    try {
      await socket.handshake();
      const rssBefore = Deno.memoryUsage().rss;
      // Not reading: the writer must stall once the socket buffers are full.
      let stalledAt = -1;
      for (let i = 0; i < 100 && stalledAt < 0; i++) {
        const seen = written;
        await delay(100);
        if (written === seen && pendingSince > 0 && performance.now() - pendingSince >= 100) stalledAt = written;
      }
      assert.ok(stalledAt >= 0, `the writer never stalled (wrote ${written} bytes)`);
      await delay(500);
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
    } finally {
      socket.close();
    }
    const outcome = await server.outcome(0);
    assert.ok(outcome.ok, String(!outcome.ok && outcome.error));
  } finally {
    await server.close();
  }
});

// ---------------------------------------------------------------- API abuse

faultTest("API abuse: write after closeWrite/close, read after close, double close", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  const server = new TestServer(sctx, echoHandler);
  try {
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
    assert.ok((await server.outcome(0)).ok);
    // A socket closed before it ever connected.
    const unused = new SecureSocket(cctx, { hostname: "localhost" });
    unused.close();
    await assert.rejects(unused.connect({ hostname: "127.0.0.1", port: server.port }), SocketClosedError);
    await assert.rejects(unused.handshake(), SecureSocketError);
  } finally {
    await server.close();
  }
});

faultTest("close() during a pending read, write or handshake rejects it with SocketClosedError", async (t) => {
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
      const server = new TestServer(sctx, async (s) => {
        await s.handshake();
        return await readAll(s).catch((e) => e);
      });
      try {
        const socket = await connectTo(cctx, server.port);
        const reading = socket.read(new Uint8Array(100));
        await delay(100);
        socket.close();
        await rejectsWithin(reading, SocketClosedError, 2000, "the pending read");
        // The server sees a truncation, not a hang.
        const outcome = await server.outcome(0);
        assert.ok(outcome.ok && outcome.value instanceof TruncatedStreamError, String(outcome.ok && outcome.value));
      } finally {
        await server.close();
      }
    });

    await t.step("pending read (server)", async () => {
      using sctx = serverContext();
      using cctx = clientContext();
      let serverSocket: SecureSocket | null = null;
      const server = new TestServer(sctx, async (s) => {
        serverSocket = s;
        await s.handshake();
        return await s.read(new Uint8Array(100));
      });
      try {
        const socket = await connectTo(cctx, server.port);
        try {
          while (!serverSocket) await delay(5);
          await delay(100);
          (serverSocket as SecureSocket).close();
          const outcome = await server.outcome(0);
          assert.ok(!outcome.ok && outcome.error instanceof SocketClosedError, String(!outcome.ok && outcome.error));
        } finally {
          socket.close();
        }
      } finally {
        await server.close();
      }
    });

    await t.step("pending write (stalled by backpressure)", async () => {
      using sctx = serverContext();
      using cctx = clientContext();
      // The server never reads after the handshake: our write fills the buffers and waits.
      let release!: () => void;
      const hold = new Promise<void>((resolve) => (release = resolve));
      const server = new TestServer(sctx, async (s) => {
        await s.handshake();
        await hold;
      });
      try {
        const socket = await connectTo(cctx, server.port);
        try {
          const writing = settle(socket.write(randomBytes(64 * 1024 * 1024)));
          await delay(300);
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
        await server.close();
      }
    });

    await t.step("pending handshake (client and server)", async () => {
      using sctx = serverContext();
      using cctx = clientContext();
      // Client: the server accepts TCP and never answers.
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const peer = (async () => {
        const conn = await listener.accept();
        try {
          await readAll(conn).catch(() => {});
        } finally {
          conn.close();
        }
      })();
      const client = new SecureSocket(cctx, { hostname: "localhost" });
      const connecting = client.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      await delay(150);
      client.close();
      await rejectsWithin(connecting, SocketClosedError, 2000, "the pending client handshake");
      await within(peer, 3000, "the raw server to see the close");
      listener.close();

      // Server: the client connects and never sends a ClientHello.
      const secure = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
      const conn = await rawConnect(secure.addr.port);
      try {
        const accepted = await secure.accept();
        const handshaking = accepted.handshake();
        await delay(100);
        accepted.close();
        await rejectsWithin(handshaking, SocketClosedError, 2000, "the pending server handshake");
        assert.ok((await drainRaw(conn, 3000)).ok);
      } finally {
        conn.close();
        secure.close();
      }
    });
    await delay(50);
    assert.deepEqual(unhandled, [], "unhandled rejections");
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
});

faultTest("closing the context while its sockets live", async () => {
  const sctx = serverContext();
  const cctx = clientContext();
  const server = new TestServer(sctx, echoHandler);
  try {
    const socket = await connectTo(cctx, server.port);
    try {
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
    } finally {
      socket.close();
    }
    assert.ok((await server.outcome(0)).ok);
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
  } finally {
    await server.close();
  }
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
    const server = new TestServer(sctx, (s) => s.handshake());
    try {
      await rejectsWithin(connectTo(cctx, server.port), SocketClosedError, 5000, "connect");
      assert.ok(calls >= 1);
      const outcome = await server.outcome(0);
      assert.ok(!outcome.ok && outcome.error instanceof HandshakeError, String(!outcome.ok && outcome.error));
    } finally {
      await server.close();
    }
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
    const server = new TestServer(sctx, (s) => s.handshake());
    try {
      await rejectsWithin(connectTo(cctx, server.port), HandshakeError, 5000, "connect");
      const outcome = await server.outcome(0);
      assert.ok(!outcome.ok && outcome.error instanceof SocketClosedError, String(!outcome.ok && outcome.error));
      assert.ok(closedIn, "the callback never reached the 4th handshake state");
    } finally {
      await server.close();
    }
  });

  await t.step("info callback closes the socket when the peer's close_notify arrives", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    cctx.setInfoCallback((socket, where) => {
      if ((where & InfoWhere.ReadAlert) === InfoWhere.ReadAlert) socket.close();
    });
    const server = new TestServer(sctx, async (s) => {
      await s.write(enc("bye"));
      await s.closeWrite();
    });
    try {
      const socket = await connectTo(cctx, server.port);
      try {
        assert.equal(dec(await readExactly(socket, 3)), "bye");
        await rejectsWithin(socket.read(new Uint8Array(8)), SocketClosedError, 5000, "read");
      } finally {
        socket.close();
      }
    } finally {
      await server.close();
    }
  });

  await t.step("verify callback closes the socket", async () => {
    using sctx = serverContext();
    using cctx = clientContext();
    cctx.setCertificateVerifyCallback((ok, store) => {
      if (store.depth === 0) store.socket.close();
      return ok;
    });
    const server = new TestServer(sctx, (s) => s.handshake());
    try {
      await rejectsWithin(connectTo(cctx, server.port), SocketClosedError, 5000, "connect");
      await server.outcome(0);
    } finally {
      await server.close();
    }
  });

  await t.step("client-certificate callback closes the socket", async () => {
    const obs = observed();
    using sctx = recordingServerContext("TLSv1.3", obs, true);
    using cctx = clientContext();
    cctx.setClientCertificateCallback((socket) => {
      socket.close();
      return { certificate: fixture("client.pem"), privateKey: fixture("client.key") };
    });
    const server = new TestServer(sctx, (s) => s.handshake());
    try {
      await rejectsWithin(connectTo(cctx, server.port), SocketClosedError, 5000, "connect");
      await server.outcome(0);
    } finally {
      await server.close();
    }
  });
});
