/**
 * GeneralName (RFC 5280 §4.2.1.6) entries of a certificate's
 * subjectAltName extension, read through OpenSSL's accessors.
 *
 * `GENERAL_NAME` is a tagged union whose members are different structs
 * (ASN1_STRING, ASN1_OBJECT, X509_NAME, OTHERNAME, EDIPARTYNAME). Each entry is
 * dispatched on the type `GENERAL_NAME_get0_value(3)` reports and read only
 * with the accessor for that type; the types with no accessor (x400Address,
 * ediPartyName, and the value inside an otherName) are taken as DER, which
 * OpenSSL encodes (`i2d_GENERAL_NAME`, `i2d_ASN1_TYPE`) and JavaScript
 * decodes with bounds checks. No pointer is ever read as another struct.
 *
 * @module
 */
import { NID_subject_alt_name } from "./constants.ts";
import { libcrypto } from "./library.ts";
import { cursorTo, isNull, type Pointer, PointerSlot, pointerTo, readBytes } from "./memory.ts";
import { nameToString } from "./x509_name.ts";

/** A GeneralName choice (RFC 5280 §4.2.1.6), by the name the RFC gives it. */
export type GeneralNameType =
  | "otherName"
  | "rfc822Name"
  | "dNSName"
  | "x400Address"
  | "directoryName"
  | "ediPartyName"
  | "uniformResourceIdentifier"
  | "iPAddress"
  | "registeredID";

/** The choices indexed by OpenSSL's GEN_* numbers (GEN_OTHERNAME 0 … GEN_RID 8). */
const GENERAL_NAME_TYPES: readonly GeneralNameType[] = [
  "otherName",
  "rfc822Name",
  "dNSName",
  "x400Address",
  "directoryName",
  "ediPartyName",
  "uniformResourceIdentifier",
  "iPAddress",
  "registeredID",
];

/** One GeneralName as read from OpenSSL, before any formatting. */
export type RawGeneralName =
  | {
    /** IA5String or OCTET STRING choices. */
    type: "rfc822Name" | "dNSName" | "uniformResourceIdentifier" | "iPAddress";
    /** The string's content bytes, exactly as in the certificate. */
    bytes: Uint8Array;
    /** DER of the whole GeneralName. */
    der: Uint8Array;
  }
  | {
    type: "otherName";
    /** The type-id, dotted decimal. */
    oid: string;
    /** DER (tag, length, content) of the value inside `[0] EXPLICIT`. */
    value: Uint8Array;
    der: Uint8Array;
  }
  | { type: "registeredID"; oid: string; der: Uint8Array }
  | {
    type: "directoryName";
    /** RFC 2253 form. */
    name: string;
    der: Uint8Array;
  }
  | { type: "x400Address" | "ediPartyName"; der: Uint8Array };

/** What a certificate's subjectAltName extension holds. */
export type SubjectAltNameResult =
  | { status: "ok"; names: RawGeneralName[] }
  /** No subjectAltName extension. */
  | { status: "absent" }
  /** More than one subjectAltName extension (RFC 5280 forbids it). */
  | { status: "duplicate" }
  /** The extension or one of its entries could not be decoded. */
  | { status: "malformed" };

/** NID_subject_alt_name */

/** Encodes with an OpenSSL i2d function (`int i2d_TYPE(const TYPE *a, unsigned char **out)`). */
function encode(i2d: (cursor: BigUint64Array<ArrayBuffer> | null) => number): Uint8Array | null {
  const length = i2d(null);
  if (length <= 0) return null;
  const out = new Uint8Array(length);
  return i2d(cursorTo(out)) === length ? out : null;
}

/** The content bytes of an ASN1_STRING (IA5String, OCTET STRING), length checked. */
function stringBytes(value: Pointer): Uint8Array | null {
  const crypto = libcrypto();
  const length = crypto.ASN1_STRING_length(value);
  if (length < 0) return null;
  if (length === 0) return new Uint8Array(0);
  const data = crypto.ASN1_STRING_get0_data(value);
  return isNull(data) ? null : readBytes(data, length);
}

