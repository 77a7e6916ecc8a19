/**
 * The one error module: every error secsock throws for a failure of its own
 * is a SecureSocketError (API misuse is a TypeError or RangeError). Each
 * carries the OpenSSL error queue entries of the failure, so nothing OpenSSL
 * said is lost: a failure right after an OpenSSL call is made with
 * {@linkcode SecureSocketError.fromQueue}, which drains the queue; the
 * constructor never reads it, so an error made elsewhere cannot take
 * another call's reasons.
 *
 * ```
 * SecureSocketError
 * ├── LibraryLoadError              no usable OpenSSL 3
 * ├── UnableToReadPrivateKeyError
 * ├── UnableToReadCertificateError
 * ├── HandshakeError
 * │   └── CertificateVerificationError
 * ├── ContextInUseError             a context setting changed after its first socket
 * ├── SocketClosedError
 * └── TruncatedStreamError
 * ```
 *
 * @module
 */
import { drainErrors, type OpenSSLErrorEntry } from "../ffi/errors.ts";
import { alertName, receivedAlertCode } from "./alerts.ts";

export type { OpenSSLErrorEntry };

/** Options accepted by every secsock error. */
export interface SecureSocketErrorOptions extends ErrorOptions {
  /** OpenSSL error queue entries (none when omitted; see {@linkcode SecureSocketError.fromQueue}). */
  openssl?: OpenSSLErrorEntry[];
}

/**
 * The fatal alert the peer sent, when a connection failed because of it
 * (on {@linkcode SecureSocketError.alert}).
 *
 * @example
 * ```ts
 * import { type PeerAlert, SecureSocketError } from "@secsock/secsock";
 * function peerAlert(error: unknown): PeerAlert | undefined {
 *   return error instanceof SecureSocketError ? error.alert : undefined;
 * }
 * ```
 */
export interface PeerAlert {
  /** The alert description code (e.g. 116). */
  code: number;
  /** Its IANA name (e.g. "certificate_required"), the same on every OpenSSL version. */
  description: string;
}

/** The first alert received from the peer that the OpenSSL entries report. */
function peerAlert(entries: OpenSSLErrorEntry[]): PeerAlert | undefined {
  for (const entry of entries) {
    const code = receivedAlertCode(entry.code);
    if (code !== null) return { code, description: alertName(code) };
  }
  return undefined;
}

function describe(message: string, entries: OpenSSLErrorEntry[]): string {
  if (entries.length === 0) return message;
  const reasons = [...new Set(entries.map((e) => e.reason))].join("; ");
  return message.includes(reasons) ? message : `${message} (${reasons})`;
}

/**
 * Base class of every error secsock throws, with OpenSSL's own reasons.
 *
 * @example
 * ```ts
 * import { SecureSocketError } from "@secsock/secsock";
 * try {
 *   // ... a secsock call
 * } catch (error) {
 *   if (error instanceof SecureSocketError) console.log(error.openssl);
 * }
 * ```
 */
export class SecureSocketError extends Error {
  /** The OpenSSL error queue at the point of failure, oldest first. */
  readonly openssl: OpenSSLErrorEntry[];
  /**
   * Set when the connection failed because the peer sent a fatal alert
   * (OpenSSL reports that as an error queue entry): its code and IANA name,
   * e.g. `{ code: 116, description: "certificate_required" }` from a TLS 1.3
   * server that wanted a client certificate. Undefined otherwise.
   */
  readonly alert?: PeerAlert;

  /**
   * Creates an error with the OpenSSL entries given (none by default); it
   * does not touch the error queue.
   *
   * @param message what failed
   * @param options `openssl` entries and `cause`
   */
  constructor(message: string, options: SecureSocketErrorOptions = {}) {
    const entries = options.openssl ?? [];
    super(describe(message, entries), options);
    this.name = new.target.name;
    this.openssl = entries;
    const alert = peerAlert(entries);
    if (alert) this.alert = alert;
  }

  /**
   * An error of this class for a failure of the OpenSSL call just made: it
   * drains OpenSSL's (per-thread) error queue into `openssl`. Clear the queue
   * before the call (`ERR_clear_error(3)`), so what is drained is that call's own.
   *
   * @example
   * ```ts
   * import { SecureSocketError } from "@secsock/secsock";
   * const error = SecureSocketError.fromQueue("SSL_CTX_new failed");
   * console.log(error.openssl);
   * ```
   *
   * @param message what failed
   * @param options `cause`
   */
  static fromQueue<E extends SecureSocketError>(
    this: new (message: string, options?: SecureSocketErrorOptions) => E,
    message: string,
    options: ErrorOptions = {},
  ): E {
    return new this(message, { ...options, openssl: drainErrors() });
  }
}

/**
 * No usable OpenSSL 3 could be opened; the message lists every path tried
 * and names SECSOCK_LIBSSL / SECSOCK_LIBCRYPTO.
 *
 * @example
 * ```ts
 * import { LibraryLoadError, SecureSocketContext } from "@secsock/secsock";
 * try {
 *   new SecureSocketContext();
 * } catch (error) {
 *   if (error instanceof LibraryLoadError) console.error(error.attempts);
 * }
 * ```
 */
