/**
 * Issue 7 — SNI and ALPN, each proven against real peers: `openssl s_client`
 * / `s_server`, curl and Node's tls.
 *
 * SNI: the listener's context (RSA chain) has a servername callback that
 * switches "localhost" to a second context (ECDSA chain); which certificate
 * the peer saw tells which context served it.
 */
import assert from "node:assert/strict";
import { HandshakeError, type SecureSocket, type SecureSocketContext, VerifyMode } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  enc,
  fixture,
  fixtureFingerprint,
  fixturePath,
  hasCapability,
  hasPeer,
  readUntil,
  run,
  serverContext,
  stopPeer,
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
import { opensslClient, opensslServer, sClient, serverCertArgs, sniServerArgs } from "./peers/openssl.ts";

const RSA_FP = fixtureFingerprint("server.pem");
const EC_FP = fixtureFingerprint("server-ec.pem");

/** Listener context (RSA) whose servername callback picks the EC context for "localhost". */
function sniContexts(options: { async?: boolean; alpnProtocols?: string[] } = {}) {
  const rsa = serverContext(options.alpnProtocols ? { alpnProtocols: options.alpnProtocols } : {});
  const ec = serverContext({}, "server-ec");
  const requested: (string | null)[] = [];
  rsa.setServerNameCallback((_socket, name) => {
    requested.push(name);
    const choice = name === "localhost" ? ec : null;
    return options.async ? new Promise((resolve) => setTimeout(() => resolve(choice), 20)) : choice;
  });
  return {
    rsa,
    ec,
    requested,
    [Symbol.dispose]() {
      rsa.close();
      ec.close();
    },
  };
}

/** Serves one HTTP/1.1 request: the body tells the server-side view (servername, ALPN). */
async function serveHttp(socket: SecureSocket): Promise<void> {
  const request = await within(readUntil(socket, "\r\n\r\n"), 10_000, "HTTP request");
  assert.match(request, /^GET \/ HTTP\/1\.1\r\n/);
  const body = `servername=${socket.servername} alpn=${socket.alpnProtocol}\n`;
  await socket.write(
    enc(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`),
  );
  await closeAndDrain(socket);
}

/** Handshake, one line naming the server-side view, close_notify, wait for the client's close. */
const serveLine = sendText((socket) => `servername=${socket.servername} alpn=${socket.alpnProtocol}\n`);

/** curl over HTTP/1.1 (or `--http2`) to the secsock server at `url`, trusting the fixture root. */
function curl(url: string, ...args: string[]) {
  return run("curl", ["-sS", ...args, "--cacert", fixturePath("ca.pem"), url]);
}

/** The client's handshake with a secsock server on 127.0.0.1:port. */
function connectTo(client: SecureSocketContext, port: number, what = "client handshake", servername = "localhost") {
  return within(connectLocal(client, port, servername), 10_000, what);
}

// ---------------------------------------------------------------- SNI ----

Deno.test("SNI: openssl s_client -servername / -noservername pick the server context", async () => {
  using ctxs = sniContexts();
  const cases: { args: string[]; name: string | null; fingerprint: string }[] = [
    { args: ["-servername", "localhost"], name: "localhost", fingerprint: EC_FP },
    { args: ["-servername", "other.example"], name: "other.example", fingerprint: RSA_FP },
    { args: ["-noservername"], name: null, fingerprint: RSA_FP },
  ];
  const views: (string | null)[] = [];
  const server = oneShotServer(ctxs.rsa, async (socket) => {
    await serveLine(socket);
    views.push(socket.servername);
  }, cases.length);
  const results = await withServer(server, async () => {
    for (const c of cases) {
      const output = await sClient(server.port, [...c.args, "-CAfile", fixturePath("ca.pem")]);
      assert.match(output, new RegExp(`servername=${c.name} alpn=null`), output);
      const [leaf] = pemBlocks(output);
      assert.ok(leaf, `s_client printed no server certificate:\n${output}`);
      assert.equal(leaf.fingerprint256, c.fingerprint, `${c.args.join(" ")}: wrong certificate`);
      assert.match(output, /Verify return code: 0 \(ok\)/);
    }
  });
  assertAllServed(results);
  assert.deepEqual(ctxs.requested, cases.map((c) => c.name));
  assert.deepEqual(views, cases.map((c) => c.name));
});

Deno.test({
  name: "SNI: curl --resolve localhost gets the EC context (verified); curl by IP sends no SNI",
  ignore: !hasPeer("curl"),
  fn: async () => {
    using ctxs = sniContexts();
    const server = oneShotServer(ctxs.rsa, serveHttp, 2);
    const results = await withServer(server, async () => {
      const byName = await curl(
        `https://localhost:${server.port}/`,
        "--http1.1",
        "--resolve",
        `localhost:${server.port}:127.0.0.1`,
        "-w",
        "%{certs}",
      );
      assert.equal(byName.code, 0, byName.stderr);
      assert.match(byName.stdout, /^servername=localhost alpn=null\n/);
      assert.equal(pemBlocks(byName.stdout)[0]?.fingerprint256, EC_FP, byName.stdout);
      assert.match(byName.stdout, /Public Key Algorithm:\s*id-ecPublicKey/);

      // An IP address is never sent as SNI: the callback gets null, the listener's context serves.
      const byIp = await curl(`https://127.0.0.1:${server.port}/`, "--http1.1", "-w", "%{certs}");
      assert.equal(byIp.code, 0, byIp.stderr);
      assert.match(byIp.stdout, /^servername=null alpn=null\n/);
      assert.equal(pemBlocks(byIp.stdout)[0]?.fingerprint256, RSA_FP, byIp.stdout);
      assert.match(byIp.stdout, /Public Key Algorithm:\s*rsaEncryption/);
    });
    assertAllServed(results);
    assert.deepEqual(ctxs.requested, ["localhost", null]);
    assert.deepEqual(server.sockets.map((s) => s.isServer), [true, true]);
  },
});

