/**
 * The I/O contract (lib/io_engine.ts; README "I/O contract"), against real
 * peers over loopback TCP:
 *
 * - full duplex: one task writes while another reads what an echoing peer
 *   sends back — socat's OpenSSL (`EXEC:cat`), Node's `tls` (`pipe`), Deno's
 *   rustls and secsock, each in its own process — 32 rounds per peer, from
 *   1 byte to 64 MiB, in one write() or many;
 * - concurrent write() calls arrive contiguous and in call order;
 * - closeWrite() racing an unawaited write(): the peer gets every byte, then
 *   close_notify;
 * - both directions blocked at once behind small socket buffers (a peer that
 *   reads nothing until it has written everything).
 *
 * Every transfer runs under a progress watchdog: a stall fails the test (and
 * closes the socket) instead of hanging it.
 */
import assert from "node:assert/strict";
import { type SecureSocket, SecureSocketListener } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  fixturePath,
  freePort,
  nodePeer,
  type Peer,
  randomBytes,
  serverContext,
  settle,
  spawnPeer,
  stopPeer,
  within,
} from "./helpers.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** A transfer that moves no byte for this long has deadlocked. */
const STALL_MS = 20_000;
/** Payloads are windows of one random buffer. */
const SOURCE = randomBytes(64 * MiB + 4096);

// ---------------------------------------------------------------- peers

interface EchoPeer {
  name: string;
  port: number;
  stop(): Promise<void>;
}

async function listening(peer: Peer, pattern: RegExp, name: string): Promise<EchoPeer> {
  try {
    const m = await peer.waitFor(pattern, 20_000);
    return { name, port: peer.port || Number(m[1]), stop: async () => void await stopPeer(peer) };
  } catch (error) {
    await stopPeer(peer);
    throw error;
  }
}

/** socat's OpenSSL server with `cat` behind it: an echo that is OpenSSL on the other end too. */
async function socatEcho(): Promise<EchoPeer> {
  const port = freePort();
  const peer = spawnPeer("socat", [
    "-d",
    "-d",
    `OPENSSL-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert=${fixturePath("server-chain.pem")},key=${
      fixturePath("server.key")
    }`,
    "EXEC:cat",
  ]);
  peer.port = port;
  return await listening(peer, /listening on/, "socat OPENSSL-LISTEN + cat");
}

function nodeEcho(): Promise<EchoPeer> {
  return listening(nodePeer("echo_node_tls.mjs", [fixturePath("")]), /LISTENING (\d+)/, "node tls pipe");
}

function denoEcho(kind: "deno" | "secsock"): Promise<EchoPeer> {
  const script = new URL("./peers/echo_deno.ts", import.meta.url).pathname;
  const peer = spawnPeer(Deno.execPath(), ["run", "-A", script, kind]);
  return listening(peer, /LISTENING (\d+)/, kind === "deno" ? "Deno.listenTls" : "secsock");
}

const ECHO_PEERS: [string, () => Promise<EchoPeer>][] = [
  ["socat OPENSSL-LISTEN EXEC:cat", socatEcho],
  ["node tls socket.pipe(socket)", nodeEcho],
  ["Deno.listenTls", () => denoEcho("deno")],
  ["secsock", () => denoEcho("secsock")],
];

// ---------------------------------------------------------------- watchdog

/** Bytes moved so far, and when the last ones moved. */
class Progress {
  written = 0;
  read = 0;
  #last = performance.now();
  wrote(n: number): void {
    this.written += n;
    this.#last = performance.now();
  }
  got(n: number): void {
    this.read += n;
    this.#last = performance.now();
  }
  get idleMs(): number {
    return performance.now() - this.#last;
  }
}

/**
 * Waits for `work`; when no byte moves for STALL_MS, closes `socket` (so the
 * pending calls end) and fails with what had moved.
 */
