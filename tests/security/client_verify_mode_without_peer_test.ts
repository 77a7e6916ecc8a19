/**
 * Attack: a client context whose verifyMode has FailIfNoPeerCert or
 * ClientOnce but not Peer. OpenSSL clients verify the server under any
 * non-zero mode, so the chain is judged; if secsock read such a mode as
 * "verifies nothing", it asked for no host name (a certificate for any name
 * from a trusted CA got in) and reported chain failures as plain
 * HandshakeErrors. On a client, only VerifyMode.None verifies nothing.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, SecureSocket, type SecureSocketContext, VerifyMode } from "../../mod.ts";
import { clientContext, fixturePath, stopPeer, within } from "../helpers.ts";
import { opensslServer, serverCertArgs } from "../peers/openssl.ts";

const MODES_WITHOUT_PEER = [
  VerifyMode.FailIfNoPeerCert,
  VerifyMode.ClientOnce,
  VerifyMode.FailIfNoPeerCert | VerifyMode.ClientOnce,
];
const HOSTNAME_MISMATCH = 62;
const SELF_SIGNED = 18;

/** startTls over a plain connection to 127.0.0.1:port; the socket or the error. */
async function startTlsTo(
  port: number,
  ctx: SecureSocketContext,
  options: Parameters<typeof SecureSocket.startTls>[2],
): Promise<SecureSocket | Error> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return await within(SecureSocket.startTls(conn, ctx, options), 10_000, "startTls").catch((e) => e);
}

function refused(outcome: SecureSocket | Error, what: string): Error {
  if (outcome instanceof SecureSocket) {
    const subject = outcome.peerCertificate?.subject;
    outcome.close();
    assert.fail(`${what}: accepted ${subject}`);
  }
  return outcome;
}

Deno.test("client verify mode without Peer: a name is still required and verified (wrong.example's certificate)", async () => {
  const peer = await opensslServer(serverCertArgs("wronghost"));
  try {
    for (const mode of MODES_WITHOUT_PEER) {
      using ctx = clientContext({ verifyMode: mode });
      const nameless = refused(await startTlsTo(peer.port, ctx, {}), `mode ${mode}, no host name`);
      assert.ok(nameless instanceof TypeError, `mode ${mode}: ${nameless}`);
      const wrong = refused(await startTlsTo(peer.port, ctx, { hostname: "localhost" }), `mode ${mode}, localhost`);
      assert.ok(wrong instanceof CertificateVerificationError, `mode ${mode}: ${wrong}`);
      assert.equal(wrong.code, HOSTNAME_MISMATCH);
      // The name it was issued for is accepted: the mode verifies, it does not refuse everything.
      const right = await startTlsTo(peer.port, ctx, { hostname: "wrong.example" });
      assert.ok(right instanceof SecureSocket, `mode ${mode}, wrong.example: ${right}`);
      right.close();
    }
    // VerifyMode.None is the one mode that verifies nothing, and says so in words.
    using none = clientContext({ verifyMode: VerifyMode.None });
    const accepted = await startTlsTo(peer.port, none, {});
    assert.ok(accepted instanceof SecureSocket, String(accepted));
    accepted.close();
  } finally {
    await stopPeer(peer);
  }
});

Deno.test("client verify mode without Peer: a chain failure is a CertificateVerificationError (self-signed server)", async () => {
  const peer = await opensslServer(["-cert", fixturePath("selfsigned.pem"), "-key", fixturePath("selfsigned.key")]);
  try {
    for (const mode of MODES_WITHOUT_PEER) {
      using ctx = clientContext({ verifyMode: mode });
      const error = refused(await startTlsTo(peer.port, ctx, { hostname: "localhost" }), `mode ${mode}`);
      assert.ok(error instanceof CertificateVerificationError, `mode ${mode}: ${error}`);
      assert.equal(error.code, SELF_SIGNED);
      assert.equal(error.depth, 0);
    }
  } finally {
    await stopPeer(peer);
  }
});
