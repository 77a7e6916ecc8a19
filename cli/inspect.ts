/**
 * `inspect`: look at a TLS server the way `openssl s_client` does, through
 * secsock's four callbacks — the handshake trace, each certificate of the
 * chain with its verification result at each depth, expiry and SANs, the
 * client-certificate request, protocol, cipher, ALPN, OCSP staple, session
 * resumption, and a one-line verdict. It sends no application data.
 *
 * ```sh
 * deno run -A jsr:@secsock/secsock/inspect example.com:443
 * deno task inspect localhost:8443 --ca tests/fixtures/ca.pem --json
 * ```
 *
 * Exit codes: 0 verified (or connected, with `--no-verify`), 1 verification
 * or handshake failure, 2 usage error.
 *
 * @example
 * ```ts
 * import { formatReport, inspect } from "@secsock/secsock/inspect";
 * const report = await inspect({ host: "localhost", port: 8443, caFile: "tests/fixtures/ca.pem" });
 * console.log(formatReport(report));
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { inspect, InspectUsageError } from "./inspect_probe.ts";
import { formatReport } from "./inspect_text.ts";

export {
  type ChainEntry,
  inspect,
  type InspectOptions,
  type InspectReport,
  InspectUsageError,
  type TraceEntry,
  type VerifyReport,
} from "./inspect_probe.ts";
export { formatReport } from "./inspect_text.ts";
export type { AlertInfo } from "../mod.ts";

/** The command's usage text. */
export const USAGE = `usage: inspect host:port [options]

  --servername NAME   name to send (SNI) and verify (default: host)
  --ca FILE           trust the CA certificates in FILE (PEM), besides the system's
  --cert FILE         client certificate (PEM, may be followed by its chain)
  --key FILE          its private key (PEM or DER)
  --pass PASS         password of an encrypted key: pass:TEXT, env:VAR, file:PATH, or TEXT
  --alpn LIST         ALPN protocols to offer, comma-separated (e.g. h2,http/1.1)
  --timeout MS        handshake timeout (default 10000)
  --no-verify         report verification failures but connect anyway (exit 0)
  --json              print one JSON object instead of text
  -h, --help          this text

exit codes: 0 verified, 1 verification or handshake failure, 2 usage error`;

/** Splits "host:port", "[v6]:port" or a bare host (port 443). */
export function parseTarget(target: string): { host: string; port: number } {
  const m = target.match(/^\[([^\]]+)\](?::(\d+))?$/) ?? target.match(/^([^:]+)(?::(\d+))?$/);
  if (!m || !m[1]) throw new InspectUsageError(`cannot read "${target}" as host:port`);
  const port = m[2] === undefined ? 443 : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InspectUsageError(`bad port in "${target}"`);
  return { host: m[1], port };
}

/** Reads a password given as pass:TEXT, env:VAR, file:PATH (first line) or TEXT. */
export function readPassword(spec: string): string {
  if (spec.startsWith("pass:")) return spec.slice(5);
  if (spec.startsWith("env:")) {
    const value = Deno.env.get(spec.slice(4));
    if (value === undefined) throw new InspectUsageError(`--pass ${spec}: the variable is not set`);
    return value;
  }
  if (spec.startsWith("file:")) {
    try {
      return Deno.readTextFileSync(spec.slice(5)).split(/\r?\n/)[0];
    } catch (error) {
      throw new InspectUsageError(`--pass ${spec}: ${error instanceof Error ? error.message : error}`);
    }
  }
  return spec;
}

/**
 * Runs the command with `args`; returns its exit code. Output goes to stdout
 * (report) and stderr (usage errors).
 *
 * @example
 * ```ts
 * import { main } from "@secsock/secsock/inspect";
 * Deno.exit(await main(["localhost:8443", "--json"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        servername: { type: "string" },
        ca: { type: "string" },
        cert: { type: "string" },
        key: { type: "string" },
        pass: { type: "string" },
        alpn: { type: "string" },
        timeout: { type: "string" },
        "no-verify": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    json = values.json === true;
    if (positionals.length !== 1) throw new InspectUsageError("give exactly one host:port");
    const { host, port } = parseTarget(positionals[0]);
    const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
    if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
      throw new InspectUsageError("--timeout takes a positive number of milliseconds");
    }
    const report = await inspect({
      host,
      port,
      servername: values.servername,
      caFile: values.ca,
      certFile: values.cert,
      keyFile: values.key,
      password: values.pass === undefined ? undefined : readPassword(values.pass),
      alpn: values.alpn?.split(",").filter((p) => p !== ""),
      noVerify: values["no-verify"] === true,
      timeoutMs,
    });
    console.log(json ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.exitCode;
  } catch (error) {
    // parseArgs reports unknown options and missing values as TypeErrors with a code.
    const usage = error instanceof InspectUsageError ||
      (error instanceof TypeError && String((error as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS"));
    if (!usage) throw error;
    if (json) console.log(JSON.stringify({ usageError: error.message }));
    // The usage text helps with the command line; a problem with a named file needs only its message.
    const fileProblem = error instanceof InspectUsageError && error.aboutFiles;
    console.error(`inspect: ${error.message}${fileProblem ? "" : `\n\n${USAGE}`}`);
    return 2;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
