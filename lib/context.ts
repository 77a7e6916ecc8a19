/**
 * SecureSocketContext: configuration, trust, certificates, keys and callbacks
 * shared by the sockets made from it (an `SSL_CTX*`).
 *
 * @module
 */
import { libcrypto, libssl } from "../ffi/library.ts";
import { CLIENT_CERT_CALLBACK, INFO_CALLBACK, NativeCallback, VERIFY_CALLBACK } from "../ffi/callbacks.ts";
import { clearErrors, drainErrors } from "../ffi/errors.ts";
import { cString, isNull, type Pointer } from "../ffi/memory.ts";
import { freeX509 } from "../ffi/x509.ts";
import { freePrivateKey } from "../ffi/pkey.ts";
import { newX509, toCertificates, type X509Certificate } from "./certificate.ts";
import {
  SecureSocketError,
  SocketClosedError,
  UnableToReadCertificateError,
  UnableToReadPrivateKeyError,
} from "./errors.ts";
import type { InfoCallback } from "./info.ts";
import type { Password, PasswordCallback } from "./password.ts";
import { type PrivateKey, toPrivateKeyHandle } from "./private_key.ts";
import { socketFor } from "./registry.ts";
import type { VerifyCallback } from "./verify.ts";
import type { SecureSocket } from "./socket.ts";

/** Protocol version names accepted by `minVersion`/`maxVersion`. */
export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

const VERSIONS: Record<TlsVersion, number> = {
  "TLSv1": 0x0301,
  "TLSv1.1": 0x0302,
  "TLSv1.2": 0x0303,
  "TLSv1.3": 0x0304,
};

/** What the client certificate callback returns to send a certificate. */
export interface ClientCertificate {
  /** The certificate (a PEM string is accepted). */
  certificate: X509Certificate | string;
  /** Its private key (an unencrypted PEM string is accepted). */
  privateKey: PrivateKey | string;
  /** Intermediate certificates to send after it. */
  chain?: (X509Certificate | string)[];
}

/**
 * The client certificate callback (§4): called on a client when the server
 * asks for a certificate and the context has none. Return the certificate to
 * send, or null to send none; a Promise suspends the handshake until it settles.
 *
 * @example
 * ```ts
 * import type { ClientCertificateCallback } from "@secsock/secsock";
 * const choose: ClientCertificateCallback = (socket) =>
 *   socket.acceptableIssuers.some((name) => name.includes("secsock"))
 *     ? { certificate: Deno.readTextFileSync("tests/fixtures/client.pem"), privateKey: Deno.readTextFileSync("tests/fixtures/client.key") }
 *     : null;
 * ```
 */
export type ClientCertificateCallback = (
  socket: SecureSocket,
) => ClientCertificate | null | Promise<ClientCertificate | null>;

/** Options of {@linkcode SecureSocketContext}. */
export interface SecureSocketContextOptions {
  /** Lowest protocol version allowed; default "TLSv1.2". */
  minVersion?: TlsVersion;
  /** Highest protocol version allowed; default: the highest OpenSSL supports. */
  maxVersion?: TlsVersion;
  /** OpenSSL cipher list for TLS 1.2 and below, e.g. "ECDHE-RSA-AES256-SHA". */
  ciphers?: string;
  /** TLS 1.3 cipher suites, e.g. "TLS_AES_128_GCM_SHA256". */
  cipherSuites?: string;
  /** OpenSSL security level (0–5); applied after `ciphers`, so it wins over "@SECLEVEL=n". */
  securityLevel?: number;
  /** Extra trusted certificates (PEM text or PEM/DER bytes). */
  ca?: string | Uint8Array | (string | Uint8Array)[];
  /** Trust the system's certificate store; default true. */
  useSystemTrust?: boolean;
  /**
   * {@linkcode VerifyMode} flags. Default: clients verify the server
   * (`Peer`), servers do not ask for client certificates (`None`).
   */
  verifyMode?: number;
  /** ALPN protocols a client offers, most preferred first. */
  alpnProtocols?: string[];
}

