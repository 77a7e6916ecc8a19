/**
 * secsock benchmark (issue 5): `deno task bench` / `deno run -A scripts/bench/bench.ts`.
 *
 * Every contender runs as a server process and is loaded by a client process
 * of the same implementation (cross pairs where noted), over 127.0.0.1, with
 * the same certificates (tests/fixtures) and payloads:
 *
 * - secsock (scripts/bench/secsock_peer.ts), Node `tls` (node_peer.mjs),
 *   Deno `Deno.listenTls`/`Deno.connectTls` (deno_peer.ts), and
 *   `openssl s_server`/`s_time` for handshakes.
 *
 * Options:
 *   --quick            smoke test (< 60 s): fewer/shorter runs, 1,000 idle connections, no s_time/perf
 *   --json FILE        also write all results as JSON
 *   --runs N           runs per measurement (median reported; default 5, quick 3)
 *   --only a,b         sections: bulk,hs,resume,ttfb,stime,mem,ffi,perf
 *   --skip a,b         sections to leave out
 *   --conns 1000,10000 idle-connection checkpoints for the memory test
 *   --cross            bulk throughput for every client/server pair too
 *   --impls a,b        contenders to run (default secsock,node,deno)
 *   --no-perf          skip the `perf` profile of the secsock server
 *   --no-pin           bulk: do not pin the server to CPU 0 and the client to CPU 1
 *
 * @module
 */
import { CERTS, fixturePath, HOST, median, num, parseArgs, sleep } from "./common.ts";

type ImplName = "secsock" | "node" | "deno";
const ALL_IMPLS: ImplName[] = ["secsock", "node", "deno"];
const here = (file: string) => new URL(file, import.meta.url).pathname;
const DENO = Deno.execPath();
const PEER_COMMANDS: Record<ImplName, string[]> = {
  secsock: [DENO, "run", "-A", "--v8-flags=--expose-gc", here("secsock_peer.ts")],
  node: ["node", "--expose-gc", here("node_peer.mjs")],
  deno: [DENO, "run", "-A", "--v8-flags=--expose-gc", here("deno_peer.ts")],
};
const SECTIONS = ["bulk", "hs", "resume", "ttfb", "stime", "mem", "ffi", "perf"] as const;
type Section = typeof SECTIONS[number];

// ------------------------------------------------------------------ config

