/**
 * Shared pieces of the benchmark (issue 5): fixture paths, the wire protocol
 * every peer speaks, argument parsing, statistics.
 *
 * The protocol runs inside TLS, after the handshake. The client sends one
 * line (`\n`-terminated) per request:
 *
 * | request | server does | answer |
 * | --- | --- | --- |
 * | `Q` | nothing | `A\n` (small request/response, handshake tests) |
 * | `U <total>` | reads `<total>` payload bytes that follow | `K\n` after the last byte |
 * | `D <total> <chunk>` | writes `<total>` bytes in writes of `<chunk>` | the bytes |
 * | `S` | runs the GC (when exposed), waits, runs it again | `{"rss":…,"open":…}\n` |
 * | `GET …` (HTTP/1.0, for `openssl s_time -www`) | reads up to the blank line | a tiny HTTP response, then closes |
 *
 * Servers print one JSON line `{"port":…}` on stdout when listening. Clients
 * print one JSON line with their results on stdout and exit.
 *
 * @module
 */

/** Absolute path of a file in tests/fixtures/. */
export function fixturePath(name: string): string {
  return new URL(`../../tests/fixtures/${name}`, import.meta.url).pathname;
}

/** The server certificates every contender uses. */
export const CERTS = {
  rsa: { chain: "server-chain.pem", key: "server.key", leaf: "server.pem" },
  ec: { chain: "server-ec-chain.pem", key: "server-ec.key", leaf: "server-ec.pem" },
} as const;
/** Which server certificate: RSA-2048 or ECDSA P-256. */
export type CertKind = keyof typeof CERTS;

/** Loopback only. */
export const HOST = "127.0.0.1";

/** The bulk payload: the same 64 KiB of pseudo-random bytes everywhere. */
export function payload(size = 65536): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** `--key value` / `--flag` arguments after a positional prefix. */
export function parseArgs(args: string[]): { positional: string[]; options: Record<string, string> } {
  const positional: string[] = [];
  const options: Record<string, string> = {};
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

/** A numeric option with a default. */
export function num(options: Record<string, string>, key: string, fallback: number): number {
  const v = options[key];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${key} must be a number, got ${v}`);
  return n;
}

/** Median of the finite values (NaN when there are none). */
export function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Percentile (0..100) of the finite values, nearest rank. */
export function percentile(values: number[], p: number): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

/** Version limits as the peers take them on their command line: "1.2" / "1.3". */
export type ShortVersion = "1.2" | "1.3";

/** What a client mode prints (one JSON line). */
export interface ClientResult {
  /** Implementation name of the client. */
  client: string;
  /** Per-run figures (MB/s, handshakes/s, …). */
  runs?: number[];
  /** Extra measurements of a mode. */
  [key: string]: unknown;
}

const encoder = new TextEncoder();
/** UTF-8 encode. */
export const enc = (s: string): Uint8Array<ArrayBuffer> => encoder.encode(s);

/** Resident set size of this process, in bytes (Linux: VmRSS; else memoryUsage). */
export function selfRss(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = status.match(/^VmRSS:\s+(\d+)\s+kB/m);
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return Deno.memoryUsage().rss;
}

/** CPU time (user + system) this process has used, in seconds (Linux /proc; NaN elsewhere). */
export function selfCpuSeconds(): number {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** Sleeps. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
