/**
 * Attack: an application that computes each connection's `handshakeTimeout`
 * (the rest of a request's time budget, a per-tenant value, jitter) gives
 * every handshake its own limit. lib/handshake_deadline.ts keeps one queue
 * and one runtime timer per limit value, and an emptied queue stayed until
 * its timer fired, up to the limit after its last handshake finished: with
 * 120 s limits and 1,000 handshakes/s, 120,000 queues with their timers
 * (about 850 bytes of heap each, 100 MB, and twice that in RSS) where the
 * per-handshake timers they replaced were gone once the handshake ended. A
 * client that makes the application connect (a webhook or proxy target)
 * sets the pace.
 *
 * Expected: once the handshakes are done, only a small fixed number of idle
 * queues (kept so a busy limit does not re-create its timer per handshake)
 * outlive them.
 */
import assert from "node:assert/strict";
import { deadlineStats } from "../../lib/handshake_deadline.ts";
import type { SecureSocket } from "../../mod.ts";
import { clientContext, connectLocal, serverContext, TestServer } from "../helpers.ts";

const HANDSHAKES = 100;
/** Idle queues a process may keep (lib/handshake_deadline.ts keeps at most 8), with margin for none. */
const IDLE_QUEUES = 8;

Deno.test("handshakes with distinct time limits leave no queue or timer per limit behind", async () => {
  const before = deadlineStats();
  const server = new TestServer(serverContext(), (socket: SecureSocket) => socket.handshake(), { handshakeTimeout: 0 });
  try {
    const client = clientContext();
    for (let i = 0; i < HANDSHAKES; i++) {
      // 60 s plus i ms: a limit computed per connection.
      const socket = await connectLocal(client, server.port, { handshakeTimeout: 60_000 + i });
      socket.close();
    }
    const after = deadlineStats();
    assert.equal(after.running, before.running, "no handshake still runs");
    assert.ok(
      after.queues <= Math.max(before.queues, IDLE_QUEUES),
      `${after.queues - before.queues} deadline queues (each with a timer) outlive ${HANDSHAKES} finished handshakes`,
    );
  } finally {
    await server.close();
  }
});
