/**
 * §4 The client certificate callback: `ctx.setClientCertificateCallback(cb)`,
 * asked when a server requests a certificate and the client context has none;
 * `socket.acceptableIssuers`; certificates returned as PEM strings or objects,
 * with chains, asynchronously, or not at all; mismatched keys; exceptions; and
 * when it must not be called. Servers are secsock and `openssl s_server`.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  type ClientCertificate,
  type ClientCertificateCallback,
  HandshakeError,
  PrivateKey,
  SecureSocket,
  type SecureSocketContext,
  SecureSocketError,
  VerifyMode,
  X509Certificate,
} from "../mod.ts";
import { clientContext, delay, enc, fixture, fixturePath, serverContext } from "./helpers.ts";
import { failure, ownedPair, type Pair, success, tlsPair } from "./callback_utils.ts";
import { opensslServer, serverCertArgs } from "./peers/openssl.ts";

const ROOT = "CN=secsock Test Root CA,O=secsock";
const CLIENT = "CN=secsock client,O=secsock";
const CLIENT_EC = "CN=secsock client ec,O=secsock";

/** A server that requires a client certificate and names ca.pem as acceptable issuer. */
function requiringServer(): SecureSocketContext {
  const ctx = serverContext();
  ctx.addTrustedCertificate(fixture("ca.pem"));
  ctx.setVerify(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert);
  return ctx;
}

/** A server that asks for a client certificate (issued under ca.pem) but does not require one. */
function askingServer(): SecureSocketContext {
  const ctx = serverContext();
  ctx.addTrustedCertificate(fixture("ca.pem"));
  ctx.setVerify(VerifyMode.Peer); // a certificate is optional
  return ctx;
}

/** The fixture client identity as PEM strings. */
function clientPEM(): ClientCertificate {
  return {
    certificate: fixture("client.pem"),
    privateKey: fixture("client.key"),
    chain: [fixture("intermediate.pem")],
  };
}

/**
 * A handshake with the one-byte exchange between `server` (by default
 * {@linkcode requiringServer}) and a client context whose client certificate
 * callback is `cb`; disposing of the pair closes both contexts too.
 */
function pairWith(cb: ClientCertificateCallback, server = requiringServer()): Promise<Pair> {
  const client = clientContext();
  client.setClientCertificateCallback(cb);
  return ownedPair(server, client, { exchange: true });
}

/** `openssl s_server` arguments requiring (`-Verify`) a client certificate chain of at most `depth` below ca.pem. */
function sServerRequiring(depth: number): string[] {
  return [...serverCertArgs(), "-Verify", String(depth), "-CAfile", fixturePath("ca.pem")];
}

/** A client certificate callback that records its calls and the issuers it saw. */
function chooser(
  answer: (socket: SecureSocket) => ReturnType<ClientCertificateCallback>,
): ClientCertificateCallback & { calls: { socket: SecureSocket; issuers: string[] }[] } {
  const calls: { socket: SecureSocket; issuers: string[] }[] = [];
  const cb = ((socket: SecureSocket) => {
    calls.push({ socket, issuers: socket.acceptableIssuers });
    return answer(socket);
  }) as ClientCertificateCallback & { calls: { socket: SecureSocket; issuers: string[] }[] };
  cb.calls = calls;
  return cb;
}

Deno.test("client cert: the callback chooses the certificate a secsock server receives", async (t) => {
  const variants: [string, () => ClientCertificate][] = [
    ["PEM strings with a chain", clientPEM],
    ["X509Certificate and PrivateKey objects", () => ({
      certificate: X509Certificate.fromPEM(fixture("client.pem")),
      privateKey: PrivateKey.fromFile(fixturePath("client.key")),
      chain: [X509Certificate.fromPEM(fixture("intermediate.pem"))],
    })],
    ["an EC certificate, mixed forms", () => ({
      certificate: fixture("client-ec.pem"),
      privateKey: PrivateKey.fromPEM(fixture("client-ec.key")),
      chain: [X509Certificate.fromPEM(fixture("intermediate.pem"))],
    })],
  ];
  for (const [label, make] of variants) {
    await t.step(label, async () => {
      const choice = make();
      const cb = chooser(() => choice);
      using pair = await pairWith(cb);
      success(pair.serverResult);
      success(pair.clientResult);
      assert.equal(cb.calls.length, 1);
      assert.equal(cb.calls[0].socket, pair.client, "the callback receives the very SecureSocket");
      assert.ok(cb.calls[0].issuers.includes(ROOT), `acceptable issuers: ${cb.calls[0].issuers}`);
      const expected = typeof choice.certificate === "string"
        ? X509Certificate.fromPEM(choice.certificate)
        : choice.certificate;
      assert.equal(pair.server.peerCertificate?.subject, expected.subject);
      assert.equal(pair.server.peerCertificate?.fingerprint256, expected.fingerprint256);
      assert.ok([CLIENT, CLIENT_EC].includes(expected.subject));
      if (choice.privateKey instanceof PrivateKey) choice.privateKey.close();
    });
  }
});

