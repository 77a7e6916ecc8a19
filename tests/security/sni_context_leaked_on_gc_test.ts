/**
 * Attack on resource lifetime: a server socket whose connection was moved to
 * another context by SNI, then dropped without close() (a handler that
 * forgot, or threw). The garbage-collection safety net must give back the
 * references the socket held on both contexts — the listener's and the one
 * SNI chose — or every such connection pins an SSL_CTX (certificates, keys,
 * session cache) and its native callbacks forever, and a server that
 * rotates per-host contexts grows without bound.
 *
 * Observed through the number of live SSL_CTXs (lib/context_core.ts): a
 * context frees its SSL_CTX when its last reference is released.
 * Needs `--v8-flags=--expose-gc` (the test task passes it).
 */
import assert from "node:assert/strict";
import { SecureSocket, type SecureSocketContext, VerifyMode } from "../../mod.ts";
import { liveContextCount } from "../../lib/context_core.ts";
import { clientContext, delay, enc, serverContext, within } from "../helpers.ts";

const gc = (globalThis as { gc?: () => void }).gc;
/** Counts collected server sockets (a WeakRef would keep its target alive for a while in Deno). */
let collected = 0;
const collection = new FinalizationRegistry<void>(() => collected++);

/** A server handshake over our own TCP connection, moved by SNI to `chosen`; returns the connection only. */
async function serveOnce(listenerCtx: SecureSocketContext, chosen: SecureSocketContext) {
  listenerCtx.setServerNameCallback((_socket, name) => name === "localhost" ? chosen : null);
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    using client = clientContext();
    const accepted = tcp.accept();
    const connecting = SecureSocket.connect(client, {
      hostname: "127.0.0.1",
      servername: "localhost",
      port: tcp.addr.port,
    });
    const conn = await within(accepted, 10_000, "accept");
    const server = await within(SecureSocket.startTls(conn, listenerCtx, { server: true }), 10_000, "server handshake");
    const clientSocket = await within(connecting, 10_000, "client handshake");
    await server.write(enc("x"));
    assert.equal(await within(clientSocket.read(new Uint8Array(1)), 10_000, "one byte"), 1);
    clientSocket.close();
    collection.register(server, undefined);
    return conn;
  } finally {
    tcp.close();
  }
}

Deno.test({
  name: "lifetime attack: a dropped server socket after an SNI switch keeps the chosen context alive",
  ignore: gc === undefined,
  async fn() {
    const baseline = liveContextCount();
    const listenerCtx = serverContext();
    const chosen = serverContext({ verifyMode: VerifyMode.None }, "server-ec");
    // The handshake ran under `chosen`: make that observable before dropping the socket.
    const conn = await serveOnce(listenerCtx, chosen);
    assert.equal(liveContextCount(), baseline + 2);
    // The application lets go of everything without closing the socket.
    conn.close();
    listenerCtx.close();
    chosen.close();
    for (let i = 0; i < 100 && (collected === 0 || liveContextCount() !== baseline); i++) {
      gc!();
      await delay(20);
    }
    assert.equal(collected, 1, "the dropped socket was not collected");
    assert.equal(
      liveContextCount(),
      baseline,
      "an SSL_CTX is still live: the collected socket did not release both contexts",
    );
  },
});
