/**
 * The name a client verifies and sends as SNI: which names are accepted as
 * input, and how OpenSSL is told to check them.
 *
 * OpenSSL reads a host name as a C string (so "good.test\0.evil.test" would be
 * checked as "good.test"), reads a leading dot as "any subdomain of", and, by
 * default, accepts partial wildcards (`f*.example.com`) and falls back to the
 * subject CN when a certificate has no DNS name. Names are refused here when
 * OpenSSL would not check them as written; the matching rules are narrowed to
 * whole-label wildcards in the subjectAltName only (RFC 6125; CPython turns
 * partial wildcards off too).
 *
 * @module
 */
import { libcrypto, libssl } from "../ffi/library.ts";
import { clearErrors } from "../ffi/errors.ts";
import { cString, type Pointer } from "../ffi/memory.ts";
import { HOST_CHECK_FLAGS } from "../ffi/constants.ts";
import { setTlsextHostName } from "../ffi/ctrl.ts";

/** A canonical IPv4 dotted quad: four decimal parts 0–255, no leading zeros, nothing else. */
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** One IPv6 group: 1–4 hex digits (leading zeros are harmless: there is no octal reading). */
const IPV6_GROUP = /^[0-9a-f]{1,4}$/i;

/** True for a canonical IPv4 dotted quad (`127.0.0.1`, never `127.0.0.010` or `0177.0.0.1`). */
export function isCanonicalIPv4(name: string): boolean {
  return IPV4.test(name);
}

/**
 * True for an IPv6 address in text form, without a zone (`fe80::1%eth0`) or
 * brackets: hex groups, at most one `::`, optionally ending in a canonical
 * dotted quad (`::ffff:127.0.0.1`).
 */
export function isIPv6(name: string): boolean {
  const halves = name.split("::");
  if (halves.length > 2) return false;
  let groups = 0;
  for (const [index, half] of halves.entries()) {
    if (half === "") continue;
    const parts = half.split(":");
    for (const [i, part] of parts.entries()) {
      const lastOfAll = index === halves.length - 1 && i === parts.length - 1;
      if (lastOfAll && part.includes(".")) {
        if (!isCanonicalIPv4(part)) return false;
        groups += 2;
      } else if (IPV6_GROUP.test(part)) {
        groups += 1;
      } else {
        return false;
      }
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

/**
 * True when the name is checked as an IP address: a canonical IPv4 dotted
 * quad, or anything with a colon (IPv6; see {@linkcode checkPeerName} for
 * which are accepted).
 */
export function isIpAddress(name: string): boolean {
  return isCanonicalIPv4(name) || name.includes(":");
}

/**
 * True when the last label is a number (all digits, or `0x` and hex digits),
 * the WHATWG URL rule for "ends in a number": such a name is read as an IPv4
 * address by URL parsers and resolvers (`127.0.0.010` is 127.0.0.8 to them,
 * octal), by OpenSSL as decimal (127.0.0.10), so it is never a host name.
 */
function endsInNumber(name: string): boolean {
  const labels = name.split(".");
  if (labels.length > 1 && labels[labels.length - 1] === "") labels.pop();
  const last = labels[labels.length - 1];
  return /^\d+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

/**
 * Checks a `hostname`/`servername` option: undefined, or a name OpenSSL will
 * verify as written, as the address the connection goes to. Throws a
 * TypeError for anything else: an empty name, an embedded NUL, a leading dot,
 * an IPv4 address not in canonical dotted-quad form, any other name whose
 * last label is a number, an IPv6 address with a zone or otherwise malformed.
 */
export function checkPeerName(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TypeError(`\`${option}\` must be a string`);
  if (value.length === 0) throw new TypeError(`\`${option}\` must not be empty: an empty name verifies nothing`);
  if (value.includes("\0")) {
    throw new TypeError(`\`${option}\` contains a NUL character: OpenSSL would verify only the part before it`);
  }
  if (value.startsWith(".")) {
    throw new TypeError(`\`${option}\` must not start with a dot: OpenSSL would accept any subdomain of it`);
  }
  if (value.includes(":")) {
    if (value.includes("%")) {
      throw new TypeError(`\`${option}\` "${value}": an IPv6 address with a zone cannot be verified; give it without`);
    }
    if (!isIPv6(value)) throw new TypeError(`\`${option}\` "${value}" is not a valid IPv6 address`);
    return value;
  }
  if (endsInNumber(value) && !isCanonicalIPv4(value)) {
    throw new TypeError(
      `\`${option}\` "${value}" ends in a number but is not a canonical IPv4 address (four decimal parts 0-255, ` +
        "no leading zeros): resolvers and OpenSSL would read it as different addresses",
    );
  }
  return value;
}

/**
 * Sets up a client connection's peer name (checked by
 * {@linkcode checkPeerName}): with `verify`, the certificate must match `name`
 * (X509_VERIFY_PARAM_set1_host(3) on SSL_get0_param(3) for a DNS name — not
 * SSL_set1_host(3), which in OpenSSL 3 first tries to read the name as an IP
 * address — and X509_VERIFY_PARAM_set1_ip_asc(3) for an IP address), under
 * {@linkcode HOST_CHECK_FLAGS} (SSL_set_hostflags(3)); a DNS name is also sent
 * as SNI (SSL_set_tlsext_host_name(3); never an IP address, RFC 6066).
 */
export function setPeerName(ssl: Pointer, name: string | null, verify: boolean): void {
  const lib = libssl();
  lib.SSL_set_hostflags(ssl, HOST_CHECK_FLAGS);
  if (name === null) return;
  clearErrors();
  if (isIpAddress(name)) {
    if (verify && libcrypto().X509_VERIFY_PARAM_set1_ip_asc(lib.SSL_get0_param(ssl), cString(name)) !== 1) {
      clearErrors();
      throw new TypeError(`"${name}" is not a valid IP address`);
    }
    return;
  }
  const cname = cString(name);
  const bytes = new TextEncoder().encode(name);
  if (verify && libcrypto().X509_VERIFY_PARAM_set1_host(lib.SSL_get0_param(ssl), bytes, BigInt(bytes.length)) !== 1) {
    clearErrors();
    throw new TypeError(`cannot verify host name "${name}"`);
  }
  if (!setTlsextHostName(ssl, cname)) {
    clearErrors();
    throw new TypeError(`"${name}" cannot be sent as a server name (SNI allows at most 255 bytes)`);
  }
}