const { options } = parseArgs(Deno.args);
const quick = options.quick === "true";
const config = {
  quick,
  runs: num(options, "runs", quick ? 3 : 5),
  bulkTotal: num(options, "bulk-total", quick ? 16 << 20 : 128 << 20),
  hsDuration: num(options, "hs-duration", quick ? 0.3 : 1),
  hsConcurrency: num(options, "concurrency", 16),
  ttfbCount: quick ? 15 : 50,
  rtts: quick ? 200 : 1000,
  conns: (options.conns ?? (quick ? "1000" : "1000,10000")).split(",").map(Number).filter((n) => n > 0),
  stimeSeconds: 1,
  ffiMs: quick ? 200 : 700,
  speedSeconds: quick ? 1 : 2,
  cross: options.cross === "true",
  perf: options["no-perf"] !== "true" && !quick,
  // One core each for the bulk server and client: without it the scheduler
  // moves them (and the loopback's softirq work) between the two cores, and
  // single-connection MB/s moves by a third between identical runs.
  pin: options["no-pin"] !== "true" && navigator.hardwareConcurrency >= 2 && hasTaskset(),
};
const IMPLS: ImplName[] = options.impls ? ALL_IMPLS.filter((i) => options.impls.split(",").includes(i)) : ALL_IMPLS;
const only = options.only ? new Set(options.only.split(",")) : null;
const skip = new Set((options.skip ?? "").split(",").filter(Boolean));
if (quick) skip.add("stime");
if (!config.perf) skip.add("perf");
const enabled = (s: Section) => (only ? only.has(s) : true) && !skip.has(s);
for (const s of [...(only ?? []), ...skip]) {
  if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section ${s}; known: ${SECTIONS}`);
}

const progress = (text: string) => console.error(`[bench ${((performance.now()) / 1000).toFixed(0)}s] ${text}`);

// ------------------------------------------------------------------ processes

/** Raises the soft fd limit to the hard one, then runs the command (on one CPU when `cpu` is given). */
function wrap(cmd: string[], cpu?: number): string[] {
  const pinned = cpu === undefined ? cmd : ["taskset", "-c", String(cpu), ...cmd];
  return ["sh", "-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...pinned];
}

function hasTaskset(): boolean {
  try {
    return new Deno.Command("taskset", { args: ["-c", "0", "true"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/**
 * Bulk runs on one connection: the first ones warm up (JIT, TCP window), so
 * the measured ones see the code as a long transfer would.
 */
const BULK_WARMUP_RUNS = 2;
const BULK_RUNS_PER_ROUND = 2;
/** CPUs for the bulk section's server and client, when pinning. */
const BULK_SERVER_CPU = 0;
const BULK_CLIENT_CPU = 1;

function shell(command: string): string {
  try {
    const out = new Deno.Command("sh", { args: ["-c", command], stdout: "piped", stderr: "null" }).outputSync();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "";
  }
}

const CLK_TCK = Number(shell("getconf CLK_TCK")) || 100;

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Collects a stream as text in the background (bounded). */
function collect(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void) {
  let text = "";
  let pendingLine = "";
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      const s = decoder.decode(chunk, { stream: true });
      if (text.length < 1 << 20) text += s;
      if (onLine) {
        pendingLine += s;
        let i;
        while ((i = pendingLine.indexOf("\n")) >= 0) {
          onLine(pendingLine.slice(0, i));
          pendingLine = pendingLine.slice(i + 1);
        }
      }
    }
  })().catch(() => {});
  return { text: () => text, done };
}

/** A running server process. */
class Server {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  readonly #child: Deno.ChildProcess;
  readonly #stderr: { text(): string; done: Promise<void> };
  readonly #cleanup: () => void;

  private constructor(
    name: string,
    child: Deno.ChildProcess,
    port: number,
    pid: number,
    stderr: { text(): string; done: Promise<void> },
    cleanup: () => void,
  ) {
    this.name = name;
    this.#child = child;
    this.port = port;
    this.pid = pid;
    this.#stderr = stderr;
    this.#cleanup = cleanup;
  }

  /** Starts a peer server (`{"port":…,"pid":…}` on stdout) or, for "openssl", s_server. */
  static async start(
    name: ImplName | "openssl",
    cert: "rsa" | "ec",
    extra: string[] = [],
    cpu?: number,
  ): Promise<Server> {
    let cmd: string[];
    let cwd: string | undefined;
    let cleanup = () => {};
    const stdin = name === "openssl" ? "piped" : "null";
    if (name === "openssl") {
      // -WWW serves files from cwd: a 3-byte ok.txt, like the peers' GET answer.
      cwd = await Deno.makeTempDir({ prefix: "secsock-bench-www-" });
      await Deno.writeTextFile(`${cwd}/ok.txt`, "ok\n");
      const dir = cwd;
      cleanup = () => Deno.removeSync(dir, { recursive: true });
      cmd = [
        "openssl",
        "s_server",
        "-accept",
        `${HOST}:0`,
        "-cert",
        fixturePath(CERTS[cert].leaf),
        "-cert_chain",
        fixturePath("intermediate.pem"),
        "-key",
        fixturePath(CERTS[cert].key),
        "-WWW",
      ];
    } else {
      cmd = [...PEER_COMMANDS[name], "server", "--cert", cert, ...extra];
    }
    const wrapped = wrap(cmd, cpu);
    const child = new Deno.Command(wrapped[0], {
      args: wrapped.slice(1),
      cwd,
      stdin,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = collect(child.stderr);
    const ready = Promise.withResolvers<{ port: number; pid: number }>();
    collect(child.stdout, (line) => {
      const m = line.match(/^ACCEPT .*:(\d+)/);
      if (m) ready.resolve({ port: Number(m[1]), pid: child.pid });
      else if (line.startsWith("{")) {
        try {
          const j = JSON.parse(line);
          ready.resolve({ port: j.port, pid: j.pid });
        } catch { /* not the ready line */ }
      }
    });
    const timer = setTimeout(() => ready.reject(new Error(`${name} server did not start: ${stderr.text()}`)), 20_000);
    child.status.then(() => ready.reject(new Error(`${name} server exited: ${stderr.text()}`)));
    try {
      const { port, pid } = await ready.promise;
      return new Server(name, child, port, pid, stderr, cleanup);
    } catch (error) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      cleanup();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  cpu(): number {
    return cpuSeconds(this.pid);
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 3000);
    await this.#child.status;
    clearTimeout(timer);
    await this.#stderr.done;
    this.#cleanup();
  }
}

type Json = Record<string, unknown>;

/**
 * Watches how much CPU processes that are not ours (not this process or its
 * descendants) use while a section runs: on a 2-core machine, other work skews
 * every figure. Approximate: processes that exit between samples are missed.
 */
class ContentionMonitor {
  #last = new Map<number, number>();
  #other = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #since = 0;

  #sample(): void {
    const procs = new Map<number, { ppid: number; ticks: number }>();
    try {
      for (const entry of Deno.readDirSync("/proc")) {
        if (!/^\d+$/.test(entry.name)) continue;
        try {
          const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
          const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          procs.set(Number(entry.name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
        } catch { /* exited */ }
      }
    } catch {
      return; // no /proc
    }
    const ours = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        if (p === Deno.pid) return true;
        p = procs.get(p)?.ppid ?? 0;
      }
      return false;
    };
    const next = new Map<number, number>();
    for (const [pid, { ticks }] of procs) {
      if (ours(pid)) continue;
      const before = this.#last.get(pid);
      if (before !== undefined) this.#other += Math.max(0, ticks - before);
      next.set(pid, ticks);
    }
    this.#last = next;
  }

  start(): void {
    this.#sample();
    this.#other = 0;
    this.#since = performance.now();
    this.#timer = setInterval(() => this.#sample(), 500);
  }

  /** Stops; returns the other processes' CPU use as a share of one core. */
  stop(): number {
    clearInterval(this.#timer);
    this.#sample();
    const seconds = (performance.now() - this.#since) / 1000;
    return seconds > 0 ? this.#other / CLK_TCK / seconds : 0;
  }
}

/** Runs one client process and returns its JSON result (or `{error}`). */
async function runClient(
  impl: ImplName,
  mode: string,
  port: number,
  args: Record<string, string | number>,
  cpu?: number,
) {
  const limit = Number(args["hard-limit"] ?? 120);
  const argv = [...PEER_COMMANDS[impl], "client", mode, "--port", String(port)];
  for (const [k, v] of Object.entries(args)) argv.push(`--${k}`, String(v));
  if (!("hard-limit" in args)) argv.push("--hard-limit", String(limit));
  const cmd = wrap(argv, cpu);
  const child = new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, (limit + 15) * 1000);
  const out = await child.output();
  clearTimeout(timer);
  const stdout = new TextDecoder().decode(out.stdout).trim().split("\n");
  const last = stdout[stdout.length - 1];
  try {
    return JSON.parse(last) as Json;
  } catch {
    const stderr = new TextDecoder().decode(out.stderr).trim();
    return { error: `${impl} client ${mode} failed (exit ${out.code}): ${stderr.split("\n").slice(-3).join(" | ")}` };
  }
}

// ------------------------------------------------------------------ formatting

const fmt = (v: unknown, digits = 0): string => {
  if (typeof v !== "number" || !Number.isFinite(v)) return "n/a";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
};
const ratio = (a: number, b: number): number => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
const fmtRatio = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : "n/a");
const kib = (bytes: number) => `${fmt(bytes / 1024, 1)} KiB`;

function table(title: string, headers: string[], rows: string[][], notes: string[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd();
  const out = [`\n## ${title}\n`, line(headers), widths.map((w) => "-".repeat(w)).join("  ")];
  for (const r of rows) out.push(line(r));
  for (const n of notes) out.push(`  ${n}`);
  return out.join("\n");
}