const SSL_CTRL_MODE = 33;
const SSL_CTRL_CHAIN = 88;
const SSL_CTRL_CHAIN_CERT = 89;
const SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
const SSL_CTRL_SET_MAX_PROTO_VERSION = 124;
const SSL_MODE_RELEASE_BUFFERS = 0x10n;
const SSL_OP_NO_COMPRESSION = 1n << 17n;
const SSL_OP_NO_RENEGOTIATION = 1n << 30n;
/** Session ID context: without one, resumption fails whenever client certificates are requested. */
const SESSION_ID_CONTEXT = new TextEncoder().encode("secsock");

/** The state behind a context, shared with the sockets made from it. */
export class ContextCore {
  #handle: Pointer | null;
  #refs = 1;
  verifyMode: number | undefined;
  verifyCallback: VerifyCallback | null = null;
  infoCallback: InfoCallback | null = null;
  clientCertificateCallback: ClientCertificateCallback | null = null;
  passwordCallback: PasswordCallback | null = null;
  alpn: Uint8Array | null = null;
  readonly #verifyTrampoline: NativeCallback<typeof VERIFY_CALLBACK>;
  #infoTrampoline: NativeCallback<typeof INFO_CALLBACK> | null = null;
  #clientCertTrampoline: NativeCallback<typeof CLIENT_CERT_CALLBACK> | null = null;
  #storeIndex = -1;

  constructor(handle: Pointer) {
    this.#handle = handle;
    // One verify trampoline per context, installed at once: it tracks the
    // failing depth for errors and dispatches to the user's callback, if any.
    this.#verifyTrampoline = new NativeCallback(
      VERIFY_CALLBACK,
      (ok, store) => this.#dispatchVerify(ok, store),
      0,
      () => {},
    );
    this.#storeIndex = libssl().SSL_get_ex_data_X509_STORE_CTX_idx();
    libssl().SSL_CTX_set_verify(handle, 0, this.#verifyTrampoline.pointer);
  }

  #dispatchVerify(ok: number, store: Deno.PointerValue): number {
    if (store === null) return ok;
    const ssl = libcrypto().X509_STORE_CTX_get_ex_data(store, this.#storeIndex);
    const hooks = socketFor(ssl);
    return hooks ? hooks.verify(ok, store) : ok;
  }

  /** The live SSL_CTX*, or a SocketClosedError. */
  get handle(): Pointer {
    if (!this.#handle) throw new SocketClosedError("SecureSocketContext");
    return this.#handle;
  }

  /** True until the last reference is released. */
  get alive(): boolean {
    return this.#handle !== null;
  }

  /** The info trampoline, created on first use. */
  infoTrampoline(): Deno.PointerObject {
    this.#infoTrampoline ??= new NativeCallback(
      INFO_CALLBACK,
      (ssl, where, ret) => socketFor(ssl)?.info(where, ret),
      undefined,
      () => {},
    );
    return this.#infoTrampoline.pointer;
  }

  /** Installs or removes the client certificate trampoline. */
  setClientCertificateCallback(cb: ClientCertificateCallback | null): void {
    this.clientCertificateCallback = cb;
    if (cb && !this.#clientCertTrampoline) {
      this.#clientCertTrampoline = new NativeCallback(
        CLIENT_CERT_CALLBACK,
        (ssl, x509Out, pkeyOut) => socketFor(ssl)?.clientCertificate(x509Out, pkeyOut) ?? 0,
        // A throw here must not read as "no certificate" (0): suspend and fail.
        -1,
        () => {},
      );
    }
    // OpenSSL reads the callback from the SSL_CTX at use time; with none it
    // simply sends no certificate. The trampoline itself lives until release.
    libssl().SSL_CTX_set_client_cert_cb(this.handle, cb ? this.#clientCertTrampoline!.pointer : null);
  }

  /** A socket takes a reference. */
  retain(): void {
    this.handle;
    this.#refs++;
  }

