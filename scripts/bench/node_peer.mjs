/**
 * Node `tls` contender: `node scripts/bench/node_peer.mjs server --cert rsa|ec`
 * or `… client <mode> --port N`. The same protocol and client modes as
 * peer_core.ts (see common.ts), written the way Node code usually is.
 *
 * @module
 */
import tls from "node:tls";
import fs from "node:fs";
import process from "node:process";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const HOST = "127.0.0.1";
const CERTS = {
  rsa: { chain: "server-chain.pem", key: "server.key" },
  ec: { chain: "server-ec-chain.pem", key: "server-ec.key" },
};
const fixture = (name) => fs.readFileSync(fileURLToPath(new URL(`../../tests/fixtures/${name}`, import.meta.url)));

function parseArgs(args) {
  const positional = [];
  const options = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      if (eq > 0) options[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < args.length && !args[i + 1].startsWith("--")) options[a.slice(2)] = args[++i];
      else options[a.slice(2)] = "true";
    } else {
      positional.push(a);
    }
  }
  return { positional, options };
}
const num = (options, key, fallback) => options[key] === undefined ? fallback : Number(options[key]);
const version = (v) => v ? `TLSv${v}` : undefined;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function payload(size) {
  const out = Buffer.alloc(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const PAYLOAD = payload(65536);
const ANSWER = Buffer.from("A\n");
const QUERY = Buffer.from("Q\n");
const OK = Buffer.from("K\n");
const STAT = Buffer.from("S\n");
const HTTP_RESPONSE = Buffer.from("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n");
const EMPTY = Buffer.alloc(0);

function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
function percentile(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}
const errorText = (e) => e instanceof Error ? `${e.name}: ${e.message}` : String(e);

// ---------------------------------------------------------------- server

function runServer(options) {
  const cert = CERTS[options.cert ?? "rsa"];
  let open = 0;
  let served = 0;
  const server = tls.createServer({
    cert: fixture(cert.chain),
    key: fixture(cert.key),
    minVersion: version(options.min) ?? "TLSv1.2",
    maxVersion: version(options.max),
    noDelay: true,
  });
  server.on("tlsClientError", () => {});
  server.on("secureConnection", (socket) => {
    open++;
    served++;
    socket.on("close", () => open--);
    socket.on("error", () => socket.destroy());
    let pending = EMPTY;
    let skipLeft = 0;
    let inHttpHeaders = false;

    const download = async (total, chunk) => {
      chunk = Math.min(chunk, PAYLOAD.length);
      for (let left = total; left > 0 && !socket.destroyed;) {
        const n = Math.min(chunk, left);
        if (!socket.write(n === PAYLOAD.length ? PAYLOAD : PAYLOAD.subarray(0, n))) await once(socket, "drain");
        left -= n;
      }
    };
    const stat = async () => {
      globalThis.gc?.();
      await sleep(100);
      globalThis.gc?.();
      await sleep(50);
      const { rss, heapUsed, external } = process.memoryUsage();
      socket.write(JSON.stringify({ rss, heapUsed, external, open, served }) + "\n");
    };
    const command = (line) => {
      if (inHttpHeaders) {
        if (line === "") {
          inHttpHeaders = false;
          socket.end(HTTP_RESPONSE);
        }
      } else if (line === "Q") {
        socket.write(ANSWER);
      } else if (line.startsWith("U ")) {
        skipLeft = Number(line.slice(2));
        if (skipLeft === 0) socket.write(OK);
      } else if (line.startsWith("D ")) {
        const [, t, c] = line.split(" ");
        download(Number(t), Number(c)).catch(() => socket.destroy());
      } else if (line === "S") {
        stat().catch(() => socket.destroy());
      } else if (line.startsWith("GET ")) {
        inHttpHeaders = true;
      } else {
        socket.end();
      }
    };
    socket.on("data", (data) => {
      let off = 0;
      while (off < data.length) {
        if (skipLeft > 0) {
          const n = Math.min(skipLeft, data.length - off);
          skipLeft -= n;
          off += n;
          if (skipLeft === 0) socket.write(OK);
          continue;
        }
        const nl = data.indexOf(10, off);
        if (nl < 0) {
          pending = Buffer.concat([pending, data.subarray(off)]);
          break;
        }
        let line = (pending.length ? Buffer.concat([pending, data.subarray(off, nl)]) : data.subarray(off, nl))
          .toString();
        pending = EMPTY;
        off = nl + 1;
        if (line.endsWith("\r")) line = line.slice(0, -1);
        command(line);
      }
    });
  });
  server.listen(0, HOST, () => {
    console.log(JSON.stringify({ port: server.address().port, pid: process.pid, impl: "node" }));
  });
  const lifetime = num(options, "lifetime", 900);
  setTimeout(() => {
    console.error(`node server: lifetime of ${lifetime}s reached, exiting`);
    process.exit(0);
  }, lifetime * 1000).unref();
}

// ---------------------------------------------------------------- client

const contexts = new Map();
function secureContext(o) {
  const key = `${o.min}/${o.max}`;
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca: fixture("ca.pem"), minVersion: version(o.min), maxVersion: version(o.max) });
    contexts.set(key, ctx);
  }
  return ctx;
}

