/**
 * Issue 7 — TLS 1.3 post-handshake client authentication and OCSP stapling,
 * proven against `openssl s_client -enable_pha` / `s_server` (its "c"
 * command), `openssl s_client -status` / `s_server -status_file`, and Node's
 * tls (requestOCSP / 'OCSPRequest').
 *
 * The OCSP response is tests/fixtures/server-ocsp.der, written by
 * scripts/gen_ocsp_fixture.sh (re-run it after scripts/gen_fixtures.sh).
 */
import assert from "node:assert/strict";
import { HandshakeError, type SecureSocket, type SecureSocketContext, SecureSocketError, VerifyMode } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  delay,
  enc,
  fixture,
  fixtureFingerprint,
  fixturePath,
  hex,
  readUntil,
  run,
  serverContext,
  stopPeer,
  VERSIONS,
  waitExit,
  within,
} from "./helpers.ts";
import {
  assertAllServed,
  assertRejected,
  assertServed,
  closeAndDrain,
  echoLine,
  nodeTls,
  oneShotServer,
  pemBlocks,
  sendText,
  serverHandshake,
  withServer,
} from "./peers/features_utils.ts";
import {
  clientCertArgs,
  opensslClient,
  opensslServer,
  sClient,
  serverCertArgs,
  verifiedAt,
  versionFlag,
} from "./peers/openssl.ts";

const CLIENT_FP = fixtureFingerprint("client.pem");

/** The client's handshake with 127.0.0.1:port, bounded. */
function connectTo(ctx: SecureSocketContext, port: number, what: string): Promise<SecureSocket> {
  return within(connectLocal(ctx, port), 10_000, what);
}

/** A client context offering post-handshake auth, with the fixture client identity. */
function phaClient() {
  const ctx = clientContext({ postHandshakeAuth: true });
  ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("client.key"));
  return ctx;
}

/** A server context that verifies clients only when it asks after the handshake. */
function phaServer() {
  return serverContext({
    verifyMode: VerifyMode.Peer | VerifyMode.PostHandshake,
    ca: fixture("ca.pem"),
    maxVersion: "TLSv1.3",
  });
}

/**
 * Server side: handshake (no certificate asked), request one, send "ping",
 * read "pong" (by then the client's Certificate has been processed).
 */
async function requestAfterHandshake(socket: SecureSocket) {
  await serverHandshake(socket);
  const before = socket.peerCertificate;
  await within(socket.requestClientCertificate(), 10_000, "requestClientCertificate");
  await socket.write(enc("ping\n"));
  const pong = await within(readUntil(socket, "pong\n"), 10_000, "pong");
  const after = socket.peerCertificate;
  await closeAndDrain(socket);
  return { before, after, pong, protocol: socket.protocol, chain: socket.peerCertificateChain };
}

/** What the server saw around its post-handshake request. */
type PhaView = Awaited<ReturnType<typeof requestAfterHandshake>>;

// ---------------------------------------------------------- PHA ----

Deno.test("PHA: secsock client (postHandshakeAuth) ↔ secsock server requestClientCertificate()", async () => {
  using serverCtx = phaServer();
  using clientCtx = phaClient();
  const views: PhaView[] = [];
  const server = oneShotServer(serverCtx, async (socket) => {
    views.push(await requestAfterHandshake(socket));
  });
  const [result] = await withServer(server, async () => {
    const socket = await connectTo(clientCtx, server.port, "client handshake");
    try {
      assert.equal(await within(readUntil(socket, "ping\n"), 10_000, "ping"), "ping\n");
      await socket.write(enc("pong\n"));
      await closeAndDrain(socket);
    } finally {
      socket.close();
    }
  });
  assertServed(result, "connection");
  const [v] = views;
  assert.ok(v);
  assert.equal(v.protocol, "TLSv1.3");
  assert.equal(v.before, null, "no certificate during the handshake");
  assert.equal(v.after?.fingerprint256, CLIENT_FP, "the client's certificate after post-handshake auth");
  assert.equal(v.after?.subject, "CN=secsock client,O=secsock");
});

