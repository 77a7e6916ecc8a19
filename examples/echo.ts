/**
 * The main example (`deno task example`): a TLS echo server and a client in one
 * process, on a free port, with the repository's test PKI. The server's key is
 * encrypted and unlocked through the password callback; the client verifies
 * the server's chain and host name.
 */
import { SecureSocket, SecureSocketContext, SecureSocketListener } from "../mod.ts";

const fixtures = new URL("../tests/fixtures/", import.meta.url);
const path = (name: string) => new URL(name, fixtures).pathname;

// Server: certificate chain plus an AES-256 encrypted PKCS#8 key.
using serverContext = new SecureSocketContext();
serverContext.useCertificateChainFile(path("server-chain.pem"));
serverContext.setPasswordCallback((maxLength, rwflag) => {
  console.log(`[server] password callback: maxLength=${maxLength} rwflag=${rwflag}`);
  return "secsock-pass";
});
serverContext.usePrivateKeyFile(path("server-key-pkcs8-aes256.pem"));

using listener = SecureSocketListener.listen(serverContext, { hostname: "127.0.0.1", port: 0 });
console.log(`[server] listening on 127.0.0.1:${listener.addr.port}`);

const served = (async () => {
  const socket = await listener.accept();
  const buffer = new Uint8Array(16384);
  for (;;) {
    const n = await socket.read(buffer);
    if (n === null) break;
    await socket.write(buffer.subarray(0, n));
  }
  await socket.closeWrite();
  socket.close();
})();

// Client: trusts only the test root CA and checks that the server is "localhost".
using clientContext = new SecureSocketContext({ ca: Deno.readTextFileSync(path("ca.pem")), useSystemTrust: false });
clientContext.setCertificateVerifyCallback((ok, store) => {
  console.log(`[client] verify depth=${store.depth} ok=${ok} ${store.currentCertificate?.subject}`);
  return ok;
});
const socket = await SecureSocket.connect(clientContext, {
  hostname: "127.0.0.1",
  servername: "localhost",
  port: listener.addr.port,
});
console.log(`[client] protocol: ${socket.protocol}`);
console.log(`[client] cipher:   ${socket.cipher}`);
console.log(`[client] peer:     ${socket.peerCertificate?.subject}`);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const buffer = new Uint8Array(16384);
for (const message of ["hello", "secure", "world"]) {
  await socket.write(encoder.encode(message));
  let echoed = "";
  while (echoed.length < message.length) {
    const n = await socket.read(buffer);
    if (n === null) throw new Error("server closed early");
    echoed += decoder.decode(buffer.subarray(0, n));
  }
  console.log(`[client] sent "${message}", got back "${echoed}"`);
  if (echoed !== message) throw new Error("echo mismatch");
}
await socket.closeWrite();
if ((await socket.read(buffer)) !== null) throw new Error("expected close_notify");
socket.close();
await served;
console.log("done");
