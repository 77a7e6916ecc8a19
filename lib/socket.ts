/**
 * SecureSocket: one TLS connection. OpenSSL never touches a file descriptor:
 * the socket's I/O engine (io_engine.ts, which states the I/O contract) moves
 * ciphertext between two memory BIOs and a `Conn`, and the socket drives
 * `SSL_do_handshake`/`SSL_read`/`SSL_write` synchronously on the main
 * thread, so callbacks run inside those calls.
 *
 * @module
 */
import { libssl } from "../ffi/library.ts";
import { clearErrors, type OpenSSLErrorEntry } from "../ffi/errors.ts";
import { isNull, type Pointer, readCString, utf8 } from "../ffi/memory.ts";
import { selectedAlpn } from "../ffi/tls_extensions.ts";
import { freeX509, nameStackToStrings, stackElements } from "../ffi/x509.ts";
import { decodeSession, encodeSession, freeSession } from "../ffi/session.ts";
import { checkClientSession } from "./session.ts";
import { type Addr, type Conn, platform } from "../ffi/platform.ts";
import { certificateFromHandle, type X509Certificate } from "./certificate.ts";
import { contextCore, type SecureSocketContext } from "./context.ts";
import { CertificateVerificationError, HandshakeError, SecureSocketError, SocketClosedError } from "./errors.ts";
import { Connection, type NativeRefs, registerConnection, releaseNative } from "./callbacks/connection.ts";
import { type InfoCallback, registerStateReader, setSocketInfoCallback } from "./callbacks/info.ts";
import { insideNativeCall, IoEngine, type IoHost, isSuspension } from "./io_engine.ts";
import {
  SSL_ERROR_SYSCALL,
  SSL_ERROR_WANT_READ,
  SSL_ERROR_WANT_WRITE,
  TLSEXT_NAMETYPE_HOST_NAME,
  TLSEXT_STATUSTYPE_OCSP,
} from "../ffi/constants.ts";
import { setTlsextStatusType } from "../ffi/ctrl.ts";
import { verifyErrorString, VerifyMode } from "./callbacks/verify.ts";
import { checkPeerName, isIpAddress, setPeerName } from "./hostname.ts";
import { verifyServersWith } from "./trust.ts";
import { startDeadline } from "./handshake_deadline.ts";

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
   * one without `hostname`/`servername` fails with a TypeError. A client
   * context with `verifyMode` VerifyMode.None (0) verifies nothing, names
   * included; any other mode verifies the server, as OpenSSL does.
   */
  verifyHostname?: boolean;
  /**
   * Abort the handshake after this many milliseconds (default: no limit; 0 or
   * Infinity: no limit, as in Node). A negative or NaN value is a RangeError.
   */
  handshakeTimeout?: number;
  /**
   * This socket's own handshake information callback (§3), set before the
   * handshake starts, so `SecureSocket.connect()` and `startTls()` can trace
   * their own handshake; the same as calling `setInfoCallback()` at once.
   */
  infoCallback?: InfoCallback;
  /**
   * A client session saved from `socket.session`, to resume. Refused with a
   * SecureSocketError unless a full handshake here would have accepted it:
   * same host name, and a context with the same verification policy.
   */
  session?: Uint8Array;
}

/**
 * What `handshake()` resolves to, as `Deno.TlsConn.handshake()` does.
 *
 * @example
 * ```ts
 * import { SecureSocket, SecureSocketContext, type TlsHandshakeInfo } from "@secsock/secsock";
 * const socket = await SecureSocket.connect(new SecureSocketContext({ alpnProtocols: ["h2"] }), {
 *   hostname: "localhost",
 *   port: 8443,
 * });
 * const info: TlsHandshakeInfo = await socket.handshake();
 * console.log(info.alpnProtocol);
 * ```
 */
export interface TlsHandshakeInfo {
  /** The protocol ALPN selected, or null. */
  alpnProtocol: string | null;
}

/**
 * The outcome of the certificate verification OpenSSL recorded for a
 * connection (`SSL_get_verify_result(3)`).
 *
 * @example
 * ```ts
 * import { SecureSocket, SecureSocketContext, VerifyMode } from "@secsock/secsock";
 * const ctx = new SecureSocketContext({ verifyMode: VerifyMode.None });
 * const socket = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443 });
 * const { code, errorString } = socket.verifyResult;
 * if (code !== 0) console.warn(`not verified: ${errorString}`);
 * ```
 */
