/**
 * Subject alternative names as values and as strings.
 *
 * Every GeneralName choice of RFC 5280 has a string form, and no two
 * different names share one:
 *
 * | choice | string |
 * | --- | --- |
 * | dNSName | `DNS:<text>` |
 * | rfc822Name | `email:<text>` |
 * | uniformResourceIdentifier | `URI:<text>` |
 * | iPAddress | `IP:192.0.2.1`, `IP:2001:db8::1` (RFC 5952); other lengths `IP:#<hex>` |
 * | directoryName | `DirName:<text of the RFC 2253 form>` |
 * | registeredID | `Registered ID:<dotted OID>` |
 * | otherName | `othername:<dotted OID>:<text>` when the value is a string, else `othername:<dotted OID>:#<hex DER of the value>` |
 * | x400Address | `X400Name:#<hex DER of the ORAddress>` |
 * | ediPartyName | `EdiPartyName:#<hex DER of the EDIPartyName>` |
 *
 * `<text>` is the value itself when it is one or more printable ASCII
 * characters other than space, `"`, `'`, `,` and `\` and does not start with
 * `#`; otherwise it is a JSON string literal (`JSON.parse` gives the value
 * back) that escapes every character outside printable ASCII as `\uXXXX`. So
 * a comma, quote, control character, embedded NUL or non-ASCII character can
 * never make one name look like another or like two names, and `#` always
 * means hex. Node.js quotes the same way since CVE-2021-44532.
 *
 * dNSName, rfc822Name and URI are IA5Strings: each byte is one character, so
 * a (non-conforming) byte 0xE9 is the character U+00E9, escaped `\u00e9`.
 * OIDs are always dotted decimal, never OpenSSL's short names, so they do not
 * change between OpenSSL versions.
 *
 * @module
 */
import type { GeneralNameType, RawGeneralName } from "../ffi/x509.ts";

export type { GeneralNameType };

/**
 * One subject alternative name (a GeneralName of RFC 5280).
 *
 * @example
 * ```ts
 * import { X509Certificate } from "@secsock/secsock";
 * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/names/san-all-types.pem"));
 * const upn = cert.subjectAltNameEntries.find((n) => n.type === "otherName" && n.oid === "1.3.6.1.4.1.311.20.2.3");
 * console.log(upn?.value); // "user@example.test"
 * ```
 */
export interface SubjectAltName {
  /** The GeneralName choice, as RFC 5280 names it. */
  readonly type: GeneralNameType;
  /**
   * The value as text, unquoted: the IA5String for dNSName, rfc822Name and
   * uniformResourceIdentifier (one character per byte); the address for an
   * iPAddress of 4 or 16 bytes; the RFC 2253 form of a directoryName; the
   * dotted OID of a registeredID; the string of an otherName whose value is a
   * UTF8String, IA5String, PrintableString, VisibleString, NumericString,
   * BMPString or UniversalString. Null when there is no text form: other
   * otherName values, other iPAddress lengths, x400Address and ediPartyName
   * (read those from `der`).
   */
  readonly value: string | null;
  /** For an otherName, its type-id OID (dotted decimal, e.g. "1.3.6.1.4.1.311.20.2.3" for a UPN). */
  readonly oid?: string;
  /** The DER encoding of this GeneralName, as OpenSSL encodes it (context tag included). */
  readonly der: Uint8Array;
}

const PREFIX: Record<GeneralNameType, string> = {
  dNSName: "DNS",
  rfc822Name: "email",
  uniformResourceIdentifier: "URI",
  iPAddress: "IP",
  directoryName: "DirName",
  registeredID: "Registered ID",
  otherName: "othername",
  x400Address: "X400Name",
  ediPartyName: "EdiPartyName",
};

/** Characters that may stand bare: printable ASCII except space, `"`, `'`, `,`, `\`. */
const BARE = /^[!#-&(-+\--[\]-~]+$/;

/**
 * `value` as it appears in a string form: bare when that cannot be misread,
 * otherwise a JSON string literal with everything outside printable ASCII
 * escaped as `\uXXXX`.
 */
export function quoteText(value: string): string {
  if (BARE.test(value) && !value.startsWith("#")) return value;
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit === 0x22) out += '\\"';
    else if (unit === 0x5c) out += "\\\\";
    else if (unit >= 0x20 && unit < 0x7f) out += value[i];
    else out += `\\u${unit.toString(16).padStart(4, "0")}`;
  }
  return `${out}"`;
}