Deno.test("PHA: openssl s_client -enable_pha -cert client.pem ↔ secsock server requests after the handshake", async () => {
  using serverCtx = phaServer();
  const views: PhaView[] = [];
  let peerOutput = "";
  const server = oneShotServer(serverCtx, async (socket) => {
    views.push(await requestAfterHandshake(socket));
  });
  const [result] = await withServer(server, async () => {
    const peer = opensslClient(server.port, [
      "-enable_pha",
      ...clientCertArgs(),
      "-CAfile",
      fixturePath("ca.pem"),
      "-tls1_3",
    ]);
    try {
      await peer.waitFor(/^ping$/m);
      await peer.send("pong\n");
      assert.ok((await waitExit(peer)).exited, peer.output());
    } finally {
      await stopPeer(peer);
    }
    peerOutput = peer.output();
  });
  assertServed(result, "connection");
  const [v] = views;
  assert.ok(v, peerOutput);
  assert.equal(v.before, null);
  assert.equal(v.after?.fingerprint256, CLIENT_FP);
  assert.deepEqual(v.chain.map((c) => c.subject), [
    "CN=secsock client,O=secsock",
    "CN=secsock Test Intermediate CA,O=secsock",
  ]);
});

for (const verifyArgs of [[], ["-verify", "1"]]) {
  Deno.test(
    `PHA: secsock client ↔ openssl s_server ${verifyArgs.join(" ")} "c" command`.replace("  ", " "),
    async () => {
      const peer = await opensslServer([
        ...serverCertArgs(),
        ...verifyArgs,
        "-CAfile",
        fixturePath("ca.pem"),
        "-tls1_3",
        "-naccept",
        "1",
      ]);
      using ctx = phaClient();
      const states: string[] = [];
      let afterRequest = "";
      try {
        const socket = await connectTo(ctx, peer.port, "handshake with s_server");
        try {
          socket.setInfoCallback((s) => states.push(s.stateString));
          await socket.write(enc("before-pha\n"));
          await peer.waitFor(/^before-pha$/m);
          const mark = peer.output().length;
          // s_server's "c" command: SSL_verify_client_post_handshake. s_server
          // takes a command only when it is alone in its stdin read, so the next
          // line waits until our client has answered the request.
          await peer.send("c\n");
          const reading = readUntil(socket, "from-s_server\n");
          await within(
            (async () => {
              while (!states.some((s) => /write finished/i.test(s))) await delay(10);
            })(),
            10_000,
            "the client's answer to the certificate request",
          );
          await peer.send("from-s_server\n");
          assert.equal(await within(reading, 10_000, "line"), "from-s_server\n");
          await socket.write(enc("after-pha\n"));
          await peer.waitFor(/^after-pha$/m);
          afterRequest = peer.output().slice(mark);
          await socket.closeWrite();
        } finally {
          socket.close();
        }
      } finally {
        await stopPeer(peer);
      }
      // The certificate request arrived after the handshake and was answered.
      assert.ok(states.some((s) => /read server certificate request/i.test(s)), states.join("\n"));
      // OpenSSL 3.5 compresses certificates by default (RFC 8879) and names the state accordingly.
      assert.ok(states.some((s) => /write client (compressed )?certificate/i.test(s)), states.join("\n"));
      assert.ok(verifiedAt(afterRequest, 0, "secsock client"), afterRequest);
      if (verifyArgs.length === 0) {
        // Without -verify nothing was asked during the handshake.
        const beforeRequest = peer.output().slice(0, peer.output().indexOf("before-pha"));
        assert.doesNotMatch(beforeRequest, /CN ?= ?secsock client/);
      }
    },
  );
}

Deno.test("PHA: requestClientCertificate() fails when the client did not offer post-handshake auth", async () => {
  using serverCtx = phaServer();
  using clientCtx = clientContext(); // no postHandshakeAuth
  const server = oneShotServer(serverCtx, async (socket) => {
    await serverHandshake(socket);
    await assert.rejects(socket.requestClientCertificate(), SecureSocketError);
    await socket.write(enc("still-fine\n"));
    await closeAndDrain(socket);
  });
  const [result] = await withServer(server, async () => {
    const socket = await connectLocal(clientCtx, server.port);
    try {
      assert.equal(await within(readUntil(socket, "\n"), 10_000, "line"), "still-fine\n");
    } finally {
      socket.close();
    }
  });
  assertServed(result, "connection");
});

// --------------------------------------------------------- OCSP ----

