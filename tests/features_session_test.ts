/**
 * Issue 7 — session resumption, proven against real peers: `openssl s_server`
 * (its -www page says "New" or "Reused"), `openssl s_client -sess_out/-sess_in`,
 * Node's tls, and secsock servers in other processes sharing ticket keys.
 */
import assert from "node:assert/strict";
import { SecureSocket, type SecureSocketContext } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  dec,
  denoServerPeer,
  enc,
  hex,
  type Peer,
  peerScript,
  readAll,
  readUntil,
  serverContext,
  stopPeer,
  VERSIONS,
  within,
} from "./helpers.ts";
import {
  assertAllServed,
  closeAndDrain,
  echoLine,
  nodeTls,
  oneShotServer,
  sendText,
  withServer,
} from "./peers/features_utils.ts";
import { opensslServer, sClient, serverCertArgs, versionFlag } from "./peers/openssl.ts";

/** Server side of one connection: reports resumption in one line, close_notify, waits for the client. */
function reportingServer(ctx: SecureSocketContext, count: number) {
  const reused: boolean[] = [];
  const server = oneShotServer(
    ctx,
    sendText((socket) => {
      reused.push(socket.isSessionReused);
      return `reused=${socket.isSessionReused} protocol=${socket.protocol}\n`;
    }),
    count,
  );
  return { server, reused };
}

/** Connects, reads the server's line (so TLS 1.3 tickets have arrived), returns what it saw. */
async function visit(ctx: SecureSocketContext, port: number, session?: Uint8Array) {
  const socket = await within(connectLocal(ctx, port, { session }), 10_000, "client handshake");
  try {
    const line = await within(readUntil(socket, "\n"), 10_000, "the server's line");
    const result = { line, reused: socket.isSessionReused, protocol: socket.protocol, session: socket.session };
    await closeAndDrain(socket);
    return result;
  } finally {
    socket.close();
  }
}

/** A fresh temporary directory for s_client session files, removed on disposal. */
async function sessionDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir();
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** Runs `openssl s_client` with a session file; returns "New" or "Reused" and its output. */
async function sClientVisit(port: number, args: string[]): Promise<{ kind: string; output: string }> {
  const output = await sClient(port, args);
  return { kind: output.match(/^(New|Reused), TLSv1\.[23],/m)?.[1] ?? "?", output };
}

