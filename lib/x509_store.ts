/**
 * X509Store: certificate path validation outside a handshake — a leaf,
 * the intermediates that came with it, trust anchors, a host name, IP or
 * e-mail address, a purpose and a validation time in; OpenSSL's verdict out.
 * The same checks a handshake makes, for certificates that arrive some other
 * way (a signed document, a stored chain, a test).
 *
 * @module
 */
import { clearErrors, drainErrors } from "../ffi/errors.ts";
import { cString, type Pointer } from "../ffi/memory.ts";
import { freeX509 } from "../ffi/x509.ts";
import {
  addToX509Store,
  type ChainParameters,
  freeX509Store,
  newX509Store,
  purposeId,
  useDefaultPaths,
  verifyChain,
} from "../ffi/x509_verify.ts";
import { certificateFromHandle, newX509, toCertificates, X509Certificate } from "./certificate.ts";
import { SecureSocketError, SocketClosedError } from "./errors.ts";
import { hostCheckFlags, hostNameBytes, type HostNameOptions, ipAddressText, nameBytes } from "./name_check.ts";
import { isIpAddress } from "./hostname.ts";
import { verifyErrorString } from "./callbacks/verify.ts";
import { X509_V_FLAG_PARTIAL_CHAIN, X509_V_FLAG_POLICY_CHECK, X509_V_FLAG_X509_STRICT } from "../ffi/constants.ts";

/**
 * A certificate as PEM text, PEM or DER bytes, or a certificate value.
 *
 * @example
 * ```ts
 * import { type CertificateInput, X509Certificate } from "@secsock/secsock";
 * const pem = Deno.readTextFileSync("tests/fixtures/ca.pem");
 * const inputs: CertificateInput[] = [pem, X509Certificate.fromPEM(pem), X509Certificate.fromPEM(pem).toDER()];
 * ```
 */
export type CertificateInput = string | Uint8Array | X509Certificate;

/**
 * What a certificate is checked for: OpenSSL's purpose short names, as
 * `openssl verify -purpose` takes them.
 *
 * @example
 * ```ts
 * import type { CertificatePurpose } from "@secsock/secsock";
 * const forClientCertificates: CertificatePurpose = "sslclient";
 * ```
 */
export type CertificatePurpose =
  | "sslserver"
  | "sslclient"
  | "nssslserver"
  | "smimesign"
  | "smimeencrypt"
  | "crlsign"
  | "ocsphelper"
  | "timestampsign"
  | "any";

/**
 * Options of {@linkcode X509Store}.
 *
 * @example
 * ```ts
 * import { X509Store, type X509StoreOptions } from "@secsock/secsock";
 * const options: X509StoreOptions = { ca: Deno.readTextFileSync("tests/fixtures/ca.pem") };
 * using store = new X509Store(options);
 * ```
 */
export interface X509StoreOptions {
  /** Trust anchors: PEM text (any number of certificates), DER or PEM bytes, or certificates. */
  ca?: CertificateInput | CertificateInput[];
  /**
   * Also trust the system's default roots (X509_STORE_set_default_paths(3)).
   * Default false: only the anchors named here are trusted.
   */
  useSystemTrust?: boolean;
}

/**
 * Options of {@linkcode X509Store.verify}.
 *
 * @example
 * ```ts
 * import type { VerifyCertificateOptions } from "@secsock/secsock";
 * const asServer: VerifyCertificateOptions = {
 *   intermediates: [Deno.readTextFileSync("tests/fixtures/intermediate.pem")],
 *   hostname: "localhost",
 *   purpose: "sslserver",
 * };
 * ```
 */
export interface VerifyCertificateOptions extends HostNameOptions {
  /** Certificates that may complete the chain, in any order (untrusted; PEM bundles are split). */
  intermediates?: CertificateInput[];
  /**
   * Host name the leaf must be valid for (X509_VERIFY_PARAM_set1_host(3)),
   * taken as a handshake takes it: an IP address is checked as one, and a name
   * ending in a number that is not a canonical IPv4 address is a TypeError.
   */
  hostname?: string;
  /** IP address (canonical form) the leaf must be valid for (X509_VERIFY_PARAM_set1_ip_asc(3)). */
  ip?: string;
  /** E-mail address the leaf must be valid for (X509_VERIFY_PARAM_set1_email(3)). */
  email?: string;
  /**
   * What the leaf is for (X509_STORE_CTX_set_purpose(3)): its extended key
   * usage and the chain's trust settings are checked against it. Default
   * "sslserver", what a TLS client checks; "any" checks no purpose.
   */
  purpose?: CertificatePurpose;
  /** Validation time (X509_VERIFY_PARAM_set_time(3)). Default: now. */
  time?: Date;
  /** Maximum number of intermediates (X509_VERIFY_PARAM_set_depth(3)). Default: OpenSSL's. */
  depth?: number;
  /**
   * Accept a chain that ends at any certificate of the store, not only at a
   * self-signed root (X509_V_FLAG_PARTIAL_CHAIN). A weakening; default false.
   */
  partialChain?: boolean;
  /** Apply RFC 5280 strictly (X509_V_FLAG_X509_STRICT). Default false, as in a handshake. */
  strict?: boolean;
  /**
   * Evaluate certificate policies and policy constraints
   * (X509_V_FLAG_POLICY_CHECK). Default false, as in a handshake.
   */
  policyCheck?: boolean;
}