export class LibraryLoadError extends SecureSocketError {
  /** Every path that was tried, with the reason it failed. */
  readonly attempts: string[];
  /**
   * Creates the error.
   *
   * @param message what failed and how to fix it
   * @param attempts every path tried, with its failure
   */
  constructor(message: string, attempts: string[]) {
    super(message);
    this.attempts = attempts;
  }
}

/**
 * A private key could not be read: malformed data, a wrong or missing
 * password, or a password longer than OpenSSL's buffer.
 *
 * @example
 * ```ts
 * import { PrivateKey, UnableToReadPrivateKeyError } from "@secsock/secsock";
 * try {
 *   PrivateKey.fromPEM("not a key");
 * } catch (error) {
 *   console.log(error instanceof UnableToReadPrivateKeyError); // true
 * }
 * ```
 */
export class UnableToReadPrivateKeyError extends SecureSocketError {}

/**
 * A certificate could not be read (malformed PEM or DER).
 *
 * @example
 * ```ts
 * import { UnableToReadCertificateError, X509Certificate } from "@secsock/secsock";
 * try {
 *   X509Certificate.fromPEM("garbage");
 * } catch (error) {
 *   console.log(error instanceof UnableToReadCertificateError); // true
 * }
 * ```
 */
export class UnableToReadCertificateError extends SecureSocketError {}

/**
 * The TLS handshake failed: no shared protocol or cipher, an alert from the
 * peer, garbage on the wire, a peer that vanished mid-handshake, or a
 * handshake timeout; or the peer's certificate was rejected, which is the
 * subclass {@linkcode CertificateVerificationError}.
 *
 * @example
 * ```ts
 * import { HandshakeError } from "@secsock/secsock";
 * function isHandshakeFailure(error: unknown): boolean {
 *   return error instanceof HandshakeError;
 * }
 * ```
 */
export class HandshakeError extends SecureSocketError {}

/** Options of a {@linkcode CertificateVerificationError}. */
export interface CertificateVerificationErrorOptions extends SecureSocketErrorOptions {
  /** The X509_V_ERR_* code. */
  code: number;
  /** Depth in the chain of the certificate that failed (0 = the peer's own). */
  depth: number;
}

/**
 * The peer's certificate chain was rejected, by OpenSSL's checks or by the
 * verification callback: a kind of {@linkcode HandshakeError}. `code` is
 * OpenSSL's X509_V_ERR_* value.
 *
 * @example
 * ```ts
 * import { CertificateVerificationError } from "@secsock/secsock";
 * function explain(error: unknown) {
 *   if (error instanceof CertificateVerificationError) {
 *     console.log(error.code, error.depth, error.message);
 *   }
 * }
 * ```
 */
export class CertificateVerificationError extends HandshakeError {
  /** OpenSSL's X509_V_ERR_* code (e.g. 10 = certificate has expired). */
  readonly code: number;
  /** Depth in the chain of the certificate that failed (0 = the peer's own). */
  readonly depth: number;

  /**
   * Creates a verification error for the certificate at `depth`.
   *
   * @param message what failed
   * @param options the code, depth and OpenSSL entries
   */
  constructor(message: string, options: CertificateVerificationErrorOptions) {
    super(message, options);
    this.code = options.code;
    this.depth = options.depth;
  }
}

/**
 * A context setting that decides who is accepted or what is presented
 * (trust, verification, certificate and key, the client-certificate, SNI, ALPN
 * and session callbacks) was changed after a socket was made from the
 * context. Such settings are frozen then: OpenSSL reads some of them when a
 * connection is made and others while it runs, so a change would apply
 * half-way. Make a new SecureSocketContext instead.
 *
 * @example
 * ```ts
 * import { ContextInUseError, SecureSocket, SecureSocketContext } from "@secsock/secsock";
 * const ctx = new SecureSocketContext();
 * const socket = new SecureSocket(ctx, { hostname: "localhost" });
 * try {
 *   ctx.setVerifyDepth(2);
 * } catch (error) {
 *   console.log(error instanceof ContextInUseError); // true
 * }
 * socket.close();
 * ```
 */
export class ContextInUseError extends SecureSocketError {
  /**
   * Creates the error for a refused call of `setter`.
   *
   * @param setter the method that was refused, e.g. "setVerify()"
   */
  constructor(setter: string) {
    super(
      `${setter} cannot change a SecureSocketContext that sockets were made from ` +
        "(who is accepted and what is presented are fixed then): configure a new SecureSocketContext instead",
      { openssl: [] },
    );
  }
}

/**
 * The socket, listener or context was used after `close()`.
 *
 * @example
 * ```ts
 * import { SocketClosedError } from "@secsock/secsock";
 * function closedByUs(error: unknown): boolean {
 *   return error instanceof SocketClosedError;
 * }
 * ```
 */
export class SocketClosedError extends SecureSocketError {
  /**
   * Creates the error for a use of `what` after it was closed.
   *
   * @param what the object that was closed, e.g. "SecureSocket"
   */
  constructor(what: string) {
    super(`${what} is closed`, { openssl: [] });
  }
}

/**
 * The peer closed the TCP connection without sending close_notify, so the
 * data stream may have been cut short by an attacker or a crash.
 *
 * @example
 * ```ts
 * import { TruncatedStreamError } from "@secsock/secsock";
 * function wasTruncated(error: unknown): boolean {
 *   return error instanceof TruncatedStreamError;
 * }
 * ```
 */
export class TruncatedStreamError extends SecureSocketError {}
