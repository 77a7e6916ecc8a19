/**
 * Private keys: loading `EVP_PKEY*` from PEM or DER, encrypted or not, through
 * the password callback (§1). A password callback is always passed, so
 * OpenSSL never falls back to prompting on the terminal.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { withBio } from "./bio.ts";
import { isNull, type Pointer, type PointerValue, readCString } from "./memory.ts";

/**
 * Loads a private key from PEM (PKCS#8, encrypted PKCS#8, or traditional/legacy-encrypted)
 * (PEM_read_bio_PrivateKey(3)); `passwordCallback` is a `pem_password_cb`, always
 * given so that OpenSSL never prompts on the terminal. Null when it fails.
 */
export function privateKeyFromPEM(pem: Uint8Array, passwordCallback: Pointer): PointerValue {
  return withBio(pem, (bio) => libcrypto().PEM_read_bio_PrivateKey(bio, null, passwordCallback, null));
}

/**
 * Loads an encrypted PKCS#8 key from DER (d2i_PKCS8PrivateKey_bio(3)). It asks
 * for a password only once the data has parsed as an EncryptedPrivateKeyInfo,
 * so an unencrypted key never reaches the callback. Null when it fails.
 */
export function encryptedPrivateKeyFromDER(der: Uint8Array, passwordCallback: Pointer): PointerValue {
  return withBio(der, (bio) => libcrypto().d2i_PKCS8PrivateKey_bio(bio, null, passwordCallback, null));
}

/** Loads an unencrypted key of any form from DER (d2i_PrivateKey_bio(3)); null when it fails. */
export function plainPrivateKeyFromDER(der: Uint8Array): PointerValue {
  return withBio(der, (bio) => libcrypto().d2i_PrivateKey_bio(bio, null));
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
