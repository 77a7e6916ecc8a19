/**
 * X509Certificate: an immutable certificate value.
 *
 * It keeps the DER bytes, not a native handle, so there is nothing to free and
 * nothing to leak; a native `X509*` is made from the DER whenever OpenSSL needs
 * one, and freed right after.
 *
 * Fields are parsed lazily and each on its own: making a certificate value
 * (from PEM, DER, a peer's handshake or a verify callback's store) only
 * encodes DER; the simple fields are read on the first use of any of them,
 * the subject alternative names on the first use of theirs. A field OpenSSL
 * cannot read makes that one getter throw
 * {@linkcode UnableToReadCertificateError}, and nothing else.
 *
 * @module
 */
import {
  freeX509,
  issuerName,
  notAfter,
  notBefore,
  type RawGeneralName,
  readSubjectAltNames,
  serialHex,
  sha256Fingerprint,
  subjectName,
  x509FromDER,
  x509sFromPEM,
  x509ToDER,
} from "../ffi/x509.ts";
import { clearErrors, drainErrors } from "../ffi/errors.ts";
import type { Pointer } from "../ffi/memory.ts";
import { UnableToReadCertificateError } from "./errors.ts";
import { formatSubjectAltName, type SubjectAltName, toSubjectAltName } from "./subject_alt_name.ts";

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
let derOf: (cert: X509Certificate) => Uint8Array<ArrayBuffer>;

/** A field reader result that must be there, or a typed error naming the field. */
function required<T>(value: T | null, field: string): T {
  if (value === null) throw UnableToReadCertificateError.fromQueue(`the certificate's ${field} cannot be read`);
  return value;
}

/** A field's value, or the error reading it gave (thrown again on every use). */
type Field<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Reads one field, with an error queue of its own. */
function attempt<T>(read: () => T): Field<T> {
  clearErrors();
  try {
    return { ok: true, value: read() };
  } catch (error) {
    return { ok: false, error };
  }
}

function take<T>(field: Field<T>): T {
  if (field.ok) return field.value;
  throw field.error;
}

interface BasicFields {
  subject: Field<string>;
  issuer: Field<string>;
  serialNumber: Field<string>;
  notBefore: Field<Date>;
  notAfter: Field<Date>;
  fingerprint256: Field<string>;
}

function rawSubjectAltNames(x509: Pointer): RawGeneralName[] {
  const result = readSubjectAltNames(x509);
  switch (result.status) {
    case "ok":
      return result.names;
    case "absent":
      return [];
    case "duplicate":
      throw UnableToReadCertificateError.fromQueue("the certificate has more than one subjectAltName extension");
    case "malformed":
      throw UnableToReadCertificateError.fromQueue("the certificate's subjectAltName extension cannot be decoded");
  }
}

