/**
 * Node-style context options (`cert`, `key`, `passphrase`, `pfx`,
 * `requestCert`, `rejectUnauthorized`, `ALPNProtocols`, with the names of
 * Node's `tls.createSecureContext`/`tls.connect`): their types, the checks
 * that refuse contradictory combinations, and their mapping onto the
 * context's own setters (useCertificateChain, usePrivateKey, usePkcs12) and
 * verify mode, so both ways of configuring run the same code.
 *
 * @module
 */
import type { Password } from "./callbacks/password.ts";
import { VerifyMode } from "./callbacks/verify.ts";
import type { PrivateKey } from "./private_key.ts";

/**
 * Node-style names for settings secsock otherwise makes with setters or
 * other options; part of {@linkcode SecureSocketContextOptions}.
 *
 * @example
 * ```ts
 * import { SecureSocketContext } from "@secsock/secsock";
 * // The same as useCertificateChain() + usePrivateKey(key, passphrase) + setVerify(Peer | FailIfNoPeerCert):
 * const server = new SecureSocketContext({
 *   cert: Deno.readTextFileSync("tests/fixtures/server-chain.pem"),
 *   key: Deno.readTextFileSync("tests/fixtures/server-key-pkcs8-aes256.pem"),
 *   passphrase: "secsock-pass",
 *   ca: Deno.readTextFileSync("tests/fixtures/ca.pem"),
 *   requestCert: true,
 * });
 * ```
 */
export interface NodeStyleContextOptions {
  /**
   * This endpoint's certificate chain, PEM (own certificate first, then
   * intermediates): `useCertificateChain(cert)`. Needs `key`.
   */
  cert?: string | Uint8Array;
  /**
   * This endpoint's private key, PEM or DER, encrypted or not (then give
   * `passphrase`): `usePrivateKey(key, passphrase)`. Needs `cert`.
   */
  key?: string | Uint8Array | PrivateKey;
  /** Password of an encrypted `key` or of `pfx`. */
  passphrase?: string;
  /**
   * A PKCS#12 (.p12/.pfx) bundle with certificate, key and chain:
   * `usePkcs12(pfx, passphrase)`. Not together with `cert`/`key`.
   */
  pfx?: Uint8Array;
  /**
   * Server: ask clients for a certificate. With `rejectUnauthorized` (the
   * default) a client without a valid one is refused: verify mode
   * `Peer | FailIfNoPeerCert`; with `rejectUnauthorized: false`, `Peer` (a
   * client may send none; one that sends a certificate that does not verify
   * is still refused, unlike Node, which accepts it and reports it).
   * Not together with `verifyMode`.
   */
  requestCert?: boolean;
  /**
   * Client (default true): refuse a server whose certificate does not
   * verify. `false` maps to verify mode `None`: OpenSSL still verifies the
   * chain and name and records the outcome in `socket.verifyResult` (Node's
   * `authorized`/`authorizationError`), but the handshake no longer fails on
   * it. That accepts any server, an attacker in the middle included: check
   * `verifyResult` (or pin) before trusting the connection. For a server it
   * only matters with `requestCert` (see there). Not together with `verifyMode`.
   */
  rejectUnauthorized?: boolean;
  /** Node's name for `alpnProtocols` (give one or the other). */
  ALPNProtocols?: string[];
}

/** What the context constructor applies after trust is set up, through its own setters. */
export interface NodeStyleSetters {
  useCertificateChain(pem: string | Uint8Array): void;
  usePrivateKey(key: string | Uint8Array | PrivateKey, password?: Password): void;
  usePkcs12(data: Uint8Array, password?: Password): void;
}

function checkType(value: unknown, name: string, ok: (value: unknown) => boolean, what: string): void {
  if (value !== undefined && !ok(value)) throw new TypeError(`\`${name}\` must be ${what}`);
}

const isBytes = (v: unknown) => v instanceof Uint8Array;
const isPem = (v: unknown) => typeof v === "string" || v instanceof Uint8Array;
const isBoolean = (v: unknown) => typeof v === "boolean";

/**
 * Checks the Node-style options and the combinations that contradict each
 * other or the secsock names (TypeError), before the context is made.
 */
export function checkNodeStyleOptions(
  options: NodeStyleContextOptions & { verifyMode?: number; alpnProtocols?: string[] },
): void {
  checkType(options.cert, "cert", isPem, "PEM text or bytes");
  checkType(
    options.key,
    "key",
    (v) => isPem(v) || (typeof v === "object" && v !== null),
    "a PEM/DER key or a PrivateKey",
  );
  checkType(options.passphrase, "passphrase", (v) => typeof v === "string", "a string");
  checkType(options.pfx, "pfx", isBytes, "a Uint8Array (the PKCS#12 bytes)");
  checkType(options.requestCert, "requestCert", isBoolean, "a boolean");
  checkType(options.rejectUnauthorized, "rejectUnauthorized", isBoolean, "a boolean");
  checkType(options.ALPNProtocols, "ALPNProtocols", Array.isArray, "an array of strings");
  if (options.pfx !== undefined && (options.cert !== undefined || options.key !== undefined)) {
    throw new TypeError("give either `pfx` or `cert` and `key`, not both");
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("`cert` and `key` go together: give both (or neither)");
  }
  if (options.passphrase !== undefined && options.key === undefined && options.pfx === undefined) {
    throw new TypeError("`passphrase` is for `key` or `pfx`, and neither was given");
  }
  if (options.ALPNProtocols !== undefined && options.alpnProtocols !== undefined) {
    throw new TypeError("give either `alpnProtocols` or its Node name `ALPNProtocols`, not both");
  }
  if (
    options.verifyMode !== undefined && (options.requestCert !== undefined || options.rejectUnauthorized !== undefined)
  ) {
    throw new TypeError("give either `verifyMode` or `requestCert`/`rejectUnauthorized`, not both");
  }
}

/** The verify mode the Node-style options stand for, or undefined when they say nothing. */
export function nodeStyleVerifyMode(options: NodeStyleContextOptions): number | undefined {
  const reject = options.rejectUnauthorized ?? true;
  if (options.requestCert) return VerifyMode.Peer | (reject ? VerifyMode.FailIfNoPeerCert : 0);
  return reject ? undefined : VerifyMode.None;
}

/** Loads `cert`/`key` or `pfx` through the context's own setters. */
export function applyNodeStyleCredentials(ctx: NodeStyleSetters, options: NodeStyleContextOptions): void {
  if (options.pfx !== undefined) ctx.usePkcs12(options.pfx, options.passphrase);
  if (options.cert !== undefined && options.key !== undefined) {
    ctx.useCertificateChain(options.cert);
    ctx.usePrivateKey(options.key, options.passphrase);
  }
}
