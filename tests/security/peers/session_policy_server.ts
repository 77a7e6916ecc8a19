/**
 * A secsock server in its own process for the fleet tests:
 *
 *   deno run -A tests/security/peers/session_policy_server.ts <ticket keys, 160 hex digits> <none|require>
 *
 * "require" asks for a client certificate (VerifyMode.Peer|FailIfNoPeerCert,
 * trusting the fixture root); "none" asks for none. Prints "LISTENING <port>",
 * then per connection "CONNECTION reused=<bool> client=<subject|none>" (after
 * sending that line and close_notify) or "ERROR <name>: <message>".
 */
import { SecureSocketContext, SecureSocketListener, VerifyMode } from "../../../mod.ts";

const [keysArg, policy] = Deno.args;
if (!/^[0-9a-fA-F]{160}$/.test(keysArg ?? "") || !["none", "require"].includes(policy)) {
  console.error("usage: session_policy_server.ts <ticket keys, 160 hex digits> <none|require>");
  Deno.exit(2);
}
const keys = new Uint8Array(80);
for (let i = 0; i < 80; i++) keys[i] = parseInt(keysArg.slice(2 * i, 2 * i + 2), 16);

const fixture = (name: string) => new URL(`../../fixtures/${name}`, import.meta.url).pathname;
const ctx = new SecureSocketContext({
  useSystemTrust: false,
  ca: Deno.readTextFileSync(fixture("ca.pem")),
  ...(policy === "require" ? { verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert } : {}),
});
ctx.useCertificateChainFile(fixture("server-chain.pem"));
ctx.usePrivateKeyFile(fixture("server.key"));
ctx.setTicketKeys(keys);

const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
console.log(`LISTENING ${listener.addr.port}`);

for await (const socket of listener) {
  (async () => {
    try {
      await socket.handshake();
    } catch (error) {
      console.log(`ERROR ${(error as Error).name}: ${(error as Error).message}`);
      socket.close();
      return;
    }
    try {
      const line = `reused=${socket.isSessionReused} client=${socket.peerCertificate?.subject ?? "none"}`;
      await socket.write(new TextEncoder().encode(line + "\n"));
      await socket.closeWrite();
      console.log(`CONNECTION ${line}`);
      const buf = new Uint8Array(4096);
      while (await socket.read(buf) !== null) { /* until the client closes */ }
    } catch {
      // Only the handshake's outcome is reported.
    } finally {
      socket.close();
    }
  })();
}
