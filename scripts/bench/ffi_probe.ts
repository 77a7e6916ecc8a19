/**
 * FFI cost per record, measured in one process (run by bench.ts, prints one
 * JSON line):
 *
 * - `openssl speed -evp aes-{128,256}-gcm -bytes 16384`: the crypto ceiling;
 * - the cost of a trivial FFI call;
 * - the memory-BIO round trip of membio.ts (encrypt + decrypt, no sockets),
 *   and the same loop in C (membio.c) when gcc and the headers are present;
 * - secsock itself, client and server in this process over a loopback TCP
 *   pair (`SecureSocket.startTls`), 16 KiB and 64 KiB writes, next to the
 *   same loop over plain TCP (what the transport costs) and over Deno's own
 *   TLS (what rustls costs), so that what remains is secsock's;
 * - the FFI calls secsock makes per 16 KiB record, per side and function,
 *   and its transport reads/writes per record (instrumented run).
 *
 * `deno run -A scripts/bench/ffi_probe.ts [--ms 1000] [--runs 3] [--speed-seconds 2]`
 *
 * @module
 */
import { SecureSocket, SecureSocketContext } from "../../mod.ts";
import { CERTS, fixturePath, HOST, median, num, parseArgs, selfCpuSeconds } from "./common.ts";
import { ffiCallCost, instrumentFfi, MemoryPair, timeLoop } from "./membio.ts";

const RECORD = 16384;

/** `openssl speed -evp <cipher> -bytes 16384`: MB/s (10^6 bytes), or null. */
export async function opensslSpeed(cipher: string, seconds: number): Promise<number | null> {
  try {
    const out = await new Deno.Command("openssl", {
      args: ["speed", "-evp", cipher, "-bytes", String(RECORD), "-seconds", String(seconds)],
      stdout: "piped",
      stderr: "null",
    }).output();
    const m = new TextDecoder().decode(out.stdout).match(/^AES-\d+-GCM\s+([\d.]+)k\s*$/m);
    return m ? Number(m[1]) * 1000 / 1e6 : null;
  } catch {
    return null;
  }
}

interface MembioResult {
  suite: string;
  releaseBuffers: boolean;
  mbps: number;
  nsPerRecord: number;
  runs: number[];
}

/** One round-trip loop's figures from its per-run ns/record samples (median first). */
function loopResult(suite: string, releaseBuffers: boolean, ns: number[]) {
  const nsPerRecord = median(ns);
  return {
    suite,
    releaseBuffers,
    mbps: RECORD * 1e3 / nsPerRecord,
    nsPerRecord,
    runs: ns.map((n) => RECORD * 1e3 / n),
  };
}

function membio(suite: string, releaseBuffers: boolean, ms: number, runs: number): MembioResult {
  const pair = new MemoryPair({ suite, releaseBuffers });
  try {
    const ns: number[] = [];
    for (let i = 0; i < runs; i++) ns.push(timeLoop(() => pair.roundTrip(RECORD), ms).nsPerOp);
    return loopResult(suite, releaseBuffers, ns);
  } finally {
    pair.close();
  }
}

async function nativeMembio(
  suite: string,
  releaseBuffers: boolean,
  ms: number,
  runs: number,
): Promise<MembioResult | { unavailable: string }> {
  const header = "/usr/include/openssl/ssl.h";
  try {
    Deno.statSync(header);
  } catch {
    return { unavailable: `no ${header} (install libssl-dev)` };
  }
  const dir = await Deno.makeTempDir({ prefix: "secsock-bench-" });
  try {
    const exe = `${dir}/membio`;
    const source = new URL("./membio.c", import.meta.url).pathname;
    let build: Deno.CommandOutput;
    try {
      build = await new Deno.Command("gcc", { args: ["-O2", "-o", exe, source, "-lssl", "-lcrypto"], stderr: "piped" })
        .output();
    } catch {
      return { unavailable: "no gcc" };
    }
    if (!build.success) return { unavailable: `gcc failed: ${new TextDecoder().decode(build.stderr).slice(0, 200)}` };
    const ns: number[] = [];
    for (let i = 0; i < runs; i++) {
      const out = await new Deno.Command(exe, {
        args: [
          suite,
          releaseBuffers ? "1" : "0",
          String(ms),
          fixturePath(CERTS.ec.chain),
          fixturePath(CERTS.ec.key),
          String(RECORD),
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) return { unavailable: new TextDecoder().decode(out.stderr).slice(0, 200) };
      ns.push(JSON.parse(new TextDecoder().decode(out.stdout)).nsPerRecord);
    }
    return loopResult(suite, releaseBuffers, ns);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface CountingConn {
  reads: number;
  writes: number;
}

/**
 * Plain TCP over loopback in this process: the transport under the secsock
 * pair, and on its own (no TLS) the transport's share of the loopback loop.
 */
async function tcpPair() {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: HOST, port: listener.addr.port }),
    listener.accept(),
  ]);
  listener.close();
  // No Nagle: this measures the per-record cost, not TCP's ACK clocking.
  client.setNoDelay(true);
  (server as Deno.TcpConn).setNoDelay(true);
  return { client, server, cipher: "none", close: () => (client.close(), server.close()) };
}

