/**
 * X509_NAME printing: distinguished names in RFC 2253 form.
 *
 * @module
 */
import { libcrypto } from "./library.ts";
import { readAll, withBio } from "./bio.ts";
import { isNull, type PointerValue } from "./memory.ts";

/**
 * XN_FLAG_RFC2253: RFC 2253 escaping (`,+"\<>;`, a leading `#` or space, a
 * trailing space), control characters as `\XX`, strings converted to UTF-8,
 * values of unknown string types dumped as `#` + hex DER, most specific RDN first.
 */
const XN_FLAG_RFC2253 = 0x01110317n;
/** ASN1_STRFLGS_ESC_MSB: escape every byte >= 0x80 as `\XX`. */
const ASN1_STRFLGS_ESC_MSB = 0x4n;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const ascii = new TextDecoder("ascii");

function print(name: NonNullable<PointerValue>, flags: bigint): Uint8Array | null {
  return withBio(null, (bio) => libcrypto().X509_NAME_print_ex(bio, name, 0, flags) < 0 ? null : readAll(bio));
}

/**
 * A distinguished name in RFC 2253 form, e.g. "CN=localhost,O=secsock"
 * (`X509_NAME_print_ex(3)` with XN_FLAG_RFC2253). Non-ASCII characters stay
 * readable as UTF-8; should OpenSSL's output not be valid UTF-8 (a BMPString
 * holding a lone surrogate), the name is printed again with every byte above
 * 0x7F escaped as `\XX`, so nothing is lost or replaced. Null when OpenSSL
 * cannot print the name (a string whose bytes do not fit its type).
 */
export function nameToString(name: PointerValue): string | null {
  if (isNull(name)) return null;
  const readable = print(name, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  if (readable === null) return null;
  try {
    return strictUtf8.decode(readable);
  } catch {
    const escaped = print(name, XN_FLAG_RFC2253);
    return escaped === null ? null : ascii.decode(escaped);
  }
}
