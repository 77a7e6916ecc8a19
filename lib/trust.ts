/**
 * Trust per role. A context has two X509_STOREs:
 *
 * - its SSL_CTX's own store (SSL_CTX_get_cert_store(3)) holds only the CAs
 *   the application named (`ca`, `addTrustedCertificate`). Servers judge
 *   client certificates against it, as Node's `ca` and nginx's
 *   `ssl_client_certificate` do: a public CA in the system store must not
 *   open a door that the application meant for its own clients.
 * - with `useSystemTrust`, a second store holds the system's CAs
 *   (X509_STORE_set_default_paths(3)) plus the same named CAs. Each client
 *   connection verifies servers against it (SSL_set1_verify_cert_store(3)).
 *
 * Servers never get the second store, and a server connection that SNI moves
 * to another context (SSL_set_SSL_CTX(3), which drops per-connection stores)
 * falls back to that context's own store: the named CAs only.
 *
 * @module
 */
import { libcrypto } from "../ffi/library.ts";
import { setVerifyCertStore } from "../ffi/ctrl.ts";
import { drainErrors } from "../ffi/errors.ts";
import { isNull, type Pointer } from "../ffi/memory.ts";
import { SecureSocketError } from "./errors.ts";

/**
 * A new X509_STORE with the system's CAs (X509_STORE_set_default_paths(3):
 * OpenSSL's default file and directory, or SSL_CERT_FILE / SSL_CERT_DIR).
 * The caller owns it (X509_STORE_free(3)). A missing system store is not an
 * error: the store is then empty.
 */
export function newSystemStore(): Pointer {
  const crypto = libcrypto();
  const store = crypto.X509_STORE_new();
  if (isNull(store)) throw new SecureSocketError("X509_STORE_new failed", { openssl: drainErrors() });
  crypto.X509_STORE_set_default_paths(store);
  drainErrors();
  return store;
}

/** Frees a store made by {@linkcode newSystemStore} (X509_STORE_free(3)); connections using it keep their own reference. */
export function freeStore(store: Pointer): void {
  libcrypto().X509_STORE_free(store);
}

/**
 * Makes a client connection verify the server against `store`
 * (SSL_set1_verify_cert_store(3): the connection takes its own reference).
 */
export function verifyServersWith(ssl: Pointer, store: Pointer): void {
  if (!setVerifyCertStore(ssl, store)) {
    throw new SecureSocketError("cannot set the store that verifies the server", { openssl: drainErrors() });
  }
}
