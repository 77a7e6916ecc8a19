/**
 * The I/O engine of one TLS connection: it moves ciphertext between
 * OpenSSL's two memory BIOs and the transport (`Conn`), and brackets every
 * native call. `SecureSocket` keeps the public API and drives this.
 *
 * ## I/O contract
 *
 * - **A read waits only for ciphertext from the peer.** What OpenSSL produces
 *   while reading (alerts, KeyUpdate answers, post-handshake messages) joins
 *   the output queue and is sent by the flusher; the read does not wait for
 *   it to leave, so a writer blocked on a peer that is itself waiting for us
 *   to read can never hold a read back.
 * - **TLS bytes leave in the order OpenSSL produced them.** The write BIO is
 *   the one output queue and one flusher drains it to the transport, so
 *   nothing overtakes anything (a KeyUpdate answer follows the records
 *   encrypted before it).
 * - **A write waits only for transport backpressure** (and for a handshake in
 *   progress): it resolves once its ciphertext has been handed to the transport.
 * - **write() calls complete in call order, each call's bytes contiguous**:
 *   writes form a queue; SSL_write for one call starts only after the previous
 *   call's plaintext was all handed to SSL_write and its ciphertext flushed.
 * - **closeWrite() joins that queue**: close_notify follows every byte of every
 *   write() issued before it; a write() issued after it is refused.
 * - **close() is abrupt and idempotent**: pending reads and writes reject with
 *   `SocketClosedError`; nothing more is sent.
 * - A failed transport write fails the write side (this and later writes,
 *   closeWrite()); reads go on until the transport's own read fails or ends.
 * - **Output a peer does not read is bounded.** Reading can make OpenSSL
 *   answer (KeyUpdates, refused renegotiations) without limit; once more than
 *   OUTPUT_LIMIT bytes wait in the write BIO the connection fails with a
 *   SecureSocketError and is closed. Above OUTPUT_LOW_MARK the transport is
 *   read in small pieces, so one read cannot overshoot the limit by much.
 * - **Native calls never nest.** An I/O method started inside an OpenSSL
 *   callback is refused on that callback's own socket, and on any other
 *   socket waits until the native call in progress has returned (so it
 *   cannot clear or add to that call's error queue).
 *
 * Costs kept off the per-record path: no allocation per record (flush
 * buffers come from shared pools, the transport read buffer adapts to the
 * traffic), and no await when nothing is pending.
 *
 * @module
 */
import { libcrypto, libssl } from "../ffi/library.ts";
import { clearErrors, drainErrors, type OpenSSLErrorEntry } from "../ffi/errors.ts";
import { newMemoryBio } from "../ffi/bio.ts";
import {
  SSL_ERROR_SSL,
  SSL_ERROR_SYSCALL,
  SSL_ERROR_WANT_CLIENT_HELLO_CB,
  SSL_ERROR_WANT_READ,
  SSL_ERROR_WANT_RETRY_VERIFY,
  SSL_ERROR_WANT_X509_LOOKUP,
  SSL_ERROR_ZERO_RETURN,
} from "../ffi/constants.ts";
import { bioSetMemEofReturn } from "../ffi/ctrl.ts";
import type { Pointer } from "../ffi/memory.ts";
import type { Conn } from "../ffi/platform.ts";
import { BufferPool } from "./buffer_pool.ts";
import { HandshakeError, SecureSocketError, SocketClosedError, TruncatedStreamError } from "./errors.ts";
import type { SecureSocket } from "./socket.ts";
import type { Connection } from "./callbacks/connection.ts";

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
/**
 * Output waiting in the write BIO above which the peer is cut off: far above
 * what writing leaves there (one WRITE_CHUNK of records, or a handshake
 * flight), reached only by a peer that makes this end answer (KeyUpdate
 * requests, renegotiation attempts refused with an alert) and does not read.
 */
