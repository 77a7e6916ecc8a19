/**
 * X509Certificate: an immutable certificate value.
 *
 * It keeps the DER bytes, not a native handle, so there is nothing to free and
 * nothing to leak; a native `X509*` is made from the DER whenever OpenSSL needs
 * one, and freed right after.
 *
 * @module
 */
import {
  type CertificateFields,
  certificateFields,
  freeX509,
  x509FromDER,
  x509sFromPEM,
  x509ToDER,
  x509ToPEM,
} from "../ffi/x509.ts";
import { clearErrors, drainErrors } from "../ffi/errors.ts";
import type { Pointer } from "../ffi/memory.ts";
import { UnableToReadCertificateError } from "./errors.ts";

const encoder = new TextEncoder();

function bytesOf(pem: string | Uint8Array): Uint8Array {
  return typeof pem === "string" ? encoder.encode(pem) : pem;
}

/** True when the bytes look like PEM text rather than DER. */
export function looksLikePEM(data: Uint8Array): boolean {
  const head = new TextDecoder().decode(data.subarray(0, 256));
  return head.includes("-----BEGIN");
}

let fromHandle: (x509: Pointer) => X509Certificate;

/**
 * An X.509 certificate.
 *
 * @example
 * ```ts
 * import { X509Certificate } from "@secsock/secsock";
 * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/server.pem"));
 * console.log(cert.subject, cert.subjectAltNames, cert.notAfter);
 * ```
 */
export class X509Certificate {
  readonly #der: Uint8Array<ArrayBuffer>;
  #fields: CertificateFields | null = null;

  private constructor(der: Uint8Array<ArrayBuffer>, fields: CertificateFields | null) {
    this.#der = der;
    this.#fields = fields;
  }

  static {
    fromHandle = (x509) => new X509Certificate(x509ToDER(x509), certificateFields(x509));
  }

  /**
   * Reads the first certificate of a PEM text.
   *
   * @example
   * ```ts
   * import { X509Certificate } from "@secsock/secsock";
   * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/ca.pem"));
   * ```
   */
  static fromPEM(pem: string | Uint8Array): X509Certificate {
    const all = certificatesFromPEM(pem);
    return all[0];
  }

  /**
   * Reads a DER-encoded certificate.
   *
   * @example
   * ```ts
   * import { X509Certificate } from "@secsock/secsock";
   * const pem = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/ca.pem"));
   * const again = X509Certificate.fromDER(pem.toDER());
   * ```
   */
  static fromDER(der: Uint8Array): X509Certificate {
    clearErrors();
    const x509 = x509FromDER(der);
    if (!x509) throw new UnableToReadCertificateError("the data is not a DER-encoded certificate");
    try {
      return fromHandle(x509);
    } finally {
      freeX509(x509);
    }
  }

  get #parsed(): CertificateFields {
    return this.#fields ??= withX509(this, certificateFields);
  }

  /** Subject in RFC 2253 form, e.g. "CN=localhost,O=secsock". */
  get subject(): string {
    return this.#parsed.subject;
  }
  /** Issuer in RFC 2253 form. */
  get issuer(): string {
    return this.#parsed.issuer;
  }
  /** Serial number, upper-case hexadecimal. */
  get serialNumber(): string {
    return this.#parsed.serialNumber;
  }
  /** Start of the validity period. */
  get notBefore(): Date {
    return new Date(this.#parsed.notBefore);
  }
  /** End of the validity period. */
  get notAfter(): Date {
    return new Date(this.#parsed.notAfter);
  }
  /** SHA-256 fingerprint of the DER encoding, "AB:CD:…". */
  get fingerprint256(): string {
    return this.#parsed.fingerprint256;
  }
  /** Subject alternative names, e.g. ["DNS:localhost", "IP:127.0.0.1"]. */
  get subjectAltNames(): string[] {
    return [...this.#parsed.subjectAltNames];
  }

  /** PEM encoding. */
  toPEM(): string {
    return withX509(this, x509ToPEM);
  }

  /** DER encoding (a copy). */
  toDER(): Uint8Array<ArrayBuffer> {
    return this.#der.slice();
  }

  /** A readable summary for logs. */
  toString(): string {
    return `X509Certificate(${this.subject})`;
  }
}

/** Makes a certificate value from a borrowed native handle (ffi-backed code only). */
export function certificateFromHandle(x509: Pointer): X509Certificate {
  return fromHandle(x509);
}

/** Every certificate of a PEM bundle, in order; throws when there is none. */
export function certificatesFromPEM(pem: string | Uint8Array): X509Certificate[] {
  clearErrors();
  const handles = x509sFromPEM(bytesOf(pem));
  // PEM_read_bio_X509 leaves "no start line" behind once the input is exhausted.
  drainErrors();
  try {
    if (handles.length === 0) {
      throw new UnableToReadCertificateError("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)", {
        openssl: [],
      });
    }
    return handles.map(fromHandle);
  } finally {
    handles.forEach(freeX509);
  }
}

/** Certificates from PEM text, PEM bytes, DER bytes or certificate values. */
export function toCertificates(input: string | Uint8Array | X509Certificate): X509Certificate[] {
  if (input instanceof X509Certificate) return [input];
  if (typeof input === "string" || looksLikePEM(input)) return certificatesFromPEM(input);
  return [X509Certificate.fromDER(input)];
}

/** Runs `fn` with a fresh native X509* for `cert`, freed afterwards. */
export function withX509<T>(cert: X509Certificate, fn: (x509: Pointer) => T): T {
  const x509 = newX509(cert);
  try {
    return fn(x509);
  } finally {
    freeX509(x509);
  }
}

/** A new native X509* for `cert`; the caller owns it. */
export function newX509(cert: X509Certificate): Pointer {
  const x509 = x509FromDER(cert.toDER());
  if (!x509) throw new UnableToReadCertificateError("certificate could not be re-encoded");
  return x509;
}
