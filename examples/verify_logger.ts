/**
 * §2 example: a verification callback that logs every certificate of the
 * server's chain (deepest first), then fingerprint pinning of a self-signed
 * server that no CA vouches for.
 *
 * Run: deno run --allow-ffi --allow-read --allow-net --allow-env examples/verify_logger.ts
 */
import {
  CertificateVerificationError,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  type VerifyCallback,
  X509Certificate,
} from "../mod.ts";

const fixture = (name: string) => Deno.readTextFileSync(new URL(`../tests/fixtures/${name}`, import.meta.url));

function server(chain: string, key: string): SecureSocketContext {
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  ctx.useCertificateChain(fixture(chain));
  ctx.usePrivateKey(fixture(key));
  return ctx;
}

/** Starts a one-connection server, connects a client with `verify`, returns the client's protocol. */
async function tryConnect(serverContext: SecureSocketContext, verify: VerifyCallback | null): Promise<string | null> {
  using listener = SecureSocketListener.listen(serverContext, { hostname: "127.0.0.1", port: 0 });
  const served = listener.accept().then(async (socket) => {
    try {
      await socket.handshake();
      await socket.closeWrite();
    } catch {
      // The client rejected us: nothing more to do.
    } finally {
      socket.close();
    }
  });
  using clientContext = new SecureSocketContext({ ca: fixture("ca.pem"), useSystemTrust: false });
  clientContext.setCertificateVerifyCallback(verify);
  try {
    const socket = await SecureSocket.connect(clientContext, {
      hostname: "127.0.0.1",
      servername: "localhost",
      port: listener.addr.port,
    });
    const protocol = socket.protocol;
    socket.close();
    return protocol;
  } finally {
    await served;
  }
}

// 1. Log the whole chain of a CA-issued server.
console.log("== logging the chain of a CA-issued server");
using caIssued = server("server-chain.pem", "server.key");
const protocol = await tryConnect(caIssued, (ok, store) => {
  const cert = store.currentCertificate;
  console.log(
    `depth=${store.depth} ok=${ok} subject=${cert?.subject} issuer=${cert?.issuer} (${store.errorString})`,
  );
  return ok;
});
console.log(`handshake ok: ${protocol}`);

// 2. A self-signed server: rejected by default…
console.log("== a self-signed server");
using selfSigned = server("selfsigned.pem", "selfsigned.key");
try {
  await tryConnect(selfSigned, null);
} catch (error) {
  if (!(error instanceof CertificateVerificationError)) throw error;
  console.log(`rejected without a pin: code=${error.code} (${error.message})`);
}

// …and accepted when its certificate's SHA-256 fingerprint matches the pin.
const pin = X509Certificate.fromPEM(fixture("selfsigned.pem")).fingerprint256;
console.log(`pinned fingerprint: ${pin}`);
const pinned = await tryConnect(selfSigned, (ok, store) => {
  if (store.depth !== 0) return ok;
  const seen = store.currentCertificate?.fingerprint256;
  const match = seen === pin;
  console.log(`depth=0 ok=${ok} (${store.errorString}) fingerprint ${match ? "matches" : "does not match"} the pin`);
  return match;
});
console.log(`pinned handshake ok: ${pinned}`);