const OUTPUT_LIMIT = 1024 * 1024;
/**
 * Output backlog above which the transport is read THROTTLED_READ bytes at a
 * time: one piece of ciphertext can then make only a few KiB of answers
 * (a 4-byte HelloRequest makes a 31-byte alert record).
 */
const OUTPUT_LOW_MARK = 256 * 1024;
/** Transport read size while the output backlog is above OUTPUT_LOW_MARK. */
const THROTTLED_READ = 1024;

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

/**
 * Native calls in progress, over every socket. OpenSSL's error queue is per
 * thread: an I/O method of one socket run inside another socket's callback
 * would clear or add to the reasons of the call in progress, so it waits
 * (see `admit`).
 */
let nativeCalls = 0;
const settled: Promise<void> = Promise.resolve();

/** True while some socket's OpenSSL call is in progress (code runs inside its callback). */
export function insideNativeCall(): boolean {
  return nativeCalls > 0;
}

// What `#native` calls: one switch, no closure per call.
const OP_READ = 0;
const OP_WRITE = 1;
const OP_HANDSHAKE = 2;
const OP_SHUTDOWN = 3;

/**
 * What the engine reads from its socket. One table serves every socket (its
 * functions take the socket), so a connection carries no closures for it.
 */
export interface IoHost {
  /** The live SSL*; throws SocketClosedError after close(). */
  ssl(socket: SecureSocket): Pointer;
  /** The transport, or null before the socket is attached. */
  conn(socket: SecureSocket): Conn | null;
  /** True once close() was called. */
  closed(socket: SecureSocket): boolean;
  /** True once the handshake completed. */
  handshakeDone(socket: SecureSocket): boolean;
  /** The socket's callback state: the exception to rethrow, suspended answers. */
  callbacks(socket: SecureSocket): Connection;
  /**
   * Before application I/O: throws the connection's fatal error (or
   * SocketClosedError); returns the handshake to wait for (starting it), or null.
   */
  ready(socket: SecureSocket): Promise<void> | null;
  /** Frees the native state once a call during which close() ran has returned. */
  freeNative(socket: SecureSocket): void;
  /** Closes the socket (SecureSocket.close). */
  close(socket: SecureSocket): void;
}

/** The refusal of I/O started inside an OpenSSL callback of the same socket (or, if not deferred, of another). */
function insideCallbackError(): SecureSocketError {
  return new SecureSocketError("SecureSocket I/O cannot be started from inside an OpenSSL callback", { openssl: [] });
}

/** True when `error` says the call paused for an asynchronous callback's answer. */
export function isSuspension(error: number): boolean {
  return error === SSL_ERROR_WANT_X509_LOOKUP || error === SSL_ERROR_WANT_CLIENT_HELLO_CB ||
    error === SSL_ERROR_WANT_RETRY_VERIFY;
}

/** One connection's ciphertext pump, native-call bracket and write queue. */
export class IoEngine {
  readonly #socket: SecureSocket;
  readonly #host: IoHost;
  #rbio: Pointer;
  #wbio: Pointer;
  /** Native calls in progress (a callback that starts I/O would nest one). */
  #inCall = 0;
  #transportEof = false;
  #inBuffer: Uint8Array<ArrayBuffer> | null = null;
  /** The transport read buffer while the output backlog is high (made only then). */
  #throttledBuffer: Uint8Array<ArrayBuffer> | null = null;
  /** The transport read in flight: concurrent readers share it. */
  #filling: Promise<boolean> | null = null;
  /** True while the flusher runs. */
  #pumpRunning = false;
  /** The handshake's BIOs were replaced by fresh ones (renewBios). */
  #biosRenewed = false;
  /** The running flusher, once it has awaited the transport (null before and after). */
  #pumping: Promise<void> | null = null;
  /** Output was queued while the flusher was writing: look again before stopping. */
  #more = false;
  /** The transport write that failed: the write side is dead. */
  #writeFailure: Error | null = null;
  /** write()/closeWrite() calls issued and not yet finished, and the last one. */
  #writesQueued = 0;
  #writeTail: Promise<unknown> | null = null;
  #fatal: unknown = null;
  #lastErrors: OpenSSLErrorEntry[] = [];
  /** SSL_get_error of the last native call (0 after a success). */
  #sslError = 0;

