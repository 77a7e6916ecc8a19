/**
 * §2 The verify callback sees every report OpenSSL makes, and an answer
 * applies to the report it was given for only — synchronous or not. OpenSSL
 * reports on one certificate more than once (first "ok", then a name
 * constraint or a host name failure); a Promise answer makes it verify the
 * whole chain again, and that pass must ask exactly the reports not yet answered.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  SecureSocket,
  SecureSocketListener,
  SocketClosedError,
  type VerifyCallback,
  type X509StoreContext,
} from "../mod.ts";
import { failure, ownedPair, type Pair, success } from "./callback_utils.ts";
import { type ChainCase, corpusCase, corpusTrustingContext, presentingContext } from "./chain_corpus.ts";
import { delay, settle, within } from "./helpers.ts";

/** X509_V_ERR_APPLICATION_VERIFICATION */
const APPLICATION_VERIFICATION = 50;
/** X509_V_ERR_PERMITTED_VIOLATION */
const PERMITTED_VIOLATION = 47;
/** X509_V_ERR_HOSTNAME_MISMATCH */
const HOSTNAME_MISMATCH = 62;

/** One report as the callback saw it. */
interface Report {
  depth: number;
  ok: boolean;
  error: number;
  fingerprint: string | undefined;
}

function report(ok: boolean, store: X509StoreContext): Report {
  return { depth: store.depth, ok, error: store.error, fingerprint: store.currentCertificate?.fingerprint256 };
}

/** A callback recording each report, answering with `answer`. */
function recorder(answer: (ok: boolean, r: Report) => boolean | Promise<boolean>) {
  const reports: Report[] = [];
  const cb: VerifyCallback = (ok, store) => {
    const r = report(ok, store);
    reports.push(r);
    return answer(ok, r);
  };
  return { cb, reports };
}

/** Our client verifying the case's chain (served by secsock) with `cb`. */
function verifyWith(c: ChainCase, cb: VerifyCallback, hostname = c.host ?? c.ip!): Promise<Pair> {
  const client = corpusTrustingContext();
  client.setCertificateVerifyCallback(cb);
  return ownedPair(presentingContext(c), client, { hostname, exchange: true });
}

function assertVerificationError(error: unknown, code: number, depth: number): void {
  assert.ok(error instanceof CertificateVerificationError, `expected CertificateVerificationError, got ${error}`);
  assert.equal(error.code, code);
  assert.equal(error.depth, depth);
}

Deno.test("verify reports: a later report on an accepted certificate still reaches the callback", async () => {
  const c = corpusCase("nc-dns-permitted");
  const accepting = recorder(() => true);
  using pair = await verifyWith(c, accepting.cb);
  success(pair.clientResult); // the callback may override every report
  const leaf = accepting.reports.filter((r) => r.depth === 0);
  assert.ok(leaf.length >= 2, `the leaf was reported ${leaf.length} time(s)`);
  assert.equal(leaf[0].ok, true);
  assert.ok(
    leaf.some((r) => !r.ok && r.error === PERMITTED_VIOLATION),
    "the name constraint violation was reported after the leaf's first report",
  );
  assert.ok(new Set(leaf.map((r) => r.fingerprint)).size === 1, "all about the same certificate");
});

Deno.test("verify reports: an asynchronous callback is asked exactly the reports a synchronous one is, once each", async (t) => {
  for (const name of ["good", "nc-dns-permitted", "wrong-host", "expired-intermediate", "missing-intermediate"]) {
    await t.step(name, async () => {
      const c = corpusCase(name);
      // Accepting everything makes OpenSSL go through every check there is.
      const sync = recorder(() => true);
      using syncPair = await verifyWith(c, sync.cb);
      success(syncPair.clientResult);
      const later = recorder(() => delay(2).then(() => true));
      using asyncPair = await verifyWith(c, later.cb);
      success(asyncPair.clientResult);
      assert.deepEqual(later.reports, sync.reports);
      assert.ok(sync.reports.length >= 1);
    });
  }
});

Deno.test("verify reports: an asynchronous pass-through gives the synchronous verdict, report for report", async (t) => {
  for (const name of ["nc-dns-permitted", "nc-ip-excluded", "wrong-host", "expired-intermediate"]) {
    await t.step(name, async () => {
      const c = corpusCase(name);
      const sync = recorder((ok) => ok);
      using syncPair = await verifyWith(c, sync.cb);
      const syncError = failure(syncPair.clientResult, "synchronous pass-through");
      const later = recorder((ok) => Promise.resolve(ok));
      using asyncPair = await verifyWith(c, later.cb);
      const asyncError = failure(asyncPair.clientResult, "asynchronous pass-through");
      assert.ok(
        syncError instanceof CertificateVerificationError && asyncError instanceof CertificateVerificationError,
      );
      assert.equal(asyncError.code, syncError.code);
      assert.equal(asyncError.depth, syncError.depth);
      assert.deepEqual(later.reports, sync.reports);
      assert.equal(later.reports.at(-1)?.ok, false, "the last report asked was the failing one");
    });
  }
});

