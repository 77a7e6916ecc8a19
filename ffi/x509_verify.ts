/**
 * Chain verification outside a handshake (`X509_STORE`, `X509_STORE_CTX`,
 * `X509_VERIFY_PARAM`), name checks on one certificate (`X509_check_host` and
 * friends), and the two facts the verify callback needs to tell OpenSSL's
 * reports apart: which verification pass a report belongs to, and which
 * certificate it is about.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { isNull, type Pointer, pointerKey, type PointerValue } from "./memory.ts";
import { ffi } from "./runtime.ts";

/** CRYPTO_EX_INDEX_X509_STORE_CTX (crypto.h) */
const CRYPTO_EX_INDEX_X509_STORE_CTX = 5;

let passIndex = -1;
let lastPass = 0n;

/**
 * The verification pass that `store` (an `X509_STORE_CTX` OpenSSL is
 * reporting from) belongs to: a number unique in this process, written into
 * the store's ex_data on the first report. OpenSSL makes a new store for each
 * pass (`X509_STORE_CTX_init` clears ex_data), so a new number means a new pass,
 * even when the allocator hands out the same address again.
 */
export function verificationPass(store: Pointer): bigint {
  const crypto = libcrypto();
  if (passIndex < 0) {
    const index = crypto.CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_X509_STORE_CTX, 0n, null, null, null, null);
    if (index < 0) throw new Error("CRYPTO_get_ex_new_index failed");
    passIndex = index;
  }
  const mark = crypto.X509_STORE_CTX_get_ex_data(store, passIndex);
  if (!isNull(mark)) return pointerKey(mark);
  const pass = ++lastPass;
  // The mark is a number dressed as a pointer: no free function is
  // registered for the index, so OpenSSL never dereferences it.
  if (crypto.X509_STORE_CTX_set_ex_data(store, passIndex, ffi.fromAddress(pass)) !== 1) {
    throw new Error("X509_STORE_CTX_set_ex_data failed");
  }
  return pass;
}

const digest = new Uint8Array(64);
const digestLength = new Uint32Array(1);

/** The SHA-256 of a certificate's DER as hex, or "none" for NULL: what a report is about. */
export function certificateIdentity(x509: PointerValue): string {
  if (isNull(x509)) return "none";
  const crypto = libcrypto();
  if (crypto.X509_digest(x509, crypto.EVP_sha256(), digest, digestLength) !== 1) {
    throw new Error("X509_digest failed");
  }
  let hex = "";
  for (let i = 0; i < digestLength[0]; i++) hex += digest[i].toString(16).padStart(2, "0");
  return hex;
}
