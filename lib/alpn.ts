/**
 * ALPN: encoding protocol lists, and the server's selection (from a list or
 * with a callback) run from OpenSSL's ALPN select callback.
 *
 * @module
 */
import { isNull, type Pointer, pointerOffset, readBytes, writeBytes, writePointer } from "../ffi/memory.ts";
import type { SecureSocket } from "./socket.ts";
import { SSL_TLSEXT_ERR_ALERT_FATAL, SSL_TLSEXT_ERR_NOACK, SSL_TLSEXT_ERR_OK } from "../ffi/constants.ts";

/**
 * Chooses the application protocol on a server from those the client offered.
 * Return one of `offered`, or null to continue without ALPN.
 *
 * @example
 * ```ts
 * import type { AlpnSelectCallback } from "@secsock/secsock";
 * const preferH2: AlpnSelectCallback = (_socket, offered) => offered.includes("h2") ? "h2" : offered[0] ?? null;
 * ```
 */
export type AlpnSelectCallback = (socket: SecureSocket, offered: string[]) => string | null;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The wire form of a protocol list: each name prefixed by its length. */
export function encodeAlpn(protocols: string[]): Uint8Array<ArrayBuffer> {
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

/** Names and their offsets in a wire-form protocol list. */
function decodeAlpn(wire: Uint8Array): { name: string; offset: number; length: number }[] {
  const out = [];
  for (let i = 0; i < wire.length;) {
    const length = wire[i];
    if (i + 1 + length > wire.length) break;
    out.push({ name: decoder.decode(wire.subarray(i + 1, i + 1 + length)), offset: i + 1, length });
    i += 1 + length;
  }
  return out;
}

/** What the server's ALPN selection needs from its context and socket. */
export interface AlpnSelection {
  socket: SecureSocket;
  /** The server's own preference list (context option `alpnProtocols`), if any. */
  serverProtocols: string[] | null;
  callback: AlpnSelectCallback | null;
  record(error: unknown): void;
}

/**
 * Body of OpenSSL's ALPN select callback. `*out` must point into OpenSSL's own
 * `in` buffer, so the chosen name is located there rather than copied.
 */
export function selectAlpn(
  selection: AlpnSelection,
  out: Pointer | null,
  outLength: Pointer | null,
  input: Pointer | null,
  inputLength: number,
): number {
  if (!out || !outLength || isNull(input)) return SSL_TLSEXT_ERR_NOACK;
  const offered = decodeAlpn(readBytes(input, inputLength));
  let choice: string | null;
  try {
    if (selection.callback) {
      const answer = selection.callback(selection.socket, offered.map((o) => o.name)) as unknown;
      if (answer !== null && typeof answer !== "string") {
        throw new TypeError("the ALPN select callback must return one of the offered protocols or null");
      }
      choice = answer;
      if (choice === null) return SSL_TLSEXT_ERR_NOACK;
    } else {
      // Server preference order, as Node's tls does; no overlap is a fatal
      // no_application_protocol alert (RFC 7301).
      choice = selection.serverProtocols?.find((p) => offered.some((o) => o.name === p)) ?? null;
      if (choice === null) return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    const match = offered.find((o) => o.name === choice);
    if (!match) throw new TypeError(`the ALPN select callback chose "${choice}", which the client did not offer`);
    writePointer(out, pointerOffset(input, match.offset));
    writeBytes(outLength, new Uint8Array([match.length]));
    return SSL_TLSEXT_ERR_OK;
  } catch (error) {
    selection.record(error);
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
}
