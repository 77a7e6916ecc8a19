/**
 * The per-connection side of the callbacks (§2 verification, §3 information,
 * §4 client certificate, and SNI): what runs when a context's trampoline
 * dispatches to a socket. It keeps the callback state of one connection —
 * the exception waiting to be rethrown, the failing certificate, answers that
 * OpenSSL must wait for — apart from the socket's I/O.
 *
 * @module
 */
import { libcrypto, libssl } from "../ffi/library.ts";
import { CallbackErrorSlot } from "../ffi/callbacks.ts";
import { drainErrors } from "../ffi/errors.ts";
import { type Pointer, type PointerValue, writeInt32, writePointer } from "../ffi/memory.ts";
import { freeX509, upRefX509 } from "../ffi/x509.ts";
import { certificateIdentity, chainIdentity, verificationPass } from "../ffi/x509_verify.ts";
import { freePrivateKey, keyMatchesCertificate } from "../ffi/pkey.ts";
import { AsyncChoice, isPromiseLike } from "./async_choice.ts";
import { newX509, toCertificates, X509Certificate } from "./certificate.ts";
import { type ClientCertificate, type ContextCore, contextCore, SecureSocketContext } from "./context.ts";
import { SecureSocketError } from "./errors.ts";
import type { InfoCallback } from "./info.ts";
import { PrivateKey, toPrivateKeyHandle } from "./private_key.ts";
import type { SocketHooks } from "./registry.ts";
import { requestedServerName } from "./sni.ts";
import type { SecureSocket } from "./socket.ts";
import { markApplicationFailure, withStoreContext } from "./verify.ts";

const SSL_CTRL_CHAIN = 88;
const SSL_CTRL_CHAIN_CERT = 89;
const SSL_CTRL_SET_RETRY_VERIFY = 136;
const SSL_AD_INTERNAL_ERROR = 80;

/**
 * What the callbacks read from their socket. One table serves every socket
 * (its functions take the socket), so a connection carries no closures of
 * its own for this.
 */
export interface SocketAccess {
  /** The live SSL*. */
  ssl(socket: SecureSocket): Pointer;
  /** The context whose settings apply now. */
  active(socket: SecureSocket): ContextCore;
  /** True on the server end. */
  isServer(socket: SecureSocket): boolean;
  /** The socket's own info callback (it overrides the context's). */
  infoCallback(socket: SecureSocket): InfoCallback | null;
  /** Moves the connection to the context SNI picked. */
  switchContext(socket: SecureSocket, next: ContextCore): void;
}

/**
 * The verification callback's answers on one connection, for the passes of an
 * asynchronous verification. A Promise answer makes OpenSSL finish the pass
 * provisionally and verify the whole chain again once it settles; that next
 * pass repeats the same reports, which get the answers already given, and
 * any report that was not answered yet is asked then.
 */
interface VerifyState {
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
  /** What the handshake awaits before OpenSSL runs the next pass. */
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

/** One connection's callback dispatch and state; it is the socket's registry entry. */
export class SocketCallbacks implements SocketHooks {
  /** A callback's exception, rethrown by the I/O call that drove OpenSSL. */
  readonly errors: CallbackErrorSlot = new CallbackErrorSlot();
  /** The first certificate that failed verification (code and depth), for the error. */
  verifyFailure: { code: number; depth: number } | null = null;
  /** The public socket, handed to user callbacks. */
  readonly socket: SecureSocket;
  /** The context the socket was made from. */
  readonly origin: ContextCore;
  readonly #access: SocketAccess;
  // Created on first use: most connections never need them.
  #verify: VerifyState | null = null;
  #clientCert: AsyncChoice<ClientCertificate | null> | null = null;
  #serverName: AsyncChoice<SecureSocketContext | null> | null = null;
  #closed: { promise: Promise<void>; resolve: () => void } | null = null;

  /**
   * @param socket the socket these callbacks serve
   * @param origin the context it was made from
   * @param access how to read the socket's current state
   */
  constructor(socket: SecureSocket, origin: ContextCore, access: SocketAccess) {
    this.socket = socket;
    this.origin = origin;
    this.#access = access;
  }