/** A secsock client/server pair in this process over loopback TCP. */
export async function loopbackPair(suite?: string, counters?: { client: CountingConn; server: CountingConn }) {
  const { client: tcpClient, server: tcpServer } = await tcpPair();
  if (counters) {
    for (const [conn, counter] of [[tcpClient, counters.client], [tcpServer, counters.server]] as const) {
      const read = conn.read.bind(conn);
      const write = conn.write.bind(conn);
      conn.read = (p) => {
        counter.reads++;
        return read(p);
      };
      conn.write = (p) => {
        counter.writes++;
        return write(p);
      };
    }
  }
  const serverCtx = new SecureSocketContext({ useSystemTrust: false, cipherSuites: suite });
  serverCtx.useCertificateChainFile(fixturePath(CERTS.ec.chain));
  serverCtx.usePrivateKeyFile(fixturePath(CERTS.ec.key));
  const clientCtx = new SecureSocketContext({
    useSystemTrust: false,
    ca: Deno.readTextFileSync(fixturePath("ca.pem")),
    cipherSuites: suite,
  });
  const [server, client] = await Promise.all([
    SecureSocket.startTls(tcpServer, serverCtx, { server: true }),
    SecureSocket.startTls(tcpClient, clientCtx, { hostname: HOST }),
  ]);
  return {
    client,
    server,
    cipher: client.cipher,
    close() {
      client.close();
      server.close();
      clientCtx.close();
      serverCtx.close();
    },
  };
}

/** Either end of an in-process loopback pair. */
interface Duplex {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
}

/** Client writes `total` bytes in `size` writes; the server reads them into a 64 KiB buffer. */
export async function transfer(client: Duplex, server: Duplex, size: number, total: number): Promise<number> {
  const chunk = new Uint8Array(size).fill(0x5a);
  const buf = new Uint8Array(65536);
  const t0 = performance.now();
  await Promise.all([
    (async () => {
      for (let left = total; left > 0;) {
        const n = await client.write(left >= size ? chunk : chunk.subarray(0, left));
        left -= n; // plain TCP may take part of a write
      }
    })(),
    (async () => {
      for (let got = 0; got < total;) {
        const n = await server.read(buf);
        if (n === null) throw new Error("early EOF");
        got += n;
      }
    })(),
  ]);
  return performance.now() - t0;
}

/** Deno's own TLS (rustls) over loopback in this process, with the same certificate. */
async function denoTlsPair() {
  const listener = Deno.listenTls({
    hostname: HOST,
    port: 0,
    cert: Deno.readTextFileSync(fixturePath(CERTS.ec.chain)),
    key: Deno.readTextFileSync(fixturePath(CERTS.ec.key)),
  });
  const [client, server] = await Promise.all([
    Deno.connectTls({
      hostname: HOST,
      port: listener.addr.port,
      caCerts: [Deno.readTextFileSync(fixturePath("ca.pem"))],
    }),
    listener.accept(),
  ]);
  listener.close();
  await Promise.all([client.handshake(), server.handshake()]);
  return { client, server, cipher: "rustls default", close: () => (client.close(), server.close()) };
}

/** The in-process loopback pairs the `loopback` measurement compares. */
export type LoopbackKind = "secsock" | "tcp" | "deno-tls";

