/**
 * The binding's own cost, counted (issue 15): what secsock does per full
 * handshake and per 16 KiB record, in figures that do not depend on the
 * machine's load, and the memory of an idle connection next to OpenSSL's own
 * floor measured in C.
 *
 * `deno task profile [--handshakes 40] [--records 512] [--conns 300] [--json out.json] [--only hs,records,idle,floor,hsfloor,stime]`
 *
 * Per full handshake (client and server side, TLS 1.3 and 1.2, RSA-2048 and
 * ECDSA P-256) and per 16 KiB record (write and read), in the secsock process
 * only — the peer is Deno's own TLS (rustls) in another process, so nothing it
 * does is counted:
 *
 * - FFI calls by symbol: every function on the `libssl()` / `libcrypto()`
 *   symbol objects is replaced by a counting wrapper (here only; the library
 *   is not changed);
 * - callbacks entered: `ffi.callback` is wrapped, so every trampoline secsock
 *   makes counts its entries, by callback kind;
 * - certificates parsed (`d2i_X509`, `PEM_read_bio_X509*`) and certificate
 *   values made (`i2d_X509`), from the FFI counts;
 * - promises created, without a PromiseHook: the library runs from a copy in
 *   which every `async` function counts its calls (each call makes one
 *   promise), `Promise` is replaced by a counting proxy (`new Promise`,
 *   `Promise.all/race/resolve/…`) and `Promise.prototype.then` counts its
 *   calls (each makes one promise; `catch`/`finally` and `Promise.all` go
 *   through it). Promises Deno makes inside its own ops are not counted;
 * - transport reads and writes;
 * - JS heap allocated (heapUsed delta between two GCs, with no collection in
 *   between, per operation; median of several batches), on the unmodified
 *   library in a separate process. Deno's own objects for the TCP connection
 *   are in it; the "plain TCP" row is that share alone.
 *
 * Idle connections: the native heap (glibc `mallinfo2`, in use) and the JS heap
 * per idle established server connection (handshake, one request/answer, a
 * read pending), next to plain TCP connections held the same way, and next to
 * the floor: OpenSSL's own memory for an idle established SSL, measured in C
 * over memory BIOs (`idle_mem.c`, built with `cc` when it and the OpenSSL
 * headers are present; optional).
 *
 * The C floor per full handshake (`hsfloor`): OpenSSL's own CPU time on the
 * client and the server side of a full handshake, in one process over memory
 * BIOs (`handshake_floor.c`, `profile_hsfloor.ts`), and the ceiling of
 * handshakes/s it implies for a two-process setup on 2 cores.
 *
 * @module
 */
import { type CertKind, CERTS, fixturePath, HOST, median, num, parseArgs, sleep } from "./common.ts";
import {
  instrumentedCopy,
  type Json,
  loadCounting,
  type Mod,
  resetCounts,
  snapshotCounts,
} from "./profile_counting.ts";
import { clientPeer, denoServer, type Peer, peerClient } from "./profile_peers.ts";
import { floor } from "./profile_floor.ts";
import { hsfloor, HSFLOOR_CASES, hsfloorKey } from "./profile_hsfloor.ts";
import { plainTcpCpu, stimeCpu } from "./profile_stime.ts";

