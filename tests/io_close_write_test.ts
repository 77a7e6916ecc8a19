/**
 * I/O contract for closeWrite(): it resolves only once close_notify was sent,
 * it is ordered with write() and the post-handshake messages (updateKeys(),
 * requestClientCertificate()), and a refusal inside a callback has no effect.
 *
 * - closeWrite() resolved although no close_notify was sent: after the write
 *   side had failed, and when SSL_shutdown refused (a TLS 1.3 post-handshake
 *   authentication whose asynchronous client-certificate answer was pending:
 *   the server then saw a truncated stream).
 * - A closeWrite() refused inside an OpenSSL callback was kept as "the"
 *   closeWrite(): the write side was dead for good, without close_notify.
 * - updateKeys() right after closeWrite() sent a KeyUpdate after our
 *   close_notify; after closeWrite() settled it failed with "Broken pipe".
 */
import assert from "node:assert/strict";
import { InfoWhere, type SecureSocket, SecureSocketError, SecureSocketListener, VerifyMode } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  delay,
  enc,
  fixture,
  fixturePath,
  serverContext,
  settle,
  within,
} from "./helpers.ts";

/** A Deno TLS server that reads a little, then drops the connection with data unread (a reset). */
function resettingServer() {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(fixturePath("server-chain.pem")),
    key: Deno.readTextFileSync(fixturePath("server.key")),
  });
  const accepting = (async () => {
    for await (const conn of listener) {
      try {
        await (conn as Deno.TlsConn).handshake();
        await conn.read(new Uint8Array(1000));
      } catch {
        // the client went away first
      }
      conn.close();
    }
  })().catch(() => {});
  return { port: listener.addr.port, close: async () => (listener.close(), await accepting) };
}

Deno.test("I/O contract: closeWrite() rejects when the write side failed (issued before or after the failure)", async () => {
  const server = resettingServer();
  using cctx = clientContext();
  const big = new Uint8Array(16 * 1024 * 1024);
  try {
    const first = await within(connectLocal(cctx, server.port), 10_000, "handshake");
    try {
      const write = settle(first.write(big));
      const closing = settle(first.closeWrite()); // queued behind the write that will fail
      const [w, c] = await within(Promise.all([write, closing]), 10_000, "write and closeWrite");
      assert.ok(!w.ok, "the write failed");
      assert.ok(!c.ok, "closeWrite() must not resolve: no close_notify was sent");
      assert.equal(c.error, w.error, "closeWrite() reports the write side's failure");
    } finally {
      first.close();
    }
    const second = await within(connectLocal(cctx, server.port), 10_000, "handshake");
    try {
      const w = await within(settle(second.write(big)), 10_000, "write");
      assert.ok(!w.ok, "the write failed");
      const c = await within(settle(second.closeWrite()), 10_000, "closeWrite");
      assert.ok(!c.ok, "closeWrite() after the failure must reject");
      assert.equal(c.error, w.error);
    } finally {
      second.close();
    }
  } finally {
    await server.close();
  }
});

Deno.test("I/O contract: closeWrite() during post-handshake auth with a pending async certificate answer sends close_notify", async () => {
  using sctx = serverContext({
    maxVersion: "TLSv1.3",
    verifyMode: VerifyMode.Peer | VerifyMode.PostHandshake,
    ca: fixture("ca.pem"),
  });
  using cctx = clientContext({ postHandshakeAuth: true });
  cctx.setClientCertificateCallback(async () => {
    await delay(500);
    return {
      certificate: fixture("client.pem"),
      privateKey: fixture("client.key"),
      chain: [fixture("intermediate.pem")],
    };
  });
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  try {
    const served = (async () => {
      const server = await listener.accept();
      try {
        await server.handshake();
        await server.requestClientCertificate();
        await server.write(enc("ping"));
        const end = await settle(server.read(new Uint8Array(100)));
        return { end, subject: server.peerCertificate?.subject ?? null };
      } finally {
        server.close();
      }
    })();
    const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "handshake");
    try {
      // This read takes the CertificateRequest; the callback's answer is pending for 500 ms.
      const reading = settle(client.read(new Uint8Array(100)));
      await delay(150);
      const closed = await within(settle(client.closeWrite()), 10_000, "closeWrite");
      assert.ok(closed.ok, `closeWrite(): ${!closed.ok && closed.error}`);
      const read = await within(reading, 10_000, "the client's read");
      assert.deepEqual(read, { ok: true, value: 4 });
      const { end, subject } = await within(served, 10_000, "server");
      assert.deepEqual(end, { ok: true, value: null }, "the server read a clean close_notify");
      assert.match(subject ?? "", /secsock client/, "the server got the client certificate first");
    } finally {
      client.close();
    }
  } finally {
    listener.close();
  }
});