for (const version of VERSIONS) {
  Deno.test(`sessions: secsock client resumes against openssl s_server -www (${version})`, async () => {
    const peer = await opensslServer([...serverCertArgs(), "-www", versionFlag(version), "-naccept", "2"]);
    using ctx = clientContext();
    const seen: { page: string; reused: boolean }[] = [];
    let session: Uint8Array | undefined;
    try {
      for (let i = 0; i < 2; i++) {
        const socket = await within(connectLocal(ctx, peer.port, { session }), 10_000, "handshake with s_server");
        try {
          if (i === 0 && version === "TLSv1.3") {
            assert.equal(socket.session, null, "a TLS 1.3 session is not resumable before its ticket arrives");
          }
          await socket.write(enc("GET / HTTP/1.0\r\n\r\n"));
          const page = dec(await within(readAll(socket), 10_000, "s_server page"));
          seen.push({ page: page.match(/(New|Reused), TLSv1\.[23]/)?.[0] ?? page, reused: socket.isSessionReused });
          const exported = socket.session;
          assert.ok(exported instanceof Uint8Array && exported.length > 0, "socket.session after reading");
          session = exported;
        } finally {
          socket.close();
        }
      }
    } finally {
      await stopPeer(peer);
    }
    assert.deepEqual(seen, [
      { page: `New, ${version}`, reused: false },
      { page: `Reused, ${version}`, reused: true },
    ]);
  });

  Deno.test(`sessions: openssl s_client -sess_out/-sess_in resumes on a secsock server (${version})`, async () => {
    await using dir = await sessionDir();
    const file = `${dir.path}/session.pem`;
    using ctx = serverContext(); // tickets on by default
    const { server, reused } = reportingServer(ctx, 2);
    const kinds: string[] = [];
    const results = await withServer(server, async () => {
      const first = await sClientVisit(server.port, ["-sess_out", file, versionFlag(version)]);
      kinds.push(first.kind);
      assert.match(first.output, /reused=false/);
      const second = await sClientVisit(server.port, ["-sess_in", file, versionFlag(version)]);
      kinds.push(second.kind);
      assert.match(second.output, /reused=true/);
    });
    assertAllServed(results);
    assert.deepEqual(kinds, ["New", "Reused"]);
    assert.deepEqual(reused, [false, true]);
  });

  Deno.test(`sessions: secsock ↔ secsock via connect, constructor and startTls (${version})`, async () => {
    using serverCtx = serverContext({ maxVersion: version });
    using clientCtx = clientContext();
    const { server, reused } = reportingServer(serverCtx, 4);
    const lines: string[] = [];
    const results = await withServer(server, async () => {
      const first = await visit(clientCtx, server.port);
      assert.equal(first.protocol, version);
      assert.equal(first.reused, false);
      assert.ok(first.session);
      lines.push(first.line);

      const second = await visit(clientCtx, server.port, first.session);
      assert.equal(second.reused, true);
      lines.push(second.line);

      // The constructor's `session` option, then connect().
      const viaConstructor = new SecureSocket(clientCtx, {
        hostname: "127.0.0.1",
        servername: "localhost",
        session: first.session,
      });
      try {
        await within(viaConstructor.connect({ hostname: "127.0.0.1", port: server.port }), 10_000, "connect");
        lines.push(await within(readUntil(viaConstructor, "\n"), 10_000, "line"));
        assert.equal(viaConstructor.isSessionReused, true);
        await closeAndDrain(viaConstructor);
      } finally {
        viaConstructor.close();
      }

      // startTls over a plain connection.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const upgraded = await within(
        SecureSocket.startTls(conn, clientCtx, { hostname: "localhost", session: second.session ?? first.session }),
        10_000,
        "startTls",
      );
      try {
        lines.push(await within(readUntil(upgraded, "\n"), 10_000, "line"));
        assert.equal(upgraded.isSessionReused, true);
        await closeAndDrain(upgraded);
      } finally {
        upgraded.close();
      }
    });
    assertAllServed(results);
    assert.deepEqual(reused, [false, true, true, true]);
    assert.deepEqual(lines, [false, true, true, true].map((r) => `reused=${r} protocol=${version}\n`));
  });

  Deno.test(`sessions: Node tls client resumes against a secsock server (${version})`, async () => {
    using ctx = serverContext({ maxVersion: version });
    const reused: boolean[] = [];
    const server = oneShotServer(ctx, echoLine((socket) => reused.push(socket.isSessionReused)), 2);
    const nodeReused: boolean[] = [];
    const results = await withServer(server, async () => {
      const first = await nodeTls({ role: "client", port: server.port, servername: "localhost" });
      const report = await within(first.report(), 10_000, "report");
      await first.close();
      assert.equal(report.protocol, version);
      assert.ok(report.session, "Node got a session");
      nodeReused.push(report.sessionReused);
      const second = await nodeTls({
        role: "client",
        port: server.port,
        servername: "localhost",
        session: report.session,
      });
      nodeReused.push((await within(second.report(), 10_000, "report")).sessionReused);
      await second.close();
    });
    assertAllServed(results);
    assert.deepEqual(nodeReused, [false, true]);
    assert.deepEqual(reused, [false, true]);
  });

  Deno.test(`sessions: setTicketKeys rotation forces a full handshake (${version})`, async () => {
    using serverCtx = serverContext({ maxVersion: version });
    const original = crypto.getRandomValues(new Uint8Array(80));
    serverCtx.setTicketKeys(original);
    assert.deepEqual(serverCtx.getTicketKeys(), original);
    using clientCtx = clientContext();
    await using dir = await sessionDir();
    const file = `${dir.path}/session.pem`;
    const { server, reused } = reportingServer(serverCtx, 6);
    const kinds: string[] = [];
    const results = await withServer(server, async () => {
      const first = await visit(clientCtx, server.port);
      assert.equal((await visit(clientCtx, server.port, first.session!)).reused, true);
      kinds.push((await sClientVisit(server.port, ["-sess_out", file, versionFlag(version)])).kind);

      serverCtx.setTicketKeys(crypto.getRandomValues(new Uint8Array(80)));
      const afterRotation = await visit(clientCtx, server.port, first.session!);
      assert.equal(afterRotation.reused, false, "a ticket sealed with the old keys must not resume");
      assert.equal(afterRotation.line, `reused=false protocol=${version}\n`);
      kinds.push((await sClientVisit(server.port, ["-sess_in", file, versionFlag(version)])).kind);
      // The new ticket resumes under the new keys.
      assert.equal((await visit(clientCtx, server.port, afterRotation.session!)).reused, true);
    });
    assertAllServed(results);
    assert.deepEqual(kinds, ["New", "New"]);
    assert.deepEqual(reused, [false, true, false, false, false, true]);
    assert.throws(() => serverCtx.setTicketKeys(new Uint8Array(48)), RangeError);
  });
}

/** A features_session_server.ts process. */
function sessionServerProcess(keys: Uint8Array): Promise<Peer> {
  return denoServerPeer(peerScript("features_session_server.ts"), ["0", hex(keys)]);
}