export interface VerifyResult {
  /** OpenSSL's X509_V_ERR_* code; 0 (X509_V_OK) when verification passed, or did not run. */
  code: number;
  /** OpenSSL's text for the code (X509_verify_cert_error_string(3)), e.g. "ok", "certificate has expired". */
  errorString: string;
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

// A safety net only: the SSL of a socket dropped without close() is freed
// when the socket is collected, with its references on the context it was
// made from and on the one SNI moved it to.
const leaked = new FinalizationRegistry<NativeRefs>(releaseNative);

/**
 * How long `await using` (Symbol.asyncDispose) waits for its graceful part
 * (close_notify sent, the peer's end read) before closing anyway.
 */
const GRACEFUL_CLOSE_MS = 3000;

let attach: (socket: SecureSocket, conn: Conn, server: boolean) => void;
/** How every socket's I/O engine reads its private state. */
let ioHost: IoHost;

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
export class SecureSocket implements AsyncDisposable, Disposable {
  /**
   * The socket as the callbacks see it (lib/callbacks/connection.ts): the
   * SSL, the context it was made from and the one that applies now, which
   * end it is, and what the callbacks leave for the I/O calls.
   */
  readonly #connection: Connection;
  /** Moves the ciphertext and brackets native calls (io_engine.ts). */
  readonly #io: IoEngine;
  #conn: Conn | null = null;
  /** The name the server must match (and SNI): from the options, or from connect()'s host. */
  #verifyName: string | null;
  /**
   * A copy of the `session` option, checked and offered in #attach once the
   * name to verify is final (connect() may give it after the constructor);
   * zeroed there or when the socket closes: it holds the master secret.
   */
  #session: Uint8Array | null = null;
  readonly #verifyHostname: boolean;
  readonly #handshakeTimeout: number | undefined;
  #handshakePromise: Promise<void> | null = null;
  /** handshake()'s promise: every call gets the same one. */
  #handshakeResult: Promise<TlsHandshakeInfo> | null = null;
  #handshakeDone = false;
  /** What handshake() resolves to, once the handshake is done. */
  #handshakeInfo: TlsHandshakeInfo | null = null;
  /** False after unref(): the transport's pending reads do not keep the process alive. */
  #refed = true;
  #closed = false;
  /** The first closeWrite() (later calls return it); write() is refused once it was called. */
  #closingWrite: Promise<void> | null = null;
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
    const handshakeTimeout = checkHandshakeTimeout(options.handshakeTimeout);
    if (options.infoCallback !== undefined && typeof options.infoCallback !== "function") {
      throw new TypeError("`infoCallback` must be a function");
    }
    const ssl = libssl();
    clearErrors();
    const handle = ssl.SSL_new(core.handle);
    if (isNull(handle)) throw SecureSocketError.fromQueue("SSL_new failed");
    core.retain();
    // From now on the context's policy settings are frozen (ContextInUseError).
    core.markInUse();
    const connection = this.#connection = new Connection(this, handle, core);
    this.#io = new IoEngine(this, handle, ioHost);
    this.#verifyName = servername ?? hostname ?? null;
    this.#verifyHostname = options.verifyHostname ?? true;
    this.#handshakeTimeout = handshakeTimeout;
    if (options.infoCallback) setSocketInfoCallback(connection, options.infoCallback);
    registerConnection(connection);
    leaked.register(this, connection.native, this);
    core.applySessionIdContext(handle);
    if (options.session !== undefined && options.session !== null) {
      // Malformed bytes fail here, at once; the checks that need the final
      // host name run in #attach (connect() may give the name later).
      freeSession(SecureSocket.#decodeSession(options.session));
      this.#session = new Uint8Array(options.session);
    }
  }

  static #decodeSession(data: unknown): Pointer {
    if (!(data instanceof Uint8Array)) throw new TypeError("`session` must be a Uint8Array (from `socket.session`)");
    const session = decodeSession(data);
    if (!session) throw SecureSocketError.fromQueue("`session` is not a serialized TLS session");
    return session;
  }

