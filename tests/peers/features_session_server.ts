/**
 * A secsock TLS server in its own process, for the shared-ticket-keys test:
 *
 *   deno run -A tests/peers/features_session_server.ts <port> <ticket keys, 160 hex digits> [maxVersion]
 *
 * Port 0 picks a free port. Prints "LISTENING <port>", then for each
 * connection sends one line "reused=<true|false> protocol=<version>", sends
 * close_notify, prints "CONNECTION reused=<…>" and waits for the client to
 * close. Runs until killed.
 */
import { SecureSocketContext, SecureSocketListener, type TlsVersion } from "../../mod.ts";

const [portArg, keysArg, maxVersion] = Deno.args;
if (!portArg || !keysArg || !/^[0-9a-fA-F]{160}$/.test(keysArg)) {
  console.error("usage: features_session_server.ts <port> <ticket keys, 160 hex digits> [maxVersion]");
  Deno.exit(2);
}
const keys = new Uint8Array(80);
for (let i = 0; i < 80; i++) keys[i] = parseInt(keysArg.slice(2 * i, 2 * i + 2), 16);

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const ctx = new SecureSocketContext({
  useSystemTrust: false,
  ...(maxVersion ? { maxVersion: maxVersion as TlsVersion } : {}),
});
ctx.useCertificateChainFile(fixture("server-chain.pem"));
ctx.usePrivateKeyFile(fixture("server.key"));
ctx.setTicketKeys(keys);

const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: Number(portArg) });
console.log(`LISTENING ${listener.addr.port}`);

for await (const socket of listener) {
  (async () => {
    try {
      await socket.handshake();
      const line = `reused=${socket.isSessionReused} protocol=${socket.protocol}`;
      await socket.write(new TextEncoder().encode(line + "\n"));
      await socket.closeWrite();
      console.log(`CONNECTION ${line}`);
      const buf = new Uint8Array(4096);
      while (await socket.read(buf) !== null) { /* until the client closes */ }
    } catch (error) {
      console.log(`ERROR ${(error as Error).message}`);
    } finally {
      socket.close();
    }
  })();
}