const results: Json = {};
const tables: string[] = [];
const targets: { name: string; value: number; target: string; pass: boolean | null }[] = [];
function target(name: string, value: number, op: ">=" | "<=", threshold: number) {
  const pass = Number.isFinite(value) ? (op === ">=" ? value >= threshold : value <= threshold) : null;
  targets.push({ name, value, target: `${op} ${threshold}`, pass });
}

// ------------------------------------------------------------------ sections

const servers = new Map<string, Server>();
async function server(name: ImplName | "openssl", cert: "rsa" | "ec", cpu?: number): Promise<Server> {
  const key = `${name}/${cert}/${cpu ?? "any"}`;
  let s = servers.get(key);
  if (!s) {
    s = await Server.start(name, cert, [], cpu);
    servers.set(key, s);
  }
  return s;
}

async function bulkSection() {
  const rows: Json[] = [];
  const pairs: [ImplName, ImplName][] = IMPLS.map((i) => [i, i]);
  if (config.cross) {
    for (const c of IMPLS) for (const s of IMPLS) if (c !== s) pairs.push([c, s]);
  }
  const serverCpu = config.pin ? BULK_SERVER_CPU : undefined;
  const clientCpu = config.pin ? BULK_CLIENT_CPU : undefined;
  for (const dir of ["up", "down"]) {
    for (const size of [16384, 65536]) {
      const cell = pairs.filter(([client, srv]) => client === srv || size === 16384);
      const acc = cell.map(() => ({ runs: [] as number[], serverCpu: 0, clientCpu: 0, bytes: 0, r: {} as Json }));
      // Rounds: each contender runs once per round (a fresh client process and
      // connection, warm-up runs, then measured ones), in a rotating order, so
      // that drift in the machine's speed reaches every contender alike.
      for (let round = 0; round < config.runs; round++) {
        for (let k = 0; k < cell.length; k++) {
          const i = (k + round) % cell.length;
          const [client, srv] = cell[i];
          const s = await server(srv, "rsa", serverCpu);
          const cpu0 = s.cpu();
          const r = await runClient(client, "bulk", s.port, {
            dir,
            size,
            total: config.bulkTotal,
            runs: BULK_RUNS_PER_ROUND,
            warmup: BULK_WARMUP_RUNS,
            "hard-limit": 120,
          }, clientCpu);
          const a = acc[i];
          a.serverCpu += s.cpu() - cpu0;
          a.runs.push(...((r.runs as number[] | undefined) ?? []));
          a.bytes += Number(r.bytes ?? NaN);
          a.clientCpu += Number(r.clientCpuUsPerRecord ?? NaN);
          if (r.error || !a.r.cipher) a.r = r;
        }
      }
      cell.forEach(([client, srv], i) => {
        const a = acc[i];
        const row = {
          client,
          server: srv,
          dir,
          size,
          mbps: median(a.runs),
          runs: a.runs,
          cipher: a.r.cipher ?? null,
          serverCpuUsPerRecord: (a.serverCpu * 1e6) / (a.bytes / 16384),
          clientCpuUsPerRecord: a.clientCpu / config.runs,
          error: a.r.error ?? null,
        };
        rows.push(row);
        progress(`bulk ${dir} ${size / 1024} KiB ${client}→${srv}: ${fmt(row.mbps)} MB/s`);
      });
    }
  }
  results.bulk = rows;
  const find = (c: string, s: string, dir: string, size: number) =>
    rows.find((r) => r.client === c && r.server === s && r.dir === dir && r.size === size);
  const out: string[][] = [];
  for (const r of rows) {
    const base = find("secsock", "secsock", r.dir as string, r.size as number);
    out.push([
      r.client === r.server ? String(r.client) : `${r.client} client → ${r.server} server`,
      r.dir === "up" ? "client→server" : "server→client",
      `${(r.size as number) / 1024} KiB`,
      fmt(r.mbps),
      fmtRatio(ratio(base?.mbps as number, r.mbps as number)),
      fmt(r.serverCpuUsPerRecord, 1),
      fmt(r.clientCpuUsPerRecord, 1),
      String(r.error ?? r.cipher ?? ""),
    ]);
  }
  tables.push(table(
    "Bulk throughput, one connection (MB/s = 10^6 B/s, median)",
    ["contender", "direction", "write", "MB/s", "secsock/x", "server CPU µs/16KiB", "client CPU µs/16KiB", "cipher"],
    out,
    [
      `${fmt(config.bulkTotal / 2 ** 20)} MiB per run; ${config.runs} rounds, each a new connection with ` +
      `${BULK_WARMUP_RUNS} warm-up and ${BULK_RUNS_PER_ROUND} measured runs, contenders in rotating order; ` +
      "the median of all measured runs; reads into 64 KiB buffers.",
      config.pin
        ? `Server pinned to CPU ${BULK_SERVER_CPU}, client to CPU ${BULK_CLIENT_CPU} (taskset); --no-pin to let them float.`
        : "Processes not pinned to CPUs.",
      "CPU µs/16KiB: user+system CPU time per 16 KiB of payload, server (from /proc, warm-up included) and client",
      "(measured runs only): less sensitive than MB/s to other load on the machine.",
    ],
  ));
  for (const dir of ["up", "down"]) {
    for (const size of [16384, 65536]) {
      const s = find("secsock", "secsock", dir, size)?.mbps as number;
      const label = `bulk ${dir === "up" ? "client→server" : "server→client"} ${size / 1024} KiB`;
      target(`${label}: secsock / node`, ratio(s, find("node", "node", dir, size)?.mbps as number), ">=", 1.5);
      target(`${label}: secsock / deno`, ratio(s, find("deno", "deno", dir, size)?.mbps as number), ">=", 1.0);
    }
  }
}

