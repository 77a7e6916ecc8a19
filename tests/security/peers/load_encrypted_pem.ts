/**
 * Child process of certificate_pem_prompt_test.ts, run on a pseudo-terminal:
 * feeds a `Proc-Type: 4,ENCRYPTED` certificate PEM (and an encrypted key
 * with no password) to every API that reads PEM, and prints one JSON line per
 * case with the error it gave. Nothing else may appear on the terminal.
 *
 * Usage: load_encrypted_pem.ts <encrypted certificate PEM> <encrypted key PEM>
 */
import { PrivateKey, SecureSocketContext, X509Certificate } from "../../../mod.ts";

const [certPath, keyPath] = Deno.args;
const certPem = Deno.readTextFileSync(certPath);

/** Runs `fn` on a fresh context, closed afterwards. */
function onContext(fn: (ctx: SecureSocketContext) => void): void {
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  try {
    fn(ctx);
  } finally {
    ctx.close();
  }
}

const cases: [string, () => unknown][] = [
  ["X509Certificate.fromPEM", () => X509Certificate.fromPEM(certPem)],
  ["ca option", () => new SecureSocketContext({ useSystemTrust: false, ca: certPem }).close()],
  ["addTrustedCertificate", () => onContext((ctx) => ctx.addTrustedCertificate(certPem))],
  ["useCertificateChain", () => onContext((ctx) => ctx.useCertificateChain(certPem))],
  ["useCertificateChainFile", () => onContext((ctx) => ctx.useCertificateChainFile(certPath))],
  ["PrivateKey.fromFile", () => PrivateKey.fromFile(keyPath)],
];

for (const [name, run] of cases) {
  let error = "none";
  try {
    run();
  } catch (e) {
    error = e instanceof Error ? e.constructor.name : typeof e;
  }
  console.log(JSON.stringify({ case: name, error }));
}