async function watched<T>(work: Promise<T>, progress: Progress, socket: SecureSocket, what: string): Promise<T> {
  let timer: ReturnType<typeof setInterval> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (progress.idleMs < STALL_MS) return;
      clearInterval(timer);
      socket.close();
      reject(
        new Error(
          `deadlock: ${what}: no byte moved for ${STALL_MS} ms (written ${progress.written}, read ${progress.read})`,
        ),
      );
    }, 200);
  });
  try {
    return await Promise.race([work, stalled]);
  } catch (error) {
    await settle(work); // the closed socket ends the pending calls
    throw error;
  } finally {
    clearInterval(timer);
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

// ---------------------------------------------------------------- full duplex

interface Round {
  size: number;
  /** Bytes per write() call. */
  write: number;
  /** Bytes per read() call. */
  read: number;
}

/** 32 rounds: small and odd sizes, many 8 MiB transfers, two of 64 MiB; one write() or many. */
const ROUNDS: Round[] = [
  { size: 1, write: 1, read: 1 },
  { size: 100, write: 100, read: 16 * KiB },
  { size: 16 * KiB, write: 16 * KiB, read: 1000 },
  { size: 16 * KiB + 1, write: 1, read: 64 * KiB },
  { size: 65537, write: 65537, read: 64 * KiB },
  { size: 65537, write: 1000, read: 7 },
  { size: 1 * MiB, write: 1 * MiB, read: 64 * KiB },
  { size: 1 * MiB, write: 4 * KiB, read: 16 * KiB },
  { size: 3 * MiB + 17, write: 3 * MiB + 17, read: 64 * KiB },
  { size: 4 * MiB, write: 256 * KiB, read: 1 * MiB },
];
for (let i = 0; i < 20; i++) {
  const write = [8 * MiB, 64 * KiB, 8 * MiB, 16 * KiB, 8 * MiB, 1 * MiB, 8 * MiB, 4 * KiB + 3][i % 8];
  ROUNDS.push({ size: 8 * MiB, write, read: i % 3 === 0 ? 16 * KiB : 64 * KiB });
}
ROUNDS.push({ size: 64 * MiB, write: 64 * MiB, read: 64 * KiB }, { size: 64 * MiB, write: 64 * KiB, read: 64 * KiB });

/**
 * One connection: a writer task sends `size` bytes while a reader task reads
 * the echo; then close_notify both ways. The echo must equal what was sent.
 */
async function duplexRound(peer: EchoPeer, round: Round, index: number): Promise<void> {
  using ctx = clientContext();
  const what = `${peer.name}, round ${index}: ${round.size} B in ${round.write} B writes, ${round.read} B reads`;
  const socket = await within(connectLocal(ctx, peer.port), 10_000, `handshake, ${what}`);
  try {
    const offset = (index * 4099) % 4096;
    const data = SOURCE.subarray(offset, offset + round.size);
    const echoed = new Uint8Array(round.size);
    const progress = new Progress();
    const writer = async () => {
      for (let o = 0; o < data.length; o += round.write) {
        const part = data.subarray(o, Math.min(data.length, o + round.write));
        assert.equal(await socket.write(part), part.length);
        progress.wrote(part.length);
      }
    };
    const reader = async () => {
      while (progress.read < echoed.length) {
        const n = await socket.read(
          echoed.subarray(progress.read, Math.min(echoed.length, progress.read + round.read)),
        );
        if (n === null) throw new Error(`the echo ended after ${progress.read} of ${echoed.length} bytes`);
        progress.got(n);
      }
    };
    await watched(Promise.all([writer(), reader()]), progress, socket, what);
    assert.equal(firstDifference(echoed, data), -1, `${what}: the echo differs`);
    await within(socket.closeWrite(), 10_000, `closeWrite, ${what}`);
    assert.equal(await within(socket.read(new Uint8Array(16)), 10_000, `the peer's close_notify, ${what}`), null);
  } finally {
    socket.close();
  }
}

for (const [name, start] of ECHO_PEERS) {
  Deno.test(`I/O contract: full duplex against ${name}, ${ROUNDS.length} rounds of 1 B to 64 MiB`, async () => {
    const peer = await start();
    try {
      for (const [i, round] of ROUNDS.entries()) await duplexRound(peer, round, i);
    } finally {
      await peer.stop();
    }
  });
}

// ---------------------------------------------------------------- write order

/** Asserts that `data` consists of exactly these runs of equal bytes ([byte, length], in order). */
function assertRuns(data: Uint8Array, expected: [number, number][]): void {
  const actual = runs(data);
  const show = (r: [number, number][]) =>
    r.slice(0, 6).map(([b, n]) => `${String.fromCharCode(b)}×${n}`).join(" ") + (r.length > 6 ? " …" : "");
  assert.deepEqual(
    actual,
    expected,
    `${actual.length} runs (${show(actual)}), wanted ${expected.length} (${show(expected)})`,
  );
}

/** The runs of equal bytes in `data`, as [byte, length] pairs. */
function runs(data: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < data.length;) {
    let j = i + 1;
    while (j < data.length && data[j] === data[i]) j++;
    out.push([data[i], j - i]);
    i = j;
  }
  return out;
}

