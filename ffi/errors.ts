/**
 * Reading and clearing OpenSSL's per-thread error queue.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { readCString } from "./memory.ts";

/** One entry of OpenSSL's error queue. */
export interface OpenSSLErrorEntry {
  /** The packed error code (`ERR_get_error`). */
  code: number;
  /** The library that raised it, e.g. "SSL routines". */
  library: string;
  /** The reason, e.g. "certificate verify failed". */
  reason: string;
}

/** Empties the error queue, so that what a call leaves there is that call's own. */
export function clearErrors(): void {
  libcrypto().ERR_clear_error();
}

/** Removes and returns every entry of the error queue, oldest first. */
export function drainErrors(): OpenSSLErrorEntry[] {
  const crypto = libcrypto();
  const entries: OpenSSLErrorEntry[] = [];
  for (;;) {
    const code = crypto.ERR_get_error();
    const big = BigInt(code);
    if (big === 0n) break;
    entries.push({
      code: Number(big & 0xffffffffn),
      library: readCString(crypto.ERR_lib_error_string(big)) ?? "unknown library",
      reason: readCString(crypto.ERR_reason_error_string(big)) ?? `error ${big.toString(16)}`,
    });
  }
  return entries;
}
