/**
 * Pinned, documented behaviour: ticket keys of a context chosen by SNI are
 * never used. OpenSSL encrypts and decrypts tickets with the keys of the
 * context the connection was accepted on (its session_ctx, which moving the
 * connection to another SSL_CTX does not change). So rotating an SNI
 * context's keys does not revoke its sessions; rotating the listener's does,
 * for every SNI context. Documented on setTicketKeys, setSessionCacheCallbacks
 * and in SECURITY.md.
 */
import assert from "node:assert/strict";
import { clientContext, VERSIONS } from "../helpers.ts";
import { policyContext, recordingServer, visit } from "./session_utils.ts";

for (const version of VERSIONS) {
  Deno.test(`SNI context ticket keys: rotating the listener's keys revokes sessions of every SNI context (${version})`, async () => {
    using main = policyContext({ maxVersion: version });
    using admin = policyContext({ maxVersion: version });
    main.setServerNameCallback((_socket, name) => name === "admin.test" ? admin : null);
    using client = clientContext({ maxVersion: version });
    const server = recordingServer(main);
    const asAdmin = { servername: "admin.test", verifyHostname: false };
    try {
      const first = await visit(client, server.port, asAdmin);
      assert.equal(first.reused, false);
      // The SNI context's own keys: not the ones its tickets are under.
      admin.setTicketKeys(crypto.getRandomValues(new Uint8Array(80)));
      const still = await visit(client, server.port, { ...asAdmin, session: first.session! });
      assert.equal(still.reused, true, "admin.test's own keys are not used for its tickets");
      // The listener's keys: every ticket issued through it is revoked.
      main.setTicketKeys(crypto.getRandomValues(new Uint8Array(80)));
      const revoked = await visit(client, server.port, { ...asAdmin, session: first.session! });
      assert.equal(revoked.reused, false, "rotating the listener's keys must revoke admin.test's sessions");
    } finally {
      await server.close();
    }
  });
}
