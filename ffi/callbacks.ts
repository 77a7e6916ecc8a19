/**
 * The four OpenSSL socket callbacks (and the others secsock installs) as
 * callback definitions with their exact C signatures, and the exception
 * trampoline that guards them. Native callbacks come from the runtime's FFI
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
import { type CallbackDefinition, type CallbackFunction, type CallbackHandle, ffi, type Pointer } from "./runtime.ts";

/** `int pem_password_cb(char *buf, int size, int rwflag, void *u)` */
export const PASSWORD_CALLBACK = {
  parameters: ["pointer", "i32", "i32", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `int SSL_verify_cb(int preverify_ok, X509_STORE_CTX *x509_ctx)` */
export const VERIFY_CALLBACK = {
  parameters: ["i32", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `void info_callback(const SSL *ssl, int where, int ret)` */
export const INFO_CALLBACK = {
  parameters: ["pointer", "i32", "i32"],
  result: "void",
} as const satisfies CallbackDefinition;

/** `int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)` */
export const CLIENT_CERT_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `int SSL_client_hello_cb_fn(SSL *s, int *al, void *arg)` */
export const CLIENT_HELLO_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `int servername_cb(SSL *s, int *al, void *arg)` (SSL_CTX_set_tlsext_servername_callback(3)) */
export const SERVERNAME_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/**
 * `int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
 *                     const unsigned char *in, unsigned int inlen, void *arg)`
 */
export const ALPN_SELECT_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer", "pointer", "u32", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `void SSL_CTX_keylog_cb_func(const SSL *ssl, const char *line)` */
export const KEYLOG_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "void",
} as const satisfies CallbackDefinition;

/** `int new_session_cb(SSL *ssl, SSL_SESSION *sess)` */
export const NEW_SESSION_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/** `SSL_SESSION *get_session_cb(SSL *ssl, const unsigned char *data, int len, int *copy)` */
export const GET_SESSION_CALLBACK = {
  parameters: ["pointer", "pointer", "i32", "pointer"],
  result: "pointer",
} as const satisfies CallbackDefinition;

/** `void remove_session_cb(SSL_CTX *ctx, SSL_SESSION *sess)` */
export const REMOVE_SESSION_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "void",
} as const satisfies CallbackDefinition;

/** `int status_cb(SSL *ssl, void *arg)` (OCSP stapling, both ends) */
export const STATUS_CALLBACK = {
  parameters: ["pointer", "pointer"],
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
    if (!this.#callback) throw new Error("native callback used after close");
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
