/**
 * Attack on error reporting: a client with VerifyMode.None talks to a server
 * whose certificate does not verify (self-signed), which it accepted on
 * purpose, and then the handshake fails for another reason. The error must
 * be a HandshakeError naming that reason, not a CertificateVerificationError
 * blaming the certificate the application chose not to verify (which would
 * send it looking in the wrong place, or retrying with verification "fixed").
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, HandshakeError, type TlsVersion, VerifyMode } from "../../mod.ts";
import { clientContext, connectLocal, fixturePath, settle, stopPeer, VERSIONS, within } from "../helpers.ts";
import { opensslServer, versionFlag } from "../peers/openssl.ts";

const SELF_SIGNED = ["-cert", fixturePath("selfsigned.pem"), "-key", fixturePath("selfsigned.key")];

/** Connects to a self-signed openssl s_server with `serverArgs`; returns the client's error (or null). */
async function failure(
  serverArgs: string[],
  client: { verifyMode: number; maxVersion?: TlsVersion; refuseOcsp?: boolean },
): Promise<unknown> {
  const peer = await opensslServer([...SELF_SIGNED, ...serverArgs]);
  using ctx = clientContext({
    verifyMode: client.verifyMode,
    ...(client.maxVersion ? { maxVersion: client.maxVersion } : {}),
    ...(client.refuseOcsp ? { requestOcsp: true } : {}),
  });
  if (client.refuseOcsp) ctx.setOcspResponseCallback(() => false);
  try {
    const outcome = await settle(within(connectLocal(ctx, peer.port), 10_000, "handshake"));
    if (outcome.ok) outcome.value.close();
    return outcome.ok ? null : outcome.error;
  } finally {
    await stopPeer(peer);
  }
}

function assertHandshakeError(error: unknown, what: string): void {
  assert.ok(error instanceof HandshakeError, `${what}: expected a HandshakeError, got ${error}`);
  assert.ok(!(error instanceof CertificateVerificationError), `${what}: blamed the unverified certificate`);
}

for (const version of VERSIONS) {
  Deno.test(`verify attack: VerifyMode.None reports unrelated handshake failures as certificate failures (${version})`, async () => {
    const none = VerifyMode.None;
    // The OCSP callback refuses the (missing) staple, after the certificate.
    assertHandshakeError(
      await failure([versionFlag(version)], { verifyMode: none, refuseOcsp: true }),
      "OCSP callback refused",
    );
    if (version === "TLSv1.2") {
      // The server demands a client certificate the client does not have (in
      // TLS 1.3 the client's handshake completes before the server decides).
      assertHandshakeError(
        await failure(["-tls1_2", "-Verify", "1"], { verifyMode: none }),
        "the server demanded a client certificate",
      );
    } else {
      // No common protocol version.
      assertHandshakeError(
        await failure(["-tls1_3"], { verifyMode: none, maxVersion: "TLSv1.2" }),
        "no common protocol version",
      );
    }
    // Control: verifying, the same server's certificate is what fails.
    const verified = await failure([versionFlag(version)], { verifyMode: VerifyMode.Peer });
    assert.ok(verified instanceof CertificateVerificationError, `${verified}`);
  });
}