/** The fixture OCSP response, checked to belong to the current server.pem. */
async function ocspFixture(): Promise<Uint8Array> {
  let der: Uint8Array;
  try {
    der = await Deno.readFile(fixturePath("server-ocsp.der"));
  } catch {
    throw new Error("tests/fixtures/server-ocsp.der is missing: run scripts/gen_ocsp_fixture.sh");
  }
  const check = await run("openssl", [
    "ocsp",
    "-respin",
    fixturePath("server-ocsp.der"),
    "-noverify",
    "-issuer",
    fixturePath("intermediate.pem"),
    "-cert",
    fixturePath("server.pem"),
  ]);
  assert.match(
    check.stdout + check.stderr,
    /server\.pem: good/,
    "server-ocsp.der does not match server.pem: re-run scripts/gen_ocsp_fixture.sh",
  );
  return der;
}

for (const version of VERSIONS) {
  Deno.test(`OCSP: secsock server setOcspResponse → openssl s_client -status (${version})`, async () => {
    const der = await ocspFixture();
    using ctx = serverContext();
    ctx.setOcspResponse(der);
    const server = oneShotServer(ctx, sendText("stapled\n"), 2);
    const outputs: string[] = [];
    const results = await withServer(server, async () => {
      for (const args of [["-status"], []]) {
        outputs.push(await sClient(server.port, [...args, versionFlag(version), "-CAfile", fixturePath("ca.pem")]));
      }
    });
    assertAllServed(results);
    const [asked, notAsked] = outputs;
    assert.match(asked, /OCSP response:/);
    assert.match(asked, /OCSP Response Status: successful \(0x0\)/);
    assert.match(asked, /Cert Status: good/);
    assert.match(asked, /Serial Number: ([0-9A-F]+)/);
    assert.equal(
      asked.match(/Serial Number: ([0-9A-F]+)/)?.[1],
      (await run("openssl", ["x509", "-in", fixturePath("server.pem"), "-noout", "-serial"])).stdout.trim()
        .replace("serial=", ""),
    );
    assert.match(asked, /stapled/);
    // Not asked, nothing stapled.
    assert.doesNotMatch(notAsked, /OCSP Response Status/);
    assert.match(notAsked, /stapled/);
  });

  Deno.test(`OCSP: secsock client requestOcsp receives s_server -status_file bytes (${version})`, async () => {
    const der = await ocspFixture();
    const received: (string | null)[] = [];
    using ctx = clientContext({ requestOcsp: true });
    ctx.setOcspResponseCallback((socket, response) => {
      assert.equal(socket.isServer, false);
      received.push(response && hex(response));
      return true;
    });
    for (const args of [["-status_file", fixturePath("server-ocsp.der")], []]) {
      const peer = await opensslServer([...serverCertArgs(), ...args, versionFlag(version), "-naccept", "1"]);
      try {
        const socket = await connectTo(ctx, peer.port, "handshake with s_server");
        try {
          assert.equal(socket.protocol, version);
          await socket.write(enc("ok\n"));
          await peer.waitFor(/^ok$/m);
        } finally {
          socket.close();
        }
      } finally {
        await stopPeer(peer);
      }
    }
    assert.deepEqual(received, [hex(der), null], "the stapled bytes, then null when none was stapled");
  });

  Deno.test(`OCSP: secsock client ↔ secsock server stapling; a false callback aborts (${version})`, async () => {
    const der = await ocspFixture();
    using serverCtx = serverContext({ maxVersion: version });
    serverCtx.setOcspResponse(der);
    const answers = [true, false];
    const received: (string | null)[] = [];
    using clientCtx = clientContext({ requestOcsp: true });
    clientCtx.setOcspResponseCallback((_socket, response) => {
      received.push(response && hex(response));
      return answers[received.length - 1];
    });
    const server = oneShotServer(serverCtx, sendText("!"), 2);
    const results = await withServer(server, async () => {
      const socket = await connectTo(clientCtx, server.port, "accepted handshake");
      try {
        await within(socket.read(new Uint8Array(1)), 10_000, "one byte");
      } finally {
        socket.close();
      }
      await assert.rejects(connectTo(clientCtx, server.port, "refused handshake"), HandshakeError);
    });
    assertServed(results[0], "accepted connection");
    assertRejected(results[1], "the server sees the client abort");
    assert.deepEqual(received, [hex(der), hex(der)]);
  });
}

