/**
 * SecureSocketContext: configuration, trust, certificates, keys and callbacks
 * shared by the sockets made from it (an `SSL_CTX*`). Its state is a
 * ContextCore (lib/context_core.ts); each callback's setter, trampoline and
 * dispatch are in lib/callbacks/.
 *
 * @module
 */
import { libcrypto, libssl, opensslAtLeast } from "../ffi/library.ts";
import { clearErrors } from "../ffi/errors.ts";
import {
  SSL_MODE_RELEASE_BUFFERS,
  SSL_OP_NO_COMPRESSION,
  SSL_OP_NO_RENEGOTIATION,
  SSL_OP_NO_RX_CERTIFICATE_COMPRESSION,
  SSL_OP_NO_TX_CERTIFICATE_COMPRESSION,
  TLS1_1_VERSION,
  TLS1_2_VERSION,
  TLS1_3_VERSION,
  TLS1_VERSION,
  TLSEXT_TICKET_KEYS_LENGTH,
} from "../ffi/constants.ts";
import {
  ctxAddChainCert,
  ctxClearChainCerts,
  ctxGetTicketKeys,
  ctxSetMaxProtoVersion,
  ctxSetMinProtoVersion,
  ctxSetMode,
  ctxSetTicketKeys,
} from "../ffi/ctrl.ts";
import { cString, isNull, type Pointer } from "../ffi/memory.ts";
import { platform } from "../ffi/platform.ts";
import { freeX509 } from "../ffi/x509.ts";
import { freePrivateKey } from "../ffi/pkey.ts";
import { type AlpnSelectCallback, setAlpnProtocols, setAlpnSelectCallback } from "./callbacks/alpn.ts";
import { type ClientCertificateCallback, setClientCertificateCallback } from "./callbacks/client_certificate.ts";
import { type InfoCallback, setContextInfoCallback } from "./callbacks/info.ts";
import { type KeylogCallback, setKeylogCallback, useKeylogFileFromEnv } from "./callbacks/keylog.ts";
import { type OcspResponseCallback, setOcspResponse, setOcspResponseCallback } from "./callbacks/ocsp.ts";
import { type Password, type PasswordCallback, setPasswordCallback } from "./callbacks/password.ts";
import {
  installServerNameTrampolines,
  type ServerNameCallback,
  setServerNameCallback,
} from "./callbacks/server_name.ts";
import { type SessionCacheCallbacks, setSessionCacheCallbacks } from "./callbacks/session.ts";
import { installVerifyTrampoline, setVerifyCallback, type VerifyCallback } from "./callbacks/verify.ts";
import { newX509, toCertificates, type X509Certificate } from "./certificate.ts";
import { ContextCore } from "./context_core.ts";
import {
  applyNodeStyleCredentials,
  checkNodeStyleOptions,
  type NodeStyleContextOptions,
  nodeStyleVerifyMode,
} from "./context_options.ts";
import {
  SecureSocketError,
  SocketClosedError,
  UnableToReadCertificateError,
  UnableToReadPrivateKeyError,
} from "./errors.ts";
import { Pkcs12 } from "./pkcs12.ts";
import { type PrivateKey, toPrivateKeyHandle } from "./private_key.ts";
import { newSystemStore } from "./trust.ts";

/** Protocol version names accepted by `minVersion`/`maxVersion`. */
export type TlsVersion = "TLSv1" | "TLSv1.1" | "TLSv1.2" | "TLSv1.3";

const VERSIONS: Record<TlsVersion, number> = {
  "TLSv1": TLS1_VERSION,
  "TLSv1.1": TLS1_1_VERSION,
  "TLSv1.2": TLS1_2_VERSION,
  "TLSv1.3": TLS1_3_VERSION,
};

/**
 * Options of {@linkcode SecureSocketContext}. Node's names (`cert`, `key`,
 * `passphrase`, `pfx`, `requestCert`, `rejectUnauthorized`, `ALPNProtocols`,
 * see {@linkcode NodeStyleContextOptions}) are accepted too, as an
 * alternative to the setters; contradictory combinations are a TypeError.
 */
