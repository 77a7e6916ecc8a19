/**
 * §4 example: a client with several identities picks the certificate to send
 * from the CA names the server lists (`socket.acceptableIssuers`); the server
 * requires a client certificate and prints whom it got.
 *
 * Run: deno run --allow-ffi --allow-read --allow-net --allow-env examples/client_cert_chooser.ts
 */
import {
  type ClientCertificate,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  VerifyMode,
  X509Certificate,
} from "../mod.ts";

const fixture = (name: string) => Deno.readTextFileSync(new URL(`../tests/fixtures/${name}`, import.meta.url));

// The client's wallet: identities under two unrelated roots.
const wallet: { root: string; identity: ClientCertificate }[] = [
  {
    root: X509Certificate.fromPEM(fixture("other-ca.pem")).subject,
    identity: { certificate: fixture("other-client.pem"), privateKey: fixture("other-client.key") },
  },
  {
    root: X509Certificate.fromPEM(fixture("ca.pem")).subject,
    identity: {
      certificate: fixture("client.pem"),
      privateKey: fixture("client.key"),
      chain: [fixture("intermediate.pem")],
    },
  },
];

// Server: requires a client certificate issued under the secsock root.
using serverContext = new SecureSocketContext({ useSystemTrust: false });
serverContext.useCertificateChain(fixture("server-chain.pem"));
serverContext.usePrivateKey(fixture("server.key"));
serverContext.addTrustedCertificate(fixture("ca.pem")); // also sent as an acceptable issuer
serverContext.setVerify(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert);

using listener = SecureSocketListener.listen(serverContext, { hostname: "127.0.0.1", port: 0 });
const served = (async () => {
  const socket = await listener.accept();
  try {
    await socket.handshake();
    console.log(`server: client subject = ${socket.peerCertificate?.subject}`);
    await socket.write(new TextEncoder().encode("welcome"));
    await socket.closeWrite();
  } finally {
    socket.close();
  }
})();

// Client: no certificate configured; the callback chooses one when asked.
using clientContext = new SecureSocketContext({ ca: fixture("ca.pem"), useSystemTrust: false });
clientContext.setClientCertificateCallback((socket) => {
  const issuers = socket.acceptableIssuers;
  console.log(`client: server accepts issuers: ${issuers.join(" | ")}`);
  const match = wallet.find((entry) => issuers.includes(entry.root));
  if (!match) {
    console.log("client: no matching identity, sending none");
    return null;
  }
  const subject = X509Certificate.fromPEM(match.identity.certificate as string).subject;
  console.log(`client: chose ${subject}`);
  return match.identity;
});

const socket = await SecureSocket.connect(clientContext, {
  hostname: "127.0.0.1",
  servername: "localhost",
  port: listener.addr.port,
});
const buffer = new Uint8Array(64);
const n = await socket.read(buffer);
console.log(`client: server said "${new TextDecoder().decode(buffer.subarray(0, n ?? 0))}"`);
socket.close();
await served;
