/**
 * The exception trampoline that guards every native callback, and the
 * password callback's C signature (ffi/x509.ts refuses passwords with it;
 * lib/callbacks/password.ts supplies them). Each other callback's signature
 * is in its own file under lib/callbacks/. Native callbacks come from the runtime's FFI
 * (`Deno.UnsafeCallback` on Deno, koffi on Node.js).
 *
 * A JS exception must never unwind into C: the runtime would hand C a zero, and for
 * several OpenSSL callbacks zero means success. Every callback made here
 * catches, returns the callback's documented failure value, and hands the
 * error to a recorder so the caller can rethrow the same object once the
 * OpenSSL call that invoked the callback has returned (pyOpenSSL's model).
 *
 * Every native callback secsock hands OpenSSL is a {@linkcode SharedCallback}:
 * one per kind for the whole process, all made together before the first
 * context exists (openSharedCallbacks), never closed. None is ever made while
 * JavaScript runs inside a native call: koffi (Node.js) cannot register a
 * callback there (it fails later with "Maximum call stack size exceeded"),
 * and a per-context or per-load callback would be made exactly there when a
 * servername, client-certificate or verification callback builds a context,
 * switches to one, or parses a PEM. They dispatch on the `SSL*` (or the
 * `SSL_CTX*`, or a per-call slot) they are given, so one serves every
 * connection. Keeping them open costs a fixed, small number of trampolines
 * per process (one per callback kind, about a dozen), whatever the number of
 * contexts and connections.
 *
 * @module
 */
import { SecureSocketError } from "../lib/errors.ts";
import {
  type CallbackDefinition,
  type CallbackFunction,
  type CallbackHandle,
  ffi,
  type Pointer,
  type PointerValue,
} from "./runtime.ts";

/** `int pem_password_cb(char *buf, int size, int rwflag, void *u)` */
export const PASSWORD_CALLBACK = {
  parameters: ["pointer", "i32", "i32", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

let openCallbacks = 0;
/** How deep JS is inside native callbacks right now: no native callback may be made while above 0. */
let nativeDepth = 0;

/** How many native callbacks are open right now (for leak tests and diagnostics). */
export function openCallbackCount(): number {
  return openCallbacks;
}

/**
 * Records the first exception thrown inside a callback so that the code that
 * drove OpenSSL can rethrow it once the native call has returned.
 */
export class CallbackErrorSlot {
  #error: unknown = undefined;
  #set = false;

  /** Remembers `error` unless an earlier one is already waiting. */
  record(error: unknown): void {
    if (this.#set) return;
    this.#error = error;
    this.#set = true;
  }

  /** True when an error is waiting. */
  get pending(): boolean {
    return this.#set;
  }

  /** Throws the waiting error, if any, and forgets it. */
  rethrow(): void {
    if (!this.#set) return;
    const error = this.#error;
    this.#error = undefined;
    this.#set = false;
    throw error;
  }
}

/**
 * One native callback with an exception trampoline around `fn`. It stays open
 * until `close()`; the owner must keep it referenced while OpenSSL may call it.
 */
export class NativeCallback<D extends CallbackDefinition> {
  #callback: CallbackHandle | null;

  /**
   * @param definition the C signature
   * @param fn the JS implementation
   * @param failure what to return to C when `fn` throws
   * @param onError receives the exception
   */
  constructor(
    definition: D,
    fn: CallbackFunction<D["parameters"], D["result"]>,
    failure: ReturnType<CallbackFunction<D["parameters"], D["result"]>>,
    onError: (error: unknown) => void,
  ) {
    if (nativeDepth > 0) {
      // koffi cannot register a callback from inside a native call (see the module comment).
      throw new SecureSocketError("internal error: a native callback was made inside a native call", { openssl: [] });
    }
    const guarded = ((...args: unknown[]) => {
      nativeDepth++;
      try {
        return (fn as (...a: unknown[]) => unknown)(...args);
      } catch (error) {
        try {
          onError(error);
        } catch {
          // The recorder itself must not throw into C either.
        }
        return failure;
      } finally {
        nativeDepth--;
      }
    }) as CallbackFunction<D["parameters"], D["result"]>;
    this.#callback = ffi.callback(definition, guarded);
    openCallbacks++;
  }

  /** The function pointer to hand to OpenSSL. */
  get pointer(): Pointer {
    if (!this.#callback) throw new SecureSocketError("native callback used after close");
    return this.#callback.pointer;
  }

  /** Frees the native trampoline; idempotent. */
  close(): void {
    if (!this.#callback) return;
    this.#callback.close();
    this.#callback = null;
    openCallbacks--;
  }
}

/** Every shared callback defined so far (each module defines its own when it is loaded). */
const shared: SharedCallback<CallbackDefinition>[] = [];

/**
 * A process-wide native callback: defined when its module loads, made by
 * {@linkcode openSharedCallbacks} (or on first use, should that come first),
 * never closed — OpenSSL may call it as long as the process lives, and its
 * body finds what it serves from its arguments.
 */
export class SharedCallback<D extends CallbackDefinition> {
  readonly #definition: D;
  readonly #fn: CallbackFunction<D["parameters"], D["result"]>;
  readonly #failure: ReturnType<CallbackFunction<D["parameters"], D["result"]>>;
  #callback: NativeCallback<D> | null = null;

  /**
   * @param definition the C signature
   * @param fn the JS implementation; it catches what it can attribute itself
   * @param failure what C gets should `fn` throw after all
   */
  constructor(
    definition: D,
    fn: CallbackFunction<D["parameters"], D["result"]>,
    failure: ReturnType<CallbackFunction<D["parameters"], D["result"]>>,
  ) {
    this.#definition = definition;
    this.#fn = fn;
    this.#failure = failure;
    shared.push(this as unknown as SharedCallback<CallbackDefinition>);
  }

  /** The function pointer to hand to OpenSSL. */
  get pointer(): Pointer {
    this.#callback ??= new NativeCallback(this.#definition, this.#fn, this.#failure, () => {});
    return this.#callback.pointer;
  }
}

/**
 * Makes every shared callback defined so far. Called when a context is made
 * (from JS that is not inside a native call): from then on no native
 * callback is made at all, wherever OpenSSL later calls back.
 */
export function openSharedCallbacks(): void {
  if (opened === shared.length) return;
  for (const callback of shared) callback.pointer;
  opened = shared.length;
}
let opened = 0;

/** What answers OpenSSL's password requests during one load: the password's length, or -1. */
export type PasswordHandler = (buf: PointerValue, size: number, rwflag: number) => number;

let passwordHandler: PasswordHandler | null = null;
/** The one `pem_password_cb`: it asks the handler of the load in progress (none: refuse). */
const passwordCallback = new SharedCallback(
  PASSWORD_CALLBACK,
  (buf, size, rwflag) => passwordHandler ? passwordHandler(buf, size, rwflag) : -1,
  -1,
);

/**
 * Runs `load` (one synchronous OpenSSL call or a few) with the shared
 * password callback answering through `handler`; the handler must catch its
 * own exceptions. Loads may nest (a password callback that loads a key).
 */
export function withPasswordHandler<T>(handler: PasswordHandler, load: (callback: Pointer) => T): T {
  const previous = passwordHandler;
  passwordHandler = handler;
  try {
    return load(passwordCallback.pointer);
  } finally {
    passwordHandler = previous;
  }
}
