/**
 * Named shims for the OpenSSL "functions" that are macros over
 * `SSL_CTX_ctrl`, `SSL_ctrl`, `SSL_CTX_callback_ctrl` and `BIO_ctrl` (and so
 * absent from the library's symbol table): each takes typed arguments, names
 * the macro it stands for, and returns what says whether OpenSSL accepted it.
 * No other file passes a control command number.
 *
 * @module
 */
import { libcrypto, libssl } from "./library.ts";
import { type Pointer, PointerSlot, pointerTo, type PointerValue } from "./memory.ts";
import {
  BIO_C_SET_BUF_MEM_EOF_RETURN,
  SSL_CTRL_CHAIN,
  SSL_CTRL_CHAIN_CERT,
  SSL_CTRL_GET_MAX_PROTO_VERSION,
  SSL_CTRL_GET_MIN_PROTO_VERSION,
  SSL_CTRL_GET_TLSEXT_STATUS_REQ_OCSP_RESP,
  SSL_CTRL_GET_TLSEXT_TICKET_KEYS,
  SSL_CTRL_GET_VERIFY_CERT_STORE,
  SSL_CTRL_MODE,
  SSL_CTRL_SET_MAX_PROTO_VERSION,
  SSL_CTRL_SET_MIN_PROTO_VERSION,
  SSL_CTRL_SET_RETRY_VERIFY,
  SSL_CTRL_SET_SESS_CACHE_MODE,
  SSL_CTRL_SET_TLSEXT_HOSTNAME,
  SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
  SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB,
  SSL_CTRL_SET_TLSEXT_STATUS_REQ_OCSP_RESP,
  SSL_CTRL_SET_TLSEXT_STATUS_REQ_TYPE,
  SSL_CTRL_SET_TLSEXT_TICKET_KEYS,
  SSL_CTRL_SET_VERIFY_CERT_STORE,
  TLSEXT_NAMETYPE_HOST_NAME,
} from "./constants.ts";

// ---- SSL_CTX ----

/** `SSL_CTX_set_mode(3)`: adds mode bits; returns the new mode (it cannot fail). */
export function ctxSetMode(ctx: Pointer, mode: bigint): bigint {
  return libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_MODE, mode, null);
}

/** `SSL_CTX_set_min_proto_version(3)`: false when OpenSSL refuses the version. */
export function ctxSetMinProtoVersion(ctx: Pointer, version: number): boolean {
  return libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, BigInt(version), null) === 1n;
}

/** `SSL_CTX_set_max_proto_version(3)`: false when OpenSSL refuses the version. */
export function ctxSetMaxProtoVersion(ctx: Pointer, version: number): boolean {
  return libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, BigInt(version), null) === 1n;
}

/** `SSL_CTX_get_min_proto_version(3)`: the lowest version allowed, 0 when there is no bound. */
export function ctxGetMinProtoVersion(ctx: Pointer): number {
  return Number(libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_GET_MIN_PROTO_VERSION, 0n, null));
}

/** `SSL_CTX_get_max_proto_version(3)`: the highest version allowed, 0 when there is no bound. */
export function ctxGetMaxProtoVersion(ctx: Pointer): number {
  return Number(libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_GET_MAX_PROTO_VERSION, 0n, null));
}

/** `SSL_CTX_set_session_cache_mode(3)`: returns the previous mode (it cannot fail). */
export function ctxSetSessionCacheMode(ctx: Pointer, mode: bigint): bigint {
  return libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_SET_SESS_CACHE_MODE, mode, null);
}

/** `SSL_CTX_set_tlsext_ticket_keys(3)`: false unless `keys` has the exact size OpenSSL expects. */
export function ctxSetTicketKeys(ctx: Pointer, keys: Uint8Array): boolean {
  return libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_SET_TLSEXT_TICKET_KEYS, BigInt(keys.length), pointerTo(keys)) === 1n;
}

/** `SSL_CTX_get_tlsext_ticket_keys(3)`: OpenSSL writes the keys into `out`; false unless its size is exact. */
export function ctxGetTicketKeys(ctx: Pointer, out: Uint8Array): boolean {
  return libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_GET_TLSEXT_TICKET_KEYS, BigInt(out.length), pointerTo(out)) === 1n;
}

/** `SSL_CTX_set_tlsext_status_cb(3)`: installs (or, with null, removes) the OCSP status callback. */
export function ctxSetStatusCallback(ctx: Pointer, callback: PointerValue): boolean {
  return libssl().SSL_CTX_callback_ctrl(ctx, SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB, callback) === 1n;
}

