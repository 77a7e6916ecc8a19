/**
 * The diagnostic connection behind `inspect`: one TLS handshake with all four
 * callbacks watching (password for the client key, verification at every
 * depth, the handshake trace, the client-certificate request), then a second
 * connection to see whether the session resumes. It sends no application
 * data, ever.
 *
 * To show the whole chain, the verify callback records each report OpenSSL
 * makes and lets the handshake go on, and the verdict is drawn from the
 * records afterwards (as `openssl s_client` does). Because the server may not
 * be the one it claims to be, a client certificate is withheld once any
 * report failed, unless `--no-verify` was given.
 *
 * @module
 */
import {
  type AlertInfo,
  describeAlert,
  formatInfo,
  InfoWhere,
  PrivateKey,
  SecureSocket,
  SecureSocketContext,
  SecureSocketError,
  X509Certificate,
} from "../mod.ts";

/** What to connect to and how. */
export interface InspectOptions {
  /** Host name or IP address to connect to. */
  host: string;
  /** TCP port. */
  port: number;
  /** Name to send as SNI and to verify (default: `host`). */
  servername?: string;
  /** PEM file: the client certificate, optionally followed by its chain. */
  certFile?: string;
  /** PEM or DER file: the client certificate's private key. */
  keyFile?: string;
  /** Password of an encrypted key. */
  password?: string;
  /** Extra trusted CA certificates (PEM file), added to the system's store. */
  caFile?: string;
  /** Report verification failures but do not fail on them. */
  noVerify?: boolean;
  /** ALPN protocols to offer. */
  alpn?: string[];
  /** Give up the handshake after this many milliseconds (default 10 000). */
  timeoutMs?: number;
  /** How long to wait after the handshake for tickets or a late refusal (default 1 000 ms). */
  settleMs?: number;
}

/** One line of the handshake trace (info callback). */
export interface TraceEntry {
  /** The info callback's `where` flags. */
  where: number;
  /** Its `ret` (an alert for alerts). */
  ret: number;
  /** `openssl s_client -state` style text. */
  text: string;
  /** The decoded alert, for alerts. */
  alert?: AlertInfo;
}

/** One report of the verify callback. */
export interface VerifyReport {
  /** Depth of the certificate (0 = the server's own). */
  depth: number;
  /** OpenSSL's own verdict for this report. */
  ok: boolean;
  /** X509_V_ERR_* code (0 = ok). */
  error: number;
  /** OpenSSL's text for `error`. */
  errorString: string;
}

/** A certificate of the verified chain, with the reports made about it. */
export interface ChainEntry {
  /** Depth (0 = the server's own). */
  depth: number;
  /** Subject, RFC 2253. */
  subject: string;
  /** Issuer, RFC 2253. */
  issuer: string;
  /** Serial number, hex. */
  serialNumber: string;
  /** Start of validity (ISO 8601). */
  notBefore: string;
  /** End of validity (ISO 8601). */
  notAfter: string;
  /** Whole days from now to notAfter (negative once expired). */
  daysLeft: number;
  /** "DNS:…", "IP:…" entries. */
  subjectAltNames: string[];
  /** SHA-256 fingerprint, "AB:CD:…". */
  fingerprint256: string;
  /** True when every report at this depth was ok. */
  ok: boolean;
  /** The reports at this depth, in the order OpenSSL made them. */
  reports: VerifyReport[];
}

