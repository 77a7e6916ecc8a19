/**
 * The listener's handshake time limit (default 120 s, Node's `tls.Server`
 * default): a client that connects and stays silent is dropped once it runs
 * out, while a good client is served meanwhile; 0 turns the limit off.
 */
import assert from "node:assert/strict";
import { HandshakeError, SecureSocketListener } from "../mod.ts";
import { clientContext, connectLocal, readAll, serverContext, settle, TestServer, within } from "./helpers.ts";

async function greet(socket: import("../mod.ts").SecureSocket): Promise<string> {
  await socket.handshake();
  await socket.write(new TextEncoder().encode("served\n"));
  await socket.closeWrite();
  return "served";
}

Deno.test("listener handshakeTimeout: a silent client is dropped, a good client is served meanwhile", async () => {
  const server = new TestServer(serverContext(), greet, { handshakeTimeout: 1_500 });
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  let droppedYet = false;
  const silentOutcome = server.outcome(0, 10_000).finally(() => droppedYet = true);
  try {
    const client = await connectLocal(clientContext(), server.port);
    assert.equal(new TextDecoder().decode(await readAll(client)), "served\n");
    client.close();
    const served = await server.outcome(1);
    assert.ok(served.ok && served.value === "served");
    assert.ok(!droppedYet, "the good client was served while the silent one was still waiting");
    const dropped = await silentOutcome;
    assert.ok(!dropped.ok && dropped.error instanceof HandshakeError, `${!dropped.ok && dropped.error}`);
    assert.match(dropped.error.message, /timed out/);
    // The silent client sees its connection closed.
    assert.equal(await within(silent.read(new Uint8Array(16)), 5_000, "the server's close"), null);
  } finally {
    silent.close();
    await server.close();
  }
});

Deno.test("listener handshakeTimeout: 0 turns the limit off; a negative value is a RangeError", async () => {
  assert.throws(() => SecureSocketListener.listen(serverContext(), { port: 0, handshakeTimeout: -1 }), RangeError);
  assert.throws(() => SecureSocketListener.listen(serverContext(), { port: 0, handshakeTimeout: NaN }), RangeError);
  const server = new TestServer(serverContext(), greet, { handshakeTimeout: 0 });
  const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const still = await settle(within(silent.read(new Uint8Array(16)), 800, "nothing"));
    assert.ok(!still.ok, "without a limit the silent client is still connected");
    assert.match(String(still.error), /timed out/);
  } finally {
    silent.close();
    await server.close();
  }
});