Deno.test("client cert: acceptableIssuers lists exactly the CA names the server sent", async () => {
  using server = requiringServer();
  server.addTrustedCertificate(fixture("other-ca.pem"));
  using client = clientContext();
  const cb = chooser((socket) =>
    socket.acceptableIssuers.includes("CN=Other Test Root CA,O=Other")
      ? { certificate: fixture("other-client.pem"), privateKey: fixture("other-client.key") }
      : null
  );
  client.setClientCertificateCallback(cb);
  using pair = await tlsPair(server, client, { exchange: true });
  success(pair.serverResult);
  assert.deepEqual([...cb.calls[0].issuers].sort(), [ROOT, "CN=Other Test Root CA,O=Other"].sort());
  assert.equal(pair.server.peerCertificate?.subject, "CN=other client,O=Other");
});

Deno.test("client cert: the callback chooses the certificate openssl s_server receives", async () => {
  const peer = await opensslServer([...sServerRequiring(2), "-verify_return_error"]);
  try {
    using client = clientContext();
    const cb = chooser(() => clientPEM());
    client.setClientCertificateCallback(cb);
    const socket = new SecureSocket(client, { hostname: "localhost" });
    await socket.connect({ hostname: "127.0.0.1", port: peer.port });
    await socket.write(enc("hello from the chosen client\n"));
    await peer.waitFor(/hello from the chosen client/);
    assert.equal(cb.calls.length, 1);
    assert.equal(cb.calls[0].socket, socket);
    assert.ok(cb.calls[0].issuers.includes(ROOT), `acceptable issuers: ${cb.calls[0].issuers}`);
    // s_server prints the client certificate's subject (in its own name format).
    await peer.waitFor(/subject=.*secsock client/);
    socket.close();
  } finally {
    await peer.close();
  }
});

Deno.test("client cert: returning null to a server that requires a certificate fails clearly", async (t) => {
  await t.step("secsock server", async () => {
    const cb = chooser(() => null);
    using pair = await pairWith(cb);
    assert.equal(cb.calls.length, 1);
    const serverError = failure(pair.serverResult, "server");
    assert.ok(
      serverError instanceof CertificateVerificationError || serverError instanceof HandshakeError,
      `got ${serverError}`,
    );
    assert.ok((serverError as SecureSocketError).message.length > 0);
    assert.ok(failure(pair.clientResult, "client") instanceof SecureSocketError, "the client is rejected too");
    assert.equal(pair.server.isServer, true);
  });
  await t.step("openssl s_server -Verify", async () => {
    const peer = await opensslServer(sServerRequiring(1));
    try {
      using client = clientContext();
      const cb = chooser(() => null);
      client.setClientCertificateCallback(cb);
      const socket = new SecureSocket(client, { hostname: "localhost" });
      // TLS 1.3: the client finishes first; the server's alert arrives with the first read.
      const outcome = await (async () => {
        try {
          await socket.connect({ hostname: "127.0.0.1", port: peer.port });
          await socket.read(new Uint8Array(1));
          return null;
        } catch (error) {
          return error;
        }
      })();
      assert.ok(outcome instanceof SecureSocketError, `got ${outcome}`);
      assert.equal(cb.calls.length, 1);
      socket.close();
    } finally {
      await peer.close();
    }
  });
});