function base64Lines(der: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < der.length; i += 8192) binary += String.fromCharCode(...der.subarray(i, i + 8192));
  return btoa(binary).replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n");
}

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
  #basicFields: BasicFields | null = null;
  #altNameField: Field<RawGeneralName[]> | null = null;

  private constructor(der: Uint8Array<ArrayBuffer>) {
    this.#der = der;
  }

  static {
    fromHandle = (x509) => {
      const der = x509ToDER(x509);
      if (der === null) throw UnableToReadCertificateError.fromQueue("the certificate cannot be encoded as DER");
      return new X509Certificate(der);
    };
    derOf = (cert) => cert.#der;
  }

  /**
   * Reads the first certificate of a PEM text (`PEM_read_bio_X509(3)`). Every
   * block of the text must be readable; encrypted blocks
   * (`Proc-Type: 4,ENCRYPTED`) are refused, never prompted for.
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
   * Reads a DER-encoded certificate (`d2i_X509(3)`); bytes after it are an error.
   *
   * @example
   * ```ts
   * import { X509Certificate } from "@secsock/secsock";
   * const pem = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/ca.pem"));
   * const again = X509Certificate.fromDER(pem.toDER());
   * ```
   */
  static fromDER(der: Uint8Array): X509Certificate {
    if (!(der instanceof Uint8Array)) throw new TypeError("X509Certificate.fromDER expects a Uint8Array");
    clearErrors();
    const { handle, trailing } = x509FromDER(der);
    if (!handle) throw UnableToReadCertificateError.fromQueue("the data is not a DER-encoded certificate");
    try {
      if (trailing > 0) {
        throw new UnableToReadCertificateError(`the DER certificate is followed by ${trailing} more bytes`, {
          openssl: [],
        });
      }
      return fromHandle(handle);
    } finally {
      freeX509(handle);
    }
  }

  /**
   * The simple fields, read on the first use of any of them from one parse
   * of the DER (OpenSSL 3's d2i_X509 costs far more than reading a field),
   * each on its own: one that cannot be read holds its error, thrown by its
   * getter only.
   */
  #basic(): BasicFields {
    return this.#basicFields ??= withX509(this, (x) => ({
      subject: attempt(() => required(subjectName(x), "subject name")),
      issuer: attempt(() => required(issuerName(x), "issuer name")),
      serialNumber: attempt(() => required(serialHex(x), "serial number")),
      notBefore: attempt(() => required(notBefore(x), "notBefore time")),
      notAfter: attempt(() => required(notAfter(x), "notAfter time")),
      fingerprint256: attempt(() => required(sha256Fingerprint(x), "SHA-256 fingerprint")),
    }));
  }

  /** The subjectAltName entries, parsed on first use of either getter, on their own. */
  #altNames(): RawGeneralName[] {
    return take(this.#altNameField ??= withX509(this, (x) => attempt(() => rawSubjectAltNames(x))));
  }

  /** Subject in RFC 2253 form, e.g. "CN=localhost,O=secsock" (`X509_NAME_print_ex(3)`, XN_FLAG_RFC2253). */
  get subject(): string {
    return take(this.#basic().subject);
  }
  /** Issuer in RFC 2253 form. */
  get issuer(): string {
    return take(this.#basic().issuer);
  }
  /** Serial number, upper-case hexadecimal ("0" for zero; "-" in front of a negative one). */
  get serialNumber(): string {
    return take(this.#basic().serialNumber);
  }
  /** Start of the validity period (`ASN1_TIME_to_tm(3)`). */
  get notBefore(): Date {
    return new Date(take(this.#basic().notBefore));
  }
  /** End of the validity period. */
  get notAfter(): Date {
    return new Date(take(this.#basic().notAfter));
  }
  /** SHA-256 fingerprint of the DER encoding, "AB:CD:…" (`X509_digest(3)`). */
  get fingerprint256(): string {
    return take(this.#basic().fingerprint256);
  }

  /**
   * Subject alternative names as strings, e.g. `["DNS:localhost",
   * "IP:127.0.0.1"]`. Every GeneralName type has its form: `DNS:`, `email:`,
   * `URI:`, `IP:`, `DirName:`, `Registered ID:`, `othername:<OID>:`,
   * `X400Name:#<hex>`, `EdiPartyName:#<hex>`; a value that could be misread
   * (a comma, quote, space, control character, non-ASCII character, or a
   * leading `#`) is written as a JSON string literal, e.g.
   * `DNS:"a,DNS:b"`. See {@linkcode subjectAltNameEntries} for the values.
   * Throws {@linkcode UnableToReadCertificateError} when the extension is
   * malformed or duplicated (rather than reporting no names).
   *
   * @example
   * ```ts
   * import { X509Certificate } from "@secsock/secsock";
   * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/server.pem"));
   * console.log(cert.subjectAltNames); // ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
   * ```
   */
  get subjectAltNames(): string[] {
    return this.#altNames().map(formatSubjectAltName);
  }

  /**
   * Subject alternative names as typed values (`type`, unquoted `value`,
   * `oid` for an otherName, and the entry's `der`), for reading an otherName
   * such as a Microsoft UPN, or a type with no text form. Throws like
   * {@linkcode subjectAltNames}.
   *
   * @example
   * ```ts
   * import { X509Certificate } from "@secsock/secsock";
   * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/names/san-all-types.pem"));
   * for (const name of cert.subjectAltNameEntries) console.log(name.type, name.oid ?? "", name.value);
   * ```
   */
  get subjectAltNameEntries(): SubjectAltName[] {
    return this.#altNames().map(toSubjectAltName);
  }

  /** PEM encoding ("-----BEGIN CERTIFICATE-----", 64-character base64 lines). */
  toPEM(): string {
    return `-----BEGIN CERTIFICATE-----\n${base64Lines(this.#der)}-----END CERTIFICATE-----\n`;
  }

  /** DER encoding (a copy). */
  toDER(): Uint8Array<ArrayBuffer> {
    return this.#der.slice();
  }

  /** A readable summary for logs; never throws, even for an unreadable subject. */
  toString(): string {
    try {
      return `X509Certificate(${this.subject})`;
    } catch {
      return `X509Certificate(<unreadable subject>)`;
    }
  }
}

/**
 * Makes a certificate value from a borrowed native handle (ffi-backed code
 * only). It only encodes the DER: no field is parsed until it is read.
 */
export function certificateFromHandle(x509: Pointer): X509Certificate {
  return fromHandle(x509);
}

/** Every certificate of a PEM bundle, in order; throws when there is none or a block is bad. */
export function certificatesFromPEM(pem: string | Uint8Array): X509Certificate[] {
  clearErrors();
  const { handles, complete, encrypted } = x509sFromPEM(bytesOf(pem));
  try {
    if (encrypted) {
      throw UnableToReadCertificateError.fromQueue(
        "the PEM certificate is encrypted (Proc-Type: 4,ENCRYPTED); encrypted certificates are not supported",
      );
    }
    if (!complete) throw UnableToReadCertificateError.fromQueue("a PEM certificate block cannot be read");
    // PEM_read_bio_X509 leaves "no start line" behind once the input is exhausted.
    drainErrors();
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
  const { handle } = x509FromDER(derOf(cert));
  if (!handle) throw UnableToReadCertificateError.fromQueue("the certificate's DER cannot be parsed again");
  return handle;
}
