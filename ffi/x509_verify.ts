/**
 * Chain verification outside a handshake (`X509_STORE`, `X509_STORE_CTX`,
 * `X509_VERIFY_PARAM`), name checks on one certificate (`X509_check_host` and
 * friends), and the two facts the verify callback needs to tell OpenSSL's
 * reports apart: which verification pass a report belongs to, and which
 * certificate it is about.
 *
 * @module
 */
import { SecureSocketError } from "../lib/errors.ts";
import { libcrypto } from "./library.ts";
import { isNull, type Pointer, pointerKey, type PointerValue } from "./memory.ts";
import { ffi } from "./runtime.ts";
import { stackElements } from "./x509.ts";

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
    if (index < 0) throw SecureSocketError.fromQueue("CRYPTO_get_ex_new_index failed");
    passIndex = index;
  }
  const mark = crypto.X509_STORE_CTX_get_ex_data(store, passIndex);
  if (!isNull(mark)) return pointerKey(mark);
  const pass = ++lastPass;
  // The mark is a number dressed as a pointer: no free function is
  // registered for the index, so OpenSSL never dereferences it.
  if (crypto.X509_STORE_CTX_set_ex_data(store, passIndex, ffi.fromAddress(pass)) !== 1) {
    throw SecureSocketError.fromQueue("X509_STORE_CTX_set_ex_data failed");
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
    throw SecureSocketError.fromQueue("X509_digest failed");
  }
  let hex = "";
  for (let i = 0; i < digestLength[0]; i++) hex += digest[i].toString(16).padStart(2, "0");
  return hex;
}

/**
 * The identities (see certificateIdentity) of the chain OpenSSL has built so
 * far in `store`, leaf first (`X509_STORE_CTX_get0_chain(3)`), joined.
 */
export function chainIdentity(store: Pointer): string {
  const crypto = libcrypto();
  const chain = crypto.X509_STORE_CTX_get0_chain(store);
  if (isNull(chain)) return "none";
  const count = crypto.OPENSSL_sk_num(chain);
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(certificateIdentity(crypto.OPENSSL_sk_value(chain, i)));
  return parts.join(",");
}

/** A new, empty X509_STORE; the caller owns it. */
export function newX509Store(): Pointer {
  const store = libcrypto().X509_STORE_new();
  if (isNull(store)) throw SecureSocketError.fromQueue("X509_STORE_new failed: out of memory");
  return store;
}

/** Frees an X509_STORE (and its reference to every certificate in it). */
export function freeX509Store(store: Pointer): void {
  libcrypto().X509_STORE_free(store);
}

/** Adds a trust anchor; the store takes its own reference. False when OpenSSL refused it. */
export function addToX509Store(store: Pointer, x509: Pointer): boolean {
  return libcrypto().X509_STORE_add_cert(store, x509) === 1;
}

/** Adds the system's default certificate file and directory to the store. */
export function useDefaultPaths(store: Pointer): boolean {
  return libcrypto().X509_STORE_set_default_paths(store) === 1;
}

/** OpenSSL's id for a purpose's short name ("sslserver", "sslclient", …), or null when it has none. */
export function purposeId(name: Uint8Array): number | null {
  const crypto = libcrypto();
  const index = crypto.X509_PURPOSE_get_by_sname(name);
  if (index < 0) return null;
  const purpose = crypto.X509_PURPOSE_get0(index);
  return isNull(purpose) ? null : crypto.X509_PURPOSE_get_id(purpose);
}

/** What one verification asks of OpenSSL (all optional parts null). */
export interface ChainParameters {
  /** X509_PURPOSE_* id. */
  purpose: number | null;
  /** Host name bytes, without a terminating NUL. */
  host: Uint8Array | null;
  /** X509_CHECK_FLAG_* for the host name (and e-mail) check. */
  hostFlags: number;
  /** NUL-terminated IP address text. */
  ip: Uint8Array | null;
  /** E-mail address bytes, without a terminating NUL. */
  email: Uint8Array | null;
  /** Validation time, seconds since the epoch. */
  time: bigint | null;
  /** Maximum depth, or null for OpenSSL's default. */
  depth: number | null;
  /** X509_V_FLAG_* to set. */
  flags: bigint;
}

/** OpenSSL's verdict on a chain, with the chain converted while it was alive. */
export type ChainVerdict<T> =
  | { kind: "verdict"; ok: boolean; error: number; depth: number; chain: T[] }
  | { kind: "rejected-parameter"; parameter: "init" | "purpose" | "host" | "ip" | "email" };

