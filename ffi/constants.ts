/**
 * The one home of the OpenSSL constants secsock uses, each with the name it
 * has in OpenSSL's headers (ssl.h, ssl3.h, tls1.h, x509_vfy.h, x509v3.h,
 * bio.h, err.h), so a value can be checked against them. Nothing else in
 * ffi/ or lib/ defines an OpenSSL number.
 *
 * @module
 */

// SSL_get_error(3) results.
/** A library failure; the reasons are in the error queue. */
export const SSL_ERROR_SSL = 1;
/** OpenSSL needs more input (ciphertext from the peer). */
export const SSL_ERROR_WANT_READ = 2;
/** OpenSSL wants its output sent before going on. */
export const SSL_ERROR_WANT_WRITE = 3;
/** The client certificate callback suspended the handshake (returned -1). */
export const SSL_ERROR_WANT_X509_LOOKUP = 4;
/** A transport failure, or EOF without close_notify. */
export const SSL_ERROR_SYSCALL = 5;
/** The peer sent close_notify. */
export const SSL_ERROR_ZERO_RETURN = 6;
/** The client-hello callback suspended the handshake (returned -1). */
export const SSL_ERROR_WANT_CLIENT_HELLO_CB = 11;
/** The verify callback asked for the chain to be verified again (SSL_set_retry_verify(3)). */
export const SSL_ERROR_WANT_RETRY_VERIFY = 12;

// SSL_ctrl(3) / SSL_CTX_ctrl(3) commands (only ffi/ctrl.ts uses them).
export const SSL_CTRL_MODE = 33;
export const SSL_CTRL_SET_SESS_CACHE_MODE = 44;
export const SSL_CTRL_SET_TLSEXT_SERVERNAME_CB = 53;
export const SSL_CTRL_SET_TLSEXT_HOSTNAME = 55;
export const SSL_CTRL_GET_TLSEXT_TICKET_KEYS = 58;
export const SSL_CTRL_SET_TLSEXT_TICKET_KEYS = 59;
export const SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB = 63;
export const SSL_CTRL_SET_TLSEXT_STATUS_REQ_TYPE = 65;
export const SSL_CTRL_GET_TLSEXT_STATUS_REQ_OCSP_RESP = 70;
export const SSL_CTRL_SET_TLSEXT_STATUS_REQ_OCSP_RESP = 71;
export const SSL_CTRL_CHAIN = 88;
export const SSL_CTRL_CHAIN_CERT = 89;
export const SSL_CTRL_SET_VERIFY_CERT_STORE = 106;
export const SSL_CTRL_SET_MIN_PROTO_VERSION = 123;
export const SSL_CTRL_SET_MAX_PROTO_VERSION = 124;
export const SSL_CTRL_GET_MIN_PROTO_VERSION = 130;
export const SSL_CTRL_GET_MAX_PROTO_VERSION = 131;
export const SSL_CTRL_SET_RETRY_VERIFY = 136;
export const SSL_CTRL_GET_VERIFY_CERT_STORE = 137;

// BIO_ctrl(3) commands.
export const BIO_C_SET_BUF_MEM_EOF_RETURN = 130;

// Protocol versions (SSL_CTX_set_min_proto_version(3)).
export const TLS1_VERSION = 0x0301;
export const TLS1_1_VERSION = 0x0302;
export const TLS1_2_VERSION = 0x0303;
export const TLS1_3_VERSION = 0x0304;

// SSL_CTX_set_options(3), SSL_CTX_set_mode(3), SSL_CTX_set_session_cache_mode(3).
export const SSL_OP_NO_TICKET = 1n << 14n;
export const SSL_OP_NO_COMPRESSION = 1n << 17n;
export const SSL_OP_NO_RENEGOTIATION = 1n << 30n;
/** OpenSSL 3.2+: do not send RFC 8879 compressed certificates (ignored by 3.0, which has no such option). */
export const SSL_OP_NO_TX_CERTIFICATE_COMPRESSION = 1n << 32n;
/** OpenSSL 3.2+: do not offer to receive RFC 8879 compressed certificates. */
export const SSL_OP_NO_RX_CERTIFICATE_COMPRESSION = 1n << 33n;
export const SSL_MODE_RELEASE_BUFFERS = 0x10n;
export const SSL_SESS_CACHE_SERVER = 0x2n;
export const SSL_SESS_CACHE_NO_INTERNAL = 0x300n;

// SSL_set_verify(3) modes.
export const SSL_VERIFY_NONE = 0;
export const SSL_VERIFY_PEER = 1;
export const SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 2;
export const SSL_VERIFY_CLIENT_ONCE = 4;
export const SSL_VERIFY_POST_HANDSHAKE = 8;

// SSL_CTX_set_info_callback(3) `where` bits.
export const SSL_CB_LOOP = 0x01;
export const SSL_CB_EXIT = 0x02;
export const SSL_CB_READ = 0x04;
export const SSL_CB_WRITE = 0x08;
export const SSL_CB_ALERT = 0x4000;
export const SSL_CB_HANDSHAKE_START = 0x10;
export const SSL_CB_HANDSHAKE_DONE = 0x20;
export const SSL_ST_CONNECT = 0x1000;
export const SSL_ST_ACCEPT = 0x2000;

// Return values of the servername, ALPN and status callbacks.
export const SSL_TLSEXT_ERR_OK = 0;
export const SSL_TLSEXT_ERR_ALERT_FATAL = 2;
export const SSL_TLSEXT_ERR_NOACK = 3;

/** The internal_error alert (a client-hello callback's `*al`). */
export const SSL_AD_INTERNAL_ERROR = 80;

// TLS extensions.
export const TLSEXT_TYPE_SERVER_NAME = 0;
export const TLSEXT_NAMETYPE_HOST_NAME = 0;
export const TLSEXT_STATUSTYPE_OCSP = 1;
/** Size of OpenSSL's session ticket key block (name, HMAC key, AES key). */
export const TLSEXT_TICKET_KEYS_LENGTH = 80;

// Certificate verification (X509_STORE_CTX_get_error(3)).
export const X509_V_OK = 0;
/** "application verification failure": the verify callback rejected the chain. */
export const X509_V_ERR_APPLICATION_VERIFICATION = 50;

// X509_VERIFY_PARAM_set_flags(3).
export const X509_V_FLAG_X509_STRICT = 0x20n;
export const X509_V_FLAG_POLICY_CHECK = 0x80n;
export const X509_V_FLAG_PARTIAL_CHAIN = 0x80000n;

// X509_check_host(3) flags.
/** `*` must be a whole left-most label. */
export const X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = 0x4;
/** Names come from the subjectAltName only, never the subject CN. */
export const X509_CHECK_FLAG_NEVER_CHECK_SUBJECT = 0x20;
/** What every host-name check uses (SSL_set_hostflags(3)): whole-label wildcards, subjectAltName only (RFC 6125). */
export const HOST_CHECK_FLAGS = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;

// Object identifiers and error codes.
export const NID_subject_alt_name = 85;
/** ERR_LIB_PEM and PEM_R_NO_START_LINE: "no more PEM blocks", the normal end of a bundle. */
export const ERR_LIB_PEM = 9;
export const PEM_R_NO_START_LINE = 108;
