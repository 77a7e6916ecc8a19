/**
 * SecureSocketContext: configuration, trust, certificates, keys and callbacks
 * shared by the sockets made from it (an `SSL_CTX*`).
 *
 * @module
 */
import { libcrypto, libssl } from "../ffi/library.ts";
import {
  ALPN_SELECT_CALLBACK,
  CLIENT_CERT_CALLBACK,
  CLIENT_HELLO_CALLBACK,
  GET_SESSION_CALLBACK,
  INFO_CALLBACK,
  KEYLOG_CALLBACK,
  NativeCallback,
  NEW_SESSION_CALLBACK,
  REMOVE_SESSION_CALLBACK,
  SERVERNAME_CALLBACK,
  STATUS_CALLBACK,
  VERIFY_CALLBACK,
} from "../ffi/callbacks.ts";
import { clearErrors } from "../ffi/errors.ts";
import { cString, isNull, type Pointer, pointerTo, readCString } from "../ffi/memory.ts";
import type { CallbackDefinition, CallbackFunction } from "../ffi/runtime.ts";
import { platform } from "../ffi/platform.ts";
import { type AlpnSelectCallback, encodeAlpn, selectAlpn } from "./alpn.ts";
import { type KeylogCallback, keylogFileFromEnv, writeKeylog } from "./keylog.ts";
import { lookupSession, removeSession, type SessionCacheCallbacks, SessionIdContext, storeSession } from "./session.ts";
import { setContextSessionIdContext, setSessionIdContext } from "../ffi/session.ts";
import { type OcspResponseCallback, ocspStatus } from "./ocsp.ts";
import { acknowledgeServerName, type ServerNameCallback, SSL_TLSEXT_ERR_ALERT_FATAL } from "./sni.ts";
import { Pkcs12 } from "./pkcs12.ts";
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
import { freeStore, newSystemStore } from "./trust.ts";
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
  /**
   * Trusted CA certificates (PEM text or PEM/DER bytes): clients verify
   * servers against them, and servers verify client certificates against
   * them alone.
   */
  ca?: string | Uint8Array | (string | Uint8Array)[];
  /**
   * Clients also trust the system's certificate store when verifying servers;
   * default true. Never used for client certificates: a server judges those
   * against `ca` and `addTrustedCertificate()` only.
   */
  useSystemTrust?: boolean;
  /**
   * {@linkcode VerifyMode} flags. Default: clients verify the server
   * (`Peer`), servers do not ask for client certificates (`None`). A client
   * verifies the server (and its name) under any mode but `None`, as OpenSSL
   * does; a server asks for a certificate only with `Peer`.
   */
  verifyMode?: number;
  /**
   * ALPN protocols, most preferred first: a client offers them; a server picks
   * the first of them the client also offers, and refuses a client that offers
   * none of them (no_application_protocol). Use `setAlpnSelectCallback` for
   * any other policy.
   */
  alpnProtocols?: string[];
  /** Client: ask the server to staple an OCSP response (see `setOcspResponseCallback`). */
  requestOcsp?: boolean;
  /** Client: offer TLS 1.3 post-handshake authentication (the server may ask for a certificate later). */
  postHandshakeAuth?: boolean;
}

const SSL_CTRL_MODE = 33;
const SSL_CTRL_SET_SESS_CACHE_MODE = 44;
const SSL_CTRL_GET_TLSEXT_TICKET_KEYS = 58;
const SSL_CTRL_SET_TLSEXT_TICKET_KEYS = 59;
const SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB = 63;
const SSL_CTRL_SET_TLSEXT_SERVERNAME_CB = 53;
const SSL_CTRL_CHAIN = 88;
const SSL_CTRL_CHAIN_CERT = 89;
const SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
const SSL_CTRL_SET_MAX_PROTO_VERSION = 124;
const SSL_MODE_RELEASE_BUFFERS = 0x10n;
const SSL_OP_NO_TICKET = 1n << 14n;
const SSL_OP_NO_COMPRESSION = 1n << 17n;
const SSL_OP_NO_RENEGOTIATION = 1n << 30n;
const SSL_SESS_CACHE_SERVER = 0x2n;
const SSL_SESS_CACHE_NO_INTERNAL = 0x300n;
/** Size of OpenSSL's ticket key block (name, HMAC key, AES key). */
const TICKET_KEYS_LENGTH = 80;

