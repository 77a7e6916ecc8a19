/**
 * The few host services secsock needs besides FFI — files, environment, TCP —
 * behind one interface, so lib/ is the same on Deno, Node.js and Bun. Deno's
 * own objects (`Deno.Conn`, `Deno.TcpListener`) satisfy these interfaces; on
 * Node.js and Bun, `node:net` sockets are wrapped to look like them.
 *
 * @module
 */
import { denoPlatform } from "./platform_deno.ts";

/**
 * The address of a TCP (or UDP) endpoint. `Deno.NetAddr` is one.
 *
 * @example
 * ```ts
 * import type { NetAddr } from "@secsock/secsock";
 * const addr: NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 8443 };
 * ```
 */
export interface NetAddr {
  /** The IP-based transport protocol. */
  transport: "tcp" | "udp";
  /** The IP address. */
  hostname: string;
  /** The port number. */
  port: number;
}

/** The address of a Unix domain socket. `Deno.UnixAddr` is one. */
export interface UnixAddr {
  /** The Unix domain socket transport protocol. */
  transport: "unix" | "unixpacket";
  /** The file system path to the socket. */
  path: string;
}

/** The address of a VSOCK endpoint. `Deno.VsockAddr` is one. */
export interface VsockAddr {
  /** The VSOCK transport protocol. */
  transport: "vsock";
  /** The context identifier (CID). */
  cid: number;
  /** The port number. */
  port: number;
}

/** The address of a connection, whatever the transport. `Deno.Addr` is one. */
export type Addr = NetAddr | UnixAddr | VsockAddr;

/**
 * A byte-stream connection a TLS socket runs over. `Deno.Conn` (from
 * `Deno.connect`, `Deno.listen`, …) is one; any object with these members works.
 *
 * @example
 * ```ts
 * import { type Conn, SecureSocket, SecureSocketContext } from "@secsock/secsock";
 * const conn: Conn = await Deno.connect({ hostname: "localhost", port: 8443 });
 * const tls = await SecureSocket.startTls(conn, new SecureSocketContext(), { hostname: "localhost" });
 * tls.close();
 * ```
 */
export interface Conn {
  /** Reads into `p`; resolves to the number of bytes read, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes (some of) `p`; resolves to the number of bytes written. */
  write(p: Uint8Array): Promise<number>;
  /** Shuts down the write side (TCP FIN); reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes the connection at once. */
  close(): void;
  /** The local address. */
  readonly localAddr: Addr;
  /** The remote address. */
  readonly remoteAddr: Addr;
  /** TCP only: disables Nagle's algorithm (optional; a Deno.TcpConn has it). */
  setNoDelay?(noDelay?: boolean): void;
  /** Lets a pending read keep the process alive again (optional; `Deno.Conn` has it). */
  ref?(): void;
  /** A pending read no longer keeps the process alive (optional; `Deno.Conn` has it). */
  unref?(): void;
}

/** A TCP listener. `Deno.TcpListener` is one. */
export interface Listener {
  /** The bound address. */
  readonly addr: NetAddr;
  /** Waits for the next connection. */
  accept(): Promise<Conn>;
  /** Stops listening; pending `accept()` calls reject. */
  close(): void;
}

/** The host services of one runtime. */
export interface Platform {
  /** The operating system, with Deno's names: "linux", "darwin", "windows", … */
  readonly os: string;
  /** The CPU architecture, with Deno's names: "x86_64", "aarch64", … */
  readonly arch: string;
  /** An environment variable (may throw when the runtime denies access). */
  env(name: string): string | undefined;
  /** Reads a whole file. */
  readFileSync(path: string): Uint8Array<ArrayBuffer>;
  /** Appends text to a file, creating it. */
  appendTextFileSync(path: string, text: string): void;
  /** Opens a TCP connection. */
  connect(options: { hostname: string; port: number }): Promise<Conn>;
  /** Binds a TCP listener (synchronously, as `Deno.listen` does). */
  listen(options: { hostname: string; port: number }): Listener;
}

const runtimeGlobals = globalThis as { Deno?: { listen?: unknown } };

/** The host services of the runtime secsock runs on. */
export const platform: Platform = typeof runtimeGlobals.Deno?.listen === "function"
  ? denoPlatform
  : (await import("./platform_node.ts")).nodePlatform;