/**
 * OpenSSL's verdict on a certificate chain.
 *
 * @example
 * ```ts
 * import type { CertificateVerification } from "@secsock/secsock";
 * function explain(verdict: CertificateVerification): string {
 *   return verdict.ok ? "trusted" : `error ${verdict.error} at depth ${verdict.depth}: ${verdict.errorString}`;
 * }
 * ```
 */
export interface CertificateVerification {
  /** True when the chain verified. */
  readonly ok: boolean;
  /** OpenSSL's X509_V_ERR_* code (0 when ok), e.g. 47 = permitted subtree violation. */
  readonly error: number;
  /** OpenSSL's text for `error`. */
  readonly errorString: string;
  /** Depth of the certificate that failed (0 = the leaf). */
  readonly depth: number;
  /** The chain OpenSSL built, leaf first and trust anchor last (as far as it got, on a failure). */
  readonly chain: X509Certificate[];
}

// A safety net only: stores the user forgot to close are freed when collected.
const leaked = new FinalizationRegistry<Pointer>(freeX509Store);

const PURPOSES = new Set<string>([
  "sslserver",
  "sslclient",
  "nssslserver",
  "smimesign",
  "smimeencrypt",
  "crlsign",
  "ocsphelper",
  "timestampsign",
  "any",
]);

/**
 * A set of trust anchors, and path validation against them
 * (X509_STORE_new(3), X509_verify_cert(3)). It owns a native `X509_STORE`:
 * close it (or use `using`) when done.
 *
 * @example
 * ```ts
 * import { X509Store } from "@secsock/secsock";
 * using store = new X509Store({ ca: Deno.readTextFileSync("tests/fixtures/ca.pem") });
 * const verdict = store.verify(Deno.readTextFileSync("tests/fixtures/server.pem"), {
 *   intermediates: [Deno.readTextFileSync("tests/fixtures/intermediate.pem")],
 *   hostname: "localhost",
 *   purpose: "sslserver",
 * });
 * console.log(verdict.ok, verdict.errorString, verdict.chain.map((c) => c.subject));
 * ```
 */
export class X509Store implements Disposable {
  #store: Pointer | null;

  /**
   * Creates a store holding the anchors of `options.ca`.
   *
   * @param options trust anchors, and whether to add the system's roots
   */
  constructor(options: X509StoreOptions = {}) {
    const store = newX509Store();
    this.#store = store;
    leaked.register(this, store, this);
    try {
      if (options.useSystemTrust) {
        clearErrors();
        if (!useDefaultPaths(store)) throw SecureSocketError.fromQueue("cannot load the system's trusted certificates");
        drainErrors(); // a missing system directory is not an error
      }
      const anchors = options.ca === undefined ? [] : Array.isArray(options.ca) ? options.ca : [options.ca];
      for (const anchor of anchors) this.addCertificate(anchor);
    } catch (error) {
      this.close();
      throw error;
    }
  }

  get #live(): Pointer {
    if (!this.#store) throw new SocketClosedError("X509Store");
    return this.#store;
  }

  /**
   * Adds trust anchors (X509_STORE_add_cert(3)): every certificate of a PEM
   * text, DER bytes, or a certificate value.
   *
   * @example
   * ```ts
   * import { X509Store } from "@secsock/secsock";
   * using store = new X509Store();
   * store.addCertificate(Deno.readTextFileSync("tests/fixtures/ca.pem"));
   * ```
   */
  addCertificate(cert: CertificateInput): void {
    const store = this.#live;
    for (const c of toCertificates(checkInput(cert, "addCertificate()"))) {
      const x509 = newX509(c);
      try {
        clearErrors();
        if (!addToX509Store(store, x509)) throw SecureSocketError.fromQueue("OpenSSL refused the trusted certificate");
      } finally {
        freeX509(x509);
      }
    }
  }