async function handshakeSection() {
  const rows: Json[] = [];
  for (const cert of ["rsa", "ec"] as const) {
    for (const impl of IMPLS) {
      const s = await server(impl, cert);
      const r = await runClient(impl, "hs", s.port, {
        duration: config.hsDuration,
        concurrency: config.hsConcurrency,
        runs: config.runs,
        min: "1.3",
        "hard-limit": Math.ceil(config.runs * config.hsDuration + 60),
      });
      const row = {
        impl,
        cert,
        rate: median((r.runs as number[] | undefined) ?? []),
        runs: r.runs ?? [],
        protocol: r.protocol ?? null,
        errors: r.errors ?? null,
        error: r.error ?? r.lastError ?? null,
      };
      rows.push(row);
      progress(`full handshakes ${cert} ${impl}: ${fmt(row.rate)}/s`);
    }
  }
  results.handshakes = rows;
  const base = (cert: string) => rows.find((r) => r.impl === "secsock" && r.cert === cert)?.rate as number;
  tables.push(table(
    "Full handshakes per second, TLS 1.3 (client and server of the same kind, median)",
    ["contender", "server key", "handshakes/s", "secsock/x", "notes"],
    rows.map((r) => [
      String(r.impl),
      r.cert === "rsa" ? "RSA-2048" : "ECDSA P-256",
      fmt(r.rate),
      fmtRatio(ratio(base(r.cert as string), r.rate as number)),
      r.error ? `${r.errors} errors, last: ${r.error}` : "",
    ]),
    [
      `${config.hsConcurrency} concurrent connections, ${config.runs} runs of ${config.hsDuration} s; each connection:`,
      "TCP connect + full handshake (client verifies the chain and 127.0.0.1) + close_notify; no application data.",
    ],
  ));
  for (const cert of ["rsa", "ec"]) {
    const node = rows.find((r) => r.impl === "node" && r.cert === cert)?.rate as number;
    target(
      `full handshakes ${cert === "rsa" ? "RSA-2048" : "P-256"}: secsock / node`,
      ratio(base(cert), node),
      ">=",
      1.2,
    );
  }
}

async function resumeSection() {
  const rows: Json[] = [];
  const pairs: [ImplName, ImplName][] = [
    ["secsock", "secsock"],
    ["node", "node"],
    ["deno", "deno"],
    ["node", "secsock"],
    ["secsock", "node"],
    ["node", "deno"],
  ];
  for (const version of ["1.2", "1.3"]) {
    for (const [client, srv] of pairs) {
      if (!IMPLS.includes(client) || !IMPLS.includes(srv)) continue;
      const s = await server(srv, "rsa");
      const r = await runClient(client, "resume", s.port, {
        duration: config.hsDuration,
        concurrency: config.hsConcurrency,
        runs: client === srv ? config.runs : Math.min(3, config.runs),
        min: version,
        max: version,
        "hard-limit": Math.ceil(config.runs * config.hsDuration + 60),
      });
      const row = {
        client,
        server: srv,
        version,
        rate: r.unsupported ? NaN : median((r.runs as number[] | undefined) ?? []),
        runs: r.runs ?? [],
        reusedFraction: r.reusedFraction ?? null,
        unsupported: r.unsupported ?? null,
        error: r.error ?? r.lastError ?? null,
      };
      rows.push(row);
      progress(
        `resumed TLS ${version} ${client}→${srv}: ${row.unsupported ? `n/a (${row.unsupported})` : fmt(row.rate)}`,
      );
    }
  }
  results.resumed = rows;
  const base = (v: string) =>
    rows.find((r) => r.client === "secsock" && r.server === "secsock" && r.version === v)?.rate as number;
  tables.push(table(
    "Resumed handshakes per second (session tickets, median)",
    ["contender", "TLS", "resumed/s", "secsock/x", "reused", "notes"],
    rows.map((r) => [
      r.client === r.server ? String(r.client) : `${r.client} client → ${r.server} server`,
      String(r.version),
      r.unsupported ? `n/a (${r.unsupported})` : fmt(r.rate),
      r.client === r.server ? fmtRatio(ratio(base(r.version as string), r.rate as number)) : "",
      typeof r.reusedFraction === "number" ? `${fmt(r.reusedFraction * 100)}%` : "",
      String(r.error ?? ""),
    ]),
    [
      `${config.hsConcurrency} concurrent workers, each reusing its newest session; every connection sends one`,
      "request and reads the answer (TLS 1.3 tickets arrive with the first data). 'reused' = share of handshakes",
      "that really resumed, as the client reports it (rates only count when it is ~100%).",
    ],
  ));
  for (const v of ["1.2", "1.3"]) {
    const node = rows.find((r) => r.client === "node" && r.server === "node" && r.version === v)?.rate as number;
    target(`resumed handshakes TLS ${v}: secsock / node`, ratio(base(v), node), ">=", 1.0);
  }
}