Deno.test("verify reports: a report that arrives while an earlier answer is pending waits its turn", async () => {
  const events: string[] = [];
  let pending = 0;
  const { cb, reports } = recorder(async (ok, r) => {
    events.push(`ask ${r.depth}${pending > 0 ? " while another is pending" : ""}`);
    pending++;
    await delay(15);
    pending--;
    events.push(`answer ${r.depth}`);
    return ok;
  });
  using pair = await verifyWith(corpusCase("good"), cb);
  success(pair.clientResult);
  assert.deepEqual(events, ["ask 2", "answer 2", "ask 1", "answer 1", "ask 0", "answer 0"]);
  assert.equal(reports.length, 3);
});

Deno.test("verify reports: a Promise resolving false rejects at its own report, and nothing after it is asked", async () => {
  const { cb, reports } = recorder(async (ok, r) => {
    await delay(5);
    return r.depth === 1 ? false : ok;
  });
  using pair = await verifyWith(corpusCase("good"), cb);
  assertVerificationError(failure(pair.clientResult, "client"), APPLICATION_VERIFICATION, 1);
  assert.deepEqual(reports.map((r) => r.depth), [2, 1]);
});

Deno.test("verify reports: a Promise resolving false to an OpenSSL failure keeps OpenSSL's code", async () => {
  const { cb, reports } = recorder((ok) => delay(2).then(() => ok));
  using pair = await verifyWith(corpusCase("good"), cb, "other.test");
  assertVerificationError(failure(pair.clientResult, "client"), HOSTNAME_MISMATCH, 0);
  assert.deepEqual(reports.map((r) => [r.depth, r.ok, r.error]), [[0, false, HOSTNAME_MISMATCH]]);
});

Deno.test("verify reports: an exception at depth 2 rejects the handshake with that error, asking nothing more", async (t) => {
  for (const async of [false, true]) {
    await t.step(async ? "asynchronous" : "synchronous", async () => {
      const thrown = new Error("trust store unavailable");
      const { cb, reports } = recorder((ok, r) => {
        if (r.depth !== 2) return ok;
        if (async) return Promise.reject(thrown);
        throw thrown;
      });
      using pair = await verifyWith(corpusCase("good"), cb);
      assert.equal(failure(pair.clientResult, "client"), thrown);
      assert.deepEqual(reports.map((r) => r.depth), [2]);
    });
  }
});

Deno.test("verify reports: a non-boolean answer is a TypeError, synchronous or not", async (t) => {
  for (const [label, value] of [["1", 1], ["'yes'", "yes"], ["undefined", undefined], ["an object", {}]] as const) {
    for (const async of [false, true]) {
      await t.step(`${label}, ${async ? "resolved" : "returned"}`, async () => {
        const cb = (() => async ? Promise.resolve(value) : value) as unknown as VerifyCallback;
        using pair = await verifyWith(corpusCase("good"), cb);
        const error = failure(pair.clientResult, "client");
        assert.ok(error instanceof TypeError, `got ${error}`);
      });
    }
  }
});

Deno.test("verify reports: an answer that arrives after the socket was closed changes nothing", async (t) => {
  for (const outcome of ["resolves", "rejects"] as const) {
    await t.step(`the pending Promise ${outcome}`, async () => {
      using server = presentingContext(corpusCase("good"));
      using client = corpusTrustingContext();
      let asked!: () => void;
      const wasAsked = new Promise<void>((resolve) => asked = resolve);
      let settleAnswer!: () => void;
      client.setCertificateVerifyCallback(() => {
        asked();
        return new Promise<boolean>((resolve, reject) => {
          settleAnswer = () => outcome === "resolves" ? resolve(true) : reject(new Error("late"));
        });
      });
      using listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
      const accepted = listener.accept();
      const socket = new SecureSocket(client, { hostname: "good.test" });
      const connecting = settle(socket.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
      const peer = await accepted;
      const serverSide = settle(peer.handshake());
      await within(wasAsked, 10_000, "the verify callback");
      socket.close();
      settleAnswer();
      const result = await within(connecting, 10_000, "connect() after close");
      assert.ok(!result.ok && result.error instanceof SocketClosedError, `got ${JSON.stringify(result)}`);
      peer.close();
      await serverSide;
    });
  }
});

Deno.test("verify reports: closing the socket ends the wait for an answer that never comes", async () => {
  using server = presentingContext(corpusCase("good"));
  using client = corpusTrustingContext();
  let asked!: () => void;
  const wasAsked = new Promise<void>((resolve) => asked = resolve);
  client.setCertificateVerifyCallback(() => {
    asked();
    return new Promise<boolean>(() => {});
  });
  using listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const socket = new SecureSocket(client, { hostname: "good.test" });
  const connecting = settle(socket.connect({ hostname: "127.0.0.1", port: listener.addr.port }));
  const peer = await accepted;
  const serverSide = settle(peer.handshake());
  await within(wasAsked, 10_000, "the verify callback");
  socket.close();
  const result = await within(connecting, 5_000, "connect() after close");
  assert.ok(!result.ok && result.error instanceof SocketClosedError, `got ${JSON.stringify(result)}`);
  peer.close();
  await serverSide;
});
