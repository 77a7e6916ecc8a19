/**
 * Load-test clients, run as a separate process by tests/load_test.ts:
 *
 *   deno run -A tests/peers/load_clients.ts <port> <clients> <bytes> <seed>
 *
 * Opens <clients> secsock connections to 127.0.0.1:<port> (verifying
 * "localhost" against the fixture CA), waits until all of them are connected,
 * then each one echoes <bytes> bytes in random chunk sizes and checks every
 * byte that comes back. The data of client i is a rotation of one random
 * buffer derived from <seed>, so nothing large is held per client. Prints
 * one JSON line with the results.
 */
import { SecureSocket, SecureSocketContext } from "../../mod.ts";

const [port, clients, bytes, seed] = Deno.args.map(Number);
const ctx = new SecureSocketContext({
  useSystemTrust: false,
  ca: Deno.readTextFileSync(new URL("../fixtures/ca.pem", import.meta.url)),
});

// One shared pseudo-random buffer (xorshift32 from the seed).
const BASE = 1 << 20;
const base = new Uint8Array(BASE + 65536);
let x = seed >>> 0 || 1;
for (let i = 0; i < base.length; i++) {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  base[i] = x & 0xff;
}
const byteAt = (offset: number, k: number) => base[(offset + k) % BASE];

let random = seed ^ 0x9e3779b9;
function nextRandom(limit: number): number {
  random ^= random << 13;
  random ^= random >>> 17;
  random ^= random << 5;
  return ((random >>> 0) % limit) + 1;
}

let arrived = 0;
let release!: () => void;
const everyoneConnected = new Promise<void>((resolve) => (release = resolve));
const errors: string[] = [];
let verifiedBytes = 0;
let peakOpen = 0;
let open = 0;

async function client(index: number): Promise<void> {
  const offset = (index * 7919) % BASE;
  let socket: SecureSocket;
  try {
    socket = await SecureSocket.connect(ctx, {
      hostname: "127.0.0.1",
      servername: "localhost",
      port,
      handshakeTimeout: 60_000,
    });
  } finally {
    // Connected or failed: either way this client has arrived at the barrier.
    if (++arrived === clients) release();
  }
  open++;
  peakOpen = Math.max(peakOpen, open);
  try {
    await everyoneConnected;
    const writer = (async () => {
      let sent = 0;
      const chunk = new Uint8Array(65536);
      while (sent < bytes) {
        const n = Math.min(bytes - sent, nextRandom(65536));
        for (let k = 0; k < n; k++) chunk[k] = byteAt(offset, sent + k);
        await socket.write(chunk.subarray(0, n));
        sent += n;
      }
      await socket.closeWrite();
    })();
    const buf = new Uint8Array(65536);
    let received = 0;
    for (;;) {
      const n = await socket.read(buf.subarray(0, nextRandom(65536)));
      if (n === null) break;
      for (let k = 0; k < n; k++) {
        if (buf[k] !== byteAt(offset, received + k)) {
          throw new Error(`client ${index}: byte ${received + k} differs`);
        }
      }
      received += n;
    }
    await writer;
    if (received !== bytes) throw new Error(`client ${index}: received ${received} of ${bytes} bytes`);
    verifiedBytes += received;
  } finally {
    open--;
    socket.close();
  }
}

const started = performance.now();
const results = await Promise.allSettled(Array.from({ length: clients }, (_, i) => client(i)));
for (const r of results) {
  if (r.status === "rejected") errors.push(String(r.reason?.stack ?? r.reason));
}
ctx.close();
console.log(JSON.stringify({
  clients,
  bytes,
  ok: results.filter((r) => r.status === "fulfilled").length,
  failed: errors.length,
  errors: errors.slice(0, 5),
  verifiedBytes,
  peakOpen,
  seconds: (performance.now() - started) / 1000,
}));
