/**
 * In-process FFI measurements without sockets: two SSL objects (client and
 * server) with memory BIOs, made straight from ffi/library.ts, and the bytes
 * shuttled between them from JavaScript. One "round trip" is one 16 KiB
 * record: SSL_write (encrypt) → BIO_read → BIO_write → SSL_read (decrypt),
 * the minimum of four FFI calls a memory-BIO design needs per record.
 *
 * Also: the cost of a trivial FFI call, and an instrumentation helper that
 * counts secsock's FFI calls per connection side.
 *
 * @module
 */
import { libcrypto, libssl } from "../../ffi/library.ts";
import { CERTS, fixturePath } from "./common.ts";

/** An opaque native pointer as the FFI layer hands it out. */
type Pointer = object;

/**
 * The functions used here, typed locally so that this benchmark does not
 * depend on how ffi/ brands its pointer types.
 */
interface Ssl {
  TLS_method(): Pointer;
  SSL_CTX_new(method: Pointer): Pointer | null;
  SSL_CTX_free(ctx: Pointer): void;
  SSL_CTX_use_certificate(ctx: Pointer, x509: Pointer): number;
  SSL_CTX_use_PrivateKey(ctx: Pointer, pkey: Pointer): number;
  SSL_CTX_ctrl(ctx: Pointer, cmd: number, larg: bigint, parg: Pointer | null): bigint | number;
  SSL_CTX_set_ciphersuites(ctx: Pointer, suites: Uint8Array<ArrayBuffer>): number;
  SSL_new(ctx: Pointer): Pointer | null;
  SSL_free(ssl: Pointer): void;
  SSL_set_bio(ssl: Pointer, rbio: Pointer, wbio: Pointer): void;
  SSL_set_connect_state(ssl: Pointer): void;
  SSL_set_accept_state(ssl: Pointer): void;
  SSL_do_handshake(ssl: Pointer): number;
  SSL_read(ssl: Pointer, buf: Uint8Array<ArrayBuffer>, num: number): number;
  SSL_write(ssl: Pointer, buf: Uint8Array<ArrayBuffer>, num: number): number;
  SSL_get_error(ssl: Pointer, ret: number): number;
  SSL_get_current_cipher(ssl: Pointer): Pointer | null;
  SSL_CIPHER_get_name(cipher: Pointer): Pointer | null;
}
interface Crypto {
  ERR_clear_error(): void;
  BIO_s_mem(): Pointer;
  BIO_new(method: Pointer): Pointer | null;
  BIO_free(bio: Pointer): number;
  BIO_read(bio: Pointer, buf: Uint8Array<ArrayBuffer>, len: number): number;
  BIO_write(bio: Pointer, buf: Uint8Array<ArrayBuffer>, len: number): number;
  BIO_ctrl_pending(bio: Pointer): bigint | number;
  PEM_read_bio_X509(bio: Pointer, x: null, cb: null, u: null): Pointer | null;
  PEM_read_bio_PrivateKey(bio: Pointer, x: null, cb: null, u: null): Pointer | null;
  X509_free(x509: Pointer): void;
  EVP_PKEY_free(pkey: Pointer): void;
}
const ssl = () => libssl() as unknown as Ssl;
const crypto = () => libcrypto() as unknown as Crypto;

const SSL_CTRL_MODE = 33;
const SSL_CTRL_CHAIN_CERT = 89;
const SSL_MODE_RELEASE_BUFFERS = 0x10n;
const encoder = new TextEncoder();
const cstr = (s: string) => encoder.encode(s + "\0");

function must<T>(value: T | null, what: string): T {
  if (value === null || value === 0) throw new Error(`${what} failed`);
  return value;
}

function memBio(data?: Uint8Array): Pointer {
  const c = crypto();
  const bio = must(c.BIO_new(c.BIO_s_mem()), "BIO_new");
  if (data) c.BIO_write(bio, data as Uint8Array<ArrayBuffer>, data.length);
  return bio;
}

function readCerts(path: string): Pointer[] {
  const c = crypto();
  const bio = memBio(Deno.readFileSync(path));
  const out: Pointer[] = [];
  for (;;) {
    const x = c.PEM_read_bio_X509(bio, null, null, null);
    if (x === null) break;
    out.push(x);
  }
  c.ERR_clear_error(); // the end of the PEM data leaves an error behind
  c.BIO_free(bio);
  return out;
}

function readKey(path: string): Pointer {
  const c = crypto();
  const bio = memBio(Deno.readFileSync(path));
  const key = must(c.PEM_read_bio_PrivateKey(bio, null, null, null), "PEM_read_bio_PrivateKey");
  c.BIO_free(bio);
  return key;
}

/** Options of a memory-BIO pair. */
export interface PairOptions {
  /** TLS 1.3 suite, e.g. "TLS_AES_128_GCM_SHA256". */
  suite: string;
  /** SSL_MODE_RELEASE_BUFFERS on both contexts (secsock sets it). */
  releaseBuffers: boolean;
  /** Server certificate. */
  cert?: "rsa" | "ec";
}