async function ttfbSection() {
  const rows: Json[] = [];
  for (const impl of IMPLS) {
    const s = await server(impl, "rsa");
    const r = await runClient(impl, "ttfb", s.port, { count: config.ttfbCount, rtts: config.rtts, timeout: 30 });
    rows.push({ impl, ...r });
    progress(`ttfb ${impl}: ${fmt(r.ttfbMs, 2)} ms, rtt ${fmt(r.rttUs)} µs`);
  }
  results.ttfb = rows;
  const base = rows.find((r) => r.impl === "secsock") ?? {};
  tables.push(table(
    "Time to first byte, small request/response (median; lower is better)",
    ["contender", "TTFB ms (new conn)", "p90 ms", "secsock/x", "RTT µs (open conn)", "p90 µs", "secsock/x"],
    rows.map((r) => [
      String(r.impl),
      fmt(r.ttfbMs, 2),
      fmt(r.ttfbP90Ms, 2),
      fmtRatio(ratio(base.ttfbMs as number, r.ttfbMs as number)),
      fmt(r.rttUs),
      fmt(r.rttP90Us),
      fmtRatio(ratio(base.rttUs as number, r.rttUs as number)),
    ]),
    [
      `TTFB: ${config.ttfbCount} sequential new connections, TCP connect + handshake (RSA) + 2-byte request until the`,
      `first byte of the 2-byte answer. RTT: ${config.rtts} request/answer round trips on one open connection.`,
    ],
  ));
}

