/**
 * SecureSocket: one TLS connection. OpenSSL never touches a file descriptor:
 * the socket moves ciphertext between two memory BIOs and a `Conn`, and
 * drives `SSL_do_handshake`/`SSL_read`/`SSL_write` synchronously on the main
 * thread, so callbacks run inside those calls.
 *
 * @module
 */
import { libcrypto, libssl } from "../ffi/library.ts";
import { clearErrors, drainErrors, type OpenSSLErrorEntry } from "../ffi/errors.ts";
import { newMemoryBio } from "../ffi/bio.ts";
import { isNull, type Pointer, PointerSlot, readBytes, readCString, utf8 } from "../ffi/memory.ts";
import { freeX509, nameStackToStrings, stackElements } from "../ffi/x509.ts";
import { decodeSession, encodeSession, freeSession } from "../ffi/session.ts";
import { type Addr, type Conn, platform } from "../ffi/platform.ts";
import { certificateFromHandle, type X509Certificate } from "./certificate.ts";
import { type ContextCore, contextCore, type SecureSocketContext } from "./context.ts";
import {
  CertificateVerificationError,
  HandshakeError,
  SecureSocketError,
  SocketClosedError,
  TruncatedStreamError,
} from "./errors.ts";
import type { InfoCallback } from "./info.ts";
import { registerSocket, unregisterSocket } from "./registry.ts";
import { type SocketAccess, SocketCallbacks } from "./socket_callbacks.ts";
import { BufferPool } from "./buffer_pool.ts";
import { verifyErrorString, VerifyMode } from "./verify.ts";
import { checkPeerName, setPeerName } from "./hostname.ts";
import { verifyServersWith } from "./trust.ts";

/** Options for a client socket. */
export interface SecureSocketOptions {
  /**
   * Host name (or IP address) the peer's certificate must match; also sent as
   * SNI. A client needs it (or `servername`) unless `verifyHostname` is false.
   * No NUL, no leading dot, not empty (TypeError).
   */
  hostname?: string;
  /** Name sent as SNI and verified, when it differs from `hostname`. */
  servername?: string;
  /**
   * `false` opts out of checking the server's name: any name in a
   * certificate that chains to a trusted CA is accepted (a given name is
   * still sent as SNI). Default true: every client verifies a name, and
   * one without `hostname`/`servername` fails with a TypeError. A context
   * whose `verifyMode` lacks `VerifyMode.Peer` verifies nothing, names included.
   */
  verifyHostname?: boolean;
  /** Abort the handshake after this many milliseconds (default: no limit). */
  handshakeTimeout?: number;
  /** A client session saved from `socket.session`, to resume. */
  session?: Uint8Array;
}

/** Options of {@linkcode SecureSocket.connect}. */
export interface ConnectOptions extends SecureSocketOptions {
  /** Host to connect to (and, unless `servername` is given, to verify). */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** Options of {@linkcode SecureSocket.startTls}. */
export interface StartTlsOptions extends SecureSocketOptions {
  /** Act as the TLS server on this connection (default: client). */
  server?: boolean;
}

const SSL_ERROR_SSL = 1;
const SSL_ERROR_WANT_READ = 2;
const SSL_ERROR_WANT_WRITE = 3;
const SSL_ERROR_WANT_X509_LOOKUP = 4;
const SSL_ERROR_SYSCALL = 5;
const SSL_ERROR_ZERO_RETURN = 6;
const SSL_ERROR_WANT_CLIENT_HELLO_CB = 11;
const SSL_ERROR_WANT_RETRY_VERIFY = 12;
const SSL_CTRL_SET_TLSEXT_STATUS_REQ_TYPE = 65;
const TLSEXT_STATUSTYPE_OCSP = 1n;
const BIO_C_SET_BUF_MEM_EOF_RETURN = 130;
const TLSEXT_NAMETYPE_HOST_NAME = 0;

/** Plaintext handed to one SSL_write: four full records, then the ciphertext is flushed. */
const WRITE_CHUNK = 4 * 16384;
/** Transport read size of a busy connection: a few records at a time. */
const TRANSPORT_BUFFER = 64 * 1024;
/**
 * Transport read size of a quiet connection (a pending read holds its buffer,
 * so idle connections should hold little). Reads that fill it grow it, first
 * to RECORD_TRANSPORT_BUFFER, then to TRANSPORT_BUFFER; it comes back when the
 * traffic does.
 */
const SMALL_TRANSPORT_BUFFER = 1024;
/**
 * One full TLS record (16 KiB of plaintext, 256 bytes of expansion, the
 * header): a handshake flight fits, so handshakes do not allocate (and free)
 * buffers sized for bulk transfers.
 */
const RECORD_TRANSPORT_BUFFER = 16384 + 256 + 5;
/** Room for WRITE_CHUNK plus record overhead. */
const FLUSH_BUFFER = WRITE_CHUNK + 4 * 512;
/**
 * Room for a handshake flight (a certificate chain, and in OpenSSL 3.5 a
 * post-quantum key share) or a few small records.
 */
const SMALL_FLUSH_BUFFER = 8192;
/**
 * Shared by all sockets: a buffer is held only while its bytes are being
 * written. Handshakes and small writes take small buffers, so a burst of
 * handshakes does not allocate and free large ones (which fragments the
 * native heap that OpenSSL's long-lived state is allocated from).
 */
const flushBuffers = new BufferPool(FLUSH_BUFFER, 16);
const smallFlushBuffers = new BufferPool(SMALL_FLUSH_BUFFER, 64);

// A safety net only: SSL handles of sockets dropped without close() are freed when collected.
const leaked = new FinalizationRegistry<{ ssl: Pointer; key: bigint; core: ContextCore }>((held) => {
  unregisterSocket(held.key);
  libssl().SSL_free(held.ssl);
  held.core.release();
});

let attach: (socket: SecureSocket, conn: Conn, server: boolean) => void;
/** How every socket's SocketCallbacks read its private state. */
let socketAccess: SocketAccess;

/**
 * A TLS connection over a `Conn`, as client or server.
 *
 * @example
 * ```ts
 * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
 * const ctx = new SecureSocketContext({ ca: Deno.readTextFileSync("tests/fixtures/ca.pem") });
 * const socket = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443 });
 * await socket.write(new TextEncoder().encode("hello"));
 * await socket.closeWrite();
 * socket.close();
 * ```
 */
export class SecureSocket implements AsyncDisposable {
  /** The context the SSL was made from: its trampolines serve this SSL until it is freed. */
  readonly #core: ContextCore;
  /** The context whose settings and callbacks apply now (another one after SNI picks it). */
  #active: ContextCore;
  #ssl: Pointer | null;
  #rbio: Pointer;
  #wbio: Pointer;
  readonly #key: bigint;
  readonly #callbacks: SocketCallbacks;
  #conn: Conn | null = null;
  #server = false;
  /** The name the server must match (and SNI): from the options, or from connect()'s host. */
  #verifyName: string | null;
  readonly #verifyHostname: boolean;
  readonly #handshakeTimeout: number | undefined;
  #infoCallback: InfoCallback | null = null;
  #handshakePromise: Promise<void> | null = null;
  #handshakeDone = false;
  #fatal: unknown = null;
  #closed = false;
  #writeClosed = false;
  #transportEof = false;
  #inNative = 0;
  #inBuffer: Uint8Array<ArrayBuffer> | null = null;
  #filling: Promise<boolean> | null = null;
  /** The last queued drain, while any is queued. */
  #flushing: Promise<void> | null = null;
  #flushesQueued = 0;
  #lastErrors: OpenSSLErrorEntry[] = [];
  /** SSL_get_error of the last I/O call (0 after a success). */
  #sslError = 0;
  #readable: ReadableStream<Uint8Array> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;