export interface SecureSocketContextOptions extends NodeStyleContextOptions {
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
  /**
   * TLS 1.3 certificate compression (RFC 8879). Default: OpenSSL's default,
   * which on OpenSSL 3.2+ (3.5 in Debian 13) is on: each end offers to
   * decompress the peer's certificate, and a client compresses its own for a
   * server that offers (OpenSSL compresses a server's certificate only when
   * it was compressed ahead of time). `false` turns both off
   * (SSL_OP_NO_TX_CERTIFICATE_COMPRESSION | SSL_OP_NO_RX_CERTIFICATE_COMPRESSION),
   * e.g. for a middlebox or a peer that mishandles compressed certificates.
   * OpenSSL 3.0 cannot compress certificates: there the option is accepted
   * and changes nothing.
   */
  certificateCompression?: boolean;
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
  if (!ok) throw SecureSocketError.fromQueue(message);
}

/**
 * Configuration shared by TLS sockets: protocol versions, ciphers, trust,
 * certificates and keys, and the four callbacks. Sockets keep the context's
 * native state alive while they live, so closing it early is safe.
 *
 * **Changing a context.** Settings that decide who is accepted or what is
 * presented are frozen once the first socket is made from the context (or
 * SNI moves a connection to it): trust, `setVerify`,
 * `setCertificateVerifyCallback`, `setVerifyDepth`, the certificate chain and
 * key, `usePkcs12`, and the client-certificate, servername, ALPN-select,
 * OCSP-response, session ID context and session cache settings. They then
 * throw {@linkcode ContextInUseError}: configure a new context instead.
 * OpenSSL shares the trust store with every connection and reads several
 * callbacks from the context during a handshake, so a change would apply
 * half-way. Operational settings stay live and reach existing sockets:
 * `setTicketKeys` (rotation), `setOcspResponse` (refresh), `setInfoCallback`,
 * `setKeylogCallback` and `setPasswordCallback` (later key loads).
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
    checkNodeStyleOptions(options);
    if (options.certificateCompression !== undefined && typeof options.certificateCompression !== "boolean") {
      throw new TypeError("`certificateCompression` must be a boolean");
    }
    const ssl = libssl();
    clearErrors();
    const handle = ssl.SSL_CTX_new(ssl.TLS_method());
    if (isNull(handle)) throw SecureSocketError.fromQueue("SSL_CTX_new failed");
    this.#core = new ContextCore(handle);
    leaked.register(this, this.#core, this);
    try {
      installVerifyTrampoline(this.#core);
      installServerNameTrampolines(this.#core);
      ssl.SSL_CTX_set_options(handle, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
      // OpenSSL 3.0 has no such options (bits 32 and 33 are unassigned there): leave them unset.
      if (options.certificateCompression === false && opensslAtLeast(3, 2)) {
        ssl.SSL_CTX_set_options(handle, SSL_OP_NO_TX_CERTIFICATE_COMPRESSION | SSL_OP_NO_RX_CERTIFICATE_COMPRESSION);
      }
      ctxSetMode(handle, SSL_MODE_RELEASE_BUFFERS);
      // Derived from the policy, again for each connection (see lib/session.ts).
      this.#core.sessionIdContext();
      this.#setVersion(ctxSetMinProtoVersion, options.minVersion ?? "TLSv1.2");
      if (options.maxVersion) this.#setVersion(ctxSetMaxProtoVersion, options.maxVersion);
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
      const verifyMode = options.verifyMode ?? nodeStyleVerifyMode(options);
      if (verifyMode !== undefined) this.#core.verifyMode = checkVerifyMode(verifyMode);
      const alpnProtocols = options.alpnProtocols ?? options.ALPNProtocols;
      if (alpnProtocols) setAlpnProtocols(this.#core, alpnProtocols);
      // After the trust options; the same setters as useCertificateChain()/usePrivateKey()/usePkcs12().
      applyNodeStyleCredentials(this, options);
      if (options.requestOcsp) this.#core.requestOcsp = true;
      if (options.postHandshakeAuth) ssl.SSL_CTX_set_post_handshake_auth(handle, 1);
      useKeylogFileFromEnv(this.#core);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  get #handle(): Pointer {
    if (this.#closed) throw new SocketClosedError("SecureSocketContext");
    return this.#core.handle;
  }

  /**
   * The live handle, for a setting that decides who is accepted or what is
   * presented: refused with ContextInUseError once a socket was made from
   * this context (see "Changing a context" in the class documentation).
   */
  #frozenAfterUse(setter: string): Pointer {
    const handle = this.#handle;
    this.#core.requireNotInUse(setter);
    return handle;
  }

  #setVersion(set: (ctx: Pointer, version: number) => boolean, version: TlsVersion): void {
    const value = VERSIONS[version];
    if (value === undefined) {
      throw new RangeError(`unknown TLS version "${version}"; use one of ${Object.keys(VERSIONS).join(", ")}`);
    }
    check(set(this.#handle, value), `cannot set protocol version ${version}`);
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
    setPasswordCallback(this.#core, cb);
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
    const handle = this.#frozenAfterUse("usePrivateKey()");
    const pkey = toPrivateKeyHandle(key, password, this.#core.passwordCallback);
    try {
      clearErrors();
      if (libssl().SSL_CTX_use_PrivateKey(handle, pkey) !== 1) {
        throw UnableToReadPrivateKeyError.fromQueue("the private key does not match the certificate");
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
    const handle = this.#frozenAfterUse("useCertificateChain()");
    const certs = toCertificates(pem);
    const ssl = libssl();
    const leaf = newX509(certs[0]);
    try {
      clearErrors();
      if (ssl.SSL_CTX_use_certificate(handle, leaf) !== 1) {
        throw UnableToReadCertificateError.fromQueue("OpenSSL refused the certificate");
      }
    } finally {
      freeX509(leaf);
    }
    ctxClearChainCerts(handle);
    for (const cert of certs.slice(1)) {
      const x509 = newX509(cert);
      try {
        // SSL_CTX_add1_chain_cert takes its own reference.
        check(ctxAddChainCert(handle, x509), "cannot add a chain certificate");
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
    const handle = this.#frozenAfterUse("addTrustedCertificate()");
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
   * the verification callback (§2). Frozen once sockets exist (ContextInUseError).
   * With `VerifyMode.None` a client's callback still runs but cannot reject:
   * its `false` is ignored, as in OpenSSL.
   *
   * @example
   * ```ts
   * import { SecureSocketContext, VerifyMode } from "@secsock/secsock";
   * const server = new SecureSocketContext();
   * server.setVerify(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert, (ok, store) => ok);
   * ```
   */
  setVerify(mode: number, cb?: VerifyCallback | null): void {
    this.#frozenAfterUse("setVerify()");
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
    this.#frozenAfterUse("setCertificateVerifyCallback()");
    setVerifyCallback(this.#core, cb);
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
    libssl().SSL_CTX_set_verify_depth(this.#frozenAfterUse("setVerifyDepth()"), depth);
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
    setContextInfoCallback(this.#core, cb);
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
    this.#frozenAfterUse("setClientCertificateCallback()");
    setClientCertificateCallback(this.#core, cb);
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
    this.#frozenAfterUse("setServerNameCallback()");
    setServerNameCallback(this.#core, cb);
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
    this.#frozenAfterUse("setAlpnSelectCallback()");
    setAlpnSelectCallback(this.#core, cb);
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
    setKeylogCallback(this.#core, cb);
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
    if (!(keys instanceof Uint8Array) || keys.length !== TLSEXT_TICKET_KEYS_LENGTH) {
      throw new RangeError(`ticket keys must be exactly ${TLSEXT_TICKET_KEYS_LENGTH} bytes`);
    }
    const copy = new Uint8Array(keys);
    try {
      check(ctxSetTicketKeys(this.#handle, copy), "cannot set the ticket keys");
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
    this.#frozenAfterUse("setSessionIdContext()");
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
    const out = new Uint8Array(TLSEXT_TICKET_KEYS_LENGTH);
    check(ctxGetTicketKeys(this.#handle, out), "cannot read the ticket keys");
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
    this.#frozenAfterUse("setSessionCacheCallbacks()");
    setSessionCacheCallbacks(this.#core, callbacks);
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
    this.#frozenAfterUse("usePkcs12()");
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
    setOcspResponse(this.#core, response);
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
    this.#frozenAfterUse("setOcspResponseCallback()");
    setOcspResponseCallback(this.#core, cb);
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
