/**
 * What the OCSP documentation promises: a stapled response reaches the
 * client's callback exactly as the server sent it, verified by nothing. A
 * server (or whoever holds its key) can staple garbage, or a genuine "good"
 * response about another certificate; the callback sees those bytes, and a
 * handshake whose callback says true completes. The README and the JSDoc say
 * so; this test keeps them honest (if secsock ever starts checking, the
 * documentation must change with it).
 */
import assert from "node:assert/strict";
import { SecureSocketContext } from "../../mod.ts";
import { clientContext, fixturePath, VERSIONS } from "../helpers.ts";
import { recordingServer, visit } from "./session_utils.ts";

function stapling(leaf: "server" | "wronghost", response: Uint8Array): SecureSocketContext {
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  ctx.useCertificateChainFile(fixturePath(`${leaf}-chain.pem`));
  ctx.usePrivateKeyFile(fixturePath(`${leaf}.key`));
  ctx.setOcspResponse(response);
  return ctx;
}

for (const version of VERSIONS) {
  Deno.test(`ocsp: a stapled response reaches the callback unverified (${version})`, async () => {
    const garbage = crypto.getRandomValues(new Uint8Array(300));
    const aboutServerPem = Deno.readFileSync(fixturePath("server-ocsp.der"));
    // [the leaf served, what it staples, the name the client verifies]
    const cases: ["server" | "wronghost", Uint8Array, string][] = [
      ["server", garbage, "localhost"],
      ["wronghost", aboutServerPem, "wrong.example"], // "good", but about server.pem
    ];
    for (const [leaf, response, servername] of cases) {
      using serverCtx = stapling(leaf, response);
      using client = clientContext({ maxVersion: version, requestOcsp: true });
      const received: (Uint8Array | null)[] = [];
      client.setOcspResponseCallback((_socket, bytes) => {
        received.push(bytes);
        return true;
      });
      const server = recordingServer(serverCtx);
      try {
        const seen = await visit(client, server.port, { servername });
        assert.match(seen.line, /^reused=false/);
      } finally {
        await server.close();
      }
      assert.equal(received.length, 1);
      assert.deepEqual(received[0], response, `${leaf}: the callback got other bytes than the server stapled`);
    }
  });
}
