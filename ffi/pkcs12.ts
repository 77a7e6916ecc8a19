/**
 * PKCS#12 (.p12/.pfx) parsing into owned certificate, key and chain handles.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { withBio } from "./bio.ts";
import { cString, isNull, type Pointer, PointerSlot } from "./memory.ts";
import { freeX509 } from "./x509.ts";
import { freePrivateKey } from "./pkey.ts";

/** What a PKCS#12 file held; the caller owns every handle. */
export interface Pkcs12Handles {
  certificate: Pointer | null;
  privateKey: Pointer | null;
  chain: Pointer[];
}

/** Outcome of a parse attempt. */
export type Pkcs12Result =
  | { ok: true; value: Pkcs12Handles }
  | { ok: false; reason: "not-pkcs12" | "bad-password" | "parse-failed" };

let legacyLoaded = false;

/**
 * Makes OpenSSL's legacy provider (RC2, single DES…) available, for PKCS#12
 * files made with old tools or `openssl pkcs12 -legacy`. Loading any provider
 * explicitly stops the default one from loading implicitly, so load both.
 */
export function loadLegacyProvider(): boolean {
  if (legacyLoaded) return true;
  const crypto = libcrypto();
  crypto.OSSL_PROVIDER_load(null, cString("default"));
  legacyLoaded = !isNull(crypto.OSSL_PROVIDER_load(null, cString("legacy")));
  return legacyLoaded;
}

/** Parses PKCS#12 DER with a password (bytes, without NUL). */
export function parsePkcs12(der: Uint8Array, password: Uint8Array): Pkcs12Result {
  const crypto = libcrypto();
  const p12 = withBio(der, (bio) => crypto.d2i_PKCS12_bio(bio, null));
  if (isNull(p12)) return { ok: false, reason: "not-pkcs12" };
  const pass = new Uint8Array(password.length + 1);
  try {
    pass.set(password);
    // Check the MAC first: it turns a wrong password into a clear answer.
    if (crypto.PKCS12_mac_present(p12) === 1 && crypto.PKCS12_verify_mac(p12, pass, password.length) !== 1) {
      return { ok: false, reason: "bad-password" };
    }
    const key = new PointerSlot();
    const cert = new PointerSlot();
    const ca = new PointerSlot();
    if (crypto.PKCS12_parse(p12, pass, key.buffer, cert.buffer, ca.buffer) !== 1) {
      freePrivateKey(key.pointer);
      freeX509(cert.pointer);
      return { ok: false, reason: "parse-failed" };
    }
    const chain: Pointer[] = [];
    const stack = ca.pointer;
    if (!isNull(stack)) {
      // PKCS12_parse hands over the stack and its certificates: take each, then free the stack.
      for (;;) {
        const x = crypto.OPENSSL_sk_pop(stack);
        if (isNull(x)) break;
        chain.unshift(x);
      }
      crypto.OPENSSL_sk_free(stack);
    }
    return { ok: true, value: { certificate: cert.pointer, privateKey: key.pointer, chain } };
  } finally {
    pass.fill(0); // the NUL-terminated copy of the password
    crypto.PKCS12_free(p12);
  }
}
