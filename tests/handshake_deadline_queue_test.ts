/**
 * The deadline queues of lib/handshake_deadline.ts on their own, with the
 * orders of events a misbehaving peer can force: the oldest handshake
 * finishing first, ends in any order, ends inside another's expiry, an
 * expiry that throws. (tests/handshake_deadline_test.ts and the security
 * tests run the same through real sockets.)
 */
import assert from "node:assert/strict";
import { deadlineStats, startDeadline } from "../lib/handshake_deadline.ts";
import { delay } from "./helpers.ts";

/** Timer lateness tolerated on a loaded 2-core VM; the point is "not a whole limit late". */
const JITTER = 150;

/** Starts a deadline of `ms` that records when it expired in `expired[name]`. */
function track(expired: Record<string, number>, name: string, ms: number) {
  const started = performance.now();
  const deadline = startDeadline(ms, () => expired[name] = performance.now() - started);
  return deadline;
}

Deno.test("deadline queue: a finished head does not delay the next expiry; an end touches only its own entry", async () => {
  const before = deadlineStats();
  const expired: Record<string, number> = {};
  const limit = 300;
  const a = track(expired, "a", limit);
  await delay(100);
  const b = track(expired, "b", limit);
  const c = track(expired, "c", limit);
  await delay(20);
  a.cancel(); // the head finishes first
  c.cancel();
  c.cancel(); // twice: a no-op, b stays
  await delay(limit + JITTER + 100);
  assert.equal(expired.a, undefined, "a finished: never expired");
  assert.equal(expired.c, undefined, "c finished: never expired");
  assert.ok(expired.b >= limit - 1, `b expired after ${expired.b} ms, before its limit`);
  assert.ok(expired.b < limit + JITTER, `b expired after ${expired.b} ms`);
  b.cancel(); // after its expiry: a no-op
  assert.equal(deadlineStats().running, before.running);
});

Deno.test("deadline queue: an expiry may end and start other handshakes with the same limit", async () => {
  const before = deadlineStats();
  const expired: Record<string, number> = {};
  const limit = 200;
  let later: ReturnType<typeof startDeadline> | null = null;
  let restarted: ReturnType<typeof startDeadline> | null = null;
  const first = startDeadline(limit, () => {
    later!.cancel(); // closing one socket ends another's handshake
    restarted = track(expired, "restarted", limit); // and the application connects again
    expired.first = 1;
  });
  await delay(50);
  later = track(expired, "later", limit);
  while (expired.first === undefined) await delay(5);
  assert.equal(expired.later, undefined, "ended inside the first expiry: never expired");
  assert.equal(deadlineStats().running, before.running + 1, "only the restarted handshake runs");
  await delay(limit + JITTER);
  assert.equal(expired.later, undefined);
  assert.ok(expired.restarted >= limit - 1 && expired.restarted < limit + JITTER, `restarted: ${expired.restarted} ms`);
  first.cancel();
  restarted!.cancel();
  assert.equal(deadlineStats().running, before.running);
});

Deno.test("deadline queue: an expiry that throws does not keep the others due with it from running", async () => {
  const reported: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    reported.push(event.error);
    event.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    const ran: string[] = [];
    startDeadline(100, () => {
      ran.push("first");
      throw new Error("expiry failed");
    });
    startDeadline(100, () => ran.push("second"));
    await delay(100 + JITTER);
    assert.deepEqual(ran, ["first", "second"]);
    assert.equal(reported.length, 1, "the exception is reported as uncaught, once");
    assert.match(String(reported[0]), /expiry failed/);
  } finally {
    globalThis.removeEventListener("error", onError);
  }
});

Deno.test("deadline queue: finished handshakes with many distinct limits leave a bounded number of queues", () => {
  const before = deadlineStats();
  for (let i = 0; i < 1_000; i++) startDeadline(30_000 + i / 7, () => {}).cancel();
  const after = deadlineStats();
  assert.equal(after.running, before.running);
  assert.ok(after.queues - before.queues <= 8, `${after.queues - before.queues} queues left`);
});