/** Connects and completes the handshake; `latest()` is the newest session the server sent. */
function connect(o, session) {
  return new Promise((resolve, reject) => {
    let latest = session ?? null;
    const socket = tls.connect({
      host: HOST,
      port: o.port,
      secureContext: secureContext(o),
      session: session ?? undefined,
      noDelay: true,
    });
    socket.on("session", (s) => latest = s);
    socket.latestSession = () => latest;
    socket.reader = new Reader(socket);
    const fail = (e) => {
      socket.destroy();
      reject(e);
    };
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      socket.off("error", fail);
      socket.on("error", () => {});
      resolve(socket);
    });
  });
}

class Reader {
  constructor(socket) {
    this.buf = EMPTY;
    this.skipLeft = 0;
    this.ended = false;
    this.error = null;
    this.wake = null;
    socket.on("data", (data) => {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, data.length);
        this.skipLeft -= n;
        if (n < data.length) this.buf = Buffer.concat([this.buf, data.subarray(n)]);
      } else {
        this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
      }
      this.notify();
    });
    socket.on("end", () => {
      this.ended = true;
      this.notify();
    });
    socket.on("error", (e) => {
      this.error = e;
      this.notify();
    });
  }
  notify() {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
  wait() {
    if (this.error) throw this.error;
    if (this.ended) throw new Error("the server closed early");
    return new Promise((r) => this.wake = r);
  }
  async line() {
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl >= 0) {
        let line = this.buf.subarray(0, nl).toString();
        this.buf = this.buf.subarray(nl + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        return line;
      }
      await this.wait();
    }
  }
  async skip(total) {
    const buffered = Math.min(total, this.buf.length);
    this.buf = this.buf.subarray(buffered);
    this.skipLeft = total - buffered;
    while (this.skipLeft > 0) await this.wait();
  }
}

async function query(socket) {
  socket.write(QUERY);
  const line = await socket.reader.line();
  if (line !== "A") throw new Error(`unexpected answer ${JSON.stringify(line)}`);
}

const describe = (s) => ({ protocol: s.getProtocol(), cipher: s.getCipher()?.standardName ?? null });
const shutdown = (s) => s.end();
const abort = (s) => s.destroy();

async function write(socket, data) {
  if (!socket.write(data)) await once(socket, "drain");
}

async function bulk(o, options) {
  const dir = options.dir ?? "up";
  const size = num(options, "size", 16384);
  const total = num(options, "total", 64 << 20);
  const runs = num(options, "runs", 3);
  const warmup = num(options, "warmup", 1);
  const socket = await connect(o);
  const info = describe(socket);
  const chunk = PAYLOAD.subarray(0, size);
  const out = [];
  let cpu = 0;
  for (let i = 0; i < warmup + runs; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (dir === "up") {
      await write(socket, Buffer.from(`U ${total}\n`));
      for (let left = total; left > 0; left -= size) {
        await write(socket, left >= size ? chunk : chunk.subarray(0, left));
      }
      const line = await socket.reader.line();
      if (line !== "K") throw new Error(`unexpected answer ${JSON.stringify(line)}`);
    } else {
      await write(socket, Buffer.from(`D ${total} ${size}\n`));
      await socket.reader.skip(total);
    }
    const ms = performance.now() - t0;
    if (i >= warmup) {
      out.push(total / ms / 1000);
      const used = process.cpuUsage(cpu0);
      cpu += (used.user + used.system) / 1e6;
    }
  }
  shutdown(socket);
  return {
    client: "node",
    runs: out,
    ...info,
    bytes: total * (warmup + runs),
    clientCpuUsPerRecord: (cpu * 1e6) / ((total * runs) / 16384),
  };
}

