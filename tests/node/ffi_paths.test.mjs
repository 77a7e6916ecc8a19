/**
 * The FFI paths the handshake suite (secsock.test.mjs) leaves out, against the
 * built npm package: `T **` out-parameters and i2d/d2i cursors (sessions,
 * PKCS#12, X509Store), pointer-sized results and 64-bit error codes (the error
 * queue, SSL_CTX_ctrl), and the callbacks OpenSSL calls with out-parameters
 * (SNI, ALPN, key log). Each FFI backend differs exactly there, so this file
 * runs wherever the package claims to run: Node.js (koffi) and Bun (bun:ffi).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import {
  clientContext,
  connectLocal,
  dec,
  echoServer,
  enc,
  fixture,
  fixturePath,
  npmDir,
  readAll,
  secsock,
  serverContext,
} from "./helpers.mjs";

const {
  checkHost,
  checkIP,
  Pkcs12,
  PrivateKey,
  SecureSocket,
  SecureSocketContext,
  SecureSocketError,
  UnableToReadCertificateError,
  UnableToReadPrivateKeyError,
  X509Certificate,
  X509Store,
} = secsock;

/** One round trip, then close_notify both ways: TLS 1.3 tickets have arrived when it returns. */
async function roundTrip(socket, text) {
  await socket.write(enc(text));
  await socket.closeWrite();
  return dec(await readAll(socket));
}

test("the package uses this runtime's own FFI (bun:ffi on Bun, koffi on Node.js, Deno's FFI on Deno)", async () => {
  const { ffi } = await import(pathToFileURL(join(npmDir, "esm/ffi/runtime.js")).href);
  const expected = globalThis.Deno ? "deno" : process.versions.bun ? "bun" : "node";
  assert.equal(ffi.name, expected);
});

test("errors: the error queue's 64-bit codes become typed errors with OpenSSL's reasons", () => {
  assert.throws(() => X509Certificate.fromPEM("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), (
    error,
  ) => {
    assert.ok(error instanceof UnableToReadCertificateError);
    assert.ok(error.openssl.length > 0, "the OpenSSL error queue was read");
    for (const entry of error.openssl) {
      assert.equal(typeof entry.code, "number");
      assert.ok(entry.code > 0);
      assert.ok(entry.library.length > 0 && entry.reason.length > 0);
    }
    return true;
  });
  // The queue was drained: the next failure reports only its own entries.
  assert.throws(() => PrivateKey.fromPEM("nothing"), UnableToReadPrivateKeyError);
});

test("empty DER input: d2i through a cursor to zero bytes is a typed error, never a runtime's own", () => {
  const empty = new Uint8Array(0);
  assert.throws(() => X509Certificate.fromDER(empty), UnableToReadCertificateError);
  assert.throws(() => checkHost(empty, "localhost"), UnableToReadCertificateError);
  assert.throws(() => PrivateKey.fromDER(empty), UnableToReadPrivateKeyError);
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  assert.throws(() => ctx.useCertificateChain(empty), UnableToReadCertificateError);
  assert.throws(() => new SecureSocket(ctx, { hostname: "localhost", session: empty }), SecureSocketError);
  ctx.close();
});

test("sessions: i2d/d2i through cursors; a saved session resumes (TLS 1.2 and 1.3)", async () => {
  for (const version of ["TLSv1.2", "TLSv1.3"]) {
    const server = serverContext({ minVersion: version, maxVersion: version });
    const client = clientContext({ minVersion: version, maxVersion: version });
    const echo = echoServer(server);
    const first = await connectLocal(client, echo.port);
    assert.equal(await roundTrip(first, "first"), "first");
    const session = first.session;
    assert.ok(session instanceof Uint8Array && session.length > 0, `${version}: a session was serialized`);
    assert.equal(first.isSessionReused, false);
    first.close();

    const second = await SecureSocket.connect(client, {
      hostname: "127.0.0.1",
      servername: "localhost",
      port: echo.port,
      session,
    });
    assert.equal(second.isSessionReused, true, `${version}: the session resumed`);
    assert.equal(second.protocol, version);
    assert.equal(await roundTrip(second, "second"), "second");
    second.close();
    await echo.close();
    assert.deepEqual(echo.errors, []);

    // Bytes that are no session fail d2i_SSL_SESSION with a typed error.
    assert.throws(
      () => new SecureSocket(client, { hostname: "localhost", session: new Uint8Array([0x30, 0x03, 1, 2, 3]) }),
      SecureSocketError,
    );
    server.close();
    client.close();
  }
});

test("ticket keys: SSL_CTX_ctrl writes and reads 80 bytes through a buffer pointer", () => {
  const ctx = serverContext();
  const keys = new Uint8Array(80).map((_, i) => i * 3);
  ctx.setTicketKeys(keys);
  assert.deepEqual(ctx.getTicketKeys(), keys);
  assert.throws(() => ctx.setTicketKeys(new Uint8Array(79)), RangeError);
  ctx.close();
});