/**
 * Issues every write() at once (none awaited before the next), then
 * closeWrite() — at once too with `closeAtOnce`, else once the writes are
 * done; reads the echo to its end. Returns the echo and each call's outcome.
 */
async function concurrentWrites(peer: EchoPeer, parts: Uint8Array[], what: string, closeAtOnce: boolean) {
  using ctx = clientContext();
  const socket = await within(connectLocal(ctx, peer.port), 10_000, `handshake, ${what}`);
  try {
    const total = parts.reduce((sum, p) => sum + p.length, 0);
    const progress = new Progress();
    const writes = parts.map((p) => settle(socket.write(p).then((n) => (progress.wrote(n), n))));
    const closing = settle(closeAtOnce ? socket.closeWrite() : Promise.all(writes).then(() => socket.closeWrite()));
    const echoed = new Uint8Array(total + 1);
    let end: number | null = 0;
    const reader = async () => {
      while (progress.read < echoed.length) {
        end = await socket.read(echoed.subarray(progress.read));
        if (end === null) return;
        progress.got(end);
      }
    };
    await watched(Promise.all([reader(), ...writes, closing]), progress, socket, what);
    return {
      echoed: echoed.subarray(0, progress.read),
      end,
      writes: await Promise.all(writes),
      closing: await closing,
    };
  } finally {
    socket.close();
  }
}

const ORDER_PEERS = ECHO_PEERS.filter(([name]) => name !== "Deno.listenTls");

for (const [name, start] of ORDER_PEERS) {
  Deno.test(`I/O contract: two concurrent 1 MiB write()s arrive as two runs, in call order (${name})`, async () => {
    const peer = await start();
    try {
      for (let round = 0; round < 5; round++) {
        const a = new Uint8Array(MiB).fill(0x61);
        const b = new Uint8Array(MiB).fill(0x62);
        const { echoed, end, writes, closing } = await concurrentWrites(peer, [a, b], `${name} round ${round}`, false);
        assert.deepEqual(writes, [{ ok: true, value: MiB }, { ok: true, value: MiB }]);
        assert.deepEqual(closing, { ok: true, value: undefined });
        assert.equal(end, null, "the echo ends with the peer's close_notify");
        assertRuns(echoed, [[0x61, MiB], [0x62, MiB]]);
      }
    } finally {
      await peer.stop();
    }
  });
}

Deno.test("I/O contract: 24 concurrent write()s of mixed sizes arrive contiguous and in call order", async () => {
  const peer = await denoEcho("secsock");
  try {
    const sizes = [1, 70_000, 16_384, 3, 1_000_000, 65_536, 17, 300_000, 2, 16_385, 4_096, 128_000];
    const parts = [...sizes, ...sizes.toReversed()].map((size, i) => new Uint8Array(size).fill(0x41 + i));
    const { echoed, end, writes } = await concurrentWrites(peer, parts, "mixed sizes", false);
    assert.deepEqual(writes.map((w) => w.ok && w.value), parts.map((p) => p.length));
    assert.equal(end, null);
    assertRuns(echoed, parts.map((p, i) => [0x41 + i, p.length]));
  } finally {
    await peer.stop();
  }
});

