/**
 * The certificate verification callback (§2) and X509StoreContext, the view of
 * OpenSSL's `X509_STORE_CTX` it receives.
 *
 * @module
 */
import { libcrypto } from "../ffi/library.ts";
import { type Pointer, readCString } from "../ffi/memory.ts";
import { stackElements } from "../ffi/x509.ts";
import { certificateFromHandle, type X509Certificate } from "./certificate.ts";
import { SecureSocketError } from "./errors.ts";
import type { SecureSocket } from "./socket.ts";

/**
 * The verification callback: called for every report OpenSSL makes on the
 * peer's chain, deepest (the root) first and the peer's own certificate
 * (depth 0) last. OpenSSL may report on one certificate more than once (first
 * `ok`, later a name-constraint, policy or host-name failure); each report is
 * asked and answered on its own, so `(ok) => ok` gives the verdict of no
 * callback. `ok` says whether OpenSSL's own checks passed. Return true to
 * accept, false to reject; on a client, a Promise of either suspends the
 * handshake, and its answer applies to the report it was given for.
 *
 * With verify mode `VerifyMode.None` on a client, OpenSSL still verifies the
 * chain and calls the callback, but goes on whatever the verdict: the
 * callback observes, it cannot reject (its `false` is ignored). To reject in
 * a callback, use a mode that verifies (the client default).
 *
 * @example
 * ```ts
 * import type { VerifyCallback } from "@secsock/secsock";
 * const logAndAccept: VerifyCallback = (ok, store) => {
 *   console.log(store.depth, store.currentCertificate?.subject, ok ? "ok" : store.errorString);
 *   return ok;
 * };
 * ```
 */
export type VerifyCallback = (ok: boolean, store: X509StoreContext) => boolean | Promise<boolean>;

/**
 * Flags for `verifyMode` and `setVerify()` (OpenSSL's SSL_VERIFY_* values).
 *
 * @example
 * ```ts
 * import { SecureSocketContext, VerifyMode } from "@secsock/secsock";
 * // A server that requires client certificates:
 * const ctx = new SecureSocketContext({ verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
 * ```
 */
export const VerifyMode = {
  None: 0,
  Peer: 1,
  FailIfNoPeerCert: 2,
  ClientOnce: 4,
  PostHandshake: 8,
} as const;

/** X509_V_ERR_APPLICATION_VERIFICATION: "application verification failure". */
export const X509_V_ERR_APPLICATION_VERIFICATION = 50;

/** X509_V_OK */
const X509_V_OK = 0;

/** OpenSSL's text for an X509_V_ERR_* code, e.g. "certificate has expired". */
export function verifyErrorString(code: number): string {
  return readCString(libcrypto().X509_verify_cert_error_string(BigInt(code))) ?? `verify error ${code}`;
}

let open: (store: Pointer, socket: SecureSocket) => X509StoreContext;
let invalidate: (store: X509StoreContext) => void;

/**
 * What the verification callback sees: the certificate being checked, its
 * depth, OpenSSL's verdict and the chain built so far. Valid only while the
 * callback runs; using it afterwards throws.
 *
 * @example
 * ```ts
 * import { SecureSocketContext } from "@secsock/secsock";
 * const pinned = "AB:CD:...";
 * const ctx = new SecureSocketContext();
 * ctx.setCertificateVerifyCallback((ok, store) =>
 *   store.depth === 0 ? store.currentCertificate?.fingerprint256 === pinned : ok
 * );
 * ```
 */
export class X509StoreContext {
  #store: Pointer | null;
  readonly #socket: SecureSocket;

  private constructor(store: Pointer, socket: SecureSocket) {
    this.#store = store;
    this.#socket = socket;
  }

  static {
    open = (store, socket) => new X509StoreContext(store, socket);
    invalidate = (ctx) => {
      ctx.#store = null;
    };
  }

  get #live(): Pointer {
    if (!this.#store) {
      throw new SecureSocketError("X509StoreContext used after the verification callback returned", { openssl: [] });
    }
    return this.#store;
  }

  /** Depth of the current certificate: 0 is the peer's own, higher is closer to the root. */
  get depth(): number {
    return libcrypto().X509_STORE_CTX_get_error_depth(this.#live);
  }

  /** OpenSSL's X509_V_ERR_* code for the current certificate (0 = ok). */
  get error(): number {
    return libcrypto().X509_STORE_CTX_get_error(this.#live);
  }

  /** OpenSSL's text for `error`, e.g. "certificate has expired" or "ok". */
  get errorString(): string {
    return verifyErrorString(this.error);
  }

  /** The certificate being checked. */
  get currentCertificate(): X509Certificate | null {
    const x509 = libcrypto().X509_STORE_CTX_get_current_cert(this.#live);
    return x509 ? certificateFromHandle(x509) : null;
  }

  /** The chain as built so far, the peer's certificate first. */
  get chain(): X509Certificate[] {
    return stackElements(libcrypto().X509_STORE_CTX_get0_chain(this.#live)).map(certificateFromHandle);
  }

  /** The socket whose peer is being verified. */
  get socket(): SecureSocket {
    this.#live;
    return this.#socket;
  }

  /** Sets the verification error (an X509_V_ERR_* code), e.g. before returning false. */
  setError(code: number): void {
    if (!Number.isInteger(code)) throw new TypeError("setError() takes an X509_V_ERR_* integer code");
    libcrypto().X509_STORE_CTX_set_error(this.#live, code);
  }
}

/**
 * Runs `fn` with a store context that is invalidated as soon as `fn` returns,
 * so a reference kept by user code cannot reach a freed `X509_STORE_CTX`.
 */
export function withStoreContext<T>(store: Pointer, socket: SecureSocket, fn: (ctx: X509StoreContext) => T): T {
  const ctx = open(store, socket);
  try {
    return fn(ctx);
  } finally {
    invalidate(ctx);
  }
}

/** Marks a chain rejected by the application, unless the callback already set a code. */
export function markApplicationFailure(store: Pointer): number {
  const crypto = libcrypto();
  const current = crypto.X509_STORE_CTX_get_error(store);
  if (current !== X509_V_OK) return current;
  crypto.X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return X509_V_ERR_APPLICATION_VERIFICATION;
}
