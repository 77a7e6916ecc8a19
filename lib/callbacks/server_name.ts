/**
 * Server Name Indication on the server (the servername callback), top to
 * bottom: its type, the setter's validation, the trampolines (OpenSSL's
 * client-hello callback, so the choice can wait for a Promise, and its
 * servername callback, which acknowledges the name), the per-connection
 * dispatch, the name read from the raw ClientHello, the move of the
 * connection to the context the callback picked, and the binding of
 * sessions to the name.
 *
 * @module
 */
import { libssl } from "../../ffi/library.ts";
import { SharedCallback } from "../../ffi/callbacks.ts";
import { clientHelloExtension } from "../../ffi/tls_extensions.ts";
import { isNull, type Pointer, type PointerValue, writeInt32 } from "../../ffi/memory.ts";
import {
  SSL_AD_INTERNAL_ERROR,
  SSL_TLSEXT_ERR_ALERT_FATAL,
  SSL_TLSEXT_ERR_NOACK,
  SSL_TLSEXT_ERR_OK,
  SSL_VERIFY_NONE,
  TLSEXT_NAMETYPE_HOST_NAME,
  TLSEXT_TYPE_SERVER_NAME,
} from "../../ffi/constants.ts";
import { ctxSetServernameCallback } from "../../ffi/ctrl.ts";
import { setSessionIdContext } from "../../ffi/session.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import { AsyncChoice } from "../async_choice.ts";
import { contextCore, SecureSocketContext } from "../context.ts";
import type { ContextCore } from "../context_core.ts";
import { SecureSocketError } from "../errors.ts";
import { nameBoundSessionIdContext } from "../session.ts";
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

/**
 * Sets (or, with null, removes) a server context's servername callback. Its
 * trampoline is on every context from the start (installServerNameTrampolines).
 */
export function setServerNameCallback(core: ContextCore, cb: ServerNameCallback | null): void {
  core.handle;
  checkCallback(cb, "setServerNameCallback()");
  core.serverNameCallback = cb;
}

// ---- The trampolines ----

/** `int SSL_client_hello_cb_fn(SSL *s, int *al, void *arg)`: 1 = go on, 0 = fail (alert in `*al`), -1 = suspend. */
const CLIENT_HELLO_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `int servername_cb(SSL *s, int *al, void *arg)` (SSL_CTX_set_tlsext_servername_callback(3)). */
const SERVERNAME_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** The client-hello and servername trampolines, one of each per process (ffi/callbacks.ts). */
const clientHelloTrampoline = new SharedCallback(CLIENT_HELLO_CALLBACK, dispatchTo(onClientHello, 1), 0);
const servernameTrampoline = new SharedCallback(
  SERVERNAME_CALLBACK,
  dispatchTo(acknowledgeServerName, SSL_TLSEXT_ERR_NOACK),
  SSL_TLSEXT_ERR_ALERT_FATAL,
);

/**
 * Installs a context's client-hello trampoline (SSL_CTX_set_client_hello_cb(3);
 * should the dispatch throw, C gets 0, failing the handshake) and its
 * servername trampoline (should it throw, a fatal alert). Every context has
 * both from the start, servername callback or not: every server connection
 * binds its sessions to the name asked for, and OpenSSL asks the context SNI
 * moved a connection to for the acknowledgement, else the one it was made from.
 */
export function installServerNameTrampolines(core: ContextCore): void {
  const handle = core.handle;
  libssl().SSL_CTX_set_client_hello_cb(handle, clientHelloTrampoline.pointer, null);
  if (!ctxSetServernameCallback(handle, servernameTrampoline.pointer)) {
    throw SecureSocketError.fromQueue("cannot install the servername callback");
  }
}

// ---- The dispatch ----

/**
 * A server's ClientHello, before OpenSSL looks up the session offered: the
 * servername callback picks the context, then the connection's sessions are
 * bound to the name asked for. 1 = go on, 0 = fail, -1 = suspend.
 */
function onClientHello(connection: Connection, alert: PointerValue): number {
  if (!connection.isServer) return 1;
  try {
    const name = requestedServerName(connection.ssl);
    if (!chooseContext(connection, name)) return -1;
    bindSessionsToName(connection, name);
    return 1;
  } catch (error) {
    connection.record(error);
    if (alert) writeInt32(alert, SSL_AD_INTERNAL_ERROR);
    return 0;
  }
}

/**
 * Asks the callback of the context the connection was made from (the
 * listener's) for the context to use and moves the connection there: false
 * while its answer is pending.
 */
function chooseContext(connection: Connection, name: string | null): boolean {
  const cb = connection.origin.serverNameCallback;
  if (!cb) return true;
  connection.serverNameChoice ??= new AsyncChoice((e) => connection.record(e));
  const choice = connection.serverNameChoice.take(() => cb(connection.socket, name));
  if (!choice.ready) return false;
  const picked = choice.value as unknown;
  if (picked === null || picked === undefined) return true;
  if (!(picked instanceof SecureSocketContext)) {
    throw new TypeError("the servername callback must return a SecureSocketContext or null");
  }
  switchContext(connection, contextCore(picked));
  return true;
}

/**
 * Gives the connection the session ID context of the context that applies
 * now, bound to the name asked for (lib/session.ts). RFC 6066 §3: a server
 * must not resume a session made for another name, but OpenSSL 3.0 does (in
 * TLS 1.2 it drops the acknowledgement and reports the session's name; in
 * TLS 1.3 it accepts the ticket). Under this value a session made for another
 * name, or for none, is not found, tickets and session IDs alike, and the
 * client gets a full handshake. This runs before OpenSSL looks the session up.
 */
function bindSessionsToName(connection: Connection, name: string | null): void {
  const value = nameBoundSessionIdContext(connection.active.sessionIdContext(), name);
  if (!setSessionIdContext(connection.ssl, value)) {
    throw SecureSocketError.fromQueue("cannot set the session ID context");
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
  // The session ID context follows (bindSessionsToName): a session resumes
  // only under the chosen context's policy.
  ssl.SSL_set_verify(handle, next.verifyMode ?? SSL_VERIFY_NONE, reportTrampoline(next));
  ssl.SSL_set_verify_depth(handle, ssl.SSL_CTX_get_verify_depth(next.handle));
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

// ---- The acknowledgement ----

/**
 * Acknowledges a name the client sent, on a server. The context for the name
 * is chosen earlier, in the client-hello callback; without an acknowledgement
 * OpenSSL records no name in the server's sessions: `servername` reads null
 * on a resumed TLS 1.2 connection, OpenSSL's check that SNI does not change
 * on resumption never runs, and clients record no name to check a session
 * against. OpenSSL also calls it on clients (after the server's extensions),
 * where it keeps its default answer (no acknowledgement).
 */
function acknowledgeServerName(connection: Connection): number {
  if (!connection.isServer) return SSL_TLSEXT_ERR_NOACK;
  const name = libssl().SSL_get_servername(connection.ssl, TLSEXT_NAMETYPE_HOST_NAME);
  return isNull(name) ? SSL_TLSEXT_ERR_NOACK : SSL_TLSEXT_ERR_OK;
}
