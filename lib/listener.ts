/**
 * SecureSocketListener: a TCP listener whose connections are TLS server sockets.
 *
 * @module
 */
import type { SecureSocketContext } from "./context.ts";
import { shareContext } from "./context.ts";
import { SocketClosedError } from "./errors.ts";
import { acceptedSocket, checkHandshakeTimeout, type SecureSocket } from "./socket.ts";
import { type Conn, type Listener, type NetAddr, platform } from "../ffi/platform.ts";

/** Options of {@linkcode SecureSocketListener.listen}. */
export interface ListenOptions {
  /** Address to bind; default "0.0.0.0". */
  hostname?: string;
  /** Port to bind; 0 picks a free one (see `addr`). */
  port: number;
  /**
   * Handshake time limit for accepted sockets, in milliseconds, so a client
   * that never completes its handshake cannot hold the server's resources.
   * Default 120000 (two minutes, Node's `tls.Server` default); 0 or Infinity
   * turns it off. The clock starts when the socket's handshake starts (its
   * first read/write or `handshake()`); when it runs out the socket fails
   * with a HandshakeError and its connection is closed.
   */
  handshakeTimeout?: number;
}

/** The default handshake time limit of accepted sockets: Node's `tls.Server` default. */
const DEFAULT_HANDSHAKE_TIMEOUT = 120_000;

/**
 * Accepts TLS connections. `accept()` returns as soon as TCP is accepted; the
 * handshake runs on the socket's first read/write or explicit `handshake()`,
 * so one failing client never breaks the accept loop.
 *
 * @example
 * ```ts
 * import { SecureSocketContext, SecureSocketListener } from "@secsock/secsock";
 * const ctx = new SecureSocketContext();
 * ctx.useCertificateChainFile("tests/fixtures/server-chain.pem");
 * ctx.usePrivateKeyFile("tests/fixtures/server.key");
 * using listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
 * console.log(`listening on ${listener.addr.port}`);
 * ```
 */
export class SecureSocketListener implements AsyncIterable<SecureSocket>, Disposable {
  readonly #listener: Listener;
  readonly #context: SecureSocketContext;
  readonly #handshakeTimeout: number | undefined;
  #closed = false;

  private constructor(listener: Listener, context: SecureSocketContext, handshakeTimeout?: number) {
    this.#listener = listener;
    this.#context = context;
    this.#handshakeTimeout = handshakeTimeout;
  }

  /**
   * Binds a TCP port and returns the listener. Accepted sockets get a
   * handshake time limit (`handshakeTimeout`, 120 s unless told otherwise).
   *
   * @example
   * ```ts
   * import { SecureSocketContext, SecureSocketListener } from "@secsock/secsock";
   * const listener = SecureSocketListener.listen(new SecureSocketContext(), { port: 0, handshakeTimeout: 10_000 });
   * listener.close();
   * ```
   */
  static listen(context: SecureSocketContext, options: ListenOptions): SecureSocketListener {
    const handshakeTimeout = checkHandshakeTimeout(options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT);
    // The listener's own reference: closing `context` later does not stop it.
    const shared = shareContext(context);
    let listener;
    try {
      listener = platform.listen({ hostname: options.hostname ?? "0.0.0.0", port: options.port });
    } catch (error) {
      shared.close();
      throw error;
    }
    return new SecureSocketListener(listener, shared, handshakeTimeout);
  }

  /** The bound address. */
  get addr(): NetAddr {
    return this.#listener.addr;
  }

  /**
   * Waits for the next connection.
   *
   * @example
   * ```ts
   * import { SecureSocketContext, SecureSocketListener } from "@secsock/secsock";
   * const listener = SecureSocketListener.listen(new SecureSocketContext(), { port: 0 });
   * const socket = await listener.accept();
   * ```
   */
  async accept(): Promise<SecureSocket> {
    if (this.#closed) throw new SocketClosedError("SecureSocketListener");
    let conn: Conn;
    try {
      conn = await this.#listener.accept();
    } catch (error) {
      if (this.#closed) throw new SocketClosedError("SecureSocketListener");
      throw error;
    }
    try {
      conn.setNoDelay?.(true); // whole TLS records: no reason to wait for ACKs
    } catch {
      // not TCP, or already closed: the handshake will tell
    }
    return acceptedSocket(this.#context, conn, { handshakeTimeout: this.#handshakeTimeout });
  }

  /** Yields accepted sockets until the listener is closed. */
  async *[Symbol.asyncIterator](): AsyncIterator<SecureSocket> {
    while (!this.#closed) {
      try {
        yield await this.accept();
      } catch (error) {
        if (this.#closed) return;
        throw error;
      }
    }
  }

  /** Stops listening; idempotent. Accepted sockets stay open. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    this.#context.close(); // the listener's reference; accepted sockets hold their own
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