for (const mode of ["sync", "async"] as const) {
  Deno.test(`SNI: Node tls client (servername option), ${mode} servername callback`, async () => {
    using ctxs = sniContexts({ async: mode === "async" });
    const views: (string | null)[] = [];
    const server = oneShotServer(ctxs.rsa, echoLine((socket) => views.push(socket.servername)), 2);
    const results = await withServer(server, async () => {
      const named = await nodeTls({ role: "client", port: server.port, servername: "localhost" });
      const report = await within(named.report(), 15_000, "node report");
      await named.close();
      assert.equal(report.authorized, true, report.authorizationError ?? "");
      assert.equal(report.peerFingerprint256, EC_FP);
      assert.equal(report.received, "hello\n");

      // Node sends no SNI to an IP address: the callback gets null.
      const unnamed = await nodeTls({ role: "client", port: server.port });
      const report2 = await within(unnamed.report(), 15_000, "node report");
      await unnamed.close();
      assert.equal(report2.authorized, true, report2.authorizationError ?? "");
      assert.equal(report2.peerFingerprint256, RSA_FP);
    });
    assertAllServed(results);
    assert.deepEqual(ctxs.requested, ["localhost", null]);
    assert.deepEqual(views, ["localhost", null]);
  });
}

Deno.test("SNI: a rejecting async servername callback fails both handshakes with its error", async () => {
  using ctx = serverContext();
  const boom = new Error("no such site");
  ctx.setServerNameCallback(() => Promise.reject(boom));
  using client = clientContext();
  const server = oneShotServer(ctx, async (socket) => {
    await socket.handshake();
  });
  await assert.rejects(connectTo(client, server.port), HandshakeError);
  const [result] = await server.finish();
  assert.equal(assertRejected(result), boom);
});