const ascii = new TextDecoder("ascii");

/** An ASN1_OBJECT as dotted decimal (`OBJ_obj2txt(3)` with no_name = 1), never a name. */
export function oidToText(object: Pointer): string | null {
  const crypto = libcrypto();
  let buffer = new Uint8Array(64);
  let length = crypto.OBJ_obj2txt(buffer, buffer.length, object, 1);
  if (length >= buffer.length) {
    // OBJ_obj2txt returns the full length even when it had to truncate.
    buffer = new Uint8Array(length + 1);
    length = crypto.OBJ_obj2txt(buffer, buffer.length, object, 1);
  }
  if (length <= 0 || length >= buffer.length) return null;
  const text = ascii.decode(buffer.subarray(0, length));
  return /^[0-9]+(\.[0-9]+)*$/.test(text) ? text : null;
}

const typeOut = new Int32Array(1);

/** Reads one borrowed GENERAL_NAME; null when any part of it cannot be read. */
function readGeneralName(entry: Pointer): RawGeneralName | null {
  const crypto = libcrypto();
  const value = crypto.GENERAL_NAME_get0_value(entry, typeOut);
  const type = GENERAL_NAME_TYPES[typeOut[0]];
  if (type === undefined || isNull(value)) return null;
  const der = encode((cursor) => crypto.i2d_GENERAL_NAME(entry, cursor));
  if (der === null) return null;
  switch (type) {
    case "rfc822Name":
    case "dNSName":
    case "uniformResourceIdentifier":
    case "iPAddress": {
      const bytes = stringBytes(value);
      return bytes === null ? null : { type, bytes, der };
    }
    case "registeredID": {
      const oid = oidToText(value);
      return oid === null ? null : { type, oid, der };
    }
    case "directoryName": {
      const name = nameToString(value);
      return name === null ? null : { type, name, der };
    }
    case "otherName": {
      const oidSlot = new PointerSlot();
      const valueSlot = new PointerSlot();
      if (crypto.GENERAL_NAME_get0_otherName(entry, oidSlot.buffer, valueSlot.buffer) !== 1) return null;
      const oidObject = oidSlot.pointer, typeValue = valueSlot.pointer;
      if (isNull(oidObject) || isNull(typeValue)) return null;
      const oid = oidToText(oidObject);
      const encoded = encode((cursor) => crypto.i2d_ASN1_TYPE(typeValue, cursor));
      return oid === null || encoded === null ? null : { type, oid, value: encoded, der };
    }
    case "x400Address":
    case "ediPartyName":
      return { type, der };
  }
}

/**
 * The subjectAltName extension of a certificate (`X509_get_ext_d2i(3)`),
 * each entry read by its type. A missing extension is "absent"; two of them,
 * or one OpenSSL cannot decode, are reported as such rather than as no names.
 */
export function readSubjectAltNames(x509: Pointer): SubjectAltNameResult {
  const crypto = libcrypto();
  // crit: -1 when absent, -2 when the extension occurs more than once.
  const crit = new Int32Array(1);
  const names = crypto.X509_get_ext_d2i(x509, NID_subject_alt_name, pointerTo(crit), null);
  if (isNull(names)) {
    if (crit[0] === -1) return { status: "absent" };
    return crit[0] === -2 ? { status: "duplicate" } : { status: "malformed" };
  }
  try {
    const out: RawGeneralName[] = [];
    const count = crypto.OPENSSL_sk_num(names);
    if (count < 0) return { status: "malformed" };
    for (let i = 0; i < count; i++) {
      const entry = crypto.OPENSSL_sk_value(names, i);
      const name = isNull(entry) ? null : readGeneralName(entry);
      if (name === null) return { status: "malformed" };
      out.push(name);
    }
    return { status: "ok", names: out };
  } finally {
    crypto.GENERAL_NAMES_free(names);
  }
}