  /** Drops a reference; the last one frees the SSL_CTX and closes the callbacks. */
  release(): void {
    if (--this.#refs > 0 || !this.#handle) return;
    libssl().SSL_CTX_free(this.#handle);
    this.#handle = null;
    this.#verifyTrampoline.close();
    this.#infoTrampoline?.close();
    this.#clientCertTrampoline?.close();
    this.#infoTrampoline = this.#clientCertTrampoline = null;
  }
}

let coreOf: (ctx: SecureSocketContext) => ContextCore;

/** The shared state of a context (for sockets and listeners). */
export function contextCore(ctx: SecureSocketContext): ContextCore {
  return coreOf(ctx);
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new SecureSocketError(message);
}

/**
 * Configuration shared by TLS sockets: protocol versions, ciphers, trust,
 * certificates and keys, and the four callbacks. Sockets keep the context's
 * native state alive while they live, so closing it early is safe.
 *
 * @example
 * ```ts
 * import { SecureSocketContext } from "@secsock/secsock";
 * using server = new SecureSocketContext({ minVersion: "TLSv1.2" });
 * server.useCertificateChainFile("tests/fixtures/server-chain.pem");
 * server.usePrivateKeyFile("tests/fixtures/server-key-pkcs8-aes256.pem", "secsock-pass");
 * ```
 */
export class SecureSocketContext implements Disposable {
  readonly #core: ContextCore;
  #closed = false;

  static {
    coreOf = (ctx) => {
      if (ctx.#closed) throw new SocketClosedError("SecureSocketContext");
      return ctx.#core;
    };
  }

  /**
   * Creates a context with secure defaults: TLS 1.2 or newer, the system's
   * trust store, renegotiation refused.
   */
  constructor(options: SecureSocketContextOptions = {}) {
    const ssl = libssl();
    clearErrors();
    const handle = ssl.SSL_CTX_new(ssl.TLS_method());
    if (isNull(handle)) throw new SecureSocketError("SSL_CTX_new failed");
    this.#core = new ContextCore(handle);
    try {
      ssl.SSL_CTX_set_options(handle, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
      ssl.SSL_CTX_ctrl(handle, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS, null);
      ssl.SSL_CTX_set_session_id_context(handle, SESSION_ID_CONTEXT, SESSION_ID_CONTEXT.length);
      this.#setVersion(SSL_CTRL_SET_MIN_PROTO_VERSION, options.minVersion ?? "TLSv1.2");
      if (options.maxVersion) this.#setVersion(SSL_CTRL_SET_MAX_PROTO_VERSION, options.maxVersion);
      if (options.ciphers !== undefined) {
        check(
          ssl.SSL_CTX_set_cipher_list(handle, cString(options.ciphers)) === 1,
          `no cipher matches "${options.ciphers}"`,
        );
      }
      if (options.cipherSuites !== undefined) {
        check(
          ssl.SSL_CTX_set_ciphersuites(handle, cString(options.cipherSuites)) === 1,
          `no TLS 1.3 cipher suite matches "${options.cipherSuites}"`,
        );
      }
      // After the cipher list: "@SECLEVEL=n" inside it would otherwise override this.
      if (options.securityLevel !== undefined) {
        if (!Number.isInteger(options.securityLevel) || options.securityLevel < 0 || options.securityLevel > 5) {
          throw new RangeError("securityLevel must be an integer from 0 to 5");
        }
        ssl.SSL_CTX_set_security_level(handle, options.securityLevel);
      }
      if (options.useSystemTrust ?? true) ssl.SSL_CTX_set_default_verify_paths(handle);
      drainErrors(); // a missing system store is not an error
      const cas = options.ca === undefined ? [] : Array.isArray(options.ca) ? options.ca : [options.ca];
      for (const ca of cas) this.addTrustedCertificate(ca);
      if (options.verifyMode !== undefined) this.#core.verifyMode = checkVerifyMode(options.verifyMode);
      if (options.alpnProtocols) {
        const alpn = encodeAlpn(options.alpnProtocols);
        this.#core.alpn = alpn;
        // SSL_CTX_set_alpn_protos returns 0 on success, unlike most of OpenSSL.
        check(ssl.SSL_CTX_set_alpn_protos(handle, alpn, alpn.length) === 0, "cannot set the ALPN protocols");
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  get #handle(): Pointer {
    if (this.#closed) throw new SocketClosedError("SecureSocketContext");
    return this.#core.handle;
  }

  #setVersion(cmd: number, version: TlsVersion): void {
    const value = VERSIONS[version];
    if (value === undefined) {
      throw new RangeError(`unknown TLS version "${version}"; use one of ${Object.keys(VERSIONS).join(", ")}`);
    }
    check(
      libssl().SSL_CTX_ctrl(this.#handle, cmd, BigInt(value), null) === 1n,
      `cannot set protocol version ${version}`,
    );
  }

  /**
   * Sets the context's default password callback (§1), used by key loads that
   * are given no password of their own. Null removes it.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.setPasswordCallback((maxLength, rwflag) => "secsock-pass");
   * ctx.usePrivateKeyFile("tests/fixtures/server-key-pkcs8-aes256.pem");
   * ```
   */
  setPasswordCallback(cb: PasswordCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") throw new TypeError("setPasswordCallback() takes a function or null");
    this.#core.passwordCallback = cb;
  }

  /**
   * Uses a private key: a {@linkcode PrivateKey}, PEM text, or PEM/DER bytes
   * ("inline" keys), encrypted or not.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.useCertificateChain(Deno.readTextFileSync("tests/fixtures/server-chain.pem"));
   * ctx.usePrivateKey(Deno.readTextFileSync("tests/fixtures/server-key-legacy-aes256.pem"), "secsock-pass");
   * ```
   */
  usePrivateKey(key: string | Uint8Array | PrivateKey, password?: Password): void {
    const handle = this.#handle;
    const pkey = toPrivateKeyHandle(key, password, this.#core.passwordCallback);
    try {
      clearErrors();
      if (libssl().SSL_CTX_use_PrivateKey(handle, pkey) !== 1) {
        throw new UnableToReadPrivateKeyError("the private key does not match the certificate");
      }
    } finally {
      freePrivateKey(pkey);
    }
  }

  /**
   * Uses a private key from a PEM or DER file.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.usePrivateKeyFile("tests/fixtures/server.key");
   * ```
   */
  usePrivateKeyFile(path: string, password?: Password): void {
    this.usePrivateKey(Deno.readFileSync(path), password);
  }

  /**
   * Uses a certificate and its chain: the first PEM certificate is this
   * endpoint's own, the rest are intermediates sent after it.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.useCertificateChain(Deno.readTextFileSync("tests/fixtures/server-chain.pem"));
   * ```
   */
  useCertificateChain(pem: string | Uint8Array): void {
    const handle = this.#handle;
    const certs = toCertificates(pem);
    const ssl = libssl();
    const leaf = newX509(certs[0]);
    try {
      clearErrors();
      if (ssl.SSL_CTX_use_certificate(handle, leaf) !== 1) {
        throw new UnableToReadCertificateError("OpenSSL refused the certificate");
      }
    } finally {
      freeX509(leaf);
    }
    ssl.SSL_CTX_ctrl(handle, SSL_CTRL_CHAIN, 0n, null);
    for (const cert of certs.slice(1)) {
      const x509 = newX509(cert);
      try {
        // SSL_CTX_add1_chain_cert takes its own reference.
        check(ssl.SSL_CTX_ctrl(handle, SSL_CTRL_CHAIN_CERT, 1n, x509) === 1n, "cannot add a chain certificate");
      } finally {
        freeX509(x509);
      }
    }
  }

  /**
   * Uses a certificate chain from a PEM file.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.useCertificateChainFile("tests/fixtures/server-chain.pem");
   * ```
   */
  useCertificateChainFile(path: string): void {
    this.useCertificateChain(Deno.readFileSync(path));
  }

  /**
   * Trusts a certificate (or every certificate of a PEM bundle) as a CA. On a
   * server that verifies clients, its name is also sent as an acceptable issuer.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext({ useSystemTrust: false });
   * ctx.addTrustedCertificate(Deno.readTextFileSync("tests/fixtures/ca.pem"));
   * ```
   */
  addTrustedCertificate(cert: string | Uint8Array | X509Certificate): void {
    const handle = this.#handle;
    const ssl = libssl();
    const store = ssl.SSL_CTX_get_cert_store(handle);
    for (const c of toCertificates(cert)) {
      const x509 = newX509(c);
      try {
        clearErrors();
        check(libcrypto().X509_STORE_add_cert(store, x509) === 1, "cannot add a trusted certificate");
        check(ssl.SSL_CTX_add_client_CA(handle, x509) === 1, "cannot add a client CA name");
      } finally {
        freeX509(x509);
      }
    }
  }

  /**
   * Trusts every certificate of a PEM file.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.addTrustedCertificatesFile("tests/fixtures/ca.pem");
   * ```
   */
  addTrustedCertificatesFile(path: string): void {
    this.addTrustedCertificate(Deno.readFileSync(path));
  }

  /**
   * Sets the verification mode ({@linkcode VerifyMode} flags) and, when given,
   * the verification callback (§2). Applies to sockets made afterwards.
   *
   * @example
   * ```ts
   * import { SecureSocketContext, VerifyMode } from "@secsock/secsock";
   * const server = new SecureSocketContext();
   * server.setVerify(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert, (ok, store) => ok);
   * ```
   */
  setVerify(mode: number, cb?: VerifyCallback | null): void {
    this.#handle;
    this.#core.verifyMode = checkVerifyMode(mode);
    if (cb !== undefined) this.setCertificateVerifyCallback(cb);
  }

  /**
   * Sets the verification callback (§2), called for each certificate of the
   * peer's chain, deepest first. Null removes it.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.setCertificateVerifyCallback((ok, store) => {
   *   console.log(`depth ${store.depth}: ${store.currentCertificate?.subject} ${store.errorString}`);
   *   return ok;
   * });
   * ```
   */
  setCertificateVerifyCallback(cb: VerifyCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") {
      throw new TypeError("setCertificateVerifyCallback() takes a function or null");
    }
    this.#core.verifyCallback = cb;
  }

  /**
   * Limits how many intermediate certificates may follow the peer's own.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * new SecureSocketContext().setVerifyDepth(4);
   * ```
   */
  setVerifyDepth(depth: number): void {
    if (!Number.isInteger(depth) || depth < 0) throw new RangeError("verify depth must be a non-negative integer");
    libssl().SSL_CTX_set_verify_depth(this.#handle, depth);
  }

  /**
   * Sets the default handshake information callback (§3) for sockets made from
   * this context; a socket's own `setInfoCallback()` takes precedence.
   *
   * @example
   * ```ts
   * import { formatInfo, SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.setInfoCallback((socket, where, ret) => {
   *   const line = formatInfo(socket, where, ret);
   *   if (line) console.error(line);
   * });
   * ```
   */
  setInfoCallback(cb: InfoCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") throw new TypeError("setInfoCallback() takes a function or null");
    this.#core.infoCallback = cb;
  }

  /**
   * Sets the client certificate callback (§4), asked which certificate to send
   * when a server requests one and the context has none configured.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.setClientCertificateCallback(async (socket) => ({
   *   certificate: await Deno.readTextFile("tests/fixtures/client.pem"),
   *   privateKey: await Deno.readTextFile("tests/fixtures/client.key"),
   * }));
   * ```
   */
  setClientCertificateCallback(cb: ClientCertificateCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") {
      throw new TypeError("setClientCertificateCallback() takes a function or null");
    }
    this.#core.setClientCertificateCallback(cb);
  }

  /** Releases the context; sockets made from it keep working until they close. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#core.release();
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function checkVerifyMode(mode: number): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 15) {
    throw new RangeError("verify mode must be VerifyMode flags (0-15)");
  }
  return mode;
}

function encodeAlpn(protocols: string[]): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const parts = protocols.map((p) => {
    const bytes = encoder.encode(p);
    if (bytes.length === 0 || bytes.length > 255) throw new RangeError(`invalid ALPN protocol name "${p}"`);
    return bytes;
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let offset = 0;
  for (const p of parts) {
    out[offset++] = p.length;
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
