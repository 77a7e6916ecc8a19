/**
 * Handshake time limits share one timer per limit (lib/handshake_deadline.ts):
 * each handshake still expires at its own time, a finished one never does,
 * and a process whose handshakes are done is not held alive by the shared
 * timer — while one whose handshake is still running is, until it expires.
 * An expiry that lands while the handshake waits for an asynchronous
 * callback's answer fails it cleanly; the late answer finds a closed socket.
 */
import assert from "node:assert/strict";
import { HandshakeError, SecureSocket } from "../mod.ts";
import { liveSocketCount } from "../lib/callbacks/connection.ts";
import { deadlineStats } from "../lib/handshake_deadline.ts";
import { clientContext, connectLocal, delay, echoServer, serverContext, settle, TestServer } from "./helpers.ts";

/** A TCP server that accepts and never answers (a stalled TLS peer). */
function silentServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of listener) conns.push(conn);
  })().catch(() => {});
  return {
    port: listener.addr.port,
    close() {
      listener.close();
      for (const conn of conns) conn.close();
    },
  };
}

function stalledConnect(port: number, handshakeTimeout: number): Promise<SecureSocket> {
  return SecureSocket.connect(clientContext(), {
    hostname: "127.0.0.1",
    servername: "localhost",
    port,
    handshakeTimeout,
  });
}

Deno.test("handshake deadlines: stalled handshakes with one limit each expire at their own time", async () => {
  const silent = silentServer();
  try {
    const limit = 600;
    const started: number[] = [];
    const ended: number[] = [];
    const attempts = [0, 250, 500].map(async (offset, i) => {
      await new Promise((r) => setTimeout(r, offset));
      started[i] = performance.now();
      const outcome = await settle(stalledConnect(silent.port, limit));
      ended[i] = performance.now();
      return outcome;
    });
    for (const outcome of await Promise.all(attempts)) {
      assert.ok(!outcome.ok && outcome.error instanceof HandshakeError, `${!outcome.ok && outcome.error}`);
      assert.match(outcome.error.message, /timed out after 600 ms/);
    }
    for (let i = 0; i < 3; i++) {
      const took = ended[i] - started[i];
      assert.ok(took >= limit - 5, `handshake ${i} expired after ${took.toFixed(0)} ms, before its limit`);
      assert.ok(took < limit + 1_000, `handshake ${i} expired after ${took.toFixed(0)} ms, long after its limit`);
    }
  } finally {
    silent.close();
  }
});

Deno.test("handshake deadlines: a finished handshake is not failed when its limit passes; a later one still is", async () => {
  const server = echoServer(serverContext());
  const silent = silentServer();
  try {
    const limit = 500;
    const good = await connectLocal(clientContext(), server.port, { handshakeTimeout: limit });
    const stalled = settle(stalledConnect(silent.port, limit));
    await new Promise((r) => setTimeout(r, limit + 300));
    // Asking again neither restarts the handshake nor starts another deadline.
    const running = deadlineStats().running;
    assert.equal(good.handshake(), good.handshake());
    await good.handshake();
    assert.equal(deadlineStats().running, running);
    // The finished socket still works after its deadline passed.
    await good.write(new TextEncoder().encode("ping"));
    const buf = new Uint8Array(4);
    let got = 0;
    while (got < 4) {
      const n = await good.read(buf.subarray(got));
      assert.notEqual(n, null);
      got += n!;
    }
    assert.equal(new TextDecoder().decode(buf), "ping");
    good.close();
    const outcome = await stalled;
    assert.ok(!outcome.ok && outcome.error instanceof HandshakeError);
  } finally {
    silent.close();
    await server.close();
  }
});

/** Runs `code` in a child Deno process; resolves with its exit code and how long it ran. */
async function runChild(code: string): Promise<{ code: number; ms: number; stderr: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { SECSOCK_MOD: new URL("../mod.ts", import.meta.url).href },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, ms: performance.now() - t0, stderr: new TextDecoder().decode(out.stderr) };
}

const CA = new URL("./fixtures/ca.pem", import.meta.url).pathname;

