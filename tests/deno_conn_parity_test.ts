/**
 * Deno.Conn parity on SecureSocket: `[Symbol.dispose]` (abrupt, as
 * Deno.Conn's), `ref()`/`unref()` (a pending read of an unref'd socket does
 * not keep the process alive; on Deno and through the Node platform layer),
 * `handshake()` resolving to Deno.TlsConn's `{ alpnProtocol }`, and the
 * node:stream Duplex's ref()/unref() delegating to the socket, so that an idle
 * undici keep-alive connection does not keep a process alive.
 */
import assert from "node:assert/strict";
import { SecureSocket, TruncatedStreamError } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  fixture,
  serverContext,
  settle,
  spawnPeer,
  TestServer,
  within,
} from "./helpers.ts";
import { opensslServer, serverCertArgs } from "./peers/openssl.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** A Deno TLS server (rustls) that completes handshakes and then holds each connection idle until stopped. */
function idleServer() {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: fixture("server-chain.pem"),
    key: fixture("server.key"),
  });
  const conns: Deno.TlsConn[] = [];
  const loop = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      conn.handshake().catch(() => {});
    }
  })();
  return {
    port: listener.addr.port,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop.catch(() => {});
    },
  };
}

/** Runs tests/peers/idle_client.ts; returns ms from its "IDLE" line to its exit (null: still running after `waitMs`). */
async function idleExitTime(
  mode: string,
  port: number,
  waitMs: number,
): Promise<{ ms: number | null; output: string }> {
  const peer = spawnPeer("deno", ["run", "-A", "tests/peers/idle_client.ts", mode, String(port)], { cwd: ROOT });
  try {
    await peer.waitFor(/IDLE/, 30_000);
    const idle = performance.now();
    const exited = await settle(within(peer.process.status, waitMs, "exit"));
    return { ms: exited.ok ? performance.now() - idle : null, output: peer.output() };
  } finally {
    await peer.close();
  }
}

Deno.test("dispose: `using` closes at once, without close_notify (as Deno.Conn's [Symbol.dispose])", async () => {
  // `await using` sends close_notify: the server reads a clean end; `using` cuts: the server sees a truncation.
  const reads: (number | null | unknown)[] = [];
  const server2 = new TestServer(serverContext(), async (socket) => {
    const buf = new Uint8Array(64);
    for (;;) {
      const r = await settle(socket.read(buf));
      reads.push(r.ok ? r.value : r.error);
      if (!r.ok || r.value === null) return;
    }
  });
  const abrupt: unknown[] = [];
  const server3 = new TestServer(serverContext(), async (socket) => {
    const buf = new Uint8Array(64);
    for (;;) {
      const r = await settle(socket.read(buf));
      if (!r.ok) return abrupt.push(r.error);
      if (r.value === null) return abrupt.push(null);
    }
  });
  try {
    {
      await using socket = await connectLocal(clientContext(), server2.port);
      await socket.write(new TextEncoder().encode("y"));
    }
    {
      using socket = await connectLocal(clientContext(), server3.port);
      await socket.write(new TextEncoder().encode("z"));
    }
    await server2.drain();
    await server3.drain();
    assert.deepEqual(reads, [1, null], "`await using` sends close_notify");
    assert.equal(abrupt.length, 1);
    assert.ok(abrupt[0] instanceof TruncatedStreamError, `\`using\` cuts the connection: ${abrupt[0]}`);
  } finally {
    await server2.close();
    await server3.close();
  }
});

Deno.test("handshake() resolves to Deno.TlsConn.handshake()'s { alpnProtocol }, against openssl s_server", async () => {
  const peer = await opensslServer([...serverCertArgs(), "-alpn", "http/1.1", "-www"]);
  try {
    const ctx = clientContext({ alpnProtocols: ["h2", "http/1.1"] });
    const socket = new SecureSocket(ctx, { hostname: "127.0.0.1", servername: "localhost" });
    await socket.connect({ hostname: "127.0.0.1", port: peer.port });
    const ours = await socket.handshake();
    assert.strictEqual(socket.handshake(), socket.handshake(), "later calls return the same promise");
    socket.close();
    const deno = await Deno.connectTls({
      hostname: "localhost",
      port: peer.port,
      caCerts: [fixture("ca.pem")],
      alpnProtocols: ["h2", "http/1.1"],
    });
    const theirs = await deno.handshake();
    deno.close();
    assert.deepEqual(ours, { alpnProtocol: "http/1.1" });
    assert.deepEqual(ours, { ...theirs });

    const plain = await SecureSocket.connect(clientContext(), {
      hostname: "127.0.0.1",
      servername: "localhost",
      port: peer.port,
    });
    assert.deepEqual(await plain.handshake(), { alpnProtocol: null });
    plain.close();
  } finally {
    await peer.close();
  }
});

Deno.test("unref(): an idle secsock socket with a read pending lets the process exit; ref() keeps it alive", async () => {
  const server = idleServer();
  try {
    const unref = await idleExitTime("unref", server.port, 10_000);
    assert.ok(unref.ms !== null && unref.ms < 5_000, `the unref'd process did not exit:\n${unref.output}`);
    assert.doesNotMatch(unref.output, /READ/, "the read was still pending when the process exited");
    const ref = await idleExitTime("ref", server.port, 1_500);
    assert.equal(ref.ms, null, `a ref'd socket's pending read must keep the process alive:\n${ref.output}`);
  } finally {
    await server.close();
  }
});

Deno.test("unref() on the Node platform layer's connection (net.Socket) lets the process exit", async () => {
  const server = idleServer();
  try {
    const result = await idleExitTime("node-conn-unref", server.port, 10_000);
    assert.ok(result.ms !== null && result.ms < 5_000, `the process did not exit:\n${result.output}`);
  } finally {
    await server.close();
  }
});

Deno.test("undici over SecureSocketDuplex: an idle keep-alive connection no longer keeps the process alive", async () => {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: fixture("server-chain.pem"),
    key: fixture("server.key"),
    onListen: () => {},
  }, () => new Response("hello"));
  try {
    const result = await idleExitTime("undici", server.addr.port, 10_000);
    assert.match(result.output, /STATUS 200 hello/);
    assert.ok(result.ms !== null && result.ms < 5_000, `the process waited for its idle connection:\n${result.output}`);
  } finally {
    await server.shutdown();
  }
});
