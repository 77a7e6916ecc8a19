/**
 * The HTTPS client door (node.ts: createDispatcher): undici's fetch over
 * secsock TLS sockets made from one SecureSocketContext, against real
 * servers — nginx requiring a client certificate, `openssl s_server -www
 * -Verify 1`, and a secsock server (serveHttps) — with the four callbacks:
 * an encrypted client key through a password callback, a verify callback that
 * logs and pins, the client-certificate callback, and a handshake trace.
 */
import assert from "node:assert/strict";
import { fetch } from "undici";
import {
  CertificateVerificationError,
  formatInfo,
  InfoWhere,
  PrivateKey,
  type SecureSocketContext,
  VerifyMode,
  X509Certificate,
} from "../mod.ts";
import { createDispatcher, serveHttps, tlsSocketOf } from "../node.ts";
import {
  clientContext,
  delay,
  fixture,
  fixtureFingerprint,
  fixturePath,
  freePort,
  hasPeer,
  randomBytes,
  serverContext,
  sha256,
  within,
} from "./helpers.ts";
import { opensslServer, serverCertArgs } from "./peers/openssl.ts";

const TIMEOUT = 20_000;
const PASSWORD = "secsock-pass";

/**
 * undici reuses a keep-alive connection one event-loop turn after a response
 * completes (it waits for a server that closes despite keep-alive); a request
 * issued sooner opens a second connection. Pause between sequential requests.
 */
const nextTurn = () => delay(20);

/** What a client context's callbacks observed. */
interface Observed {
  passwordCalls: number[];
  verified: string[];
  trace: string[];
}

/**
 * A client context with the fixture client certificate whose key is
 * encrypted (the password callback answers), a verify callback that logs each
 * report and pins the server's leaf, and a handshake trace.
 */
function encryptedKeyContext(pin: string): { ctx: SecureSocketContext; seen: Observed } {
  const seen: Observed = { passwordCalls: [], verified: [], trace: [] };
  const ctx = clientContext({ alpnProtocols: ["http/1.1"] });
  ctx.setPasswordCallback((maxLength, rwflag) => {
    seen.passwordCalls.push(rwflag);
    assert.ok(maxLength > PASSWORD.length);
    return PASSWORD;
  });
  ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("client-key-pkcs8-aes256.pem"));
  ctx.setCertificateVerifyCallback((ok, store) => {
    const cert = store.currentCertificate;
    seen.verified.push(`${store.depth}:${cert?.subject}:${ok}`);
    // Pin the server's own certificate on top of the chain check.
    return ok && (store.depth !== 0 || cert?.fingerprint256 === pin);
  });
  ctx.setInfoCallback((socket, where, ret) => {
    const line = formatInfo(socket, where, ret);
    if (line && (where & (InfoWhere.HandshakeDone | InfoWhere.Alert))) seen.trace.push(line);
  });
  return { ctx, seen };
}

/** nginx on a free port requiring a client certificate from the fixture CA; reports what it saw. */
async function startNginx(): Promise<{ port: number; stop(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "secsock-http-nginx-" });
  const port = freePort();
  const conf = `
    ${Deno.uid() === 0 ? "user root;" : ""}
    worker_processes 1;
    error_log ${dir}/error.log info;
    events { worker_connections 64; }
    http {
      access_log ${dir}/access.log;
      client_body_temp_path ${dir}/body;
      proxy_temp_path ${dir}/proxy;
      fastcgi_temp_path ${dir}/fastcgi;
      uwsgi_temp_path ${dir}/uwsgi;
      scgi_temp_path ${dir}/scgi;
      keepalive_timeout 30s;
      server {
        listen 127.0.0.1:${port} ssl;
        server_name localhost;
        ssl_certificate ${fixturePath("server-chain.pem")};
        ssl_certificate_key ${fixturePath("server.key")};
        ssl_client_certificate ${fixturePath("ca.pem")};
        ssl_verify_client on;
        ssl_verify_depth 2;
        location / {
          default_type text/plain;
          return 200 "$ssl_client_s_dn|$ssl_client_verify|$connection|$connection_requests";
        }
      }
    }`;
  await Deno.writeTextFile(`${dir}/nginx.conf`, conf);
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-g", `daemon off; pid ${dir}/nginx.pid;`],
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const errors = (async () => {
    let text = "";
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return text;
      text += value;
    }
  })();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
    await errors;
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await within(
      (async () => {
        for (;;) {
          try {
            (await Deno.connect({ hostname: "127.0.0.1", port })).close();
            return;
          } catch {
            await delay(25);
          }
        }
      })(),
      10_000,
      "nginx to listen",
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, stop };
}

Deno.test({
  name: "dispatcher → nginx (ssl_verify_client on): encrypted client key, pinning verify callback, trace, keep-alive",
  ignore: !hasPeer("nginx"),
  fn: async () => {
    const nginx = await startNginx();
    const { ctx, seen } = encryptedKeyContext(fixtureFingerprint("server.pem"));
    const dispatcher = createDispatcher(ctx);
    try {
      // The password callback ran once, when the key was loaded.
      assert.deepEqual(seen.passwordCalls, [0]);
      const replies = [];
      for (const path of ["/first", "/second"]) {
        const response = await within(
          fetch(`https://localhost:${nginx.port}${path}`, { dispatcher }),
          TIMEOUT,
          `GET ${path}`,
        );
        assert.equal(response.status, 200);
        replies.push((await response.text()).split("|"));
        await nextTurn();
      }
      const [[dn1, verify1, conn1, count1], [dn2, verify2, conn2, count2]] = replies;
      // nginx verified our certificate (from the encrypted key) and saw its subject.
      assert.match(dn1, /CN=secsock client/);
      assert.equal(dn2, dn1);
      assert.equal(verify1, "SUCCESS");
      assert.equal(verify2, "SUCCESS");
      // Both requests came on one connection: its 1st and 2nd request.
      assert.equal(conn2, conn1);
      assert.deepEqual([count1, count2], ["1", "2"]);
      // One handshake: the verify callback saw the chain once, deepest first, all ok.
      const depths = seen.verified.map((line) => line.split(":")[0]);
      assert.deepEqual([...new Set(depths)], ["2", "1", "0"]);
      assert.ok(seen.verified.every((line) => line.endsWith(":true")), seen.verified.join("\n"));
      assert.deepEqual(seen.trace, ["SSL_connect:handshake done"]);
    } finally {
      await dispatcher.close();
      ctx.close();
      await nginx.stop();
    }
  },
});

