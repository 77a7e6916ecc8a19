/**
 * The certificate verification callback (§2), top to bottom: its types, the
 * setter's validation, the trampolines OpenSSL calls (the chain verification
 * of every context, and `SSL_verify_cb` for contexts with a callback; one of
 * each per process), the per-connection dispatch (every report asked once, asynchronous
 * answers on clients through SSL_set_retry_verify(3)), and X509StoreContext,
 * the view of OpenSSL's `X509_STORE_CTX` the callback receives.
 *
 * @module
 */
import { libcrypto, libssl } from "../../ffi/library.ts";
import { SharedCallback } from "../../ffi/callbacks.ts";
import { type Pointer, readCString } from "../../ffi/memory.ts";
import { stackElements } from "../../ffi/x509.ts";
import { certificateIdentity, chainIdentity, verificationPass } from "../../ffi/x509_verify.ts";
import { setRetryVerify } from "../../ffi/ctrl.ts";
import {
  SSL_VERIFY_CLIENT_ONCE,
  SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
  SSL_VERIFY_NONE,
  SSL_VERIFY_PEER,
  SSL_VERIFY_POST_HANDSHAKE,
  X509_V_ERR_APPLICATION_VERIFICATION,
  X509_V_OK,
} from "../../ffi/constants.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import { isPromiseLike } from "../async_choice.ts";
import { certificateFromHandle, type X509Certificate } from "../certificate.ts";
import type { ContextCore } from "../context_core.ts";
import { SecureSocketError } from "../errors.ts";
import type { SecureSocket } from "../socket.ts";
import { checkCallback, type Connection, connectionFor } from "./connection.ts";

/**
 * The verification callback: called for every report OpenSSL makes on the
 * peer's chain, deepest (the root) first and the peer's own certificate
 * (depth 0) last. OpenSSL may report on one certificate more than once (first
 * `ok`, later a name-constraint, policy or host-name failure); each report is
 * asked and answered on its own, so `(ok) => ok` gives the verdict of no
 * callback. `ok` says whether OpenSSL's own checks passed. Return true to
 * accept, false to reject; on a client, a Promise of either suspends the
 * handshake, and its answer applies to the report it was given for.
 *
 * With verify mode `VerifyMode.None` on a client, OpenSSL still verifies the
 * chain and calls the callback, but goes on whatever the verdict: the
 * callback observes, it cannot reject (its `false` is ignored). To reject in
 * a callback, use a mode that verifies (the client default).
 *
 * @example
 * ```ts
 * import type { VerifyCallback } from "@secsock/secsock";
 * const logAndAccept: VerifyCallback = (ok, store) => {
 *   console.log(store.depth, store.currentCertificate?.subject, ok ? "ok" : store.errorString);
 *   return ok;
 * };
 * ```
 */
export type VerifyCallback = (ok: boolean, store: X509StoreContext) => boolean | Promise<boolean>;

/**
 * Flags for `verifyMode` and `setVerify()` (OpenSSL's SSL_VERIFY_* values).
 *
 * @example
 * ```ts
 * import { SecureSocketContext, VerifyMode } from "@secsock/secsock";
 * // A server that requires client certificates:
 * const ctx = new SecureSocketContext({ verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
 * ```
 */
export const VerifyMode = {
  None: SSL_VERIFY_NONE,
  Peer: SSL_VERIFY_PEER,
  FailIfNoPeerCert: SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
  ClientOnce: SSL_VERIFY_CLIENT_ONCE,
  PostHandshake: SSL_VERIFY_POST_HANDSHAKE,
} as const;

// ---- The setter ----

/**
 * Sets (or, with null, removes) a context's verification callback:
 * setCertificateVerifyCallback(). OpenSSL reports each certificate to the
 * per-report trampoline only while a callback is set (SSL_CTX_set_verify(3);
 * the mode argument is unused, secsock sets the mode per connection).
 */
export function setVerifyCallback(core: ContextCore, cb: VerifyCallback | null): void {
  checkCallback(cb, "setCertificateVerifyCallback()");
  core.verifyCallback = cb;
  libssl().SSL_CTX_set_verify(core.handle, 0, reportTrampoline(core));
}

