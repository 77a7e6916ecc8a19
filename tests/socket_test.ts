import assert from "node:assert/strict";
import { SecureSocket, SecureSocketListener, SocketClosedError } from "../mod.ts";
import {
  acceptHandshake,
  clientContext,
  concat,
  connectLocal,
  dec,
  delay,
  echoServer,
  enc,
  randomBytes,
  roundTrip,
  serverContext,
  sha256,
  writeAll,
} from "./helpers.ts";

Deno.test("secsock client echoes through a secsock server (TLS 1.3)", async () => {
  using server = serverContext();
  using client = clientContext();
  const echo = echoServer(server);
  const socket = await connectLocal(client, echo.port);
  assert.equal(socket.protocol, "TLSv1.3");
  assert.equal(socket.peerCertificate?.subject, "CN=localhost,O=secsock");
  assert.equal(dec(await roundTrip(socket, enc("hello"))), "hello");
  socket.close();
  await echo.close();
  assert.deepEqual(echo.errors, []);
});

Deno.test("writes from 0 bytes to 8 MiB arrive byte-exact", async () => {
  using server = serverContext();
  using client = clientContext();
  const echo = echoServer(server);
  const socket = await connectLocal(client, echo.port);
  const payload = randomBytes(8 * 1024 * 1024 + 17);
  assert.equal(await socket.write(new Uint8Array(0)), 0);
  const received = await roundTrip(socket, payload);
  assert.equal(received.length, payload.length);
  assert.equal(await sha256(received), await sha256(payload));
  socket.close();
  await echo.close();
});

Deno.test("use after close is a SocketClosedError and close is idempotent", async () => {
  using server = serverContext();
  using client = clientContext();
  const echo = echoServer(server);
  const socket = await connectLocal(client, echo.port);
  socket.close();
  socket.close();
  await assert.rejects(socket.read(new Uint8Array(10)), SocketClosedError);
  await assert.rejects(socket.write(enc("x")), SocketClosedError);
  assert.throws(() => socket.peerCertificate, SocketClosedError);
  await echo.close();
  void SecureSocket;
});

/** Reads with a rotating set of buffer sizes (below, at and above the socket's own transport buffers) until EOF. */
async function readWithSizes(socket: SecureSocket, sizes: number[]): Promise<Uint8Array<ArrayBuffer>> {
  const chunks: Uint8Array[] = [];
  for (let i = 0;; i++) {
    const buf = new Uint8Array(sizes[i % sizes.length]);
    const n = await socket.read(buf);
    if (n === null) return concat(chunks);
    assert.ok(n > 0 && n <= buf.length, `read returned ${n} for a ${buf.length}-byte buffer`);
    chunks.push(buf.slice(0, n));
  }
}

Deno.test("reads into buffers of every size, quiet and busy, return the exact byte stream", async () => {
  // Quiet connections read ciphertext straight into a large enough caller's
  // buffer, busy ones into their own; pauses between bursts switch between the two.
  const sizes = [1, 7, 100, 1023, 1024, 1025, 4096, 16384, 16389, 65536, 200_000];
  using server = serverContext();
  using client = clientContext();
  const listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const socket = await acceptHandshake(listener);
    try {
      const received = await readWithSizes(socket, [...sizes].reverse());
      await writeAll(socket, received);
      await socket.closeWrite();
      return received;
    } finally {
      socket.close();
    }
  })();
  const socket = await connectLocal(client, listener.addr.port);
  const payload = randomBytes(1_500_000);
  const reading = readWithSizes(socket, sizes);
  let offset = 0;
  for (let i = 0; offset < payload.length; i++) {
    const length = Math.min(payload.length - offset, [3, 1000, 1024, 5000, 16384, 70_000, 300_000][i % 7]);
    await socket.write(payload.subarray(offset, offset + length));
    offset += length;
    if (i % 5 === 4) await delay(5); // let both readers go quiet
  }
  await socket.closeWrite();
  const [echoed, received] = await Promise.all([reading, served]);
  assert.equal(await sha256(received), await sha256(payload));
  assert.equal(await sha256(echoed), await sha256(payload));
  socket.close();
  listener.close();
});
