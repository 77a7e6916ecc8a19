/**
 * The human-readable form of an inspect report: trace, chain by depth,
 * client-certificate request, negotiated parameters, verdict last.
 *
 * @module
 */
import type { InspectReport } from "./inspect_probe.ts";

/**
 * Renders a report as text, the verdict on the last line.
 *
 * @example
 * ```ts
 * import { formatReport, inspect } from "@secsock/secsock/inspect";
 * console.log(formatReport(await inspect({ host: "localhost", port: 8443 })));
 * ```
 */
export function formatReport(report: InspectReport): string {
  const out: string[] = [];
  const { host, port, servername, verifiedName } = report.target;
  out.push(
    `Connected to ${host}:${port}${servername ? ` (SNI ${servername})` : ""}, verifying the name ${verifiedName}`,
  );
  out.push("", "Handshake trace:");
  for (const t of report.trace) out.push(`  ${t.text}`);
  if (report.trace.length === 0) out.push("  (nothing)");

  out.push("", "Certificate chain as verified (depth 0 = the server):");
  for (const c of report.chain) {
    // OpenSSL may report on a certificate more than once; after an accepted failure it reports "ok" again.
    const failures = c.reports.filter((r) => !r.ok).map((r) => `FAILED: ${r.errorString} (${r.error})`);
    const verdicts = failures.length > 0 ? failures : c.reports.map(() => "ok");
    out.push(`  depth ${c.depth}: ${c.subject}`);
    out.push(`    issuer:    ${c.issuer}`);
    out.push(`    verify:    ${[...new Set(verdicts)].join("; ") || "not reported"}`);
    out.push(
      `    notAfter:  ${c.notAfter} (${
        c.daysLeft >= 0 ? `${c.daysLeft} days left` : `expired ${-c.daysLeft} days ago`
      })`,
    );
    if (c.subjectAltNames.length > 0) out.push(`    SANs:      ${c.subjectAltNames.join(", ")}`);
    out.push(`    serial:    ${c.serialNumber}`);
    out.push(`    sha256:    ${c.fingerprint256}`);
  }
  if (report.chain.length === 0) out.push("  (no certificate was verified)");
  if (report.sentChain.length > 0) out.push(`  The server sent ${report.sentChain.length} certificate(s).`);

  const cc = report.clientCertificate;
  out.push("");
  if (!cc.requested) out.push("Client certificate: not requested");
  else {
    out.push("Client certificate: requested; acceptable CA names:");
    for (const name of cc.acceptableIssuers) out.push(`  ${name}`);
    if (cc.acceptableIssuers.length === 0) out.push("  (none named: any)");
    out.push(
      cc.sent
        ? `  sent: ${cc.sent}`
        : cc.withheld
        ? "  sent: none (withheld: the server failed verification)"
        : "  sent: none (give --cert and --key)",
    );
  }
  out.push(`Protocol:  ${report.protocol ?? "(none)"}`);
  out.push(`Cipher:    ${report.cipher ?? "(none)"}`);
  out.push(`ALPN:      ${report.alpn ?? "(none)"}`);
  out.push(
    `OCSP:      ${
      report.ocsp.stapled
        ? `stapled response, ${report.ocsp.length} bytes, sha256 ${report.ocsp.sha256} (not verified)`
        : "no stapled response"
    }`,
  );
  const s = report.session;
  out.push(
    `Session:   ${
      s.resumed === true
        ? "resumption supported (a second connection resumed)"
        : s.resumed === false
        ? "issued, but a second connection did not resume"
        : s.issued
        ? "issued, resumption not tried"
        : "no resumable session issued"
    }`,
  );
  if (report.error) {
    out.push("", `Error: ${report.error.name}: ${report.error.message}`);
    for (const line of report.error.openssl) out.push(`  ${line}`);
  }
  out.push("", report.verdict);
  return out.join("\n");
}