/** Everything `inspect` found out. */
export interface InspectReport {
  /** The target. */
  target: { host: string; port: number; servername: string | null; verifiedName: string };
  /** Handshake trace lines. */
  trace: TraceEntry[];
  /** The chain as verified, depth 0 first. */
  chain: ChainEntry[];
  /** Subjects of the certificates the server sent, its own first. */
  sentChain: string[];
  /** Whether verification passed, and the first failing report. */
  verification: { ok: boolean; skipped: boolean; failure: (VerifyReport & { subject: string | null }) | null };
  /** The server's CertificateRequest, if any, and what we answered. */
  clientCertificate: {
    requested: boolean;
    acceptableIssuers: string[];
    sent: string | null;
    withheld: boolean;
  };
  /** Negotiated protocol, e.g. "TLSv1.3". */
  protocol: string | null;
  /** Negotiated cipher. */
  cipher: string | null;
  /** ALPN protocol selected by the server. */
  alpn: string | null;
  /** OCSP stapling (the response is reported, not verified). */
  ocsp: { requested: true; stapled: boolean; length: number; sha256: string | null };
  /** Session resumption: whether a session was issued, and whether a second connection resumed it. */
  session: { issued: boolean; resumed: boolean | null };
  /** A failure of the connection itself (TCP, handshake, or a refusal right after it). */
  error: { name: string; message: string; openssl: string[] } | null;
  /** The one-line verdict. */
  verdict: string;
  /** 0: verified (or `--no-verify` and connected); 1: verification or handshake failure. */
  exitCode: 0 | 1;
}

const DAY = 86_400_000;

function describeCertificate(cert: X509Certificate, depth: number): ChainEntry {
  return {
    depth,
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    daysLeft: Math.floor((cert.notAfter.getTime() - Date.now()) / DAY),
    subjectAltNames: cert.subjectAltNames,
    fingerprint256: cert.fingerprint256,
    ok: true,
    reports: [],
  };
}

/** Splits a PEM file into its certificates. */
function readCertificates(path: string): X509Certificate[] {
  const text = Deno.readTextFileSync(path);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new InspectUsageError(`${path}: no PEM certificate in it`, { aboutFiles: true });
  return blocks.map((b) => X509Certificate.fromPEM(b));
}

/** A problem with the command line or the files it names (exit code 2). */
export class InspectUsageError extends Error {
  /** True when the problem is with a file the options name (not the command line's shape). */
  readonly aboutFiles: boolean;
  /**
   * Creates the error.
   *
   * @param message what is wrong
   * @param options `aboutFiles`, and the `cause`
   */
  constructor(message: string, options: ErrorOptions & { aboutFiles?: boolean } = {}) {
    super(message, options);
    this.name = "InspectUsageError";
    this.aboutFiles = options.aboutFiles ?? false;
  }
}