// ---------------------------------------------------------------- closeWrite after write

for (const [name, start] of ECHO_PEERS) {
  Deno.test(`I/O contract: closeWrite() right after an unawaited 4 MiB write() sends every byte first (${name})`, async () => {
    const peer = await start();
    try {
      for (let round = 0; round < 3; round++) {
        const data = SOURCE.subarray(round, round + 4 * MiB);
        const { echoed, end, writes, closing } = await concurrentWrites(peer, [data], `${name} round ${round}`, true);
        assert.deepEqual(writes, [{ ok: true, value: data.length }], "the write() completes");
        assert.deepEqual(closing, { ok: true, value: undefined }, "closeWrite() completes");
        assert.equal(echoed.length, data.length, "the peer received (and echoed) every byte before close_notify");
        assert.equal(firstDifference(echoed, data), -1);
        assert.equal(end, null, "then the clean end");
      }
    } finally {
      await peer.stop();
    }
  });
}

Deno.test("I/O contract: write() after closeWrite() is refused and never reaches the peer", async () => {
  const peer = await denoEcho("secsock");
  using ctx = clientContext();
  const socket = await within(connectLocal(ctx, peer.port), 10_000, "handshake");
  try {
    const before = socket.write(new Uint8Array(100_000).fill(1));
    const closing = socket.closeWrite();
    const after = settle(socket.write(new Uint8Array(10).fill(2)));
    assert.equal(await before, 100_000);
    await closing;
    const outcome = await after;
    assert.ok(!outcome.ok, "write after closeWrite() rejects");
    const echoed: number[] = [];
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await within(socket.read(buffer), 10_000, "echo");
      if (n === null) break;
      for (const byte of buffer.subarray(0, n)) if (byte !== 1) echoed.push(byte);
    }
    assert.deepEqual(echoed, [], "only the bytes written before closeWrite() came back");
  } finally {
    socket.close();
    await peer.stop();
  }
});

// ---------------------------------------------------------------- both directions blocked

/**
 * A plain TCP relay with small socket buffers (socat): a few KiB in flight
 * per direction, so both ends' writes block long before 8 MiB.
 */
async function smallBufferRelay(target: number): Promise<EchoPeer> {
  const port = freePort();
  const small = "rcvbuf=4096,sndbuf=4096";
  const peer = spawnPeer("socat", [
    "-d",
    "-d",
    "-b",
    "4096",
    `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,${small}`,
    `TCP:127.0.0.1:${target},${small}`,
  ]);
  peer.port = port;
  return await listening(peer, /listening on/, "socat relay");
}

/** A server that writes all of `size` before reading anything, then reads `size`, then closes both ways. */
interface WriteFirstServer {
  port: number;
  done: Promise<number>;
  close(): void;
}

function secsockWriteFirst(size: number, updateKeys: boolean): WriteFirstServer {
  const ctx = serverContext();
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const socket = await listener.accept();
    try {
      await socket.handshake();
      // A KeyUpdate that asks for one back: the client's answer must queue
      // behind its own blocked bulk data without stopping its reader.
      if (updateKeys) await socket.updateKeys(true);
      await socket.write(SOURCE.subarray(7, 7 + size));
      const got = await readCount(socket, size);
      await socket.closeWrite();
      return got;
    } finally {
      socket.close();
    }
  })();
  return {
    port: listener.addr.port,
    done,
    close() {
      listener.close();
      ctx.close();
    },
  };
}

