/**
 * Attack: starting connection I/O from inside an OpenSSL callback. A
 * callback runs in the middle of SSL_read (or SSL_do_handshake); calling
 * `updateKeys()`, `requestClientCertificate()` or `exportKeyingMaterial()`
 * from there changes the state of the call in progress (a KeyUpdate or a
 * CertificateRequest scheduled behind the caller's back even though the call
 * reports failure) or clears the error queue the call is filling. Like every
 * other I/O method they must be refused there, before touching OpenSSL.
 *
 * The callbacks here are info callbacks for the peer's close_notify alert,
 * which run inside SSL_read after the handshake.
 */
import assert from "node:assert/strict";
import { InfoWhere, type SecureSocket, SecureSocketError, SecureSocketListener, VerifyMode } from "../../mod.ts";
import {
  clientContext,
  connectLocal,
  enc,
  fixture,
  fixturePath,
  type Outcome,
  readUntil,
  serverContext,
  settle,
  within,
} from "../helpers.ts";

/**
 * A TLS 1.3 connection on loopback: the server runs `serve` on its socket
 * once its handshake is done, the client runs `drive` once connected.
 */
async function withPair(
  options: { pha?: boolean },
  serve: (server: SecureSocket) => Promise<void>,
  drive: (client: SecureSocket) => Promise<void>,
): Promise<void> {
  using sctx = serverContext({
    maxVersion: "TLSv1.3",
    ...(options.pha ? { verifyMode: VerifyMode.Peer | VerifyMode.PostHandshake, ca: fixture("ca.pem") } : {}),
  });
  using cctx = clientContext({ postHandshakeAuth: options.pha ?? false });
  if (options.pha) {
    cctx.useCertificateChainFile(fixturePath("client-chain.pem"));
    cctx.usePrivateKeyFile(fixturePath("client.key"));
  }
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  try {
    const serving = (async () => {
      const socket = await listener.accept();
      try {
        await within(socket.handshake(), 10_000, "server handshake");
        await serve(socket);
      } finally {
        socket.close();
      }
    })();
    const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "client handshake");
    try {
      await within(drive(client), 10_000, "client");
    } finally {
      client.close();
    }
    await within(serving, 10_000, "server");
  } finally {
    listener.close();
  }
}

/** Runs `call` (inside a callback), its synchronous throw or its promise settled into an outcome. */
function attempt(call: () => unknown): Promise<Outcome<unknown>> {
  try {
    return settle(Promise.resolve(call()));
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

/**
 * The server sends "hello" and close_notify, then reads "bye". The client
 * runs `call` inside its info callback for that close_notify alert, reads to
 * the end, and sends "bye". Returns the call's outcome and the server's
 * handshake states.
 */
async function insideClientAlertCallback(call: (client: SecureSocket) => unknown) {
  const serverStates: string[] = [];
  let outcome = null as Promise<Outcome<unknown>> | null;
  await withPair({}, async (server) => {
    server.setInfoCallback((s) => serverStates.push(s.stateString));
    await server.write(enc("hello\n"));
    await server.closeWrite();
    assert.match(await readUntil(server, "bye\n"), /bye\n$/);
  }, async (client) => {
    client.setInfoCallback((socket, where) => {
      if (!outcome && where === InfoWhere.ReadAlert) outcome = attempt(() => call(socket));
    });
    assert.match(await readUntil(client, "hello\n"), /hello\n$/);
    assert.equal(await client.read(new Uint8Array(16)), null);
    await client.write(enc("bye\n"));
    await client.closeWrite();
  });
  assert.ok(outcome, "the client's info callback ran for the close_notify alert");
  return { result: await outcome, serverStates };
}

Deno.test("attack: updateKeys() from inside a callback schedules a KeyUpdate behind a refused call", async () => {
  const { result, serverStates } = await insideClientAlertCallback((socket) => socket.updateKeys(true));
  assert.ok(!result.ok, "updateKeys() inside a callback is refused");
  assert.ok(result.error instanceof SecureSocketError, String(result.error));
  assert.deepEqual(
    serverStates.filter((s) => /key update/i.test(s)),
    [],
    "the refused call sent no KeyUpdate to the server",
  );
});

Deno.test("attack: exportKeyingMaterial() from inside a callback clears the error queue of the call in progress", async () => {
  const { result } = await insideClientAlertCallback((socket) =>
    socket.exportKeyingMaterial("EXPERIMENTAL secsock", 32)
  );
  assert.ok(!result.ok, "exportKeyingMaterial() inside a callback is refused");
  assert.ok(result.error instanceof SecureSocketError, String(result.error));
});

Deno.test("attack: requestClientCertificate() from inside a callback sends a CertificateRequest behind a refused call", async () => {
  // The callback: the server's, for the client's close_notify alert (read inside SSL_read).
  const clientStates: string[] = [];
  let outcome = null as Promise<Outcome<unknown>> | null;
  let peerAfter: string | null | undefined;
  await withPair(
    { pha: true },
    async (server) => {
      server.setInfoCallback((socket, where) => {
        if (outcome || where !== InfoWhere.ReadAlert) return;
        outcome = attempt(() => socket.requestClientCertificate());
      });
      assert.match(await readUntil(server, "one\n"), /one\n$/);
      assert.equal(await server.read(new Uint8Array(16)), null);
      // A CertificateRequest scheduled behind the refusal would leave with this.
      await server.write(enc("two\n"));
      await server.closeWrite();
      peerAfter = server.peerCertificate?.subject ?? null;
    },
    async (client) => {
      client.setInfoCallback((s) => clientStates.push(s.stateString));
      await client.write(enc("one\n"));
      await client.closeWrite();
      // Whatever the server sends now is read to its end (or failure).
      await settle(readUntil(client, "never"));
    },
  );
  assert.ok(outcome, "the server's info callback ran for the close_notify alert");
  const result = await outcome;
  assert.ok(!result.ok, "requestClientCertificate() inside a callback is refused");
  assert.ok(result.error instanceof SecureSocketError, String(result.error));
  assert.deepEqual(
    clientStates.filter((s) => /certificate request/i.test(s)),
    [],
    "the client never received a CertificateRequest",
  );
  assert.equal(peerAfter, null, "the server holds no client certificate");
});