async function handshakes(o, options, resume) {
  const duration = num(options, "duration", 1) * 1000;
  const concurrency = num(options, "concurrency", 8);
  const runs = num(options, "runs", 3);
  const max = num(options, "max", 100_000);
  const out = [];
  let first = null;
  let errors = 0;
  let lastError = null;
  let reused = 0;
  let total = 0;
  const once = async (session) => {
    const socket = await connect(o, resume ? session : null);
    try {
      first ??= describe(socket);
      if (resume) await query(socket);
      if (resume && socket.isSessionReused()) reused++;
      const next = resume ? socket.latestSession() : null;
      shutdown(socket);
      return next;
    } catch (e) {
      abort(socket);
      throw e;
    }
  };
  const sessions = new Array(concurrency).fill(null);
  if (resume) {
    await Promise.all(sessions.map(async (_, w) => sessions[w] = await once(null)));
    reused = 0;
  } else {
    await once(null);
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
        } catch (e) {
          errors++;
          lastError = errorText(e);
        }
      }
    }));
    total += count;
    out.push(count / ((performance.now() - t0) / 1000));
  }
  return {
    client: "node",
    runs: out,
    protocol: first?.protocol ?? null,
    cipher: first?.cipher ?? null,
    errors,
    lastError,
    ...(resume ? { reusedFraction: total ? reused / total : 0 } : {}),
  };
}

async function ttfb(o, options) {
  const count = num(options, "count", 50);
  const rtts = num(options, "rtts", 500);
  const deadline = performance.now() + num(options, "timeout", 20) * 1000;
  const firstByte = [];
  for (let i = 0; i < count + 1 && performance.now() < deadline; i++) {
    const t0 = performance.now();
    const socket = await connect(o);
    await query(socket);
    const ms = performance.now() - t0;
    shutdown(socket);
    if (i > 0) firstByte.push(ms);
  }
  const socket = await connect(o);
  const rtt = [];
  for (let i = 0; i < rtts + 20 && performance.now() < deadline; i++) {
    const t0 = performance.now();
    await query(socket);
    if (i >= 20) rtt.push((performance.now() - t0) * 1000);
  }
  shutdown(socket);
  return {
    client: "node",
    runs: firstByte,
    ttfbMs: median(firstByte),
    ttfbP90Ms: percentile(firstByte, 90),
    rttUs: median(rtt),
    rttP90Us: percentile(rtt, 90),
  };
}

async function idle(o, options) {
  const checkpoints = (options.conns ?? "1000").split(",").map(Number).filter((n) => n > 0).sort((a, b) => a - b);
  const batch = num(options, "batch", 64);
  const timeout = num(options, "timeout", 60);
  const deadline = performance.now() + timeout * 1000;
  const open = async () => {
    const socket = await connect(o);
    try {
      await query(socket);
    } catch (e) {
      abort(socket);
      throw e;
    }
    return socket;
  };
  for (let left = num(options, "warmup", 200); left > 0; left -= batch) {
    const warm = await Promise.all(Array.from({ length: Math.min(batch, left) }, open));
    warm.forEach(shutdown);
  }
  const control = await open();
  const stat = async () => {
    control.write(STAT);
    return JSON.parse(await control.reader.line());
  };
  await sleep(200);
  const before = await stat();
  const conns = [];
  const points = [];
  let error = null;
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
  const result = { client: "node", rssBefore: before.rss, points, clientRss: process.memoryUsage().rss, error };
  for (const s of conns) abort(s);
  abort(control);
  return result;
}

async function runClient(mode, options) {
  const o = { port: num(options, "port", 0), min: options.min, max: options.max };
  switch (mode) {
    case "bulk":
      return await bulk(o, options);
    case "hs":
      return await handshakes(o, options, false);
    case "resume":
      return await handshakes(o, options, true);
    case "ttfb":
      return await ttfb(o, options);
    case "idle":
      return await idle(o, options);
    default:
      throw new Error(`unknown client mode ${mode}`);
  }
}

const [role, ...rest] = process.argv.slice(2);
const { positional, options } = parseArgs(rest);
if (role === "server") {
  runServer(options);
} else if (role === "client") {
  setTimeout(() => {
    console.error("node client: hard time limit reached");
    process.exit(3);
  }, num(options, "hard-limit", 240) * 1000).unref();
  const result = await runClient(positional[0], options);
  console.log(JSON.stringify(result));
  process.exit(0);
} else {
  console.error("usage: node_peer.mjs server --cert rsa|ec | client bulk|hs|resume|ttfb|idle --port N");
  process.exit(2);
}
