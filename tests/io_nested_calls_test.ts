/**
 * I/O contract: native calls never nest. OpenSSL's error queue is per thread
 * and shared by every socket; socket A's info callback that logged each
 * alert by writing to another socket B ran B's SSL_write inside A's
 * SSL_do_handshake, which cleared the queue: A's handshake failure came
 * without OpenSSL's reasons. Now B's write waits until A's call has returned
 * (and still happens), while I/O on A itself from A's callback stays refused.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, InfoWhere, SecureSocket, SecureSocketListener } from "../mod.ts";
import { clientContext, connectLocal, enc, fixture, serverContext, settle, within } from "./helpers.ts";

Deno.test("I/O contract: a write on another socket from inside a callback keeps the failing call's OpenSSL reasons", async () => {
  using sctx = serverContext();
  using cctx = clientContext();
  using untrusting = clientContext({ ca: fixture("other-ca.pem") });
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  const logged: string[] = [];
  const serving = (async () => {
    for await (const socket of listener) {
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          for (;;) {
            const n = await socket.read(buffer);
            if (n === null) {
              await socket.closeWrite();
              break;
            }
            logged.push(new TextDecoder().decode(buffer.subarray(0, n)));
          }
        } catch {
          // the failing handshakes end here
        } finally {
          socket.close();
        }
      })();
    }
  })();
  const log = await within(connectLocal(cctx, listener.addr.port), 10_000, "the log connection");
  try {
    const failures: CertificateVerificationError[] = [];
    const writes: Promise<unknown>[] = [];
    for (const withLog of [false, true]) {
      const a = new SecureSocket(untrusting, { hostname: "localhost" });
      a.setInfoCallback((_socket, where) => {
        if (withLog && (where & InfoWhere.Alert)) writes.push(settle(log.write(enc(`alert ${where}\n`))));
      });
      const outcome = await within(settle(a.connect({ hostname: "127.0.0.1", port: listener.addr.port })), 10_000, "A");
      a.close();
      assert.ok(!outcome.ok && outcome.error instanceof CertificateVerificationError, `${JSON.stringify(outcome)}`);
      failures.push(outcome.error);
    }
    const [alone, logging] = failures;
    assert.ok(alone.openssl.length > 0, "OpenSSL gave reasons");
    assert.deepEqual(logging.openssl.map((e) => e.reason), alone.openssl.map((e) => e.reason));
    // The writes from inside A's callback were deferred, not dropped.
    assert.ok(writes.length > 0, "the callback saw the alert");
    for (const outcome of await Promise.all(writes)) {
      assert.deepEqual(outcome, { ok: true, value: (outcome as { value: number }).value });
    }
    await log.closeWrite();
    assert.equal(await within(log.read(new Uint8Array(16)), 10_000, "log close_notify"), null);
    assert.match(logged.join(""), /^alert \d+\n/);
  } finally {
    log.close();
    listener.close();
    await serving;
  }
});
