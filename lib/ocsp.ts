/**
 * OCSP stapling: a server staples a response; a client that asked for one
 * receives it in a callback that accepts or rejects the connection. secsock
 * passes the bytes on; it verifies nothing about them.
 *
 * @module
 */
import { stapledOcspResponse, stapleOcspResponse } from "../ffi/tls_extensions.ts";
import type { SocketHooks } from "./registry.ts";
import type { SecureSocket } from "./socket.ts";
import type { Pointer } from "../ffi/memory.ts";
import { SSL_TLSEXT_ERR_NOACK, SSL_TLSEXT_ERR_OK } from "../ffi/constants.ts";

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

/** Body of OpenSSL's status callback, for both ends. */
export function ocspStatus(hooks: SocketHooks, ssl: Pointer): number {
  const core = hooks.core;
  if (hooks.socket.isServer) {
    // A response speaks for one certificate: only the context serving it
    // (after SNI, the chosen one) may staple it.
    const response = core.ocspResponse;
    if (!response) return SSL_TLSEXT_ERR_NOACK;
    return stapleOcspResponse(ssl, response) ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
  }
  const cb = core.ocspCallback;
  if (!cb) return 1;
  try {
    const answer = cb(hooks.socket, stapledOcspResponse(ssl)) as unknown;
    if (typeof answer !== "boolean") {
      throw new TypeError("the OCSP response callback must return a boolean synchronously");
    }
    return answer ? 1 : 0;
  } catch (error) {
    hooks.record(error);
    return -1;
  }
}
