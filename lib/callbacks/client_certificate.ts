/**
 * The client certificate callback (§4), top to bottom: its types, the
 * setter's validation, the trampoline OpenSSL calls on a client when a server
 * asks for a certificate and the context has none (`client_cert_cb`), the
 * per-connection dispatch (a Promise answer suspends the handshake), and the
 * installation of the chosen certificate, key and chain on the connection.
 *
 * @module
 */
import { SharedCallback } from "../../ffi/callbacks.ts";
import { libcrypto, libssl } from "../../ffi/library.ts";
import { drainErrors } from "../../ffi/errors.ts";
import { addChainCert, clearChainCerts } from "../../ffi/ctrl.ts";
import { type Pointer, type PointerValue, writePointer } from "../../ffi/memory.ts";
import { freePrivateKey, keyMatchesCertificate } from "../../ffi/pkey.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import { freeX509, upRefX509 } from "../../ffi/x509.ts";
import { AsyncChoice } from "../async_choice.ts";
import { newX509, toCertificates, X509Certificate } from "../certificate.ts";
import type { ContextCore } from "../context_core.ts";
import { SecureSocketError } from "../errors.ts";
import { PrivateKey, toPrivateKeyHandle } from "../private_key.ts";
import type { SecureSocket } from "../socket.ts";
import { checkCallback, type Connection, dispatchTo } from "./connection.ts";

/** What the client certificate callback returns to send a certificate. */
export interface ClientCertificate {
  /** The certificate (a PEM string is accepted). */
  certificate: X509Certificate | string;
  /** Its private key (an unencrypted PEM string is accepted). */
  privateKey: PrivateKey | string;
  /** Intermediate certificates to send after it. */
  chain?: (X509Certificate | string)[];
}

/**
 * The client certificate callback (§4): called on a client when the server
 * asks for a certificate and the context has none. Return the certificate to
 * send, or null to send none; a Promise suspends the handshake until it settles.
 *
 * @example
 * ```ts
 * import type { ClientCertificateCallback } from "@secsock/secsock";
 * const choose: ClientCertificateCallback = (socket) =>
 *   socket.acceptableIssuers.some((name) => name.includes("secsock"))
 *     ? { certificate: Deno.readTextFileSync("tests/fixtures/client.pem"), privateKey: Deno.readTextFileSync("tests/fixtures/client.key") }
 *     : null;
 * ```
 */
export type ClientCertificateCallback = (
  socket: SecureSocket,
) => ClientCertificate | null | Promise<ClientCertificate | null>;

// ---- The setter ----

/** Sets (or, with null, removes) a context's client certificate callback and installs its trampoline. */
export function setClientCertificateCallback(core: ContextCore, cb: ClientCertificateCallback | null): void {
  const handle = core.handle;
  checkCallback(cb, "setClientCertificateCallback()");
  core.clientCertificateCallback = cb;
  // OpenSSL reads this callback from the SSL_CTX at use time; with none it
  // sends no certificate.
  libssl().SSL_CTX_set_client_cert_cb(handle, cb ? clientCertTrampoline.pointer : null);
}

// ---- The trampoline ----

/** `int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)`: 1 = chosen, 0 = none, -1 = suspend. */
const CLIENT_CERT_CALLBACK = {
  parameters: ["pointer", "pointer", "pointer"],
  result: "i32",
} as const satisfies CallbackDefinition;

/**
 * The client certificate trampoline, one per process (ffi/callbacks.ts).
 * Should the dispatch throw, C gets -1: a throw must not read as "no
 * certificate" (0); -1 suspends, and the handshake loop rethrows the error.
 */
const clientCertTrampoline = new SharedCallback(CLIENT_CERT_CALLBACK, dispatchTo(chooseClientCertificate, 0), -1);

// ---- The dispatch ----

/** 1 = certificate chosen, 0 = none, -1 = suspend (or fail, with the error recorded). */
function chooseClientCertificate(connection: Connection, x509Out: PointerValue, pkeyOut: PointerValue): number {
  const core = connection.active;
  const cb = core.clientCertificateCallback;
  if (connection.errors.pending) return -1;
  if (!cb) return 0;
  try {
    connection.clientCertificateChoice ??= new AsyncChoice((e) => connection.record(e));
    const choice = connection.clientCertificateChoice.take(() => cb(connection.socket));
    if (!choice.ready) return -1;
    if (choice.value === null || choice.value === undefined) return 0;
    installClientCertificate(connection.ssl, choice.value, x509Out, pkeyOut, core);
    return 1;
  } catch (error) {
    // Returning 0 would carry on without a certificate: suspend, and the
    // handshake loop rethrows the error.
    connection.record(error);
    return -1;
  }
}

/** Puts the chosen client certificate, key and chain on the SSL and in OpenSSL's out-parameters. */
function installClientCertificate(
  handle: Pointer,
  choice: ClientCertificate,
  x509Out: PointerValue,
  pkeyOut: PointerValue,
  core: ContextCore,
): void {
  if (typeof choice !== "object" || choice === null || !("certificate" in choice) || !("privateKey" in choice)) {
    throw new TypeError("the client certificate callback must return { certificate, privateKey, chain? } or null");
  }
  const ssl = libssl();
  const cert = choice.certificate instanceof X509Certificate
    ? choice.certificate
    : toCertificates(choice.certificate)[0];
  const x509 = newX509(cert);
  let pkey: Pointer | null = null;
  try {
    pkey = choice.privateKey instanceof PrivateKey
      ? toPrivateKeyHandle(choice.privateKey, null, null)
      : toPrivateKeyHandle(choice.privateKey, null, core.passwordCallback);
    if (!keyMatchesCertificate(x509, pkey)) {
      drainErrors();
      throw new SecureSocketError("the client certificate and its private key do not match", { openssl: [] });
    }
    if (ssl.SSL_use_certificate(handle, x509) !== 1 || ssl.SSL_use_PrivateKey(handle, pkey) !== 1) {
      throw SecureSocketError.fromQueue("OpenSSL refused the client certificate");
    }
    clearChainCerts(handle);
    for (const extra of choice.chain ?? []) {
      for (const c of extra instanceof X509Certificate ? [extra] : toCertificates(extra)) {
        const x = newX509(c);
        try {
          if (!addChainCert(handle, x)) throw SecureSocketError.fromQueue("OpenSSL refused a client chain certificate");
        } finally {
          freeX509(x);
        }
      }
    }
    // OpenSSL takes ownership of what is stored in the out-parameters.
    if (x509Out) writePointer(x509Out, upRefX509(x509));
    if (pkeyOut) {
      libcrypto().EVP_PKEY_up_ref(pkey);
      writePointer(pkeyOut, pkey);
    }
  } finally {
    freeX509(x509);
    if (pkey) freePrivateKey(pkey);
  }
}