function denoWriteFirst(size: number): WriteFirstServer {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(fixturePath("server-chain.pem")),
    key: Deno.readTextFileSync(fixturePath("server.key")),
  });
  const done = (async () => {
    const conn = await listener.accept();
    try {
      await conn.handshake();
      const data = SOURCE.subarray(7, 7 + size);
      for (let sent = 0; sent < size;) sent += await conn.write(data.subarray(sent));
      const got = await readCount(conn, size);
      await conn.closeWrite();
      return got;
    } finally {
      conn.close();
    }
  })();
  return { port: listener.addr.port, done, close: () => listener.close() };
}

async function readCount(conn: { read(p: Uint8Array): Promise<number | null> }, size: number): Promise<number> {
  const buffer = new Uint8Array(65536);
  let got = 0;
  while (got < size) {
    const n = await conn.read(buffer);
    if (n === null) break;
    got += n;
  }
  return got;
}

const BLOCKED_SERVERS: [string, (size: number) => WriteFirstServer][] = [
  ["secsock", (size) => secsockWriteFirst(size, false)],
  ["secsock, KeyUpdate(update_requested) first", (size) => secsockWriteFirst(size, true)],
  ["Deno.listenTls", denoWriteFirst],
];

for (const [name, make] of BLOCKED_SERVERS) {
  Deno.test(`I/O contract: both directions blocked at once behind 4 KiB socket buffers (${name} writes 8 MiB before reading)`, async () => {
    const size = 8 * MiB;
    const server = make(size);
    const relay = await smallBufferRelay(server.port);
    using ctx = clientContext();
    try {
      const socket = await within(connectLocal(ctx, relay.port), 10_000, "handshake through the relay");
      try {
        const progress = new Progress();
        const sent = SOURCE.subarray(11, 11 + size);
        const received = new Uint8Array(size);
        const writer = async () => {
          for (let o = 0; o < size; o += MiB) progress.wrote(await socket.write(sent.subarray(o, o + MiB)));
        };
        const reader = async () => {
          while (progress.read < size) {
            const n = await socket.read(received.subarray(progress.read));
            if (n === null) throw new Error(`ended after ${progress.read} bytes`);
            progress.got(n);
          }
        };
        await watched(Promise.all([writer(), reader()]), progress, socket, `${name} through 4 KiB buffers`);
        assert.equal(firstDifference(received, SOURCE.subarray(7, 7 + size)), -1);
        await socket.closeWrite();
        assert.equal(await within(server.done, 10_000, "the server's read"), size, "the server read every byte");
        assert.equal(await within(socket.read(new Uint8Array(16)), 10_000, "close_notify"), null);
      } finally {
        socket.close();
      }
    } finally {
      server.close();
      await settle(server.done);
      await relay.stop();
    }
  });
}

Deno.test("I/O contract: a secsock pair in one process, full duplex 16 MiB each way at once", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  const size = 16 * MiB;
  try {
    // accept() returns at TCP accept; the server's handshake runs on its first I/O or handshake().
    const accepting = listener.accept().then(async (socket) => (await socket.handshake(), socket));
    const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "handshake");
    const server = await accepting;
    try {
      const progress = new Progress();
      const pump = async (from: SecureSocket, data: Uint8Array) => {
        for (let o = 0; o < data.length; o += 4 * MiB) progress.wrote(await from.write(data.subarray(o, o + 4 * MiB)));
      };
      const drain = async (into: SecureSocket) => {
        const out = new Uint8Array(size);
        let n = 0;
        while (n < size) {
          const r = await into.read(out.subarray(n));
          if (r === null) throw new Error(`ended after ${n}`);
          n += r;
          progress.got(r);
        }
        return out;
      };
      const [, , toServer, toClient] = await watched(
        Promise.all([
          pump(client, SOURCE.subarray(0, size)),
          pump(server, SOURCE.subarray(1, 1 + size)),
          drain(server),
          drain(client),
        ]),
        progress,
        client,
        "secsock ↔ secsock",
      );
      assert.equal(firstDifference(toServer, SOURCE.subarray(0, size)), -1);
      assert.equal(firstDifference(toClient, SOURCE.subarray(1, 1 + size)), -1);
    } finally {
      client.close();
      server.close();
    }
  } finally {
    listener.close();
  }
});