async function loopback(kind: LoopbackKind, size: number, total: number, runs: number, suite?: string) {
  const pair = kind === "secsock" ? await loopbackPair(suite) : kind === "tcp" ? await tcpPair() : await denoTlsPair();
  try {
    await transfer(pair.client, pair.server, size, Math.min(total, 4 << 20)); // warm-up
    const mbps: number[] = [];
    const cpu0 = selfCpuSeconds();
    for (let i = 0; i < runs; i++) mbps.push(total / (await transfer(pair.client, pair.server, size, total)) / 1000);
    const cpuUsPerRecord = ((selfCpuSeconds() - cpu0) * 1e6) / ((total * runs) / RECORD);
    return { kind, write: size, cipher: pair.cipher, mbps: median(mbps), runs: mbps, cpuUsPerRecord };
  } finally {
    pair.close();
  }
}

async function countCalls(size: number, records: number) {
  const counter = instrumentFfi();
  const conns = { client: { reads: 0, writes: 0 }, server: { reads: 0, writes: 0 } };
  try {
    const pair = await loopbackPair(undefined, conns);
    try {
      await transfer(pair.client, pair.server, size, 64 * RECORD); // warm-up, uncounted
      conns.client.reads =
        conns.client.writes =
        conns.server.reads =
        conns.server.writes =
          0;
      counter.start();
      await transfer(pair.client, pair.server, size, records * RECORD);
      const raw = counter.stop();
      const perRecord: Record<string, { total: number; calls: Record<string, number> }> = {};
      for (const [side, calls] of Object.entries(raw)) {
        const scaled = Object.fromEntries(
          Object.entries(calls).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Math.round((v / records) * 100) / 100]),
        );
        perRecord[side] = {
          total: Math.round((Object.values(calls).reduce((a, b) => a + b, 0) / records) * 100) / 100,
          calls: scaled,
        };
      }
      return {
        write: size,
        records,
        perRecord,
        transportPerRecord: {
          writer: { reads: conns.client.reads / records, writes: conns.client.writes / records },
          reader: { reads: conns.server.reads / records, writes: conns.server.writes / records },
        },
      };
    } finally {
      pair.close();
    }
  } finally {
    counter.restore();
  }
}

if (import.meta.main) {
  const { options } = parseArgs(Deno.args);
  const ms = num(options, "ms", 1000);
  const runs = num(options, "runs", 3);
  const speedSeconds = num(options, "speed-seconds", 2);
  const loopTotal = num(options, "loopback-total", 64 << 20);
  const result: Record<string, unknown> = {};
  result.opensslSpeed = {
    "aes-128-gcm": await opensslSpeed("aes-128-gcm", speedSeconds),
    "aes-256-gcm": await opensslSpeed("aes-256-gcm", speedSeconds),
  };
  result.callCostNs = ffiCallCost(Math.max(50, ms / 5));
  membio("TLS_AES_128_GCM_SHA256", true, Math.min(300, ms), 1); // warm-up (JIT, CPU clock)
  result.membio = [
    membio("TLS_AES_128_GCM_SHA256", false, ms, runs),
    membio("TLS_AES_128_GCM_SHA256", true, ms, runs),
    membio("TLS_AES_256_GCM_SHA384", true, ms, runs),
  ];
  result.native = [
    await nativeMembio("TLS_AES_128_GCM_SHA256", false, ms, runs),
    await nativeMembio("TLS_AES_128_GCM_SHA256", true, ms, runs),
    await nativeMembio("TLS_AES_256_GCM_SHA384", true, ms, runs),
  ];
  result.loopback = [
    await loopback("tcp", 16384, loopTotal, runs),
    await loopback("deno-tls", 16384, loopTotal, runs),
    await loopback("secsock", 16384, loopTotal, runs),
    await loopback("tcp", 65536, loopTotal, runs),
    await loopback("deno-tls", 65536, loopTotal, runs),
    await loopback("secsock", 65536, loopTotal, runs),
    await loopback("secsock", 16384, loopTotal, runs, "TLS_AES_128_GCM_SHA256"),
  ];
  result.counts = [await countCalls(16384, 256), await countCalls(65536, 256)];
  console.log(JSON.stringify(result));
  Deno.exit(0);
}
