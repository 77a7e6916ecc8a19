/**
 * The server's external session cache (sessions in Redis, a database, shared
 * by several servers), top to bottom: the callbacks' type, the setter's
 * validation, the three trampolines (new, get and remove session), and their
 * per-connection dispatch.
 *
 * @module
 */
import { SharedCallback } from "../../ffi/callbacks.ts";
import { libssl } from "../../ffi/library.ts";
import { type Pointer, type PointerValue, readBytes, writeInt32 } from "../../ffi/memory.ts";
import { SSL_OP_NO_TICKET, SSL_SESS_CACHE_NO_INTERNAL, SSL_SESS_CACHE_SERVER } from "../../ffi/constants.ts";
import { ctxSetSessionCacheMode } from "../../ffi/ctrl.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import { decodeSession, encodeSession, sessionId } from "../../ffi/session.ts";
import { type ContextCore, coreFor } from "../context_core.ts";
import type { SecureSocket } from "../socket.ts";
import { type Connection, connectionFor } from "./connection.ts";

/**
 * An external session store for a server context. With it set, the server
 * issues session IDs (TLS 1.2) or stateful tickets (TLS 1.3) instead of
 * self-contained tickets, and asks the store to resume them. All three run
 * synchronously inside the handshake.
 *
 * @example
 * ```ts
 * import type { SessionCacheCallbacks } from "@secsock/secsock";
 * const store = new Map<string, Uint8Array>();
 * const key = (id: Uint8Array) => Array.from(id).join(",");
 * const cache: SessionCacheCallbacks = {
 *   newSession: (id, session) => void store.set(key(id), session),
 *   getSession: (id) => store.get(key(id)) ?? null,
 *   removeSession: (id) => void store.delete(key(id)),
 * };
 * ```
 */
export interface SessionCacheCallbacks {
  /** A new session was established: store `session` under `id`. */
  newSession(id: Uint8Array, session: Uint8Array, socket: SecureSocket): void;
  /** A client asks to resume `id`: return the stored session, or null. */
  getSession(id: Uint8Array, socket: SecureSocket): Uint8Array | null;
  /** OpenSSL dropped the session (expired or invalidated). */
  removeSession?(id: Uint8Array): void;
}

// ---- The setter ----

/**
 * Installs (or, with null, removes) a server context's external session
 * cache. Null restores the default: OpenSSL's internal cache and stateless tickets.
 */
export function setSessionCacheCallbacks(core: ContextCore, callbacks: SessionCacheCallbacks | null): void {
  const handle = core.handle;
  if (
    callbacks !== null && (typeof callbacks?.newSession !== "function" || typeof callbacks?.getSession !== "function")
  ) {
    throw new TypeError("setSessionCacheCallbacks() takes { newSession, getSession, removeSession? } or null");
  }
  core.sessionCache = callbacks;
  const ssl = libssl();
  if (!callbacks) {
    ssl.SSL_CTX_sess_set_new_cb(handle, null);
    ssl.SSL_CTX_sess_set_get_cb(handle, null);
    ssl.SSL_CTX_sess_set_remove_cb(handle, null);
    ctxSetSessionCacheMode(handle, SSL_SESS_CACHE_SERVER);
    ssl.SSL_CTX_clear_options(handle, SSL_OP_NO_TICKET);
    return;
  }
  // Stateless tickets would bypass the store: use session IDs (and, in TLS 1.3, stateful tickets).
  ssl.SSL_CTX_set_options(handle, SSL_OP_NO_TICKET);
  ctxSetSessionCacheMode(handle, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
  installTrampolines(core);
}

// ---- The trampolines ----

/** `int new_session_cb(SSL *ssl, SSL_SESSION *sess)`: 0 = we keep no reference to the session. */
const NEW_SESSION_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `SSL_SESSION *get_session_cb(SSL *ssl, const unsigned char *data, int len, int *copy)`: null = not found. */
const GET_SESSION_CALLBACK = {
  parameters: ["pointer", "pointer", "i32", "pointer"],
  result: "pointer",
} as const satisfies CallbackDefinition;

/** `void remove_session_cb(SSL_CTX *ctx, SSL_SESSION *sess)`: nothing to return. */
const REMOVE_SESSION_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "void",
} as const satisfies CallbackDefinition;

/*
 * The trampolines, one per process each (ffi/callbacks.ts). OpenSSL calls
 * them on the SSL_CTX the SSL was made from (its session context, which an
 * SNI switch does not change): the connection's origin, whose cache they read
 * at call time. Should a dispatch throw, C gets "no reference kept" and "not found".
 */
const newSessionTrampoline = new SharedCallback(NEW_SESSION_CALLBACK, (s, session) => {
  const connection = connectionFor(s);
  if (connection && session) storeSession(connection, connection.origin.sessionCache, session);
  return 0; // we keep no reference to the session
}, 0);
const getSessionTrampoline = new SharedCallback(GET_SESSION_CALLBACK, (s, id, length, copy) => {
  const connection = connectionFor(s);
  return connection && id ? lookupSession(connection, connection.origin.sessionCache, id, length, copy) : null;
}, null);
/** Called with the SSL_CTX* only: the context is found by its address. */
const removeSessionTrampoline = new SharedCallback(REMOVE_SESSION_CALLBACK, (ctx, session) => {
  const core = coreFor(ctx);
  if (core && session) removeSession(core.sessionCache, session);
}, undefined);

/** SSL_CTX_sess_set_new_cb(3) and its siblings. */
function installTrampolines(core: ContextCore): void {
  const ssl = libssl();
  const handle = core.handle;
  ssl.SSL_CTX_sess_set_new_cb(handle, newSessionTrampoline.pointer);
  ssl.SSL_CTX_sess_set_get_cb(handle, getSessionTrampoline.pointer);
  ssl.SSL_CTX_sess_set_remove_cb(handle, removeSessionTrampoline.pointer);
}

// ---- The dispatch ----

/** Body of the new-session callback. */
function storeSession(
  connection: Connection,
  cache: SessionCacheCallbacks | null,
  session: Pointer,
): void {
  if (!cache) return;
  try {
    cache.newSession(sessionId(session), encodeSession(session), connection.socket);
  } catch (error) {
    connection.record(error);
  }
}

/** Body of the get-session callback: a decoded session OpenSSL takes ownership of, or null. */
function lookupSession(
  connection: Connection,
  cache: SessionCacheCallbacks | null,
  id: Pointer,
  length: number,
  copy: PointerValue,
): PointerValue {
  if (!cache) return null;
  try {
    const idBytes = readBytes(id, length);
    const stored = cache.getSession(idBytes, connection.socket) as unknown;
    if (stored === null || stored === undefined) return null;
    if (!(stored instanceof Uint8Array)) {
      throw new TypeError("getSession() must return the stored session bytes or null (synchronously)");
    }
    const session = decodeSession(stored);
    // *copy = 0: OpenSSL takes over our only reference.
    if (session && copy) writeInt32(copy, 0);
    return session;
  } catch (error) {
    connection.record(error);
    return null;
  }
}

/** Body of the remove-session callback. */
function removeSession(cache: SessionCacheCallbacks | null, session: Pointer): void {
  try {
    cache?.removeSession?.(sessionId(session));
  } catch (error) {
    // No connection is waiting on this call to rethrow into; do not lose it.
    console.error("secsock: removeSession callback threw:", error);
  }
}
