/**
 * The one interface between a context's trampolines and a socket.
 *
 * OpenSSL calls a context's native callbacks (one trampoline per kind per
 * context, see ContextCore.trampoline) with an `SSL*`. The trampoline finds
 * the socket's {@linkcode Connection} here and dispatches to it; everything a
 * callback needs from its socket — the public object, the live SSL, which end
 * it is, the context that applies now, the exception to rethrow, the answers
 * OpenSSL waits for — is on that object. The socket writes its state there and
 * reads nothing back but what the callbacks leave (errors, verify failure,
 * pending answers).
 *
 * Each callback's own per-connection state (the verify answers, the suspended
 * client-certificate and SNI choices) is a field here, owned by its file in
 * lib/callbacks/ and created on first use: most connections never need it.
 *
 * Entries are held weakly: a socket the user dropped without closing can still
 * be collected, and the safety net frees its native state ({@linkcode NativeRefs}).
 *
 * @module
 */
import { libssl } from "../../ffi/library.ts";
import { CallbackErrorSlot } from "../../ffi/callbacks.ts";
import { type Pointer, pointerKey, type PointerValue } from "../../ffi/memory.ts";
import type { AsyncChoice } from "../async_choice.ts";
import { SocketClosedError } from "../errors.ts";
import type { ContextCore } from "../context_core.ts";
import type { SecureSocket } from "../socket.ts";
import type { SecureSocketContext } from "../context.ts";
import type { InfoCallback } from "./info.ts";
import type { ClientCertificate } from "./client_certificate.ts";
import type { VerifyState } from "./verify.ts";

/**
 * The native references of one connection, apart from the socket object so
 * that a safety net can free them once the socket is collected: its SSL, and
 * a reference on the context it was made from and on the one SNI chose.
 */
export interface NativeRefs {
  /** The SSL*, null once freed. */
  ssl: Pointer | null;
  /** The registry key of the SSL (its address). */
  readonly key: bigint;
  /** The context the SSL was made from: its trampolines serve the SSL until it is freed. */
  readonly origin: ContextCore;
  /** The context SNI moved the connection to, when it is another one (a reference is held on it). */
  chosen: ContextCore | null;
}

/** One connection as the callbacks see it; also its registry entry. */
export class Connection {
  /** The public socket, handed to user callbacks. */
  readonly socket: SecureSocket;
  /** What the socket owns natively (freed by {@linkcode releaseNative}). */
  readonly native: NativeRefs;
  /** True on the server end (set when the socket is attached). */
  isServer = false;
  /** The socket's own info callback; it overrides the context's (lib/callbacks/info.ts). */
  infoCallback: InfoCallback | null = null;
  /** A callback's exception, rethrown by the I/O call that drove OpenSSL. */
  readonly errors: CallbackErrorSlot = new CallbackErrorSlot();
  /** The first certificate that failed verification (code and depth), for the error. */
  verifyFailure: { code: number; depth: number } | null = null;
  /** lib/callbacks/verify.ts: the verification answers of the passes in progress. */
  verifyState: VerifyState | null = null;
  /** lib/callbacks/client_certificate.ts: the client certificate answer OpenSSL waits for. */
  clientCertificateChoice: AsyncChoice<ClientCertificate | null> | null = null;
  /** lib/callbacks/server_name.ts: the context choice OpenSSL waits for. */
  serverNameChoice: AsyncChoice<SecureSocketContext | null> | null = null;
  #closed: { promise: Promise<void>; resolve: () => void } | null = null;

  /**
   * @param socket the socket this connection is
   * @param ssl its new SSL*
   * @param origin the context it was made from (the caller gave the SSL a reference on it)
   */
  constructor(socket: SecureSocket, ssl: Pointer, origin: ContextCore) {
    this.socket = socket;
    this.native = { ssl, key: pointerKey(ssl), origin, chosen: null };
  }

  /** The live SSL*; throws SocketClosedError once it was freed. */
  get ssl(): Pointer {
    const ssl = this.native.ssl;
    if (!ssl) throw new SocketClosedError("SecureSocket");
    return ssl;
  }

  /** The context the socket was made from (the listener's, under SNI). */
  get origin(): ContextCore {
    return this.native.origin;
  }

  /** The context whose settings and callbacks apply now (another one after SNI picks it). */
  get active(): ContextCore {
    return this.native.chosen ?? this.native.origin;
  }

  /** Keeps a callback's exception, to rethrow once OpenSSL returns. */
  record(error: unknown): void {
    this.errors.record(error);
  }

  /** What the handshake must wait for before calling OpenSSL again, for a suspended choice. */
  pendingChoice(clientCertificate: boolean): Promise<void> | null {
    const pending = (clientCertificate ? this.clientCertificateChoice : this.serverNameChoice)?.pending ?? null;
    return pending && this.untilClosed(pending);
  }

  /** The asynchronous verification answers to wait for (and forget). */
  takeVerifyPending(): Promise<void>[] {
    const pending = this.verifyState?.pending ?? [];
    if (this.verifyState) this.verifyState.pending = [];
    if (pending.length === 0) return pending;
    return [this.untilClosed(Promise.all(pending).then(() => {}))];
  }

  /**
   * `wait`, ended early by close(): an answer that never comes must not hold
   * a closed socket's handshake forever (the handshake then sees the closed socket).
   */
  untilClosed(wait: Promise<void>): Promise<void> {
    return Promise.race([wait, this.#closedSignal().promise]);
  }

  /** The socket was closed: ends every wait for an answer. */
  socketClosed(): void {
    this.#closedSignal().resolve();
  }

  #closedSignal(): { promise: Promise<void>; resolve: () => void } {
    if (!this.#closed) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => resolve = r);
      this.#closed = { promise, resolve };
    }
    return this.#closed;
  }
}

const connections = new Map<bigint, WeakRef<Connection>>();

/** Makes `connection` the one callbacks on its SSL reach. */
export function registerConnection(connection: Connection): void {
  connections.set(connection.native.key, new WeakRef(connection));
}

/** The connection that owns `ssl`, if it is still alive. */
export function connectionFor(ssl: PointerValue): Connection | undefined {
  return connections.get(pointerKey(ssl))?.deref();
}

/**
 * A trampoline body that finds the connection of the `SSL*` OpenSSL passes
 * first and hands it the other arguments; `orphan` is the answer for an SSL
 * no live socket owns (OpenSSL's neutral value for that callback).
 */
export function dispatchTo<A extends unknown[], R>(
  dispatch: (connection: Connection, ...args: A) => R,
  orphan: R,
): (ssl: PointerValue, ...args: A) => R {
  return (ssl, ...args) => {
    const connection = connectionFor(ssl);
    return connection ? dispatch(connection, ...args) : orphan;
  };
}

/** How many connections are registered (for leak tests). */
export function liveSocketCount(): number {
  return connections.size;
}

/**
 * Frees a connection's SSL and its context references, once (SSL_free(3)).
 * The registry entry goes first: addresses get reused.
 */
export function releaseNative(native: NativeRefs): void {
  const ssl = native.ssl;
  if (!ssl) return;
  native.ssl = null;
  connections.delete(native.key);
  libssl().SSL_free(ssl);
  native.chosen?.release();
  native.chosen = null;
  native.origin.release();
}

/** Setter validation shared by every callback setter: a function, or null to remove it. */
export function checkCallback(cb: unknown, setter: string): void {
  if (cb !== null && typeof cb !== "function") throw new TypeError(`${setter} takes a function or null`);
}
