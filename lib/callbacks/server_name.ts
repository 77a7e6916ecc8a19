/**
 * Server Name Indication on the server (the servername callback), top to
 * bottom: its type, the setter's validation, the trampoline (OpenSSL's
 * client-hello callback, so the choice can wait for a Promise), the
 * per-connection dispatch, the name read from the raw ClientHello, and the
 * move of the connection to the context the callback picked.
 *
 * @module
 */
import { libssl } from "../../ffi/library.ts";
import { SharedCallback } from "../../ffi/callbacks.ts";
import { clientHelloExtension } from "../../ffi/tls_extensions.ts";
import { isNull, type Pointer, type PointerValue, writeInt32 } from "../../ffi/memory.ts";
import {
  SSL_AD_INTERNAL_ERROR,
  SSL_VERIFY_NONE,
  TLSEXT_NAMETYPE_HOST_NAME,
  TLSEXT_TYPE_SERVER_NAME,
} from "../../ffi/constants.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import { AsyncChoice } from "../async_choice.ts";
import { contextCore, SecureSocketContext } from "../context.ts";
import type { ContextCore } from "../context_core.ts";
import { SecureSocketError } from "../errors.ts";
import type { SecureSocket } from "../socket.ts";
import { installAlpnSelect } from "./alpn.ts";
import { checkCallback, type Connection, dispatchTo } from "./connection.ts";
import { installKeylog } from "./keylog.ts";
import { reportTrampoline } from "./verify.ts";
import { installOcsp } from "./ocsp.ts";

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

// ---- The setter ----

/** Sets (or, with null, removes) a server context's servername callback and installs its trampoline. */
export function setServerNameCallback(core: ContextCore, cb: ServerNameCallback | null): void {
  const handle = core.handle;
  checkCallback(cb, "setServerNameCallback()");
  core.serverNameCallback = cb;
  libssl().SSL_CTX_set_client_hello_cb(handle, cb ? clientHelloTrampoline.pointer : null, null);
}

// ---- The trampoline ----

/** `int SSL_client_hello_cb_fn(SSL *s, int *al, void *arg)`: 1 = go on, 0 = fail (alert in `*al`), -1 = suspend. */
const CLIENT_HELLO_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** The client-hello trampoline, one per process (ffi/callbacks.ts); should the dispatch throw, C gets 0 (fail the handshake). */
const clientHelloTrampoline = new SharedCallback(CLIENT_HELLO_CALLBACK, dispatchTo(chooseContext, 1), 0);

// ---- The dispatch ----

/**
 * Asks the callback of the context the connection was made from (the
 * listener's) for the context to use: 1 = go on, 0 = fail, -1 = suspend.
 */
function chooseContext(connection: Connection, alert: PointerValue): number {
  const cb = connection.origin.serverNameCallback;
  if (!cb || !connection.isServer) return 1;
  try {
    connection.serverNameChoice ??= new AsyncChoice((e) => connection.record(e));
    const choice = connection.serverNameChoice.take(() => cb(connection.socket, requestedServerName(connection.ssl)));
    if (!choice.ready) return -1;
    const picked = choice.value as unknown;
    if (picked === null || picked === undefined) return 1;
    if (!(picked instanceof SecureSocketContext)) {
      throw new TypeError("the servername callback must return a SecureSocketContext or null");
    }
    switchContext(connection, contextCore(picked));
    return 1;
  } catch (error) {
    connection.record(error);
    if (alert) writeInt32(alert, SSL_AD_INTERNAL_ERROR);
    return 0;
  }
}

/** Moves the connection to another context (certificate, key, verification settings), SSL_set_SSL_CTX(3). */
function switchContext(connection: Connection, next: ContextCore): void {
  if (next === connection.active) return;
  const ssl = libssl();
  const handle = connection.ssl;
  const native = connection.native;
  // The socket holds one reference on its own context for its whole life,
  // and one on the context SNI chose, if that is another.
  const other = next !== native.origin;
  if (other) next.retain();
  next.markInUse();
  if (isNull(ssl.SSL_set_SSL_CTX(handle, next.handle))) {
    if (other) next.release();
    throw SecureSocketError.fromQueue("cannot switch the connection to the chosen context");
  }
  native.chosen?.release();
  native.chosen = other ? next : null;
  // OpenSSL now consults the new SSL_CTX for connection-level callbacks; the
  // listener's ALPN, key log and OCSP settings must keep applying there.
  inheritCallbacks(next, native.origin);
  // SSL_set_SSL_CTX moves certificate and key; verification settings are per SSL.
  ssl.SSL_set_verify(handle, next.verifyMode ?? SSL_VERIFY_NONE, reportTrampoline(next));
  ssl.SSL_set_verify_depth(handle, ssl.SSL_CTX_get_verify_depth(next.handle));
  // This runs in the client-hello callback, before OpenSSL looks the
  // session up: a session resumes only under the chosen context's policy.
  next.applySessionIdContext(handle);
}

/**
 * Makes the context SNI picked run `origin`'s connection-level callbacks for
 * the moved connection: its trampolines dispatch per connection, so
 * installing them changes nothing for that context's own sockets.
 */
function inheritCallbacks(next: ContextCore, origin: ContextCore): void {
  if (origin.alpnSelectCallback || origin.alpnProtocols) installAlpnSelect(next, true);
  if (origin.keylogCallback || origin.keylogFile) installKeylog(next, true);
  if (origin.ocspResponse || origin.ocspCallback) installOcsp(next, true);
}

// ---- The name the client asked for ----

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
