/**
 * Child process of handshake_deadline.test.mjs, run with the same runtime:
 * `done` finishes handshakes under 120 s limits (a listener's and twenty
 * distinct client ones) and then has nothing left to do; `stalled` starts a
 * handshake with a 1.5 s limit against a server that never answers, on an
 * unref'd socket. Prints one line when its work is done.
 */
import net from "node:net";
import process from "node:process";
import { clientContext, secsock, serverContext } from "./helpers.mjs";

const { HandshakeError, SecureSocket, SecureSocketListener } = secsock;

if (process.argv[2] === "done") {
  const listener = SecureSocketListener.listen(serverContext(), { hostname: "127.0.0.1", port: 0 });
  (async () => {
    for (;;) {
      const socket = await listener.accept().catch(() => null);
      if (!socket) return;
      socket.handshake().then(() => socket.close(), () => socket.close());
    }
  })();
  const ctx = clientContext();
  for (let i = 0; i < 20; i++) {
    const options = { hostname: "127.0.0.1", servername: "localhost", port: listener.addr.port };
    const socket = await SecureSocket.connect(ctx, { ...options, handshakeTimeout: 120_000 + i });
    socket.close();
  }
  listener.close();
  console.log("handshakes done");
} else {
  // Accepts and never answers; neither it nor its connections hold the process.
  const silent = net.createServer((conn) => conn.unref()).listen(0, "127.0.0.1");
  await new Promise((resolve) => silent.once("listening", resolve));
  silent.unref();
  const socket = new SecureSocket(clientContext(), { servername: "localhost", handshakeTimeout: 1_500 });
  socket.unref();
  try {
    await socket.connect({ hostname: "127.0.0.1", port: silent.address().port });
    console.log("connected (unexpected)");
  } catch (error) {
    console.log(error instanceof HandshakeError && /timed out/.test(error.message) ? "timed out" : `${error}`);
  }
}
