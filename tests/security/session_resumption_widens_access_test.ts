/**
 * Attack: resuming a TLS session where a full handshake would have been
 * refused. A resumed session skips certificate verification: the server keeps
 * whatever client certificate (or none) it verified when the session was made.
 * Each test makes a session under a lax client-auth policy and offers it where
 * the policy is stricter: through SNI choosing another context, across a fleet
 * sharing ticket keys or a session store, and after the operator replaced
 * the context (a context's own trust cannot change once sockets were made
 * from it: ContextInUseError). The stricter side must answer with a full handshake that asks for
 * (and verifies) the client certificate; where the policy is the same,
 * sessions must still resume.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  ContextInUseError,
  SecureSocketContext,
  SecureSocketError,
  VerifyMode,
} from "../../mod.ts";
import { fixture, fixturePath, settle, stopPeer, VERSIONS } from "../helpers.ts";
import { issueTestLeaf, type TestLeaf } from "./test_leaf.ts";
import {
  clientCertArgs,
  clientWithCertificate,
  otherClientArgs,
  policyContext,
  policyServerProcess,
  processServed,
  recordingServer,
  sClientVisit,
  type Served,
  sessionDir,
  visit,
} from "./session_utils.ts";

const REQUIRE = VerifyMode.Peer | VerifyMode.FailIfNoPeerCert;
const CLIENT = /CN=secsock client,/;

function outcome(served: Served) {
  return { reused: served.reused, client: served.client, failed: served.error !== null };
}

for (const version of VERSIONS) {
  Deno.test(`session attack: a public.test session resumed on admin.test skips its client certificate (SNI, ${version})`, async () => {
    using publicCtx = policyContext({ maxVersion: version });
    using adminCtx = policyContext({ verifyMode: REQUIRE, maxVersion: version });
    publicCtx.setServerNameCallback((_socket, name) => name === "admin.test" ? adminCtx : null);
    const server = recordingServer(publicCtx);
    await using dir = await sessionDir();
    const file = `${dir.path}/public.pem`;
    try {
      const first = await sClientVisit(server.port, version, ["-servername", "public.test", "-sess_out", file]);
      assert.equal(first.kind, "New");
      assert.deepEqual(outcome(await server.served(1)), { reused: false, client: null, failed: false });

      // The attack: no certificate, a session from the public name.
      const attack = await sClientVisit(server.port, version, ["-servername", "admin.test", "-sess_in", file]);
      const onAdmin = await server.served(2);
      assert.notEqual(onAdmin.reused, true, "admin.test resumed a session made where no certificate was asked");
      assert.notEqual(attack.kind, "Reused", attack.output);
      assert.ok(onAdmin.error instanceof SecureSocketError, "without a certificate the full handshake must fail");

      // The same session with a certificate at hand: a full handshake that takes it.
      const withCert = await sClientVisit(server.port, version, [
        "-servername",
        "admin.test",
        "-sess_in",
        file,
        ...clientCertArgs(),
      ]);
      assert.equal(withCert.kind, "New", withCert.output);
      const third = outcome(await server.served(3));
      assert.equal(third.reused, false);
      assert.match(third.client ?? "", CLIENT);

      // Where the policy is the same (the public context itself), the session still resumes.
      const again = await sClientVisit(server.port, version, ["-servername", "public.test", "-sess_in", file]);
      assert.equal(again.kind, "Reused", again.output);
      assert.deepEqual(outcome(await server.served(4)), { reused: true, client: null, failed: false });
    } finally {
      await server.close();
    }
  });

  Deno.test(`session attack: a session accepted by a lax verify callback resumed where no callback is set (SNI, ${version})`, async () => {
    // Same trust, mode and certificate: only the verify callback differs.
    using listenerCtx = policyContext({ maxVersion: version });
    using laxCtx = policyContext({ verifyMode: REQUIRE, maxVersion: version });
    laxCtx.setCertificateVerifyCallback(() => true);
    using strictCtx = policyContext({ verifyMode: REQUIRE, maxVersion: version });
    listenerCtx.setServerNameCallback((_socket, name) => name === "lax.test" ? laxCtx : strictCtx);
    const server = recordingServer(listenerCtx);
    await using dir = await sessionDir();
    const file = `${dir.path}/lax.pem`;
    try {
      // other-client's issuer is not trusted: only the lax callback lets it in.
      const lax = await sClientVisit(server.port, version, [
        "-servername",
        "lax.test",
        "-sess_out",
        file,
        ...otherClientArgs(),
      ]);
      assert.equal(lax.kind, "New", lax.output);
      const first = outcome(await server.served(1));
      assert.deepEqual({ ...first, client: first.client?.includes("CN=other client") }, {
        reused: false,
        client: true,
        failed: false,
      });

      const attack = await sClientVisit(server.port, version, ["-servername", "strict.test", "-sess_in", file]);
      const onStrict = await server.served(2);
      assert.notEqual(onStrict.reused, true, "strict.test resumed a session only a lax callback had accepted");
      assert.notEqual(attack.kind, "Reused", attack.output);
      assert.ok(onStrict.error instanceof SecureSocketError);
    } finally {
      await server.close();
    }
  });

  Deno.test(`session attack: a session offered after the context's trust changed (${version})`, async () => {
    using listenerCtx = policyContext({ maxVersion: version });
    using trustsRoot = policyContext({ verifyMode: REQUIRE, maxVersion: version });
    using trustsOther = policyContext({ verifyMode: REQUIRE, ca: "other-ca.pem", maxVersion: version });
    let current = trustsRoot;
    listenerCtx.setServerNameCallback(() => current);
    using client = clientWithCertificate(version);
    const server = recordingServer(listenerCtx);
    try {
      const first = await visit(client, server.port);
      assert.match(first.line, /^reused=false client=CN=secsock client,/);
      assert.ok(first.session);
      // Unchanged context: resumes.
      const second = await visit(client, server.port, { session: first.session });
      assert.equal(second.reused, true);
      assert.match(second.line, /^reused=true client=CN=secsock client,/);

      // The operator replaces the context: same mode and certificate, but
      // client certificates must now come from another CA.
      current = trustsOther;
      await settle(visit(client, server.port, { session: first.session }));
      const replaced = await server.served(3);
      assert.notEqual(replaced.reused, true, "a session verified under the old trust resumed under the new");
      assert.ok(
        replaced.error instanceof CertificateVerificationError,
        `the full handshake must reject the client certificate, got ${replaced.error}`,
      );

      // The context itself cannot change after sessions were made from it:
      // the change is refused, and the policy the sessions were made under stands.
      current = trustsRoot;
      const before = await visit(client, server.port, { session: first.session });
      assert.equal(before.reused, true);
      assert.throws(() => trustsRoot.addTrustedCertificate(fixture("other-ca.pem")), ContextInUseError);
      const after = await visit(client, server.port, { session: first.session });
      assert.equal(after.reused, true, "an unchanged policy resumes its sessions");
    } finally {
      await server.close();
    }
  });

  Deno.test(`session attack: servers sharing a session store but not client-auth policy (${version})`, async () => {
    const store = new Map<string, Uint8Array>();
    const lookups: string[] = [];
    const key = (id: Uint8Array) => Array.from(id).join(",");
    const shared = (name: string) => ({
      newSession: (id: Uint8Array, session: Uint8Array) => void store.set(key(id), new Uint8Array(session)),
      getSession: (id: Uint8Array) => {
        lookups.push(name);
        return store.get(key(id)) ?? null;
      },
    });
    using open = policyContext({ maxVersion: version });
    using strict = policyContext({ verifyMode: REQUIRE, maxVersion: version });
    using strict2 = policyContext({ verifyMode: REQUIRE, maxVersion: version });
    open.setSessionCacheCallbacks(shared("open"));
    strict.setSessionCacheCallbacks(shared("strict"));
    strict2.setSessionCacheCallbacks(shared("strict2"));
    const servers = [recordingServer(open), recordingServer(strict), recordingServer(strict2)];
    const [onOpen, onStrict, onStrict2] = servers;
    using client = clientWithCertificate(version);
    try {
      const fromOpen = await visit(client, onOpen.port);
      assert.equal(fromOpen.line, "reused=false client=none\n");
      const attack = await visit(client, onStrict.port, { session: fromOpen.session! });
      assert.ok(lookups.includes("strict"), "the strict server looked the session up in the shared store");
      assert.equal(attack.reused, false, "a session from the server that asks no certificate resumed on one that does");
      assert.match(attack.line, /^reused=false client=CN=secsock client,/);

      // Same policy, same store: resumes, with the client certificate the session carries.
      const fromStrict = attack.session!;
      const sibling = await visit(client, onStrict2.port, { session: fromStrict });
      assert.equal(sibling.reused, true);
      assert.match(sibling.line, /^reused=true client=CN=secsock client,/);
    } finally {
      for (const server of servers) await server.close();
    }
  });
}

Deno.test("session attack: a fleet sharing ticket keys but not client-auth policy (separate processes)", async () => {
  const keys = crypto.getRandomValues(new Uint8Array(80));
  const peers = await Promise.all([
    policyServerProcess(keys, "none"),
    policyServerProcess(keys, "require"),
    policyServerProcess(keys, "require"),
  ]);
  const [open, strict, strict2] = peers;
  await using dir = await sessionDir();
  const counts = new Map(peers.map((p) => [p, 0]));
  const served = (peer: typeof open) => {
    counts.set(peer, counts.get(peer)! + 1);
    return processServed(peer, counts.get(peer)!);
  };
  try {
    for (const version of VERSIONS) {
      using client = clientWithCertificate(version);
      // secsock client (it has a certificate, so the full handshake succeeds).
      const fromOpen = await visit(client, open.port);
      assert.equal(fromOpen.line, "reused=false client=none\n");
      await served(open);
      const attack = await visit(client, strict.port, { session: fromOpen.session! });
      assert.equal(attack.reused, false, `${version}: strict server resumed the open server's session`);
      assert.match(await served(strict), /^CONNECTION reused=false client=CN=secsock client,/);
      // Same policy and keys: the fleet still resumes, the client certificate travelling with the session.
      const sibling = await visit(client, strict2.port, { session: attack.session! });
      assert.equal(sibling.reused, true, `${version}: servers with the same policy and keys must resume`);
      assert.match(await served(strict2), /^CONNECTION reused=true client=CN=secsock client,/);

      // openssl s_client without a certificate: its session from the open server gets it nowhere.
      const file = `${dir.path}/${version}.pem`;
      assert.equal((await sClientVisit(open.port, version, ["-sess_out", file])).kind, "New");
      await served(open);
      const sAttack = await sClientVisit(strict.port, version, ["-sess_in", file]);
      assert.notEqual(sAttack.kind, "Reused", sAttack.output);
      assert.match(await served(strict), /^ERROR /);
      // With a certificate: session made on one strict server, resumed on the other.
      const strictFile = `${dir.path}/${version}-strict.pem`;
      assert.equal(
        (await sClientVisit(strict.port, version, ["-sess_out", strictFile, ...clientCertArgs()])).kind,
        "New",
      );
      await served(strict);
      assert.equal((await sClientVisit(strict2.port, version, ["-sess_in", strictFile])).kind, "Reused");
      assert.match(await served(strict2), /^CONNECTION reused=true client=CN=secsock client,/);
    }
  } finally {
    for (const peer of peers) await stopPeer(peer);
  }
});

Deno.test("session attack: contexts with different verify callbacks do not share sessions unless they name one policy", async () => {
  const keys = crypto.getRandomValues(new Uint8Array(80));
  const contexts = [0, 1, 2].map(() => {
    const ctx = policyContext({ verifyMode: REQUIRE });
    ctx.setTicketKeys(keys);
    // A new function object each: what each accepts cannot be compared.
    ctx.setCertificateVerifyCallback((ok) => ok);
    return ctx;
  });
  const [first, , named] = contexts;
  first.setSessionIdContext("client-auth: secsock root, ok");
  named.setSessionIdContext("client-auth: secsock root, ok");
  const servers = contexts.map(recordingServer);
  using client = clientWithCertificate();
  try {
    const made = await visit(client, servers[0].port);
    assert.equal(made.reused, false);
    assert.equal((await visit(client, servers[1].port, { session: made.session! })).reused, false);
    assert.equal((await visit(client, servers[2].port, { session: made.session! })).reused, true);
  } finally {
    for (const server of servers) await server.close();
    for (const ctx of contexts) ctx.close();
  }
});

/** A client certificate with a 1024-bit RSA key (below security level 1), issued by the fixture root. */
function weakClientCertificate(): Promise<TestLeaf> {
  return issueTestLeaf({ cn: "weak client 1024", key: ["rsa:1024"], extensions: ["extendedKeyUsage = clientAuth"] });
}