Deno.test("SNI: secsock client servername option against openssl s_server -servername/-cert2", async () => {
  // s_server has no chain option for -cert2: the client also trusts the intermediate.
  const peer = await opensslServer([...sniServerArgs(), "-naccept", "2"]);
  using client = clientContext({ ca: [fixture("ca.pem"), fixture("intermediate.pem")] });
  try {
    const named = await connectTo(client, peer.port, "handshake with SNI");
    try {
      assert.equal(named.servername, "localhost");
      assert.equal(named.peerCertificate?.fingerprint256, EC_FP);
      await named.write(enc("named\n"));
      await peer.waitFor(/named/);
    } finally {
      named.close();
    }
    assert.match(peer.output(), /Hostname in TLS extension: "localhost"/);
    assert.match(peer.output(), /Switching server context/);

    // Connecting by IP address: no SNI, the default certificate.
    const unnamed = await connectTo(client, peer.port, "handshake without SNI", "127.0.0.1");
    try {
      assert.equal(unnamed.servername, null);
      assert.equal(unnamed.peerCertificate?.fingerprint256, RSA_FP);
    } finally {
      unnamed.close();
    }
  } finally {
    await stopPeer(peer);
  }
  assert.equal(peer.output().match(/Hostname in TLS extension/g)?.length, 1, peer.output());
});

Deno.test("SNI: secsock client servername option against a Node tls server with SNICallback", async () => {
  const node = await nodeTls({ role: "server", sni: { "localhost": "server-ec" }, connections: 1 });
  using client = clientContext();
  try {
    const socket = await connectTo(client, node.port, "handshake");
    try {
      assert.equal(socket.peerCertificate?.fingerprint256, EC_FP);
      await socket.write(enc("hi\n"));
      assert.equal(await within(readUntil(socket, "\n"), 10_000, "echo"), "hi\n");
    } finally {
      socket.close();
    }
    const report = await within(node.report(), 10_000, "node report");
    assert.equal(report.servername, "localhost");
    assert.deepEqual(report.sniRequested, ["localhost"]);
  } finally {
    await node.close();
  }
});

// --------------------------------------------------------------- ALPN ----

Deno.test({
  name: "ALPN: curl --http1.1 gets http/1.1, curl --http2 gets h2 (server preference)",
  ignore: !hasPeer("curl"),
  fn: async () => {
    const version = await run("curl", ["-V"]);
    const http2 = hasCapability(
      "curl's HTTP/2",
      /\bHTTP2\b/.test(version.stdout) ? null : "curl -V lists no HTTP2 feature",
    );
    using ctx = serverContext({ alpnProtocols: ["h2", "http/1.1"] });
    const prefaces: string[] = [];
    const server = oneShotServer(ctx, async (socket, i) => {
      if (i === 0) return await serveHttp(socket);
      // curl switched to HTTP/2: its connection preface proves it.
      const preface = await within(readUntil(socket, "SM\r\n\r\n"), 10_000, "h2 preface");
      prefaces.push(preface.slice(0, 24));
      await socket.closeWrite();
    }, http2 ? 2 : 1);
    const results = await withServer(server, async () => {
      const h1 = await curl(`https://127.0.0.1:${server.port}/`, "-v", "--http1.1");
      assert.equal(h1.code, 0, h1.stderr);
      assert.match(h1.stderr, /ALPN: (curl )?offers http\/1\.1\b/);
      assert.match(h1.stderr, /ALPN: server accepted http\/1\.1/);
      assert.equal(h1.stdout, "servername=null alpn=http/1.1\n");
      if (http2) {
        const h2 = await curl(`https://127.0.0.1:${server.port}/`, "-v", "--http2");
        assert.match(h2.stderr, /ALPN: (curl )?offers h2,http\/1\.1/);
        assert.match(h2.stderr, /ALPN: server accepted h2/);
      } else {
        console.warn("curl has no HTTP2 feature: the --http2 half is skipped");
      }
    });
    assertAllServed(results);
    assert.equal(server.sockets[0].isServer, true);
    if (http2) assert.deepEqual(prefaces, ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]);
  },
});

Deno.test({
  name: "ALPN: no overlap → curl and the server both fail (no_application_protocol)",
  ignore: !hasPeer("curl"),
  fn: async () => {
    using ctx = serverContext({ alpnProtocols: ["h2"] });
    const server = oneShotServer(ctx, serverHandshake);
    let failed = { code: 0, stdout: "", stderr: "" };
    await withServer(server, async () => {
      failed = await curl(`https://127.0.0.1:${server.port}/`, "-v", "--http1.1");
    });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /no application protocol/i, failed.stderr);
    assertRejected(server.results[0], "the server", HandshakeError);
  },
});

