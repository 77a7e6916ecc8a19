/**
 * A Deno process that opens one connection, leaves it idle with a read
 * pending, and should then exit (or not) on its own: for the ref()/unref()
 * tests (tests/deno_conn_parity_test.ts).
 *
 *   deno run -A tests/peers/idle_client.ts <mode> <port>
 *
 * Modes:
 * - `unref`: a secsock client socket, handshake done, a read pending, unref()'d;
 * - `ref`: the same, then ref() again (must stay alive);
 * - `node-conn-unref`: the Node platform layer's connection (ffi/platform_node.ts) with a read pending, unref()'d;
 * - `undici`: one `fetch` through createDispatcher (keep-alive 60 s, so the
 *   idle pooled connection outlives the test unless it is unref()'d).
 * Prints "IDLE" once only the idle connection is left.
 */
import { fetch } from "undici";
import { SecureSocket, SecureSocketContext } from "../../mod.ts";
import { createDispatcher } from "../../node.ts";
import { nodePlatform } from "../../ffi/platform_node.ts";

const [mode, portText] = Deno.args;
const port = Number(portText);
const ca = Deno.readTextFileSync(new URL("../fixtures/ca.pem", import.meta.url));

if (mode === "unref" || mode === "ref") {
  const socket = await SecureSocket.connect(new SecureSocketContext({ ca }), {
    hostname: "127.0.0.1",
    servername: "localhost",
    port,
  });
  socket.read(new Uint8Array(1024)).then((n) => console.log(`READ ${n}`), (e) => console.log(`READ ERROR ${e.name}`));
  socket.unref();
  if (mode === "ref") socket.ref();
} else if (mode === "node-conn-unref") {
  const conn = await nodePlatform.connect({ hostname: "127.0.0.1", port });
  conn.read(new Uint8Array(1024)).then((n) => console.log(`READ ${n}`), (e) => console.log(`READ ERROR ${e}`));
  conn.unref?.();
} else if (mode === "undici") {
  const dispatcher = createDispatcher(new SecureSocketContext({ ca, alpnProtocols: ["http/1.1"] }), {
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
  });
  const response = await fetch(`https://localhost:${port}/`, { dispatcher });
  console.log(`STATUS ${response.status} ${await response.text()}`);
  // The dispatcher stays open: its idle connection alone must not hold the process.
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log("IDLE");
