/**
 * The Node.js test suite of the npm package: handshakes with the fixture PKI,
 * the four callbacks, a client against `openssl s_server` and a server against
 * Node's own `tls` client. Run by `deno task build:npm` after building npm/.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash, webcrypto as crypto } from "node:crypto";
import tls from "node:tls";
import { test } from "node:test";
import {
  clientContext,
  connectLocal,
  dec,
  echoServer,
  enc,
  fixture,
  fixturePath,
  opensslServer,
  readAll,
  secsock,
  serverContext,
} from "./helpers.mjs";

const {
  CertificateVerificationError,
  formatInfo,
  InfoWhere,
  PrivateKey,
  SecureSocket,
  SecureSocketContext,
  SocketClosedError,
  UnableToReadPrivateKeyError,
  VerifyMode,
  X509Certificate,
} = secsock;

const sha256 = (data) => createHash("sha256").update(data).digest("hex");

test("loads the system's OpenSSL 3 (Node.js: with koffi; Deno: with Deno's FFI)", () => {
  assert.match(secsock.opensslVersion(), /^OpenSSL 3\./);
  const cert = X509Certificate.fromPEM(fixture("server.pem"));
  assert.equal(cert.subject, "CN=localhost,O=secsock");
  assert.ok(cert.subjectAltNames.includes("DNS:localhost"));
  assert.match(cert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
});

test("handshake: secsock client and secsock server with the fixture PKI (TLS 1.3), data both ways", async () => {
  const server = serverContext();
  const client = clientContext();
  const echo = echoServer(server);
  const socket = await connectLocal(client, echo.port);
  assert.equal(socket.protocol, "TLSv1.3");
  assert.ok(socket.cipher);
  assert.equal(socket.peerCertificate?.subject, "CN=localhost,O=secsock");
  assert.deepEqual(socket.peerCertificateChain.map((c) => c.subject), [
    "CN=localhost,O=secsock",
    "CN=secsock Test Intermediate CA,O=secsock",
  ]);
  assert.equal(socket.remoteAddr.port, echo.port);
  // 4 MiB both ways at once: backpressure on both transports.
  const payload = new Uint8Array(4 * 1024 * 1024 + 17);
  for (let i = 0; i < payload.length; i += 65536) crypto.getRandomValues(payload.subarray(i, i + 65536));
  const [, received] = await Promise.all([
    (async () => {
      await socket.write(enc("hello"));
      await socket.write(payload);
      await socket.closeWrite();
    })(),
    readAll(socket),
  ]);
  assert.equal(received.length, payload.length + 5);
  assert.equal(dec(received.subarray(0, 5)), "hello");
  assert.equal(sha256(received.subarray(5)), sha256(payload));
  socket.close();
  await echo.close();
  assert.deepEqual(echo.errors, []);
  await assert.rejects(socket.read(new Uint8Array(10)), SocketClosedError);
  server.close();
  client.close();
});

test("password callback (§1): an encrypted key, from a file and from memory", () => {
  const calls = [];
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  ctx.setPasswordCallback((maxLength, rwflag) => {
    calls.push({ maxLength, rwflag });
    return "secsock-pass";
  });
  ctx.useCertificateChainFile(fixturePath("server-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("server-key-pkcs8-aes256.pem"));
  ctx.usePrivateKey(fixture("server-key-legacy-des3.pem"));
  assert.equal(calls.length, 2);
  for (const call of calls) {
    assert.equal(call.rwflag, 0);
    assert.ok(call.maxLength > "secsock-pass".length);
  }
  // An unencrypted key never asks.
  ctx.usePrivateKeyFile(fixturePath("server.key"));
  assert.equal(calls.length, 2);
  ctx.close();

  const key = PrivateKey.fromPEM(fixture("server-key-pkcs8-scrypt.pem"), "secsock-pass");
  assert.equal(key.type, "RSA");
  assert.equal(key.bits, 2048);
  key.close();
  assert.throws(() => PrivateKey.fromPEM(fixture("server-key-pkcs8-aes256.pem"), "wrong"), UnableToReadPrivateKeyError);
  // An exception in the callback is rethrown from the load: the same object.
  const boom = new Error("no password today");
  assert.throws(
    () =>
      PrivateKey.fromPEM(fixture("server-key-pkcs8-aes256.pem"), () => {
        throw boom;
      }),
    (error) => error === boom,
  );
});

test("password callback (§1): a server with an encrypted key completes handshakes", async () => {
  const server = new SecureSocketContext({ useSystemTrust: false });
  server.useCertificateChainFile(fixturePath("server-chain.pem"));
  server.usePrivateKeyFile(fixturePath("server-key-pkcs8-aes256.pem"), (maxLength) => {
    assert.ok(maxLength > 0);
    return "secsock-pass";
  });
  const client = clientContext();
  const echo = echoServer(server);
  const socket = await connectLocal(client, echo.port);
  await socket.write(enc("key unlocked"));
  await socket.closeWrite();
  assert.equal(dec(await readAll(socket)), "key unlocked");
  socket.close();
  await echo.close();
  assert.deepEqual(echo.errors, []);
});

test("verify callback (§2): sees depths 2, 1, 0 with the chain; a rejection fails the handshake", async () => {
  const server = serverContext();
  const echo = echoServer(server);
  const seen = [];
  const client = clientContext();
  client.setCertificateVerifyCallback((ok, store) => {
    seen.push({ depth: store.depth, ok, subject: store.currentCertificate?.subject, chain: store.chain.length });
    return ok;
  });
  const socket = await connectLocal(client, echo.port);
  assert.deepEqual(seen.map((s) => s.depth), [2, 1, 0]);
  assert.deepEqual(seen.map((s) => s.subject), [
    "CN=secsock Test Root CA,O=secsock",
    "CN=secsock Test Intermediate CA,O=secsock",
    "CN=localhost,O=secsock",
  ]);
  assert.ok(seen.every((s) => s.ok && s.chain === 3));
  socket.close();

  const pin = "00:11";
  const picky = clientContext();
  picky.setCertificateVerifyCallback((ok, store) =>
    store.depth === 0 ? store.currentCertificate?.fingerprint256 === pin : ok
  );
  await assert.rejects(connectLocal(picky, echo.port), (error) => {
    assert.ok(error instanceof CertificateVerificationError);
    assert.equal(error.depth, 0);
    return true;
  });

  // A throwing callback rejects the handshake with the same error object.
  const boom = new Error("verify exploded");
  const throwing = clientContext();
  throwing.setCertificateVerifyCallback(() => {
    throw boom;
  });
  await assert.rejects(connectLocal(throwing, echo.port), (error) => error === boom);

  // An async (Promise) answer on a client suspends the handshake.
  const later = clientContext();
  later.setCertificateVerifyCallback(async (ok) => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    return ok;
  });
  const slow = await connectLocal(later, echo.port);
  assert.equal(slow.protocol, "TLSv1.3");
  slow.close();
  await echo.close();
});

test("info callback (§3): handshake states, alerts, and HandshakeDone", async () => {
  const server = serverContext();
  const serverWheres = [];
  server.setInfoCallback((_socket, where) => serverWheres.push(where));
  const echo = echoServer(server);
  const wheres = [];
  const lines = [];
  const socket = new SecureSocket(clientContext(), { hostname: "localhost" });
  socket.setInfoCallback((s, where, ret) => {
    wheres.push(where);
    const line = formatInfo(s, where, ret);
    if (line) lines.push(line);
  });
  await socket.connect({ hostname: "127.0.0.1", port: echo.port });
  assert.ok(wheres.some((w) => w & InfoWhere.HandshakeStart));
  assert.ok(wheres.some((w) => w & InfoWhere.HandshakeDone));
  assert.ok(lines.some((l) => l.includes("SSL_connect:SSLv3/TLS write client hello")), lines.join("\n"));
  await socket.write(enc("x"));
  await socket.closeWrite();
  await readAll(socket);
  socket.close();
  await echo.close();
  assert.ok(serverWheres.some((w) => w & InfoWhere.HandshakeDone));
});

test("client certificate callback (§4): chosen (asynchronously) and seen by the server", async () => {
  const server = serverContext({ ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
  let serverSaw = null;
  const echo = echoServer(server, async (socket) => {
    await socket.handshake();
    serverSaw = socket.peerCertificate?.subject;
  });
  const client = clientContext();
  let asked = 0;
  let issuers = null;
  client.setClientCertificateCallback(async (socket) => {
    asked++;
    issuers = socket.acceptableIssuers;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return {
      certificate: fixture("client.pem"),
      privateKey: fixture("client.key"),
      chain: [fixture("intermediate.pem")],
    };
  });
  const socket = await connectLocal(client, echo.port);
  await socket.write(enc("mtls"));
  await socket.closeWrite();
  assert.equal(dec(await readAll(socket)), "mtls");
  socket.close();
  await echo.close();
  assert.deepEqual(echo.errors, []);
  assert.equal(asked, 1);
  assert.ok(Array.isArray(issuers));
  assert.equal(serverSaw, "CN=secsock client,O=secsock");

  // Sending none makes a server that requires one refuse the connection.
  const server2 = serverContext({ ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
  const echo2 = echoServer(server2);
  const none = clientContext();
  none.setClientCertificateCallback(() => null);
  await assert.rejects(async () => {
    const s = await connectLocal(none, echo2.port);
    try {
      await readAll(s);
    } finally {
      s.close();
    }
  });
  await echo2.close();
});

test("secsock client against openssl s_server", async () => {
  const peer = await opensslServer([
    "-cert",
    "server.pem",
    "-cert_chain",
    "intermediate.pem",
    "-key",
    "server.key",
    "-www",
  ]);
  try {
    const socket = await connectLocal(clientContext(), peer.port);
    assert.equal(socket.peerCertificate?.subject, "CN=localhost,O=secsock");
    await socket.write(enc("GET / HTTP/1.0\r\n\r\n"));
    const reply = dec(await readAll(socket));
    assert.match(reply, /^HTTP\/1\.0 200 ok/);
    assert.match(reply, /TLSv1\.3/);
    socket.close();
  } finally {
    await peer.close();
  }
});

test("secsock server against Node's tls client", async () => {
  const echo = echoServer(serverContext());
  const client = tls.connect({ host: "127.0.0.1", port: echo.port, servername: "localhost", ca: fixture("ca.pem") });
  await new Promise((resolve, reject) => {
    client.once("secureConnect", resolve);
    client.once("error", reject);
  });
  assert.equal(client.authorized, true);
  assert.equal(client.getProtocol(), "TLSv1.3");
  const chunks = [];
  client.on("data", (chunk) => chunks.push(chunk));
  const ended = new Promise((resolve, reject) => {
    client.once("end", resolve);
    client.once("error", reject);
  });
  client.end("ping from node:tls");
  await ended;
  assert.equal(Buffer.concat(chunks).toString(), "ping from node:tls");
  client.destroy();
  await echo.close();
  assert.deepEqual(echo.errors, []);
});
