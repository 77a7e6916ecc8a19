/**
 * Handshake time limits without a timer per handshake.
 *
 * A server under load starts and finishes a handshake every millisecond; a
 * runtime timer per handshake (setTimeout, then clearTimeout) was the largest
 * single cost secsock added to an accepted connection after OpenSSL itself
 * (issue 15's profile: about 30 µs per connection in Deno's timer code).
 * Every handshake with the same limit expires in the order it started, so one
 * first-in-first-out queue per limit and one timer for the queue's head are
 * enough: a finished handshake only drops its callback (O(1), no timer call);
 * the timer fires at the head's deadline exactly, expires what is due, skips
 * what finished and waits for the next head.
 *
 * The queue's timer keeps the event loop alive while some handshake in it is
 * still running, as the per-socket timer did, and not once all have finished.
 *
 * @module
 */

/** What {@linkcode startDeadline} returns: call `cancel()` when the handshake ends. */
export interface Deadline {
  /** The handshake ended (either way): the limit no longer applies. Idempotent. */
  cancel(): void;
}

/** A runtime timer handle: a Node-style Timeout (Deno 2, Node, Bun) or a number (older Deno). */
type TimerHandle = ReturnType<typeof setTimeout>;

/** Keeps (or stops keeping) the event loop alive for `timer`. */
function refTimer(timer: TimerHandle, keepAlive: boolean): void {
  if (typeof timer === "object" && timer !== null && "ref" in timer) {
    if (keepAlive) (timer as { ref(): void }).ref();
    else (timer as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { refTimer?(id: number): void; unrefTimer?(id: number): void } }).Deno;
  if (keepAlive) deno?.refTimer?.(timer as unknown as number);
  else deno?.unrefTimer?.(timer as unknown as number);
}

/** One handshake's place in its queue; `expire` is dropped when the handshake ends. */
interface Entry extends Deadline {
  readonly due: number;
  expire: (() => void) | null;
}

/** The handshakes with one time limit, oldest first. */
class DeadlineQueue {
  readonly #ms: number;
  readonly #entries: Entry[] = [];
  #head = 0;
  /** Entries whose handshake is still running. */
  #running = 0;
  #timer: TimerHandle | undefined;
  #keepsAlive = false;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** Entries still held (running or not yet dropped) and how many of them run. */
  get held(): { entries: number; running: number } {
    return { entries: this.#entries.length - this.#head, running: this.#running };
  }

  add(expire: () => void): Deadline {
    const entry: Entry = {
      due: performance.now() + this.#ms,
      expire,
      cancel: () => {
        if (entry.expire === null) return;
        entry.expire = null;
        this.#finished();
      },
    };
    this.#entries.push(entry);
    this.#running++;
    if (this.#timer === undefined) this.#arm(this.#ms);
    else this.#keepAlive(true);
    return entry;
  }

  #finished(): void {
    this.#running--;
    this.#dropFinishedHead();
    if (this.#running === 0) this.#keepAlive(false);
  }

  /** Finished entries at the head go at once, so a queue holds about as many entries as handshakes run. */
  #dropFinishedHead(): void {
    const entries = this.#entries;
    while (this.#head < entries.length && entries[this.#head].expire === null) this.#head++;
    if (this.#head === entries.length) {
      entries.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= entries.length) {
      entries.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, delay));
    this.#keepsAlive = true;
    if (this.#running === 0) this.#keepAlive(false);
  }

  #keepAlive(on: boolean): void {
    if (this.#timer === undefined || this.#keepsAlive === on) return;
    this.#keepsAlive = on;
    refTimer(this.#timer, on);
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const entries = this.#entries;
    const due: (() => void)[] = [];
    while (this.#head < entries.length) {
      const entry = entries[this.#head];
      if (entry.expire !== null) {
        // A timer may fire a little early (rounding); never expire a handshake before its time.
        if (entry.due > now + 0.5) break;
        due.push(entry.expire);
        entry.expire = null;
        this.#running--;
      }
      this.#head++;
    }
    this.#dropFinishedHead();
    if (this.#head < entries.length) this.#arm(entries[this.#head].due - now);
    else queues.delete(this.#ms);
    for (const expire of due) {
      try {
        expire();
      } catch (error) {
        // One failing expiry must not keep the others from running; report it as an uncaught error would be.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

const queues = new Map<number, DeadlineQueue>();

/**
 * Starts a handshake's time limit: `expire` runs once `ms` milliseconds have
 * passed, unless `cancel()` came first.
 */
export function startDeadline(ms: number, expire: () => void): Deadline {
  let queue = queues.get(ms);
  if (!queue) {
    queue = new DeadlineQueue(ms);
    queues.set(ms, queue);
  }
  return queue.add(expire);
}

/** What the deadline bookkeeping holds now: for tests and diagnostics. */
export interface DeadlineStats {
  /** Live queues (one per limit value), each with its timer. */
  queues: number;
  /** Entries the queues hold, running or finished but not dropped yet. */
  entries: number;
  /** Handshakes still running (not expired, not cancelled). */
  running: number;
}

/** Counts what the deadline queues hold (O(number of limits)). */
export function deadlineStats(): DeadlineStats {
  const stats = { queues: queues.size, entries: 0, running: 0 };
  for (const queue of queues.values()) {
    const held = queue.held;
    stats.entries += held.entries;
    stats.running += held.running;
  }
  return stats;
}
