/**
 * SecureSocketDuplex (node.ts) against secsock servers on loopback: Node's
 * stream contract (end() sends close_notify, half-close, backpressure from a
 * paused reader to the sending peer, a truncated stream as an 'error' event
 * with TruncatedStreamError) and the tls.TLSSocket-like accessors.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { type SecureSocket, SecureSocketListener, TruncatedStreamError } from "../mod.ts";
import { SecureSocketDuplex } from "../node.ts";
import {
  acceptHandshake,
  clientContext,
  concat,
  connectLocal,
  delay,
  echoServer,
  randomBytes,
  serverContext,
  settle,
  sha256,
  within,
} from "./helpers.ts";

const TIMEOUT = 15_000;

async function collect(duplex: SecureSocketDuplex): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of duplex) chunks.push(chunk);
  return concat(chunks);
}

Deno.test("duplex: TLS details as tls.TLSSocket offers them", async () => {
  const server = serverContext();
  const echo = echoServer(server);
  const ctx = clientContext();
  const duplex = new SecureSocketDuplex(await connectLocal(ctx, echo.port));
  try {
    assert.equal(duplex.encrypted, true);
    assert.match(duplex.getProtocol() ?? "", /^TLSv1\.[23]$/);
    assert.equal(duplex.getCipher()?.version, duplex.getProtocol());
    assert.equal(duplex.authorized, true);
    assert.equal(duplex.authorizationError, null);
    assert.equal(duplex.alpnProtocol, false);
    assert.equal(duplex.remotePort, echo.port);
    assert.equal(duplex.remoteAddress, "127.0.0.1");
    assert.equal(duplex.remoteFamily, "IPv4");
    const peer = duplex.getPeerCertificate(true) as Record<string, unknown> & {
      subject: Record<string, string>;
      issuerCertificate: { subject: Record<string, string> };
    };
    assert.equal(peer.subject.CN, "localhost");
    assert.equal(peer.issuerCertificate.subject.CN, "secsock Test Intermediate CA");
    assert.equal(duplex.getPeerX509Certificate()?.subject, "CN=localhost,O=secsock");
    assert.equal(duplex.getPeerCertificateChain().length, 2);
    duplex.end();
    await within(collect(duplex), TIMEOUT, "the end");
    assert.equal(duplex.getPeerCertificate(), null, "null once destroyed, as Node");
  } finally {
    duplex.destroy();
    ctx.close();
    await echo.close();
    server.close();
  }
});

Deno.test("duplex: end() sends close_notify after the data; the peer's close_notify ends the readable side", async () => {
  const server = serverContext();
  const echo = echoServer(server);
  const ctx = clientContext();
  const duplex = new SecureSocketDuplex(await connectLocal(ctx, echo.port), { allowHalfOpen: true });
  try {
    const data = randomBytes(300_000);
    const errors: unknown[] = [];
    duplex.on("error", (e) => errors.push(e));
    const received = collect(duplex);
    duplex.write(data.subarray(0, 1000));
    duplex.end(data.subarray(1000));
    // The echo server answers everything and closes only after our close_notify.
    const echoed = await within(received, TIMEOUT, "the echo");
    assert.equal(await sha256(echoed), await sha256(data));
    if (!duplex.closed) await within(once(duplex, "close"), TIMEOUT, "close");
    assert.deepEqual(errors, []);
    assert.equal(duplex.bytesWritten, data.length);
    assert.equal(duplex.bytesRead, data.length);
    assert.deepEqual(echo.errors, []);
  } finally {
    duplex.destroy();
    ctx.close();
    await echo.close();
    server.close();
  }
});

/** A secsock server on loopback running `serve` on the first connection. */
async function oneShot(serve: (socket: SecureSocket) => Promise<void>) {
  const server = serverContext();
  const listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const ctx = clientContext();
  const accepted = acceptHandshake(listener);
  const client = await connectLocal(ctx, listener.addr.port);
  const socket = await accepted;
  const served = settle(serve(socket));
  return {
    client,
    served,
    async close() {
      socket.close();
      await served;
      listener.close();
      ctx.close();
      server.close();
    },
  };
}

Deno.test("duplex: a connection cut without close_notify is an 'error' event with TruncatedStreamError", async () => {
  const peer = await oneShot(async (socket) => {
    await socket.write(new TextEncoder().encode("partial"));
    socket.close(); // TCP close, no close_notify
  });
  const duplex = new SecureSocketDuplex(peer.client);
  try {
    const chunks: Uint8Array[] = [];
    duplex.on("data", (c) => chunks.push(c));
    const [error] = await within(once(duplex, "error"), TIMEOUT, "the error event");
    assert.ok(error instanceof TruncatedStreamError, String(error));
    assert.equal(new TextDecoder().decode(concat(chunks)), "partial");
    assert.equal(duplex.destroyed, true);
  } finally {
    duplex.destroy();
    await peer.close();
  }
});

Deno.test("duplex: a paused reader holds the sending peer back (backpressure); resuming delivers every byte", async () => {
  const data = randomBytes(8 * 1024 * 1024);
  let sent = false;
  const peer = await oneShot(async (socket) => {
    await socket.write(data);
    sent = true;
    await socket.closeWrite();
  });
  const duplex = new SecureSocketDuplex(peer.client);
  try {
    duplex.pause();
    duplex.read(0); // let the stream fill up to its high-water mark, no further
    await delay(500);
    assert.equal(sent, false, "the peer finished writing 8 MiB although nobody read");
    assert.ok(duplex.readableLength <= duplex.readableHighWaterMark + 16384, `buffered ${duplex.readableLength}`);
    const received = await within(collect(duplex), TIMEOUT, "all the data");
    assert.equal(received.length, data.length);
    assert.equal(await sha256(received), await sha256(data));
    assert.equal(sent, true);
  } finally {
    duplex.destroy();
    await peer.close();
  }
});
