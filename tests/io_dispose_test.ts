/**
 * I/O contract: `await using` (Symbol.asyncDispose) ends a connection
 * gracefully and in bounded time.
 *
 * - It used to be closeWrite() then close(). When bytes from the peer were
 *   still unread in the kernel (its close_notify, sent early), close() made
 *   Linux reset the connection and drop what was not yet sent: data that
 *   write() had reported sent, and our close_notify. Now it reads (and
 *   discards) to the peer's end before closing.
 * - With a peer that stopped reading, a queued write() held closeWrite() and
 *   so disposal forever. Now the graceful part has a time limit (3 s), then
 *   close() ends everything.
 */
import assert from "node:assert/strict";
import { SecureSocketListener, SocketClosedError } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  delay,
  enc,
  fixturePath,
  readExactly,
  serverContext,
  settle,
  within,
} from "./helpers.ts";

Deno.test("I/O contract: `await using` delivers every byte written, then close_notify, although the peer's close_notify is unread", async () => {
  const SIZE = 8 * 1024 * 1024;
  using sctx = serverContext();
  using cctx = clientContext();
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  try {
    const served = (async () => {
      await using server = await listener.accept();
      assert.equal(new TextDecoder().decode(await readExactly(server, 4)), "req\n");
      await server.write(new Uint8Array(SIZE).fill(0x5a));
      // Leaving the scope: the client's close_notify is waiting, unread.
    })();
    const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "handshake");
    try {
      await client.write(enc("req\n"));
      await delay(100); // the server has read the request
      await client.closeWrite(); // arrives after the server's last read()
      let total = 0;
      const buffer = new Uint8Array(65536);
      const end = await within(
        settle((async () => {
          for (;;) {
            const n = await client.read(buffer);
            if (n === null) return "close_notify";
            if (buffer.subarray(0, n).some((b) => b !== 0x5a)) throw new Error("corrupt data");
            total += n;
            await delay(1); // a reader slower than the writer: data is still in flight at disposal
          }
        })()),
        30_000,
        "the client's reads",
      );
      assert.deepEqual(end, { ok: true, value: "close_notify" }, `read ${total} bytes, then: ${!end.ok && end.error}`);
      assert.equal(total, SIZE);
      await within(served, 10_000, "the server's scope");
    } finally {
      client.close();
    }
  } finally {
    listener.close();
  }
});

Deno.test("I/O contract: `await using` returns in bounded time when the peer never reads", async () => {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(fixturePath("server-chain.pem")),
    key: Deno.readTextFileSync(fixturePath("server.key")),
  });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      await (conn as Deno.TlsConn).handshake().catch(() => {});
      held.push(conn); // never read
    }
  })().catch(() => {});
  using cctx = clientContext();
  try {
    const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "handshake");
    const write = settle(client.write(new Uint8Array(32 * 1024 * 1024)));
    const start = performance.now();
    await within(client[Symbol.asyncDispose](), 10_000, "Symbol.asyncDispose");
    const elapsed = performance.now() - start;
    assert.ok(elapsed < 8_000, `disposal took ${Math.round(elapsed)} ms`);
    const outcome = await within(write, 5_000, "the queued write");
    assert.ok(!outcome.ok && outcome.error instanceof SocketClosedError, `the write: ${JSON.stringify(outcome)}`);
  } finally {
    for (const conn of held) conn.close();
    listener.close();
    await accepting;
  }
});
