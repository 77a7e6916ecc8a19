/**
 * Handshake time limits without a timer per handshake.
 *
 * A server under load starts and finishes a handshake every millisecond; a
 * runtime timer per handshake (setTimeout, then clearTimeout) was the largest
 * single cost secsock added to an accepted connection after OpenSSL itself
 * (issue 15's profile: about 30 µs per connection in Deno's timer code).
 * Every handshake with the same limit expires in the order it started, so one
 * first-in-first-out queue per limit and one timer for the queue's head are
 * enough: a finished handshake leaves its queue (a linked list: O(1), no timer
 * call, wherever it stands); the timer fires at the head's deadline or a
 * little before (when the head finished first), expires what is due and
 * waits for the next head. A queue holds exactly the running handshakes.
 *
 * The queue's timer keeps the event loop alive while some handshake in it is
 * still running, as the per-socket timer did, and not once all have finished.
 * An emptied queue keeps its (unref'd) timer for its limit's next handshake,
 * for a few limits at most; the others go with their timers at once.
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

/**
 * One running handshake in its queue. The queue is a doubly linked list so a
 * handshake that ends leaves it at once, wherever it stands: finished
 * handshakes behind a stalled one must not pile up until it expires.
 */
interface Entry extends Deadline {
  readonly due: number;
  /** Dropped (null) when the handshake ends or expires: the entry then holds nothing of the socket. */
  expire: (() => void) | null;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * Queues with no running handshake whose timer is kept (unref'd) for the
 * next handshake with their limit, so a steady trickle of handshakes does not
 * re-create a timer each. Beyond this many, an emptied queue goes at once
 * with its timer: an application that computes a limit per connection must
 * not leave a queue and a timer per handshake behind for the whole limit.
 */
const MAX_IDLE_QUEUES = 8;
let idleQueues = 0;

/** The running handshakes with one time limit, oldest first. */
class DeadlineQueue {
  readonly #ms: number;
  #head: Entry | null = null;
  #tail: Entry | null = null;
  #running = 0;
  /** Armed while the queue is in `queues`: for the head's deadline, or (idle) for a past head's. */
  #timer: TimerHandle | undefined;
  #keepsAlive = false;
  /** No handshake runs, the timer is kept: counted in `idleQueues`. */
  #idle = false;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** Running handshakes, and entries held (counted along the list, for diagnostics). */
  get held(): { entries: number; running: number } {
    let entries = 0;
    for (let entry = this.#head; entry !== null; entry = entry.next) entries++;
    return { entries, running: this.#running };
  }

  add(expire: () => void): Deadline {
    // Same limit and a monotonic clock: the newest entry is due last, so the list stays sorted.
    const entry: Entry = {
      due: performance.now() + this.#ms,
      expire,
      prev: this.#tail,
      next: null,
      cancel: () => {
        if (entry.expire === null) return;
        this.#remove(entry);
        if (this.#running === 0) this.#emptied();
      },
    };
    if (this.#tail) this.#tail.next = entry;
    else this.#head = entry;
    this.#tail = entry;
    this.#running++;
    if (this.#idle) {
      this.#idle = false;
      idleQueues--;
    }
    // An armed timer is due no later than this entry (its head was added earlier): it fires, then re-arms.
    if (this.#timer === undefined) this.#arm(this.#ms);
    else this.#keepAlive(true);
    return entry;
  }

  #remove(entry: Entry): void {
    entry.expire = null;
    if (entry.prev) entry.prev.next = entry.next;
    else this.#head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.#tail = entry.prev;
    entry.prev = entry.next = null;
    this.#running--;
  }

  /** The last running handshake ended: keep the timer for the next one, or go. */
  #emptied(): void {
    this.#keepAlive(false);
    if (this.#timer !== undefined && idleQueues < MAX_IDLE_QUEUES) {
      this.#idle = true;
      idleQueues++;
    } else {
      this.#retire();
    }
  }

  /** Leaves `queues` with its timer; only an empty queue retires. */
  #retire(): void {
    if (this.#idle) {
      this.#idle = false;
      idleQueues--;
    }
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (queues.get(this.#ms) === this) queues.delete(this.#ms);
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, delay));
    this.#keepsAlive = true;
  }

  #keepAlive(on: boolean): void {
    if (this.#timer === undefined || this.#keepsAlive === on) return;
    this.#keepsAlive = on;
    refTimer(this.#timer, on);
  }

  #fire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const due: (() => void)[] = [];
    // A timer may fire a little early (rounding); never expire a handshake before its time.
    for (let entry = this.#head; entry !== null && entry.due <= now + 0.5; entry = this.#head) {
      due.push(entry.expire!);
      this.#remove(entry);
    }
    // Consistent before any expiry runs: an expiry may start or end other handshakes.
    if (this.#head) this.#arm(this.#head.due - now);
    else this.#retire();
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
  /** Live queues (one per limit value with running handshakes, and a few idle ones), each with its timer. */
  queues: number;
  /** Entries the queues hold: one per running handshake (finished ones leave at once). */
  entries: number;
  /** Handshakes still running (not expired, not cancelled). */
  running: number;
}

/** Counts what the deadline queues hold (walks them: O(running handshakes)). */
export function deadlineStats(): DeadlineStats {
  const stats = { queues: queues.size, entries: 0, running: 0 };
  for (const queue of queues.values()) {
    const held = queue.held;
    stats.entries += held.entries;
    stats.running += held.running;
  }
  return stats;
}