/** A pair on loopback: the server records what it reads (text, then <close_notify> or <ErrorName>). */
async function withRecordingServer(
  drive: (client: SecureSocket) => Promise<void>,
  options: { onServer?: (server: SecureSocket) => void } = {},
): Promise<string> {
  using sctx = serverContext();
  using cctx = clientContext();
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  try {
    const served = (async () => {
      const server = await listener.accept();
      options.onServer?.(server);
      const parts: string[] = [];
      try {
        await server.handshake();
        await server.write(enc("x")); // TLS 1.3: after the session tickets
        const buffer = new Uint8Array(65536);
        for (;;) {
          const n = await server.read(buffer);
          if (n === null) {
            parts.push("<close_notify>");
            break;
          }
          parts.push(new TextDecoder().decode(buffer.subarray(0, n)));
        }
      } catch (error) {
        parts.push(`<${(error as Error).constructor.name}>`);
      } finally {
        server.close();
      }
      return parts.join("");
    })();
    const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "handshake");
    try {
      await within(drive(client), 10_000, "client");
    } finally {
      client.close();
    }
    return await within(served, 10_000, "server");
  } finally {
    listener.close();
  }
}

Deno.test("I/O contract: closeWrite() refused inside a callback leaves the write side working", async () => {
  const seen = await withRecordingServer(async (client) => {
    let inside: Promise<unknown> | null = null;
    client.setInfoCallback((socket) => {
      inside ??= settle(socket.closeWrite());
    });
    await client.read(new Uint8Array(10)); // the info callback runs inside this SSL_read
    client.setInfoCallback(null);
    const refused = await inside!;
    assert.ok(refused && !(refused as { ok: boolean }).ok, "refused inside the callback");
    assert.equal(await client.write(enc("later")), 5);
    await client.closeWrite();
  });
  assert.equal(seen, "later<close_notify>");
});

Deno.test("I/O contract: write() after closeWrite() is refused the same way with or without writes queued", async () => {
  const seen = await withRecordingServer(async (client) => {
    await client.read(new Uint8Array(10));
    const queued = client.write(new Uint8Array(1024 * 1024).fill(0x61)); // still in flight
    const closing = client.closeWrite();
    const busy = await settle(client.write(enc("too late")));
    await queued;
    await closing;
    const idle = await settle(client.write(enc("too late")));
    for (const outcome of [busy, idle]) {
      assert.ok(!outcome.ok && outcome.error instanceof SecureSocketError, `${JSON.stringify(outcome)}`);
      assert.match((outcome.error as Error).message, /closeWrite/);
    }
  });
  assert.equal(seen, `${"a".repeat(1024 * 1024)}<close_notify>`);
});

Deno.test("I/O contract: updateKeys() follows the writes issued before it and is refused after closeWrite()", async () => {
  const SIZE = 1024 * 1024;
  // Bytes the server had received by the end of the read() during which it took the KeyUpdate.
  let keyUpdateAfter = -1;
  let keyUpdateSeen = false;
  let received = 0;
  const seen = await withRecordingServer(async (client) => {
    await client.read(new Uint8Array(10));
    const write = client.write(new Uint8Array(SIZE).fill(0x62));
    const update = client.updateKeys(); // queued behind the 1 MiB
    await Promise.all([write, update]);
    const closing = client.closeWrite();
    const rightAfter = await settle(client.updateKeys());
    await closing;
    const later = await settle(client.updateKeys());
    const pha = await settle(client.requestClientCertificate());
    for (const outcome of [rightAfter, later, pha]) {
      assert.ok(!outcome.ok && outcome.error instanceof SecureSocketError, `${JSON.stringify(outcome)}`);
      assert.match((outcome.error as Error).message, /closeWrite/);
    }
  }, {
    onServer: (server) => {
      const read = server.read.bind(server);
      server.read = async (p) => {
        const n = await read(p);
        if (n !== null) received += n;
        if (keyUpdateSeen && keyUpdateAfter < 0) keyUpdateAfter = received;
        return n;
      };
      server.setInfoCallback((socket, where) => {
        if ((where & InfoWhere.Loop) && /key ?update/i.test(socket.stateString)) keyUpdateSeen = true;
      });
    },
  });
  assert.equal(seen, `${"b".repeat(SIZE)}<close_notify>`, "nothing after close_notify, no failure");
  assert.equal(
    keyUpdateAfter,
    SIZE,
    "the KeyUpdate came with the last of the bytes written before it, not among the first",
  );
});