// Scratch buffers shared by every pair (all use is synchronous).
const TMP = new Uint8Array(4 * 16384 + 4096);
const PLAIN = new Uint8Array(65536).map((_, i) => (i * 2654435761) >>> 24);
const RECEIVED = new Uint8Array(65536);

const contextCache = new Map<string, [Pointer, Pointer]>();

/** Server and client SSL_CTX for the options, made once per process. */
function contexts(options: PairOptions): [Pointer, Pointer] {
  const cacheKey = `${options.suite}/${options.releaseBuffers}/${options.cert ?? "ec"}`;
  const cached = contextCache.get(cacheKey);
  if (cached) return cached;
  const s = ssl();
  const c = crypto();
  const cert = CERTS[options.cert ?? "ec"];
  const [leaf, ...chain] = readCerts(fixturePath(cert.chain));
  const key = readKey(fixturePath(cert.key));
  const sctx = must(s.SSL_CTX_new(s.TLS_method()), "SSL_CTX_new");
  const cctx = must(s.SSL_CTX_new(s.TLS_method()), "SSL_CTX_new");
  must(s.SSL_CTX_use_certificate(sctx, leaf) || null, "SSL_CTX_use_certificate");
  for (const x of chain) s.SSL_CTX_ctrl(sctx, SSL_CTRL_CHAIN_CERT, 0n, x); // add0: the context owns it
  must(s.SSL_CTX_use_PrivateKey(sctx, key) || null, "SSL_CTX_use_PrivateKey");
  c.X509_free(leaf);
  c.EVP_PKEY_free(key);
  for (const ctx of [sctx, cctx]) {
    must(s.SSL_CTX_set_ciphersuites(ctx, cstr(options.suite)) || null, `SSL_CTX_set_ciphersuites(${options.suite})`);
    if (options.releaseBuffers) s.SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS, null);
  }
  contextCache.set(cacheKey, [sctx, cctx]);
  return [sctx, cctx];
}

/** A connected client/server pair over memory BIOs. */
export class MemoryPair {
  readonly client: Pointer;
  readonly server: Pointer;
  readonly clientIn: Pointer;
  readonly clientOut: Pointer;
  readonly serverIn: Pointer;
  readonly serverOut: Pointer;
  readonly #tmp = TMP;
  /** The plaintext sent (shared by all pairs). */
  readonly plain: Uint8Array<ArrayBuffer> = PLAIN;
  /** Where the server decrypts to (shared by all pairs). */
  readonly received: Uint8Array<ArrayBuffer> = RECEIVED;

  constructor(options: PairOptions) {
    const s = ssl();
    const c = crypto();
    const [sctx, cctx] = contexts(options);
    this.client = must(s.SSL_new(cctx), "SSL_new");
    this.server = must(s.SSL_new(sctx), "SSL_new");
    this.clientIn = memBio();
    this.clientOut = memBio();
    this.serverIn = memBio();
    this.serverOut = memBio();
    s.SSL_set_bio(this.client, this.clientIn, this.clientOut);
    s.SSL_set_bio(this.server, this.serverIn, this.serverOut);
    s.SSL_set_connect_state(this.client);
    s.SSL_set_accept_state(this.server);
    for (let i = 0; i < 20; i++) {
      const rc = s.SSL_do_handshake(this.client);
      this.#shuttle(this.clientOut, this.serverIn);
      const rs = s.SSL_do_handshake(this.server);
      this.#shuttle(this.serverOut, this.clientIn);
      if (rc === 1 && rs === 1) break;
      if (i === 19) throw new Error("in-memory handshake did not finish");
    }
    // Let the client consume the session tickets.
    const scratch = new Uint8Array(16);
    s.SSL_read(this.client, scratch, scratch.length);
    c.ERR_clear_error();
    // One checked round trip before anything is timed.
    if (this.roundTrip(16384) !== 16384) throw new Error("round trip lost data");
    for (let i = 0; i < 16384; i++) {
      if (this.received[i] !== this.plain[i]) throw new Error("round trip corrupted data");
    }
  }

  #shuttle(from: Pointer, to: Pointer): void {
    const c = crypto();
    for (;;) {
      const n = c.BIO_read(from, this.#tmp, this.#tmp.length);
      if (n <= 0) return;
      c.BIO_write(to, this.#tmp, n);
    }
  }

  /** The cipher suite in use. */
  get cipher(): string {
    const s = ssl();
    return Deno.UnsafePointerView.getCString(
      s.SSL_CIPHER_get_name(s.SSL_get_current_cipher(this.client)!) as Deno.PointerObject,
    );
  }

  /**
   * One record of `size` bytes (≤ 16384) client → server: four FFI calls.
   * Returns the bytes the server decrypted.
   */
  roundTrip(size: number): number {
    const s = ssl();
    const c = crypto();
    const tmp = this.#tmp;
    s.SSL_write(this.client, this.plain, size);
    const n = c.BIO_read(this.clientOut, tmp, tmp.length);
    c.BIO_write(this.serverIn, tmp, n);
    return s.SSL_read(this.server, this.received, this.received.length);
  }

  /** Frees both SSL objects (and their BIOs); the contexts are shared and stay. */
  close(): void {
    const s = ssl();
    s.SSL_free(this.client);
    s.SSL_free(this.server);
  }
}

/** Runs `fn` for about `ms` milliseconds (after a short calibration); ns per call. */
export function timeLoop(fn: () => void, ms: number): { nsPerOp: number; ops: number } {
  let batch = 16;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    const dt = performance.now() - t0;
    if (dt > 20 || batch > 1 << 24) {
      const ops = Math.max(batch, Math.ceil((batch * ms) / Math.max(dt, 0.001)));
      const t1 = performance.now();
      for (let i = 0; i < ops; i++) fn();
      const total = performance.now() - t1;
      return { nsPerOp: (total * 1e6) / ops, ops };
    }
    batch *= 4;
  }
}