Deno.test("ALPN: openssl s_client -alpn: server list picks; no overlap is a fatal alert", async () => {
  using ctx = serverContext({ alpnProtocols: ["h2", "http/1.1"] });
  const server = oneShotServer(ctx, serveLine);
  const [served] = await withServer(server, async () => {
    const output = await sClient(server.port, ["-alpn", "spdy/3,http/1.1", "-CAfile", fixturePath("ca.pem")]);
    assert.match(output, /ALPN protocol: http\/1\.1/);
    assert.match(output, /servername=null alpn=http\/1\.1/);
  });
  assertServed(served, "connection");

  using strict = serverContext({ alpnProtocols: ["h2"] });
  const refusing = oneShotServer(strict, serverHandshake);
  const peer = opensslClient(refusing.port, ["-alpn", "spdy/3,http/1.1"]);
  await withServer(refusing, async () => {
    assert.ok((await waitExit(peer)).exited, peer.output());
  });
  assert.match(peer.output(), /no application protocol/i);
  assert.doesNotMatch(peer.output(), /ALPN protocol:/);
  assertRejected(refusing.results[0], "the server", HandshakeError);
});

Deno.test("ALPN: Node tls client ALPNProtocols; server preference order wins", async () => {
  using ctx = serverContext({ alpnProtocols: ["h2", "http/1.1"] });
  const alpn: (string | null)[] = [];
  const server = oneShotServer(ctx, echoLine((socket) => alpn.push(socket.alpnProtocol)), 2);
  const results = await withServer(server, async () => {
    const a = await nodeTls({ role: "client", port: server.port, alpn: ["http/1.1", "h2"] });
    assert.equal((await within(a.report(), 10_000, "report")).alpn, "h2");
    await a.close();
    const b = await nodeTls({ role: "client", port: server.port, alpn: ["x-other", "http/1.1"] });
    assert.equal((await within(b.report(), 10_000, "report")).alpn, "http/1.1");
    await b.close();
  });
  assertAllServed(results);
  assert.deepEqual(alpn, ["h2", "http/1.1"]);
});

Deno.test("ALPN: setAlpnSelectCallback sees the offer in order; null proceeds without ALPN (Node client)", async () => {
  using ctx = serverContext({ alpnProtocols: ["h2"] }); // the callback overrides the list
  const offers: string[][] = [];
  const answers: (string | null)[] = ["x-custom", null];
  ctx.setAlpnSelectCallback((socket, offered) => {
    assert.equal(socket.isServer, true);
    offers.push(offered);
    return answers[offers.length - 1];
  });
  const alpn: (string | null)[] = [];
  const server = oneShotServer(ctx, echoLine((socket) => alpn.push(socket.alpnProtocol)), 2);
  const results = await withServer(server, async () => {
    for (let i = 0; i < 2; i++) {
      const node = await nodeTls({ role: "client", port: server.port, alpn: ["http/1.1", "x-custom", "h2"] });
      const report = await within(node.report(), 10_000, "report");
      await node.close();
      assert.equal(report.alpn, answers[i]);
      assert.equal(report.received, "hello\n", "the connection works either way");
    }
  });
  assertAllServed(results);
  assert.deepEqual(offers, [["http/1.1", "x-custom", "h2"], ["http/1.1", "x-custom", "h2"]]);
  assert.deepEqual(alpn, answers);
});

Deno.test("ALPN: secsock client alpnProtocols against openssl s_server -alpn and a Node tls server", async () => {
  using client = clientContext({ alpnProtocols: ["x-unknown", "http/1.1"] });
  const peer = await opensslServer([...serverCertArgs("server"), "-alpn", "h2,http/1.1", "-naccept", "1"]);
  try {
    const socket = await connectTo(client, peer.port, "handshake with s_server");
    try {
      assert.equal(socket.alpnProtocol, "http/1.1");
      await socket.write(enc("over\n"));
      await peer.waitFor(/over/);
    } finally {
      socket.close();
    }
    // s_server prints the ALPN lines to its (buffered) stdout: let it exit (-naccept 1) and flush.
    assert.ok((await waitExit(peer)).exited, peer.output());
  } finally {
    await stopPeer(peer);
  }
  assert.match(peer.output(), /ALPN protocols advertised by the client: x-unknown, http\/1\.1/);

  const node = await nodeTls({ role: "server", alpn: ["h2", "http/1.1"] });
  try {
    const socket = await connectTo(client, node.port, "handshake with node");
    try {
      assert.equal(socket.alpnProtocol, "http/1.1");
      await socket.write(enc("x\n"));
      await within(readUntil(socket, "\n"), 10_000, "echo");
    } finally {
      socket.close();
    }
    assert.equal((await within(node.report(), 10_000, "report")).alpn, "http/1.1");
  } finally {
    await node.close();
  }
});