for (const version of VERSIONS) {
  Deno.test(`session attack: a session from a security-level-0 context resumed on a default-level one (SNI, ${version})`, async () => {
    // Both contexts require a client certificate from the fixture root; only the level differs.
    using legacyCtx = new SecureSocketContext({
      useSystemTrust: false,
      ca: fixture("ca.pem"),
      verifyMode: REQUIRE,
      maxVersion: version,
      securityLevel: 0,
    });
    legacyCtx.useCertificateChainFile(fixturePath("server-chain.pem"));
    legacyCtx.usePrivateKeyFile(fixturePath("server.key"));
    using adminCtx = policyContext({ verifyMode: REQUIRE, maxVersion: version });
    legacyCtx.setServerNameCallback((_socket, name) => name === "admin.test" ? adminCtx : null);
    await using weak = await weakClientCertificate();
    await using dir = await sessionDir();
    const file = `${dir.path}/legacy.pem`;
    // s_client at level 0 presents the 1024-bit key (and offers any session it is given).
    const weakClient = ["-cert", weak.cert, "-key", weak.key, "-cipher", "DEFAULT@SECLEVEL=0"];
    const server = recordingServer(legacyCtx);
    try {
      // A full handshake on admin.test refuses the 1024-bit key.
      await sClientVisit(server.port, version, [...weakClient, "-servername", "admin.test"]);
      const refused = await server.served(1);
      assert.ok(refused.error instanceof CertificateVerificationError, String(refused.error));
      const first = await sClientVisit(server.port, version, [
        ...weakClient,
        "-servername",
        "legacy.test",
        "-sess_out",
        file,
      ]);
      assert.equal(first.kind, "New", first.output);
      assert.deepEqual(outcome(await server.served(2)), {
        reused: false,
        client: "CN=weak client 1024",
        failed: false,
      });
      // The attack: the session made on the level-0 context, offered to admin.test.
      const attack = await sClientVisit(server.port, version, [
        ...weakClient,
        "-servername",
        "admin.test",
        "-sess_in",
        file,
      ]);
      const onAdmin = await server.served(3);
      assert.notEqual(
        onAdmin.reused,
        true,
        `admin.test resumed a level-0 session: ${JSON.stringify(outcome(onAdmin))}`,
      );
      assert.notEqual(attack.kind, "Reused", attack.output);
      assert.ok(onAdmin.error instanceof CertificateVerificationError, String(onAdmin.error));
      // Where the level is the same, it resumes.
      const again = await sClientVisit(server.port, version, [
        ...weakClient,
        "-servername",
        "legacy.test",
        "-sess_in",
        file,
      ]);
      assert.equal(again.kind, "Reused", again.output);
      assert.equal((await server.served(4)).reused, true);
    } finally {
      await server.close();
    }
  });
}

