/**
 * Host services on Node.js (and Bun): `node:fs`, `node:process` and
 * `node:net`, with `net.Socket` wrapped in a `Deno.Conn`-like object.
 *
 * @module
 */
import { appendFileSync, readFileSync } from "node:fs";
import dns from "node:dns";
import net from "node:net";
import process from "node:process";
import type { Conn, Listener, NetAddr, Platform } from "./platform.ts";

const OS_NAMES: Record<string, string> = { win32: "windows" };
const ARCH_NAMES: Record<string, string> = { x64: "x86_64", arm64: "aarch64" };

function netAddr(hostname: string | undefined, port: number | undefined): NetAddr {
  return { transport: "tcp", hostname: hostname ?? "", port: port ?? 0 };
}

/**
 * A `net.Socket` as a {@linkcode Conn}: `read()` pulls from the socket's
 * buffer in paused mode, so a slow reader stops the socket reading (TCP
 * backpressure); `write()` resolves once the bytes were handed to the kernel,
 * so the caller may reuse its buffer; half-close is supported both ways.
 */
class NodeConn implements Conn {
  readonly #socket: net.Socket;
  #leftover: Uint8Array | null = null;
  #ended = false;
  #closed = false;
  #error: Error | null = null;
  #waiters: (() => void)[] = [];
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    this.localAddr = netAddr(socket.localAddress, socket.localPort);
    this.remoteAddr = netAddr(socket.remoteAddress, socket.remotePort);
    socket.on("readable", () => this.#wake());
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (error) => {
      this.#error ??= error;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) throw new Error("the connection was closed");
      const chunk: Uint8Array | null = this.#leftover ?? this.#socket.read();
      this.#leftover = null;
      if (chunk !== null && chunk.length > 0) {
        const n = Math.min(chunk.length, p.length);
        p.set(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (n < chunk.length) this.#leftover = chunk.subarray(n);
        return n;
      }
      if (this.#error) throw this.#error;
      if (this.#ended || this.#socket.readableEnded) return null;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error("the connection was closed"));
      if (this.#error) return reject(this.#error);
      this.#socket.write(p, (error) => (error ? reject(error) : resolve(p.length)));
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#closed || this.#socket.destroyed) return reject(new Error("the connection was closed"));
      this.#socket.end(() => resolve());
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#wake();
  }

  /** As `Deno.Conn.ref()`: the socket keeps the event loop alive again. */
  ref(): void {
    this.#socket.ref();
  }

  /** As `Deno.Conn.unref()`: the socket (and a read waiting on it) no longer keeps the event loop alive. */
  unref(): void {
    this.#socket.unref();
  }
}

/**
 * Binds at once when the host is an IP address: `net.Server#listen` looks the
 * host up with `dns.lookup` even then, which defers the bind to a later tick;
 * answering that lookup synchronously binds before `listen()` returns, so
 * `addr` (and its port, when 0 was asked for) is known immediately, as with
 * `Deno.listen`.
 */
function listenNow(server: net.Server, host: string, port: number): boolean {
  const family = net.isIP(host);
  if (family === 0) {
    server.listen(port, host);
    return false;
  }
  const lookup = dns.lookup;
  (dns as { lookup: unknown }).lookup = (...args: unknown[]) => {
    const callback = args[args.length - 1] as (error: null, address: string, family: number) => void;
    callback(null, host, family);
  };
  try {
    server.listen(port, host);
  } finally {
    dns.lookup = lookup;
  }
  return true;
}

class NodeListener implements Listener {
  readonly #server: net.Server;
  readonly #requested: NetAddr;
  readonly #queue: net.Socket[] = [];
  #waiters: { resolve: (conn: Conn) => void; reject: (error: Error) => void }[] = [];
  #error: Error | null = null;
  #closed = false;

  constructor(hostname: string, port: number) {
    const host = hostname === "localhost" ? "127.0.0.1" : hostname;
    this.#requested = netAddr(host, port);
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    this.#server = server;
    server.on("connection", (socket: net.Socket) => {
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(new NodeConn(socket));
      else this.#queue.push(socket);
    });
    server.on("error", (error: Error) => {
      this.#error ??= error;
      this.#rejectAll(error);
    });
    const immediate = listenNow(server, host, port);
    if (immediate && !server.listening) {
      // The bind failed; Node reports why on the next tick, to the handler above.
      server.close();
      throw new Error(`cannot listen on ${host}:${port}: the address is in use, not available or not permitted`);
    }
  }

  get addr(): NetAddr {
    const bound = this.#server.address();
    return bound && typeof bound === "object" ? netAddr(bound.address, bound.port) : { ...this.#requested };
  }

  accept(): Promise<Conn> {
    if (this.#closed) return Promise.reject(new Error("the listener was closed"));
    if (this.#error) return Promise.reject(this.#error);
    const socket = this.#queue.shift();
    if (socket) return Promise.resolve(new NodeConn(socket));
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #rejectAll(error: Error): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const socket of this.#queue.splice(0)) socket.destroy();
    this.#rejectAll(new Error("the listener was closed"));
  }
}

/** The Node.js implementation of {@linkcode Platform}. */
export const nodePlatform: Platform = {
  os: OS_NAMES[process.platform] ?? process.platform,
  arch: ARCH_NAMES[process.arch] ?? process.arch,
  env: (name) => process.env[name],
  readFileSync: (path) => {
    const data = readFileSync(path);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength) as Uint8Array<ArrayBuffer>;
  },
  appendTextFileSync: (path, text) => appendFileSync(path, text),
  connect: (options) =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: options.hostname, port: options.port, allowHalfOpen: true });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new NodeConn(socket));
      });
    }),
  listen: (options) => new NodeListener(options.hostname, options.port),
};