/** The state behind a context, shared with the sockets made from it. */
export class ContextCore {
  #handle: Pointer | null;
  #refs = 1;
  verifyMode: number | undefined;
  verifyCallback: VerifyCallback | null = null;
  infoCallback: InfoCallback | null = null;
  clientCertificateCallback: ClientCertificateCallback | null = null;
  passwordCallback: PasswordCallback | null = null;
  serverNameCallback: ServerNameCallback | null = null;
  alpnProtocols: string[] | null = null;
  alpnSelectCallback: AlpnSelectCallback | null = null;
  keylogCallback: KeylogCallback | null = null;
  keylogFile: string | null = null;
  sessionCache: SessionCacheCallbacks | null = null;
  ocspResponse: Uint8Array | null = null;
  ocspCallback: OcspResponseCallback | null = null;
  requestOcsp = false;
  /**
   * With system trust: the store clients verify servers against (system CAs
   * plus the named ones, see lib/trust.ts); the SSL_CTX's own store holds the
   * named CAs only. Owned here, freed on release.
   */
  serverAuthStore: Pointer | null = null;
  /** The name given with setSessionIdContext(), mixed into the derived session ID context. */
  sessionPolicyName: Uint8Array | null = null;
  readonly #sessionIdContext = new SessionIdContext();
  #contextSessionIdContext: Uint8Array | null = null;
  readonly #trampolines = new Map<string, NativeCallback<CallbackDefinition>>();
  readonly #storeIndex: number;

