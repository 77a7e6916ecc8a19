/**
 * Server Name Indication on the server: the name the client asked for, read
 * from the raw ClientHello so the choice of context can wait for a Promise.
 *
 * @module
 */
import { clientHelloExtension } from "../ffi/tls_extensions.ts";
import { libssl } from "../ffi/library.ts";
import { isNull, type Pointer, type PointerValue } from "../ffi/memory.ts";
import type { SecureSocketContext } from "./context.ts";
import type { SecureSocket } from "./socket.ts";

/**
 * Picks the context (certificate, key, settings) for the host name a client
 * requested, or null to keep the listener's. Called for every ClientHello,
 * with `servername` null when the client sent no SNI. May return a Promise.
 *
 * @example
 * ```ts
 * import { SecureSocketContext, type ServerNameCallback } from "@secsock/secsock";
 * const sites = new Map<string, SecureSocketContext>();
 * const pick: ServerNameCallback = (_socket, name) => (name && sites.get(name)) || null;
 * ```
 */
export type ServerNameCallback = (
  socket: SecureSocket,
  servername: string | null,
) => SecureSocketContext | null | Promise<SecureSocketContext | null>;

const TLSEXT_TYPE_SERVER_NAME = 0;

/** The host name in a ClientHello's server_name extension, or null. */
export function requestedServerName(ssl: Pointer): string | null {
  const ext = clientHelloExtension(ssl, TLSEXT_TYPE_SERVER_NAME);
  if (!ext || ext.length < 2) return null;
  // ServerNameList: uint16 length, then entries of { uint8 type; uint16 length; name }.
  const end = Math.min(ext.length, 2 + ((ext[0] << 8) | ext[1]));
  for (let i = 2; i + 3 <= end;) {
    const type = ext[i];
    const length = (ext[i + 1] << 8) | ext[i + 2];
    if (i + 3 + length > end) break;
    if (type === 0) return new TextDecoder().decode(ext.subarray(i + 3, i + 3 + length));
    i += 3 + length;
  }
  return null;
}

const TLSEXT_NAMETYPE_HOST_NAME = 0;
/** SSL_TLSEXT_ERR_OK: the name is acknowledged. */
export const SSL_TLSEXT_ERR_OK = 0;
/** SSL_TLSEXT_ERR_ALERT_FATAL: what the servername trampoline returns if it fails. */
export const SSL_TLSEXT_ERR_ALERT_FATAL = 2;
/** SSL_TLSEXT_ERR_NOACK: the name is not acknowledged (what OpenSSL does without a callback). */
export const SSL_TLSEXT_ERR_NOACK = 3;

/**
 * Body of the servername callback (SSL_CTX_set_tlsext_servername_callback(3)),
 * installed on every context. The context for a name is chosen earlier, in
 * the client-hello callback; this one only acknowledges a name the client
 * sent. Without an acknowledgement OpenSSL records no name in the server's
 * sessions: `servername` reads null on a resumed TLS 1.2 connection, OpenSSL's
 * check that SNI does not change on resumption never runs, and clients record
 * no name to check a session against. OpenSSL also calls it on clients (after
 * the server's extensions), where it keeps its default answer (no acknowledgement).
 */
export function acknowledgeServerName(ssl: PointerValue): number {
  if (isNull(ssl)) return SSL_TLSEXT_ERR_NOACK;
  const lib = libssl();
  if (lib.SSL_is_server(ssl) !== 1) return SSL_TLSEXT_ERR_NOACK;
  return isNull(lib.SSL_get_servername(ssl, TLSEXT_NAMETYPE_HOST_NAME)) ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_OK;
}
