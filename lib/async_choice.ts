/**
 * A callback answer that OpenSSL may have to wait for. OpenSSL's way to wait
 * is to return "retry" from the native callback and call it again on the next
 * `SSL_do_handshake`; this holds the answer in between.
 *
 * @module
 */

type State<T> =
  | { kind: "idle" }
  | { kind: "pending"; promise: Promise<void> }
  | { kind: "settled"; value: T };

/** Outcome of asking: the answer, or "not yet" (a Promise is pending). */
export type Choice<T> = { ready: true; value: T } | { ready: false };

/** True for a Promise or any thenable. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function";
}

/** One suspended choice per socket and callback kind. */
export class AsyncChoice<T> {
  #state: State<T> = { kind: "idle" };
  readonly #onRejected: (error: unknown) => void;

  /** @param onRejected receives a rejected Promise's reason */
  constructor(onRejected: (error: unknown) => void) {
    this.#onRejected = onRejected;
  }

  /**
   * Returns a settled answer (once), or calls `ask` for a new one. A Promise
   * from `ask` makes this "not ready" until it settles. `ask` may throw.
   */
  take(ask: () => T | PromiseLike<T>): Choice<T> {
    const state = this.#state;
    if (state.kind === "settled") {
      this.#state = { kind: "idle" };
      return { ready: true, value: state.value };
    }
    if (state.kind === "pending") return { ready: false };
    const answer = ask();
    if (!isPromiseLike(answer)) return { ready: true, value: answer as T };
    const promise = Promise.resolve(answer).then(
      (value) => {
        this.#state = { kind: "settled", value };
      },
      (error) => {
        this.#state = { kind: "idle" };
        this.#onRejected(error);
      },
    );
    this.#state = { kind: "pending", promise };
    return { ready: false };
  }

  /** The pending Promise to wait for before calling OpenSSL again, if any. */
  get pending(): Promise<void> | null {
    return this.#state.kind === "pending" ? this.#state.promise : null;
  }
}
