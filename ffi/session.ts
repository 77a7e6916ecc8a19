/**
 * SSL_SESSION handles: DER encoding for export/import, session IDs, what a
 * session records about where it was made (session ID context, host name,
 * server certificate), and the native state a session ID context is derived
 * from (trust store, own certificate, verification parameters).
 *
 * @module
 */
import { SecureSocketError } from "../lib/errors.ts";
import { libcrypto, libssl } from "./library.ts";
import { HOST_CHECK_FLAGS } from "./constants.ts";
import { ctxGetMaxProtoVersion, ctxGetMinProtoVersion, ctxGetVerifyCertStore } from "./ctrl.ts";
import { cursorTo, isNull, type Pointer, pointerKey, type PointerValue, readBytes, readCString } from "./memory.ts";

/** DER encoding of a session (what `socket.session` returns). */
export function encodeSession(session: Pointer): Uint8Array<ArrayBuffer> {
  const ssl = libssl();
  const length = ssl.i2d_SSL_SESSION(session, null);
  if (length <= 0) return new Uint8Array(0);
  const out = new Uint8Array(length);
  ssl.i2d_SSL_SESSION(session, cursorTo(out));
  return out;
}

/** Parses a DER session; the caller owns the result. Null when the bytes are not a session. */
export function decodeSession(der: Uint8Array): Pointer | null {
  const copy = new Uint8Array(der);
  try {
    const session = libssl().d2i_SSL_SESSION(null, cursorTo(copy), BigInt(copy.length));
    return isNull(session) ? null : session;
  } finally {
    // The DER holds the session's master secret: leave no copy of it behind.
    copy.fill(0);
  }
}

/** A session's ID bytes. */
export function sessionId(session: Pointer): Uint8Array<ArrayBuffer> {
  const length = new Uint32Array(1);
  const id = libssl().SSL_SESSION_get_id(session, length);
  return isNull(id) ? new Uint8Array(0) : readBytes(id, length[0]);
}

/** The session ID context recorded in a session (`SSL_SESSION_get0_id_context(3)`). */
export function sessionIdContextOf(session: Pointer): Uint8Array<ArrayBuffer> {
  const length = new Uint32Array(1);
  const context = libssl().SSL_SESSION_get0_id_context(session, length);
  return isNull(context) ? new Uint8Array(0) : readBytes(context, length[0]);
}

/** The SNI host name the session was made for, or null (`SSL_SESSION_get0_hostname(3)`). */
export function sessionHostname(session: Pointer): string | null {
  return readCString(libssl().SSL_SESSION_get0_hostname(session));
}

/**
 * Whether the peer certificate recorded in a client session matches `name`
 * (`X509_check_host(3)` or `X509_check_ip_asc(3)`, no partial wildcards, no
 * subject CN fallback). Null when the session holds no peer certificate.
 */
export function sessionPeerMatches(session: Pointer, name: string, ip: boolean): boolean | null {
  const peer = libssl().SSL_SESSION_get0_peer(session);
  if (isNull(peer)) return null;
  const crypto = libcrypto();
  const text = new TextEncoder().encode(name);
  if (text.includes(0)) return false;
  if (ip) {
    const withNul = new Uint8Array(text.length + 1);
    withNul.set(text);
    return crypto.X509_check_ip_asc(peer, withNul, HOST_CHECK_FLAGS) === 1;
  }
  return crypto.X509_check_host(peer, text, BigInt(text.length), HOST_CHECK_FLAGS, null) === 1;
}

/** Sets the session ID context of one connection (`SSL_set_session_id_context(3)`). */
export function setSessionIdContext(ssl: Pointer, context: Uint8Array<ArrayBuffer>): boolean {
  return libssl().SSL_set_session_id_context(ssl, context, context.length) === 1;
}

/** Sets a context's session ID context, copied by SSL_new (`SSL_CTX_set_session_id_context(3)`). */
export function setContextSessionIdContext(ctx: Pointer, context: Uint8Array<ArrayBuffer>): boolean {
  return libssl().SSL_CTX_set_session_id_context(ctx, context, context.length) === 1;
}

/** SHA-256 of `data` (`EVP_Digest(3)`). */
export function sha256(data: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const crypto = libcrypto();
  const out = new Uint8Array(32);
  const length = new Uint32Array(1);
  if (crypto.EVP_Digest(data, BigInt(data.length), out, length, crypto.EVP_sha256(), null) !== 1 || length[0] !== 32) {
    throw SecureSocketError.fromQueue("EVP_Digest(SHA-256) failed");
  }
  return out;
}