Deno.test("ALPN: secsock ↔ secsock: overlap, no overlap (both fail), no offer (no ALPN)", async () => {
  const pair = async (serverCtx: SecureSocketContext, clientCtx: SecureSocketContext) => {
    const alpn: (string | null)[] = [];
    const server = oneShotServer(serverCtx, async (socket) => {
      await serverHandshake(socket);
      alpn.push(socket.alpnProtocol);
      await socket.write(enc("!"));
    });
    let client: { alpn: string | null } | { error: unknown };
    try {
      const socket = await connectLocal(clientCtx, server.port);
      try {
        await within(socket.read(new Uint8Array(1)), 10_000, "one byte");
        client = { alpn: socket.alpnProtocol };
      } finally {
        socket.close();
      }
    } catch (error) {
      client = { error };
    }
    const [result] = await server.finish();
    return { client, result, serverAlpn: alpn[0] };
  };
  using server = serverContext({ alpnProtocols: ["h2", "http/1.1"] });
  using overlap = clientContext({ alpnProtocols: ["http/1.1", "h2"] });
  using disjoint = clientContext({ alpnProtocols: ["x-one"] });
  using none = clientContext();

  const ok = await pair(server, overlap);
  assert.deepEqual(ok.client, { alpn: "h2" });
  assertServed(ok.result, "overlap");
  assert.equal(ok.serverAlpn, "h2");

  const bad = await pair(server, disjoint);
  assert.ok("error" in bad.client && bad.client.error instanceof HandshakeError, String(Object.values(bad.client)[0]));
  assertRejected(bad.result, "no overlap", HandshakeError);

  const plain = await pair(server, none);
  assert.deepEqual(plain.client, { alpn: null });
  assertServed(plain.result, "no offer");
  assert.equal(plain.serverAlpn, null);
});

// ------------------------------------------------- SNI interplay ----

Deno.test("SNI + ALPN + key log + resumption: the listener's settings still apply after the switch", async () => {
  using ctxs = sniContexts({ alpnProtocols: ["h2", "http/1.1"] });
  const serverLines: string[] = [];
  ctxs.rsa.setKeylogCallback((_s, line) => serverLines.push(line));
  using client = clientContext({ alpnProtocols: ["http/1.1"] });
  const clientLines: string[] = [];
  client.setKeylogCallback((_s, line) => clientLines.push(line));
  const views: { alpn: string | null; reused: boolean; servername: string | null }[] = [];
  const server = oneShotServer(
    ctxs.rsa,
    sendText((socket) => {
      views.push({ alpn: socket.alpnProtocol, reused: socket.isSessionReused, servername: socket.servername });
      return "!\n";
    }),
    2,
  );
  const seen: { fingerprint?: string; alpn: string | null; reused: boolean }[] = [];
  const results = await withServer(server, async () => {
    let session: Uint8Array | undefined;
    for (let i = 0; i < 2; i++) {
      const socket = await within(connectLocal(client, server.port, { session }), 10_000, "client handshake");
      try {
        await within(readUntil(socket, "\n"), 10_000, "line");
        seen.push({
          fingerprint: socket.peerCertificate?.fingerprint256,
          alpn: socket.alpnProtocol,
          reused: socket.isSessionReused,
        });
        session = socket.session ?? undefined;
        await closeAndDrain(socket);
      } finally {
        socket.close();
      }
    }
  });
  assertAllServed(results);
  assert.deepEqual(seen, [
    { fingerprint: EC_FP, alpn: "http/1.1", reused: false },
    { fingerprint: EC_FP, alpn: "http/1.1", reused: true },
  ]);
  assert.deepEqual(views, [
    { alpn: "http/1.1", reused: false, servername: "localhost" },
    { alpn: "http/1.1", reused: true, servername: "localhost" },
  ]);
  assert.ok(clientLines.length > 0);
  assert.deepEqual([...serverLines].sort(), [...clientLines].sort(), "the listener's key log callback saw both");
});