  constructor(handle: Pointer) {
    this.#handle = handle;
    this.#storeIndex = libssl().SSL_get_ex_data_X509_STORE_CTX_idx();
    // The verify trampoline is installed at once: it tracks the failing depth
    // for errors and dispatches to the user's callback, if any.
    libssl().SSL_CTX_set_verify(
      handle,
      0,
      this.trampoline("verify", VERIFY_CALLBACK, (ok, store) => {
        if (store === null) return ok;
        const hooks = socketFor(libcrypto().X509_STORE_CTX_get_ex_data(store, this.#storeIndex));
        return hooks ? hooks.verify(ok, store) : ok;
      }, 0),
    );
    // Every context acknowledges SNI (lib/sni.ts): OpenSSL asks the context SNI
    // switched to, else the listener's, so each one needs it.
    libssl().SSL_CTX_callback_ctrl(
      handle,
      SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
      this.trampoline(
        "servername",
        SERVERNAME_CALLBACK,
        (ssl) => acknowledgeServerName(ssl),
        SSL_TLSEXT_ERR_ALERT_FATAL,
      ),
    );
  }

  /**
   * The native callback named `name`, created on first use. Each context has
   * at most one per kind, whatever the number of sockets; all live until the
   * context's last reference is released, since OpenSSL may call them until then.
   */
  trampoline<D extends CallbackDefinition>(
    name: string,
    definition: D,
    fn: CallbackFunction<D["parameters"], D["result"]>,
    failure: ReturnType<CallbackFunction<D["parameters"], D["result"]>>,
  ): Pointer {
    let callback = this.#trampolines.get(name) as NativeCallback<D> | undefined;
    if (!callback) {
      // The dispatchers below catch per socket; this guard is the last line.
      callback = new NativeCallback(definition, fn, failure, () => {});
      this.#trampolines.set(name, callback as unknown as NativeCallback<CallbackDefinition>);
    }
    return callback.pointer;
  }

  /** The live SSL_CTX*, or a SocketClosedError. */
  get handle(): Pointer {
    if (!this.#handle) throw new SocketClosedError("SecureSocketContext");
    return this.#handle;
  }

  /** The info trampoline (installed per socket with SSL_set_info_callback). */
  infoTrampoline(): Pointer {
    return this.trampoline("info", INFO_CALLBACK, (ssl, where, ret) => socketFor(ssl)?.info(where, ret), undefined);
  }

  /** Installs or removes the client certificate trampoline. */
  setClientCertificateCallback(cb: ClientCertificateCallback | null): void {
    this.clientCertificateCallback = cb;
    // OpenSSL reads this callback from the SSL_CTX at use time; with none it
    // sends no certificate. A throw must not read as "no certificate" (0): -1 suspends and fails.
    const pointer = cb
      ? this.trampoline(
        "clientCert",
        CLIENT_CERT_CALLBACK,
        (ssl, x509Out, pkeyOut) => socketFor(ssl)?.clientCertificate(x509Out, pkeyOut) ?? 0,
        -1,
      )
      : null;
    libssl().SSL_CTX_set_client_cert_cb(this.handle, pointer);
  }

  /** Installs the client-hello trampoline that runs the servername callback (SNI). */
  setServerNameCallback(cb: ServerNameCallback | null): void {
    this.serverNameCallback = cb;
    const pointer = cb
      ? this.trampoline(
        "clientHello",
        CLIENT_HELLO_CALLBACK,
        (ssl, alert) => socketFor(ssl)?.clientHello(alert) ?? 1,
        0,
      )
      : null;
    libssl().SSL_CTX_set_client_hello_cb(this.handle, pointer, null);
  }

  /** Installs the ALPN select trampoline when the server selects protocols. */
  updateAlpnSelection(force = false): void {
    const active = force || this.alpnSelectCallback !== null || this.alpnProtocols !== null;
    const pointer = active
      ? this.trampoline("alpn", ALPN_SELECT_CALLBACK, (ssl, out, outLength, input, inputLength) => {
        const hooks = socketFor(ssl);
        if (!hooks) return 3; // SSL_TLSEXT_ERR_NOACK
        const { core, origin } = hooks;
        return selectAlpn(
          {
            socket: hooks.socket,
            serverProtocols: core.alpnProtocols ?? origin.alpnProtocols,
            callback: core.alpnSelectCallback ?? origin.alpnSelectCallback,
            record: (e) => hooks.record(e),
          },
          out,
          outLength,
          input,
          inputLength,
        );
      }, 2)
      : null;
    libssl().SSL_CTX_set_alpn_select_cb(this.handle, pointer, null);
  }

  /** Installs the keylog trampoline when a callback or SSLKEYLOGFILE wants key lines. */
  updateKeylog(force = false): void {
    const active = force || this.keylogCallback !== null || this.keylogFile !== null;
    const pointer = active
      ? this.trampoline("keylog", KEYLOG_CALLBACK, (ssl, line) => {
        const hooks = socketFor(ssl);
        if (hooks) writeKeylog(hooks, readCString(line) ?? "");
      }, undefined)
      : null;
    libssl().SSL_CTX_set_keylog_callback(this.handle, pointer);
  }

  /** Installs or removes the external session cache callbacks. */
  setSessionCache(callbacks: SessionCacheCallbacks | null): void {
    this.sessionCache = callbacks;
    const ssl = libssl();
    const handle = this.handle;
    if (!callbacks) {
      ssl.SSL_CTX_sess_set_new_cb(handle, null);
      ssl.SSL_CTX_sess_set_get_cb(handle, null);
      ssl.SSL_CTX_sess_set_remove_cb(handle, null);
      ssl.SSL_CTX_ctrl(handle, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_SERVER, null);
      ssl.SSL_CTX_clear_options(handle, SSL_OP_NO_TICKET);
      return;
    }
    // Stateless tickets would bypass the store: use session IDs (and, in TLS 1.3, stateful tickets).
    ssl.SSL_CTX_set_options(handle, SSL_OP_NO_TICKET);
    ssl.SSL_CTX_ctrl(handle, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL, null);
    ssl.SSL_CTX_sess_set_new_cb(
      handle,
      this.trampoline("newSession", NEW_SESSION_CALLBACK, (s, session) => {
        const hooks = socketFor(s);
        if (hooks && session) storeSession(hooks, this.sessionCache, session);
        return 0; // we keep no reference to the session
      }, 0),
    );
    ssl.SSL_CTX_sess_set_get_cb(
      handle,
      this.trampoline("getSession", GET_SESSION_CALLBACK, (s, id, length, copy) => {
        const hooks = socketFor(s);
        return hooks && id ? lookupSession(hooks, this.sessionCache, id, length, copy) : null;
      }, null),
    );
    ssl.SSL_CTX_sess_set_remove_cb(
      handle,
      this.trampoline("removeSession", REMOVE_SESSION_CALLBACK, (_ctx, session) => {
        if (session) removeSession(this.sessionCache, session);
      }, undefined),
    );
  }

  /** Installs the OCSP status trampoline (server stapling, client checking). */
  updateOcsp(force = false): void {
    if (!force && this.ocspResponse === null && this.ocspCallback === null) return;
    const pointer = this.trampoline("status", STATUS_CALLBACK, (ssl) => {
      const hooks = socketFor(ssl);
      return hooks ? ocspStatus(hooks, ssl!) : 1;
    }, -1);
    libssl().SSL_CTX_callback_ctrl(this.handle, SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB, pointer);
  }

  /**
   * Makes this context (picked by SNI) run `origin`'s connection-level
   * callbacks for the moved connection: its trampolines dispatch per socket,
   * so installing them changes nothing for this context's own sockets.
   */
  inheritCallbacks(origin: ContextCore): void {
    if (origin.alpnSelectCallback || origin.alpnProtocols) this.updateAlpnSelection(true);
    if (origin.keylogCallback || origin.keylogFile) this.updateKeylog(true);
    if (origin.ocspResponse || origin.ocspCallback) this.updateOcsp(true);
  }

  /**
   * The session ID context derived from this context's policy now (see
   * lib/session.ts). The SSL_CTX gets it too, so connections made or moved
   * here outside secsock's own paths carry the same value.
   */
  sessionIdContext(): Uint8Array<ArrayBuffer> {
    const value = this.#sessionIdContext.derive(this.handle, {
      verifyMode: this.verifyMode,
      verifyCallback: this.verifyCallback,
      name: this.sessionPolicyName,
      systemTrust: this.serverAuthStore !== null,
    });
    if (value !== this.#contextSessionIdContext) {
      if (!setContextSessionIdContext(this.handle, value)) {
        throw new SecureSocketError("cannot set the session ID context");
      }
      this.#contextSessionIdContext = value;
    }
    return value;
  }

  /**
   * Gives a connection made from (or moved by SNI to) this context the
   * session ID context of its policy: a session resumes only where it equals
   * the one the session was made under.
   */
  applySessionIdContext(ssl: Pointer): void {
    if (!setSessionIdContext(ssl, this.sessionIdContext())) {
      throw new SecureSocketError("cannot set the session ID context");
    }
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
    if (this.serverAuthStore) freeStore(this.serverAuthStore);
    this.serverAuthStore = null;
    for (const callback of this.#trampolines.values()) callback.close();
    this.#trampolines.clear();
  }
}

let coreOf: (ctx: SecureSocketContext) => ContextCore;
let sharing: ContextCore | null = null;

/**
 * A second handle on the same context, holding its own reference: a listener
 * keeps accepting after the user closes the context it was given.
 */
export function shareContext(ctx: SecureSocketContext): SecureSocketContext {
  sharing = contextCore(ctx);
  try {
    return new SecureSocketContext();
  } finally {
    sharing = null;
  }
}

// A safety net only: a context dropped without close() gives up its reference when collected.
const leaked = new FinalizationRegistry<ContextCore>((core) => core.release());

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
   * trust store for verifying servers (never client certificates),
   * renegotiation refused.
   */
  constructor(options: SecureSocketContextOptions = {}) {
    if (sharing) {
      // Another handle on an existing context (see shareContext): one more reference.
      this.#core = sharing;
      sharing = null;
      this.#core.retain();
      leaked.register(this, this.#core, this);
      return;
    }
    const ssl = libssl();
    clearErrors();
    const handle = ssl.SSL_CTX_new(ssl.TLS_method());
    if (isNull(handle)) throw new SecureSocketError("SSL_CTX_new failed");
    this.#core = new ContextCore(handle);
    leaked.register(this, this.#core, this);
    try {
      ssl.SSL_CTX_set_options(handle, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
      ssl.SSL_CTX_ctrl(handle, SSL_CTRL_MODE, SSL_MODE_RELEASE_BUFFERS, null);
      // Derived from the policy, again for each connection (see lib/session.ts).
      this.#core.sessionIdContext();
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
      // The system store serves clients only (lib/trust.ts): never for client certificates.
      if (options.useSystemTrust ?? true) this.#core.serverAuthStore = newSystemStore();
      const cas = options.ca === undefined ? [] : Array.isArray(options.ca) ? options.ca : [options.ca];
      for (const ca of cas) this.addTrustedCertificate(ca);
      if (options.verifyMode !== undefined) this.#core.verifyMode = checkVerifyMode(options.verifyMode);
      if (options.alpnProtocols) {
        const alpn = encodeAlpn(options.alpnProtocols);
        // Clients offer the list; servers select from it (see setAlpnSelectCallback).
        // SSL_CTX_set_alpn_protos returns 0 on success, unlike most of OpenSSL.
        check(ssl.SSL_CTX_set_alpn_protos(handle, alpn, alpn.length) === 0, "cannot set the ALPN protocols");
        this.#core.alpnProtocols = [...options.alpnProtocols];
        this.#core.updateAlpnSelection();
      }
      if (options.requestOcsp) this.#core.requestOcsp = true;
      if (options.postHandshakeAuth) ssl.SSL_CTX_set_post_handshake_auth(handle, 1);
      const keylogFile = keylogFileFromEnv();
      if (keylogFile) {
        this.#core.keylogFile = keylogFile;
        this.#core.updateKeylog();
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
    this.usePrivateKey(platform.readFileSync(path), password);
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
    this.useCertificateChain(platform.readFileSync(path));
  }

  /**
   * Trusts a certificate (or every certificate of a PEM bundle) as a CA, for
   * both roles: clients verify servers against it (besides the system store),
   * servers verify client certificates against it (and the other named CAs
   * only). On a server that verifies clients, its name is also sent as an
   * acceptable issuer (SSL_CTX_add_client_CA(3)).
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
    const stores = [ssl.SSL_CTX_get_cert_store(handle), this.#core.serverAuthStore];
    for (const c of toCertificates(cert)) {
      const x509 = newX509(c);
      try {
        clearErrors();
        for (const store of stores) {
          // X509_STORE_add_cert takes its own reference (and accepts a duplicate).
          if (store) check(libcrypto().X509_STORE_add_cert(store, x509) === 1, "cannot add a trusted certificate");
        }
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
    this.addTrustedCertificate(platform.readFileSync(path));
  }

  /**
   * Sets the verification mode ({@linkcode VerifyMode} flags) and, when given,
   * the verification callback (§2). Applies to sockets made afterwards. With
   * `VerifyMode.None` a client's callback still runs but cannot reject: its
   * `false` is ignored, as in OpenSSL.
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
   * peer's chain, deepest first. Null removes it. Under `VerifyMode.None` (on
   * a client) it observes the chain but cannot reject it: OpenSSL ignores
   * its `false` and completes the handshake.
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

  /**
   * Sets the SNI callback of a server context: it picks the context
   * (certificate, key, verification settings) for the host name the client
   * asked for. It may return a Promise; the handshake waits for it.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const example = new SecureSocketContext();
   * const server = new SecureSocketContext();
   * server.setServerNameCallback((socket, name) => name === "example.test" ? example : null);
   * ```
   */
  setServerNameCallback(cb: ServerNameCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") {
      throw new TypeError("setServerNameCallback() takes a function or null");
    }
    this.#core.setServerNameCallback(cb);
  }

  /**
   * Sets the server's ALPN selection callback; it overrides the
   * `alpnProtocols` list for choosing.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const server = new SecureSocketContext();
   * server.setAlpnSelectCallback((socket, offered) => offered.includes("h2") ? "h2" : null);
   * ```
   */
  setAlpnSelectCallback(cb: AlpnSelectCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") {
      throw new TypeError("setAlpnSelectCallback() takes a function or null");
    }
    this.#core.alpnSelectCallback = cb;
    this.#core.updateAlpnSelection();
  }

  /**
   * Sets a key log callback receiving NSS key log lines (what SSLKEYLOGFILE
   * writes, which is also honoured), so captures can be decrypted.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.setKeylogCallback((socket, line) => Deno.writeTextFileSync("keys.log", line + "\n", { append: true }));
   * ```
   */
  setKeylogCallback(cb: KeylogCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") throw new TypeError("setKeylogCallback() takes a function or null");
    this.#core.keylogCallback = cb;
    this.#core.updateKeylog();
  }

  /**
   * Sets the session ticket keys (exactly 80 random bytes). Servers that share
   * them (and their client-authentication policy, see setSessionIdContext)
   * resume each other's sessions; setting new keys rotates them (older
   * tickets then fall back to a full handshake). The copy handed to OpenSSL
   * is zeroed; `keys` stays the caller's to zero. Only the listener's context
   * counts: OpenSSL encrypts and decrypts tickets with the keys of the context
   * a connection was accepted on, also after a servername callback picked
   * another context, so keys set on such a context are never used, and
   * rotating the listener's keys revokes the tickets of every SNI context.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const keys = crypto.getRandomValues(new Uint8Array(80));
   * new SecureSocketContext().setTicketKeys(keys);
   * ```
   */
  setTicketKeys(keys: Uint8Array): void {
    if (!(keys instanceof Uint8Array) || keys.length !== TICKET_KEYS_LENGTH) {
      throw new RangeError(`ticket keys must be exactly ${TICKET_KEYS_LENGTH} bytes`);
    }
    const copy = new Uint8Array(keys);
    try {
      check(
        libssl().SSL_CTX_ctrl(this.#handle, SSL_CTRL_SET_TLSEXT_TICKET_KEYS, BigInt(copy.length), pointerTo(copy)) ===
          1n,
        "cannot set the ticket keys",
      );
    } finally {
      copy.fill(0); // OpenSSL holds the keys now; the caller's array stays the caller's
    }
  }

  /**
   * Names this context's client-authentication policy for session
   * resumption. A session resumes only where the session ID context it was
   * made under is the connection's; secsock derives that value from the
   * policy (verify mode, trusted certificates, own certificate, verify depth
   * and flags, the verify callback) so that servers configured alike, in any
   * process, resume each other's sessions and no others. A verify callback's
   * verdicts cannot be compared, so each callback object counts as its own
   * policy, valid in this process only; a name given here stands for the
   * callback instead: give the same name only to contexts whose callbacks
   * accept the same certificates. The name is mixed into the derived value,
   * never replaces it (`SSL_CTX_set_session_id_context(3)`).
   *
   * @example
   * ```ts
   * import { SecureSocketContext, VerifyMode } from "@secsock/secsock";
   * const ctx = new SecureSocketContext({ verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
   * ctx.setCertificateVerifyCallback((ok, store) => ok && store.depth < 3);
   * ctx.setSessionIdContext("admin clients, depth < 3");
   * ```
   */
  setSessionIdContext(name: string | Uint8Array | null): void {
    this.#handle;
    if (name !== null && typeof name !== "string" && !(name instanceof Uint8Array)) {
      throw new TypeError("setSessionIdContext() takes a string, a Uint8Array or null");
    }
    this.#core.sessionPolicyName = name === null
      ? null
      : typeof name === "string"
      ? new TextEncoder().encode(name)
      : new Uint8Array(name);
    this.#core.sessionIdContext();
  }

  /**
   * The current session ticket keys (80 bytes), e.g. to share with other
   * servers. OpenSSL writes them straight into the returned array, secsock
   * keeps no copy: zero it (`fill(0)`) when done.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const keys = new SecureSocketContext().getTicketKeys();
   * ```
   */
  getTicketKeys(): Uint8Array {
    const out = new Uint8Array(TICKET_KEYS_LENGTH);
    check(
      libssl().SSL_CTX_ctrl(this.#handle, SSL_CTRL_GET_TLSEXT_TICKET_KEYS, BigInt(out.length), pointerTo(out)) === 1n,
      "cannot read the ticket keys",
    );
    return out;
  }

  /**
   * Stores server sessions in an external cache instead of OpenSSL's own
   * (null restores the default: stateless tickets). Only the listener's
   * context counts: OpenSSL uses the session cache of the context a
   * connection was accepted on, also after a servername callback picked
   * another context, whose own cache callbacks are never called.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const store = new Map<string, Uint8Array>();
   * const key = (id: Uint8Array) => id.join(",");
   * new SecureSocketContext().setSessionCacheCallbacks({
   *   newSession: (id, session) => void store.set(key(id), session),
   *   getSession: (id) => store.get(key(id)) ?? null,
   *   removeSession: (id) => void store.delete(key(id)),
   * });
   * ```
   */
  setSessionCacheCallbacks(callbacks: SessionCacheCallbacks | null): void {
    this.#handle;
    if (
      callbacks !== null && (typeof callbacks?.newSession !== "function" || typeof callbacks?.getSession !== "function")
    ) {
      throw new TypeError("setSessionCacheCallbacks() takes { newSession, getSession, removeSession? } or null");
    }
    this.#core.setSessionCache(callbacks);
  }

  /**
   * Uses the certificate, key and chain of a PKCS#12 (.p12/.pfx) bundle.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.usePkcs12(Deno.readFileSync("tests/fixtures/client.p12"), "secsock-pass");
   * ```
   */
  usePkcs12(data: Uint8Array, password?: Password): void {
    this.#handle;
    const { certificate, privateKey, chain } = Pkcs12.parse(data, password ?? this.#core.passwordCallback ?? undefined);
    try {
      this.useCertificateChain([certificate, ...chain].map((c) => c.toPEM()).join(""));
      this.usePrivateKey(privateKey);
    } finally {
      privateKey.close();
    }
  }

  /**
   * Server: the OCSP response (DER) to staple for clients that ask; null stops stapling.
   *
   * @example
   * ```ts
   * import { SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext();
   * ctx.setOcspResponse(Deno.readFileSync("tests/fixtures/server-ocsp.der"));
   * ```
   */
  setOcspResponse(response: Uint8Array | null): void {
    this.#handle;
    this.#core.ocspResponse = response ? new Uint8Array(response) : null;
    this.#core.updateOcsp();
  }

  /**
   * Client: receives the stapled OCSP response (DER, or null) during the
   * handshake; return false to abort. Requires the `requestOcsp` option
   * (`SSL_CTX_set_tlsext_status_cb(3)`).
   *
   * secsock does NOT verify the response: the callback gets the server's bytes
   * as sent, and a response being present proves nothing (a server can staple
   * an old one, one for another certificate, or garbage). To rely on it, check
   * it yourself against the issuer and trust anchors you know: signature,
   * certificate ID, thisUpdate/nextUpdate, status. The README's OCSP section
   * does it with `openssl ocsp` after the handshake.
   *
   * @example
   * ```ts
   * import { type SecureSocket, SecureSocketContext } from "@secsock/secsock";
   * const ctx = new SecureSocketContext({ requestOcsp: true });
   * const stapled = new WeakMap<SecureSocket, Uint8Array | null>();
   * ctx.setOcspResponseCallback((socket, response) => {
   *   stapled.set(socket, response); // unverified: check it before trusting the connection
   *   return true;
   * });
   * ```
   */
  setOcspResponseCallback(cb: OcspResponseCallback | null): void {
    this.#handle;
    if (cb !== null && typeof cb !== "function") {
      throw new TypeError("setOcspResponseCallback() takes a function or null");
    }
    this.#core.ocspCallback = cb;
    this.#core.updateOcsp();
  }

  /** Releases the context; sockets made from it keep working until they close. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    leaked.unregister(this);
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
