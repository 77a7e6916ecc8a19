/**
 * SSL_SESSION handles: DER encoding for export/import, and session IDs.
 *
 * @module
 */
import { libssl } from "./library.ts";
import { cursorTo, isNull, type Pointer, type PointerValue, readBytes } from "./memory.ts";

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
  const session = libssl().d2i_SSL_SESSION(null, cursorTo(copy), BigInt(copy.length));
  return isNull(session) ? null : session;
}

/** A session's ID bytes. */
export function sessionId(session: Pointer): Uint8Array<ArrayBuffer> {
  const length = new Uint32Array(1);
  const id = libssl().SSL_SESSION_get_id(session, length);
  return isNull(id) ? new Uint8Array(0) : readBytes(id, length[0]);
}

/** Frees a session handle. */
export function freeSession(session: PointerValue): void {
  if (!isNull(session)) libssl().SSL_SESSION_free(session);
}