Deno.test("client cert: a Promise that resolves later suspends the handshake", async (t) => {
  await t.step("resolving to a certificate", async () => {
    const events: string[] = [];
    const cb = chooser(async () => {
      await delay(50);
      events.push("chosen");
      return clientPEM();
    });
    using server = requiringServer();
    using client = clientContext();
    client.setClientCertificateCallback(cb);
    const start = performance.now();
    using pair = await tlsPair(server, client, { exchange: true });
    success(pair.serverResult);
    success(pair.clientResult);
    events.push("connected");
    assert.ok(performance.now() - start >= 45);
    assert.deepEqual(events, ["chosen", "connected"]);
    assert.equal(cb.calls.length, 1, "called once, not again when the handshake resumes");
    assert.equal(pair.server.peerCertificate?.subject, CLIENT);
  });
  await t.step("resolving to null", async () => {
    const cb = chooser(() => delay(10).then(() => null));
    using pair = await pairWith(cb);
    assert.ok(failure(pair.serverResult, "server") instanceof SecureSocketError);
    assert.equal(cb.calls.length, 1);
  });
  await t.step("rejecting: connect() rejects with the same error object", async () => {
    const thrown = new Error("smart card removed");
    using pair = await pairWith(async () => {
      await delay(10);
      throw thrown;
    });
    assert.equal(failure(pair.clientResult, "client"), thrown);
  });
});

Deno.test("client cert: a certificate whose key does not match is a clear error", async () => {
  using pair = await pairWith(() => ({
    certificate: fixture("client.pem"),
    privateKey: fixture("server.key"),
    chain: [fixture("intermediate.pem")],
  }));
  const error = failure(pair.clientResult, "client");
  assert.ok(error instanceof SecureSocketError, `got ${error}`);
  assert.match(error.message, /do not match/);
  failure(pair.serverResult, "server");
});

Deno.test("client cert: a thrown error rejects connect() with the same object", async (t) => {
  const throwables: [string, unknown][] = [["an Error", new Error("no certificate store")], ["a string", "plain"]];
  for (const [label, thrown] of throwables) {
    await t.step(label, async () => {
      let calls = 0;
      using pair = await pairWith(() => {
        calls++;
        throw thrown;
      });
      assert.equal(failure(pair.clientResult, "client"), thrown);
      assert.equal(calls, 1);
      failure(pair.serverResult, "server");
      await assert.rejects(pair.client.read(new Uint8Array(1)));
    });
  }
  await t.step("to a server that only asks: the handshake does not go on without a certificate", async () => {
    const thrown = new Error("keychain locked");
    using pair = await pairWith(() => {
      throw thrown;
    }, askingServer());
    assert.equal(failure(pair.clientResult, "client"), thrown);
    failure(pair.serverResult, "server");
  });
  await t.step("a malformed answer is a TypeError", async () => {
    using pair = await pairWith((() => ({ cert: "nope" })) as unknown as ClientCertificateCallback);
    assert.ok(failure(pair.clientResult, "client") instanceof TypeError);
  });
  await t.step("setClientCertificateCallback rejects a non-function", () => {
    using client = clientContext();
    assert.throws(() => client.setClientCertificateCallback({} as unknown as ClientCertificateCallback), TypeError);
  });
});

Deno.test("client cert: not invoked when the context already has a certificate", async () => {
  using server = requiringServer();
  using client = clientContext();
  client.useCertificateChainFile(fixturePath("client-chain.pem"));
  client.usePrivateKeyFile(fixturePath("client.key"));
  const cb = chooser(() => ({ certificate: fixture("client-ec.pem"), privateKey: fixture("client-ec.key") }));
  client.setClientCertificateCallback(cb);
  using pair = await tlsPair(server, client, { exchange: true });
  success(pair.serverResult);
  success(pair.clientResult);
  assert.equal(cb.calls.length, 0);
  assert.equal(pair.server.peerCertificate?.subject, CLIENT, "the configured certificate was sent");
});

Deno.test("client cert: not invoked when the server does not ask", async () => {
  const cb = chooser(() => clientPEM());
  using pair = await pairWith(cb, serverContext()); // VerifyMode.None: no CertificateRequest
  success(pair.serverResult);
  success(pair.clientResult);
  assert.equal(cb.calls.length, 0);
  assert.equal(pair.server.peerCertificate, null);
  assert.deepEqual(pair.client.acceptableIssuers, []);
});

Deno.test("client cert: an optional request (Peer without FailIfNoPeerCert) accepts null", async () => {
  const cb = chooser(() => null);
  using pair = await pairWith(cb, askingServer());
  success(pair.serverResult);
  success(pair.clientResult);
  assert.equal(cb.calls.length, 1);
  assert.equal(pair.server.peerCertificate, null);
});
