/**
 * The benchmark protocol (see common.ts) for the Deno-based contenders: a
 * server loop and the client load generators, over a small interface that
 * secsock's SecureSocket and Deno's TlsConn both fit. node_peer.mjs is the
 * same thing for Node's `tls`.
 *
 * @module
 */
import {
  type CertKind,
  type ClientResult,
  enc,
  median,
  num,
  parseArgs,
  payload,
  percentile,
  selfCpuSeconds,
  selfRss,
  type ShortVersion,
  sleep,
} from "./common.ts";

/** What the protocol needs from a connection. */
export interface BenchConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
}

/** Client connection options. */
export interface ClientOptions {
  port: number;
  min?: ShortVersion;
  max?: ShortVersion;
}

/** Server options. */
export interface ServerOptions {
  cert: CertKind;
  min?: ShortVersion;
  max?: ShortVersion;
}

/** A listening server. */
export interface BenchListener<C> {
  port: number;
  accept(): Promise<C>;
  close(): void;
}

/**
 * Session resumption for one implementation. Adding it for a contender is
 * this one object: connect with a saved session, say whether it was reused,
 * hand out the session to save (TLS 1.3: valid once data has been read).
 */
export interface ResumeApi<C> {
  connect(options: ClientOptions, session: unknown): Promise<C>;
  reused(conn: C): boolean;
  session(conn: C): unknown;
}

/** One contender. */
export interface Impl<C extends BenchConn> {
  name: string;
  listen(options: ServerOptions): BenchListener<C>;
  /** Connects to 127.0.0.1 and completes the handshake. */
  connect(options: ClientOptions): Promise<C>;
  describe(conn: C): { protocol: string | null; cipher: string | null };
  /** close_notify (where the API allows it), then close. */
  shutdown(conn: C): Promise<void>;
  /** Immediate close. */
  abort(conn: C): void;
  /** Resumption support, or why there is none. */
  resume: ResumeApi<C> | { unsupported: string };
  /** What the client cannot do (e.g. no protocol version option), or null. */
  clientLimits?(options: ClientOptions): string | null;
}

const PAYLOAD = payload(65536);
const ANSWER = enc("A\n");
const QUERY = enc("Q\n");
const STAT = enc("S\n");
const OK = enc("K\n");
const HTTP_RESPONSE = enc("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n");
const decoder = new TextDecoder();

async function writeAll(conn: BenchConn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(offset === 0 ? data : data.subarray(offset));
}

/**
 * Bulk payload is read into this one scratch buffer and dropped: sharing it
 * between connections is harmless, and no connection keeps 64 KiB for itself
 * (that would show up in the memory test).
 */
const DISCARD = new Uint8Array(65536);

/** Line and byte-count reads over a connection: a small line buffer of its own, bulk reads into DISCARD. */
class Reader {
  readonly #conn: BenchConn;
  #buf = new Uint8Array(1024);
  #start = 0;
  #end = 0;

  constructor(conn: BenchConn) {
    this.#conn = conn;
  }

