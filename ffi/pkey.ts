/**
 * Private keys: loading `EVP_PKEY*` from PEM or DER, encrypted or not, through
 * the password callback (§1). A password callback is always passed, so
 * OpenSSL never falls back to prompting on the terminal.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { withBio } from "./bio.ts";
import { CallbackErrorSlot, NativeCallback, PASSWORD_CALLBACK } from "./callbacks.ts";
import { isNull, type Pointer, type PointerValue, readCString, writeBytes } from "./memory.ts";

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

function withPasswordCallback(
  source: PasswordSource,
  load: (callback: PointerValue) => PointerValue,
): KeyLoadResult {
  const errors = new CallbackErrorSlot();
  let passwordRequests = 0;
  const callback = new NativeCallback(
    PASSWORD_CALLBACK,
    (buf, size, rwflag) => {
      // OpenSSL 3's PEM reader retries with its legacy path after a failure;
      // a callback that already failed is not asked again.
      if (errors.pending) return -1;
      passwordRequests++;
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
    },
    -1,
    (error) => errors.record(error),
  );
  try {
    const key = load(callback.pointer);
    errors.rethrow();
    return { key: isNull(key) ? null : key, passwordRequests };
  } finally {
    callback.close();
  }
}

/** Loads a private key from PEM (PKCS#8, encrypted PKCS#8, or traditional/legacy-encrypted). */
export function privateKeyFromPEM(pem: Uint8Array, source: PasswordSource): KeyLoadResult {
  return withBio(
    pem,
    (bio) => withPasswordCallback(source, (cb) => libcrypto().PEM_read_bio_PrivateKey(bio, null, cb, null)),
  );
}

/** Loads a private key from DER: encrypted PKCS#8 first, then any unencrypted form. */
export function privateKeyFromDER(der: Uint8Array, source: PasswordSource): KeyLoadResult {
  // d2i_PKCS8PrivateKey_bio asks for a password only once the data has parsed
  // as an EncryptedPrivateKeyInfo, so an unencrypted key never reaches the callback.
  const encrypted = withBio(
    der,
    (bio) => withPasswordCallback(source, (cb) => libcrypto().d2i_PKCS8PrivateKey_bio(bio, null, cb, null)),
  );
  if (encrypted.key || encrypted.passwordRequests > 0) return encrypted;
  const plain = withBio(der, (bio) => libcrypto().d2i_PrivateKey_bio(bio, null));
  return { key: isNull(plain) ? null : plain, passwordRequests: 0 };
}

/** Frees a key handle. */
export function freePrivateKey(key: PointerValue): void {
  if (!isNull(key)) libcrypto().EVP_PKEY_free(key);
}

/** Takes a new reference to a key. */
export function upRefPrivateKey(key: Pointer): Pointer {
  libcrypto().EVP_PKEY_up_ref(key);
  return key;
}

/** The key's algorithm name ("RSA", "EC", "ED25519", …) and size in bits. */
export function privateKeyInfo(key: Pointer): { type: string; bits: number } {
  const crypto = libcrypto();
  return {
    type: readCString(crypto.EVP_PKEY_get0_type_name(key)) ?? "UNKNOWN",
    bits: crypto.EVP_PKEY_get_bits(key),
  };
}

/** True when `key` is the private half of the certificate's public key. */
export function keyMatchesCertificate(x509: Pointer, key: Pointer): boolean {
  return libcrypto().X509_check_private_key(x509, key) === 1;
}
