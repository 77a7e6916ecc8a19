/**
 * Maps a native `SSL*` back to the socket that owns it, so that a callback
 * OpenSSL invokes with an `SSL*` reaches the right JavaScript object.
 *
 * Entries hold the socket's hooks weakly: a socket the user dropped without
 * closing can still be collected (and its SSL freed by the safety net).
 *
 * @module
 */
import { type Pointer, pointerKey, type PointerValue } from "../ffi/memory.ts";
import type { ContextCore } from "./context.ts";
import type { SecureSocket } from "./socket.ts";

/** What a socket exposes to the native callbacks. Each hook catches its own errors. */
export interface SocketHooks {
  /** The public socket object, handed to user callbacks. */
  readonly socket: SecureSocket;
  /** The context now governing the socket (it changes when SNI picks another). */
  readonly core: ContextCore;
  /** The context the socket was made from (the listener's, under SNI). */
  readonly origin: ContextCore;
  /** Keeps a callback's exception, to rethrow once OpenSSL returns. */
  record(error: unknown): void;
  /** SNI via the client-hello callback: 1 = go on, 0 = fail, -1 = suspend. */
  clientHello(alert: PointerValue): number;
  /** §2: returns 1 to continue, 0 to fail verification. */
  verify(preverifyOk: number, store: Pointer): number;
  /** §3 */
  info(where: number, ret: number): void;
  /** §4: 1 = certificate chosen, 0 = none, -1 = suspend (or fail). */
  clientCertificate(x509Out: PointerValue, pkeyOut: PointerValue): number;
}

const sockets = new Map<bigint, WeakRef<SocketHooks>>();

/** Associates `hooks` with an SSL handle. */
export function registerSocket(ssl: PointerValue, hooks: SocketHooks): bigint {
  const key = pointerKey(ssl);
  sockets.set(key, new WeakRef(hooks));
  return key;
}

/** Forgets an SSL handle; call before `SSL_free`, since addresses get reused. */
export function unregisterSocket(key: bigint): void {
  sockets.delete(key);
}

/** The hooks of the socket that owns `ssl`, if it is still alive. */
export function socketFor(ssl: PointerValue): SocketHooks | undefined {
  return sockets.get(pointerKey(ssl))?.deref();
}

/** How many sockets are registered (for leak tests). */
export function liveSocketCount(): number {
  return sockets.size;
}
