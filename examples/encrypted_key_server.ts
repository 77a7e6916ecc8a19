/**
 * §1 example: an "inline encrypted key server". The server's private key is an
 * encrypted PEM string held in memory (as it would come from a secret store),
 * unlocked by a password callback; a client then talks to the server.
 *
 * Run: deno run --allow-ffi --allow-read --allow-net --allow-env examples/encrypted_key_server.ts
 */
import {
  PrivateKey,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  UnableToReadPrivateKeyError,
} from "../mod.ts";

const fixture = (name: string) => Deno.readTextFileSync(new URL(`../tests/fixtures/${name}`, import.meta.url));

// The key never touches the file system as such: it is just a string.
const encryptedKeyPem = fixture("server-key-pkcs8-aes256.pem");
console.log(`key is encrypted: ${encryptedKeyPem.includes("BEGIN ENCRYPTED PRIVATE KEY")}`);

// A wrong password is a clear error, never a prompt on the terminal.
try {
  PrivateKey.fromPEM(encryptedKeyPem, "not-the-password");
} catch (error) {
  if (!(error instanceof UnableToReadPrivateKeyError)) throw error;
  console.log(`wrong password rejected: ${error.name}`);
}

using serverContext = new SecureSocketContext({ useSystemTrust: false });
serverContext.useCertificateChain(fixture("server-chain.pem"));
serverContext.setPasswordCallback((maxLength, rwflag) => {
  console.log(`password callback: maxLength=${maxLength} rwflag=${rwflag}`);
  return "secsock-pass";
});
serverContext.usePrivateKey(encryptedKeyPem);
console.log("server key loaded from the inline encrypted PEM");

using listener = SecureSocketListener.listen(serverContext, { hostname: "127.0.0.1", port: 0 });
console.log(`server listening on 127.0.0.1:${listener.addr.port}`);

const served = (async () => {
  const socket = await listener.accept();
  try {
    const buffer = new Uint8Array(1024);
    const n = await socket.read(buffer);
    const request = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    await socket.write(new TextEncoder().encode(`hello, ${request}`));
    await socket.closeWrite();
  } finally {
    socket.close();
  }
})();

using clientContext = new SecureSocketContext({ ca: fixture("ca.pem"), useSystemTrust: false });
const socket = await SecureSocket.connect(clientContext, {
  hostname: "127.0.0.1",
  servername: "localhost",
  port: listener.addr.port,
});
console.log(`client connected: ${socket.protocol}, server certificate ${socket.peerCertificate?.subject}`);
await socket.write(new TextEncoder().encode("client"));
let reply = "";
const buffer = new Uint8Array(1024);
for (let n = await socket.read(buffer); n !== null; n = await socket.read(buffer)) {
  reply += new TextDecoder().decode(buffer.subarray(0, n));
}
console.log(`client received: ${reply}`);
await socket.closeWrite();
socket.close();
await served;