Deno.test("session attack: a TLS 1.2 session with a cipher a stricter SNI context refuses (AES128-SHA on ECDHE-GCM only)", async () => {
  const version = "TLSv1.2";
  // s_client names the protocol of the cipher here ("New, SSLv3, Cipher is AES128-SHA"), not the connection's.
  const kind = (output: string) => output.match(/^(New|Reused), /m)?.[1] ?? "?";
  const serverWith = (ciphers: string) => {
    const ctx = new SecureSocketContext({ useSystemTrust: false, maxVersion: version, ciphers });
    ctx.useCertificateChainFile(fixturePath("server-chain.pem"));
    ctx.usePrivateKeyFile(fixturePath("server.key"));
    return ctx;
  };
  using lax = serverWith("AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256");
  using strict = serverWith("ECDHE-RSA-AES128-GCM-SHA256");
  lax.setServerNameCallback((_socket, name) => name === "strict.test" ? strict : null);
  await using dir = await sessionDir();
  const file = `${dir.path}/lax.pem`;
  const server = recordingServer(lax);
  try {
    await sClientVisit(server.port, version, ["-cipher", "AES128-SHA", "-servername", "strict.test"]);
    assert.ok((await server.served(1)).error !== null, "strict.test must refuse AES128-SHA in a full handshake");
    const first = await sClientVisit(server.port, version, [
      "-cipher",
      "AES128-SHA",
      "-servername",
      "lax.test",
      "-sess_out",
      file,
    ]);
    assert.equal(kind(first.output), "New", first.output);
    assert.equal((await server.served(2)).reused, false);
    // The attack: the AES128-SHA session offered to strict.test.
    const attack = await sClientVisit(server.port, version, [
      "-cipher",
      "AES128-SHA",
      "-servername",
      "strict.test",
      "-sess_in",
      file,
    ]);
    const onStrict = await server.served(3);
    assert.notEqual(onStrict.reused, true, "strict.test resumed an AES128-SHA session");
    assert.notEqual(kind(attack.output), "Reused", attack.output);
    assert.ok(onStrict.error !== null, "without a shared cipher the full handshake must fail");
    // Under the same cipher policy it resumes.
    const again = await sClientVisit(server.port, version, [
      "-cipher",
      "AES128-SHA",
      "-servername",
      "lax.test",
      "-sess_in",
      file,
    ]);
    assert.equal(kind(again.output), "Reused", again.output);
  } finally {
    await server.close();
  }
});
