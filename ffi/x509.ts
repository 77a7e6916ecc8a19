/**
 * X509 handles: parsing PEM/DER into owned `X509*`, encoding them back to DER,
 * reading single fields, and walking `STACK_OF(X509)`.
 *
 * Every field reader returns null when OpenSSL cannot read that field, so a
 * caller can report a bad field without losing the others.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { withBio } from "./bio.ts";
import { withPasswordHandler } from "./callbacks.ts";
import { ERR_LIB_PEM, PEM_R_NO_START_LINE } from "./constants.ts";
import { cursorTo, isNull, type Pointer, type PointerValue, readCString } from "./memory.ts";
import { nameToString } from "./x509_name.ts";

export { nameToString };
export {
  type GeneralNameType,
  type RawGeneralName,
  readSubjectAltNames,
  type SubjectAltNameResult,
} from "./general_name.ts";

/** What reading a PEM bundle gave. */
export interface PemCertificates {
  /** The certificates read, in order; the caller owns them. */
  handles: Pointer[];
  /** True when reading stopped at the end of the input, false when at a bad block. */
  complete: boolean;
  /** True when a block was encrypted (`Proc-Type: 4,ENCRYPTED`) and so refused. */
  encrypted: boolean;
}

/**
 * Reads every certificate of a PEM bundle (`PEM_read_bio_X509(3)`), skipping
 * text and blocks of other types between them. A password callback that
 * always fails is passed: with none, OpenSSL would answer a
 * `Proc-Type: 4,ENCRYPTED` block by prompting on the terminal and blocking.
 * The caller should clear the error queue first; on an incomplete read it
 * holds OpenSSL's reasons.
 */
export function x509sFromPEM(pem: Uint8Array): PemCertificates {
  const crypto = libcrypto();
  let encrypted = false;
  const refuse = () => {
    encrypted = true;
    return -1;
  };
  return withPasswordHandler(refuse, (refusePassword) =>
    withBio(pem, (bio) => {
      const handles: Pointer[] = [];
      for (;;) {
        const x = crypto.PEM_read_bio_X509(bio, null, refusePassword, null);
        if (isNull(x)) break;
        handles.push(x);
      }
      const last = crypto.ERR_peek_last_error();
      const atEnd = Number((last >> 23n) & 0xffn) === ERR_LIB_PEM && Number(last & 0x7fffffn) === PEM_R_NO_START_LINE;
      return { handles, complete: atEnd && !encrypted, encrypted };
    }));
}

/** What parsing DER gave. */
export interface DerCertificate {
  /** The certificate (owned by the caller), or null when the bytes are not one. */
  handle: Pointer | null;
  /** Bytes left over after the certificate. */
  trailing: number;
}

/** Parses one DER certificate (`d2i_X509(3)`), reporting any bytes after it. */
export function x509FromDER(der: Uint8Array): DerCertificate {
  // A private copy: OpenSSL reads it during the call, and no caller can change it meanwhile.
  const copy = new Uint8Array(der);
  const cursor = cursorTo(copy);
  const start = cursor[0];
  const x = libcrypto().d2i_X509(null, cursor, BigInt(copy.length));
  if (isNull(x)) return { handle: null, trailing: 0 };
  return { handle: x, trailing: copy.length - Number(cursor[0] - start) };
}

/** DER encoding of a certificate (`i2d_X509(3)`); null when OpenSSL cannot encode it. */
export function x509ToDER(x509: Pointer): Uint8Array<ArrayBuffer> | null {
  const crypto = libcrypto();
  const length = crypto.i2d_X509(x509, null);
  if (length <= 0) return null;
  const out = new Uint8Array(length);
  return crypto.i2d_X509(x509, cursorTo(out)) === length ? out : null;
}

/** Frees an X509 handle. */
export function freeX509(x509: PointerValue): void {
  if (!isNull(x509)) libcrypto().X509_free(x509);
}