Deno.test("OCSP: Node tls client requestOCSP receives our staple; our client receives Node's", async () => {
  const der = await ocspFixture();
  using ctx = serverContext();
  ctx.setOcspResponse(der);
  const server = oneShotServer(ctx, echoLine());
  const [result] = await withServer(server, async () => {
    const node = await nodeTls({ role: "client", port: server.port, servername: "localhost", requestOcsp: true });
    const report = await within(node.report(), 10_000, "report");
    await node.close();
    assert.equal(report.ocsp, hex(der));
  });
  assertServed(result, "connection");

  const node = await nodeTls({ role: "server", ocspFile: "server-ocsp.der" });
  const received: (string | null)[] = [];
  using client = clientContext({ requestOcsp: true });
  client.setOcspResponseCallback((_s, response) => (received.push(response && hex(response)), true));
  try {
    const socket = await connectTo(client, node.port, "handshake with node");
    try {
      await socket.write(enc("x\n"));
      await within(readUntil(socket, "\n"), 10_000, "echo");
    } finally {
      socket.close();
    }
  } finally {
    await node.close();
  }
  assert.deepEqual(received, [hex(der)]);
});

// ------------------------------------------------- OCSP and SNI ----

/** The certificate s_client printed under "Server certificate" (the OCSP printout has its own). */
function serverCertificate(output: string): string | undefined {
  return pemBlocks(output.slice(output.indexOf("Server certificate")))[0]?.fingerprint256;
}

/** Runs s_client -status with extra args against a one-connection server; returns its output. */
async function statusProbe(ctx: SecureSocketContext, args: string[]): Promise<string> {
  const server = oneShotServer(ctx, sendText((socket) => `cert=${socket.servername}\n`));
  let output = "";
  const [result] = await withServer(server, async () => {
    output = await sClient(server.port, ["-status", ...args, "-CAfile", fixturePath("ca.pem")]);
  });
  assertServed(result, "connection");
  return output;
}

Deno.test("OCSP + SNI: the context chosen by the servername callback staples its own response", async () => {
  const der = await ocspFixture();
  using listener = serverContext({}, "server-ec"); // no staple of its own
  using rsa = serverContext();
  rsa.setOcspResponse(der);
  listener.setServerNameCallback((_s, name) => name === "localhost" ? rsa : null);

  const chosen = await statusProbe(listener, ["-servername", "localhost"]);
  assert.equal(serverCertificate(chosen), fixtureFingerprint("server.pem"));
  assert.match(chosen, /OCSP Response Status: successful/);
  assert.match(chosen, /Cert Status: good/);

  const other = await statusProbe(listener, ["-noservername"]);
  assert.equal(serverCertificate(other), fixtureFingerprint("server-ec.pem"));
  assert.doesNotMatch(other, /OCSP Response Status/);
  assert.match(other, /OCSP response: no response sent/);
});

Deno.test("OCSP + SNI: a chosen context without a response staples none (not the listener's, which is for another certificate)", async () => {
  const der = await ocspFixture();
  using listener = serverContext(); // RSA server.pem, with its OCSP response
  listener.setOcspResponse(der);
  using ec = serverContext({}, "server-ec"); // no response for server-ec.pem
  listener.setServerNameCallback((_s, name) => name === "localhost" ? ec : null);

  const own = await statusProbe(listener, ["-noservername"]);
  assert.equal(serverCertificate(own), fixtureFingerprint("server.pem"));
  assert.match(own, /OCSP Response Status: successful/);

  const switched = await statusProbe(listener, ["-servername", "localhost"]);
  assert.equal(serverCertificate(switched), fixtureFingerprint("server-ec.pem"));
  // server-ocsp.der is the status of server.pem: stapling it next to server-ec.pem is wrong.
  assert.doesNotMatch(switched, /OCSP Response Status/, "server.pem's OCSP response was stapled for server-ec.pem");
  assert.match(switched, /OCSP response: no response sent/);
});

Deno.test("OCSP: an exception in the client's OCSP callback rejects connect() with that error", async () => {
  const der = await ocspFixture();
  using serverCtx = serverContext();
  serverCtx.setOcspResponse(der);
  using clientCtx = clientContext({ requestOcsp: true });
  const boom = new Error("ocsp callback failed");
  clientCtx.setOcspResponseCallback(() => {
    throw boom;
  });
  const server = oneShotServer(serverCtx, serverHandshake);
  const outcome = await connectLocal(clientCtx, server.port).then((s) => (s.close(), null), (error) => error);
  const [result] = await server.finish();
  assert.equal(outcome, boom);
  assertRejected(result);
});
