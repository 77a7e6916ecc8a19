/**
 * Pinned, documented behaviour (not a defence): on a client with
 * `VerifyMode.None`, OpenSSL still runs the verify callback but goes on
 * whatever it answers, so a callback that rejects (a pin, say) does not stop
 * the handshake. Documented on VerifyCallback, setVerify and
 * setCertificateVerifyCallback; a change here must change those words.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, SecureSocket, VerifyMode } from "../../mod.ts";
import { clientContext, stopPeer, within } from "../helpers.ts";
import { opensslServer, serverCertArgs } from "../peers/openssl.ts";

Deno.test("VerifyMode.None client: a verify callback's false is ignored (observes, cannot reject)", async () => {
  const peer = await opensslServer(serverCertArgs("wronghost"));
  try {
    const seen: number[] = [];
    using none = clientContext({ verifyMode: VerifyMode.None });
    none.setCertificateVerifyCallback((_ok, store) => {
      seen.push(store.depth);
      return false;
    });
    const socket = await within(SecureSocket.connect(none, { hostname: "127.0.0.1", port: peer.port }), 10_000, "none");
    assert.equal(socket.peerCertificate?.subject, "CN=wrong.example,O=secsock");
    socket.close();
    assert.ok(seen.includes(0), `the callback ran on the leaf: ${seen}`);
    // Under a verifying mode the same callback rejects.
    using verifying = clientContext();
    verifying.setCertificateVerifyCallback(() => false);
    await assert.rejects(
      within(
        SecureSocket.connect(verifying, { hostname: "127.0.0.1", servername: "wrong.example", port: peer.port }),
        10_000,
        "peer",
      ),
      CertificateVerificationError,
    );
  } finally {
    await stopPeer(peer);
  }
});