/**
 * Trivial FFI calls of the kinds secsock makes on every record, for timing
 * the FFI transition itself. `close()` frees what they use.
 */
export function trivialCalls(): { calls: Record<string, () => void>; close(): void } {
  const c = crypto();
  const s = ssl();
  const bio = memBio();
  const pair = new MemoryPair({ suite: "TLS_AES_128_GCM_SHA256", releaseBuffers: true });
  const buf = new Uint8Array(16384);
  return {
    calls: {
      "ERR_clear_error()": () => c.ERR_clear_error(),
      "BIO_ctrl_pending(bio)": () => void c.BIO_ctrl_pending(bio),
      "SSL_get_error(ssl, -1)": () => void s.SSL_get_error(pair.server, -1),
      "BIO_read(empty bio, buf, n)": () => void c.BIO_read(bio, buf, buf.length),
    },
    close() {
      c.BIO_free(bio);
      pair.close();
    },
  };
}

/** Nanoseconds per trivial FFI call. */
export function ffiCallCost(ms = 150): Record<string, number> {
  const { calls, close } = trivialCalls();
  try {
    return Object.fromEntries(Object.entries(calls).map(([name, fn]) => [name, timeLoop(fn, ms).nsPerOp]));
  } finally {
    close();
  }
}

/** Per-side, per-function FFI call counts of instrumented libssl/libcrypto. */
export interface CallCounter {
  /** Start counting (pointer → side mapping is learnt all along). */
  start(): void;
  /** Stop counting and return `side → function → calls`. */
  stop(): Record<string, Record<string, number>>;
  /** Puts the original functions back. */
  restore(): void;
}

/**
 * Wraps every function of libssl()/libcrypto() with a counter. Calls are
 * attributed to an `SSL*` through their first argument (an SSL, or a BIO
 * given to SSL_set_bio); calls without a pointer (ERR_clear_error) go to the
 * side of the next attributed call. Sides are named by what their SSL did
 * most: "writer" (SSL_write) or "reader" (SSL_read). Counting slows the
 * calls down: use it for counts, not for timing.
 */
export function instrumentFfi(): CallCounter {
  const libs = [libssl(), libcrypto()] as unknown as Record<string, unknown>[];
  const originals: [Record<string, unknown>, string, unknown][] = [];
  const bioOwner = new Map<bigint, bigint>();
  let counting = false;
  let counts = new Map<bigint, Map<string, number>>();
  let unattributed: string[] = [];
  const key = (p: unknown): bigint =>
    p !== null && typeof p === "object" ? BigInt(Deno.UnsafePointer.value(p as Deno.PointerObject)) : 0n;
  const bump = (side: bigint, name: string) => {
    let m = counts.get(side);
    if (!m) counts.set(side, m = new Map());
    m.set(name, (m.get(name) ?? 0) + 1);
  };
  for (const lib of libs) {
    for (const name of Object.keys(lib)) {
      const fn = lib[name];
      if (typeof fn !== "function") continue;
      originals.push([lib, name, fn]);
      lib[name] = (...args: unknown[]) => {
        if (name === "SSL_set_bio") {
          bioOwner.set(key(args[1]), key(args[0]));
          bioOwner.set(key(args[2]), key(args[0]));
        }
        if (counting) {
          const first = key(args[0]);
          const side = name.startsWith("SSL_") ? first : bioOwner.get(first) ?? 0n;
          if (side === 0n) {
            unattributed.push(name);
          } else {
            for (const u of unattributed) bump(side, u);
            unattributed = [];
            bump(side, name);
          }
        }
        return (fn as (...a: unknown[]) => unknown)(...args);
      };
    }
  }
  return {
    start() {
      counts = new Map();
      unattributed = [];
      counting = true;
    },
    stop() {
      counting = false;
      const out: Record<string, Record<string, number>> = {};
      for (const [side, m] of counts) {
        const name = (m.get("SSL_write") ?? 0) >= (m.get("SSL_read") ?? 0) ? "writer" : "reader";
        out[out[name] ? `${name}@${side.toString(16)}` : name] = Object.fromEntries(m);
      }
      if (unattributed.length) {
        out.unattributed = {};
        for (const u of unattributed) out.unattributed[u] = (out.unattributed[u] ?? 0) + 1;
      }
      return out;
    },
    restore() {
      for (const [lib, name, fn] of originals) lib[name] = fn;
    },
  };
}
