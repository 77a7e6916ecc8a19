/**
 * §3 example: handshake tracing with the info callback and `formatInfo`, in
 * the style of `openssl s_client -state`, for both ends of one connection.
 *
 * Run: deno run --allow-ffi --allow-read --allow-net --allow-env examples/handshake_tracer.ts
 */
import {
  describeAlert,
  formatInfo,
  type InfoCallback,
  InfoWhere,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
} from "../mod.ts";

const fixture = (name: string) => Deno.readTextFileSync(new URL(`../tests/fixtures/${name}`, import.meta.url));

/** An info callback printing s_client-style lines with a prefix. */
function tracer(prefix: string): InfoCallback {
  return (socket, where, ret) => {
    const line = formatInfo(socket, where, ret);
    if (line) console.log(`${prefix} ${line}`);
    if (where & InfoWhere.HandshakeDone) console.log(`${prefix} -- negotiated cipher ${socket.cipher}`);
    if (where & InfoWhere.Alert) {
      const alert = describeAlert(ret);
      console.log(`${prefix} -- alert ${alert.level} ${alert.code} (${alert.description})`);
    }
  };
}

using serverContext = new SecureSocketContext({ useSystemTrust: false });
serverContext.useCertificateChain(fixture("server-chain.pem"));
serverContext.usePrivateKey(fixture("server.key"));
serverContext.setInfoCallback(tracer("[server]")); // the default for every accepted socket

using listener = SecureSocketListener.listen(serverContext, { hostname: "127.0.0.1", port: 0 });
const served = (async () => {
  const socket = await listener.accept();
  try {
    const buffer = new Uint8Array(1024);
    while ((await socket.read(buffer)) !== null) {
      // drain until the client's close_notify
    }
    await socket.closeWrite();
  } finally {
    socket.close();
  }
})();

using clientContext = new SecureSocketContext({ ca: fixture("ca.pem"), useSystemTrust: false });
const socket = new SecureSocket(clientContext, { hostname: "localhost" });
socket.setInfoCallback(tracer("[client]")); // before the handshake, to see every state
await socket.connect({ hostname: "127.0.0.1", port: listener.addr.port });
await socket.write(new TextEncoder().encode("traced"));
await socket.closeWrite();
while ((await socket.read(new Uint8Array(1024))) !== null) {
  // until the server's close_notify
}
socket.close();
await served;
console.log("trace complete");