  /** The next line without its terminator (`\r` stripped), or null at EOF. */
  async line(): Promise<string | null> {
    for (;;) {
      const i = this.#buf.subarray(this.#start, this.#end).indexOf(10);
      if (i >= 0) {
        let line = decoder.decode(this.#buf.subarray(this.#start, this.#start + i));
        this.#start += i + 1;
        if (line.endsWith("\r")) line = line.slice(0, -1);
        return line;
      }
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buf.length) {
        if (this.#buf.length >= 65536) throw new Error("line too long");
        const bigger = new Uint8Array(this.#buf.length * 4);
        bigger.set(this.#buf);
        this.#buf = bigger;
      }
      const n = await this.#conn.read(this.#buf.subarray(this.#end));
      if (n === null) return null;
      this.#end += n;
    }
  }

  /** Consumes exactly `total` bytes; false if the stream ended first. */
  async skip(total: number): Promise<boolean> {
    let left = total;
    const buffered = Math.min(left, this.#end - this.#start);
    this.#start += buffered;
    left -= buffered;
    while (left > 0) {
      const n = await this.#conn.read(DISCARD);
      if (n === null) return false;
      if (n > left) {
        // Bytes after the payload belong to the next line.
        const extra = DISCARD.subarray(left, n);
        if (extra.length > this.#buf.length) this.#buf = new Uint8Array(extra.length);
        this.#buf.set(extra);
        this.#start = 0;
        this.#end = extra.length;
        return true;
      }
      left -= n;
    }
    return true;
  }
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
}

/** Runs the protocol server until killed (or `--lifetime` seconds, default 900). */
export async function runServer<C extends BenchConn>(impl: Impl<C>, args: string[]): Promise<void> {
  const { options } = parseArgs(args);
  const cert = (options.cert ?? "rsa") as CertKind;
  const listener = impl.listen({
    cert,
    min: options.min as ShortVersion | undefined,
    max: options.max as ShortVersion | undefined,
  });
  const lifetime = num(options, "lifetime", 900);
  setTimeout(() => {
    console.error(`${impl.name} server: lifetime of ${lifetime}s reached, exiting`);
    Deno.exit(0);
  }, lifetime * 1000);
  let open = 0;
  let served = 0;
  console.log(JSON.stringify({ port: listener.port, pid: Deno.pid, impl: impl.name }));

  const handle = async (conn: C) => {
    const reader = new Reader(conn);
    try {
      for (;;) {
        const line = await reader.line();
        if (line === null) break;
        if (line === "Q") {
          await writeAll(conn, ANSWER);
        } else if (line.startsWith("U ")) {
          if (!await reader.skip(Number(line.slice(2)))) break;
          await writeAll(conn, OK);
        } else if (line.startsWith("D ")) {
          const [, t, c] = line.split(" ");
          const chunk = Math.min(Number(c), PAYLOAD.length);
          for (let left = Number(t); left > 0;) {
            const n = Math.min(chunk, left);
            await writeAll(conn, n === PAYLOAD.length ? PAYLOAD : PAYLOAD.subarray(0, n));
            left -= n;
          }
        } else if (line === "S") {
          gc();
          await sleep(100);
          gc();
          await sleep(50);
          const { heapUsed, external } = Deno.memoryUsage();
          await writeAll(conn, enc(JSON.stringify({ rss: selfRss(), heapUsed, external, open, served }) + "\n"));
        } else if (line.startsWith("GET ")) {
          for (let l = await reader.line(); l !== null && l !== ""; l = await reader.line());
          await writeAll(conn, HTTP_RESPONSE);
          break;
        } else {
          break;
        }
      }
      await impl.shutdown(conn);
    } catch {
      impl.abort(conn);
    }
  };

  for (;;) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      console.error(`${impl.name} server: accept failed: ${error}`);
      await sleep(10);
      continue;
    }
    open++;
    served++;
    handle(conn).finally(() => open--);
  }
}

/** Query/answer on a connection. */
async function query(conn: BenchConn, reader: Reader): Promise<void> {
  await writeAll(conn, QUERY);
  const line = await reader.line();
  if (line !== "A") throw new Error(`unexpected answer ${JSON.stringify(line)}`);
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Runs one client mode and prints its JSON result. */
export async function runClient<C extends BenchConn>(impl: Impl<C>, args: string[]): Promise<void> {
  const { positional, options } = parseArgs(args);
  const mode = positional[0];
  const connectOptions: ClientOptions = {
    port: num(options, "port", 0),
    min: options.min as ShortVersion | undefined,
    max: options.max as ShortVersion | undefined,
  };
  const limit = impl.clientLimits?.(connectOptions) ?? null;
  let result: ClientResult;
  if (limit) {
    result = { client: impl.name, unsupported: limit };
  } else {
    switch (mode) {
      case "bulk":
        result = await bulk(impl, connectOptions, options);
        break;
      case "hs":
        result = await handshakes(impl, connectOptions, options, false);
        break;
      case "resume":
        result = await handshakes(impl, connectOptions, options, true);
        break;
      case "ttfb":
        result = await ttfb(impl, connectOptions, options);
        break;
      case "idle":
        result = await idle(impl, connectOptions, options);
        break;
      default:
        throw new Error(`unknown client mode ${mode}`);
    }
  }
  console.log(JSON.stringify(result));
}

async function bulk<C extends BenchConn>(
  impl: Impl<C>,
  o: ClientOptions,
  options: Record<string, string>,
): Promise<ClientResult> {
  const dir = options.dir ?? "up";
  const size = num(options, "size", 16384);
  const total = num(options, "total", 64 << 20);
  const runs = num(options, "runs", 3);
  const warmup = num(options, "warmup", 1);
  const conn = await impl.connect(o);
  const info = impl.describe(conn);
  const reader = new Reader(conn);
  const chunk = PAYLOAD.subarray(0, size);
  const out: number[] = [];
  let cpu = 0;
  for (let i = 0; i < warmup + runs; i++) {
    const cpu0 = selfCpuSeconds();
    const t0 = performance.now();
    if (dir === "up") {
      await writeAll(conn, enc(`U ${total}\n`));
      for (let left = total; left > 0; left -= size) {
        await writeAll(conn, left >= size ? chunk : chunk.subarray(0, left));
      }
      const line = await reader.line();
      if (line !== "K") throw new Error(`unexpected answer ${JSON.stringify(line)}`);
    } else {
      await writeAll(conn, enc(`D ${total} ${size}\n`));
      if (!await reader.skip(total)) throw new Error("the server closed early");
    }
    const ms = performance.now() - t0;
    if (i >= warmup) {
      out.push(total / ms / 1000);
      cpu += selfCpuSeconds() - cpu0;
    }
  }
  await impl.shutdown(conn);
  return {
    client: impl.name,
    runs: out,
    ...info,
    bytes: total * (warmup + runs),
    clientCpuUsPerRecord: (cpu * 1e6) / ((total * runs) / 16384),
  };
}

async function handshakes<C extends BenchConn>(
  impl: Impl<C>,
  o: ClientOptions,
  options: Record<string, string>,
  resume: boolean,
): Promise<ClientResult> {
  const api = resume ? impl.resume : null;
  if (api && "unsupported" in api) return { client: impl.name, unsupported: api.unsupported };
  const duration = num(options, "duration", 1) * 1000;
  const concurrency = num(options, "concurrency", 8);
  const runs = num(options, "runs", 3);
  const max = num(options, "max", 100_000);
  const out: number[] = [];
  let first: { protocol: string | null; cipher: string | null } | null = null;
  let errors = 0;
  let lastError: string | null = null;
  let reused = 0;
  let total = 0;

  const once = async (session: unknown): Promise<unknown> => {
    const conn = api ? await api.connect(o, session) : await impl.connect(o);
    try {
      first ??= impl.describe(conn);
      // Resumption needs the tickets, which come with the first data; a full
      // handshake is measured alone (no request, so no Nagle/delayed-ACK stall).
      if (api) await query(conn, new Reader(conn));
      if (api && api.reused(conn)) reused++;
      const next = api ? api.session(conn) ?? session : null;
      await impl.shutdown(conn);
      return next;
    } catch (error) {
      impl.abort(conn);
      throw error;
    }
  };

  // Each worker keeps its own session, primed outside the measurement.
  const sessions: unknown[] = new Array(concurrency).fill(null);
  if (api) {
    await Promise.all(sessions.map(async (_, w) => {
      sessions[w] = await once(null);
    }));
    reused = 0;
  } else {
    await once(null); // warm-up
  }
  for (let run = 0; run < runs; run++) {
    let count = 0;
    const t0 = performance.now();
    const end = t0 + duration;
    await Promise.all(sessions.map(async (_, w) => {
      while (performance.now() < end && count < max && errors < 50) {
        try {
          sessions[w] = await once(sessions[w]);
          count++;
        } catch (error) {
          errors++;
          lastError = errorText(error);
        }
      }
    }));
    total += count;
    out.push(count / ((performance.now() - t0) / 1000));
  }
  const f = first as { protocol: string | null; cipher: string | null } | null;
  return {
    client: impl.name,
    runs: out,
    protocol: f?.protocol ?? null,
    cipher: f?.cipher ?? null,
    errors,
    lastError,
    ...(api ? { reusedFraction: total ? reused / total : 0 } : {}),
  };
}

async function ttfb<C extends BenchConn>(
  impl: Impl<C>,
  o: ClientOptions,
  options: Record<string, string>,
): Promise<ClientResult> {
  const count = num(options, "count", 50);
  const rtts = num(options, "rtts", 500);
  const deadline = performance.now() + num(options, "timeout", 20) * 1000;
  const firstByte: number[] = [];
  // Warm-up connection, then fresh connections one after another.
  for (let i = 0; i < count + 1 && performance.now() < deadline; i++) {
    const t0 = performance.now();
    const conn = await impl.connect(o);
    await query(conn, new Reader(conn));
    const ms = performance.now() - t0;
    await impl.shutdown(conn);
    if (i > 0) firstByte.push(ms);
  }
  const conn = await impl.connect(o);
  const reader = new Reader(conn);
  const rtt: number[] = [];
  for (let i = 0; i < rtts + 20 && performance.now() < deadline; i++) {
    const t0 = performance.now();
    await query(conn, reader);
    if (i >= 20) rtt.push((performance.now() - t0) * 1000);
  }
  await impl.shutdown(conn);
  return {
    client: impl.name,
    runs: firstByte,
    ttfbMs: median(firstByte),
    ttfbP90Ms: percentile(firstByte, 90),
    rttUs: median(rtt),
    rttP90Us: percentile(rtt, 90),
  };
}

async function idle<C extends BenchConn>(
  impl: Impl<C>,
  o: ClientOptions,
  options: Record<string, string>,
): Promise<ClientResult> {
  // --conns 1000,10000: connections are opened in batches and the server's RSS
  // is read at each checkpoint; --warmup connections are opened and closed first.
  const checkpoints = (options.conns ?? "1000").split(",").map(Number).filter((n) => n > 0).sort((a, b) => a - b);
  const batch = num(options, "batch", 64);
  const timeout = num(options, "timeout", 60);
  const deadline = performance.now() + timeout * 1000;
  const open = async () => {
    const conn = await impl.connect(o);
    try {
      await query(conn, new Reader(conn));
    } catch (e) {
      impl.abort(conn);
      throw e;
    }
    return conn;
  };
  for (let left = num(options, "warmup", 200); left > 0; left -= batch) {
    const warm = await Promise.all(Array.from({ length: Math.min(batch, left) }, open));
    await Promise.all(warm.map((c) => impl.shutdown(c).catch(() => {})));
  }
  const control = await open();
  const controlReader = new Reader(control);
  const stat = async () => {
    await writeAll(control, STAT);
    return JSON.parse((await controlReader.line())!) as {
      rss: number;
      heapUsed: number;
      external: number;
      open: number;
    };
  };
  await sleep(200);
  const before = await stat();
  const conns: C[] = [];
  const points: Record<string, unknown>[] = [];
  let error: string | null = null;
  const t0 = performance.now();
  for (const target of checkpoints) {
    while (conns.length < target && error === null) {
      if (performance.now() > deadline) {
        error = `time limit: ${conns.length} connections established in ${timeout}s`;
        break;
      }
      const settled = await Promise.allSettled(Array.from({ length: Math.min(batch, target - conns.length) }, open));
      for (const s of settled) {
        if (s.status === "fulfilled") conns.push(s.value);
        else error ??= errorText(s.reason);
      }
    }
    await sleep(300);
    const after = await stat();
    points.push({
      target,
      established: conns.length,
      serverOpen: after.open - 1,
      rss: after.rss,
      bytesPerConn: conns.length ? (after.rss - before.rss) / conns.length : NaN,
      heapPerConn: conns.length ? (after.heapUsed - before.heapUsed) / conns.length : NaN,
      externalPerConn: conns.length ? (after.external - before.external) / conns.length : NaN,
      seconds: (performance.now() - t0) / 1000,
    });
    if (error !== null) break;
  }
  const result: ClientResult = { client: impl.name, rssBefore: before.rss, points, clientRss: selfRss(), error };
  for (const c of conns) impl.abort(c);
  impl.abort(control);
  return result;
}

/** Entry point shared by the Deno-based peers: `server …` or `client <mode> …`. */
export async function main<C extends BenchConn>(impl: Impl<C>): Promise<void> {
  const [role, ...rest] = Deno.args;
  if (role === "server") {
    await runServer(impl, rest);
  } else if (role === "client") {
    // Every client mode is bounded; this is the last resort.
    const hardLimit = setTimeout(() => {
      console.error(`${impl.name} client: hard time limit reached`);
      Deno.exit(3);
    }, num(parseArgs(rest).options, "hard-limit", 240) * 1000);
    await runClient(impl, rest);
    clearTimeout(hardLimit);
    Deno.exit(0);
  } else {
    console.error("usage: <peer> server --cert rsa|ec [--min 1.2|1.3] [--max 1.2|1.3]");
    console.error("       <peer> client bulk|hs|resume|ttfb|idle --port N [options]");
    Deno.exit(2);
  }
}
