/**
 * OCSP stapling: a server staples a response; a client that asked for one
 * receives it in a callback that accepts or rejects the connection. secsock
 * passes the bytes on; it verifies nothing about them. Top to bottom: the
 * callback's type, the setters, the trampoline (OpenSSL's status callback,
 * both ends), and the per-connection dispatch.
 *
 * @module
 */
import { SharedCallback } from "../../ffi/callbacks.ts";
import { ctxSetStatusCallback } from "../../ffi/ctrl.ts";
import { stapledOcspResponse, stapleOcspResponse } from "../../ffi/tls_extensions.ts";
import { SSL_TLSEXT_ERR_NOACK, SSL_TLSEXT_ERR_OK } from "../../ffi/constants.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import type { ContextCore } from "../context_core.ts";
import { SecureSocketError } from "../errors.ts";
import type { SecureSocket } from "../socket.ts";
import { checkCallback, type Connection, dispatchTo } from "./connection.ts";

/**
 * Receives the OCSP response the server stapled (DER), or null when it sent
 * none. Return true to continue the handshake, false to abort it.
 *
 * The response is NOT verified: not its signature, not that it is about the
 * server's certificate, not its age, not even that it parses. A server can
 * staple anything, so a response being there proves nothing. An application
 * that relies on revocation status verifies the bytes itself (signature by
 * the issuer it trusts or that issuer's responder, certificate ID, thisUpdate
 * and nextUpdate, status "good"), for example after the handshake and before
 * using the connection, as the README shows with `openssl ocsp`.
 *
 * @example
 * ```ts
 * import type { OcspResponseCallback, SecureSocket } from "@secsock/secsock";
 * // Keep the unverified bytes; check them once the handshake has verified the certificate.
 * const stapled = new WeakMap<SecureSocket, Uint8Array | null>();
 * const keep: OcspResponseCallback = (socket, response) => {
 *   stapled.set(socket, response);
 *   return true;
 * };
 * ```
 */
export type OcspResponseCallback = (socket: SecureSocket, response: Uint8Array | null) => boolean;

// ---- The setters ----

/** Server: the response to staple (copied), or null to stop stapling. */
export function setOcspResponse(core: ContextCore, response: Uint8Array | null): void {
  core.handle;
  core.ocspResponse = response ? new Uint8Array(response) : null;
  installOcsp(core);
}

/** Client: sets (or, with null, removes) the callback that receives the stapled response. */
export function setOcspResponseCallback(core: ContextCore, cb: OcspResponseCallback | null): void {
  core.handle;
  checkCallback(cb, "setOcspResponseCallback()");
  core.ocspCallback = cb;
  installOcsp(core);
}

// ---- The trampoline ----

/** `int status_cb(SSL *ssl, void *arg)`: server SSL_TLSEXT_ERR_*; client 1 = go on, 0 = reject, -1 = error. */
const STATUS_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/**
 * Installs the status trampoline (SSL_CTX_set_tlsext_status_cb(3)) once the
 * context staples or checks responses; `force` installs it for a context SNI
 * moves connections to. Should the dispatch throw, C gets -1 (a client fails
 * the handshake; a server sends no response).
 */
export function installOcsp(core: ContextCore, force = false): void {
  if (!force && core.ocspResponse === null && core.ocspCallback === null) return;
  if (!ctxSetStatusCallback(core.handle, statusTrampoline.pointer)) {
    throw SecureSocketError.fromQueue("cannot install the OCSP status callback");
  }
}

/** The status trampoline, one per process (ffi/callbacks.ts). */
const statusTrampoline = new SharedCallback(STATUS_CALLBACK, dispatchTo(ocspStatus, 1), -1);

// ---- The dispatch ----

/** Staples the response of the context that applies now (server), or hands the client's callback what was stapled. */
function ocspStatus(connection: Connection): number {
  const ssl = connection.ssl;
  const core = connection.active;
  if (connection.isServer) {
    // A response speaks for one certificate: only the context serving it
    // (after SNI, the chosen one) may staple it.
    const response = core.ocspResponse;
    if (!response) return SSL_TLSEXT_ERR_NOACK;
    return stapleOcspResponse(ssl, response) ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
  }
  const cb = core.ocspCallback;
  if (!cb) return 1;
  try {
    const answer = cb(connection.socket, stapledOcspResponse(ssl)) as unknown;
    if (typeof answer !== "boolean") {
      throw new TypeError("the OCSP response callback must return a boolean synchronously");
    }
    return answer ? 1 : 0;
  } catch (error) {
    connection.record(error);
    return -1;
  }
}
