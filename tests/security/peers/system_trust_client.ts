/**
 * A secsock client with a default context (system trust, no CA of its own),
 * in its own process so that its "system" store can be chosen with
 * SSL_CERT_FILE / SSL_CERT_DIR:
 *
 *   SSL_CERT_FILE=<a CA> deno run -A tests/security/peers/system_trust_client.ts <port>
 *
 * Connects to 127.0.0.1:<port> verifying "localhost", prints one JSON line,
 * {"accepted":true,"subject":…} or {"accepted":false,"error":…,"code":…}, and exits.
 */
import { CertificateVerificationError, SecureSocket, SecureSocketContext } from "../../../mod.ts";

const port = Number(Deno.args[0]);
const ctx = new SecureSocketContext();
try {
  const socket = await SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: "localhost", port });
  console.log(JSON.stringify({ accepted: true, subject: socket.peerCertificate?.subject ?? null }));
  await socket.closeWrite();
  socket.close();
} catch (error) {
  const code = error instanceof CertificateVerificationError ? error.code : null;
  console.log(JSON.stringify({ accepted: false, error: (error as Error).name, code }));
} finally {
  ctx.close();
}
