/**
 * Attack (on availability): a TLS 1.3 server asks for a client certificate
 * after the handshake, and the client's certificate callback answers
 * asynchronously (it looks the certificate up, asks a token, …). OpenSSL
 * suspends the client's SSL_read (SSL_ERROR_WANT_X509_LOOKUP) until the
 * answer is there; a read path that does not know this suspension fails the
 * connection, so any server can break such clients by requesting a
 * certificate. The read must wait for the answer and go on.
 */
import assert from "node:assert/strict";
import { SecureSocketListener, VerifyMode } from "../../mod.ts";
import {
  clientContext,
  connectLocal,
  delay,
  enc,
  fixture,
  fixtureFingerprint,
  readUntil,
  serverContext,
  settle,
  within,
} from "../helpers.ts";

const CLIENT_FP = fixtureFingerprint("client.pem");

const VARIANTS = [
  { reader: "read()", writeWhileWaiting: false },
  { reader: "readable", writeWhileWaiting: false },
  { reader: "read()", writeWhileWaiting: true },
] as const;

for (const { reader, writeWhileWaiting } of VARIANTS) {
  const what = `${reader}${writeWhileWaiting ? ", and a write() while the answer is pending" : ""}`;
  Deno.test(`attack: a post-handshake CertificateRequest answered by an async client-certificate callback (${what})`, async () => {
    using sctx = serverContext({
      maxVersion: "TLSv1.3",
      verifyMode: VerifyMode.Peer | VerifyMode.PostHandshake,
      ca: fixture("ca.pem"),
    });
    using cctx = clientContext({ postHandshakeAuth: true });
    let asked = 0;
    let early: Promise<unknown> | null = null;
    cctx.setClientCertificateCallback(async (socket) => {
      asked++;
      // SSL_write must first finish the exchange, so it meets the same suspension.
      if (writeWhileWaiting) setTimeout(() => early = settle(socket.write(enc("early\n"))), 0);
      await delay(20);
      return {
        certificate: fixture("client.pem"),
        privateKey: fixture("client.key"),
        chain: [fixture("intermediate.pem")],
      };
    });
    const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
    try {
      const serving = settle((async () => {
        const socket = await listener.accept();
        try {
          await socket.handshake();
          const before = socket.peerCertificate;
          await socket.requestClientCertificate();
          await socket.write(enc("ping\n"));
          const pong = await readUntil(socket, "pong\n");
          const after = socket.peerCertificate?.fingerprint256 ?? null;
          await socket.closeWrite();
          return { before, pong, after };
        } finally {
          socket.close();
        }
      })());
      const client = await within(connectLocal(cctx, listener.addr.port), 10_000, "client handshake");
      try {
        const ping = reader === "read()" ? readUntil(client, "ping\n") : (async () => {
          const r = client.readable.getReader();
          try {
            const { value } = await r.read();
            return new TextDecoder().decode(value);
          } finally {
            r.releaseLock();
          }
        })();
        assert.equal(await within(ping, 10_000, "ping (the client's read across the certificate request)"), "ping\n");
        await client.write(enc("pong\n"));
        const served = await within(serving, 10_000, "server");
        assert.ok(served.ok, `server: ${!served.ok && served.error}`);
        assert.equal(served.value.before, null, "no certificate during the handshake");
        assert.equal(served.value.pong, writeWhileWaiting ? "early\npong\n" : "pong\n");
        if (writeWhileWaiting) assert.deepEqual(await early, { ok: true, value: 6 });
        assert.equal(served.value.after, CLIENT_FP, "the server verified the certificate the callback chose");
        assert.equal(asked, 1, "the callback was asked once");
      } finally {
        client.close();
      }
    } finally {
      listener.close();
    }
  });
}