const RECORD = 16384;
const HERE = new URL(".", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Side = "client" | "server";
type Version = "1.2" | "1.3";

/** The handshake configurations of the table. */
const HS_CASES: { side: Side; version: Version; cert: CertKind }[] = [];
for (const side of ["client", "server"] as const) {
  for (const version of ["1.3", "1.2"] as const) {
    for (const cert of ["rsa", "ec"] as const) HS_CASES.push({ side, version, cert });
  }
}

// ------------------------------------------------------------------ the measured operations

/** Contexts and peers for the handshake cases. */
class HandshakeRig {
  readonly #mod: Mod;
  readonly #servers = new Map<CertKind, { peer: Peer; port: number }>();
  #client: Peer | null = null;

  constructor(mod: Mod) {
    this.#mod = mod;
  }

  async start(): Promise<void> {
    for (const cert of ["rsa", "ec"] as const) this.#servers.set(cert, await denoServer(cert));
    this.#client = clientPeer();
  }

  async stop(): Promise<void> {
    for (const s of this.#servers.values()) await s.peer.stop();
    await this.#client?.stop();
  }

  /**
   * `run(n)` does n full handshakes of the case, as the measured side (its
   * contexts are made beforehand); `close()` ends the case.
   */
  prepare(c: { side: Side; version: Version; cert: CertKind }) {
    const { SecureSocket, SecureSocketContext, SecureSocketListener } = this.#mod;
    const maxVersion = `TLSv${c.version}`;
    if (c.side === "client") {
      const ctx = new SecureSocketContext({
        useSystemTrust: false,
        ca: Deno.readTextFileSync(fixturePath("ca.pem")),
        maxVersion,
      });
      const port = this.#servers.get(c.cert)!.port;
      return {
        run: async (n: number) => {
          for (let i = 0; i < n; i++) {
            const socket = await SecureSocket.connect(ctx, { hostname: HOST, port });
            if (socket.protocol !== maxVersion) throw new Error(`negotiated ${socket.protocol}`);
            socket.close();
          }
        },
        close: () => ctx.close(),
      };
    }
    const ctx = new SecureSocketContext({ useSystemTrust: false, maxVersion });
    ctx.useCertificateChainFile(fixturePath(CERTS[c.cert].chain));
    ctx.usePrivateKeyFile(fixturePath(CERTS[c.cert].key));
    const listener = SecureSocketListener.listen(ctx, { hostname: HOST, port: 0 });
    ctx.close();
    const peer = this.#client!;
    return {
      run: async (n: number) => {
        const done = peer.ask(`hs ${listener.addr.port} ${n}`);
        for (let i = 0; i < n; i++) {
          const socket = await listener.accept();
          await socket.handshake();
          if (socket.protocol !== maxVersion) throw new Error(`negotiated ${socket.protocol}`);
          socket.close();
        }
        const answer = await done;
        if (answer !== "ok") throw new Error(`peer: ${answer}`);
      },
      close: () => listener.close(),
    };
  }

  /** A client connection to the Deno server with the P-256 certificate, for the record measurements. */
  async bulkConnection(): Promise<{ socket: Mod; port: number }> {
    const { SecureSocket, SecureSocketContext } = this.#mod;
    const ctx = new SecureSocketContext({ useSystemTrust: false, ca: Deno.readTextFileSync(fixturePath("ca.pem")) });
    const port = this.#servers.get("ec")!.port;
    const socket = await SecureSocket.connect(ctx, { hostname: HOST, port });
    ctx.close();
    return { socket, port };
  }
}

const CHUNK = new Uint8Array(RECORD).fill(0x5a);
const READ_BUFFER = new Uint8Array(65536);

async function readLine(socket: Mod): Promise<string> {
  let line = "";
  const buf = new Uint8Array(64);
  while (!line.endsWith("\n")) {
    const n = await socket.read(buf);
    if (n === null) throw new Error("EOF");
    line += decoder.decode(buf.subarray(0, n));
  }
  return line.trim();
}

/** The record operations on one connection: `write(n)` uploads n records, `read(n)` downloads them. */
function recordOps(socket: Mod) {
  return {
    async write(n: number, measure: (phase: "start" | "stop") => void) {
      await socket.write(encoder.encode(`U ${n * RECORD}\n`));
      measure("start");
      for (let i = 0; i < n; i++) await socket.write(CHUNK);
      measure("stop");
      if (await readLine(socket) !== "K") throw new Error("upload not acknowledged");
    },
    async read(n: number, measure: (phase: "start" | "stop") => void) {
      await socket.write(encoder.encode(`D ${n * RECORD} ${RECORD}\n`));
      measure("start");
      for (let got = 0; got < n * RECORD;) {
        const r = await socket.read(READ_BUFFER);
        if (r === null) throw new Error("EOF");
        got += r;
      }
      measure("stop");
    },
  };
}

// ------------------------------------------------------------------ workers

async function countingWorker(dir: string, o: Record<string, string>): Promise<Json> {
  const mod = await loadCounting(dir);
  const n = num(o, "handshakes", 40);
  const records = num(o, "records", 512);
  const only = (o.only ?? "hs,records").split(",");
  const rig = new HandshakeRig(mod);
  await rig.start();
  const out: Json = { openssl: mod.opensslVersion(), handshakes: [], records: {} };
  try {
    if (only.includes("hs")) {
      for (const c of HS_CASES) {
        const op = rig.prepare(c);
        try {
          await op.run(3); // warm-up: trampolines, lazily made state
          resetCounts();
          await op.run(n);
          (out.handshakes as Json[]).push({ ...c, n, ...snapshotCounts(n) });
        } finally {
          op.close();
        }
      }
    }
    if (only.includes("records")) {
      const { socket } = await rig.bulkConnection();
      const ops = recordOps(socket);
      const measure = (phase: "start" | "stop") => {
        if (phase === "start") resetCounts();
      };
      for (const dir of ["write", "read"] as const) {
        await ops[dir](64, () => {}); // warm-up
        let result: Json = {};
        await ops[dir](records, (phase) => {
          measure(phase);
          if (phase === "stop") result = snapshotCounts(records);
        });
        (out.records as Json)[dir] = { records, ...result };
      }
      socket.close();
    }
  } finally {
    await rig.stop();
  }
  return out;
}

function gc(): void {
  (globalThis as unknown as { gc: () => void }).gc();
}

/** Median JS heap allocated per operation: `batches` batches of `per`, each between two GCs. */
async function heapPerOp(run: (n: number) => Promise<void>, per: number, batches: number): Promise<Json> {
  const deltas: number[] = [];
  for (let b = 0; b < batches; b++) {
    gc();
    const h0 = Deno.memoryUsage().heapUsed;
    await run(per);
    const h1 = Deno.memoryUsage().heapUsed;
    deltas.push((h1 - h0) / per);
  }
  return { bytes: Math.round(median(deltas)), min: Math.round(Math.min(...deltas)), batches, per };
}

async function heapWorker(o: Record<string, string>): Promise<Json> {
  const mod = await import("../../mod.ts");
  const only = (o.only ?? "hs,records").split(",");
  const rig = new HandshakeRig(mod);
  await rig.start();
  const out: Json = { openssl: mod.opensslVersion(), handshakes: [], records: {} };
  try {
    if (only.includes("hs")) {
      // Deno's own share: a plain TCP connect + close, and accept + close.
      const listener = Deno.listen({ hostname: HOST, port: 0 });
      const tcp = await heapPerOp(
        async (n) => {
          for (let i = 0; i < n; i++) {
            const [a, b] = await Promise.all([
              Deno.connect({ hostname: HOST, port: listener.addr.port }),
              listener.accept(),
            ]);
            a.setNoDelay(true);
            a.close();
            b.close();
          }
        },
        20,
        7,
      );
      listener.close();
      out.tcpPair = tcp;
      for (const c of HS_CASES) {
        const op = rig.prepare(c);
        try {
          await op.run(10);
          (out.handshakes as Json[]).push({ ...c, heap: await heapPerOp(op.run, 10, 7) });
        } finally {
          op.close();
        }
      }
    }
    if (only.includes("records")) {
      const { socket } = await rig.bulkConnection();
      const ops = recordOps(socket);
      for (const dir of ["write", "read"] as const) {
        await ops[dir](64, () => {});
        const deltas: number[] = [];
        for (let b = 0; b < 7; b++) {
          let h0 = 0;
          await ops[dir](256, (phase) => {
            if (phase === "start") {
              gc();
              h0 = Deno.memoryUsage().heapUsed;
            } else deltas.push((Deno.memoryUsage().heapUsed - h0) / 256);
          });
        }
        (out.records as Json)[dir] = { bytes: Math.round(median(deltas)), min: Math.round(Math.min(...deltas)) };
      }
      socket.close();
      out.tcpRecords = await tcpRecordHeap();
    }
  } finally {
    await rig.stop();
  }
  return out;
}

/**
 * Deno's own share of a record: JS heap allocated per 16 KiB written and read
 * over plain TCP in this process (both ends, so an upper bound for one end).
 */
async function tcpRecordHeap(): Promise<Json> {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const [a, b] = await Promise.all([Deno.connect({ hostname: HOST, port: listener.addr.port }), listener.accept()]);
  listener.close();
  a.setNoDelay(true);
  const run = async (n: number) => {
    await Promise.all([
      (async () => {
        for (let i = 0; i < n; i++) for (let sent = 0; sent < RECORD;) sent += await a.write(CHUNK.subarray(sent));
      })(),
      (async () => {
        for (let got = 0; got < n * RECORD;) got += (await b.read(READ_BUFFER)) ?? NaN;
      })(),
    ]);
  };
  await run(64);
  const r = await heapPerOp(run, 256, 7);
  a.close();
  b.close();
  return r;
}

/** glibc's in-use heap bytes (`mallinfo2`: uordblks + hblkhd), or null off glibc. */
function mallinfo(): (() => number) | null {
  try {
    const libc = Deno.dlopen(
      "libc.so.6",
      {
        mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
      } as const,
    );
    return () => {
      const v = new BigUint64Array((libc.symbols.mallinfo2() as Uint8Array).slice().buffer);
      return Number(v[7] + v[4]);
    };
  } catch {
    return null;
  }
}

/** Per idle established server connection: native heap (mallinfo2) and JS heap, secsock and plain TCP. */
async function idleWorker(o: Record<string, string>): Promise<Json> {
  const mod = await import("../../mod.ts");
  const conns = num(o, "conns", 300);
  const native = mallinfo();
  const peer = clientPeer();
  const out: Json = { openssl: mod.opensslVersion(), conns };
  const cases: [string, CertKind | null][] = [["tcp", null], ["secsock", "ec"], ["secsock", "rsa"]];
  try {
    for (const [kind, cert] of cases) {
      for (let round = 0; round < 2; round++) { // the first round warms up (JIT, pools, the allocator)
        let listener: { addr: Deno.NetAddr; accept(): Promise<Mod>; close(): void };
        if (cert) {
          const ctx = new mod.SecureSocketContext({ useSystemTrust: false });
          ctx.useCertificateChainFile(fixturePath(CERTS[cert].chain));
          ctx.usePrivateKeyFile(fixturePath(CERTS[cert].key));
          listener = mod.SecureSocketListener.listen(ctx, { hostname: HOST, port: 0 });
          ctx.close();
        } else {
          listener = Deno.listen({ hostname: HOST, port: 0 });
        }
        gc();
        await sleep(50);
        gc();
        const n0 = native?.() ?? NaN;
        const h0 = Deno.memoryUsage().heapUsed;
        const e0 = Deno.memoryUsage().external;
        const done = peer.ask(`hold ${listener.addr.port} ${conns} ${cert ? 1 : 0}`);
        const open: Mod[] = [];
        const reads: Promise<unknown>[] = [];
        for (let i = 0; i < conns; i++) {
          const conn = await listener.accept();
          open.push(conn);
          // Like a server: read the request, answer, wait for the next one.
          reads.push(
            (async () => {
              const buf = new Uint8Array(1024);
              if ((await conn.read(buf)) === null) return;
              await conn.write(encoder.encode("A\n"));
              await conn.read(buf).catch(() => null);
            })().catch(() => {}),
          );
        }
        const answer = await done;
        if (answer !== "ok") throw new Error(`peer: ${answer}`);
        await sleep(200);
        gc();
        await sleep(50);
        gc();
        const n1 = native?.() ?? NaN;
        const mem = Deno.memoryUsage();
        if (round === 1) {
          out[cert ? `${kind}-${cert}` : kind] = {
            nativePerConn: Math.round((n1 - n0) / conns),
            heapPerConn: Math.round((mem.heapUsed - h0) / conns),
            externalPerConn: Math.round((mem.external - e0) / conns),
          };
        }
        await peer.ask("release");
        await Promise.all(reads);
        for (const c of open) c.close();
        listener.close();
      }
    }
  } finally {
    await peer.stop();
  }
  return out;
}

// ------------------------------------------------------------------ the report

async function runWorker(args: string[], v8: string[] = []): Promise<Json> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--v8-flags=${["--expose-gc", ...v8].join(",")}`, `${HERE}profile.ts`, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = decoder.decode(r.stdout).trim().split("\n").pop() ?? "";
  if (!r.success) throw new Error(`worker ${args.join(" ")} failed: ${text}`);
  return JSON.parse(text);
}

const kib = (b: number) => Number.isFinite(b) ? `${(b / 1024).toFixed(1)} KiB` : "n/a";
const f = (v: unknown) => typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v ?? "-");

function table(title: string, head: string[], rows: string[][], notes: string[] = []): string {
  const lines = [`### ${title}`, "", `| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  if (notes.length) lines.push("", ...notes.map((n) => `- ${n}`));
  return lines.join("\n") + "\n";
}

/** The FFI symbols as "name ×n" (those at or above `min` per operation). */
function topCalls(ffi: Record<string, number>, min = 0.05): string {
  return Object.entries(ffi).filter(([, v]) => v >= min).map(([k, v]) => `${k} ${f(v)}`).join(", ");
}

function report(data: Json): string {
  const out: string[] = [];
  const counting = data.counting as Json | undefined;
  const heap = data.heap as Json | undefined;
  const hsfloorOpenssl = Object.values((data.hsfloor ?? {}) as Json).map((r) => (r as Json | null)?.openssl)
    .find((v) => v);
  out.push(
    `OpenSSL: ${(counting ?? heap ?? {}).openssl ?? hsfloorOpenssl ?? "?"}; deno ${Deno.version.deno}; ${data.date}\n`,
  );
  if (counting && (counting.handshakes as Json[]).length) {
    const hs = counting.handshakes as Json[];
    const heapOf = (c: Json) =>
      ((heap?.handshakes as Json[] | undefined)?.find((h) =>
        h.side === c.side && h.version === c.version && h.cert === c.cert
      )?.heap as Json | undefined)?.bytes as number;
    out.push(table(
      "Per full handshake (measured side only; peer: Deno's TLS in another process)",
      [
        "side",
        "TLS",
        "cert",
        "FFI calls",
        "callbacks entered",
        "certs parsed / values made",
        "promises (async / new+static / then)",
        "transport r/w",
        "JS heap",
      ],
      hs.map((c) => [
        String(c.side),
        String(c.version),
        c.cert === "ec" ? "P-256" : "RSA",
        f(c.ffiTotal),
        `${f(c.callbacksTotal)} ${JSON.stringify(c.callbacks)}`,
        `${f(c.certificatesParsed)} / ${f(c.certificateValues)}`,
        `${f(c.promises)} (${f(c.asyncCalls)} / ${f(c.promiseNew)} / ${f(c.thenCalls)})`,
        `${f(c.transportReads)} / ${f(c.transportWrites)}`,
        kib(heapOf(c)),
      ]),
      [
        `Per handshake: connect (or accept) + handshake + close, averaged over ${hs[0]?.n} after 3 warm-ups.`,
        `JS heap: allocated per handshake (heapUsed between GCs), median of 7 batches of 10; ` +
        `a plain TCP connect+accept+close pair allocates ${kib((heap?.tcpPair as Json | undefined)?.bytes as number)}.`,
      ],
    ));
    out.push(table(
      "FFI calls per full handshake, by symbol",
      ["side", "TLS", "cert", "calls"],
      hs.map((c) => [
        String(c.side),
        String(c.version),
        c.cert === "ec" ? "P-256" : "RSA",
        topCalls(c.ffi as Record<string, number>),
      ]),
    ));
  }
  const records = counting?.records as Json | undefined;
  if (records && Object.keys(records).length) {
    const heapRecords = heap?.records as Json | undefined;
    out.push(table(
      "Per 16 KiB record (client side, TLS 1.3, P-256 peer: Deno's TLS in another process)",
      [
        "direction",
        "FFI calls",
        "by symbol",
        "callbacks",
        "promises (async / new+static / then)",
        "transport r/w",
        "JS heap",
      ],
      (["write", "read"] as const).filter((d) => records[d]).map((d) => {
        const r = records[d] as Json;
        return [
          d,
          f(r.ffiTotal),
          topCalls(r.ffi as Record<string, number>, 0.01),
          f(r.callbacksTotal),
          `${f(r.promises)} (${f(r.asyncCalls)} / ${f(r.promiseNew)} / ${f(r.thenCalls)})`,
          `${f(r.transportReads)} / ${f(r.transportWrites)}`,
          `${f((heapRecords?.[d] as Json | undefined)?.bytes)} B`,
        ];
      }),
      [
        `Plain TCP in one process (write + read of 16 KiB, both ends): ${
          f((heap?.tcpRecords as Json | undefined)?.bytes)
        } B of JS heap per record.`,
        "write: write(16 KiB) awaited one at a time; read: read() into a 64 KiB buffer while the peer writes 16 KiB chunks.",
        "Read-side counts depend on how the records arrive (how many per transport read), so they move a little between runs.",
      ],
    ));
  }
  const stime = data.stime as Json[] | undefined;
  const plain = data.plainTcp as Json | undefined;
  if (stime) {
    out.push(table(
      "Server CPU per s_time connection: secsock server vs `openssl s_server` (timing: noisy; CPU moves less than rate)",
      [
        "s_time",
        "secsock µs CPU (user)",
        "s_server µs CPU (user)",
        "secsock / s_server CPU",
        "user CPU",
        "rate secsock / s_server",
      ],
      stime.map((r) => [
        String(r.kind),
        `${f(Math.round(r.secsockCpuUs as number))} (${f(Math.round(r.secsockUserUs as number))})`,
        `${f(Math.round(r.opensslCpuUs as number))} (${f(Math.round(r.opensslUserUs as number))})`,
        `${f(r.cpuRatio)}×`,
        `${f(r.userRatio)}×`,
        `${f(r.rateRatio)}×`,
      ]),
      [
        "s_time -www /ok.txt; each server's CPU time (/proc) over its connections, median of the rounds.",
        "Kernel time moves most between runs (loopback lock contention on this VM hits both servers); user time is the steadier figure.",
        ...(plain
          ? [
            `Deno's own floor: a plain TCP Deno server answering the same request per connection, without TLS, costs ${
              f(Math.round(plain.cpuUs as number))
            } µs CPU (${f(Math.round(plain.userUs as number))} µs user) per connection.`,
          ]
          : []),
      ],
    ));
  }
  const idle = data.idle as Json | undefined;
  const fl = data.floor as Json | undefined;
  if (idle || fl) {
    const rows: string[][] = [];
    for (const key of ["tcp", "secsock-ec", "secsock-rsa"]) {
      const r = idle?.[key] as Json | undefined;
      if (!r) continue;
      rows.push([
        key === "tcp" ? "plain TCP (Deno)" : `secsock server, ${key.endsWith("ec") ? "P-256" : "RSA"}, TLS 1.3`,
        kib(r.nativePerConn as number),
        kib(r.heapPerConn as number),
        kib(r.externalPerConn as number),
      ]);
    }
    const tcp = idle?.tcp as Json | undefined;
    for (const cert of ["ec", "rsa"]) {
      const r = idle?.[`secsock-${cert}`] as Json | undefined;
      if (r && tcp) {
        rows.push([
          `secsock's own (${cert === "ec" ? "P-256" : "RSA"}: minus plain TCP)`,
          kib((r.nativePerConn as number) - (tcp.nativePerConn as number)),
          kib((r.heapPerConn as number) - (tcp.heapPerConn as number)),
          kib((r.externalPerConn as number) - (tcp.externalPerConn as number)),
        ]);
      }
    }
    if (fl && !("unavailable" in fl)) {
      for (const [key, v] of Object.entries(fl)) {
        const r = v as Json;
        if (r.error) {
          rows.push([`C floor ${key}`, String(r.error), "", ""]);
          continue;
        }
        rows.push([
          `C floor ${key}: server SSL (client SSL; pair)`,
          `${kib(r.serverBytes as number)} (${kib(r.clientBytes as number)}; ${kib(r.pairBytes as number)})`,
          "-",
          "-",
        ]);
      }
    } else if (fl) {
      rows.push(["C floor", `unavailable: ${fl.unavailable}`, "", ""]);
    }
    out.push(table(
      `Memory per idle established connection (${idle?.conns ?? "?"} connections)`,
      ["what", "native heap (mallinfo2)", "JS heap", "external (ArrayBuffers)"],
      rows,
      [
        "secsock rows: server side; each connection did a handshake and one request/answer, and has a read pending.",
        "C floor: idle_mem.c, N client/server SSL pairs over memory BIOs, handshake done, tickets read; " +
        "mallinfo2 in-use bytes per SSL (server: after the clients are freed). release=1: SSL_MODE_RELEASE_BUFFERS (secsock sets it).",
      ],
    ));
  }
  const hf = data.hsfloor as Json | undefined;
  if (hf) {
    const rows: string[][] = [];
    if ("unavailable" in hf) rows.push([`unavailable: ${hf.unavailable}`, "", "", "", ""]);
    else {
      for (const c of HSFLOOR_CASES) {
        const r = hf[hsfloorKey(c)] as Json | undefined;
        const what = `TLS ${c.version} ${c.cert === "ec" ? "P-256" : "RSA"}`;
        const detail = r?.group ? ` (${r.group}, ${r.cipher})` : "";
        if (!r || r.clientUs === undefined) {
          rows.push([what, `error: ${String(r?.error ?? "no run").split("\n")[0]}`, "", "", ""]);
          continue;
        }
        rows.push([
          what + detail,
          f(Math.round(r.clientUs as number)),
          f(Math.round(r.serverUs as number)),
          f(Math.round(r.totalUs as number)),
          f(r.ceilingPerSec),
        ]);
      }
    }
    out.push(table(
      "C floor per full handshake (OpenSSL alone, in-process over memory BIOs)",
      ["case", "client µs", "server µs", "total µs", "ceiling handshakes/s (2 processes, 2 cores)"],
      rows,
      [
        `handshake_floor.c on ${hsfloorOpenssl ?? "?"}: µs of thread CPU per handshake, each side timed on its own ` +
        "(its SSL calls and its memory-BIO reads and writes); SSL_new, the handshake, the client's ticket read, " +
        "one close_notify each and SSL_free; median of the rounds.",
        "Set up like secsock's benchmark peers: fixture chain + key, client verifies against ca.pem and the IP " +
        "127.0.0.1, SSL_MODE_RELEASE_BUFFERS, default groups and ciphers.",
        "Ceiling: 1e6 / max(client µs, server µs), each process on its own core with nothing else to do.",
      ],
    ));
  }
  return out.join("\n");
}

async function main(): Promise<void> {
  const { positional, options } = parseArgs(Deno.args);
  const mode = positional[0];
  if (mode === "peer-client") return await peerClient();
  if (mode === "count") {
    console.log(JSON.stringify(await countingWorker(positional[1], options)));
    Deno.exit(0);
  }
  if (mode === "heap") {
    console.log(JSON.stringify(await heapWorker(options)));
    Deno.exit(0);
  }
  if (mode === "idle") {
    console.log(JSON.stringify(await idleWorker(options)));
    Deno.exit(0);
  }
  const only = (options.only ?? "hs,records,idle,floor,hsfloor").split(",");
  const pass = ["handshakes", "records", "conns"].flatMap((k) => options[k] ? [`--${k}`, options[k]] : []);
  const workerOnly = only.filter((s) => s === "hs" || s === "records").join(",");
  const data: Json = { date: new Date().toISOString() };
  if (workerOnly) {
    const copy = await instrumentedCopy();
    try {
      console.error(`profile: counting (${copy.sites.length} async functions instrumented)…`);
      data.counting = await runWorker(["count", copy.dir, "--only", workerOnly, ...pass]);
      (data.counting as Json).asyncSites = copy.sites.length;
      if (copy.missed.length) (data.counting as Json).asyncMissed = copy.missed;
    } finally {
      await Deno.remove(copy.dir, { recursive: true });
    }
    console.error("profile: JS heap…");
    data.heap = await runWorker(["heap", "--only", workerOnly, ...pass], ["--min-semi-space-size=32"]);
  }
  if (only.includes("idle")) {
    console.error("profile: idle connections…");
    data.idle = await runWorker(["idle", ...pass]);
  }
  if (only.includes("floor")) {
    console.error("profile: C floor…");
    data.floor = await floor(num(options, "conns", 300));
  }
  if (only.includes("hsfloor")) {
    console.error("profile: C floor per handshake…");
    data.hsfloor = await hsfloor(options);
  }
  if (only.includes("stime")) {
    console.error("profile: s_time server CPU…");
    data.stime = await stimeCpu(options);
    data.plainTcp = await plainTcpCpu(options);
  }
  if (options.json) await Deno.writeTextFile(options.json, JSON.stringify(data, null, 2) + "\n");
  console.log(report(data));
  if ((data.counting as Json | undefined)?.asyncMissed) {
    console.log(`(async functions not instrumented: ${((data.counting as Json).asyncMissed as string[]).join(", ")})`);
  }
}

if (import.meta.main) await main();