/** `SSL_CTX_set_tlsext_servername_callback(3)`: installs (or, with null, removes) the servername callback. */
export function ctxSetServernameCallback(ctx: Pointer, callback: PointerValue): boolean {
  return libssl().SSL_CTX_callback_ctrl(ctx, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB, callback) === 1n;
}

/** `SSL_CTX_clear_chain_certs(3)`: forgets the chain sent after the certificate (it cannot fail). */
export function ctxClearChainCerts(ctx: Pointer): void {
  libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_CHAIN, 0n, null);
}

/** `SSL_CTX_add1_chain_cert(3)`: appends to the chain; OpenSSL takes its own reference. */
export function ctxAddChainCert(ctx: Pointer, x509: Pointer): boolean {
  return libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_CHAIN_CERT, 1n, x509) === 1n;
}

/** `SSL_CTX_get0_verify_cert_store(3)`: the store peers are verified against, if one was set apart. */
export function ctxGetVerifyCertStore(ctx: Pointer): PointerValue {
  const slot = new PointerSlot();
  libssl().SSL_CTX_ctrl(ctx, SSL_CTRL_GET_VERIFY_CERT_STORE, 0n, pointerTo(slot.buffer));
  return slot.pointer;
}

// ---- SSL ----

/** `SSL_clear_chain_certs(3)`: forgets the connection's chain (it cannot fail). */
export function clearChainCerts(ssl: Pointer): void {
  libssl().SSL_ctrl(ssl, SSL_CTRL_CHAIN, 0n, null);
}

/** `SSL_add1_chain_cert(3)`: appends to the connection's chain; OpenSSL takes its own reference. */
export function addChainCert(ssl: Pointer, x509: Pointer): boolean {
  return libssl().SSL_ctrl(ssl, SSL_CTRL_CHAIN_CERT, 1n, x509) === 1n;
}

/** `SSL_set_tlsext_host_name(3)`: the SNI name a client sends; `name` is NUL-terminated. */
export function setTlsextHostName(ssl: Pointer, name: Uint8Array): boolean {
  return libssl().SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, BigInt(TLSEXT_NAMETYPE_HOST_NAME), pointerTo(name)) ===
    1n;
}

/** `SSL_set_tlsext_status_type(3)`: a client asks for a stapled response of `type`. */
export function setTlsextStatusType(ssl: Pointer, type: number): boolean {
  return libssl().SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_STATUS_REQ_TYPE, BigInt(type), null) === 1n;
}

/**
 * `SSL_set_tlsext_status_ocsp_resp(3)`: the response a server staples;
 * OpenSSL takes ownership of `response` (OPENSSL_malloc'd, `length` bytes).
 */
export function setTlsextStatusOcspResp(ssl: Pointer, response: Pointer, length: number): boolean {
  return libssl().SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_STATUS_REQ_OCSP_RESP, BigInt(length), response) === 1n;
}

/** `SSL_get_tlsext_status_ocsp_resp(3)`: the stapled response OpenSSL holds (client), or null. */
export function getTlsextStatusOcspResp(ssl: Pointer): { data: PointerValue; length: number } {
  const slot = new PointerSlot();
  const length = Number(libssl().SSL_ctrl(ssl, SSL_CTRL_GET_TLSEXT_STATUS_REQ_OCSP_RESP, 0n, pointerTo(slot.buffer)));
  return { data: slot.pointer, length };
}

/** `SSL_set1_verify_cert_store(3)`: the store this connection verifies its peer against (its own reference). */
export function setVerifyCertStore(ssl: Pointer, store: Pointer): boolean {
  return libssl().SSL_ctrl(ssl, SSL_CTRL_SET_VERIFY_CERT_STORE, 1n, store) === 1n;
}

/**
 * `SSL_set_retry_verify(3)`: from inside the verify callback, makes the
 * handshake pause (SSL_ERROR_WANT_RETRY_VERIFY) and verify the chain again.
 * False when OpenSSL cannot retry here (then the callback's "yes" would be final).
 */
export function setRetryVerify(ssl: Pointer): boolean {
  return libssl().SSL_ctrl(ssl, SSL_CTRL_SET_RETRY_VERIFY, 0n, null) > 0n;
}

// ---- BIO ----

/** `BIO_set_mem_eof_return(3)`: what reading an empty memory BIO returns (0 = EOF). */
export function bioSetMemEofReturn(bio: Pointer, value: number): void {
  libcrypto().BIO_ctrl(bio, BIO_C_SET_BUF_MEM_EOF_RETURN, BigInt(value), null);
}
