/**
 * Does a certificate name a host, an IP address or an e-mail address?
 * The checks a verifier makes on the leaf (X509_check_host(3) and friends),
 * with secsock's host-name rules: no partial wildcards, no fallback to the
 * subject CN.
 *
 * @module
 */
import { cString } from "../ffi/memory.ts";
import { checkEmailAddress, checkHostName, checkIpAddress } from "../ffi/x509_verify.ts";
import { toCertificates, withX509, X509Certificate } from "./certificate.ts";
import { checkPeerName, isCanonicalIPv4, isIpAddress, isIPv6 } from "./hostname.ts";
import {
  HOST_CHECK_FLAGS,
  X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
  X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
} from "../ffi/constants.ts";

const encoder = new TextEncoder();

/**
 * Weakenings of the host-name rules, for matching what other verifiers accept.
 *
 * @example
 * ```ts
 * import { checkHost, type HostNameOptions } from "@secsock/secsock";
 * const likeOpenSslDefaults: HostNameOptions = { subjectFallback: true, partialWildcards: true };
 * checkHost(Deno.readTextFileSync("tests/fixtures/server.pem"), "localhost", likeOpenSslDefaults);
 * ```
 */
export interface HostNameOptions {
  /**
   * Also match against the subject — its CN for a host name, its emailAddress
   * for an e-mail address — when the subjectAltName has no name of that kind
   * (OpenSSL's default; RFC 6125 deprecates it for host names). Default false.
   */
  subjectFallback?: boolean;
  /** Let a wildcard match part of a label, as in `f*.example.com`. Default false. */
  partialWildcards?: boolean;
}

/** The X509_CHECK_FLAG_* value for `options`: the handshake's rules, less what the caller gave up in words. */
export function hostCheckFlags(options: HostNameOptions): number {
  let flags = HOST_CHECK_FLAGS;
  if (options.partialWildcards) flags &= ~X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
  if (options.subjectFallback) flags &= ~X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
  return flags;
}

/** A host name as a handshake accepts it (see checkPeerName), as UTF-8 bytes. */
export function hostNameBytes(name: unknown, what: string): Uint8Array<ArrayBuffer> {
  if (typeof name !== "string") throw new TypeError(`\`${what}\` must be a string`);
  return encoder.encode(checkPeerName(name, what)!);
}

/**
 * An IP address as the C string X509_check_ip_asc(3) and
 * X509_VERIFY_PARAM_set1_ip_asc(3) read: only a canonical IPv4 dotted quad or
 * an IPv6 address without zone, since OpenSSL reads `127.0.0.010` as
 * 127.0.0.10 where resolvers and URL parsers read 127.0.0.8. A TypeError otherwise.
 */
export function ipAddressText(ip: unknown, what: string): Uint8Array<ArrayBuffer> {
  if (typeof ip !== "string") throw new TypeError(`${what} must be a string`);
  nameBytes(ip, what);
  if (!isCanonicalIPv4(ip) && !isIPv6(ip)) {
    throw new TypeError(
      `${what} "${ip}" is not a canonical IP address (IPv4: four decimal parts 0-255 without leading zeros; ` +
        "IPv6: without zone)",
    );
  }
  return cString(ip);
}

/** UTF-8 bytes of a name; a TypeError for what cannot be a name (empty, embedded NUL). */
export function nameBytes(name: string, what: string): Uint8Array<ArrayBuffer> {
  if (typeof name !== "string" || name.length === 0) throw new TypeError(`${what} must be a non-empty string`);
  // OpenSSL would stop at the NUL and check only the part before it.
  if (name.includes("\0")) throw new TypeError(`${what} must not contain a NUL character`);
  return encoder.encode(name);
}

function certificate(cert: X509Certificate | string | Uint8Array): X509Certificate {
  if (cert instanceof X509Certificate) return cert;
  if (typeof cert === "string" || cert instanceof Uint8Array) return toCertificates(cert)[0];
  throw new TypeError("expected a certificate (PEM text, PEM or DER bytes, or an X509Certificate)");
}

function answer(result: number, what: string): boolean {
  if (result < 0) throw new TypeError(`${what} cannot be checked`);
  return result === 1;
}

/**
 * True when the certificate is valid for host name `name`
 * (X509_check_host(3)): a DNS name of its subjectAltName matches, wildcards
 * only as a whole left-most label, never the subject CN (unless asked).
 * Names are taken as a handshake takes them: an IP address is checked as one
 * (X509_check_ip_asc(3)), and a name ending in a number that is not a
 * canonical IPv4 address (`127.0.0.010`, `0177.0.0.1`) is a TypeError.
 * This checks the name only, not the chain: see X509Store.verify for both.
 *
 * @example
 * ```ts
 * import { checkHost, X509Certificate } from "@secsock/secsock";
 * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/server.pem"));
 * console.log(checkHost(cert, "localhost"), checkHost(cert, "example.com")); // true false
 * ```
 */
export function checkHost(
  cert: X509Certificate | string | Uint8Array,
  name: string,
  options: HostNameOptions = {},
): boolean {
  const bytes = hostNameBytes(name, "name");
  if (isIpAddress(name)) return checkIP(cert, name);
  return answer(withX509(certificate(cert), (x) => checkHostName(x, bytes, hostCheckFlags(options))), `"${name}"`);
}

/**
 * True when the certificate is valid for IP address `ip`, IPv4 or IPv6
 * (X509_check_ip_asc(3)): an IP address of its subjectAltName equals it. The
 * subject CN is never consulted. A string that is not an IP address in
 * canonical form (no leading zeros in IPv4, no IPv6 zone) is a TypeError.
 *
 * @example
 * ```ts
 * import { checkIP, X509Certificate } from "@secsock/secsock";
 * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/server.pem"));
 * console.log(checkIP(cert, "127.0.0.1"), checkIP(cert, "::1"), checkIP(cert, "10.0.0.1")); // true true false
 * ```
 */
export function checkIP(cert: X509Certificate | string | Uint8Array, ip: string): boolean {
  const text = ipAddressText(ip, "IP address");
  return answer(withX509(certificate(cert), (x) => checkIpAddress(x, text, 0)), `"${ip}" is not an IP address and`);
}

/**
 * True when the certificate is valid for e-mail address `email`
 * (X509_check_email(3)): an rfc822Name of its subjectAltName matches (the
 * subject's emailAddress only when asked, as for host names).
 *
 * @example
 * ```ts
 * import { checkEmail, X509Certificate } from "@secsock/secsock";
 * const cert = X509Certificate.fromPEM(Deno.readTextFileSync("tests/fixtures/client.pem"));
 * console.log(checkEmail(cert, "alice@example.com")); // false
 * ```
 */
export function checkEmail(
  cert: X509Certificate | string | Uint8Array,
  email: string,
  options: Pick<HostNameOptions, "subjectFallback"> = {},
): boolean {
  const bytes = nameBytes(email, "e-mail address");
  return answer(
    withX509(certificate(cert), (x) => checkEmailAddress(x, bytes, hostCheckFlags(options))),
    `"${email}"`,
  );
}
