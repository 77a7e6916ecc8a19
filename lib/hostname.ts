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

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** True for an IPv4 dotted quad or anything with a colon (IPv6); such names are checked as IP addresses. */
export function isIpAddress(name: string): boolean {
  return IPV4.test(name) || name.includes(":");
}

/**
 * Checks a `hostname`/`servername` option: undefined, or a name OpenSSL will
 * verify as written. Throws a TypeError for anything else.
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
  return value;
}

/**
 * Sets up a client connection's peer name: with `verify`, the certificate
 * must match `name` (SSL_set1_host(3) for a DNS name,
 * X509_VERIFY_PARAM_set1_ip_asc(3) for an IP address), under
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
  if (verify && lib.SSL_set1_host(ssl, cname) !== 1) {
    clearErrors();
    throw new TypeError(`cannot verify host name "${name}"`);
  }
  if (!setTlsextHostName(ssl, cname)) {
    clearErrors();
    throw new TypeError(`"${name}" cannot be sent as a server name (SNI allows at most 255 bytes)`);
  }
}
