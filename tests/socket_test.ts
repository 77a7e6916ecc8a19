import assert from "node:assert/strict";
import { SecureSocket, SocketClosedError } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  dec,
  echoServer,
  enc,
  randomBytes,
  roundTrip,
  serverContext,
  sha256,
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