/**
 * One character per byte (U+0000…U+00FF). Not TextDecoder("latin1"): that is
 * windows-1252 and maps 0x80…0x9F elsewhere.
 */
function byteChars(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** An IP address of 4 (IPv4) or 16 (IPv6, RFC 5952) bytes; null for other lengths. */
export function formatIp(bytes: Uint8Array): string | null {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) return null;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // RFC 5952: "::" replaces the first longest run of two or more zero groups.
  let best = -1, bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
    i = j;
  }
  const text = groups.map((g) => g.toString(16));
  if (best < 0) return text.join(":");
  return `${text.slice(0, best).join(":")}::${text.slice(best + bestLength).join(":")}`;
}

/** The tag and content of one DER TLV that fills `der` exactly; null otherwise. */
function singleTlv(der: Uint8Array): { tag: number; content: Uint8Array } | null {
  if (der.length < 2 || (der[0] & 0x1f) === 0x1f) return null;
  let length = der[1], header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 length octets cannot fit a certificate.
    if (octets === 0 || octets > 4 || der.length < 2 + octets) return null;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[2 + i];
    header = 2 + octets;
  }
  if (header + length !== der.length) return null;
  return { tag: der[0], content: der.subarray(header) };
}

/** The text of a DER-encoded ASN.1 string (the value of an otherName); null for other types. */
export function asn1StringText(der: Uint8Array): string | null {
  const tlv = singleTlv(der);
  if (tlv === null) return null;
  const { tag, content } = tlv;
  switch (tag) {
    case 0x0c: // UTF8String
      try {
        return strictUtf8.decode(content);
      } catch {
        return null;
      }
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
      return byteChars(content);
    case 0x1e: { // BMPString: UTF-16BE code units
      if (content.length % 2 !== 0) return null;
      let text = "";
      for (let i = 0; i < content.length; i += 2) text += String.fromCharCode((content[i] << 8) | content[i + 1]);
      return text;
    }
    case 0x1c: { // UniversalString: UTF-32BE
      if (content.length % 4 !== 0) return null;
      let text = "";
      for (let i = 0; i < content.length; i += 4) {
        const point = ((content[i] << 24) | (content[i + 1] << 16) | (content[i + 2] << 8) | content[i + 3]) >>> 0;
        if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return null;
        text += String.fromCodePoint(point);
      }
      return text;
    }
    default:
      return null;
  }
}

/** The DER of the structure inside an IMPLICIT context tag, under its own SEQUENCE tag. */
function asSequence(der: Uint8Array): Uint8Array {
  const out = der.slice();
  if (out.length > 0) out[0] = 0x30;
  return out;
}

/** The typed value of one raw GeneralName. */
export function toSubjectAltName(raw: RawGeneralName): SubjectAltName {
  const der = raw.der.slice();
  switch (raw.type) {
    case "dNSName":
    case "rfc822Name":
    case "uniformResourceIdentifier":
      return { type: raw.type, value: byteChars(raw.bytes), der };
    case "iPAddress":
      return { type: raw.type, value: formatIp(raw.bytes), der };
    case "directoryName":
      return { type: raw.type, value: raw.name, der };
    case "registeredID":
      return { type: raw.type, value: raw.oid, der };
    case "otherName":
      return { type: raw.type, value: asn1StringText(raw.value), oid: raw.oid, der };
    case "x400Address":
    case "ediPartyName":
      return { type: raw.type, value: null, der };
  }
}

/** The string form of one raw GeneralName (see the table above). */
export function formatSubjectAltName(raw: RawGeneralName): string {
  const prefix = PREFIX[raw.type];
  switch (raw.type) {
    case "dNSName":
    case "rfc822Name":
    case "uniformResourceIdentifier":
      return `${prefix}:${quoteText(byteChars(raw.bytes))}`;
    case "iPAddress":
      return `${prefix}:${formatIp(raw.bytes) ?? `#${hex(raw.bytes)}`}`;
    case "directoryName":
      return `${prefix}:${quoteText(raw.name)}`;
    case "registeredID":
      return `${prefix}:${raw.oid}`;
    case "otherName": {
      const text = asn1StringText(raw.value);
      return `${prefix}:${raw.oid}:${text === null ? `#${hex(raw.value)}` : quoteText(text)}`;
    }
    case "x400Address":
    case "ediPartyName":
      return `${prefix}:#${hex(asSequence(raw.der))}`;
  }
}