/**
 * Verifies `leaf` against the trust anchors of `store`, with `untrusted`
 * certificates available to build the chain (X509_STORE_CTX_init(3),
 * X509_verify_cert(3)). Every handle passed in stays the caller's; the
 * verified chain is handed to `convert` before the context is freed.
 */
export function verifyChain<T>(
  store: Pointer,
  leaf: Pointer,
  untrusted: Pointer[],
  parameters: ChainParameters,
  convert: (x509: Pointer) => T,
): ChainVerdict<T> {
  const crypto = libcrypto();
  const ctx = crypto.X509_STORE_CTX_new();
  if (isNull(ctx)) throw SecureSocketError.fromQueue("X509_STORE_CTX_new failed: out of memory");
  let stack: PointerValue = null;
  try {
    if (untrusted.length > 0) {
      stack = crypto.OPENSSL_sk_new_null();
      if (isNull(stack)) throw SecureSocketError.fromQueue("OPENSSL_sk_new_null failed: out of memory");
      // The stack borrows the handles: freeing it (below) leaves them alone.
      for (const x509 of untrusted) {
        if (crypto.OPENSSL_sk_push(stack, x509) <= 0) {
          throw SecureSocketError.fromQueue("OPENSSL_sk_push failed: out of memory");
        }
      }
    }
    if (crypto.X509_STORE_CTX_init(ctx, store, leaf, stack) !== 1) return rejected("init");
    if (parameters.purpose !== null && crypto.X509_STORE_CTX_set_purpose(ctx, parameters.purpose) !== 1) {
      return rejected("purpose");
    }
    const param = crypto.X509_STORE_CTX_get0_param(ctx);
    if (isNull(param)) return rejected("init");
    if (parameters.flags !== 0n) crypto.X509_VERIFY_PARAM_set_flags(param, parameters.flags);
    if (parameters.depth !== null) crypto.X509_VERIFY_PARAM_set_depth(param, parameters.depth);
    if (parameters.time !== null) crypto.X509_VERIFY_PARAM_set_time(param, parameters.time);
    crypto.X509_VERIFY_PARAM_set_hostflags(param, parameters.hostFlags);
    const { host, ip, email } = parameters;
    // A length of 0 would make OpenSSL measure the name with strlen(): pass the length, never 0.
    if (host && (host.length === 0 || crypto.X509_VERIFY_PARAM_set1_host(param, host, BigInt(host.length)) !== 1)) {
      return rejected("host");
    }
    if (ip && crypto.X509_VERIFY_PARAM_set1_ip_asc(param, ip) !== 1) return rejected("ip");
    if (
      email && (email.length === 0 || crypto.X509_VERIFY_PARAM_set1_email(param, email, BigInt(email.length)) !== 1)
    ) {
      return rejected("email");
    }
    const result = crypto.X509_verify_cert(ctx);
    const error = crypto.X509_STORE_CTX_get_error(ctx);
    return {
      kind: "verdict",
      // X509_verify_cert returns 1 only when the chain verified; <= 0 with
      // the reason in the context's error (or, for an internal failure, none).
      ok: result === 1 && error === 0,
      error,
      depth: crypto.X509_STORE_CTX_get_error_depth(ctx),
      chain: stackElements(crypto.X509_STORE_CTX_get0_chain(ctx)).map(convert),
    };
  } finally {
    // The context refers to the stack: free it first.
    crypto.X509_STORE_CTX_free(ctx);
    if (stack) crypto.OPENSSL_sk_free(stack);
  }
}

function rejected(parameter: "init" | "purpose" | "host" | "ip" | "email"): ChainVerdict<never> {
  return { kind: "rejected-parameter", parameter };
}

/** X509_check_host(3): 1 match, 0 no match, negative on an error (e.g. a malformed name). */
export function checkHostName(x509: Pointer, name: Uint8Array, flags: number): number {
  if (name.length === 0) return -2;
  return libcrypto().X509_check_host(x509, name, BigInt(name.length), flags, null);
}

/** X509_check_ip_asc(3): 1 match, 0 no match, negative when `ip` (NUL-terminated) is not an address. */
export function checkIpAddress(x509: Pointer, ip: Uint8Array, flags: number): number {
  return libcrypto().X509_check_ip_asc(x509, ip, flags);
}

/** X509_check_email(3): 1 match, 0 no match, negative on an error. */
export function checkEmailAddress(x509: Pointer, email: Uint8Array, flags: number): number {
  if (email.length === 0) return -2;
  return libcrypto().X509_check_email(x509, email, BigInt(email.length), flags);
}
