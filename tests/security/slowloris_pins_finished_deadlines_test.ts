/**
 * Attack: hold one handshake open at the head of the listener's deadline
 * queue (connect, send nothing) while other clients come and go. The shared
 * queue of lib/handshake_deadline.ts dropped finished handshakes only from
 * its head, so every finished handshake behind a stalled one stayed queued
 * until the stalled one expired: with the default 120 s limit and 1,000
 * handshakes/s, 120,000 entries (about 190 bytes each, 23 MB of heap) for
 * the price of one idle connection every two minutes.
 *
 * Expected: the queues hold exactly the handshakes still running, whatever
 * order they finish in.
 */
import assert from "node:assert/strict";
import { deadlineStats } from "../../lib/handshake_deadline.ts";
import type { SecureSocket } from "../../mod.ts";
import { clientContext, connectLocal, delay, serverContext, TestServer } from "../helpers.ts";

const FINISHED = 200;

Deno.test("a stalled handshake at the head of the deadline queue does not pin the finished ones behind it", async () => {
  const before = deadlineStats();
  const server = new TestServer(serverContext(), (socket: SecureSocket) => socket.handshake(), {
    handshakeTimeout: 60_000,
  });
  const stalled = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    // The stalled client's handshake is the oldest in its queue.
    for (let i = 0; i < 200 && deadlineStats().running === before.running; i++) await delay(10);
    assert.equal(deadlineStats().running, before.running + 1, "the stalled handshake's deadline is running");
    const client = clientContext();
    for (let i = 1; i <= FINISHED; i++) {
      const socket = await connectLocal(client, server.port);
      const served = await server.outcome(i);
      assert.ok(served.ok, `handshake ${i}: ${!served.ok && served.error}`);
      socket.close();
    }
    const after = deadlineStats();
    assert.equal(after.running, before.running + 1, "only the stalled handshake still runs");
    assert.ok(
      after.entries <= before.entries + 1,
      `the deadline queues hold ${after.entries - before.entries} entries for 1 running handshake ` +
        `(${FINISHED} finished behind it)`,
    );
  } finally {
    stalled.close();
    await server.close();
  }
});
