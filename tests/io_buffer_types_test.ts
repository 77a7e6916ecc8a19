/**
 * I/O contract: read() and write() take a Uint8Array and nothing else. Other
 * values reached the FFI call: a string or a plain array threw inside it and
 * left the socket "inside an OpenSSL callback" for good (every later call
 * refused, close() never freeing the SSL); a Uint16Array was sent or filled
 * by half, an ArrayBuffer "written" as nothing. Each is now a TypeError, with
 * no effect on the connection, and the native state is freed on close().
 */
import assert from "node:assert/strict";
import { type SecureSocket, SecureSocketListener } from "../mod.ts";
import { liveSocketCount } from "../lib/callbacks/connection.ts";
import { clientContext, connectLocal, dec, enc, readExactly, serverContext, within } from "./helpers.ts";

const NOT_BYTES: [string, unknown][] = [
  ["a string", "hello"],
  ["an ArrayBuffer", new ArrayBuffer(8)],
  ["a Uint16Array", new Uint16Array(4)],
  ["a DataView", new DataView(new ArrayBuffer(8))],
  ["a plain array", [1, 2, 3]],
];

/** A server that echoes every connection until its end; `run` gets a connected client. */
async function withEcho(run: (client: SecureSocket) => Promise<void>): Promise<void> {
  using sctx = serverContext();
  using cctx = clientContext();
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  const sessions: Promise<void>[] = [];
  const served = (async () => {
    for await (const socket of listener) {
      sessions.push((async () => {
        const buffer = new Uint8Array(65536);
        try {
          for (;;) {
            const n = await socket.read(buffer);
            if (n === null) break;
            await socket.write(buffer.subarray(0, n));
          }
          await socket.closeWrite();
        } catch {
          // the client went away
        } finally {
          socket.close();
        }
      })());
    }
  })();
  try {
    const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "handshake");
    try {
      await within(run(client), 10_000, "client");
    } finally {
      client.close();
    }
  } finally {
    listener.close();
    await served;
    await within(Promise.all(sessions), 10_000, "the server's sessions");
  }
}

for (const [what, value] of NOT_BYTES) {
  Deno.test(`I/O contract: write(${what}) is a TypeError and the connection goes on`, async () => {
    const before = liveSocketCount();
    await withEcho(async (client) => {
      // deno-lint-ignore no-explicit-any
      await assert.rejects(client.write(value as any), TypeError);
      assert.equal(await client.write(enc("after")), 5);
      assert.equal(dec(await readExactly(client, 5)), "after", "the peer got exactly the valid write's bytes");
    });
    assert.equal(liveSocketCount(), before, "close() freed every native SSL");
  });

  Deno.test(`I/O contract: read(${what}) is a TypeError and the connection goes on`, async () => {
    const before = liveSocketCount();
    await withEcho(async (client) => {
      await client.write(enc("0123456789"));
      // deno-lint-ignore no-explicit-any
      await assert.rejects(client.read(value as any), TypeError);
      if (value instanceof Uint16Array) assert.deepEqual([...value], [0, 0, 0, 0], "nothing was read into it");
      assert.equal(dec(await readExactly(client, 10)), "0123456789", "no byte was lost or consumed");
    });
    assert.equal(liveSocketCount(), before, "close() freed every native SSL");
  });
}

Deno.test("I/O contract: the writable stream refuses a string chunk with a TypeError; the socket still works", async () => {
  await withEcho(async (client) => {
    const writer = client.writable.getWriter();
    // deno-lint-ignore no-explicit-any
    await assert.rejects(writer.write("text" as any), TypeError);
    writer.releaseLock();
    assert.equal(await client.write(enc("ok")), 2);
    assert.equal(dec(await readExactly(client, 2)), "ok");
  });
});