  /**
   * Gives `ssl` a fresh pair of memory BIOs (SSL_set_bio(3); SSL_free frees them).
   *
   * @param socket the socket this engine serves
   * @param ssl its SSL handle
   * @param host how to read the socket's state
   */
  constructor(socket: SecureSocket, ssl: Pointer, host: IoHost) {
    this.#socket = socket;
    this.#host = host;
    this.#rbio = newMemoryBio();
    try {
      this.#wbio = newMemoryBio();
    } catch (error) {
      libcrypto().BIO_free(this.#rbio);
      throw error;
    }
    libssl().SSL_set_bio(ssl, this.#rbio, this.#wbio);
  }

  /** SSL_get_error of the last native call (0 after a success). */
  get sslError(): number {
    return this.#sslError;
  }

  /** True once the transport reached its end. */
  get transportEof(): boolean {
    return this.#transportEof;
  }

  /** True while a native call runs (inside an OpenSSL callback). */
  get inCall(): boolean {
    return this.#inCall > 0;
  }

  /** The connection's first fatal error, or null. */
  get fatal(): unknown {
    return this.#fatal;
  }

  /** Records the first fatal error (later operations rethrow it); returns `error`. */
  fail(error: unknown): unknown {
    this.#fatal ??= error;
    return error;
  }

  /** The OpenSSL reasons the last failed call left, once. */
  takeErrors(): OpenSSLErrorEntry[] {
    const entries = this.#lastErrors;
    this.#lastErrors = [];
    return entries;
  }

  // ------------------------------------------------------------ the native-call bracket

  /**
   * The live SSL, for a call that must not run inside an OpenSSL callback:
   * from there it would disturb the call in progress (its state, its error
   * queue), so it is refused like every other I/O method.
   */
  outsideCall(): Pointer {
    const ssl = this.#host.ssl(this.#socket);
    if (this.#inCall > 0) throw insideCallbackError();
    return ssl;
  }

  /**
   * First step of every I/O method, before any native work. Inside one of
   * this socket's own callbacks: refused (throws). Inside another socket's
   * callback: a promise to await first, so this socket's native calls run
   * after that call has returned (microtasks run only once the native call
   * and the JavaScript that made it have returned). Otherwise null.
   */
  admit(): Promise<void> | null {
    if (this.#inCall > 0) throw insideCallbackError();
    return nativeCalls > 0 ? settled : null;
  }
  /**
   * What an I/O call waits for before it starts: another socket's native call
   * in progress (`admit`), then the handshake (`ready`); null when nothing, so
   * the per-record paths skip an await.
   */
  #started(): Promise<void> | null {
    const deferred = this.admit();
    if (deferred) return deferred.then(() => this.#host.ready(this.#socket) ?? undefined);
    return this.#host.ready(this.#socket);
  }

  /**
   * One OpenSSL I/O call (`op`), bracketed: a clean error queue before (so
   * what the call leaves there is its own), the in-call counts restored
   * whatever happens (an FFI argument error must not leave the socket
   * "inside a callback" for good), then `#leave`.
   */
  #native(op: number, buffer: Uint8Array<ArrayBuffer> | null, length: number): number {
    const ssl = this.outsideCall();
    // Started from another socket's callback, the call would clear that call's errors (see admit).
    if (nativeCalls > 0) throw insideCallbackError();
    // Failures drain the queue (see leave), so it is normally empty: peeking
    // is cheaper than clearing on every record.
    if (libcrypto().ERR_peek_error() !== 0n) clearErrors();
    const lib = libssl();
    let result = -1;
    this.#inCall++;
    nativeCalls++;
    try {
      switch (op) {
        case OP_READ:
          result = lib.SSL_read(ssl, buffer!, length);
          break;
        case OP_WRITE:
          result = lib.SSL_write(ssl, buffer!, length);
          break;
        case OP_HANDSHAKE:
          result = lib.SSL_do_handshake(ssl);
          break;
        default:
          result = lib.SSL_shutdown(ssl);
      }
    } finally {
      this.#inCall--;
      nativeCalls--;
      // close() from inside a callback is deferred until OpenSSL has returned.
      if (this.#host.closed(this.#socket)) this.#host.freeNative(this.#socket);
    }
    return this.#leave(ssl, result);
  }

  /** Ends an I/O call: records SSL_get_error in `sslError` and returns `result`. */
  #leave(ssl: Pointer, result: number): number {
    if (this.#host.closed(this.#socket)) {
      this.#host.callbacks(this.#socket).errors.rethrow();
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

  /** SSL_do_handshake(3), bracketed. */
  doHandshake(): number {
    return this.#native(OP_HANDSHAKE, null, 0);
  }

  /**
   * For the handshake and the write side: sends what OpenSSL produced (alerts
   * included) and waits until the transport took it, then rethrows a
   * callback's exception. Null when there is nothing to wait for, so the
   * per-record paths skip an await.
   */
  afterCall(): Promise<void> | null {
    if (this.#host.callbacks(this.#socket).errors.pending) return this.#flushThenRethrow();
    if (this.#pumpRunning || this.#outputPending()) return this.#sent();
    return null;
  }

  async #flushThenRethrow(): Promise<void> {
    // The call is failing anyway: a dead transport must not hide the callback's error.
    const flushing = this.#flush();
    if (flushing) await flushing;
    this.#host.callbacks(this.#socket).errors.rethrow();
  }

  /** Waits until the output queue is empty; throws when the transport write failed. */
  async #sent(): Promise<void> {
    const flushing = this.#flush();
    if (flushing) await flushing;
    this.#checkWritable();
  }

  /**
   * A call paused for an asynchronous callback's answer (`isSuspension`):
   * waits for that answer, then rethrows a callback's exception. The caller
   * calls OpenSSL again, which takes the answer.
   */
  async resume(error: number): Promise<void> {
    const callbacks = this.#host.callbacks(this.#socket);
    if (error === SSL_ERROR_WANT_RETRY_VERIFY) {
      await Promise.all(callbacks.takeVerifyPending());
    } else {
      const pending = callbacks.pendingChoice(error === SSL_ERROR_WANT_X509_LOOKUP);
      if (pending) await pending;
    }
    this.#checkOpen();
    callbacks.errors.rethrow();
  }

  /**
   * A callback threw during a call that otherwise succeeded: queue any alert
   * (without waiting behind other output) and fail the connection with its error.
   */
  #failWithCallbackError(): never {
    this.#kick();
    try {
      this.#host.callbacks(this.#socket).errors.rethrow();
    } catch (error) {
      throw this.fail(error);
    }
    throw new SecureSocketError("internal error: no callback error to rethrow", { openssl: [] });
  }

  /**
   * Memory BIOs keep the largest buffer they ever held. After the handshake,
   * when both are empty, fresh ones replace them, so an idle connection does
   * not keep its handshake flight (certificate chains) allocated. A TLS 1.3
   * server usually has the client's first data behind its Finished when the
   * handshake ends; it renews when its first read is about to wait instead.
   */
  renewBios(): void {
    const crypto = libcrypto();
    if (this.#host.closed(this.#socket) || this.#transportEof || this.#pumpRunning) return;
    if (Number(crypto.BIO_ctrl_pending(this.#rbio)) > 0 || Number(crypto.BIO_ctrl_pending(this.#wbio)) > 0) return;
    const rbio = newMemoryBio();
    let wbio: Pointer;
    try {
      wbio = newMemoryBio();
    } catch (error) {
      crypto.BIO_free(rbio);
      throw error;
    }
    // Both new and distinct: SSL_set_bio frees the old pair.
    libssl().SSL_set_bio(this.#host.ssl(this.#socket), rbio, wbio);
    this.#rbio = rbio;
    this.#wbio = wbio;
    this.#biosRenewed = true;
  }

  // ------------------------------------------------------------ errors

  /** The error of a failed read or write: a truncation when the transport ended without close_notify. */
  ioFailure(error: number, what: string): Error {
    const openssl = this.takeErrors();
    if (this.#transportEof && (error === SSL_ERROR_SYSCALL || openssl.some((e) => /unexpected eof/i.test(e.reason)))) {
      return new TruncatedStreamError(
        "the peer closed the connection without sending close_notify (the data may be truncated)",
        { openssl },
      );
    }
    return new SecureSocketError(`TLS ${what} failed`, { openssl });
  }

  /** A transport error: during the handshake, the handshake failed. */
  #transportFailure(what: string, cause: unknown): SecureSocketError {
    const message = `${what} the transport failed: ${(cause as Error)?.message ?? cause}`;
    return this.#host.handshakeDone(this.#socket)
      ? new SecureSocketError(message, { cause, openssl: [] })
      : new HandshakeError(message, { cause, openssl: [] });
  }

  /** The transport: every path here runs after the handshake started, which needs one. */
  #conn(): Conn {
    const conn = this.#host.conn(this.#socket);
    if (!conn) throw new SecureSocketError("socket is not connected", { openssl: [] });
    return conn;
  }

  #checkOpen(): void {
    if (this.#host.closed(this.#socket)) throw new SocketClosedError("SecureSocket");
  }

  /** After waiting for the flusher: the socket closed meanwhile, or the transport write failed. */
  #checkWritable(): void {
    this.#checkOpen();
    if (this.#writeFailure) throw this.#writeFailure;
  }

  // ------------------------------------------------------------ the read path

  /**
   * Reads more ciphertext from the transport into the read BIO; false at EOF.
   * `into` is the caller's plaintext buffer: a quiet connection reads the
   * ciphertext there (the read BIO copies it before SSL_read overwrites it),
   * so an idle connection's pending read holds no buffer of its own.
   */
  fill(into?: Uint8Array<ArrayBuffer>): Promise<boolean> {
    if (this.#transportEof) return Promise.resolve(false);
    // Concurrent readers share one transport read.
    return this.#filling ??= this.#readTransport(into);
  }

  async #readTransport(into: Uint8Array<ArrayBuffer> | undefined): Promise<boolean> {
    try {
      const conn = this.#conn();
      // A peer that does not read what it makes us answer gets its
      // ciphertext taken in small pieces, so each SSL_read can add little.
      const throttled = this.#queuedOutput() > OUTPUT_LOW_MARK;
      const buffer = throttled
        ? (this.#throttledBuffer ??= new Uint8Array(THROTTLED_READ))
        : this.#transportBuffer(into);
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
        bioSetMemEofReturn(this.#rbio, 0);
        return false;
      }
      crypto.BIO_write(this.#rbio, buffer, n);
      if (throttled) return true;
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

  /**
   * Reads decrypted bytes into `p`: the number read, or null after the peer's
   * close_notify. Waits only for the peer's ciphertext (see the contract):
   * output OpenSSL produces meanwhile is queued for the flusher, not awaited.
   */
  async read(p: Uint8Array): Promise<number | null> {
    const wait = this.#started();
    if (wait) await wait;
    if (p.length === 0) return 0;
    const buffer = p as Uint8Array<ArrayBuffer>;
    const callbacks = this.#host.callbacks(this.#socket);
    for (;;) {
      const result = this.#readRecords(buffer);
      // Reading can make OpenSSL answer (a KeyUpdate, a post-handshake
      // Certificate, an alert), and a callback that threw meanwhile fails the read.
      if (callbacks.errors.pending) this.#failWithCallbackError();
      const queued = this.#queuedOutput();
      if (queued > 0) {
        if (queued > OUTPUT_LIMIT) throw this.#cutOff(queued);
        this.#kick();
      }
      if (result > 0) return result;
      const error = this.#sslError;
      switch (error) {
        case SSL_ERROR_WANT_READ:
          // After EOF the mark makes SSL_read report the truncation; never spin.
          if (this.#transportEof) throw this.fail(this.ioFailure(SSL_ERROR_SYSCALL, "read"));
          if (!this.#biosRenewed) this.renewBios();
          await this.fill(buffer);
          continue;
        case SSL_ERROR_ZERO_RETURN:
          return null;
        case SSL_ERROR_WANT_X509_LOOKUP:
        case SSL_ERROR_WANT_CLIENT_HELLO_CB:
        case SSL_ERROR_WANT_RETRY_VERIFY:
          // A post-handshake message (a TLS 1.3 CertificateRequest) made an
          // asynchronous callback suspend the call: wait for its answer.
          await this.resume(error);
          continue;
        default:
          throw this.fail(this.ioFailure(error, "read"));
      }
    }
  }

  /**
   * The peer made this end queue more than OUTPUT_LIMIT bytes of output it
   * does not read: the connection fails (every later call reports it) and is closed.
   */
  #cutOff(queued: number): Error {
    const error = this.fail(
      new SecureSocketError(
        `the peer makes this end answer (KeyUpdates, refused renegotiations, alerts) but does not read: ` +
          `${queued} bytes of output are queued, over the ${OUTPUT_LIMIT}-byte limit; connection closed`,
        { openssl: [] },
      ),
    );
    this.#host.close(this.#socket);
    return error as Error;
  }

  /**
   * SSL_read into `buffer`, going on while whole records are already waiting
   * in the read BIO, so one read() can return several records. Returns the
   * bytes read, or the failing SSL_read result (error in `sslError`) when
   * nothing was read; a failure after some bytes waits for the next read().
   */
  #readRecords(buffer: Uint8Array<ArrayBuffer>): number {
    const total = Math.min(buffer.length, 0x7fffffff);
    let result = this.#native(OP_READ, buffer, total);
    if (result <= 0) return result;
    let offset = result;
    while (offset < total && Number(libcrypto().BIO_ctrl_pending(this.#rbio)) > 0) {
      result = this.#native(OP_READ, buffer.subarray(offset), total - offset);
      if (result <= 0) {
        // OpenSSL repeats a close_notify or a fatal error on the next call:
        // deliver what was read first. (A callback's error is not kept
        // waiting: read() checks for it before returning.)
        this.#sslError = 0;
        break;
      }
      offset += result;
    }
    return offset;
  }

  // ------------------------------------------------------------ the flusher

  /** True when OpenSSL has ciphertext waiting to be sent. */
  #outputPending(): boolean {
    return this.#queuedOutput() > 0;
  }

  /** The ciphertext OpenSSL has waiting to be sent, in bytes (0 once closed). */
  #queuedOutput(): number {
    return this.#host.closed(this.#socket) ? 0 : Number(libcrypto().BIO_ctrl_pending(this.#wbio));
  }

  /** Makes sure the flusher runs (it picks up whatever the write BIO holds); never waits. */
  #kick(): void {
    if (this.#pumpRunning) {
      this.#more = true;
      return;
    }
    this.#pumpRunning = true;
    const pump = this.#pump();
    // It may have finished without awaiting (nothing to send).
    if (this.#pumpRunning) this.#pumping = pump;
  }

  /** Starts the flusher if needed; the promise to wait for until the write BIO is empty, or null. */
  #flush(): Promise<void> | null {
    this.#kick();
    return this.#pumping;
  }

  /**
   * The one flusher: writes the write BIO's ciphertext to the transport, in
   * order, until the BIO is empty. It never rejects: a transport failure
   * kills the write side (`#writeFailure`), which writers then report.
   */
  async #pump(): Promise<void> {
    const crypto = libcrypto();
    try {
      for (;;) {
        if (this.#host.closed(this.#socket) || this.#writeFailure) return;
        this.#more = false;
        const pending = Number(crypto.BIO_ctrl_pending(this.#wbio));
        if (pending === 0) return;
        const pool = pending <= SMALL_FLUSH_BUFFER ? smallFlushBuffers : flushBuffers;
        const buffer = pool.take();
        let n: number;
        try {
          n = crypto.BIO_read(this.#wbio, buffer, buffer.length);
          if (n <= 0) return;
          const conn = this.#conn();
          const bytes = n === buffer.length ? buffer : buffer.subarray(0, n);
          for (let sent = 0; sent < n;) sent += await conn.write(sent === 0 ? bytes : bytes.subarray(sent));
        } finally {
          pool.release(buffer);
        }
        // A short read emptied the BIO: done, unless output was queued while we wrote.
        if (n < buffer.length && !this.#more) return;
      }
    } catch (error) {
      if (!this.#host.closed(this.#socket)) this.#writeFailure ??= this.#transportFailure("writing to", error);
    } finally {
      this.#pumpRunning = false;
      this.#pumping = null;
    }
  }

  // ------------------------------------------------------------ the write queue

  /**
   * Encrypts and sends all of `p`, after every write(), closeWrite() and
   * post-handshake message issued before; resolves once the ciphertext was
   * handed to the transport. Inside this socket's own callback it is refused
   * at once, whether or not earlier calls are still queued.
   */
  write(p: Uint8Array): Promise<number> {
    if (this.#inCall > 0) return Promise.reject(insideCallbackError());
    const run = this.#writesQueued++ === 0
      ? this.#writeAll(p)
      : this.#writeTail!.then(() => this.#writeAll(p), () => this.#writeAll(p));
    // A call that finished without awaiting has left the queue already.
    if (this.#writesQueued > 0) this.#writeTail = run;
    return run;
  }

  /**
   * Sends close_notify after every write() issued before (once `handshake`,
   * the one in progress if any, has settled), then half-closes the transport.
   * Rejects when close_notify could not be sent: the write side had failed,
   * the connection had failed, or OpenSSL refused. The caller checks
   * `outsideCall()` first (a refusal must not count as the closeWrite()).
   */
  closeWrite(handshake: Promise<void> | null): Promise<void> {
    return this.#enqueue(() => this.#shutdown(handshake));
  }

  /** Runs `start` after every queued write/closeWrite/post-handshake message; `start` must `#dequeue` when done. */
  #enqueue<T>(start: () => Promise<T>): Promise<T> {
    const run = this.#writesQueued++ === 0 ? start() : this.#writeTail!.then(start, start);
    if (this.#writesQueued > 0) this.#writeTail = run;
    return run;
  }

  /** The end of a queued write or closeWrite: the next one may start. */
  #dequeue(): void {
    if (--this.#writesQueued === 0) this.#writeTail = null;
  }

  async #writeAll(p: Uint8Array): Promise<number> {
    try {
      const wait = this.#started();
      if (wait) await wait;
      if (this.#writeFailure) throw this.#writeFailure;
      const callbacks = this.#host.callbacks(this.#socket);
      let offset = 0;
      while (offset < p.length) {
        const length = Math.min(p.length - offset, WRITE_CHUNK);
        const chunk = (offset === 0 && length === p.length ? p : p.subarray(offset, offset + length)) as Uint8Array<
          ArrayBuffer
        >;
        const result = this.#native(OP_WRITE, chunk, length);
        if (result <= 0) {
          const error = this.#sslError;
          const after = this.afterCall();
          if (after) await after;
          if (error === SSL_ERROR_WANT_READ && !this.#transportEof) {
            await this.fill();
            continue;
          }
          if (isSuspension(error)) {
            // SSL_write finishes a post-handshake exchange first, which may suspend the same way.
            await this.resume(error);
            continue;
          }
          throw this.fail(this.ioFailure(error, "write"));
        }
        offset += result;
        // Backpressure: the next chunk waits until the transport took this one.
        const flushing = this.#flush();
        if (flushing) await flushing;
        this.#checkWritable();
        if (callbacks.errors.pending) this.#failWithCallbackError();
      }
      return p.length;
    } finally {
      this.#dequeue();
    }
  }

  async #shutdown(handshake: Promise<void> | null): Promise<void> {
    try {
      const deferred = this.admit();
      if (deferred) await deferred;
      if (handshake) await handshake;
      // close_notify cannot follow a failed write side or connection: say so.
      if (this.#fatal !== null) throw this.#fatal;
      if (this.#writeFailure) throw this.#writeFailure;
      if (this.#host.handshakeDone(this.#socket)) {
        await this.#sendCloseNotify();
        // Throws when the transport write fails: close_notify did not leave.
        const after = this.afterCall();
        if (after) await after;
      }
      try {
        await this.#host.conn(this.#socket)?.closeWrite();
      } catch {
        // The peer may already have gone; close_notify was our part.
      }
    } finally {
      this.#dequeue();
    }
  }

  /**
   * SSL_shutdown(3), checked: it puts close_notify in the write BIO (result
   * 0 or 1). OpenSSL refuses it while a handshake exchange is in progress
   * (a TLS 1.3 post-handshake authentication whose asynchronous
   * client-certificate answer is pending): then the exchange is finished
   * first (waiting for the answer with `resume`) and the shutdown retried.
   * Any other refusal rejects with OpenSSL's reasons.
   */
  async #sendCloseNotify(): Promise<void> {
    // A few rounds at most: an answer, a retry; never a spin.
    for (let round = 0; round < 8; round++) {
      if (this.#native(OP_SHUTDOWN, null, 0) >= 0) {
        // The refusals before are answered: their reasons must not show up in a later error.
        if (round > 0) this.takeErrors();
        return;
      }
      if (libssl().SSL_is_init_finished(this.#host.ssl(this.#socket)) === 1) break;
      const result = this.doHandshake();
      const error = this.#sslError;
      const after = this.afterCall();
      if (after) await after;
      if (result === 1) continue;
      if (!isSuspension(error)) break;
      await this.resume(error);
    }
    throw new SecureSocketError("closeWrite(): close_notify could not be sent", { openssl: this.takeErrors() });
  }

  // ------------------------------------------------------------ post-handshake messages

  /**
   * Queues a post-handshake message (`request` is SSL_key_update(3) or
   * SSL_verify_client_post_handshake(3)) behind every write() issued before,
   * and sends it. Refused at once inside one of this socket's OpenSSL
   * callbacks (there it would change the state of the call in progress and
   * clear its error queue), and after closeWrite() (`writeClosed`: nothing
   * may follow close_notify).
   */
  postHandshake(
    request: (ssl: Pointer) => boolean,
    refusal: string,
    what: string,
    writeClosed: boolean,
  ): Promise<void> {
    if (this.#inCall > 0) return Promise.reject(insideCallbackError());
    if (writeClosed) {
      return Promise.reject(
        new SecureSocketError(`cannot send a ${what} message after closeWrite(): close_notify ends the write side`, {
          openssl: [],
        }),
      );
    }
    return this.#enqueue(() => this.#postHandshake(request, refusal, what));
  }

  async #postHandshake(request: (ssl: Pointer) => boolean, refusal: string, what: string): Promise<void> {
    try {
      const wait = this.#started();
      if (wait) await wait;
      if (this.#writeFailure) throw this.#writeFailure;
      const ssl = this.outsideCall();
      clearErrors();
      if (!request(ssl)) throw SecureSocketError.fromQueue(refusal);
      // The message goes out with the next handshake step.
      const result = this.doHandshake();
      const error = this.#sslError;
      const after = this.afterCall();
      if (after) await after;
      if (result !== 1 && error !== SSL_ERROR_WANT_READ) throw this.fail(this.ioFailure(error, what));
    } finally {
      this.#dequeue();
    }
  }
}
