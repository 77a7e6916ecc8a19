/**
 * Attack surface: a secsock server that never acknowledges SNI. The context
 * for a name is picked in the client-hello callback; without a servername
 * callback answering "OK", OpenSSL never records the name in the server's
 * sessions. Then `socket.servername` reads null on a resumed TLS 1.2
 * connection (an application routing by it sees no name), and clients record
 * no name in the session, so their check "this session was made for another
 * host" has nothing to compare against.
 */
import assert from "node:assert/strict";
import { SecureSocketError } from "../../mod.ts";
import { clientContext, VERSIONS } from "../helpers.ts";
import { policyContext, recordingServer, visit } from "./session_utils.ts";

for (const version of VERSIONS) {
  Deno.test(`SNI lost on resumption: servername of a resumed connection is the name asked for (${version})`, async () => {
    using serverCtx = policyContext({ maxVersion: version });
    using client = clientContext({ maxVersion: version });
    const server = recordingServer(serverCtx);
    try {
      const first = await visit(client, server.port, { servername: "localhost" });
      assert.equal((await server.served(1)).servername, "localhost");
      await visit(client, server.port, { servername: "localhost", session: first.session! });
      const resumed = await server.served(2);
      assert.deepEqual([resumed.reused, resumed.servername], [true, "localhost"]);
    } finally {
      await server.close();
    }
  });

  Deno.test(`SNI lost on resumption: the client's session records the name, so another name refuses it (${version})`, async () => {
    using serverCtx = policyContext({ maxVersion: version });
    using client = clientContext({ maxVersion: version });
    const server = recordingServer(serverCtx);
    try {
      const first = await visit(client, server.port, { servername: "localhost" });
      // The certificate is not checked for the alias: only the session's recorded name can stop this.
      const attempt = await visit(client, server.port, {
        servername: "alias.test",
        verifyHostname: false,
        session: first.session!,
      }).then((v) => v, (e) => e);
      assert.ok(attempt instanceof SecureSocketError, `a session for localhost was offered to alias.test: ${attempt}`);
      assert.match(attempt.message, /localhost/);
    } finally {
      await server.close();
    }
  });
}
