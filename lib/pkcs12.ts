/**
 * PKCS#12 (.p12/.pfx) bundles: certificate, private key and chain.
 *
 * @module
 */
import { clearErrors, drainErrors } from "../ffi/errors.ts";
import { loadLegacyProvider, parsePkcs12, type Pkcs12Result } from "../ffi/pkcs12.ts";
import { freeX509 } from "../ffi/x509.ts";
import { freePrivateKey } from "../ffi/pkey.ts";
import { certificateFromHandle, type X509Certificate } from "./certificate.ts";
import { UnableToReadCertificateError, UnableToReadPrivateKeyError } from "./errors.ts";
import { type Password, passwordBytes } from "./callbacks/password.ts";
import { adoptPrivateKey, type PrivateKey } from "./private_key.ts";

/** The contents of a PKCS#12 bundle. */
export interface Pkcs12Contents {
  /** The end-entity certificate. */
  certificate: X509Certificate;
  /** Its private key (close it when done). */
  privateKey: PrivateKey;
  /** Other certificates in the bundle (usually the intermediates). */
  chain: X509Certificate[];
}

/** OpenSSL's buffer size for passwords, passed to password callbacks. */
const PASSWORD_BUFFER = 1024;

/**
 * Reads PKCS#12 bundles, including ones made with legacy algorithms
 * (`openssl pkcs12 -export -legacy`, old Windows exports).
 *
 * @example
 * ```ts
 * import { Pkcs12 } from "@secsock/secsock";
 * const { certificate, privateKey, chain } = Pkcs12.parse(Deno.readFileSync("tests/fixtures/client.p12"), "secsock-pass");
 * console.log(certificate.subject, privateKey.type, chain.length);
 * privateKey.close();
 * ```
 */
export class Pkcs12 {
  private constructor() {}

  /**
   * Parses a bundle. `password` may be a string, bytes, or a password callback
   * (called with 1024 and rwflag 0); omitted means the empty password.
   *
   * @example
   * ```ts
   * import { Pkcs12 } from "@secsock/secsock";
   * const bundle = Pkcs12.parse(Deno.readFileSync("tests/fixtures/client.p12"), () => "secsock-pass");
   * bundle.privateKey.close();
   * ```
   */
  static parse(data: Uint8Array, password?: Password): Pkcs12Contents {
    const pass = password === undefined ? new Uint8Array(0) : passwordBytes(password, PASSWORD_BUFFER);
    if (pass.includes(0)) {
      pass.fill(0);
      throw new UnableToReadPrivateKeyError("PKCS#12 passwords cannot contain NUL bytes", { openssl: [] });
    }
    clearErrors();
    let result: Pkcs12Result;
    try {
      result = parsePkcs12(data, pass);
      if (!result.ok && result.reason === "parse-failed" && loadLegacyProvider()) {
        // Legacy bundles (RC2-40, 3DES) need OpenSSL's legacy provider: load it and retry.
        drainErrors();
        result = parsePkcs12(data, pass);
      }
    } finally {
      pass.fill(0); // our copy of the password
    }
    if (!result.ok) {
      const openssl = drainErrors();
      switch (result.reason) {
        case "not-pkcs12":
          throw new UnableToReadCertificateError("the data is not a PKCS#12 bundle", { openssl });
        case "bad-password":
          throw new UnableToReadPrivateKeyError("wrong PKCS#12 password (MAC verification failed)", { openssl });
        default:
          throw new UnableToReadPrivateKeyError("could not decrypt the PKCS#12 bundle", { openssl });
      }
    }
    const { certificate, privateKey, chain } = result.value;
    try {
      if (!certificate || !privateKey) {
        throw new UnableToReadCertificateError("the PKCS#12 bundle holds no certificate and key pair", {
          openssl: [],
        });
      }
      const contents = {
        certificate: certificateFromHandle(certificate),
        chain: chain.map(certificateFromHandle),
        privateKey: adoptPrivateKey(privateKey),
      };
      return contents;
    } catch (error) {
      freePrivateKey(privateKey);
      throw error;
    } finally {
      freeX509(certificate);
      chain.forEach(freeX509);
    }
  }
}