/**
 * The per-report trampoline a connection moved to `core` needs (null: none;
 * SSL_set_verify(3) then keeps the one it has, which falls back to OpenSSL's verdict).
 */
export function reportTrampoline(core: ContextCore): Pointer | null {
  return core.verifyCallback ? verifyTrampoline.pointer : null;
}

// ---- The trampoline ----

/** `int SSL_verify_cb(int preverify_ok, X509_STORE_CTX *x509_ctx)`: 1 continues, 0 fails verification. */
const VERIFY_CALLBACK = {
  parameters: ["i32", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `int (*cb)(X509_STORE_CTX *ctx, void *arg)` of SSL_CTX_set_cert_verify_callback(3): 1 verified, 0 failed. */
const CERT_VERIFY_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

let storeIndex: number | undefined;

/** The connection whose peer `store` verifies (through the SSL in the store's ex_data). */
function storeConnection(store: Pointer): Connection | undefined {
  storeIndex ??= libssl().SSL_get_ex_data_X509_STORE_CTX_idx();
  return connectionFor(libcrypto().X509_STORE_CTX_get_ex_data(store, storeIndex));
}

/**
 * The per-report trampoline (`SSL_verify_cb`), one per process: installed on
 * contexts with a verification callback and dispatched to the connection
 * found through the SSL the store belongs to. Should the dispatch itself
 * throw, C gets 0 (reject).
 */
const verifyTrampoline = new SharedCallback(VERIFY_CALLBACK, (ok, store) => {
  if (store === null) return ok;
  const connection = storeConnection(store);
  return connection ? verifyReport(connection, ok, store) : ok;
}, 0);

/**
 * The chain verification, one per process: it runs OpenSSL's own
 * (X509_verify_cert(3), with the store OpenSSL prepared) once per chain, and
 * on failure records the failing certificate's code and depth for the
 * error. Without a verification callback nothing else enters JavaScript
 * during verification; with one, its reports have recorded the first
 * rejection already. Should the dispatch throw, C gets 0 (failed).
 */
const chainTrampoline = new SharedCallback(CERT_VERIFY_CALLBACK, (store) => {
  if (store === null) return 0;
  const crypto = libcrypto();
  const result = crypto.X509_verify_cert(store);
  if (result > 0) return result;
  // Without a callback verification stops at the first failure (OpenSSL's
  // default callback returns its verdict), so the store names that one.
  const connection = storeConnection(store);
  if (connection) {
    connection.verifyFailure ??= {
      code: crypto.X509_STORE_CTX_get_error(store),
      depth: crypto.X509_STORE_CTX_get_error_depth(store),
    };
  }
  // An internal error (-1) fails like a rejection, as in OpenSSL's own path.
  return 0;
}, 0);

/**
 * Installs a context's chain verification (SSL_CTX_set_cert_verify_callback(3));
 * every context has it from the start.
 */
export function installVerifyTrampoline(core: ContextCore): void {
  libssl().SSL_CTX_set_cert_verify_callback(core.handle, chainTrampoline.pointer, null);
}

// ---- The dispatch, per connection ----

/**
 * The verification callback's answers on one connection, for the passes of an
 * asynchronous verification. A Promise answer makes OpenSSL finish the pass
 * provisionally and verify the whole chain again once it settles; that next
 * pass repeats the same reports, which get the answers already given, and
 * any report that was not answered yet is asked then.
 */
export interface VerifyState {
  /** The pass being reported on (see verificationPass). */
  pass: bigint;
  /** Reports made so far in this pass. */
  position: number;
  /** This pass is waiting for an answer: it only runs to ask for the next pass. */
  waiting: boolean;
  /**
   * A report of this pass had no recorded answer: from then on nothing is
   * replayed, since answers apply only while the pass repeats the earlier
   * one report for report, in order.
   */
  diverged: boolean;
  /** Answers by report (see reportKey), given in this pass or in the one that asked for it. */
  answers: Map<string, boolean>;
  /** What the handshake awaits before OpenSSL runs the next pass (Connection.takeVerifyPending). */
  pending: Promise<void>[];
}

/**
 * Names one report of one pass: its place in the pass, everything it says,
 * and the chain it was made on (the chain built so far can differ between
 * passes: two intermediates with the same name and key, one valid until a
 * moment and the other after it). A later pass serves an answer only to a
 * report identical in all of them; any report that differs (another error,
 * another certificate, another chain, the time-dependent checks coming out
 * otherwise) is a new question.
 */
function reportKey(position: number, ok: number, store: Pointer): string {
  const crypto = libcrypto();
  const depth = crypto.X509_STORE_CTX_get_error_depth(store);
  const error = crypto.X509_STORE_CTX_get_error(store);
  const certificate = certificateIdentity(crypto.X509_STORE_CTX_get_current_cert(store));
  return `${position}:${depth}:${ok}:${error}:${certificate}:${chainIdentity(store)}`;
}

/**
 * One report: 1 to continue, 0 to fail verification. OpenSSL may report on
 * one certificate several times (first "ok", later a name-constraint, policy
 * or host-name failure); every report is the callback's question, and an
 * answer applies to the report it was given for only. The callback is the
 * one of the context that applies now (after SNI, the chosen one).
 */
function verifyReport(connection: Connection, ok: number, store: Pointer): number {
  const crypto = libcrypto();
  const depth = crypto.X509_STORE_CTX_get_error_depth(store);
  const cb = connection.active.verifyCallback;
  let accepted: boolean;
  try {
    if (!cb) {
      accepted = ok === 1;
    } else {
      const state = verifyState(connection, store);
      const key = reportKey(state.position++, ok, store);
      // Replayed only while every earlier report of this pass was replayed too.
      const replay = state.diverged ? undefined : state.answers.get(key);
      if (replay === undefined) state.diverged = true;
      if (replay !== undefined) {
        accepted = replay;
      } else if (state.waiting) {
        // An earlier report of this pass awaits its answer, and the pass
        // will be run again: hold this one until then, so that reports are
        // asked in OpenSSL's order, each only once what came before was accepted.
        return 1;
      } else {
        const answer = withStoreContext(store, connection.socket, (ctx) => cb(ok === 1, ctx));
        if (isPromiseLike(answer)) return verifyLater(connection, state, key, answer);
        if (typeof answer !== "boolean") {
          throw new TypeError(`the verification callback must return a boolean, got ${typeof answer}`);
        }
        // Kept for a later pass, should a later report of this one be answered asynchronously.
        state.answers.set(key, answer);
        accepted = answer;
      }
    }
  } catch (error) {
    connection.record(error);
    connection.verifyFailure ??= { code: markApplicationFailure(store), depth };
    return 0;
  }
  if (accepted) return 1;
  const code = ok === 1 ? markApplicationFailure(store) : crypto.X509_STORE_CTX_get_error(store);
  connection.verifyFailure ??= { code, depth };
  return 0;
}

/**
 * The answers for the pass `store` belongs to. A new pass keeps the earlier
 * answers only when the pass before asked for it (it was waiting for an
 * answer); otherwise it is a verification of its own and starts afresh.
 */
function verifyState(connection: Connection, store: Pointer): VerifyState {
  const pass = verificationPass(store);
  const state = connection.verifyState ??= {
    pass,
    position: 0,
    waiting: false,
    diverged: false,
    answers: new Map(),
    pending: [],
  };
  if (state.pass !== pass) {
    if (!state.waiting) state.answers = new Map();
    state.pass = pass;
    state.position = 0;
    state.waiting = false;
    state.diverged = false;
  }
  return state;
}

/**
 * A client's Promise answer: accept provisionally and make OpenSSL verify
 * the chain again once it settles; the answer applies to this report only.
 */
function verifyLater(connection: Connection, state: VerifyState, key: string, answer: PromiseLike<unknown>): number {
  if (connection.isServer) {
    // A provisional "yes" would let the client in: servers cannot pause here.
    throw new TypeError("a server's verification callback must answer synchronously (returned a Promise)");
  }
  // Without the retry, the provisional "yes" would be final.
  if (!setRetryVerify(connection.ssl)) {
    throw new SecureSocketError("OpenSSL cannot wait for the verification callback's answer here", { openssl: [] });
  }
  state.waiting = true;
  // The map of this verification: a late answer never lands in a later one.
  const answers = state.answers;
  state.pending.push(
    Promise.resolve(answer).then((value) => {
      if (typeof value !== "boolean") {
        throw new TypeError(`the verification callback's Promise must resolve to a boolean, got ${typeof value}`);
      }
      answers.set(key, value);
    }).catch((error) => connection.record(error)),
  );
  return 1;
}

// ---- What the callback sees ----

/** OpenSSL's text for an X509_V_ERR_* code, e.g. "certificate has expired". */
export function verifyErrorString(code: number): string {
  return readCString(libcrypto().X509_verify_cert_error_string(BigInt(code))) ?? `verify error ${code}`;
}

let open: (store: Pointer, socket: SecureSocket) => X509StoreContext;
let invalidate: (store: X509StoreContext) => void;

/**
 * What the verification callback sees: the certificate being checked, its
 * depth, OpenSSL's verdict and the chain built so far. Valid only while the
 * callback runs; using it afterwards throws.
 *
 * @example
 * ```ts
 * import { SecureSocketContext } from "@secsock/secsock";
 * const pinned = "AB:CD:...";
 * const ctx = new SecureSocketContext();
 * ctx.setCertificateVerifyCallback((ok, store) =>
 *   store.depth === 0 ? store.currentCertificate?.fingerprint256 === pinned : ok
 * );
 * ```
 */
export class X509StoreContext {
  #store: Pointer | null;
  readonly #socket: SecureSocket;

  private constructor(store: Pointer, socket: SecureSocket) {
    this.#store = store;
    this.#socket = socket;
  }

  static {
    open = (store, socket) => new X509StoreContext(store, socket);
    invalidate = (ctx) => {
      ctx.#store = null;
    };
  }

  get #live(): Pointer {
    if (!this.#store) {
      throw new SecureSocketError("X509StoreContext used after the verification callback returned", { openssl: [] });
    }
    return this.#store;
  }

  /** Depth of the current certificate: 0 is the peer's own, higher is closer to the root. */
  get depth(): number {
    return libcrypto().X509_STORE_CTX_get_error_depth(this.#live);
  }

  /** OpenSSL's X509_V_ERR_* code for the current certificate (0 = ok). */
  get error(): number {
    return libcrypto().X509_STORE_CTX_get_error(this.#live);
  }

  /** OpenSSL's text for `error`, e.g. "certificate has expired" or "ok". */
  get errorString(): string {
    return verifyErrorString(this.error);
  }

  /** The certificate being checked. */
  get currentCertificate(): X509Certificate | null {
    const x509 = libcrypto().X509_STORE_CTX_get_current_cert(this.#live);
    return x509 ? certificateFromHandle(x509) : null;
  }

  /** The chain as built so far, the peer's certificate first. */
  get chain(): X509Certificate[] {
    return stackElements(libcrypto().X509_STORE_CTX_get0_chain(this.#live)).map(certificateFromHandle);
  }

  /** The socket whose peer is being verified. */
  get socket(): SecureSocket {
    this.#live;
    return this.#socket;
  }

  /** Sets the verification error (an X509_V_ERR_* code), e.g. before returning false. */
  setError(code: number): void {
    if (!Number.isInteger(code)) throw new TypeError("setError() takes an X509_V_ERR_* integer code");
    libcrypto().X509_STORE_CTX_set_error(this.#live, code);
  }
}

/**
 * Runs `fn` with a store context that is invalidated as soon as `fn` returns,
 * so a reference kept by user code cannot reach a freed `X509_STORE_CTX`.
 */
export function withStoreContext<T>(store: Pointer, socket: SecureSocket, fn: (ctx: X509StoreContext) => T): T {
  const ctx = open(store, socket);
  try {
    return fn(ctx);
  } finally {
    invalidate(ctx);
  }
}

/** Marks a chain rejected by the application, unless the callback already set a code. */
export function markApplicationFailure(store: Pointer): number {
  const crypto = libcrypto();
  const current = crypto.X509_STORE_CTX_get_error(store);
  if (current !== X509_V_OK) return current;
  crypto.X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return X509_V_ERR_APPLICATION_VERIFICATION;
}
