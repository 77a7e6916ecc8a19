/**
 * X509 handles: parsing PEM/DER into owned `X509*`, encoding them back, reading
 * their fields, and walking `STACK_OF(X509)`.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { readAll, withBio } from "./bio.ts";
import {
  isNull,
  type Pointer,
  type PointerValue,
  readBytes,
  readCString,
  readInt32,
  readPointer,
  utf8,
} from "./memory.ts";

/** XN_FLAG_RFC2253 without ASN1_STRFLGS_ESC_MSB, so UTF-8 names stay readable. */
const RFC2253_UTF8 = 0x01110317n & ~4n;
/** NID_subject_alt_name */
const NID_SUBJECT_ALT_NAME = 85;
/** GENERAL_NAME types (GEN_EMAIL, GEN_DNS, GEN_URI, GEN_IPADD). */
const GEN_EMAIL = 1, GEN_DNS = 2, GEN_URI = 6, GEN_IPADD = 7;

/** Reads every certificate of a PEM bundle; the caller owns the returned handles. */
export function x509sFromPEM(pem: Uint8Array): Pointer[] {
  const crypto = libcrypto();
  return withBio(pem, (bio) => {
    const out: Pointer[] = [];
    for (;;) {
      const x = crypto.PEM_read_bio_X509(bio, null, null, null);
      if (isNull(x)) break;
      out.push(x);
    }
    return out;
  });
}

/** Parses one DER certificate; null when it is not one. The caller owns the handle. */
export function x509FromDER(der: Uint8Array): Pointer | null {
  const x = withBio(der, (bio) => libcrypto().d2i_X509_bio(bio, null));
  return isNull(x) ? null : x;
}

/** DER encoding of a certificate. */
export function x509ToDER(x509: Pointer): Uint8Array<ArrayBuffer> {
  return withBio(null, (bio) => {
    if (libcrypto().i2d_X509_bio(bio, x509) !== 1) throw new Error("i2d_X509_bio failed");
    return readAll(bio);
  });
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

/** The fields of a certificate as secsock exposes them. */
export interface CertificateFields {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
  subjectAltNames: string[];
}

function nameToString(name: PointerValue): string {
  if (isNull(name)) return "";
  const crypto = libcrypto();
  const bio = withBio(null, (b) => {
    crypto.X509_NAME_print_ex(b, name, 0, RFC2253_UTF8);
    return readAll(b);
  });
  return utf8(bio);
}

function serialHex(x509: Pointer): string {
  const crypto = libcrypto();
  const bn = crypto.ASN1_INTEGER_to_BN(crypto.X509_get_serialNumber(x509), null);
  if (isNull(bn)) return "";
  try {
    const hex = crypto.BN_bn2hex(bn);
    if (isNull(hex)) return "";
    const text = readCString(hex)!;
    crypto.CRYPTO_free(hex, null, 0);
    return text;
  } finally {
    crypto.BN_free(bn);
  }
}

// struct tm is nine ints followed (on glibc/macOS) by a long and a pointer.
const tmBuffer = new Int32Array(16);

function timeToDate(time: PointerValue): Date {
  if (isNull(time) || libcrypto().ASN1_TIME_to_tm(time, tmBuffer) !== 1) return new Date(NaN);
  const [sec, min, hour, mday, mon, year] = tmBuffer;
  return new Date(Date.UTC(year + 1900, mon, mday, hour, min, sec));
}

const digestBuffer = new Uint8Array(64);
const digestLength = new Uint32Array(1);

function sha256Fingerprint(x509: Pointer): string {
  const crypto = libcrypto();
  if (crypto.X509_digest(x509, crypto.EVP_sha256(), digestBuffer, digestLength) !== 1) return "";
  const parts: string[] = [];
  for (let i = 0; i < digestLength[0]; i++) {
    parts.push(digestBuffer[i].toString(16).padStart(2, "0").toUpperCase());
  }
  return parts.join(":");
}

function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // Compress the longest run of zero groups (RFC 5952).
  let best = -1, bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i > 1) [best, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLength).join(":")}`;
}

function subjectAltNames(x509: Pointer): string[] {
  const crypto = libcrypto();
  const names = crypto.X509_get_ext_d2i(x509, NID_SUBJECT_ALT_NAME, null, null);
  if (isNull(names)) return [];
  try {
    const out: string[] = [];
    const count = crypto.OPENSSL_sk_num(names);
    for (let i = 0; i < count; i++) {
      const entry = crypto.OPENSSL_sk_value(names, i);
      if (isNull(entry)) continue;
      // struct GENERAL_NAME { int type; union { ASN1_STRING *...; } d; }
      const type = readInt32(entry, 0);
      const value = readPointer(entry, 8);
      if (isNull(value)) continue;
      const data = crypto.ASN1_STRING_get0_data(value);
      const raw = isNull(data) ? new Uint8Array(0) : readBytes(data, crypto.ASN1_STRING_length(value));
      switch (type) {
        case GEN_DNS:
          out.push(`DNS:${utf8(raw)}`);
          break;
        case GEN_IPADD:
          out.push(`IP:${formatIp(raw)}`);
          break;
        case GEN_EMAIL:
          out.push(`email:${utf8(raw)}`);
          break;
        case GEN_URI:
          out.push(`URI:${utf8(raw)}`);
          break;
      }
    }
    return out;
  } finally {
    crypto.GENERAL_NAMES_free(names);
  }
}

/** Reads the fields of a certificate. */
export function certificateFields(x509: Pointer): CertificateFields {
  const crypto = libcrypto();
  return {
    subject: nameToString(crypto.X509_get_subject_name(x509)),
    issuer: nameToString(crypto.X509_get_issuer_name(x509)),
    serialNumber: serialHex(x509),
    notBefore: timeToDate(crypto.X509_get0_notBefore(x509)),
    notAfter: timeToDate(crypto.X509_get0_notAfter(x509)),
    fingerprint256: sha256Fingerprint(x509),
    subjectAltNames: subjectAltNames(x509),
  };
}

/** PEM encoding of a certificate. */
export function x509ToPEM(x509: Pointer): string {
  return withBio(null, (bio) => {
    if (libcrypto().PEM_write_bio_X509(bio, x509) !== 1) throw new Error("PEM_write_bio_X509 failed");
    return utf8(readAll(bio));
  });
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

/** The RFC 2253 form of each X509_NAME in a borrowed `STACK_OF(X509_NAME)`. */
export function nameStackToStrings(stack: PointerValue): string[] {
  return stackElements(stack).map(nameToString);
}