/** A server context with the EC certificate (the one the SNI callbacks switch to). */
function ecContext(options = {}) {
  const ctx = new SecureSocketContext({ useSystemTrust: false, ...options });
  ctx.useCertificateChainFile(fixturePath("server-ec-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("server-ec.key"));
  return ctx;
}

/** The handshake's view from the server (after `handshake()`) and the client, and the server's errors. */
async function handshakeViews(server, client) {
  const views = [];
  const echo = echoServer(server, async (socket) => {
    await socket.handshake();
    views.push({
      servername: socket.servername,
      alpn: socket.alpnProtocol,
      ekm: socket.exportKeyingMaterial("EXPERIMENTAL secsock", 32, enc("ctx")),
    });
  });
  try {
    const socket = await connectLocal(client, echo.port);
    const seen = {
      alpn: socket.alpnProtocol,
      certificate: socket.peerCertificate?.fingerprint256,
      ekm: socket.exportKeyingMaterial("EXPERIMENTAL secsock", 32, enc("ctx")),
      echoed: await roundTrip(socket, "views"),
    };
    socket.close();
    return { server: views, client: seen, errors: echo.errors };
  } finally {
    await echo.close();
  }
}

const EC_FINGERPRINT = X509Certificate.fromPEM(fixture("server-ec.pem")).fingerprint256;

test("SNI and ALPN callbacks: an async context switch and an ALPN choice written through out-parameters", async () => {
  const rsa = serverContext({ alpnProtocols: ["h2", "http/1.1"] });
  const ec = ecContext({ alpnProtocols: ["h2", "http/1.1"] });
  const requested = [];
  rsa.setServerNameCallback(async (_socket, name) => {
    requested.push(name);
    await new Promise((resolve) => setTimeout(resolve, 5));
    return name === "localhost" ? ec : null;
  });
  const offers = [];
  ec.setAlpnSelectCallback((_socket, offered) => {
    offers.push(offered);
    return offered.includes("http/1.1") ? "http/1.1" : null;
  });
  const client = clientContext({ alpnProtocols: ["spdy/3", "http/1.1"] });
  const views = await handshakeViews(rsa, client);
  assert.deepEqual(views.errors, []);
  assert.deepEqual(requested, ["localhost"]);
  assert.deepEqual(offers, [["spdy/3", "http/1.1"]]);
  assert.equal(views.client.certificate, EC_FINGERPRINT, "the client got the certificate of the context SNI chose");
  assert.equal(views.client.alpn, "http/1.1");
  assert.equal(views.client.echoed, "views");
  assert.equal(views.server.length, 1);
  assert.equal(views.server[0].servername, "localhost");
  assert.equal(views.server[0].alpn, "http/1.1");
  assert.equal(views.client.ekm.length, 32);
  assert.deepEqual(views.server[0].ekm, views.client.ekm, "both ends derived the same keying material");
  rsa.close();
  ec.close();
  client.close();
});

const KEYLOG_LINE = /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+$/;

test("key log callback: both ends log the same secrets", async () => {
  const server = serverContext();
  const serverLines = [];
  server.setKeylogCallback((_socket, line) => serverLines.push(line));
  const client = clientContext();
  const clientLines = [];
  client.setKeylogCallback((_socket, line) => clientLines.push(line));
  const views = await handshakeViews(server, client);
  assert.deepEqual(views.errors, []);
  assert.ok(clientLines.length > 0 && clientLines.every((l) => KEYLOG_LINE.test(l)), clientLines.join("\n"));
  assert.deepEqual([...serverLines].sort(), [...clientLines].sort());
  server.close();
  client.close();
});

test("key log callback after an SNI switch: the listener's callback still logs", async () => {
  const rsa = serverContext();
  const ec = ecContext();
  rsa.setServerNameCallback(() => ec);
  const serverLines = [];
  rsa.setKeylogCallback((_socket, line) => serverLines.push(line));
  const client = clientContext();
  const clientLines = [];
  client.setKeylogCallback((_socket, line) => clientLines.push(line));
  const views = await handshakeViews(rsa, client);
  assert.deepEqual(views.errors, []);
  assert.equal(views.client.certificate, EC_FINGERPRINT);
  assert.ok(clientLines.length > 0);
  assert.deepEqual([...serverLines].sort(), [...clientLines].sort());
  rsa.close();
  ec.close();
  client.close();
});

test("PKCS#12: PKCS12_parse's out-parameters give the certificate, key and chain", () => {
  const data = new Uint8Array(readFileSync(fixturePath("client.p12")));
  const contents = Pkcs12.parse(data, "secsock-pass");
  assert.equal(contents.certificate.subject, "CN=secsock client,O=secsock");
  assert.equal(contents.privateKey.type, "RSA");
  assert.deepEqual(contents.chain.map((c) => c.subject), ["CN=secsock Test Intermediate CA,O=secsock"]);
  assert.throws(() => Pkcs12.parse(data, "wrong"), SecureSocketError);
});

test("X509Store and name checks: a chain verifies; a wrong host name or a missing intermediate does not", () => {
  const store = new X509Store({ ca: fixture("ca.pem") });
  const good = store.verify(fixture("server.pem"), {
    intermediates: [fixture("intermediate.pem")],
    hostname: "localhost",
    purpose: "sslserver",
  });
  assert.equal(good.ok, true, good.errorString);
  assert.deepEqual(good.chain.map((c) => c.subject), [
    "CN=localhost,O=secsock",
    "CN=secsock Test Intermediate CA,O=secsock",
    "CN=secsock Test Root CA,O=secsock",
  ]);
  const wrongHost = store.verify(fixture("server.pem"), {
    intermediates: [fixture("intermediate.pem")],
    hostname: "example.com",
  });
  assert.equal(wrongHost.ok, false);
  assert.equal(wrongHost.depth, 0);
  const noIntermediate = store.verify(fixture("server.pem"));
  assert.equal(noIntermediate.ok, false);
  store.close();

  const cert = X509Certificate.fromPEM(fixture("server.pem"));
  assert.equal(checkHost(cert, "localhost"), true);
  assert.equal(checkHost(cert, "example.com"), false);
  assert.equal(checkIP(cert, "127.0.0.1"), true);
  assert.equal(checkIP(cert, "::1"), true);
  assert.equal(checkIP(cert, "10.0.0.1"), false);
});
