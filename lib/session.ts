/**
 * Server-side session cache callbacks, so sessions can live in an external
 * store (Redis, a database) shared by several servers.
 *
 * @module
 */
import { type Pointer, type PointerValue, readBytes, writeInt32 } from "../ffi/memory.ts";
import { decodeSession, encodeSession, sessionId } from "../ffi/session.ts";
import type { SocketHooks } from "./registry.ts";
import type { SecureSocket } from "./socket.ts";

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

/** Body of the new-session callback. */
export function storeSession(
  hooks: SocketHooks,
  cache: SessionCacheCallbacks | null,
  session: Pointer,
): void {
  if (!cache) return;
  try {
    cache.newSession(sessionId(session), encodeSession(session), hooks.socket);
  } catch (error) {
    hooks.record(error);
  }
}

/** Body of the get-session callback: a decoded session OpenSSL takes ownership of, or null. */
export function lookupSession(
  hooks: SocketHooks,
  cache: SessionCacheCallbacks | null,
  id: Pointer,
  length: number,
  copy: PointerValue,
): PointerValue {
  if (!cache) return null;
  try {
    const idBytes = readBytes(id, length);
    const stored = cache.getSession(idBytes, hooks.socket) as unknown;
    if (stored === null || stored === undefined) return null;
    if (!(stored instanceof Uint8Array)) {
      throw new TypeError("getSession() must return the stored session bytes or null (synchronously)");
    }
    const session = decodeSession(stored);
    // *copy = 0: OpenSSL takes over our only reference.
    if (session && copy) writeInt32(copy, 0);
    return session;
  } catch (error) {
    hooks.record(error);
    return null;
  }
}

/** Body of the remove-session callback. */
export function removeSession(cache: SessionCacheCallbacks | null, session: Pointer): void {
  try {
    cache?.removeSession?.(sessionId(session));
  } catch (error) {
    // No connection is waiting on this call to rethrow into; do not lose it.
    console.error("secsock: removeSession callback threw:", error);
  }
}