  /** The context governing the socket now. */
  get core(): ContextCore {
    return this.#access.active(this.socket);
  }

  /** Keeps a callback's exception. */
  record(error: unknown): void {
    this.errors.record(error);
  }

  /** What the handshake must wait for before calling OpenSSL again, for a suspended choice. */
  pendingChoice(clientCertificate: boolean): Promise<void> | null {
    const pending = (clientCertificate ? this.#clientCert : this.#serverName)?.pending ?? null;
    // An answer that never comes must not outlive the socket: close() ends the wait.
    return pending && Promise.race([pending, this.#closedSignal().promise]);
  }

  /**
   * The asynchronous verification answers to wait for (and forget). The wait
   * also ends when the socket is closed: an answer that never comes must not
   * hold a closed socket's handshake forever.
   */
  takeVerifyPending(): Promise<void>[] {
    const pending = this.#verify?.pending ?? [];
    if (this.#verify) this.#verify.pending = [];
    if (pending.length === 0) return pending;
    return [Promise.race([Promise.all(pending).then(() => {}), this.#closedSignal().promise])];
  }

  /** The socket was closed: ends any wait for a verification answer (the handshake then sees the closed socket). */
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

  /**
   * §2: 1 to continue, 0 to fail verification. OpenSSL may report on one
   * certificate several times (first "ok", later a name-constraint, policy or
   * host-name failure); every report is the callback's question, and an answer
   * applies to the report it was given for only.
   */
  verify(ok: number, store: Pointer): number {
    const crypto = libcrypto();
    const depth = crypto.X509_STORE_CTX_get_error_depth(store);
    const cb = this.core.verifyCallback;
    let accepted: boolean;
    try {
      if (!cb) {
        accepted = ok === 1;
      } else {
        const state = this.#verifyState(store);
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
          const answer = withStoreContext(store, this.socket, (ctx) => cb(ok === 1, ctx));
          if (isPromiseLike(answer)) return this.#verifyLater(state, key, answer);
          if (typeof answer !== "boolean") {
            throw new TypeError(`the verification callback must return a boolean, got ${typeof answer}`);
          }
          // Kept for a later pass, should a later report of this one be answered asynchronously.
          state.answers.set(key, answer);
          accepted = answer;
        }
      }
    } catch (error) {
      this.errors.record(error);
      this.verifyFailure ??= { code: markApplicationFailure(store), depth };
      return 0;
    }
    if (accepted) return 1;
    const code = ok === 1 ? markApplicationFailure(store) : crypto.X509_STORE_CTX_get_error(store);
    this.verifyFailure ??= { code, depth };
    return 0;
  }

  /**
   * The answers for the pass `store` belongs to. A new pass keeps the earlier
   * answers only when the pass before asked for it (it was waiting for an
   * answer); otherwise it is a verification of its own and starts afresh.
   */
  #verifyState(store: Pointer): VerifyState {
    const pass = verificationPass(store);
    const state = this.#verify ??= {
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
  #verifyLater(state: VerifyState, key: string, answer: PromiseLike<unknown>): number {
    if (this.#access.isServer(this.socket)) {
      // A provisional "yes" would let the client in: servers cannot pause here.
      throw new TypeError("a server's verification callback must answer synchronously (returned a Promise)");
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
      }).catch((error) => this.errors.record(error)),
    );
    libssl().SSL_ctrl(this.#access.ssl(this.socket), SSL_CTRL_SET_RETRY_VERIFY, 0n, null);
    return 1;
  }

  /** §3 */
  info(where: number, ret: number): void {
    const cb = this.#access.infoCallback(this.socket) ?? this.core.infoCallback;
    if (!cb) return;
    try {
      cb(this.socket, where, ret);
    } catch (error) {
      this.errors.record(error);
    }
  }

  /** §4: 1 = certificate chosen, 0 = none, -1 = suspend (or fail). */
  clientCertificate(x509Out: PointerValue, pkeyOut: PointerValue): number {
    const cb = this.core.clientCertificateCallback;
    if (this.errors.pending) return -1;
    if (!cb) return 0;
    try {
      this.#clientCert ??= new AsyncChoice((e) => this.errors.record(e));
      const choice = this.#clientCert.take(() => cb(this.socket));
      if (!choice.ready) return -1;
      if (choice.value === null || choice.value === undefined) return 0;
      installClientCertificate(this.#access.ssl(this.socket), choice.value, x509Out, pkeyOut, this.core);
      return 1;
    } catch (error) {
      // Returning 0 would carry on without a certificate: suspend, and the
      // handshake loop rethrows the error.
      this.errors.record(error);
      return -1;
    }
  }

  /** SNI via the client-hello callback: 1 = go on, 0 = fail, -1 = suspend. */
  clientHello(alert: PointerValue): number {
    const cb = this.origin.serverNameCallback;
    if (!cb || !this.#access.isServer(this.socket)) return 1;
    try {
      this.#serverName ??= new AsyncChoice((e) => this.errors.record(e));
      const choice = this.#serverName.take(() => cb(this.socket, requestedServerName(this.#access.ssl(this.socket))));
      if (!choice.ready) return -1;
      const picked = choice.value as unknown;
      if (picked === null || picked === undefined) return 1;
      if (!(picked instanceof SecureSocketContext)) {
        throw new TypeError("the servername callback must return a SecureSocketContext or null");
      }
      this.#access.switchContext(this.socket, contextCore(picked));
      return 1;
    } catch (error) {
      this.errors.record(error);
      if (alert) writeInt32(alert, SSL_AD_INTERNAL_ERROR);
      return 0;
    }
  }
}

/** Puts the chosen client certificate, key and chain on the SSL and in OpenSSL's out-parameters. */
function installClientCertificate(
  handle: Pointer,
  choice: ClientCertificate,
  x509Out: PointerValue,
  pkeyOut: PointerValue,
  core: ContextCore,
): void {
  if (typeof choice !== "object" || choice === null || !("certificate" in choice) || !("privateKey" in choice)) {
    throw new TypeError("the client certificate callback must return { certificate, privateKey, chain? } or null");
  }
  const ssl = libssl();
  const cert = choice.certificate instanceof X509Certificate
    ? choice.certificate
    : toCertificates(choice.certificate)[0];
  const x509 = newX509(cert);
  let pkey: Pointer | null = null;
  try {
    pkey = choice.privateKey instanceof PrivateKey
      ? toPrivateKeyHandle(choice.privateKey, null, null)
      : toPrivateKeyHandle(choice.privateKey, null, core.passwordCallback);
    if (!keyMatchesCertificate(x509, pkey)) {
      drainErrors();
      throw new SecureSocketError("the client certificate and its private key do not match", { openssl: [] });
    }
    if (ssl.SSL_use_certificate(handle, x509) !== 1 || ssl.SSL_use_PrivateKey(handle, pkey) !== 1) {
      throw new SecureSocketError("OpenSSL refused the client certificate");
    }
    ssl.SSL_ctrl(handle, SSL_CTRL_CHAIN, 0n, null);
    for (const extra of choice.chain ?? []) {
      for (const c of extra instanceof X509Certificate ? [extra] : toCertificates(extra)) {
        const x = newX509(c);
        try {
          ssl.SSL_ctrl(handle, SSL_CTRL_CHAIN_CERT, 1n, x);
        } finally {
          freeX509(x);
        }
      }
    }
    // OpenSSL takes ownership of what is stored in the out-parameters.
    if (x509Out) writePointer(x509Out, upRefX509(x509));
    if (pkeyOut) {
      libcrypto().EVP_PKEY_up_ref(pkey);
      writePointer(pkeyOut, pkey);
    }
  } finally {
    freeX509(x509);
    if (pkey) freePrivateKey(pkey);
  }
}
