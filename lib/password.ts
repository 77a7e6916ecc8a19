/**
 * Turning what a user passes as a password (string, bytes or callback) into
 * the bytes OpenSSL's password callback must deliver, with every abuse caught:
 * a wrong return type, a Promise, or a password too long for OpenSSL's buffer.
 *
 * @module
 */
import type { PasswordSource } from "../ffi/pkey.ts";
import { UnableToReadPrivateKeyError } from "./errors.ts";

/**
 * The password callback (§1): called when a key is loaded from encrypted data,
 * with OpenSSL's buffer size (`maxLength`, which includes the terminating NUL)
 * and `rwflag` (0 when reading a key). Returns the password.
 *
 * @example
 * ```ts
 * import type { PasswordCallback } from "@secsock/secsock";
 * const fromEnv: PasswordCallback = (_maxLength, _rwflag) => Deno.env.get("KEY_PASSWORD") ?? "";
 * ```
 */
export type PasswordCallback = (maxLength: number, rwflag: number) => string | Uint8Array;

/** A password as given to a key load: the password itself, or a callback that supplies it. */
export type Password = string | Uint8Array | PasswordCallback;

const encoder = new TextEncoder();

function toBytes(value: unknown, from: string): Uint8Array {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
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
 */
export function passwordBytes(password: Password, size: number, rwflag = 0): Uint8Array {
  const bytes = typeof password === "function"
    ? toBytes(password(size, rwflag), "the password callback")
    : toBytes(password, "password");
  if (bytes.length > size - 1) {
    throw new UnableToReadPrivateKeyError(
      `the password is ${bytes.length} bytes long, but OpenSSL accepts at most ${size - 1} bytes`,
      { openssl: [] },
    );
  }
  return bytes;
}