  /**
   * Verifies `leaf` as OpenSSL does in a handshake (X509_STORE_CTX_init(3),
   * X509_verify_cert(3)) and returns its verdict; a chain that does not
   * verify is a verdict (`ok: false`), not an exception. Host names are
   * matched without partial wildcards and never against the subject CN
   * (X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT),
   * as in secsock's handshakes.
   *
   * @example
   * ```ts
   * import { X509Store } from "@secsock/secsock";
   * using store = new X509Store({ ca: Deno.readTextFileSync("tests/fixtures/ca.pem") });
   * const verdict = store.verify(Deno.readTextFileSync("tests/fixtures/client.pem"), {
   *   intermediates: [Deno.readTextFileSync("tests/fixtures/intermediate.pem")],
   *   purpose: "sslclient",
   *   time: new Date("2030-01-01T00:00:00Z"),
   * });
   * if (!verdict.ok) console.log(`rejected at depth ${verdict.depth}: ${verdict.errorString}`);
   * ```
   */
  verify(leaf: CertificateInput, options: VerifyCertificateOptions = {}): CertificateVerification {
    const store = this.#live;
    const parameters = chainParameters(options);
    const leafCert = toCertificates(checkInput(leaf, "verify()"))[0];
    const others = (options.intermediates ?? []).flatMap((c) => toCertificates(checkInput(c, "intermediates")));
    const handles: Pointer[] = [];
    try {
      const x509 = newX509(leafCert);
      handles.push(x509);
      for (const c of others) handles.push(newX509(c));
      clearErrors();
      const verdict = verifyChain(store, x509, handles.slice(1), parameters, certificateFromHandle);
      if (verdict.kind === "rejected-parameter") throw parameterError(verdict.parameter, options);
      if (!verdict.ok && verdict.error === 0) {
        // Nothing was judged: OpenSSL failed before it could (out of memory, say).
        throw SecureSocketError.fromQueue("certificate verification could not run");
      }
      drainErrors();
      return {
        ok: verdict.ok,
        error: verdict.error,
        errorString: verifyErrorString(verdict.error),
        depth: verdict.depth,
        chain: verdict.chain,
      };
    } finally {
      handles.forEach(freeX509);
    }
  }

  /**
   * Frees the native store; idempotent. Verdicts already returned stay valid.
   *
   * @example
   * ```ts
   * import { X509Store } from "@secsock/secsock";
   * const store = new X509Store();
   * store.close();
   * ```
   */
  close(): void {
    const store = this.#store;
    if (!store) return;
    this.#store = null;
    leaked.unregister(this);
    freeX509Store(store);
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function checkInput(input: unknown, what: string): CertificateInput {
  if (typeof input === "string" || input instanceof Uint8Array || input instanceof X509Certificate) return input;
  throw new TypeError(`${what} takes a certificate (PEM text, PEM or DER bytes, or an X509Certificate)`);
}

/** The options as OpenSSL parameters, with every misuse reported before anything native is made. */
function chainParameters(options: VerifyCertificateOptions): ChainParameters {
  const purposeName = options.purpose ?? "sslserver";
  if (!PURPOSES.has(purposeName)) {
    throw new RangeError(`unknown purpose "${purposeName}" (one of ${[...PURPOSES].join(", ")})`);
  }
  const purpose = purposeName === "any" ? null : purposeId(cString(purposeName));
  if (purposeName !== "any" && purpose === null) {
    throw new RangeError(`this OpenSSL has no purpose "${purposeName}"`);
  }
  let time: bigint | null = null;
  if (options.time !== undefined) {
    if (!(options.time instanceof Date) || Number.isNaN(options.time.getTime())) {
      throw new RangeError("time must be a valid Date");
    }
    time = BigInt(Math.floor(options.time.getTime() / 1000));
  }
  if (options.depth !== undefined && (!Number.isInteger(options.depth) || options.depth < 0)) {
    throw new RangeError("depth must be a non-negative integer");
  }
  let flags = 0n;
  if (options.partialChain) flags |= X509_V_FLAG_PARTIAL_CHAIN;
  if (options.strict) flags |= X509_V_FLAG_X509_STRICT;
  if (options.policyCheck) flags |= X509_V_FLAG_POLICY_CHECK;
  // A host name that is an IP address is checked as one, as a handshake verifying it would.
  const host = options.hostname === undefined ? null : hostNameBytes(options.hostname, "hostname");
  const hostIsIp = host !== null && isIpAddress(options.hostname!);
  if (hostIsIp && options.ip !== undefined) {
    throw new TypeError("give the IP address as `hostname` or as `ip`, not both");
  }
  return {
    purpose,
    host: hostIsIp ? null : host,
    hostFlags: hostCheckFlags(options),
    ip: hostIsIp ? ipAddressText(options.hostname, "hostname") : options.ip === undefined ? null : ipText(options.ip),
    email: options.email === undefined ? null : nameBytes(options.email, "email"),
    time,
    depth: options.depth ?? null,
    flags,
  };
}

/** The IP address as the C string X509_VERIFY_PARAM_set1_ip_asc reads, in canonical form only. */
function ipText(ip: string): Uint8Array {
  return ipAddressText(ip, "ip");
}

function parameterError(parameter: string, options: VerifyCertificateOptions): Error {
  drainErrors();
  switch (parameter) {
    case "host":
      return new TypeError(`"${options.hostname}" is not a host name OpenSSL can check`);
    case "ip":
      return new TypeError(`"${options.ip}" is not an IP address`);
    case "email":
      return new TypeError(`"${options.email}" is not an e-mail address OpenSSL can check`);
    case "purpose":
      return new RangeError(`OpenSSL refused the purpose "${options.purpose}"`);
    default:
      return SecureSocketError.fromQueue("cannot set up certificate verification");
  }
}
