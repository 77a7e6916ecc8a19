/**
 * Server Name Indication on the server: the name the client asked for, read
 * from the raw ClientHello so the choice of context can wait for a Promise.
 *
 * @module
 */
import { clientHelloExtension } from "../ffi/tls_extensions.ts";
import type { Pointer } from "../ffi/memory.ts";
import { TLSEXT_NAMETYPE_HOST_NAME, TLSEXT_TYPE_SERVER_NAME } from "../ffi/constants.ts";
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
    if (type === TLSEXT_NAMETYPE_HOST_NAME) return new TextDecoder().decode(ext.subarray(i + 3, i + 3 + length));
    i += 3 + length;
  }
  return null;
}
