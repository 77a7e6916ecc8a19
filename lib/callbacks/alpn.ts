/**
 * ALPN, top to bottom: the select callback's type, the setters (the
 * `alpnProtocols` list and setAlpnSelectCallback), the trampoline OpenSSL
 * calls on a server (`alpn_select_cb`), the per-connection dispatch, and the
 * wire encoding of protocol lists.
 *
 * @module
 */
import { libssl } from "../../ffi/library.ts";
import { SharedCallback } from "../../ffi/callbacks.ts";
import { isNull, type Pointer, pointerOffset, readBytes, writeBytes, writePointer } from "../../ffi/memory.ts";
import { SSL_TLSEXT_ERR_ALERT_FATAL, SSL_TLSEXT_ERR_NOACK, SSL_TLSEXT_ERR_OK } from "../../ffi/constants.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import type { ContextCore } from "../context_core.ts";
import { SecureSocketError } from "../errors.ts";
import type { SecureSocket } from "../socket.ts";
import { checkCallback, type Connection, dispatchTo } from "./connection.ts";

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

// ---- The setters ----

/**
 * The context option `alpnProtocols`: clients offer the list; servers select
 * from it (see setAlpnSelectCallback).
 */
export function setAlpnProtocols(core: ContextCore, protocols: string[]): void {
  const alpn = encodeAlpn(protocols);
  // SSL_CTX_set_alpn_protos returns 0 on success, unlike most of OpenSSL.
  if (libssl().SSL_CTX_set_alpn_protos(core.handle, alpn, alpn.length) !== 0) {
    throw SecureSocketError.fromQueue("cannot set the ALPN protocols");
  }
  core.alpnProtocols = [...protocols];
  installAlpnSelect(core);
}

/** Sets (or, with null, removes) a server context's ALPN select callback. */
export function setAlpnSelectCallback(core: ContextCore, cb: AlpnSelectCallback | null): void {
  core.handle;
  checkCallback(cb, "setAlpnSelectCallback()");
  core.alpnSelectCallback = cb;
  installAlpnSelect(core);
}

// ---- The trampoline ----

/**
 * `int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
 *                     const unsigned char *in, unsigned int inlen, void *arg)`:
 * SSL_TLSEXT_ERR_OK, _NOACK (no ALPN) or _ALERT_FATAL.
 */
const ALPN_SELECT_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer", "pointer", "u32", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/**
 * Installs (or removes) the ALPN select trampoline (SSL_CTX_set_alpn_select_cb(3))
 * when the server selects protocols; `force` installs it for a context SNI
 * moves connections to. Should the dispatch throw, C gets a fatal alert.
 */
export function installAlpnSelect(core: ContextCore, force = false): void {
  const active = force || core.alpnSelectCallback !== null || core.alpnProtocols !== null;
  libssl().SSL_CTX_set_alpn_select_cb(core.handle, active ? alpnTrampoline.pointer : null, null);
}

/** The ALPN select trampoline, one per process (ffi/callbacks.ts). */
const alpnTrampoline = new SharedCallback(
  ALPN_SELECT_CALLBACK,
  dispatchTo(selectAlpn, SSL_TLSEXT_ERR_NOACK),
  SSL_TLSEXT_ERR_ALERT_FATAL,
);

// ---- The dispatch ----

/**
 * Chooses with the settings of the context that applies now, else those of
 * the one the connection was made from (the listener's, under SNI).
 * `*out` must point into OpenSSL's own `in` buffer, so the chosen name is
 * located there rather than copied.
 */
function selectAlpn(
  connection: Connection,
  out: Pointer | null,
  outLength: Pointer | null,
  input: Pointer | null,
  inputLength: number,
): number {
  if (!out || !outLength || isNull(input)) return SSL_TLSEXT_ERR_NOACK;
  const { active, origin } = connection;
  const callback = active.alpnSelectCallback ?? origin.alpnSelectCallback;
  const serverProtocols = active.alpnProtocols ?? origin.alpnProtocols;
  const offered = decodeAlpn(readBytes(input, inputLength));
  let choice: string | null;
  try {
    if (callback) {
      const answer = callback(connection.socket, offered.map((o) => o.name)) as unknown;
      if (answer !== null && typeof answer !== "string") {
        throw new TypeError("the ALPN select callback must return one of the offered protocols or null");
      }
      choice = answer;
      if (choice === null) return SSL_TLSEXT_ERR_NOACK;
    } else {
      // Server preference order, as Node's tls does; no overlap is a fatal
      // no_application_protocol alert (RFC 7301).
      choice = serverProtocols?.find((p) => offered.some((o) => o.name === p)) ?? null;
      if (choice === null) return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    const match = offered.find((o) => o.name === choice);
    if (!match) throw new TypeError(`the ALPN select callback chose "${choice}", which the client did not offer`);
    writePointer(out, pointerOffset(input, match.offset));
    writeBytes(outLength, new Uint8Array([match.length]));
    return SSL_TLSEXT_ERR_OK;
  } catch (error) {
    connection.record(error);
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
}

// ---- The wire form ----

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
