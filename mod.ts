/**
 * secsock: TLS client and server sockets for Deno on the system's OpenSSL 3,
 * with OpenSSL's four socket callbacks — password, certificate verification,
 * handshake information and client certificate — as first-class JavaScript.
 *
 * @example
 * ```ts
 * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
 * const ctx = new SecureSocketContext({ ca: Deno.readTextFileSync("tests/fixtures/ca.pem") });
 * ctx.setCertificateVerifyCallback((ok, store) => {
 *   console.log(store.depth, store.currentCertificate?.subject, ok);
 *   return ok;
 * });
 * const socket = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443 });
 * console.log(socket.protocol, socket.cipher, socket.peerCertificate?.subject);
 * socket.close();
 * ```
 *
 * @module
 */
export { SecureSocketContext, type SecureSocketContextOptions, type TlsVersion } from "./lib/context.ts";
export type { NodeStyleContextOptions } from "./lib/context_options.ts";
export { type ClientCertificate, type ClientCertificateCallback } from "./lib/callbacks/client_certificate.ts";
export {
  type ConnectOptions,
  SecureSocket,
  type SecureSocketOptions,
  type StartTlsOptions,
  type TlsHandshakeInfo,
  type VerifyResult,
} from "./lib/socket.ts";
export { type ListenOptions, SecureSocketListener } from "./lib/listener.ts";
export { X509Certificate } from "./lib/certificate.ts";
export type { GeneralNameType, SubjectAltName } from "./lib/subject_alt_name.ts";
export { PrivateKey } from "./lib/private_key.ts";
export type { Password, PasswordCallback } from "./lib/callbacks/password.ts";
export { type VerifyCallback, VerifyMode, X509StoreContext } from "./lib/callbacks/verify.ts";
export {
  type CertificateInput,
  type CertificatePurpose,
  type CertificateVerification,
  type VerifyCertificateOptions,
  X509Store,
  type X509StoreOptions,
} from "./lib/x509_store.ts";
export { checkEmail, checkHost, checkIP, type HostNameOptions } from "./lib/name_check.ts";
export {
  type AlertInfo,
  describeAlert,
  describeState,
  formatInfo,
  type HandshakeState,
  type InfoCallback,
  InfoWhere,
} from "./lib/callbacks/info.ts";
export {
  CertificateVerificationError,
  type CertificateVerificationErrorOptions,
  ContextInUseError,
  HandshakeError,
  LibraryLoadError,
  type OpenSSLErrorEntry,
  type PeerAlert,
  SecureSocketError,
  type SecureSocketErrorOptions,
  SocketClosedError,
  TruncatedStreamError,
  UnableToReadCertificateError,
  UnableToReadPrivateKeyError,
} from "./lib/errors.ts";
export { type AlpnSelectCallback } from "./lib/callbacks/alpn.ts";
export { type ServerNameCallback } from "./lib/callbacks/server_name.ts";
export { type KeylogCallback } from "./lib/callbacks/keylog.ts";
export { type SessionCacheCallbacks } from "./lib/callbacks/session.ts";
export { type OcspResponseCallback } from "./lib/callbacks/ocsp.ts";
export { Pkcs12, type Pkcs12Contents } from "./lib/pkcs12.ts";
export { opensslVersion } from "./ffi/library.ts";
export type { Addr, Conn, NetAddr, UnixAddr, VsockAddr } from "./ffi/platform.ts";