function describeError(error: unknown): { name: string; message: string; openssl: string[] } {
  if (error instanceof SecureSocketError) {
    return { name: error.name, message: error.message, openssl: error.openssl.map((e) => `${e.library}: ${e.reason}`) };
  }
  if (error instanceof Error) return { name: error.name, message: error.message, openssl: [] };
  return { name: "Error", message: String(error), openssl: [] };
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * After the handshake: read for a while, so that TLS 1.3 tickets arrive and a
 * server that refuses us after its Finished (a client certificate it did not
 * accept) says so with its alert. Resolves with the error, if reading failed.
 */
async function settle(socket: SecureSocket, ms: number): Promise<{ failure: unknown; reading: Promise<void> }> {
  const buf = new Uint8Array(16384);
  const deadline = Date.now() + ms;
  let failure: unknown = null;
  let done = false;
  const reading = (async () => {
    try {
      while (!done) {
        if (await socket.read(buf) === null) return;
      }
    } catch (error) {
      if (!done) failure = error;
    }
  })();
  while (Date.now() < deadline && failure === null && socket.session === null) {
    const finished = await Promise.race([reading.then(() => true), new Promise((r) => setTimeout(r, 25, false))]);
    if (finished) break;
  }
  done = true;
  return { failure, reading };
}

/**
 * TCP, bounded by the timeout too (a filtered port would otherwise hang for
 * minutes), then the TLS handshake on that connection.
 */
async function open(ctx: SecureSocketContext, options: InspectOptions, session?: Uint8Array): Promise<SecureSocket> {
  const ms = options.timeoutMs ?? 10_000;
  const pending = Deno.connect({ hostname: options.host, port: options.port });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let conn: Deno.Conn;
  try {
    conn = await Promise.race([
      pending,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`TCP connection to ${options.host}:${options.port} timed out after ${ms} ms`)),
          ms,
        );
      }),
    ]);
  } catch (error) {
    pending.then((late) => late.close(), () => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
  // startTls owns the connection from here (and closes it if the handshake fails).
  return await SecureSocket.startTls(conn, ctx, {
    hostname: options.host,
    ...(options.servername !== undefined ? { servername: options.servername } : {}),
    handshakeTimeout: ms,
    ...(session ? { session } : {}),
  });
}

/**
 * Connects, records everything the four callbacks and the socket report, and
 * draws a verdict. Problems with the options or the files they name throw an
 * {@linkcode InspectUsageError}; connection and verification failures are
 * part of the report.
 *
 * @example
 * ```ts
 * import { inspect } from "@secsock/secsock/inspect";
 * const report = await inspect({ host: "localhost", port: 8443, caFile: "tests/fixtures/ca.pem" });
 * console.log(report.verdict);
 * ```
 */
export async function inspect(options: InspectOptions): Promise<InspectReport> {
  const verifiedName = options.servername ?? options.host;
  const report: InspectReport = {
    target: { host: options.host, port: options.port, servername: options.servername ?? null, verifiedName },
    trace: [],
    chain: [],
    sentChain: [],
    verification: { ok: false, skipped: options.noVerify === true, failure: null },
    clientCertificate: { requested: false, acceptableIssuers: [], sent: null, withheld: false },
    protocol: null,
    cipher: null,
    alpn: null,
    ocsp: { requested: true, stapled: false, length: 0, sha256: null },
    session: { issued: false, resumed: null },
    error: null,
    verdict: "",
    exitCode: 1,
  };

  // Client certificate and key: loaded before connecting, so file problems are usage errors.
  let certs: X509Certificate[] = [];
  let key: PrivateKey | null = null;
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new InspectUsageError("--cert and --key go together");
  }
  using ctx = new SecureSocketContext({
    requestOcsp: true,
    ...(options.alpn?.length ? { alpnProtocols: options.alpn } : {}),
  });
  try {
    if (options.caFile !== undefined) {
      for (const ca of readCertificates(options.caFile)) ctx.addTrustedCertificate(ca);
    }
    if (options.certFile !== undefined && options.keyFile !== undefined) {
      certs = readCertificates(options.certFile);
      const keyFile = options.keyFile;
      // The password callback answers only for an encrypted key; without --pass, a clear error.
      key = PrivateKey.fromFile(keyFile, (maxLength) => {
        if (options.password === undefined) {
          throw new InspectUsageError(`${keyFile} is encrypted: give --pass`, { aboutFiles: true });
        }
        if (new TextEncoder().encode(options.password).length >= maxLength) {
          throw new InspectUsageError("the password is too long", { aboutFiles: true });
        }
        return options.password;
      });
    }
  } catch (error) {
    key?.close();
    if (error instanceof InspectUsageError) throw error;
    // A usage error thrown inside the password callback comes back as the load's cause or as itself.
    if (error instanceof Error && error.cause instanceof InspectUsageError) throw error.cause;
    throw new InspectUsageError(error instanceof Error ? error.message : String(error), {
      cause: error,
      aboutFiles: true,
    });
  }

  try {
    let verifying = true;
    ctx.setInfoCallback((socket, where, ret) => {
      if (!verifying) return;
      // An exit with a negative ret only means "waiting for the peer's next bytes": not worth a line.
      if ((where & InfoWhere.Exit) && ret < 0) return;
      const text = formatInfo(socket, where, ret);
      if (text === null) return;
      const entry: TraceEntry = { where, ret, text };
      if (where & InfoWhere.Alert) {
        entry.alert = describeAlert(ret);
        // OpenSSL 3.0 has no text for some TLS 1.3 alerts (116, certificate_required): keep the number.
        entry.text += ` (alert ${entry.alert.code})`;
      }
      report.trace.push(entry);
    });
    const byDepth = new Map<number, ChainEntry>();
    ctx.setCertificateVerifyCallback((ok, store) => {
      if (!verifying) return ok || options.noVerify === true;
      const depth = store.depth;
      const cert = store.currentCertificate;
      let entry = byDepth.get(depth);
      if (!entry && cert) byDepth.set(depth, entry = describeCertificate(cert, depth));
      const r: VerifyReport = { depth, ok, error: store.error, errorString: store.errorString };
      entry?.reports.push(r);
      if (!ok) {
        if (entry) entry.ok = false;
        report.verification.failure ??= { ...r, subject: cert?.subject ?? null };
      }
      // Let the handshake go on to see the whole chain: the verdict comes from these records.
      return true;
    });
    ctx.setClientCertificateCallback((socket) => {
      report.clientCertificate.requested = true;
      report.clientCertificate.acceptableIssuers = socket.acceptableIssuers;
      if (!key || certs.length === 0) return null;
      if (report.verification.failure && !options.noVerify) {
        report.clientCertificate.withheld = true;
        return null;
      }
      report.clientCertificate.sent = certs[0].subject;
      return { certificate: certs[0], privateKey: key, chain: certs.slice(1) };
    });
    let stapled: Uint8Array | null = null;
    ctx.setOcspResponseCallback((_socket, response) => {
      if (verifying) stapled = response;
      return true;
    });

    let socket: SecureSocket | null = null;
    try {
      socket = await open(ctx, options);
      report.protocol = socket.protocol;
      report.cipher = socket.cipher;
      report.alpn = socket.alpnProtocol;
      report.sentChain = socket.peerCertificateChain.map((c) => c.subject);
      const { failure, reading } = await settle(socket, options.settleMs ?? 1_000);
      if (failure !== null) report.error = describeError(failure);
      report.session.issued = socket.session !== null;
      const session = socket.session;
      try {
        await socket.closeWrite();
      } catch { /* the server may be gone already */ }
      socket.close();
      await reading;
      socket = null;
      verifying = false;
      const verified = report.verification.failure === null;
      // Resumption, only for a server we accepted and that issued a session.
      if (session && report.error === null && (verified || options.noVerify)) {
        try {
          const again = await open(ctx, options, session);
          report.session.resumed = again.isSessionReused;
          try {
            await again.closeWrite();
          } catch { /* gone */ }
          again.close();
        } catch {
          report.session.resumed = false;
        }
      }
    } catch (error) {
      report.error = describeError(error);
    } finally {
      socket?.close();
    }
    report.chain = [...byDepth.values()].sort((a, b) => a.depth - b.depth);
    const response = stapled as Uint8Array | null;
    if (response) {
      report.ocsp = { requested: true, stapled: true, length: response.length, sha256: await sha256Hex(response) };
    }
  } finally {
    key?.close();
  }

  const failure = report.verification.failure;
  report.verification.ok = failure === null && report.chain.length > 0;
  if (report.error) {
    const alert = report.trace.filter((t) => t.alert && t.alert.level === "fatal").at(-1)?.alert;
    report.verdict = `FAIL: ${report.error.message}${alert ? ` (alert ${alert.code}: ${alert.description})` : ""}`;
    report.exitCode = 1;
  } else if (failure && !options.noVerify) {
    report.verdict = `FAIL: ${failure.errorString} at depth ${failure.depth}`;
    report.exitCode = 1;
  } else if (failure) {
    report.verdict =
      `OK (NOT VERIFIED: ${failure.errorString} at depth ${failure.depth}): connected to ${verifiedName}, ${
        report.protocol ?? "?"
      }`;
    report.exitCode = 0;
  } else {
    report.verdict = `OK: verified ${verifiedName}, ${report.protocol ?? "?"}`;
    report.exitCode = 0;
  }
  return report;
}