Deno.test({
  name:
    "dispatcher → nginx: a verify callback pinning another certificate makes fetch fail with CertificateVerificationError",
  ignore: !hasPeer("nginx"),
  fn: async () => {
    const nginx = await startNginx();
    const { ctx } = encryptedKeyContext(fixtureFingerprint("wronghost.pem"));
    const dispatcher = createDispatcher(ctx);
    try {
      const error = await within(
        fetch(`https://localhost:${nginx.port}/`, { dispatcher }).then(() => null, (e) => e),
        TIMEOUT,
        "the refused fetch",
      );
      assert.ok(error instanceof Error, "fetch must fail");
      assert.ok(error.cause instanceof CertificateVerificationError, String(error.cause));
      assert.equal(error.cause.depth, 0);
    } finally {
      await dispatcher.close();
      ctx.close();
      await nginx.stop();
    }
  },
});

Deno.test("dispatcher → openssl s_server -www -Verify 1: the client-certificate callback answers with an encrypted key", async () => {
  const server = await opensslServer([...serverCertArgs(), "-www", "-Verify", "1", "-CAfile", fixturePath("ca.pem")]);
  const ctx = clientContext({ alpnProtocols: ["http/1.1"] });
  const asked: string[][] = [];
  let passwordAsked = 0;
  ctx.setClientCertificateCallback((socket) => {
    asked.push(socket.acceptableIssuers);
    return {
      certificate: X509Certificate.fromPEM(fixture("client.pem")),
      privateKey: PrivateKey.fromPEM(fixture("client-key-pkcs8-aes256.pem"), () => {
        passwordAsked++;
        return PASSWORD;
      }),
      chain: [X509Certificate.fromPEM(fixture("intermediate.pem"))],
    };
  });
  const dispatcher = createDispatcher(ctx);
  try {
    const response = await within(
      fetch(`https://localhost:${server.port}/`, { dispatcher }),
      TIMEOUT,
      "GET / from s_server",
    );
    assert.equal(response.status, 200);
    const page = await within(response.text(), TIMEOUT, "the s_server page");
    // s_server prints the client certificate it received: ours.
    const firstLine = fixture("client.pem").split("\n")[1];
    assert.ok(page.includes(firstLine), "s_server did not show our client certificate");
    assert.equal(asked.length, 1);
    assert.equal(passwordAsked, 1);
  } finally {
    await dispatcher.close();
    ctx.close();
    await server.close();
  }
});

Deno.test("dispatcher → secsock server (serveHttps, mutual TLS): 1 MiB both ways byte-exact, one handshake for keep-alive", async () => {
  const serverCtx = serverContext({ ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
  let handshakes = 0;
  const subjects: string[] = [];
  const https = serveHttps((req, res) => {
    subjects.push(String(tlsSocketOf(req).getPeerX509Certificate()?.subject));
    req.pipe(res);
  }, { context: serverCtx, hostname: "127.0.0.1", port: 0 });
  https.server.on("secureConnection", () => handshakes++);
  const { ctx } = encryptedKeyContext(fixtureFingerprint("server.pem"));
  const dispatcher = createDispatcher(ctx);
  try {
    const body = randomBytes(1024 * 1024);
    for (let i = 0; i < 2; i++) {
      const response = await within(
        fetch(`https://localhost:${https.addr.port}/echo`, { method: "POST", body, dispatcher }),
        TIMEOUT,
        "POST /echo",
      );
      assert.equal(response.status, 200);
      const echoed = new Uint8Array(await within(response.arrayBuffer(), TIMEOUT, "the echoed body"));
      assert.equal(echoed.length, body.length);
      assert.equal(await sha256(echoed), await sha256(body));
      await nextTurn();
    }
    assert.equal(handshakes, 1);
    assert.deepEqual(subjects, ["CN=secsock client,O=secsock", "CN=secsock client,O=secsock"]);
  } finally {
    await dispatcher.close();
    ctx.close();
    await https.close();
    serverCtx.close();
  }
});

Deno.test("dispatcher: a server whose certificate names another host is refused; http: origins are refused", async () => {
  const serverCtx = serverContext({}, "wronghost");
  const https = serveHttps((_req, res) => res.end("must not be reached"), {
    context: serverCtx,
    hostname: "127.0.0.1",
    port: 0,
  });
  const ctx = clientContext();
  const dispatcher = createDispatcher(ctx);
  try {
    const error = await fetch(`https://localhost:${https.addr.port}/`, { dispatcher }).then(() => null, (e) => e);
    assert.ok(error?.cause instanceof CertificateVerificationError, String(error?.cause));
    const plain = await fetch(`http://localhost:${https.addr.port}/`, { dispatcher }).then(() => null, (e) => e);
    assert.ok(plain?.cause instanceof TypeError, String(plain?.cause));
  } finally {
    await dispatcher.close();
    ctx.close();
    await https.close();
    serverCtx.close();
  }
});