Deno.test("sessions: two secsock server processes sharing ticket keys resume each other's sessions", async () => {
  const shared = crypto.getRandomValues(new Uint8Array(80));
  const peers: Peer[] = [];
  await using dir = await sessionDir();
  try {
    const [a, b, other] = await Promise.all([
      sessionServerProcess(shared),
      sessionServerProcess(shared),
      sessionServerProcess(crypto.getRandomValues(new Uint8Array(80))),
    ]);
    peers.push(a, b, other);
    assert.notEqual(a.port, b.port);
    for (const version of VERSIONS) {
      using ctx = clientContext({ maxVersion: version });
      const fromA = await visit(ctx, a.port);
      assert.equal(fromA.line, `reused=false protocol=${version}\n`);
      const onB = await visit(ctx, b.port, fromA.session!);
      assert.equal(onB.reused, true, `${version}: a session from server A must resume on server B`);
      assert.equal(onB.line, `reused=true protocol=${version}\n`);
      const onOther = await visit(ctx, other.port, fromA.session!);
      assert.equal(onOther.reused, false, `${version}: other keys, full handshake`);
      assert.equal(onOther.line, `reused=false protocol=${version}\n`);

      // Cross-checked with openssl s_client's own session handling.
      const file = `${dir.path}/${version}.pem`;
      assert.equal((await sClientVisit(a.port, ["-sess_out", file, versionFlag(version)])).kind, "New");
      assert.equal((await sClientVisit(b.port, ["-sess_in", file, versionFlag(version)])).kind, "Reused");
      assert.equal((await sClientVisit(other.port, ["-sess_in", file, versionFlag(version)])).kind, "New");
    }
  } finally {
    for (const peer of peers) await stopPeer(peer);
  }
  const [a, b] = peers;
  assert.equal(a.output().match(/CONNECTION reused=true/g), null, a.output());
  assert.equal(b.output().match(/CONNECTION reused=true/g)?.length, 4, b.output());
  assert.doesNotMatch(peers.map((p) => p.output()).join(""), /^ERROR/m);
});

for (const version of VERSIONS) {
  Deno.test(`sessions: setSessionCacheCallbacks with an external Map (${version}: secsock client, s_client)`, async () => {
    using serverCtx = serverContext();
    const store = new Map<string, Uint8Array>();
    const calls: string[] = [];
    const lookups: string[] = [];
    const issued = new Set<string>();
    serverCtx.setSessionCacheCallbacks({
      newSession(id, session, socket) {
        assert.ok(id.length > 0 && session.length > 0);
        assert.equal(socket.isServer, true);
        calls.push("new");
        issued.add(hex(id));
        store.set(hex(id), new Uint8Array(session));
      },
      getSession(id, socket) {
        assert.equal(socket.isServer, true);
        calls.push("get");
        lookups.push(hex(id));
        return store.get(hex(id)) ?? null;
      },
      removeSession(id) {
        store.delete(hex(id));
      },
    });
    using clientCtx = clientContext({ maxVersion: version });
    await using dir = await sessionDir();
    const file = `${dir.path}/session.pem`;
    const { server, reused } = reportingServer(serverCtx, 4);
    const kinds: string[] = [];
    const results = await withServer(server, async () => {
      const first = await visit(clientCtx, server.port);
      assert.ok(calls.includes("new"), "newSession was called");
      assert.ok(store.size > 0);
      assert.ok(!calls.includes("get"));
      const second = await visit(clientCtx, server.port, first.session!);
      assert.equal(second.reused, true);
      assert.ok(calls.includes("get"), "getSession was called on resumption");

      kinds.push((await sClientVisit(server.port, ["-sess_out", file, versionFlag(version)])).kind);
      kinds.push((await sClientVisit(server.port, ["-sess_in", file, versionFlag(version)])).kind);
    });
    assertAllServed(results);
    assert.deepEqual(reused, [false, true, false, true]);
    assert.deepEqual(kinds, ["New", "Reused"]);
    assert.equal(lookups.length, 2, `getSession calls: ${calls.join(",")}`);
    // Every lookup asked for an ID the server had handed to newSession.
    for (const id of lookups) assert.ok(issued.has(id), `getSession(${id}) asked for an ID newSession never saw`);
  });
}

Deno.test("sessions: exceptions in session cache callbacks reject the server handshake with that error", async () => {
  for (const version of VERSIONS) {
    for (const which of ["newSession", "getSession"] as const) {
      const boom = new Error(`${which} failed`);
      using serverCtx = serverContext({ maxVersion: version });
      const store = new Map<string, Uint8Array>();
      serverCtx.setSessionCacheCallbacks({
        newSession(id, session) {
          if (which === "newSession") throw boom;
          store.set(hex(id), session);
        },
        getSession(id) {
          if (which === "getSession") throw boom;
          return store.get(hex(id)) ?? null;
        },
      });
      using clientCtx = clientContext();
      const { server } = reportingServer(serverCtx, 2);
      let session: Uint8Array | undefined;
      for (let i = 0; i < 2; i++) {
        // The client only sees the server go away; the server must report the callback's error.
        await visit(clientCtx, server.port, session).then((v) => session = v.session ?? session, () => {});
      }
      const results = await server.finish();
      const what = `${version} ${which}`;
      assert.equal(results.length, 2, what);
      // newSession runs in every full handshake; getSession at least when the client resumes
      // (a TLS 1.3 client's random legacy session ID can make a TLS 1.2 server look up earlier).
      assert.equal(results[which === "newSession" ? 0 : 1].status, "rejected", what);
      for (const result of results) {
        if (result.status === "rejected") assert.equal(result.reason, boom, what);
      }
    }
  }
});
