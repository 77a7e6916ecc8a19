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
 * @module
 */
import { SecureSocketError } from "../lib/errors.ts";
import { type CallbackDefinition, type CallbackFunction, type CallbackHandle, ffi, type Pointer } from "./runtime.ts";

/** `int pem_password_cb(char *buf, int size, int rwflag, void *u)` */
export const PASSWORD_CALLBACK = {
  parameters: ["pointer", "i32", "i32", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

let openCallbacks = 0;

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
    const guarded = ((...args: unknown[]) => {
      try {
        return (fn as (...a: unknown[]) => unknown)(...args);
      } catch (error) {
        try {
          onError(error);
        } catch {
          // The recorder itself must not throw into C either.
        }
        return failure;
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