Deno.test("handshake deadlines: a process whose handshake is done exits at once despite a 120 s limit", async () => {
  const server = echoServer(serverContext());
  try {
    const child = await runChild(`
      const { SecureSocket, SecureSocketContext } = await import(Deno.env.get("SECSOCK_MOD"));
      const ctx = new SecureSocketContext({ useSystemTrust: false, ca: Deno.readTextFileSync(${JSON.stringify(CA)}) });
      const s = await SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: "localhost", port: ${server.port}, handshakeTimeout: 120_000 });
      s.close();
      ctx.close();
    `);
    assert.equal(child.code, 0, child.stderr);
    assert.ok(child.ms < 15_000, `the child ran ${child.ms.toFixed(0)} ms after its handshake was done`);
  } finally {
    await server.close();
  }
});

Deno.test("handshake deadlines: an unref'd socket's running handshake still holds the process until it expires", async () => {
  const silent = silentServer();
  try {
    const child = await runChild(`
      const { HandshakeError, SecureSocket, SecureSocketContext } = await import(Deno.env.get("SECSOCK_MOD"));
      const ctx = new SecureSocketContext({ useSystemTrust: false, ca: Deno.readTextFileSync(${JSON.stringify(CA)}) });
      const s = new SecureSocket(ctx, { servername: "localhost", handshakeTimeout: 1_500 });
      s.unref();
      try {
        await s.connect({ hostname: "127.0.0.1", port: ${silent.port} });
        Deno.exit(3);
      } catch (error) {
        Deno.exit(error instanceof HandshakeError && /timed out/.test(error.message) ? 0 : 4);
      }
    `);
    assert.equal(child.code, 0, child.stderr);
    assert.ok(child.ms >= 1_500, `the child exited after ${child.ms.toFixed(0)} ms, before the limit`);
  } finally {
    silent.close();
  }
});

/** Asserts that `outcome` is a handshake that timed out after about `limit` ms (`elapsed`). */
function assertExpired(outcome: Awaited<ReturnType<typeof settle>>, elapsed: number, limit: number): void {
  assert.ok(!outcome.ok && outcome.error instanceof HandshakeError, `${!outcome.ok && outcome.error}`);
  assert.match(outcome.error.message, /timed out/);
  assert.ok(elapsed >= limit - 5 && elapsed < limit + 1_000, `expired after ${elapsed.toFixed(0)} ms`);
}

/**
 * Waits for the late answer of a callback whose handshake already expired,
 * then checks that nothing was left behind: no registered SSL, no running deadline.
 */
async function afterLateAnswer(answered: () => boolean, before: { sockets: number; running: number }): Promise<void> {
  while (!answered()) await delay(50);
  await delay(50);
  assert.equal(liveSocketCount(), before.sockets, "native SSL handles left registered");
  assert.equal(deadlineStats().running, before.running);
}

Deno.test("handshake deadlines: expiry while the server waits for an async SNI answer; the answer comes later", async () => {
  const before = { sockets: liveSocketCount(), running: deadlineStats().running };
  const limit = 300;
  const sctx = serverContext();
  let answered = false;
  sctx.setServerNameCallback(async () => {
    await delay(limit + 500);
    answered = true;
    return null;
  });
  const server = new TestServer(sctx, (socket) => socket.handshake(), { handshakeTimeout: limit });
  try {
    const started = performance.now();
    const client = settle(connectLocal(clientContext(), server.port));
    const outcome = await server.outcome(0, 5_000);
    assertExpired(outcome, performance.now() - started, limit);
    assert.ok(!answered, "expired while the callback was still pending");
    assert.ok(!(await client).ok, "the client sees the connection end");
  } finally {
    await server.close();
  }
  await afterLateAnswer(() => answered, before);
});

Deno.test("handshake deadlines: expiry while the client waits for an async verify answer", async () => {
  const before = { sockets: liveSocketCount(), running: deadlineStats().running };
  const limit = 300;
  const cctx = clientContext();
  let answered = false;
  cctx.setCertificateVerifyCallback(async (ok) => {
    await delay(limit + 500);
    answered = true;
    return ok;
  });
  const server = echoServer(serverContext());
  try {
    const started = performance.now();
    const outcome = await settle(connectLocal(cctx, server.port, { handshakeTimeout: limit }));
    assertExpired(outcome, performance.now() - started, limit);
    assert.ok(!answered, "expired while the callback was still pending");
  } finally {
    await server.close();
  }
  await afterLateAnswer(() => answered, before);
});