  /**
   * A client socket, not yet connected: call `connect()` (or use the static
   * `SecureSocket.connect`). Set callbacks such as `setInfoCallback()` first.
   */
  constructor(context: SecureSocketContext, options: SecureSocketOptions = {}) {
    const core = contextCore(context);
    // Refuse names OpenSSL would not verify as written before making anything.
    const servername = checkPeerName(options.servername, "servername");
    const hostname = checkPeerName(options.hostname, "hostname");
    if (options.verifyHostname !== undefined && typeof options.verifyHostname !== "boolean") {
      throw new TypeError("`verifyHostname` must be a boolean");
    }
    const ssl = libssl();
    clearErrors();
    const handle = ssl.SSL_new(core.handle);
    if (isNull(handle)) throw new SecureSocketError("SSL_new failed");
    core.retain();
    this.#core = core;
    this.#active = core;
    this.#ssl = handle;
    this.#rbio = newMemoryBio();
    this.#wbio = newMemoryBio();
    // SSL_set_bio hands both BIOs to the SSL: SSL_free frees them.
    ssl.SSL_set_bio(handle, this.#rbio, this.#wbio);
    this.#verifyName = servername ?? hostname ?? null;
    this.#verifyHostname = options.verifyHostname ?? true;
    this.#handshakeTimeout = options.handshakeTimeout;
    this.#callbacks = new SocketCallbacks(this, core, socketAccess);
    this.#key = registerSocket(handle, this.#callbacks);
    leaked.register(this, { ssl: handle, key: this.#key, core }, this);
    if (core.infoCallback) ssl.SSL_set_info_callback(handle, core.infoTrampoline());
    if (options.session) this.#useSession(options.session);
  }

  #useSession(data: Uint8Array): void {
    const session = decodeSession(data);
    if (!session) throw new SecureSocketError("`session` is not a serialized TLS session", { openssl: drainErrors() });
    try {
      if (libssl().SSL_set_session(this.#live, session) !== 1) throw new SecureSocketError("cannot use the session");
    } finally {
      freeSession(session);
    }
  }

  static {
    attach = (socket, conn, server) => socket.#attach(conn, server);
    socketAccess = {
      ssl: (socket) => socket.#ssl!,
      active: (socket) => socket.#active,
      isServer: (socket) => socket.#server,
      infoCallback: (socket) => socket.#infoCallback,
      switchContext: (socket, next) => socket.#switchContext(next),
    };
  }

  /**
   * Connects over TCP and completes the TLS handshake as a client.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * const socket = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443 });
   * console.log(socket.protocol, socket.cipher);
   * socket.close();
   * ```
   */
  static async connect(context: SecureSocketContext, options: ConnectOptions): Promise<SecureSocket> {
    const socket = new SecureSocket(context, options);
    await socket.connect(options);
    return socket;
  }

  /**
   * Upgrades an established plain connection to TLS (STARTTLS), as client or
   * (with `server: true`) as server, and completes the handshake. A client
   * needs `hostname` or `servername` to verify (or `verifyHostname: false`);
   * without, it fails with a TypeError. On failure the connection is closed.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const conn = await Deno.connect({ hostname: "localhost", port: 8025 });
   * // ... exchange the protocol's plain-text STARTTLS command first ...
   * const tls = await SecureSocket.startTls(conn, new SecureSocketContext(), { hostname: "localhost" });
   * tls.close();
   * ```
   */
  static async startTls(
    conn: Conn,
    context: SecureSocketContext,
    options: StartTlsOptions = {},
  ): Promise<SecureSocket> {
    let socket: SecureSocket;
    try {
      socket = new SecureSocket(context, options);
    } catch (error) {
      conn.close();
      throw error;
    }
    try {
      socket.#attach(conn, options.server ?? false);
      await socket.handshake();
    } catch (error) {
      // The caller gets no socket to close: close it (and the connection) here.
      socket.close();
      try {
        conn.close(); // when attach failed before the socket owned it
      } catch {
        // already closed with the socket
      }
      throw error;
    }
    return socket;
  }

  #attach(conn: Conn, server: boolean): void {
    const ssl = libssl();
    const handle = this.#live;
    if (this.#conn) throw new SecureSocketError("socket is already connected", { openssl: [] });
    const mode = this.#active.verifyMode ?? (server ? VerifyMode.None : VerifyMode.Peer);
    if (!server) this.#checkClientName(mode);
    this.#conn = conn;
    this.#server = server;
    ssl.SSL_set_verify(handle, mode, null);
    if (server) {
      // Client certificates: the SSL_CTX's own store, the named CAs only (lib/trust.ts).
      ssl.SSL_set_accept_state(handle);
      return;
    }
    ssl.SSL_set_connect_state(handle);
    if (this.#active.requestOcsp) {
      ssl.SSL_ctrl(handle, SSL_CTRL_SET_TLSEXT_STATUS_REQ_TYPE, TLSEXT_STATUSTYPE_OCSP, null);
    }
    // Servers: the system store plus the named CAs, when the context trusts the system.
    const serverAuth = this.#active.serverAuthStore;
    if (serverAuth) verifyServersWith(handle, serverAuth);
    setPeerName(handle, this.#verifyName, this.#verifyHostname);
  }

  /**
   * A client verifies a name unless told not to in words: `verifyHostname:
   * false`, or a verify mode without VerifyMode.Peer (no verification at all).
   */
  #checkClientName(mode: number): void {
    if (this.#verifyName !== null || !this.#verifyHostname || (mode & VerifyMode.Peer) === 0) return;
    throw new TypeError(
      "a client socket verifies the server's name: give `hostname` (or `servername`), " +
        "or opt out in words with `verifyHostname: false`",
    );
  }

  /**
   * Sets this socket's handshake information callback (§3); it overrides the
   * context's. Set it before the handshake to see every state.
   *
   * @example
   * ```ts
   * import { formatInfo, SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = new SecureSocket(new SecureSocketContext(), { hostname: "localhost" });
   * socket.setInfoCallback((s, where, ret) => console.log(formatInfo(s, where, ret)));
   * await socket.connect({ hostname: "localhost", port: 8443 });
   * ```
   */
  setInfoCallback(cb: InfoCallback | null): void {
    const handle = this.#live;
    if (cb !== null && typeof cb !== "function") throw new TypeError("setInfoCallback() takes a function or null");
    this.#infoCallback = cb;
    if (cb) libssl().SSL_set_info_callback(handle, this.#core.infoTrampoline());
  }

  /**
   * Opens the TCP connection and performs the handshake as a client. The
   * server must match the constructor's `servername`/`hostname`, or else
   * `options.hostname` (unless the constructor said `verifyHostname: false`).
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = new SecureSocket(new SecureSocketContext(), { hostname: "localhost" });
   * await socket.connect({ hostname: "localhost", port: 8443 });
   * ```
   */
  async connect(options: { hostname: string; port: number }): Promise<void> {
    this.#live;
    if (this.#conn) throw new SecureSocketError("socket is already connected", { openssl: [] });
    // Without a name from the constructor, the host connected to is the one verified (as SecureSocket.connect does).
    this.#verifyName ??= checkPeerName(options?.hostname, "hostname") ?? null;
    this.#checkClientName(this.#active.verifyMode ?? VerifyMode.Peer);
    let conn: Conn;
    try {
      conn = await platform.connect({ hostname: options.hostname, port: options.port });
    } catch (error) {
      this.close();
      throw error;
    }
    if (this.#closed) {
      conn.close();
      throw new SocketClosedError("SecureSocket");
    }
    try {
      this.#attach(conn, false);
      await this.handshake();
    } catch (error) {
      this.close();
      try {
        conn.close(); // when attach failed before the socket owned it
      } catch {
        // already closed with the socket
      }
      throw error;
    }
  }

  /**
   * Performs the TLS handshake (once; later calls return the same promise).
   * Reads and writes start it implicitly.
   *
   * @example
   * ```ts
   * import { SecureSocketContext, SecureSocketListener } from "@secsock/secsock";
   * const listener = SecureSocketListener.listen(new SecureSocketContext(), { port: 0 });
   * const socket = await listener.accept();
   * await socket.handshake();
   * console.log(socket.protocol);
   * ```
   */
  handshake(): Promise<void> {
    if (this.#closed) return Promise.reject(new SocketClosedError("SecureSocket"));
    if (this.#handshakeDone) return Promise.resolve();
    return this.#handshakePromise ??= this.#runHandshake();
  }

  async #runHandshake(): Promise<void> {
    if (!this.#conn) {
      throw new SecureSocketError("socket is not connected: call connect() first", { openssl: [] });
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (this.#handshakeTimeout !== undefined) {
      timer = setTimeout(() => {
        this.#fail(new HandshakeError(`TLS handshake timed out after ${this.#handshakeTimeout} ms`, { openssl: [] }));
        this.close();
      }, this.#handshakeTimeout);
    }
    try {
      for (;;) {
        const result = this.#doHandshake();
        const error = this.#sslError;
        await this.#afterCall();
        if (result === 1) break;
        switch (error) {
          case SSL_ERROR_WANT_READ:
            // Still wanting input after the EOF mark: never spin, fail.
            if (this.#transportEof) throw this.#handshakeFailure(error);
            await this.#fill();
            continue;
          case SSL_ERROR_WANT_WRITE:
            continue;
          case SSL_ERROR_WANT_X509_LOOKUP:
          case SSL_ERROR_WANT_CLIENT_HELLO_CB: {
            const pending = this.#callbacks.pendingChoice(error === SSL_ERROR_WANT_X509_LOOKUP);
            if (pending) await pending;
            this.#checkOpen();
            this.#callbacks.errors.rethrow();
            continue;
          }
          case SSL_ERROR_WANT_RETRY_VERIFY: {
            const pending = this.#callbacks.takeVerifyPending();
            await Promise.all(pending);
            this.#checkOpen();
            this.#callbacks.errors.rethrow();
            continue;
          }
          default:
            throw this.#handshakeFailure(error);
        }
      }
      this.#handshakeDone = true;
      this.#renewBios();
    } catch (error) {
      // A timeout closes the socket: report the timeout, not the closed socket.
      this.#fail(error);
      throw this.#fatal;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  /**
   * Starts one OpenSSL I/O call: the live SSL, with a clean error queue (so
   * what the call leaves there is its own). Pair with `#leave`. The native
   * call itself cannot throw: every callback catches its own exceptions.
   */
  #enter(): Pointer {
    const ssl = this.#live;
    if (this.#inNative > 0) {
      throw new SecureSocketError("SecureSocket I/O cannot be started from inside an OpenSSL callback", {
        openssl: [],
      });
    }
    // Failures drain the queue (see #leave), so it is normally empty: peeking
    // is cheaper than clearing on every record.
    if (libcrypto().ERR_peek_error() !== 0n) clearErrors();
    this.#inNative++;
    return ssl;
  }

  /** Ends an I/O call: records SSL_get_error in `#sslError` and returns `result`. */
  #leave(ssl: Pointer, result: number): number {
    this.#inNative--;
    // close() from inside a callback is deferred until OpenSSL has returned.
    if (this.#closed) {
      this.#freeNative();
      this.#callbacks.errors.rethrow();
      throw new SocketClosedError("SecureSocket");
    }
    if (result > 0) {
      this.#sslError = 0;
      return result;
    }
    const error = this.#sslError = libssl().SSL_get_error(ssl, result);
    // The queue is per thread and shared by every socket: take this call's
    // reasons now, before any await lets another socket clear or add to it.
    if (error === SSL_ERROR_SSL || error === SSL_ERROR_SYSCALL) {
      // A repeated failure may leave nothing new: keep the first call's reasons.
      const drained = drainErrors();
      if (drained.length > 0) this.#lastErrors = drained;
    }
    return result;
  }

  /** SSL_do_handshake, with #enter/#leave. */
  #doHandshake(): number {
    const ssl = this.#enter();
    return this.#leave(ssl, libssl().SSL_do_handshake(ssl));
  }

  /**
   * Sends what OpenSSL produced (alerts included), then rethrows a callback's
   * exception. Null when there is nothing to wait for, so the per-record
   * paths skip an await.
   */
  #afterCall(): Promise<void> | null {
    if (this.#callbacks.errors.pending) return this.#flushThenRethrow();
    if (this.#flushesQueued > 0 || this.#outputPending()) return this.#flush();
    return null;
  }

  async #flushThenRethrow(): Promise<void> {
    // The call is failing anyway: a dead transport must not hide the callback's error.
    await this.#flush().catch(() => {});
    this.#callbacks.errors.rethrow();
  }

  /**
   * Memory BIOs keep the largest buffer they ever held. After the handshake,
   * when both are empty, fresh ones replace them, so an idle connection does
   * not keep its handshake flight (certificate chains) allocated.
   */
  #renewBios(): void {
    const crypto = libcrypto();
    if (this.#closed || this.#transportEof) return;
    if (Number(crypto.BIO_ctrl_pending(this.#rbio)) > 0 || Number(crypto.BIO_ctrl_pending(this.#wbio)) > 0) return;
    if (this.#flushesQueued > 0) return;
    const rbio = newMemoryBio();
    const wbio = newMemoryBio();
    // Both new and distinct: SSL_set_bio frees the old pair.
    libssl().SSL_set_bio(this.#ssl!, rbio, wbio);
    this.#rbio = rbio;
    this.#wbio = wbio;
  }

  /** A callback threw during a call that otherwise succeeded: send any alert, then fail the connection with its error. */
  async #failWithCallbackError(): Promise<never> {
    await this.#flush().catch(() => {});
    try {
      this.#callbacks.errors.rethrow();
    } catch (error) {
      throw this.#fail(error);
    }
    throw new SecureSocketError("internal error: no callback error to rethrow", { openssl: [] });
  }

  /** True when OpenSSL has ciphertext waiting to be sent. */
  #outputPending(): boolean {
    return !this.#closed && Number(libcrypto().BIO_ctrl_pending(this.#wbio)) > 0;
  }

  #handshakeFailure(error: number): Error {
    const openssl = this.#takeErrors();
    const ssl = this.#live;
    const verifyResult = Number(libssl().SSL_get_verify_result(ssl));
    const failure = this.#callbacks.verifyFailure;
    const certificateFailed = openssl.some((e) => /certificate verify failed/i.test(e.reason));
    if (failure || (certificateFailed && verifyResult !== 0)) {
      const code = failure?.code ?? verifyResult;
      const depth = failure?.depth ?? 0;
      return new CertificateVerificationError(
        `certificate verification failed at depth ${depth}: ${verifyErrorString(code)}`,
        { code, depth, openssl },
      );
    }
    if (this.#transportEof) {
      return new HandshakeError("the peer closed the connection during the TLS handshake", { openssl });
    }
    const what = error === SSL_ERROR_SYSCALL ? "TLS handshake failed (transport error)" : "TLS handshake failed";
    return new HandshakeError(what, { openssl });
  }

  /** The OpenSSL reasons the last failed call left, once. */
  #takeErrors(): OpenSSLErrorEntry[] {
    const entries = this.#lastErrors;
    this.#lastErrors = [];
    return entries;
  }

  /** A transport error: during the handshake, the handshake failed. */
  #transportFailure(what: string, cause: unknown): SecureSocketError {
    const message = `${what} the transport failed: ${(cause as Error)?.message ?? cause}`;
    return this.#handshakeDone
      ? new SecureSocketError(message, { cause, openssl: [] })
      : new HandshakeError(message, { cause, openssl: [] });
  }

  /** Records the first fatal error; later operations rethrow it. */
  #fail(error: unknown): unknown {
    this.#fatal ??= error;
    return error;
  }

  get #live(): Pointer {
    if (this.#closed || !this.#ssl) throw new SocketClosedError("SecureSocket");
    return this.#ssl;
  }

  #checkOpen(): void {
    if (this.#closed) throw new SocketClosedError("SecureSocket");
  }

  /**
   * Reads more ciphertext from the transport into the read BIO; false at EOF.
   * `into` is the caller's plaintext buffer: a quiet connection reads the
   * ciphertext there (the read BIO copies it before SSL_read overwrites it),
   * so an idle connection's pending read holds no buffer of its own.
   */
  #fill(into?: Uint8Array<ArrayBuffer>): Promise<boolean> {
    if (this.#transportEof) return Promise.resolve(false);
    // Concurrent readers share one transport read.
    return this.#filling ??= this.#readTransport(into);
  }

  async #readTransport(into: Uint8Array<ArrayBuffer> | undefined): Promise<boolean> {
    try {
      const conn = this.#conn!;
      const buffer = this.#transportBuffer(into);
      let n: number | null;
      try {
        n = await conn.read(buffer);
      } catch (error) {
        this.#checkOpen();
        throw this.#transportFailure("reading from", error);
      }
      this.#checkOpen();
      const crypto = libcrypto();
      if (n === null) {
        this.#transportEof = true;
        // Without this, SSL_read on an empty memory BIO asks for more data forever.
        crypto.BIO_ctrl(this.#rbio, BIO_C_SET_BUF_MEM_EOF_RETURN, 0n, null);
        return false;
      }
      crypto.BIO_write(this.#rbio, buffer, n);
      if (n === buffer.length && buffer.length < TRANSPORT_BUFFER) {
        this.#inBuffer = new Uint8Array(
          buffer.length < RECORD_TRANSPORT_BUFFER ? RECORD_TRANSPORT_BUFFER : TRANSPORT_BUFFER,
        );
      } else if (n < SMALL_TRANSPORT_BUFFER && this.#inBuffer && this.#inBuffer.length > SMALL_TRANSPORT_BUFFER) {
        this.#inBuffer = null;
      }
      return true;
    } finally {
      this.#filling = null;
    }
  }

  /**
   * Where the next transport read goes. Busy (reads filled the last buffer):
   * a buffer of several records. Quiet: the caller's buffer when it holds at
   * least SMALL_TRANSPORT_BUFFER, else a small one of the socket's own.
   */
  #transportBuffer(into: Uint8Array<ArrayBuffer> | undefined): Uint8Array<ArrayBuffer> {
    const own = this.#inBuffer;
    if (own && own.length > SMALL_TRANSPORT_BUFFER) return own;
    if (into && into.length >= SMALL_TRANSPORT_BUFFER) {
      this.#inBuffer = null;
      return into;
    }
    return own ?? (this.#inBuffer = new Uint8Array(SMALL_TRANSPORT_BUFFER));
  }

  /** Writes whatever ciphertext OpenSSL has produced to the transport, in order. */
  #flush(): Promise<void> {
    // Drains run one after another (they share the transport); with none
    // queued, start at once instead of chaining promises on every record.
    const idle = this.#flushesQueued === 0;
    this.#flushesQueued++;
    const next = idle ? this.#drain() : this.#flushing!.then(() => this.#drain(), () => this.#drain());
    this.#flushing = next;
    return next;
  }

  async #drain(): Promise<void> {
    const crypto = libcrypto();
    try {
      for (;;) {
        if (this.#closed) return;
        const pending = Number(crypto.BIO_ctrl_pending(this.#wbio));
        if (pending === 0) return;
        const pool = pending <= SMALL_FLUSH_BUFFER ? smallFlushBuffers : flushBuffers;
        const buffer = pool.take();
        let n: number;
        try {
          n = crypto.BIO_read(this.#wbio, buffer, buffer.length);
          if (n <= 0) return;
          const conn = this.#conn!;
          const bytes = n === buffer.length ? buffer : buffer.subarray(0, n);
          for (let sent = 0; sent < n;) sent += await conn.write(sent === 0 ? bytes : bytes.subarray(sent));
        } catch (error) {
          this.#checkOpen();
          throw this.#transportFailure("writing to", error);
        } finally {
          pool.release(buffer);
        }
        // A short read emptied the BIO; whatever OpenSSL adds later comes with its own flush.
        if (n < buffer.length) return;
      }
    } finally {
      // Idle again: drop the chain, so a quiet connection holds no settled promise.
      if (--this.#flushesQueued === 0) this.#flushing = null;
    }
  }

  #ready(): Promise<void> | null {
    if (this.#fatal !== null) throw this.#fatal;
    this.#live;
    if (!this.#handshakeDone) return this.handshake();
    this.#handshakePromise = null; // settled: nothing to keep
    return null;
  }

  /**
   * Reads decrypted bytes into `p`. Resolves to the number of bytes read, or
   * null once the peer has sent close_notify. A connection that ends without
   * close_notify rejects with {@linkcode TruncatedStreamError}.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * const buf = new Uint8Array(16384);
   * const n = await socket.read(buf);
   * ```
   */
  async read(p: Uint8Array): Promise<number | null> {
    const pending = this.#ready();
    if (pending) await pending;
    if (p.length === 0) return 0;
    const buffer = p as Uint8Array<ArrayBuffer>;
    for (;;) {
      const result = this.#readRecords(buffer);
      if (result > 0) {
        // Reading can make OpenSSL answer (a KeyUpdate, an alert): send it,
        // and a callback that threw meanwhile fails the read.
        if (this.#callbacks.errors.pending) await this.#failWithCallbackError();
        if (this.#outputPending()) await this.#flush();
        return result;
      }
      const error = this.#sslError;
      const after = this.#afterCall();
      if (after) await after;
      switch (error) {
        case SSL_ERROR_WANT_READ:
          // After EOF the mark makes SSL_read report the truncation; never spin.
          if (this.#transportEof) throw this.#fail(this.#ioFailure(SSL_ERROR_SYSCALL, "read"));
          await this.#fill(buffer);
          continue;
        case SSL_ERROR_ZERO_RETURN:
          return null;
        default:
          throw this.#fail(this.#ioFailure(error, "read"));
      }
    }
  }

  /**
   * SSL_read into `buffer`, going on while whole records are already waiting
   * in the read BIO, so one read() can return several records. Returns the
   * bytes read, or the failing SSL_read result (error in `#sslError`) when
   * nothing was read; a failure after some bytes waits for the next read().
   */
  #readRecords(buffer: Uint8Array<ArrayBuffer>): number {
    const total = Math.min(buffer.length, 0x7fffffff);
    let ssl = this.#enter();
    let result = this.#leave(ssl, libssl().SSL_read(ssl, buffer, total));
    if (result <= 0) return result;
    let offset = result;
    while (offset < total && Number(libcrypto().BIO_ctrl_pending(this.#rbio)) > 0) {
      ssl = this.#enter();
      result = this.#leave(ssl, libssl().SSL_read(ssl, buffer.subarray(offset), total - offset));
      if (result <= 0) {
        // OpenSSL repeats a close_notify or a fatal error on the next call:
        // deliver what was read first. A callback's error must not wait.
        if (this.#callbacks.errors.pending) this.#callbacks.errors.rethrow();
        this.#sslError = 0;
        break;
      }
      offset += result;
    }
    return offset;
  }

  #ioFailure(error: number, what: string): Error {
    const openssl = this.#takeErrors();
    if (this.#transportEof && (error === SSL_ERROR_SYSCALL || openssl.some((e) => /unexpected eof/i.test(e.reason)))) {
      return new TruncatedStreamError(
        "the peer closed the connection without sending close_notify (the data may be truncated)",
        { openssl },
      );
    }
    return new SecureSocketError(`TLS ${what} failed`, { openssl });
  }

  /**
   * Encrypts and sends all of `p`; resolves once the ciphertext has been handed
   * to the transport (so a slow reader slows the writer down).
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * await socket.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
   * ```
   */
  async write(p: Uint8Array): Promise<number> {
    const pending = this.#ready();
    if (pending) await pending;
    if (this.#writeClosed) throw new SecureSocketError("write after closeWrite()", { openssl: [] });
    let offset = 0;
    while (offset < p.length) {
      const length = Math.min(p.length - offset, WRITE_CHUNK);
      const chunk = (offset === 0 && length === p.length ? p : p.subarray(offset, offset + length)) as Uint8Array<
        ArrayBuffer
      >;
      const ssl = this.#enter();
      const result = this.#leave(ssl, libssl().SSL_write(ssl, chunk, length));
      const error = this.#sslError;
      if (result <= 0) {
        await this.#afterCall();
        if (error === SSL_ERROR_WANT_READ && !this.#transportEof) {
          await this.#fill();
          continue;
        }
        throw this.#fail(this.#ioFailure(error, "write"));
      }
      offset += result;
      await this.#flush();
      if (this.#callbacks.errors.pending) await this.#failWithCallbackError();
    }
    return p.length;
  }

  /**
   * Sends close_notify and half-closes the transport; reading goes on until the
   * peer closes too. Idempotent.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * await socket.write(new TextEncoder().encode("request"));
   * await socket.closeWrite();
   * const reply = await new Response(socket.readable).text();
   * ```
   */
  async closeWrite(): Promise<void> {
    this.#live;
    if (this.#writeClosed) return;
    if (this.#handshakePromise && !this.#handshakeDone) await this.#handshakePromise;
    this.#writeClosed = true;
    if (this.#handshakeDone && this.#fatal === null) {
      const ssl = this.#enter();
      this.#leave(ssl, libssl().SSL_shutdown(ssl));
      drainErrors();
      await this.#afterCall();
    }
    try {
      await this.#conn?.closeWrite();
    } catch {
      // The peer may already have gone; close_notify was our part.
    }
  }

  /**
   * Closes the connection at once and frees its native state; idempotent.
   * It does not send close_notify: call `closeWrite()` first, or use
   * `await using`, which does both.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * socket.close();
   * socket.close(); // no-op
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#callbacks.socketClosed();
    // Inside an OpenSSL callback the SSL is still in use: #call frees it on return.
    if (this.#inNative === 0) this.#freeNative();
    try {
      this.#conn?.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  #freeNative(): void {
    const ssl = this.#ssl;
    if (!ssl) return;
    this.#ssl = null;
    leaked.unregister(this);
    unregisterSocket(this.#key);
    libssl().SSL_free(ssl);
    if (this.#active !== this.#core) this.#active.release();
    this.#core.release();
  }

  /** Sends close_notify (when the connection is healthy), then closes. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      if (!this.#closed && this.#handshakeDone && this.#fatal === null) await this.closeWrite();
    } catch {
      // Closing anyway.
    } finally {
      this.close();
    }
  }

  /** Decrypted data as a byte stream; cancelling it closes the socket. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: 16384,
      pull: async (controller) => {
        const request = controller.byobRequest!;
        const view = request.view as Uint8Array;
        const n = await this.read(view);
        if (n === null) {
          controller.close();
          request.respond(0);
        } else {
          request.respond(n);
        }
      },
      cancel: () => this.close(),
    });
  }

  /** A stream that encrypts and sends what is written; closing it sends close_notify. */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: () => this.closeWrite(),
      abort: () => this.close(),
    });
  }

  /**
   * The session, serialized, for resuming later with the `session` option; null
   * until it is resumable. In TLS 1.3 the server sends tickets after the
   * handshake, so read some data first.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * const first = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443 });
   * await first.read(new Uint8Array(1024));
   * const session = first.session;
   * first.close();
   * const second = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443, session: session! });
   * console.log(second.isSessionReused);
   * ```
   */
  get session(): Uint8Array | null {
    const ssl = libssl();
    const session = ssl.SSL_get1_session(this.#live);
    if (isNull(session)) return null;
    try {
      return ssl.SSL_SESSION_is_resumable(session) === 1 ? encodeSession(session) : null;
    } finally {
      freeSession(session);
    }
  }

  /** True when the handshake resumed a session instead of a full handshake. */
  get isSessionReused(): boolean {
    return libssl().SSL_session_reused(this.#live) === 1;
  }

  /**
   * Keying material exported from the session (RFC 5705 / RFC 8446 §7.5), equal on both ends.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * const key = socket.exportKeyingMaterial("EXPERIMENTAL my-protocol", 32);
   * ```
   */
  exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Uint8Array {
    const ssl = this.#live;
    if (!this.#handshakeDone) {
      throw new SecureSocketError("keying material needs a completed handshake", { openssl: [] });
    }
    if (!Number.isInteger(length) || length <= 0) throw new RangeError("length must be a positive integer");
    const out = new Uint8Array(length);
    const labelBytes = new TextEncoder().encode(label);
    const contextBytes = (context ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>;
    clearErrors();
    const ok = libssl().SSL_export_keying_material(
      ssl,
      out,
      BigInt(length),
      labelBytes,
      BigInt(labelBytes.length),
      contextBytes,
      BigInt(contextBytes.length),
      context === undefined ? 0 : 1,
    );
    if (ok !== 1) throw new SecureSocketError("cannot export keying material");
    return out;
  }

  /** The Finished message this end sent (for tls-unique channel binding), or null. */
  getFinished(): Uint8Array | null {
    return this.#finished(false);
  }

  /** The Finished message the peer sent, or null. */
  getPeerFinished(): Uint8Array | null {
    return this.#finished(true);
  }

  #finished(peer: boolean): Uint8Array | null {
    const ssl = this.#live;
    const out = new Uint8Array(64);
    const fn = peer ? libssl().SSL_get_peer_finished : libssl().SSL_get_finished;
    const length = Number(fn(ssl, out, BigInt(out.length)));
    return length > 0 ? out.slice(0, Math.min(length, out.length)) : null;
  }

  /**
   * Server, TLS 1.3: asks the client for a certificate after the handshake
   * (post-handshake authentication; the client must offer it with the
   * `postHandshakeAuth` option). The request is sent now; the certificate is
   * verified as it arrives, while reading, and then shows in `peerCertificate`.
   *
   * @example
   * ```ts
   * import { SecureSocketContext, SecureSocketListener, VerifyMode } from "@secsock/secsock";
   * const ctx = new SecureSocketContext({ verifyMode: VerifyMode.Peer | VerifyMode.PostHandshake });
   * const listener = SecureSocketListener.listen(ctx, { port: 0 });
   * const socket = await listener.accept();
   * await socket.handshake();
   * await socket.requestClientCertificate();
   * ```
   */
  async requestClientCertificate(): Promise<void> {
    const pending = this.#ready();
    if (pending) await pending;
    const ssl = this.#live;
    clearErrors();
    if (libssl().SSL_verify_client_post_handshake(ssl) !== 1) {
      throw new SecureSocketError("cannot request a client certificate after the handshake");
    }
    // The CertificateRequest goes out with the next handshake step.
    const result = this.#doHandshake();
    const error = this.#sslError;
    await this.#afterCall();
    if (result !== 1 && error !== SSL_ERROR_WANT_READ) throw this.#fail(this.#ioFailure(error, "handshake"));
  }

  /**
   * TLS 1.3: sends a KeyUpdate, rotating this end's traffic keys (and, with
   * `requestPeer`, asking the peer to rotate its own).
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * await socket.updateKeys(true);
   * ```
   */
  async updateKeys(requestPeer = false): Promise<void> {
    const pending = this.#ready();
    if (pending) await pending;
    clearErrors();
    if (libssl().SSL_key_update(this.#live, requestPeer ? 1 : 0) !== 1) {
      throw new SecureSocketError("cannot update keys (TLS 1.3 only)");
    }
    const result = this.#doHandshake();
    const error = this.#sslError;
    await this.#afterCall();
    if (result !== 1 && error !== SSL_ERROR_WANT_READ) throw this.#fail(this.#ioFailure(error, "key update"));
  }

  /** The peer's certificate, or null (none sent, or no handshake yet). */
  get peerCertificate(): X509Certificate | null {
    const x509 = libssl().SSL_get1_peer_certificate(this.#live);
    if (isNull(x509)) return null;
    try {
      return certificateFromHandle(x509);
    } finally {
      freeX509(x509);
    }
  }

  /** The chain the peer sent, its own certificate first. */
  get peerCertificateChain(): X509Certificate[] {
    const ssl = this.#live;
    const chain = stackElements(libssl().SSL_get_peer_cert_chain(ssl)).map(certificateFromHandle);
    // A server's view of the client chain omits the client's own certificate.
    if (this.#server) {
      const leaf = this.peerCertificate;
      if (leaf && chain[0]?.fingerprint256 !== leaf.fingerprint256) chain.unshift(leaf);
    }
    return chain;
  }

  /** The negotiated protocol, e.g. "TLSv1.3", or null before the handshake. */
  get protocol(): string | null {
    const ssl = this.#live;
    // SSL_is_init_finished: also right inside the info callback at HandshakeDone.
    return this.#handshakeDone || libssl().SSL_is_init_finished(ssl) === 1
      ? readCString(libssl().SSL_get_version(ssl))
      : null;
  }

  /** The negotiated cipher, e.g. "TLS_AES_256_GCM_SHA384", or null before the handshake. */
  get cipher(): string | null {
    const cipher = libssl().SSL_get_current_cipher(this.#live);
    return isNull(cipher) ? null : readCString(libssl().SSL_CIPHER_get_name(cipher));
  }

  /** The protocol ALPN selected, or null. */
  get alpnProtocol(): string | null {
    const data = new PointerSlot();
    const length = new Uint32Array(1);
    libssl().SSL_get0_alpn_selected(this.#live, data.buffer, length);
    const pointer = data.pointer;
    return isNull(pointer) || length[0] === 0 ? null : utf8(readBytes(pointer, length[0]));
  }

  /** OpenSSL's description of the handshake state (valid inside the info callback). */
  get stateString(): string {
    return readCString(libssl().SSL_state_string_long(this.#live)) ?? "";
  }

  /** The CA names a server sent in its CertificateRequest (client side), RFC 2253 form. */
  get acceptableIssuers(): string[] {
    return nameStackToStrings(libssl().SSL_get_client_CA_list(this.#live));
  }

  /** On a server, the host name the client asked for (SNI); on a client, the name it sent. */
  get servername(): string | null {
    return readCString(libssl().SSL_get_servername(this.#live, TLSEXT_NAMETYPE_HOST_NAME));
  }

  /** True for the server end of a connection. */
  get isServer(): boolean {
    return this.#server;
  }

  /** Local address of the transport. */
  get localAddr(): Addr {
    if (!this.#conn) throw new SecureSocketError("socket is not connected", { openssl: [] });
    return this.#conn.localAddr;
  }

  /** Remote address of the transport. */
  get remoteAddr(): Addr {
    if (!this.#conn) throw new SecureSocketError("socket is not connected", { openssl: [] });
    return this.#conn.remoteAddr;
  }

  /** Moves the connection to another context (certificate, key, verification settings). */
  #switchContext(next: ContextCore): void {
    if (next === this.#active) return;
    const ssl = libssl();
    const handle = this.#ssl!;
    next.retain();
    if (isNull(ssl.SSL_set_SSL_CTX(handle, next.handle))) {
      next.release();
      throw new SecureSocketError("cannot switch the connection to the chosen context");
    }
    if (this.#active !== this.#core) this.#active.release();
    this.#active = next;
    // OpenSSL now consults the new SSL_CTX for connection-level callbacks; the
    // listener's ALPN, key log and OCSP settings must keep applying there.
    next.inheritCallbacks(this.#core);
    // SSL_set_SSL_CTX moves certificate and key; verification settings are per SSL.
    ssl.SSL_set_verify(handle, next.verifyMode ?? VerifyMode.None, null);
    ssl.SSL_set_verify_depth(handle, ssl.SSL_CTX_get_verify_depth(next.handle));
  }
}

/** Makes a server-side socket for an accepted connection (the handshake runs on first use). */
export function acceptedSocket(
  context: SecureSocketContext,
  conn: Conn,
  options: SecureSocketOptions = {},
): SecureSocket {
  let socket: SecureSocket;
  try {
    socket = new SecureSocket(context, options);
  } catch (error) {
    conn.close();
    throw error;
  }
  attach(socket, conn, true);
  return socket;
}
