/**
 * A client that names no host verifies no host: any certificate from a
 * trusted CA, issued for any name, would do. Every client entry point must
 * verify a name (DNS or IP) or fail with a TypeError, unless the caller opts
 * out in words (`verifyHostname: false`, or a context with VerifyMode.None).
 * The server is `openssl s_server` presenting the wronghost fixture: a valid
 * chain to the trusted root, issued for wrong.example.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, SecureSocket, SecureSocketContext, VerifyMode } from "../../mod.ts";
import { clientContext, fixture, stopPeer, within } from "../helpers.ts";
import { opensslServer, serverCertArgs } from "../peers/openssl.ts";

const IP_ADDRESS_MISMATCH = 64;
const UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20;

/** Runs `fn` against an s_server presenting wrong.example's certificate (valid chain, wrong name). */
async function withWrongHostServer(fn: (port: number) => Promise<void>): Promise<void> {
  const peer = await opensslServer(serverCertArgs("wronghost"));
  try {
    await fn(peer.port);
  } finally {
    await stopPeer(peer);
  }
}

/** Plain TCP to the server, upgraded with startTls; returns the socket or the error. */
async function startTlsTo(
  port: number,
  ctx: SecureSocketContext,
  options: Parameters<typeof SecureSocket.startTls>[2],
): Promise<SecureSocket | Error> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return await within(SecureSocket.startTls(conn, ctx, options), 10_000, "startTls").catch((e) => e);
}

Deno.test("startTls client without a host name: refused with a TypeError, not connected to a server of any name", async () => {
  using ctx = clientContext();
  await withWrongHostServer(async (port) => {
    for (const options of [{}, undefined, { hostname: undefined }]) {
      const outcome = await startTlsTo(port, ctx, options);
      if (outcome instanceof SecureSocket) {
        const subject = outcome.peerCertificate?.subject;
        outcome.close();
        assert.fail(`startTls(conn, ctx, ${JSON.stringify(options)}) accepted ${subject}`);
      }
      assert.ok(outcome instanceof TypeError, String(outcome));
      assert.match(outcome.message, /hostname|servername/);
      assert.match(outcome.message, /verifyHostname: false/);
    }
  });
});

Deno.test("constructor without a host name, then connect(): the host connected to is verified", async () => {
  using ctx = clientContext();
  await withWrongHostServer(async (port) => {
    const socket = new SecureSocket(ctx);
    const error = await within(socket.connect({ hostname: "127.0.0.1", port }), 10_000, "connect").then(
      () => null,
      (e) => e,
    );
    socket.close();
    assert.ok(error instanceof CertificateVerificationError, String(error));
    assert.equal(error.code, IP_ADDRESS_MISMATCH);
  });
});

Deno.test("opting out in words: verifyHostname: false accepts any name, still verifies the chain", async () => {
  using ctx = clientContext();
  await withWrongHostServer(async (port) => {
    for (const options of [{ verifyHostname: false }, { hostname: "localhost", verifyHostname: false }]) {
      const outcome = await startTlsTo(port, ctx, options);
      assert.ok(outcome instanceof SecureSocket, `${JSON.stringify(options)}: ${outcome}`);
      assert.equal(outcome.peerCertificate?.subject, "CN=wrong.example,O=secsock");
      outcome.close();
    }
    const viaConnect = await SecureSocket.connect(ctx, { hostname: "127.0.0.1", port, verifyHostname: false });
    assert.equal(viaConnect.peerCertificate?.subject, "CN=wrong.example,O=secsock");
    viaConnect.close();
    // The chain still counts: a client trusting another root refuses the same server.
    using other = new SecureSocketContext({ useSystemTrust: false, ca: fixture("other-ca.pem") });
    const refused = await startTlsTo(port, other, { verifyHostname: false });
    assert.ok(refused instanceof CertificateVerificationError, String(refused));
    assert.equal(refused.code, UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  });
});

Deno.test("verifyHostname takes a boolean only, and true with no name is still a TypeError", async () => {
  using ctx = clientContext();
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new SecureSocket(ctx, { hostname: "localhost", verifyHostname: "no" as any }), TypeError);
  await withWrongHostServer(async (port) => {
    const outcome = await startTlsTo(port, ctx, { verifyHostname: true });
    if (outcome instanceof SecureSocket) outcome.close();
    assert.ok(outcome instanceof TypeError, String(outcome));
  });
});

Deno.test("a client context with VerifyMode.None (no verification, by its own words) needs no name", async () => {
  using ctx = clientContext({ verifyMode: VerifyMode.None });
  await withWrongHostServer(async (port) => {
    const outcome = await startTlsTo(port, ctx, {});
    assert.ok(outcome instanceof SecureSocket, String(outcome));
    assert.equal(outcome.peerCertificate?.subject, "CN=wrong.example,O=secsock");
    outcome.close();
  });
});
