/**
 * Memory BIOs: the byte pipes between OpenSSL and JavaScript.
 *
 * @module
 */
import { SecureSocketError } from "../lib/errors.ts";
import { libcrypto } from "./library.ts";
import { isNull, type Pointer, type PointerValue } from "./memory.ts";

/** A new, empty, growable memory BIO; the caller owns it. */
export function newMemoryBio(): Pointer {
  const crypto = libcrypto();
  const bio = crypto.BIO_new(crypto.BIO_s_mem());
  if (isNull(bio)) throw SecureSocketError.fromQueue("BIO_new failed: out of memory");
  return bio;
}

/**
 * A memory BIO holding a copy of `data` (copied, so the bytes need not outlive
 * the BIO); the caller owns it.
 */
export function memoryBioFrom(data: Uint8Array): Pointer {
  const bio = newMemoryBio();
  if (data.length > 0 && libcrypto().BIO_write(bio, data as Uint8Array<ArrayBuffer>, data.length) !== data.length) {
    libcrypto().BIO_free(bio);
    throw SecureSocketError.fromQueue("BIO_write failed: out of memory");
  }
  return bio;
}

/** Bytes waiting to be read from `bio`. */
export function pendingBytes(bio: Pointer): number {
  return Number(libcrypto().BIO_ctrl_pending(bio));
}

/** Reads everything waiting in a memory BIO. */
export function readAll(bio: Pointer): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(pendingBytes(bio));
  let offset = 0;
  while (offset < out.length) {
    const n = libcrypto().BIO_read(bio, out.subarray(offset), out.length - offset);
    if (n <= 0) break;
    offset += n;
  }
  return out.subarray(0, offset);
}

/** Frees a BIO (null is ignored). */
export function freeBio(bio: PointerValue): void {
  if (!isNull(bio)) libcrypto().BIO_free(bio);
}

/** Runs `fn` with a memory BIO made from `data`, freeing it afterwards. */
export function withBio<T>(data: Uint8Array | null, fn: (bio: Pointer) => T): T {
  const bio = data ? memoryBioFrom(data) : newMemoryBio();
  try {
    return fn(bio);
  } finally {
    freeBio(bio);
  }
}