/** Takes a new reference to `x509`, for storing it beyond a borrowed lifetime. */
export function upRefX509(x509: Pointer): Pointer {
  libcrypto().X509_up_ref(x509);
  return x509;
}

/** The subject in RFC 2253 form (`X509_get_subject_name(3)`). */
export function subjectName(x509: Pointer): string | null {
  return nameToString(libcrypto().X509_get_subject_name(x509));
}

/** The issuer in RFC 2253 form (`X509_get_issuer_name(3)`). */
export function issuerName(x509: Pointer): string | null {
  return nameToString(libcrypto().X509_get_issuer_name(x509));
}

/**
 * The serial number as upper-case hex (`BN_bn2hex(3)`): "0" for zero, a
 * leading "-" for the negative serials some issuers wrote.
 */
export function serialHex(x509: Pointer): string | null {
  const crypto = libcrypto();
  const serial = crypto.X509_get_serialNumber(x509);
  if (isNull(serial)) return null;
  const bn = crypto.ASN1_INTEGER_to_BN(serial, null);
  if (isNull(bn)) return null;
  try {
    const hex = crypto.BN_bn2hex(bn);
    if (isNull(hex)) return null;
    const text = readCString(hex);
    crypto.CRYPTO_free(hex, null, 0);
    return text;
  } finally {
    crypto.BN_free(bn);
  }
}

// struct tm: nine ints (tm_sec … tm_isdst), then on glibc and macOS a long and
// a pointer; 64 bytes hold it with room to spare.
const tmBuffer = new Int32Array(16);

function timeToDate(time: PointerValue): Date | null {
  if (isNull(time)) return null;
  tmBuffer.fill(0);
  if (libcrypto().ASN1_TIME_to_tm(time, tmBuffer) !== 1) return null;
  const [sec, min, hour, mday, mon, year] = tmBuffer;
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0…99 as 1900…1999.
  const date = new Date(0);
  date.setUTCFullYear(year + 1900, mon, mday);
  date.setUTCHours(hour, min, sec, 0);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * The start of the validity period (`X509_get0_notBefore(3)`, decoded with
 * `ASN1_TIME_to_tm(3)`: UTCTime years 50…99 are 1950…1999, GeneralizedTime
 * any year 0000…9999).
 */
export function notBefore(x509: Pointer): Date | null {
  return timeToDate(libcrypto().X509_get0_notBefore(x509));
}

/** The end of the validity period (`X509_get0_notAfter(3)`). */
export function notAfter(x509: Pointer): Date | null {
  return timeToDate(libcrypto().X509_get0_notAfter(x509));
}

const digestBuffer = new Uint8Array(64);
const digestLength = new Uint32Array(1);

/** SHA-256 of the DER encoding as "AB:CD:…" (`X509_digest(3)`). */
export function sha256Fingerprint(x509: Pointer): string | null {
  const crypto = libcrypto();
  if (crypto.X509_digest(x509, crypto.EVP_sha256(), digestBuffer, digestLength) !== 1) return null;
  const length = Math.min(digestLength[0], digestBuffer.length);
  return Array.from(digestBuffer.subarray(0, length), (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** The borrowed elements of an OpenSSL stack (the stack keeps ownership). */
export function stackElements(stack: PointerValue): Pointer[] {
  if (isNull(stack)) return [];
  const crypto = libcrypto();
  const count = crypto.OPENSSL_sk_num(stack);
  const out: Pointer[] = [];
  for (let i = 0; i < count; i++) {
    const value = crypto.OPENSSL_sk_value(stack, i);
    if (!isNull(value)) out.push(value);
  }
  return out;
}

/**
 * The RFC 2253 form of each X509_NAME in a borrowed `STACK_OF(X509_NAME)`;
 * a name OpenSSL cannot print is left out.
 */
export function nameStackToStrings(stack: PointerValue): string[] {
  return stackElements(stack).map(nameToString).filter((name): name is string => name !== null);
}
