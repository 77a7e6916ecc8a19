/**
 * The name a client verifies and sends as SNI.
 *
 * @module
 */
import { libcrypto, libssl } from "../ffi/library.ts";
import { clearErrors } from "../ffi/errors.ts";
import { cString, type Pointer, pointerTo } from "../ffi/memory.ts";

const SSL_CTRL_SET_TLSEXT_HOSTNAME = 55;
const TLSEXT_NAMETYPE_HOST_NAME = 0n;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** True for an IPv4 dotted quad or anything with a colon (IPv6); such names are checked as IP addresses. */
export function isIpAddress(name: string): boolean {
  return IPV4.test(name) || name.includes(":");
}

/** Checks a `hostname`/`servername` option: undefined or a string, else a TypeError. */
export function checkPeerName(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new TypeError(`\`${option}\` must be a string`);
  return value;
}

/**
 * Sets up a client connection's peer name: with `verify`, the certificate
 * must match `name` (SSL_set1_host(3) for a DNS name,
 * X509_VERIFY_PARAM_set1_ip_asc(3) for an IP address); a DNS name is also
 * sent as SNI (SSL_set_tlsext_host_name(3); never an IP address, RFC 6066).
 */
export function setPeerName(ssl: Pointer, name: string | null, verify: boolean): void {
  const lib = libssl();
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
  if (lib.SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_HOST_NAME, pointerTo(cname)) !== 1n) {
    clearErrors();
    throw new TypeError(`"${name}" cannot be sent as a server name (SNI allows at most 255 bytes)`);
  }
}