async function stimeSection() {
  const rows: Json[] = [];
  const kinds = [
    { label: "new, TLS 1.3, RSA", mode: "-new", version: "-tls1_3", cert: "rsa" as const },
    { label: "new, TLS 1.3, P-256", mode: "-new", version: "-tls1_3", cert: "ec" as const },
    { label: "reuse, TLS 1.2", mode: "-reuse", version: "-tls1_2", cert: "rsa" as const },
    { label: "reuse, TLS 1.3", mode: "-reuse", version: "-tls1_3", cert: "rsa" as const },
  ];
  for (const kind of kinds) {
    for (const name of ["openssl", ...IMPLS] as const) {
      const s = await server(name, kind.cert);
      const t0 = performance.now();
      const out = await new Deno.Command("openssl", {
        args: [
          "s_time",
          "-connect",
          `${HOST}:${s.port}`,
          kind.mode,
          kind.version,
          "-time",
          String(config.stimeSeconds),
          "-www",
          "/ok.txt",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const seconds = (performance.now() - t0) / 1000;
      const text = new TextDecoder().decode(out.stdout);
      const counts = [...text.matchAll(/(\d+) connections in [\d.]+s;/g)].map((m) => Number(m[1]));
      const connections = counts.length ? counts[counts.length - 1] : NaN;
      const row = { server: name, kind: kind.label, connections, seconds, rate: connections / seconds };
      rows.push(row);
      progress(`s_time ${kind.label} → ${name}: ${fmt(row.rate)}/s`);
    }
  }
  results.stime = rows;
  const out = rows.map((r) => {
    const base = rows.find((b) => b.server === "secsock" && b.kind === r.kind)?.rate as number;
    return [String(r.server), String(r.kind), fmt(r.connections), fmt(r.rate), fmtRatio(ratio(base, r.rate as number))];
  });
  tables.push(table(
    "openssl s_time against every server (one connection at a time; a common client)",
    ["server", "handshake", "connections", "per second", "secsock/x"],
    out,
    ["s_time -www /ok.txt: each connection sends GET and reads a 3-byte body; openssl = s_server -WWW."],
  ));
}

async function memorySection() {
  const hard = Number(shell("ulimit -Hn")) || 1024;
  const wanted = Math.max(...config.conns);
  const usable = Math.max(100, hard - 200);
  const conns = config.conns.map((n) => Math.min(n, usable));
  const limitNote = wanted > usable
    ? `fd limit: RLIMIT_NOFILE hard limit ${hard} allows ${usable} connections per process (wanted ${wanted}).`
    : `fd limit: RLIMIT_NOFILE hard limit ${hard} (soft raised to it in every peer).`;
  const rows: Json[] = [];
  for (const impl of IMPLS) {
    const s = await Server.start(impl, "ec");
    try {
      const r = await runClient(impl, "idle", s.port, {
        conns: conns.join(","),
        warmup: 200,
        batch: 64,
        timeout: quick ? 40 : 90,
        "hard-limit": quick ? 60 : 150,
      });
      for (const p of (r.points as Json[] | undefined) ?? []) {
        rows.push({ impl, ...p, error: r.error ?? null });
        progress(`memory ${impl} ${p.established} conns: ${kib(p.bytesPerConn as number)}/conn`);
      }
      if (!r.points) rows.push({ impl, target: wanted, error: r.error ?? "no result" });
    } finally {
      await s.stop();
    }
  }
  results.memory = { rows, note: limitNote };
  tables.push(table(
    "Memory per idle established connection (server RSS delta / connections; lower is better)",
    ["contender", "connections", "established", "per connection", "secsock/x", "JS heap", "external", "notes"],
    rows.map((r) => {
      const base = rows.find((b) => b.impl === "secsock" && b.target === r.target)?.bytesPerConn as number;
      return [
        String(r.impl),
        fmt(r.target),
        fmt(r.established),
        kib(r.bytesPerConn as number),
        fmtRatio(ratio(base, r.bytesPerConn as number)),
        kib(r.heapPerConn as number),
        kib(r.externalPerConn as number),
        String(r.error ?? ""),
      ];
    }),
    [
      "Fresh server (ECDSA P-256) per contender; 200 warm-up connections, then the RSS baseline (after GC);",
      "each connection: handshake + one request/answer, then idle. RSS read after GC at each checkpoint.",
      "JS heap / external: V8 heapUsed and external (ArrayBuffer) memory per connection, part of the RSS figure.",
      limitNote,
    ],
  ));
  for (const n of conns) {
    const get = (impl: string) => rows.find((r) => r.impl === impl && r.target === n)?.bytesPerConn as number;
    target(`memory per idle connection @${n}: secsock / node`, ratio(get("secsock"), get("node")), "<=", 1.0);
  }
}

async function ffiSection() {
  const cmd = [
    DENO,
    "run",
    "-A",
    here("ffi_probe.ts"),
    "--ms",
    String(config.ffiMs),
    "--runs",
    String(quick ? 2 : 3),
    "--speed-seconds",
    String(config.speedSeconds),
    "--loopback-total",
    String(quick ? 16 << 20 : 64 << 20),
  ];
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "piped", stderr: "piped" }).output();
  let r: Json;
  try {
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    r = JSON.parse(lines[lines.length - 1]);
  } catch {
    results.ffi = { error: new TextDecoder().decode(out.stderr).slice(-500) };
    tables.push(`\n## FFI cost per record\n\n  failed: ${String((results.ffi as Json).error)}`);
    return;
  }
  results.ffi = r;
  const speed = r.opensslSpeed as Record<string, number | null>;
  const membio = r.membio as Json[];
  const native = r.native as Json[];
  const loopback = r.loopback as Json[];
  const counts = r.counts as Json[];
  const aesFor = (suite: string) => suite.includes("128") ? speed["aes-128-gcm"] : speed["aes-256-gcm"];
  const rows: string[][] = [];
  for (let i = 0; i < membio.length; i++) {
    const m = membio[i];
    const n = native[i];
    const aes = aesFor(m.suite as string) ?? NaN;
    const cryptoNs = 2 * 16384 * 1e3 / aes; // encrypt + decrypt of one record at openssl-speed rate
    rows.push([
      `Deno FFI memory-BIO round trip, ${m.suite}${m.releaseBuffers ? ", RELEASE_BUFFERS" : ""}`,
      fmt(m.mbps),
      fmt(m.nsPerRecord as number / 1000, 2),
      fmt((m.nsPerRecord as number - cryptoNs) / 1000, 2),
      `${fmt(100 * (m.mbps as number) / aes, 1)}%`,
    ]);
    if ("mbps" in n) {
      rows.push([
        `  same loop in C (no FFI)`,
        fmt(n.mbps),
        fmt(n.nsPerRecord as number / 1000, 2),
        fmt((n.nsPerRecord as number - cryptoNs) / 1000, 2),
        `${fmt(100 * (n.mbps as number) / aes, 1)}%`,
      ]);
    }
  }
  const LOOPBACK_LABELS: Record<string, string> = {
    secsock: "secsock ↔ secsock",
    "deno-tls": "Deno TLS ↔ Deno TLS",
    tcp: "plain TCP (no TLS)",
  };
  for (const l of loopback) {
    const kind = String(l.kind ?? "secsock");
    const ns = 16384 * 1e3 / (l.mbps as number);
    // Crypto only where a known OpenSSL suite ran; rustls's suite is not reported.
    const aes = kind === "secsock" ? aesFor(String(l.cipher)) ?? NaN : NaN;
    rows.push([
      `${LOOPBACK_LABELS[kind] ?? kind} in one process, loopback TCP, ${(l.write as number) / 1024} KiB writes${
        kind === "secsock" ? `, ${l.cipher}` : ""
      } (CPU ${fmt(l.cpuUsPerRecord, 1)} µs/record)`,
      fmt(l.mbps),
      fmt(ns / 1000, 2),
      kind === "secsock" ? fmt((ns - 2 * 16384 * 1e3 / aes) / 1000, 2) : "",
      kind === "secsock" ? `${fmt(100 * (l.mbps as number) / aes, 1)}%` : "",
    ]);
  }
  const at = (kind: string, write: number) => loopback.find((l) => l.kind === kind && l.write === write);
  const perRecord = (l: Json | undefined) => (l ? 16384 * 1e3 / (l.mbps as number) : NaN);
  const notes = [
    `openssl speed -evp -bytes 16384: aes-128-gcm ${fmt(speed["aes-128-gcm"])} MB/s, aes-256-gcm ${
      fmt(speed["aes-256-gcm"])
    } MB/s.`,
    "'outside crypto' = time per record minus encrypt+decrypt at the openssl-speed rate (record layer, BIO copies,",
    "FFI, JS, and for secsock also the TCP syscalls and Deno's async ops).",
    ...[16384, 65536].map((write) => {
      const tcp = perRecord(at("tcp", write));
      // The AES-256 memory-BIO loop: the suite the loopback pairs negotiate.
      const memNs = Number(membio.find((m) => m.suite === "TLS_AES_256_GCM_SHA384")?.nsPerRecord ?? NaN);
      const secsock = perRecord(at("secsock", write));
      const deno = perRecord(at("deno-tls", write));
      return `${write / 1024} KiB writes, µs per record over plain TCP's ${fmt(tcp / 1000, 2)}: secsock +${
        fmt((secsock - tcp) / 1000, 2)
      } (of which the OpenSSL memory-BIO round trip ${fmt(memNs / 1000, 2)}, so socket.ts/JS ${
        fmt((secsock - tcp - memNs) / 1000, 2)
      }), Deno TLS +${fmt((deno - tcp) / 1000, 2)}.`;
    }),
    `Trivial FFI call cost (ns): ${
      Object.entries(r.callCostNs as Record<string, number>).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")
    }.`,
  ];
  for (const c of counts) {
    const per = c.perRecord as Record<string, { total: number; calls: Record<string, number> }>;
    const t = c.transportPerRecord as Record<string, { reads: number; writes: number }>;
    for (const side of ["writer", "reader"]) {
      if (!per[side]) continue;
      notes.push(
        `secsock ${(c.write as number) / 1024} KiB writes, ${side}: ${per[side].total} FFI calls per 16 KiB record (${
          Object.entries(per[side].calls).map(([k, v]) => `${k} ${v}`).join(", ")
        }); transport ${side === "writer" ? `writes ${fmt(t.writer.writes, 2)}` : `reads ${fmt(t.reader.reads, 2)}`}.`,
      );
    }
  }
  tables.push(table(
    "FFI cost per record (in-process, 16 KiB records; encrypt + decrypt on one core)",
    ["measurement", "MB/s", "µs/record", "outside crypto µs", "% of openssl speed"],
    rows,
    notes,
  ));
  const target128 = membio.find((m) => String(m.suite).includes("128") && m.releaseBuffers);
  target(
    "memory-BIO round trip (AES-128-GCM) / openssl speed aes-128-gcm",
    ratio(target128?.mbps as number, speed["aes-128-gcm"] ?? NaN),
    ">=",
    0.25,
  );
}

async function perfSection() {
  try {
    new Deno.Command("perf", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync();
  } catch {
    results.perf = { unavailable: "perf is not installed" };
    tables.push("\n## Profile of the secsock server\n\n  perf is not installed: skipped.");
    return;
  }
  const rows: Json[] = [];
  const s = await server("secsock", "rsa");
  for (const dir of ["up", "down"]) {
    const dir_ = await Deno.makeTempDir({ prefix: "secsock-bench-perf-" });
    const data = `${dir_}/perf.data`;
    const perf = new Deno.Command("perf", {
      args: ["record", "-F", "1999", "-p", String(s.pid), "-o", data],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const perfErr = collect(perf.stderr);
    await sleep(300);
    const cpu0 = s.cpu();
    const r = await runClient("secsock", "bulk", s.port, {
      dir,
      size: 16384,
      total: config.bulkTotal,
      runs: 2,
      warmup: 0,
    });
    const cpu = s.cpu() - cpu0;
    perf.kill("SIGINT");
    const status = await perf.status;
    await perfErr.done;
    const report = await new Deno.Command("perf", {
      args: ["report", "-i", data, "--sort", "dso", "--stdio", "--no-children", "-q"],
      stdout: "piped",
      stderr: "null",
    }).output();
    await Deno.remove(dir_, { recursive: true }).catch(() => {});
    const shares: Record<string, number> = {};
    for (const m of new TextDecoder().decode(report.stdout).matchAll(/^\s*([\d.]+)%\s+(\S.*?)\s*$/gm)) {
      const dso = m[2].startsWith("[JIT]") ? "V8 JIT code" : m[2];
      shares[dso] = (shares[dso] ?? 0) + Number(m[1]);
    }
    const records = Number(r.bytes) / 16384;
    const cpuUs = (cpu * 1e6) / records;
    const crypto = (shares["libcrypto.so.3"] ?? 0) / 100;
    const row = {
      dir,
      serverRole: dir === "up" ? "reader (decrypts)" : "writer (encrypts)",
      mbps: median((r.runs as number[] | undefined) ?? []),
      cpuUsPerRecord: cpuUs,
      libcryptoUsPerRecord: cpuUs * crypto,
      outsideLibcryptoUsPerRecord: cpuUs * (1 - crypto),
      shares,
      perfOk: status.success || Object.keys(shares).length > 0,
      perfError: Object.keys(shares).length ? null : perfErr.text().slice(0, 300),
    };
    rows.push(row);
    progress(`perf ${dir}: ${fmt(cpuUs, 1)} µs CPU/record, libcrypto ${fmt(crypto * 100, 1)}%`);
  }
  results.perf = rows;
  const dsos = ["libcrypto.so.3", "libssl.so.3", "deno", "V8 JIT code", "libc.so.6", "[kernel.kallsyms]"];
  tables.push(table(
    "Where the secsock server's CPU time goes (perf, 16 KiB writes; % of samples)",
    [
      "server role",
      "MB/s",
      "CPU µs/record",
      "in libcrypto µs",
      "outside µs",
      ...dsos.map((d) => d.replace(".so.3", "")),
    ],
    rows.map((r) => [
      String(r.serverRole),
      fmt(r.mbps),
      fmt(r.cpuUsPerRecord, 1),
      fmt(r.libcryptoUsPerRecord, 1),
      fmt(r.outsideLibcryptoUsPerRecord, 1),
      ...dsos.map((d) => `${fmt((r.shares as Record<string, number>)[d] ?? 0, 1)}%`),
    ]),
    [
      "deno = Deno runtime + V8 builtins + tokio (the FFI trampolines, promises, async ops); V8 JIT code = secsock's",
      "optimised JS; kernel = TCP send/receive. perf record -F 1999 -p <server pid> during a 16 KiB bulk run.",
    ],
  ));
}

// ------------------------------------------------------------------ main

const started = performance.now();
const meta: Json = {
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  node: shell("node --version"),
  openssl: shell("openssl version"),
  os: `${Deno.build.os} ${Deno.build.arch}${
    shell("cat /etc/debian_version") ? `, Debian ${shell("cat /etc/debian_version")}` : ""
  }`,
  cpus: navigator.hardwareConcurrency,
  loadavgBefore: Deno.loadavg(),
  commit: shell(`git -C ${here("../..")} rev-parse --short HEAD`),
  config,
};
progress(`secsock benchmark${quick ? " (quick)" : ""}: ${meta.openssl}, node ${meta.node}, deno ${meta.deno}`);
if ((meta.loadavgBefore as number[])[0] > 0.5) {
  progress(
    `warning: load average ${(meta.loadavgBefore as number[])[0]} before start: other work may skew the numbers`,
  );
}

const sections: [Section, () => Promise<void>][] = [
  ["bulk", bulkSection],
  ["hs", handshakeSection],
  ["resume", resumeSection],
  ["ttfb", ttfbSection],
  ["stime", stimeSection],
  ["perf", perfSection],
  ["ffi", ffiSection],
  ["mem", memorySection],
];
const failures: string[] = [];
const contention: Record<string, number> = {};
try {
  for (const [name, fn] of sections) {
    if (!enabled(name)) continue;
    const monitor = new ContentionMonitor();
    monitor.start();
    try {
      await fn();
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : error}`);
      progress(`section ${name} failed: ${error}`);
    } finally {
      contention[name] = monitor.stop();
    }
  }
} finally {
  await Promise.all([...servers.values()].map((s) => s.stop()));
}
meta.loadavgAfter = Deno.loadavg();
meta.otherCpuShare = contention;
meta.seconds = (performance.now() - started) / 1000;

console.log(`# secsock benchmark — ${meta.date}`);
console.log(
  `${meta.openssl}; node ${meta.node}; deno ${meta.deno}; ${meta.os}; ${meta.cpus} CPUs; commit ${meta.commit}${
    quick ? "; QUICK MODE" : ""
  }`,
);
console.log("Ratios: secsock/x = secsock's figure divided by the contender's (1.00× for secsock itself).");
for (const t of tables) console.log(t);
if (targets.length) {
  console.log(table(
    "Targets (ratios from this run)",
    ["target", "value", "wanted", "result"],
    targets.map((t) => [t.name, fmtRatio(t.value), t.target, t.pass === null ? "n/a" : t.pass ? "PASS" : "FAIL"]),
  ));
}
if (failures.length) console.log(`\nFailed sections:\n  ${failures.join("\n  ")}`);
const busy = Object.entries(contention).filter(([, v]) => v > 0.1);
console.log(
  `\nOther processes' CPU use during each section (share of one core; > 10% skews results): ${
    Object.entries(contention).map(([k, v]) => `${k} ${fmt(v * 100)}%`).join(", ")
  }${busy.length ? ` — WARNING: the machine was busy during ${busy.map(([k]) => k).join(", ")}` : ""}.`,
);
console.log(
  `\nTotal time ${fmt(meta.seconds, 0)} s; load average before ${
    (meta.loadavgBefore as number[]).map((l) => l.toFixed(2)).join(" ")
  }, after ${(meta.loadavgAfter as number[]).map((l) => l.toFixed(2)).join(" ")}.`,
);
if (options.json) {
  await Deno.writeTextFile(options.json, JSON.stringify({ meta, results, targets, failures }, null, 2) + "\n");
  console.log(`JSON written to ${options.json}`);
}
Deno.exit(failures.length ? 1 : 0);
