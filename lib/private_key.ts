/**
 * PrivateKey: an owned `EVP_PKEY*`, loaded from PEM, DER or a file, encrypted
 * or not, through the password callback (§1).
 *
 * @module
 */
import { clearErrors, drainErrors } from "../ffi/errors.ts";
import { isNull, type Pointer } from "../ffi/memory.ts";
import {
  encryptedPrivateKeyFromDER,
  freePrivateKey,
  plainPrivateKeyFromDER,
  privateKeyFromPEM,
  privateKeyInfo,
  upRefPrivateKey,
} from "../ffi/pkey.ts";
import { SocketClosedError, UnableToReadPrivateKeyError } from "./errors.ts";
import {
  type KeyLoadResult,
  loadWithPassword,
  type Password,
  type PasswordCallback,
  type PasswordSource,
  passwordSource,
} from "./callbacks/password.ts";
import { looksLikePEM } from "./certificate.ts";
import { platform } from "../ffi/platform.ts";

const encoder = new TextEncoder();

// A safety net only: keys the user forgot to close are freed when collected.
const leaked = new FinalizationRegistry<Pointer>(freePrivateKey);

function load(
  data: Uint8Array,
  password: Password | null | undefined,
  fallback: PasswordCallback | null | undefined,
  der: boolean,
): Pointer {
  const source = passwordSource(password, fallback);
  clearErrors();
  let result: KeyLoadResult;
  try {
    result = der ? fromDER(data, source) : loadWithPassword(source, (cb) => privateKeyFromPEM(data, cb));
  } catch (error) {
    // The callback's own error wins; what OpenSSL queued after it is noise.
    drainErrors();
    throw error;
  }
  if (result.key) return result.key;
  const openssl = drainErrors();
  const reason = result.passwordRequests > 0
    ? "could not decrypt the private key (wrong password?)"
    : `could not read the private key (not a ${der ? "DER" : "PEM"} private key)`;
  throw new UnableToReadPrivateKeyError(reason, { openssl });
}

/** DER: encrypted PKCS#8 first, then any unencrypted form. */
function fromDER(der: Uint8Array, source: PasswordSource): KeyLoadResult {
  const encrypted = loadWithPassword(source, (cb) => encryptedPrivateKeyFromDER(der, cb));
  if (encrypted.key || encrypted.passwordRequests > 0) return encrypted;
  const plain = plainPrivateKeyFromDER(der);
  return { key: isNull(plain) ? null : plain, passwordRequests: 0 };
}

let adopt: (key: Pointer) => PrivateKey;
let handleOf: (key: PrivateKey) => Pointer;

/**
 * A private key. Load it once and use it for many contexts; `close()` frees it
 * (contexts keep their own reference).
 *
 * @example
 * ```ts
 * import { PrivateKey } from "@secsock/secsock";
 * using key = PrivateKey.fromFile("tests/fixtures/server-key-pkcs8-aes256.pem", "secsock-pass");
 * console.log(key.type, key.bits); // "RSA" 2048
 * ```
 */
export class PrivateKey implements Disposable {
  #handle: Pointer | null;
  readonly #type: string;
  readonly #bits: number;

  private constructor(handle: Pointer) {
    this.#handle = handle;
    ({ type: this.#type, bits: this.#bits } = privateKeyInfo(handle));
    leaked.register(this, handle, this);
  }

  static {
    adopt = (key) => new PrivateKey(key);
    handleOf = (key) => {
      if (!key.#handle) throw new SocketClosedError("PrivateKey");
      return key.#handle;
    };
  }

  /**
   * Loads a key from PEM: PKCS#8, encrypted PKCS#8, or traditional (legacy
   * `Proc-Type: 4,ENCRYPTED`) form. `password` is only asked for when the key
   * is encrypted.
   *
   * @example
   * ```ts
   * import { PrivateKey } from "@secsock/secsock";
   * const pem = Deno.readTextFileSync("tests/fixtures/server-key-legacy-des3.pem");
   * const key = PrivateKey.fromPEM(pem, (maxLength) => "secsock-pass");
   * key.close();
   * ```
   */
  static fromPEM(pem: string | Uint8Array, password?: Password): PrivateKey {
    return adopt(load(typeof pem === "string" ? encoder.encode(pem) : pem, password, null, false));
  }

  /**
   * Loads a key from DER: unencrypted (PKCS#8 or traditional) or encrypted PKCS#8.
   *
   * @example
   * ```ts
   * import { PrivateKey } from "@secsock/secsock";
   * const key = PrivateKey.fromDER(Deno.readFileSync("tests/fixtures/server-key.der"));
   * key.close();
   * ```
   */
  static fromDER(der: Uint8Array, password?: Password): PrivateKey {
    return adopt(load(der, password, null, true));
  }

  /**
   * Loads a key from a PEM or DER file.
   *
   * @example
   * ```ts
   * import { PrivateKey } from "@secsock/secsock";
   * const key = PrivateKey.fromFile("tests/fixtures/server.key");
   * key.close();
   * ```
   */
  static fromFile(path: string, password?: Password): PrivateKey {
    return adopt(loadPrivateKeyHandle(platform.readFileSync(path), password, null));
  }

  /** The algorithm: "RSA", "EC", "ED25519", … */
  get type(): string {
    return this.#type;
  }

  /** Key size in bits (e.g. 2048 for RSA-2048, 256 for P-256). */
  get bits(): number {
    return this.#bits;
  }

  /** Frees the native key; idempotent. Contexts that use it keep their own reference. */
  close(): void {
    if (!this.#handle) return;
    leaked.unregister(this);
    freePrivateKey(this.#handle);
    this.#handle = null;
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Wraps an owned native key handle (e.g. from a PKCS#12 bundle) in a PrivateKey. */
export function adoptPrivateKey(key: Pointer): PrivateKey {
  return adopt(key);
}

/** Loads a native key from PEM or DER bytes; the caller owns the result. */
export function loadPrivateKeyHandle(
  data: Uint8Array,
  password: Password | null | undefined,
  fallback: PasswordCallback | null | undefined,
): Pointer {
  return load(data, password, fallback, !looksLikePEM(data));
}

/** A new reference to the key's native handle; the caller owns it. */
export function privateKeyHandleRef(key: PrivateKey): Pointer {
  return upRefPrivateKey(handleOf(key));
}

/** Native key from whatever a user passed (key object, PEM text, PEM/DER bytes); caller owns it. */
export function toPrivateKeyHandle(
  key: PrivateKey | string | Uint8Array,
  password: Password | null | undefined,
  fallback: PasswordCallback | null | undefined,
): Pointer {
  if (key instanceof PrivateKey) return privateKeyHandleRef(key);
  if (typeof key === "string") return load(encoder.encode(key), password, fallback, false);
  return loadPrivateKeyHandle(key, password, fallback);
}
