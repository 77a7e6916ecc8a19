/**
 * ContextCore: the state behind a SecureSocketContext, shared with the
 * sockets made from it — the `SSL_CTX*` and its reference count, and the
 * settings the callbacks read. Each callback's trampoline (one per process,
 * see SharedCallback in ffi/callbacks.ts), installation and dispatch live in
 * its own file under lib/callbacks/.
 *
 * @module
 */
import { libssl } from "../ffi/library.ts";
import { openSharedCallbacks } from "../ffi/callbacks.ts";
import { type Pointer, pointerKey, type PointerValue } from "../ffi/memory.ts";
import { setContextSessionIdContext, setSessionIdContext } from "../ffi/session.ts";
import { ContextInUseError, SecureSocketError, SocketClosedError } from "./errors.ts";
import { SessionIdContext } from "./session.ts";
import { freeStore } from "./trust.ts";
import type { AlpnSelectCallback } from "./callbacks/alpn.ts";
import type { ClientCertificateCallback } from "./callbacks/client_certificate.ts";
import type { InfoCallback } from "./callbacks/info.ts";
import type { KeylogCallback } from "./callbacks/keylog.ts";
import type { OcspResponseCallback } from "./callbacks/ocsp.ts";
import type { PasswordCallback } from "./callbacks/password.ts";
import type { ServerNameCallback } from "./callbacks/server_name.ts";
import type { SessionCacheCallbacks } from "./callbacks/session.ts";
import type { VerifyCallback } from "./callbacks/verify.ts";

/** The state behind a context, shared with the sockets made from it. */
export class ContextCore {
  #handle: Pointer | null;
  #refs = 1;
  /** A socket was made from (or moved by SNI to) this context: its policy settings are frozen. */
  #inUse = false;
  // The settings the callbacks and sockets read (each written by its setter).
  verifyMode: number | undefined;
  verifyCallback: VerifyCallback | null = null;
  infoCallback: InfoCallback | null = null;
  clientCertificateCallback: ClientCertificateCallback | null = null;
  passwordCallback: PasswordCallback | null = null;
  serverNameCallback: ServerNameCallback | null = null;
  alpnProtocols: string[] | null = null;
  alpnSelectCallback: AlpnSelectCallback | null = null;
  keylogCallback: KeylogCallback | null = null;
  keylogFile: string | null = null;
  sessionCache: SessionCacheCallbacks | null = null;
  ocspResponse: Uint8Array | null = null;
  ocspCallback: OcspResponseCallback | null = null;
  requestOcsp = false;
  /**
   * With system trust: the store clients verify servers against (system CAs
   * plus the named ones, see lib/trust.ts); the SSL_CTX's own store holds the
   * named CAs only. Owned here, freed on release.
   */
  serverAuthStore: Pointer | null = null;
  /** The name given with setSessionIdContext(), mixed into the derived session ID context. */
  sessionPolicyName: Uint8Array | null = null;
  readonly #sessionIdContext = new SessionIdContext();
  #contextSessionIdContext: Uint8Array | null = null;
  /** The session ID context computed once the policy froze: it cannot change any more. */
  #frozenSessionIdContext: Uint8Array<ArrayBuffer> | null = null;

  constructor(handle: Pointer) {
    // Before OpenSSL can call back into this context: no native callback is
    // ever made inside a native call (ffi/callbacks.ts).
    openSharedCallbacks();
    this.#handle = handle;
    cores.set(pointerKey(handle), this);
  }

  /** The live SSL_CTX*, or a SocketClosedError. */
  get handle(): Pointer {
    if (!this.#handle) throw new SocketClosedError("SecureSocketContext");
    return this.#handle;
  }

  /**
   * The session ID context derived from this context's policy now (see
   * lib/session.ts). The SSL_CTX gets it too, so connections made or moved
   * here outside secsock's own paths carry the same value.
   */
  sessionIdContext(): Uint8Array<ArrayBuffer> {
    // Frozen policy (a socket exists): the value computed then stays right,
    // and a socket costs one FFI call (SSL_set_session_id_context) instead of
    // reading the policy back from the SSL_CTX.
    if (this.#frozenSessionIdContext) return this.#frozenSessionIdContext;
    const value = this.#sessionIdContext.derive(this.handle, {
      verifyMode: this.verifyMode,
      verifyCallback: this.verifyCallback,
      name: this.sessionPolicyName,
      systemTrust: this.serverAuthStore !== null,
    });
    if (value !== this.#contextSessionIdContext) {
      if (!setContextSessionIdContext(this.handle, value)) {
        throw SecureSocketError.fromQueue("cannot set the session ID context");
      }
      this.#contextSessionIdContext = value;
    }
    if (this.#inUse) this.#frozenSessionIdContext = value;
    return value;
  }

  /**
   * Gives a connection made from (or moved by SNI to) this context the
   * session ID context of its policy: a session resumes only where it equals
   * the one the session was made under.
   */
  applySessionIdContext(ssl: Pointer): void {
    if (!setSessionIdContext(ssl, this.sessionIdContext())) {
      throw SecureSocketError.fromQueue("cannot set the session ID context");
    }
  }

  /**
   * Freezes the settings that decide who is accepted and what is presented:
   * called when a socket is made from this context or moved to it by SNI.
   */
  markInUse(): void {
    this.#inUse = true;
  }

  /** Refuses a change of a frozen setting (see SecureSocketContext's "Changing a context"). */
  requireNotInUse(setter: string): void {
    if (this.#inUse) throw new ContextInUseError(setter);
  }

  /** A socket takes a reference. */
  retain(): void {
    this.handle;
    this.#refs++;
  }

  /** Drops a reference; the last one frees the SSL_CTX and closes the callbacks. */
  release(): void {
    if (--this.#refs > 0 || !this.#handle) return;
    const key = pointerKey(this.#handle);
    // OpenSSL may still call back with this SSL_CTX* while freeing it (remove-session).
    libssl().SSL_CTX_free(this.#handle);
    cores.delete(key);
    this.#handle = null;
    if (this.serverAuthStore) freeStore(this.serverAuthStore);
    this.serverAuthStore = null;
  }
}

/** Live contexts by SSL_CTX address: for the callbacks OpenSSL calls with an `SSL_CTX*` and no `SSL*`. */
const cores = new Map<bigint, ContextCore>();

/** The live context whose SSL_CTX is `ctx`, if any. */
export function coreFor(ctx: PointerValue): ContextCore | undefined {
  return ctx === null ? undefined : cores.get(pointerKey(ctx));
}

/** How many SSL_CTXs secsock holds right now (for leak tests and diagnostics). */
export function liveContextCount(): number {
  return cores.size;
}
