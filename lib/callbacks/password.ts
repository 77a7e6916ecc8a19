/**
 * The password callback (§1), top to bottom: its types, the context setter's
 * validation, the handler the shared `pem_password_cb` asks during one key
 * load (so a load's password never outlives it), and the dispatch: turning what a user
 * passes as a password (string, bytes or callback) into the bytes OpenSSL's
 * buffer gets, with every abuse caught: a wrong return type, a Promise, or a
 * password too long for the buffer.
 *
 * @module
 */
import { CallbackErrorSlot, withPasswordHandler } from "../../ffi/callbacks.ts";
import { isNull, type Pointer, type PointerValue, writeBytes } from "../../ffi/memory.ts";
import type { ContextCore } from "../context_core.ts";
import { UnableToReadPrivateKeyError } from "../errors.ts";
import { checkCallback } from "./connection.ts";

/**
 * The password callback (§1): called when a key is loaded from encrypted data,
 * with OpenSSL's buffer size (`maxLength`, which includes the terminating NUL)
 * and `rwflag` (0 when reading a key). Returns the password.
 *
 * A returned Uint8Array is handed over: secsock zeroes it once OpenSSL has
 * its copy, so return a fresh array on every call (never one you keep). A
 * returned string cannot be wiped (JavaScript strings are immutable); its
 * UTF-8 copy is.
 *
 * @example
 * ```ts
 * import type { PasswordCallback } from "@secsock/secsock";
 * const fromEnv: PasswordCallback = (_maxLength, _rwflag) => Deno.env.get("KEY_PASSWORD") ?? "";
 * ```
 */
export type PasswordCallback = (maxLength: number, rwflag: number) => string | Uint8Array;

/**
 * A password as given to a key load: the password itself, or a callback that
 * supplies it. A Uint8Array given directly stays the caller's: secsock copies
 * it for the load, zeroes that copy afterwards and keeps no reference to it.
 */
export type Password = string | Uint8Array | PasswordCallback;

// ---- The setter ----

/**
 * A context's default password callback, for key loads given no password of
 * their own; it applies to later loads only (a loaded key stays loaded).
 */
export function setPasswordCallback(core: ContextCore, cb: PasswordCallback | null): void {
  core.handle;
  checkCallback(cb, "setPasswordCallback()");
  core.passwordCallback = cb;
}

// ---- The trampoline ----

/**
 * Supplies the password for one key load: receives OpenSSL's buffer size and
 * rwflag, returns the password bytes (without NUL), a copy that is zeroed
 * once written to OpenSSL's buffer. It may throw; the error is rethrown from
 * the load.
 */
export type PasswordSource = (size: number, rwflag: number) => Uint8Array;

/** What happened during one load. */
export interface KeyLoadResult {
  /** The key, owned by the caller, or null when loading failed. */
  key: Pointer | null;
  /** How many times OpenSSL asked for the password. */
  passwordRequests: number;
}

/**
 * Runs one key load with the shared `pem_password_cb` answering for it (see
 * withPasswordHandler). The handler returns the password's length, or -1
 * (OpenSSL's failure value) when the source throws, returns a password that
 * does not fit, or already failed once; a source's exception is rethrown
 * here once OpenSSL has returned.
 */
export function loadWithPassword(source: PasswordSource, load: (callback: Pointer) => PointerValue): KeyLoadResult {
  const errors = new CallbackErrorSlot();
  let passwordRequests = 0;
  const handler = (buf: PointerValue, size: number, rwflag: number): number => {
    // OpenSSL 3's PEM reader retries with its legacy path after a failure;
    // a callback that already failed is not asked again.
    if (errors.pending) return -1;
    passwordRequests++;
    try {
      const password = source(size, rwflag);
      const withNul = new Uint8Array(password.length + 1);
      try {
        // The password and its terminating NUL must fit; the source checks the
        // length so that an overlong password is an error, never a truncation.
        if (buf === null || password.length + 1 > size) return -1;
        withNul.set(password);
        writeBytes(buf, withNul);
        return password.length;
      } finally {
        // OpenSSL has its copy (and cleanses it): leave none in JS memory.
        password.fill(0);
        withNul.fill(0);
      }
    } catch (error) {
      errors.record(error);
      return -1;
    }
  };
  const key = withPasswordHandler(handler, load);
  errors.rethrow();
  return { key: isNull(key) ? null : key, passwordRequests };
}

// ---- The dispatch ----

const encoder = new TextEncoder();
/** Callback results already zeroed: returning one again is a mistake worth naming. */
const wiped = new WeakSet<Uint8Array>();

/**
 * A fresh copy of a password, for the caller to zero. `handedOver` arrays
 * (a callback's result) are zeroed here once copied.
 */
function toBytes(value: unknown, from: string, handedOver: boolean): Uint8Array<ArrayBuffer> {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) {
    if (handedOver && wiped.has(value)) {
      throw new TypeError(
        `${from} returned a Uint8Array that secsock zeroed after an earlier load; return a fresh array on every call`,
      );
    }
    const copy = new Uint8Array(value);
    if (handedOver) {
      value.fill(0);
      wiped.add(value);
    }
    return copy;
  }
  if (value !== null && typeof value === "object" && typeof (value as { then?: unknown }).then === "function") {
    throw new TypeError(
      `${from} returned a Promise; OpenSSL cannot wait for a password, so return a string or Uint8Array`,
    );
  }
  throw new TypeError(`${from} must return a string or Uint8Array, got ${value === null ? "null" : typeof value}`);
}

/**
 * A password source for one key load. `password` is used when given, then
 * `fallback` (the context's password callback); with neither, an encrypted key
 * fails with a clear error instead of OpenSSL prompting on the terminal.
 */
export function passwordSource(
  password: Password | null | undefined,
  fallback?: PasswordCallback | null,
): PasswordSource {
  const given = password ?? fallback ?? null;
  return (size, rwflag) => {
    if (given === null) {
      throw new UnableToReadPrivateKeyError("the private key is encrypted and no password was given", {
        openssl: [],
      });
    }
    return passwordBytes(given, size, rwflag);
  };
}

/**
 * The bytes of a password, asking the callback if it is one, for a buffer of
 * `size` bytes (the password plus its NUL must fit: no silent truncation).
 * Always a fresh copy: the caller zeroes it after use (`fill(0)`), so no
 * password stays in JavaScript memory longer than the load.
 */
export function passwordBytes(password: Password, size: number, rwflag = 0): Uint8Array<ArrayBuffer> {
  const bytes = typeof password === "function"
    ? toBytes(password(size, rwflag), "the password callback", true)
    : toBytes(password, "password", false);
  if (bytes.length > size - 1) {
    bytes.fill(0);
    throw new UnableToReadPrivateKeyError(
      `the password is ${bytes.length} bytes long, but OpenSSL accepts at most ${size - 1} bytes`,
      { openssl: [] },
    );
  }
  return bytes;
}
