/**
 * Shared test helpers: fixture paths and contexts built from the fixture PKI,
 * bytes and text, bounded waits, secsock servers on loopback, and real peers
 * started as child processes (see also tests/peers/openssl.ts for the openssl
 * CLI).
 */
import assert from "node:assert/strict";
import {
  SecureSocket,
  SecureSocketContext,
  type SecureSocketContextOptions,
  SecureSocketListener,
  type SecureSocketOptions,
  X509Certificate,
} from "../mod.ts";

// ---------------------------------------------------------------- fixtures and contexts

/** Absolute path of a file in tests/fixtures/. */
export function fixturePath(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

/** Text of a file in tests/fixtures/. */
export function fixture(name: string): string {
  return Deno.readTextFileSync(fixturePath(name));
}

/** SHA-256 fingerprint ("AB:CD:…") of a fixture certificate, as secsock's X509Certificate computes it. */
export function fixtureFingerprint(name: string): string {
  return X509Certificate.fromPEM(fixture(name)).fingerprint256;
}

/** The DER bytes of the first PEM block of a text (decoded here, not by secsock). */
export function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const m = pem.match(/-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/);
  if (!m) throw new Error("no PEM block");
  const b64 = m[1].replace(/\s+/g, "");
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** SHA-256 of a fixture certificate's DER as "AB:CD:…", computed with WebCrypto (independently of secsock). */
export async function fixtureFingerprint256(name: string): Promise<string> {
  const der = pemToDer(fixture(name));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** A server context with the RSA server chain (or another leaf name, e.g. "server-ec"). */
export function serverContext(options: SecureSocketContextOptions = {}, leaf = "server"): SecureSocketContext {
  const ctx = new SecureSocketContext({ useSystemTrust: false, ...options });
  ctx.useCertificateChainFile(fixturePath(`${leaf}-chain.pem`));
  ctx.usePrivateKeyFile(fixturePath(`${leaf}.key`));
  return ctx;
}

/** A client context trusting only the fixture root CA. */
export function clientContext(options: SecureSocketContextOptions = {}): SecureSocketContext {
  return new SecureSocketContext({ useSystemTrust: false, ca: fixture("ca.pem"), ...options });
}

/** The two protocol versions most suites run in. */
export const VERSIONS = ["TLSv1.2", "TLSv1.3"] as const;
export type Version = typeof VERSIONS[number];

// ---------------------------------------------------------------- bytes and text

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** UTF-8 encode. */
export const enc = (s: string): Uint8Array<ArrayBuffer> => encoder.encode(s);
/** UTF-8 decode. */
export const dec = (b: Uint8Array): string => decoder.decode(b);

/** Hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes of hex. */
export function unhex(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** SHA-256 of bytes, hex. */
export async function sha256(data: Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)));
}

/** Concatenates byte arrays. */
export function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Where `needle` starts in `haystack` (from `from` on), or -1. */
export function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Cryptographically random bytes of any length (getRandomValues takes at most 64 KiB at a time). */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

/** Anything with a `read()` like Deno.Conn and SecureSocket. */
export interface Reader {
  read(p: Uint8Array): Promise<number | null>;
}

/** Reads to the end (null: close_notify on a SecureSocket), returning everything; more than `limit` bytes is an error. */
export async function readAll(reader: Reader, limit = 64 * 1024 * 1024): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await reader.read(buf);
    if (n === null) return concat(chunks);
    chunks.push(buf.slice(0, n));
    total += n;
    if (total > limit) throw new Error(`more than ${limit} bytes`);
  }
}

/** Anything with a `write()` like Deno.Conn and SecureSocket. */
export interface Writer {
  write(p: Uint8Array): Promise<number>;
}

/** Writes all of `data` (a Deno.Conn may take it in parts). */
export async function writeAll(writer: Writer, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await writer.write(data.subarray(offset));
}

/**
 * Writes `data` and half-closes while reading the peer's answer to its end
 * (an echo, say); returns the answer.
 */
export async function roundTrip(
  conn: Reader & Writer & { closeWrite(): Promise<void> },
  data: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const [, answer] = await Promise.all([
    (async () => {
      await writeAll(conn, data);
      await conn.closeWrite();
    })(),
    readAll(conn),
  ]);
  return answer;
}

