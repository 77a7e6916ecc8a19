/**
 * Attack surface: a session made for one SNI name, resumed under another.
 * RFC 6066 §3: a server must not resume a session whose name differs from the
 * one the client now asks for (it would skip the full handshake that picks the
 * certificate, the context and the policy for that name). OpenSSL 3.0 resumes
 * a TLS 1.2 session anyway: it only drops the SNI acknowledgement and reports
 * the session's name. An application routing by `servername` then serves the
 * other name's content over a session that name never negotiated.
 *
 * Each test makes a session with `openssl s_client -sess_out` and offers it
 * with `-sess_in` under the same name (must resume), another name, or no name
 * (must do a full handshake); in TLS 1.2 and 1.3, with tickets and with
 * session IDs (`-no_ticket`), on a plain server and through an SNI callback
 * that maps both names to one context. A fleet sharing ticket keys (same
 * policy, same name) must still resume.
 */
import assert from "node:assert/strict";
import { VERSIONS } from "../helpers.ts";
import { policyContext, recordingServer, sClientVisit, sessionDir } from "./session_utils.ts";

const MODES = [
  { name: "tickets", args: [] as string[] },
  { name: "session IDs", args: ["-no_ticket"] },
  { name: "tickets, SNI callback", args: [] as string[], sni: true },
] as const;

/** `s_client` arguments asking for `name`, or for no name at all. */
function sni(name: string | null): string[] {
  return name === null ? ["-noservername"] : ["-servername", name];
}

for (const version of VERSIONS) {
  for (const mode of MODES) {
    Deno.test(`SNI resumption attack: a session for one name resumed under another or none (${version}, ${mode.name})`, async () => {
      using shared = policyContext({ maxVersion: version });
      using listenerCtx = policyContext({ maxVersion: version });
      // With an SNI callback, both names get one context (as with a wildcard certificate).
      if ("sni" in mode) listenerCtx.setServerNameCallback(() => shared);
      await using dir = await sessionDir();
      const server = recordingServer(listenerCtx);
      let count = 0;
      const offer = async (name: string | null, sessionArgs: string[]) => {
        const result = await sClientVisit(server.port, version, [...mode.args, ...sni(name), ...sessionArgs]);
        return { client: result.kind, output: result.output, served: await server.served(++count) };
      };
      const forA = `${dir.path}/a.pem`;
      const forNone = `${dir.path}/none.pem`;
      try {
        const first = await offer("a.test", ["-sess_out", forA]);
        assert.equal(first.client, "New", first.output);
        const same = await offer("a.test", ["-sess_in", forA]);
        assert.equal(same.client, "Reused", `the same name must resume:\n${same.output}`);
        assert.deepEqual([same.served.reused, same.served.servername], [true, "a.test"]);

        // The attack: the a.test session offered for b.test.
        const other = await offer("b.test", ["-sess_in", forA]);
        assert.deepEqual(
          [other.served.reused, other.served.servername, other.client],
          [false, "b.test", "New"],
          `a session for a.test must not resume for b.test:\n${other.output}`,
        );
        // ... and for a client that sends no name.
        const none = await offer(null, ["-sess_in", forA]);
        assert.deepEqual(
          [none.served.reused, none.served.servername, none.client],
          [false, null, "New"],
          `a session for a.test must not resume without SNI:\n${none.output}`,
        );

        // A session made without a name, offered with one: a full handshake too.
        const nameless = await offer(null, ["-sess_out", forNone]);
        assert.equal(nameless.client, "New", nameless.output);
        const named = await offer("a.test", ["-sess_in", forNone]);
        assert.deepEqual(
          [named.served.reused, named.served.servername, named.client],
          [false, "a.test", "New"],
          `a session made without SNI must not resume for a.test:\n${named.output}`,
        );
        // Without a name both times, it resumes.
        const again = await offer(null, ["-sess_in", forNone]);
        assert.equal(again.client, "Reused", `no name both times must resume:\n${again.output}`);
        assert.equal(again.served.reused, true);
      } finally {
        await server.close();
      }
    });
  }

  Deno.test(`SNI resumption attack: a fleet sharing ticket keys resumes the same name only (${version})`, async () => {
    const keys = crypto.getRandomValues(new Uint8Array(80));
    using ctxA = policyContext({ maxVersion: version });
    using ctxB = policyContext({ maxVersion: version });
    ctxA.setTicketKeys(keys);
    ctxB.setTicketKeys(keys);
    await using dir = await sessionDir();
    const file = `${dir.path}/fleet.pem`;
    const serverA = recordingServer(ctxA);
    const serverB = recordingServer(ctxB);
    try {
      const first = await sClientVisit(serverA.port, version, [...sni("a.test"), "-sess_out", file]);
      assert.equal(first.kind, "New", first.output);
      const sameName = await sClientVisit(serverB.port, version, [...sni("a.test"), "-sess_in", file]);
      assert.equal(sameName.kind, "Reused", `the fleet must resume the same name:\n${sameName.output}`);
      const resumed = await serverB.served(1);
      assert.deepEqual([resumed.reused, resumed.servername], [true, "a.test"]);
      const otherName = await sClientVisit(serverB.port, version, [...sni("b.test"), "-sess_in", file]);
      assert.equal(otherName.kind, "New", `another name must not resume across the fleet:\n${otherName.output}`);
      assert.equal((await serverB.served(2)).reused, false);
    } finally {
      await serverA.close();
      await serverB.close();
    }
  });
}
