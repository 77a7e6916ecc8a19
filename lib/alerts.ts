/**
 * TLS alert names, as the IANA "TLS Alerts" registry spells them
 * (RFC 8446 §6, RFC 8447, RFC 8879 and the TLS 1.3 additions). OpenSSL 3.0's
 * `SSL_alert_desc_string_long(3)` has no text for the TLS 1.3 alerts
 * (certificate_required, missing_extension, no_application_protocol, …), so
 * secsock names alerts from this one table on every OpenSSL version. Used by
 * `describeAlert()` and by the `alert` of an error caused by the peer's alert.
 *
 * @module
 */

const NAMES: Readonly<Record<number, string>> = {
  0: "close_notify",
  10: "unexpected_message",
  20: "bad_record_mac",
  21: "decryption_failed",
  22: "record_overflow",
  30: "decompression_failure",
  40: "handshake_failure",
  41: "no_certificate",
  42: "bad_certificate",
  43: "unsupported_certificate",
  44: "certificate_revoked",
  45: "certificate_expired",
  46: "certificate_unknown",
  47: "illegal_parameter",
  48: "unknown_ca",
  49: "access_denied",
  50: "decode_error",
  51: "decrypt_error",
  60: "export_restriction",
  70: "protocol_version",
  71: "insufficient_security",
  80: "internal_error",
  86: "inappropriate_fallback",
  90: "user_canceled",
  100: "no_renegotiation",
  109: "missing_extension",
  110: "unsupported_extension",
  111: "certificate_unobtainable",
  112: "unrecognized_name",
  113: "bad_certificate_status_response",
  114: "bad_certificate_hash_value",
  115: "unknown_psk_identity",
  116: "certificate_required",
  120: "no_application_protocol",
  121: "ech_required",
};

/** The IANA name of alert description `code` (e.g. 48 → "unknown_ca"), or "unknown". */
export function alertName(code: number): string {
  return NAMES[code] ?? "unknown";
}

/** OpenSSL's error reasons for an alert received from the peer are SSL_AD_REASON_OFFSET + the alert code. */
const SSL_AD_REASON_OFFSET = 1000;
/** ERR_LIB_SSL, and the packing of `ERR_get_error(3)` codes in OpenSSL 3 (ERR_LIB_OFFSET, ERR_REASON_MASK). */
const ERR_LIB_SSL = 20;
const ERR_LIB_OFFSET = 23;
const ERR_REASON_MASK = 0x7fffff;
const ERR_SYSTEM_FLAG = 0x80000000;

/**
 * The alert code the peer sent when a packed OpenSSL error code says "the
 * peer sent a fatal alert" (`SSL_R_SSLV3_ALERT_*`/`SSL_R_TLSV1*_ALERT_*`), else null.
 */
export function receivedAlertCode(packed: number): number | null {
  if ((packed & ERR_SYSTEM_FLAG) !== 0 || ((packed >>> ERR_LIB_OFFSET) & 0xff) !== ERR_LIB_SSL) return null;
  const reason = packed & ERR_REASON_MASK;
  return reason >= SSL_AD_REASON_OFFSET && reason <= SSL_AD_REASON_OFFSET + 255 ? reason - SSL_AD_REASON_OFFSET : null;
}