  /**
   * Offers the saved session, after checking that a full handshake on this
   * socket would have accepted it: resuming skips the server's certificate.
   * Runs once the name to verify is final. A session for another host name,
   * or from a context with another verification policy, is refused with a
   * SecureSocketError (never silently dropped, so a mix-up in the
   * application's session cache shows).
   */
  #useSession(mode: number): void {
    const data = this.#session;
    if (data === null) return;
    this.#session = null;
    let session: Pointer | null = null;
    try {
      session = SecureSocket.#decodeSession(data);
      const name = this.#verifyName;
      checkClientSession(session, {
        verifyName: name,
        ip: name !== null && isIpAddress(name),
        // A client verifies the server (and its name) under any non-zero mode, as OpenSSL does.
        verifies: this.#verifyHostname && mode !== VerifyMode.None,
        sessionIdContext: this.#connection.active.sessionIdContext(),
      });
      if (libssl().SSL_set_session(this.#live, session) !== 1) {
        throw SecureSocketError.fromQueue("cannot use the session");
      }
    } finally {
      freeSession(session);
      data.fill(0);
    }
  }

  static {
    attach = (socket, conn, server) => socket.#attach(conn, server);
    ioHost = {
      ssl: (socket) => socket.#live,
      conn: (socket) => socket.#conn,
      closed: (socket) => socket.#closed,
      handshakeDone: (socket) => socket.#handshakeDone,
      callbacks: (socket) => socket.#connection,
      ready: (socket) => socket.#ready(),
      freeNative: (socket) => socket.#freeNative(),
      close: (socket) => socket.close(),
    };
    registerStateReader((socket) => libssl().SSL_get_state(socket.#live));
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
    const active = this.#connection.active;
    const mode = active.verifyMode ?? (server ? VerifyMode.None : VerifyMode.Peer);
    if (!server) this.#checkClientName(mode);
    this.#conn = conn;
    if (!this.#refed) conn.unref?.();
    this.#connection.isServer = server;
    ssl.SSL_set_verify(handle, mode, null);
    if (server) {
      if (this.#session) {
        this.#session.fill(0);
        this.#session = null;
        throw new TypeError("`session` is for client sockets: a server resumes what its clients offer");
      }
      // Client certificates: the SSL_CTX's own store, the named CAs only (lib/trust.ts).
      ssl.SSL_set_accept_state(handle);
      return;
    }
    ssl.SSL_set_connect_state(handle);
    if (active.requestOcsp && !setTlsextStatusType(handle, TLSEXT_STATUSTYPE_OCSP)) {
      throw SecureSocketError.fromQueue("cannot ask for a stapled OCSP response");
    }
    // Servers: the system store plus the named CAs, when the context trusts the system.
    const serverAuth = active.serverAuthStore;
    if (serverAuth) verifyServersWith(handle, serverAuth);
    setPeerName(handle, this.#verifyName, this.#verifyHostname);
    // Only now is the name to verify final (connect() has offered it already).
    this.#useSession(mode);
  }

  /**
   * A client verifies a name unless told not to in words: `verifyHostname:
   * false`, or VerifyMode.None (no verification at all). OpenSSL clients
   * verify the server under any non-zero mode, Peer or not (FailIfNoPeerCert
   * or ClientOnce alone), so those verify the name too.
   */
  #checkClientName(mode: number): void {
    if (this.#verifyName !== null || !this.#verifyHostname || mode === VerifyMode.None) return;
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
    this.#live;
    setSocketInfoCallback(this.#connection, cb);
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
    const mode = this.#connection.active.verifyMode ?? VerifyMode.Peer;
    this.#checkClientName(mode);
    let conn: Conn;
    try {
      // The name is final now: a session that does not fit is refused before any connection is made.
      this.#useSession(mode);
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
   * Performs the TLS handshake (once; later calls return the same promise)
   * and resolves to what `Deno.TlsConn.handshake()` gives: the ALPN protocol
   * selected. Reads and writes start it implicitly.
   *
   * @example
   * ```ts
   * import { SecureSocketContext, SecureSocketListener } from "@secsock/secsock";
   * const listener = SecureSocketListener.listen(new SecureSocketContext(), { port: 0 });
   * const socket = await listener.accept();
   * const { alpnProtocol } = await socket.handshake();
   * console.log(socket.protocol, alpnProtocol);
   * ```
   */
  handshake(): Promise<TlsHandshakeInfo> {
    if (this.#closed) return Promise.reject(new SocketClosedError("SecureSocket"));
    return this.#handshakeResult ??= this.#startHandshake().then(() => this.#handshakeInfo!);
  }

  /** The handshake to wait for (started here), resolved once it is done. */
  #startHandshake(): Promise<void> {
    if (this.#closed) return Promise.reject(new SocketClosedError("SecureSocket"));
    if (this.#handshakeDone) return Promise.resolve();
    return this.#handshakePromise ??= this.#runHandshake();
  }

  async #runHandshake(): Promise<void> {
    if (!this.#conn) {
      throw new SecureSocketError("socket is not connected: call connect() first", { openssl: [] });
    }
    const io = this.#io;
    // Started inside another socket's callback: run after that native call (see IoEngine.admit).
    const deferred = io.admit();
    if (deferred) await deferred;
    const limit = this.#handshakeTimeout;
    const deadline = limit === undefined ? null : startDeadline(limit, () => {
      io.fail(new HandshakeError(`TLS handshake timed out after ${limit} ms`, { openssl: [] }));
      this.close();
    });
    try {
      for (;;) {
        const result = io.doHandshake();
        const error = io.sslError;
        // The handshake waits for its flights to leave: no bulk data can be queued yet.
        const after = io.afterCall();
        if (after) await after;
        if (result === 1) break;
        if (error === SSL_ERROR_WANT_READ) {
          // Still wanting input after the EOF mark: never spin, fail.
          if (this.#transportEof) throw this.#handshakeFailure(error);
          await io.fill();
        } else if (isSuspension(error)) {
          await io.resume(error);
        } else if (error !== SSL_ERROR_WANT_WRITE) {
          throw this.#handshakeFailure(error);
        }
      }
      this.#handshakeDone = true;
      this.#handshakeInfo = { alpnProtocol: this.alpnProtocol };
      io.renewBios();
    } catch (error) {
      // A timeout closes the socket: report the timeout, not the closed socket.
      io.fail(error);
      throw io.fatal;
    } finally {
      deadline?.cancel();
    }
  }

  #handshakeFailure(error: number): Error {
    const openssl = this.#takeErrors();
    const ssl = this.#live;
    const verifyResult = Number(libssl().SSL_get_verify_result(ssl));
    // A server verifies with VerifyMode.Peer, a client with any non-zero mode
    // (OpenSSL's rule). Otherwise OpenSSL records verification failures but goes
    // on: the handshake then fails for another reason, which is what to report.
    const mode = libssl().SSL_get_verify_mode(ssl);
    const verifying = this.#connection.isServer ? (mode & VerifyMode.Peer) !== 0 : mode !== VerifyMode.None;
    const failure = verifying ? this.#connection.verifyFailure : null;
    const certificateFailed = openssl.some((e) => /certificate verify failed/i.test(e.reason));
    if (failure || (verifying && certificateFailed && verifyResult !== 0)) {
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
    return this.#io.takeErrors();
  }

  /** True once the transport reached its end. */
  get #transportEof(): boolean {
    return this.#io.transportEof;
  }

  get #live(): Pointer {
    const ssl = this.#connection.native.ssl;
    if (this.#closed || !ssl) throw new SocketClosedError("SecureSocket");
    return ssl;
  }

  /** Before application I/O: the fatal error, or the handshake to wait for (started here), or null. */
  #ready(): Promise<void> | null {
    if (this.#io.fatal !== null) throw this.#io.fatal;
    this.#live;
    if (!this.#handshakeDone) return this.#startHandshake();
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
  read(p: Uint8Array): Promise<number | null> {
    // Anything else would reach SSL_read as the wrong bytes, or fail inside the FFI call.
    if (!(p instanceof Uint8Array)) return Promise.reject(new TypeError("read() takes a Uint8Array"));
    return this.#io.read(p);
  }

  /**
   * Encrypts and sends all of `p`; resolves once the ciphertext has been handed
   * to the transport (so a slow reader slows the writer down). Calls run in
   * call order, each call's bytes contiguous on the wire; keep `p` unchanged
   * until the promise settles.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * await socket.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
   * ```
   */
  write(p: Uint8Array): Promise<number> {
    // A Uint16Array would send half its bytes, an ArrayBuffer none: refuse all but bytes.
    if (!(p instanceof Uint8Array)) return Promise.reject(new TypeError("write() takes a Uint8Array"));
    if (this.#closingWrite) {
      // A failed or closed connection says so first, as every other call does.
      const closed = this.#closed ? new SocketClosedError("SecureSocket") : null;
      return Promise.reject(
        this.#io.fatal ?? closed ?? new SecureSocketError("write after closeWrite()", { openssl: [] }),
      );
    }
    return this.#io.write(p);
  }

  /**
   * Sends close_notify, after every byte of every `write()` issued before, and
   * half-closes the transport; reading goes on until the peer closes too.
   * Idempotent: later calls return the first call's promise.
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
  closeWrite(): Promise<void> {
    if (this.#closed) return Promise.reject(new SocketClosedError("SecureSocket"));
    if (this.#closingWrite) return this.#closingWrite;
    try {
      // Refused inside this socket's callback before it counts: a later closeWrite() must still work.
      this.#io.outsideCall();
    } catch (error) {
      return Promise.reject(error);
    }
    const handshake = this.#handshakePromise && !this.#handshakeDone ? this.#handshakePromise : null;
    return this.#closingWrite = this.#io.closeWrite(handshake);
  }

  /**
   * Closes the connection at once and frees its native state; idempotent.
   * It does not send close_notify, and it is abrupt: when bytes from the peer
   * are still unread in the kernel, the system resets the connection (RST)
   * and ciphertext not yet sent (data an earlier `write()` resolved for, a
   * close_notify) is lost. To end gracefully, use `await using`, or call
   * `closeWrite()` and read until `read()` returns null before `close()`.
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
    this.#connection.socketClosed();
    // Inside an OpenSSL callback the SSL is still in use: the engine frees it on return.
    if (!this.#io.inCall) this.#freeNative();
    try {
      this.#conn?.close();
    } catch {
      // Already closed by the peer or the runtime.
    }
  }

  #freeNative(): void {
    this.#session?.fill(0);
    this.#session = null;
    const native = this.#connection.native;
    if (!native.ssl) return;
    leaked.unregister(this);
    releaseNative(native);
  }

  /**
   * Closes at once, as `close()` (no close_notify), like `Deno.Conn`'s
   * `[Symbol.dispose]`: for `using socket = …`. Use `await using` to send
   * close_notify first.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * {
   *   using socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   *   await socket.write(new TextEncoder().encode("ping"));
   * } // closed here
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Makes the socket keep the event loop alive again after `unref()` (the
   * default), as `Deno.Conn.ref()`.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * socket.unref();
   * socket.ref();
   * ```
   */
  ref(): void {
    this.#refed = true;
    if (!this.#closed) this.#conn?.ref?.();
  }

  /**
   * A pending read of this socket no longer keeps the event loop alive (the
   * process may exit while it waits), as `Deno.Conn.unref()`: for idle
   * pooled connections. Delegates to the transport's `unref()` (`Deno.Conn`;
   * `net.Socket` on Node); a transport without one is left as it is. A
   * running `handshakeTimeout` timer still holds the loop until the handshake ends.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * socket.unref();
   * socket.read(new Uint8Array(1024)); // does not keep the process alive
   * ```
   */
  unref(): void {
    this.#refed = false;
    if (!this.#closed) this.#conn?.unref?.();
  }

  /**
   * The graceful close of `await using`, when the connection is healthy:
   * `closeWrite()` (close_notify after every byte written), then reads and
   * discards until the peer's close_notify or the end of the transport, so
   * that `close()` finds nothing unread and the system does not reset the
   * connection (which would drop what is still being sent). All of it within
   * GRACEFUL_CLOSE_MS (a peer that does not read or does not close must not
   * hold the scope open); then `close()`, whatever happened.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      if (!this.#closed && this.#handshakeDone && this.#io.fatal === null) await this.#closeGracefully();
    } catch {
      // Closing anyway.
    } finally {
      this.close();
    }
  }

  async #closeGracefully(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => timer = setTimeout(resolve, GRACEFUL_CLOSE_MS));
    try {
      // When the time runs out, close() (in the caller) ends the linger; race handles its rejection.
      await Promise.race([this.#linger(), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** closeWrite(), then read (and discard) to the peer's end. */
  async #linger(): Promise<void> {
    await this.closeWrite();
    const discard = new Uint8Array(16384);
    while (await this.read(discard) !== null) {
      // Data after disposal started has no reader.
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
   * Keying material exported from the session (RFC 5705 / RFC 8446 §7.5), equal on both ends
   * (SSL_export_keying_material(3)). Like every I/O method, refused inside an OpenSSL callback.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * const key = socket.exportKeyingMaterial("EXPERIMENTAL my-protocol", 32);
   * ```
   */
  exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Uint8Array {
    // Inside a callback, clearing the error queue would disturb the call in progress.
    const ssl = this.#io.outsideCall();
    if (!this.#handshakeDone) {
      throw new SecureSocketError("keying material needs a completed handshake", { openssl: [] });
    }
    if (!Number.isInteger(length) || length <= 0) throw new RangeError("length must be a positive integer");
    const out = new Uint8Array(length);
    const labelBytes = new TextEncoder().encode(label);
    const contextBytes = (context ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer>;
    // Inside another socket's callback the queue holds that call's reasons: leave them.
    const nested = insideNativeCall();
    if (!nested) clearErrors();
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
    if (ok !== 1) {
      throw nested
        ? new SecureSocketError("cannot export keying material")
        : SecureSocketError.fromQueue("cannot export keying material");
    }
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
   * The request is sent after every `write()` issued before; refused after
   * `closeWrite()` and, like every I/O method, inside an OpenSSL callback.
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
  requestClientCertificate(): Promise<void> {
    return this.#io.postHandshake(
      (ssl) => libssl().SSL_verify_client_post_handshake(ssl) === 1,
      "cannot request a client certificate after the handshake",
      "handshake",
      this.#closingWrite !== null,
    );
  }

  /**
   * TLS 1.3: sends a KeyUpdate, rotating this end's traffic keys (and, with
   * `requestPeer`, asking the peer to rotate its own). Sent after every
   * `write()` issued before; refused after `closeWrite()` and, like every I/O
   * method, inside an OpenSSL callback.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
   * await socket.updateKeys(true);
   * ```
   */
  updateKeys(requestPeer = false): Promise<void> {
    return this.#io.postHandshake(
      (ssl) => libssl().SSL_key_update(ssl, requestPeer ? 1 : 0) === 1,
      "cannot update keys (TLS 1.3 only)",
      "key update",
      this.#closingWrite !== null,
    );
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
    if (this.#connection.isServer) {
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

  /**
   * The verification result OpenSSL recorded (`SSL_get_verify_result(3)`):
   * code 0 when the peer's chain (and name) verified, or when nothing was
   * verified (no certificate, no handshake yet: check `peerCertificate`).
   * With `VerifyMode.None` (`rejectUnauthorized: false`) a client still
   * verifies the server and records the outcome here without failing, as
   * Node's `authorized`/`authorizationError`.
   *
   * @example
   * ```ts
   * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext({ rejectUnauthorized: false });
   * const socket = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443 });
   * console.log(socket.verifyResult); // { code: 0, errorString: "ok" }
   * ```
   */
  get verifyResult(): VerifyResult {
    const code = Number(libssl().SSL_get_verify_result(this.#live));
    return { code, errorString: verifyErrorString(code) };
  }

  /** The protocol ALPN selected, or null. */
  get alpnProtocol(): string | null {
    const selected = selectedAlpn(this.#live);
    return selected && utf8(selected);
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
    return this.#connection.isServer;
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

/** Largest delay setTimeout() honours (2^31 - 1 ms); beyond, runtimes fire at once. */
const MAX_TIMER = 0x7fffffff;

/** A handshake time limit in ms, or undefined for none (undefined, 0, Infinity, or beyond what a timer can hold). */
export function checkHandshakeTimeout(ms: number | undefined): number | undefined {
  if (ms === undefined) return undefined;
  if (typeof ms !== "number" || Number.isNaN(ms) || ms < 0) {
    throw new RangeError("handshakeTimeout must be a non-negative number of milliseconds (0 or Infinity: no limit)");
  }
  return ms === 0 || ms > MAX_TIMER ? undefined : ms;
}
