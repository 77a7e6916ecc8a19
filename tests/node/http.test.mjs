/**
 * `secsock/node` on Node.js, from the built npm package: the undici
 * dispatcher against `openssl s_server -www -Verify 1` and against serveHttps,
 * and serveHttps against Node's own `https.request` with a client certificate
 * (keep-alive: two requests, one handshake).
 */
import assert from "node:assert/strict";
import https from "node:https";
import { createRequire } from "node:module";
import { isAbsolute, join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { clientContext, fixture, fixturePath, npmDir, opensslServer, secsock, serverContext } from "./helpers.mjs";

const packageJson = createRequire(import.meta.url)(join(npmDir, "package.json"));
const node = await import(pathToFileURL(join(npmDir, packageJson.exports["./node"].import)).href);
// undici as the application would have it: resolved from the package's own node_modules.
// (Bun resolves "undici" to a built-in module of its own, by name.)
const undiciPath = createRequire(join(npmDir, "package.json")).resolve("undici");
const undici = await import(isAbsolute(undiciPath) ? pathToFileURL(undiciPath).href : undiciPath);
/**
 * Bun swaps the undici package for a built-in stand-in whose Agent does not
 * dispatch (no `connect` hook, no `close()`), so the dispatcher cannot run
 * there; the server door (serveHttps) does.
 */
const noUndici = process.versions.bun
  ? "Bun replaces the undici package with its own built-in stand-in, which has no working Agent"
  : undefined;
const { PrivateKey, VerifyMode, X509Certificate } = secsock;

const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 20));

function mtlsServer() {
  const context = serverContext({ ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
  let handshakes = 0;
  const seen = [];
  const server = node.serveHttps((req, res) => {
    const tls = node.tlsSocketOf(req);
    seen.push({ cn: tls.getPeerCertificate().subject?.CN, authorized: tls.authorized, url: req.url });
    req.pipe(res);
  }, { context, hostname: "127.0.0.1", port: 0 });
  server.server.on("secureConnection", () => handshakes++);
  return {
    server,
    seen,
    get handshakes() {
      return handshakes;
    },
    async close() {
      await server.close();
      context.close();
    },
  };
}

test("dispatcher → openssl s_server -www -Verify 1: client certificate from an encrypted key via the callback", {
  skip: noUndici,
}, async () => {
  const server = await opensslServer([
    "-cert",
    "server.pem",
    "-cert_chain",
    "intermediate.pem",
    "-key",
    "server.key",
    "-www",
    "-Verify",
    "1",
    "-CAfile",
    "ca.pem",
  ]);
  const ctx = clientContext({ alpnProtocols: ["http/1.1"] });
  let asked = 0;
  ctx.setClientCertificateCallback(() => {
    asked++;
    return {
      certificate: X509Certificate.fromPEM(fixture("client.pem")),
      privateKey: PrivateKey.fromPEM(fixture("client-key-pkcs8-aes256.pem"), () => "secsock-pass"),
      chain: [fixture("intermediate.pem")],
    };
  });
  const dispatcher = node.createDispatcher(ctx);
  try {
    const response = await undici.fetch(`https://localhost:${server.port}/`, { dispatcher });
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.ok(page.includes(fixture("client.pem").split("\n")[1]), "s_server did not show our client certificate");
    assert.equal(asked, 1);
  } finally {
    await dispatcher.close();
    ctx.close();
    await server.close();
  }
});

test("dispatcher → serveHttps (mutual TLS): bodies byte-exact, two requests on one connection", {
  skip: noUndici,
}, async () => {
  const s = mtlsServer();
  const ctx = clientContext({ alpnProtocols: ["http/1.1"] });
  ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("client-key-pkcs8-aes256.pem"), "secsock-pass");
  const dispatcher = node.createDispatcher(ctx);
  try {
    for (const size of [10, 200_000]) {
      const body = new Uint8Array(size).map((_, i) => i % 251);
      const response = await undici.fetch(`https://localhost:${s.server.addr.port}/echo`, {
        method: "POST",
        body,
        dispatcher,
      });
      assert.equal(response.status, 200);
      assert.deepEqual(new Uint8Array(await response.arrayBuffer()), body);
      await nextTurn();
    }
    assert.equal(s.handshakes, 1);
    assert.deepEqual(s.seen.map((e) => [e.cn, e.authorized]), [["secsock client", true], ["secsock client", true]]);
  } finally {
    await dispatcher.close();
    ctx.close();
    await s.close();
  }
});

test("serveHttps ← Node https.request with a client certificate: keep-alive reuse, one handshake", async () => {
  const s = mtlsServer();
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: fixture("ca.pem"),
    cert: fixture("client-chain.pem"),
    key: fixture("client.key"),
  });
  const request = (path, body) =>
    new Promise((resolve, reject) => {
      const req = https.request(
        { host: "127.0.0.1", servername: "localhost", port: s.server.addr.port, method: "POST", path, agent },
        (res) => {
          const authorized = res.socket.authorized;
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode, authorized, reused: req.reusedSocket, body: Buffer.concat(chunks) }));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  try {
    const first = await request("/one", "first body");
    const second = await request("/two", "second body");
    assert.equal(first.status, 200);
    assert.equal(first.authorized, true);
    assert.equal(first.body.toString(), "first body");
    assert.equal(second.body.toString(), "second body");
    assert.equal(second.reused, true);
    assert.equal(s.handshakes, 1);
    assert.deepEqual(s.seen.map((e) => e.url), ["/one", "/two"]);
    assert.equal(s.seen[0].cn, "secsock client");
  } finally {
    agent.destroy();
    await s.close();
  }
});
