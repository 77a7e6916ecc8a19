/**
 * A secsock server requiring client certificates, in its own process so that
 * its "system" trust store can be chosen with SSL_CERT_FILE / SSL_CERT_DIR:
 *
 *   SSL_CERT_FILE=<a CA> deno run -A tests/security/peers/client_auth_server.ts [direct|sni]
 *
 * The context keeps the default `useSystemTrust` and names one CA of its own
 * (tests/fixtures/ca.pem). `direct`: the listener's context requires client
 * certificates. `sni`: the listener's context asks for none, and the server
 * name callback moves clients asking for "admin.test" to a context that
 * requires them. Prints "LISTENING <port>", then one JSON line per
 * connection: {"accepted":true,"subject":…} or {"accepted":false,"error":…,"code":…}.
 * Runs until killed.
 */
import { CertificateVerificationError, SecureSocketContext, SecureSocketListener, VerifyMode } from "../../../mod.ts";

const fixture = (name: string) => new URL(`../../fixtures/${name}`, import.meta.url).pathname;
const mode = Deno.args[0] ?? "direct";

/** A server context with the fixture chain, default system trust, and the application's one CA. */
function serverContext(verifyMode: number): SecureSocketContext {
  const ctx = new SecureSocketContext({ verifyMode, ca: Deno.readTextFileSync(fixture("ca.pem")) });
  ctx.useCertificateChainFile(fixture("server-chain.pem"));
  ctx.usePrivateKeyFile(fixture("server.key"));
  return ctx;
}

const strict = serverContext(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert);
let listening = strict;
if (mode === "sni") {
  listening = serverContext(VerifyMode.None);
  listening.setServerNameCallback((_socket, name) => name === "admin.test" ? strict : null);
}

const listener = SecureSocketListener.listen(listening, { hostname: "127.0.0.1", port: 0 });
console.log(`LISTENING ${listener.addr.port}`);

for await (const socket of listener) {
  (async () => {
    try {
      await socket.handshake();
      console.log(JSON.stringify({ accepted: true, subject: socket.peerCertificate?.subject ?? null }));
      await socket.write(new TextEncoder().encode("welcome\n"));
      await socket.closeWrite();
    } catch (error) {
      const code = error instanceof CertificateVerificationError ? error.code : null;
      console.log(JSON.stringify({ accepted: false, error: (error as Error).name, code }));
    } finally {
      socket.close();
    }
  })();
}