function certificateDigest(x509: Pointer): Uint8Array<ArrayBuffer> {
  const crypto = libcrypto();
  const out = new Uint8Array(32);
  const length = new Uint32Array(1);
  if (crypto.X509_digest(x509, crypto.EVP_sha256(), out, length) !== 1) {
    throw SecureSocketError.fromQueue("X509_digest failed");
  }
  return out;
}

/**
 * A context's handshake policy beyond trust: the security level
 * (SSL_CTX_get_security_level(3)), the protocol range
 * (SSL_CTX_get_min_proto_version(3), SSL_CTX_get_max_proto_version(3);
 * 0 = no bound) and every cipher it accepts, TLS 1.3 suites included, in
 * preference order (SSL_CTX_get_ciphers(3)). A resumed session keeps the key strength
 * and cipher of the handshake that made it, so each of these is part of the
 * policy a session ID context names.
 */
function handshakePolicy(ctx: Pointer): string[] {
  const ssl = libssl();
  const crypto = libcrypto();
  const ciphers: string[] = [];
  const stack = ssl.SSL_CTX_get_ciphers(ctx);
  if (!isNull(stack)) {
    const count = crypto.OPENSSL_sk_num(stack);
    for (let i = 0; i < count; i++) {
      ciphers.push(readCString(ssl.SSL_CIPHER_get_name(crypto.OPENSSL_sk_value(stack, i))) ?? "?");
    }
  }
  return [
    `security-level:${ssl.SSL_CTX_get_security_level(ctx)}`,
    `versions:${ctxGetMinProtoVersion(ctx)}-${ctxGetMaxProtoVersion(ctx)}`,
    `ciphers:${ciphers.join(":")}`,
  ];
}

/**
 * The native state of an `SSL_CTX` that decides which peer certificates it
 * accepts, read cheaply, so a derived value can be cached until it changes.
 * Certificates can be added to a store but never removed, so the number of
 * objects in it changes whenever its contents do.
 */
export interface VerificationState {
  /** The store peers are verified against: the verify store when one is set, else the certificate store. */
  store: PointerValue;
  /**
   * A key that changes when the store, its contents, the own certificate,
   * the parameters, the security level, the protocol range or the ciphers change.
   */
  key: string;
  /** The handshake policy part (security level, versions, ciphers), read once for both key and material. */
  policy: string[];
}

/** Reads the verification state of a context. */
export function verificationState(ctx: Pointer): VerificationState {
  const ssl = libssl();
  const crypto = libcrypto();
  const store = ctxGetVerifyCertStore(ctx) ?? ssl.SSL_CTX_get_cert_store(ctx);
  const objects = isNull(store) ? -1 : crypto.OPENSSL_sk_num(crypto.X509_STORE_get0_objects(store));
  const param = ssl.SSL_CTX_get0_param(ctx);
  const flags = isNull(param) ? 0n : crypto.X509_VERIFY_PARAM_get_flags(param);
  const policy = handshakePolicy(ctx);
  const key = [
    pointerKey(store),
    objects,
    pointerKey(ssl.SSL_CTX_get0_certificate(ctx)),
    ssl.SSL_CTX_get_verify_depth(ctx),
    flags,
    ...policy,
  ].join(":");
  return { store, key, policy };
}

/**
 * What a context's policy digest covers from native state: the sorted
 * SHA-256 fingerprints of the trusted certificates, the own certificate's
 * fingerprint, the verify depth, the verification flags, the security level,
 * the protocol range and the accepted ciphers.
 */
export function verificationMaterial(ctx: Pointer, state: VerificationState): string[] {
  const ssl = libssl();
  const crypto = libcrypto();
  const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const trusted: string[] = [];
  if (!isNull(state.store)) {
    const objects = crypto.X509_STORE_get0_objects(state.store);
    const count = crypto.OPENSSL_sk_num(objects);
    for (let i = 0; i < count; i++) {
      const x509 = crypto.X509_OBJECT_get0_X509(crypto.OPENSSL_sk_value(objects, i));
      // CRLs (null here) only matter with CRL checking, which shows in the flags.
      if (!isNull(x509)) trusted.push(hex(certificateDigest(x509)));
    }
  }
  trusted.sort();
  const own = ssl.SSL_CTX_get0_certificate(ctx);
  const param = ssl.SSL_CTX_get0_param(ctx);
  return [
    `certificate:${isNull(own) ? "none" : hex(certificateDigest(own))}`,
    `depth:${ssl.SSL_CTX_get_verify_depth(ctx)}`,
    `flags:${isNull(param) ? 0 : crypto.X509_VERIFY_PARAM_get_flags(param).toString(16)}`,
    `trust:${trusted.join(",")}`,
    ...state.policy,
  ];
}

/** Frees a session handle. */
export function freeSession(session: PointerValue): void {
  if (!isNull(session)) libssl().SSL_SESSION_free(session);
}