/** Reads exactly `n` bytes; an early end is an error. */
export async function readExactly(reader: Reader, n: number): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await reader.read(out.subarray(got));
    if (r === null) throw new Error(`stream ended after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}

/** Reads until the decoded text contains `marker` (or EOF); bounded by the caller. */
export async function readUntil(reader: Reader, marker: string): Promise<string> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(65536);
  let text = "";
  while (!text.includes(marker)) {
    const n = await reader.read(buf);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text;
}

// ---------------------------------------------------------------- time and outcomes

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with a clear message when `promise` does not settle within `ms`; never leaves a timer behind. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until `holds()` is true, checking every `everyMs`; rejects with a
 * clear message after `ms`. For a state that changes without an event to
 * wait on (a file another process writes, a counter); a condition with an
 * event should await that event instead.
 */
export async function waitUntil(
  holds: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
  everyMs = 5,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await holds())) {
    if (performance.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await delay(everyMs);
  }
}

/** Runs `fn` with the elapsed time in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}

/** Outcome of a promise, without throwing. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Settles a promise into an {@linkcode Outcome}, so a rejection can be inspected later without being unhandled. */
export function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));
}

// ---------------------------------------------------------------- secsock on loopback

/** A free TCP port on 127.0.0.1: bind port 0, read it, close. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Connects a secsock client to 127.0.0.1:port, verifying `servername`
 * ("localhost" unless given; a string is the servername).
 */
export function connectLocal(
  ctx: SecureSocketContext,
  port: number,
  options: string | SecureSocketOptions = {},
): Promise<SecureSocket> {
  const opts = typeof options === "string" ? { servername: options } : options;
  return SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: "localhost", ...opts, port });
}

/** Accepts one connection on `listener` and runs its handshake; the socket is closed if that fails. */
export async function acceptHandshake(listener: SecureSocketListener): Promise<SecureSocket> {
  const socket = await listener.accept();
  try {
    await socket.handshake();
  } catch (error) {
    socket.close();
    throw error;
  }
  return socket;
}

/** Echoes until the peer's close_notify (or EOF), then sends ours (or FIN); returns what it received. */
export async function echoUntilEnd(
  conn: Reader & Writer & { closeWrite(): Promise<void> },
): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    await writeAll(conn, buf.subarray(0, n));
  }
  await conn.closeWrite();
  return concat(chunks);
}

/** Sends our close_notify and asserts (within `ms`) that the peer's comes back: read() then resolves null. */
export async function closeBothWays(
  socket: SecureSocket,
  ms = 10_000,
  what = "the peer's close_notify",
): Promise<void> {
  await socket.closeWrite();
  assert.equal(await within(socket.read(new Uint8Array(16)), ms, what), null);
}

/** What a server saw in a handshake. */
export interface HandshakeView {
  protocol: string | null;
  servername: string | null;
}

/** An `onSocket` hook for {@linkcode echoServer}: runs the handshake and records what the server saw in `seen`. */
export function recordHandshake(seen: HandshakeView[]): (socket: SecureSocket) => Promise<void> {
  return async (socket) => {
    await socket.handshake();
    seen.push({ protocol: socket.protocol, servername: socket.servername });
  };
}

/** Options of {@linkcode TestServer}. */
export interface TestServerOptions {
  /** Handshake time limit of accepted sockets (ms). */
  handshakeTimeout?: number;
  /** Serve one connection at a time: accept the next once the handler is done with the last. */
  sequential?: boolean;
  /** Accept this many connections, then stop listening. */
  limit?: number;
  /**
   * Leave a socket open once its handler succeeded, for the test to go on
   * with (`sockets`); `close()` closes it. A failed one is closed at once.
   */
  keepOpen?: boolean;
}

/**
 * The one secsock test server: a listener on 127.0.0.1 (free port) that runs
 * `handler` for every accepted socket (then closes it, unless `keepOpen`) and
 * keeps each outcome in accept order. Accept errors do not stop it; they are
 * kept in `acceptErrors`. Every wait is on an event (an accept, an outcome,
 * the stop), never a polling sleep, and bounded by a timeout.
 */
export class TestServer<T> {
  readonly listener: SecureSocketListener;
  readonly sockets: SecureSocket[] = [];
  readonly acceptErrors: unknown[] = [];
  readonly #outcomes: Promise<Outcome<T>>[] = [];
  readonly #loop: Promise<void>;
  #stopped = false;
  #waiters: (() => void)[] = [];

  constructor(
    ctx: SecureSocketContext,
    handler: (socket: SecureSocket, index: number) => Promise<T>,
    options: TestServerOptions = {},
  ) {
    const listener = SecureSocketListener.listen(ctx, {
      hostname: "127.0.0.1",
      port: 0,
      handshakeTimeout: options.handshakeTimeout,
    });
    this.listener = listener;
    const limit = options.limit ?? Infinity;
    this.#loop = (async () => {
      while (!this.#stopped && this.#outcomes.length < limit) {
        let socket: SecureSocket;
        try {
          socket = await listener.accept();
        } catch (error) {
          if (this.#stopped) return;
          this.acceptErrors.push(error);
          this.#notify();
          continue;
        }
        this.sockets.push(socket);
        const outcome = settle(handler(socket, this.#outcomes.length)).then((result) => {
          if (!(result.ok && options.keepOpen)) socket.close();
          return result;
        });
        this.#outcomes.push(outcome);
        this.#notify();
        if (options.sequential) await outcome;
      }
      this.stopAccepting();
    })();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  /** How many connections were accepted so far. */
  get accepted(): number {
    return this.#outcomes.length;
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    waiters.forEach((wake) => wake());
  }

  /** Waits (on events) until `holds()`; fails once the server stopped without it. */
  async #until(holds: () => boolean, what: string): Promise<void> {
    while (!holds()) {
      if (this.#stopped) throw new Error(`the server stopped before ${what}`);
      await new Promise<void>((wake) => this.#waiters.push(wake));
    }
  }

  /** The outcome of the `index`-th accepted connection (0-based). */
  outcome(index: number, timeoutMs = 30_000): Promise<Outcome<T>> {
    return within(
      this.#until(() => this.#outcomes.length > index, `connection #${index} was accepted`).then(() =>
        this.#outcomes[index]
      ),
      timeoutMs,
      `connection #${index}`,
    );
  }

  /** Waits until `count` accept errors were seen. */
  waitForAcceptErrors(count: number, timeoutMs = 30_000): Promise<void> {
    return within(
      this.#until(() => this.acceptErrors.length >= count, `${count} accept errors`),
      timeoutMs,
      `${count} accept errors (saw ${this.acceptErrors.length})`,
    );
  }

  /** Closes the listener; connections already accepted go on. Idempotent. */
  stopAccepting(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.listener.close();
    this.#notify();
  }

  /** Stops accepting and waits for every accepted connection to finish on its own; their outcomes. */
  async drain(): Promise<Outcome<T>[]> {
    this.stopAccepting();
    await this.#loop;
    return await Promise.all(this.#outcomes);
  }

  /** Stops accepting, closes every accepted socket, and waits for the handlers. */
  async close(): Promise<void> {
    this.stopAccepting();
    for (const s of this.sockets) s.close();
    await this.#loop;
    await Promise.all(this.#outcomes);
  }
}

/**
 * A {@linkcode TestServer} that echoes: each connection echoes until the
 * client's close_notify, then closes gracefully. `errors` collects failures;
 * `close()` waits for the connections to end on their own.
 */
export function echoServer(ctx: SecureSocketContext, onSocket?: (s: SecureSocket) => void | Promise<void>) {
  const errors: unknown[] = [];
  const server = new TestServer(ctx, async (socket) => {
    try {
      await onSocket?.(socket);
      await echoUntilEnd(socket);
    } catch (error) {
      errors.push(error);
    }
  });
  return {
    port: server.port,
    errors,
    sockets: server.sockets,
    async close() {
      await server.drain();
    },
  };
}

// ---------------------------------------------------------------- child processes

/** Spawns `command` with piped stdio, in tests/fixtures/ unless `cwd` says otherwise. */
export function spawnPiped(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  return new Deno.Command(command, {
    args,
    cwd: options.cwd ?? fixturePath(""),
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Absolute path of a peer script in tests/peers/. */
export function peerScript(name: string): string {
  return new URL(`./peers/${name}`, import.meta.url).pathname;
}

/** A child process peer with its combined output collected. */
export interface Peer {
  port: number;
  process: Deno.ChildProcess;
  /** Everything the peer printed so far (stdout + stderr). */
  output(): string;
  /** Writes to the peer's stdin. */
  send(text: string | Uint8Array): Promise<void>;
  /** Waits until the output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Kills the process (if still running) and waits for it. */
  close(): Promise<Deno.CommandStatus>;
}

/** Starts a command, collecting its output. */
export function spawnPeer(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Peer {
  const process = spawnPiped(command, args, options);
  let output = "";
  const listeners = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const chunk of stream) {
      output += d.decode(chunk, { stream: true });
      listeners.forEach((l) => l());
    }
  };
  const pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
  const ended = pumps.then(() => {}, () => {});
  const writer = process.stdin.getWriter();
  let status: Promise<Deno.CommandStatus> | null = null;
  const peer: Peer = {
    port: 0,
    process,
    output: () => output,
    async send(text) {
      await writer.write(typeof text === "string" ? enc(text) : text);
    },
    waitFor(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        let settled = false;
        const finish = () => {
          settled = true;
          clearTimeout(timer);
          listeners.delete(check);
        };
        const check = () => {
          const m = settled ? null : output.match(pattern);
          if (m) {
            finish();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          if (settled) return;
          finish();
          reject(new Error(`timed out waiting for ${pattern} in output of ${command}:\n${output}`));
        }, timeoutMs);
        // Both streams end once the peer has exited and all it printed was
        // read: nothing can match after that. (No timer is left behind.)
        void ended.then(() => {
          check();
          if (settled) return;
          finish();
          reject(new Error(`${command} exited before printing ${pattern}:\n${output}`));
        });
        listeners.add(check);
        check();
      });
    },
    close() {
      status ??= (async () => {
        try {
          await writer.close();
        } catch { /* already closed */ }
        try {
          process.kill("SIGTERM");
        } catch { /* already exited */ }
        const s = await process.status;
        await pumps;
        return s;
      })();
      return status;
    },
  };
  return peer;
}

/**
 * Runs a Deno script (`deno run -A`) that prints "LISTENING <port>" once it
 * listens: waits for that line (bounded) and sets the peer's port. A script
 * that does not get there is stopped.
 */
export async function denoServerPeer(
  script: string | URL,
  args: string[] = [],
  options: { env?: Record<string, string> } = {},
): Promise<Peer> {
  const path = script instanceof URL ? script.pathname : script;
  const peer = spawnPeer(Deno.execPath(), ["run", "-A", path, ...args], options);
  try {
    peer.port = Number((await peer.waitFor(/^LISTENING (\d+)$/m, 30_000))[1]);
  } catch (error) {
    await stopPeer(peer);
    throw error;
  }
  return peer;
}

/** Runs a Node.js script from tests/peers/ with arguments; returns the peer. */
export function nodePeer(script: string, args: string[] = []): Peer {
  return spawnPeer("node", [peerScript(script), ...args]);
}

/** Stops a peer and waits for it and its output. */
export function stopPeer(peer: Peer): Promise<Deno.CommandStatus> {
  return peer.close();
}

/**
 * Waits (bounded) for a peer to exit on its own, then stops it (killing it on
 * timeout). Returns its exit status and whether it exited by itself.
 */
export async function waitExit(peer: Peer, ms = 10_000): Promise<{ status: Deno.CommandStatus; exited: boolean }> {
  let exited = true;
  try {
    await within(peer.process.status, ms, "peer exit");
  } catch {
    exited = false;
  }
  const status = await stopPeer(peer);
  return { status, exited };
}

/** Runs a command to completion (bounded by `timeoutSeconds` via coreutils timeout) and returns its output. */
export async function run(
  command: string,
  args: string[],
  timeoutSeconds = 20,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("timeout", {
    args: ["-k", "2", String(timeoutSeconds), command, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

/**
 * Whether an optional peer program (gnutls-cli, curl, nginx…) is installed.
 * Tests use it as `ignore: !hasPeer("curl")`; in CI (SECSOCK_REQUIRE_PEERS=1)
 * a missing peer is an error instead of a skip.
 */
export function hasPeer(command: string): boolean {
  let found = false;
  try {
    found = new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    found = false;
  }
  if (!found && Deno.env.get("SECSOCK_REQUIRE_PEERS") === "1") {
    throw new Error(`${command} is required in CI (SECSOCK_REQUIRE_PEERS=1) but is not installed`);
  }
  return found;
}

/**
 * A capability a test probes for (the legacy provider's TLS 1.0/1.1, curl's
 * HTTP/2, `--expose-gc`): returns whether it is there, with `missing` the
 * reason it is not (null when it is). In CI (SECSOCK_REQUIRE_PEERS=1) a
 * missing capability is an error instead of a skip, like a missing peer.
 */
export function hasCapability(what: string, missing: string | null): boolean {
  if (missing !== null && Deno.env.get("SECSOCK_REQUIRE_PEERS") === "1") {
    throw new Error(`${what} is required in CI (SECSOCK_REQUIRE_PEERS=1) but is missing: ${missing}`);
  }
  return missing === null;
}