Deno.test("SNI + ALPN: openssl s_client -servername localhost -alpn gets the EC certificate and ALPN", async () => {
  using ctxs = sniContexts({ alpnProtocols: ["h2", "http/1.1"] });
  const server = oneShotServer(ctxs.rsa, serveLine);
  let output = "";
  const [result] = await withServer(server, async () => {
    output = await sClient(server.port, [
      "-servername",
      "localhost",
      "-alpn",
      "http/1.1",
      "-CAfile",
      fixturePath("ca.pem"),
    ]);
  });
  assertServed(result, "connection");
  assert.equal(pemBlocks(output)[0]?.fingerprint256, EC_FP);
  assert.match(output, /ALPN protocol: http\/1\.1/);
  assert.match(output, /servername=localhost alpn=http\/1\.1/);
});

Deno.test("SNI: the chosen context's client-certificate policy applies (openssl s_client with and without -cert)", async () => {
  using rsa = serverContext();
  using strict = serverContext(
    { verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert, ca: fixture("ca.pem") },
    "server-ec",
  );
  rsa.setServerNameCallback((_s, name) => name === "localhost" ? strict : null);
  const subjects: (string | null)[] = [];
  const server = oneShotServer(
    rsa,
    sendText((socket) => {
      subjects.push(socket.peerCertificate?.subject ?? null);
      return "welcome\n";
    }),
    3,
  );
  const outputs: string[] = [];
  const results = await withServer(server, async () => {
    for (
      const args of [
        ["-servername", "localhost", "-cert", fixturePath("client.pem"), "-key", fixturePath("client.key")],
        ["-servername", "localhost"],
        ["-servername", "elsewhere.example"],
      ]
    ) {
      outputs.push(await sClient(server.port, [...args, "-cert_chain", fixturePath("intermediate.pem")]));
    }
  });
  assertServed(results[0], "with a certificate");
  assertRejected(results[1], "no certificate: the chosen context requires one");
  assertServed(results[2], "another name: the listener's context asks for none");
  assert.deepEqual(subjects, ["CN=secsock client,O=secsock", null]);
  assert.match(outputs[0], /welcome/);
  assert.doesNotMatch(outputs[1], /welcome/);
  assert.match(outputs[2], /welcome/);
});

// ------------------------------------------- callback exceptions ----

Deno.test("ALPN/SNI: exceptions and bad answers in the callbacks fail the server handshake with that error", async () => {
  const boom = new Error("alpn callback failed");
  const cases: { name: string; setup: (ctx: SecureSocketContext) => void; check: (error: unknown) => void }[] = [
    {
      name: "ALPN callback throws",
      setup: (ctx) =>
        ctx.setAlpnSelectCallback(() => {
          throw boom;
        }),
      check: (error) => assert.equal(error, boom),
    },
    {
      name: "ALPN callback picks a protocol the client did not offer",
      setup: (ctx) => ctx.setAlpnSelectCallback(() => "not-offered"),
      check: (error) => assert.ok(error instanceof TypeError, String(error)),
    },
    {
      name: "servername callback returns something else than a context",
      setup: (ctx) => ctx.setServerNameCallback(() => ({}) as unknown as SecureSocketContext),
      check: (error) => assert.ok(error instanceof TypeError, String(error)),
    },
  ];
  for (const c of cases) {
    using ctx = serverContext();
    c.setup(ctx);
    using client = clientContext({ alpnProtocols: ["http/1.1"] });
    const server = oneShotServer(ctx, serverHandshake);
    await assert.rejects(connectTo(client, server.port), HandshakeError, c.name);
    const [result] = await server.finish();
    c.check(assertRejected(result, c.name));
  }
});
