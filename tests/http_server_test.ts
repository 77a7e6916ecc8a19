/**
 * The HTTPS server door (node.ts: serveHttps): a node:http handler served
 * over a SecureSocketListener with mutual TLS, tested with real clients —
 * curl, Node's https.request (a node subprocess) and Deno's fetch with
 * Deno.createHttpClient client certificates — and with bad clients (garbage,
 * a stalled handshake, an untrusted certificate, none) next to a good one.
 */
import assert from "node:assert/strict";
import type http from "node:http";
import {
  CertificateVerificationError,
  HandshakeError,
  type SecureSocketContext,
  SecureSocketError,
  VerifyMode,
} from "../mod.ts";
import { type HttpsServer, serveHttps, tlsSocketOf } from "../node.ts";
import {
  clientContext,
  connectLocal,
  dec,
  delay,
  enc,
  fixture,
  fixturePath,
  hasPeer,
  randomBytes,
  readAll,
  readUntil,
  serverContext,
  sha256,
  within,
} from "./helpers.ts";

const TIMEOUT = 20_000;

/** A server context requiring a client certificate from the fixture CA. */
function mtlsContext(): SecureSocketContext {
  return serverContext({ ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
}

/** What the handler saw of one request. */
interface Seen {
  url: string;
  method: string;
  cn: unknown;
  x509Subject: string | undefined;
  chain: string[];
  authorized: boolean;
  protocol: string | null;
  bodySha: string;
  bodyLength: number;
}

/** serveHttps with a handler that reports the request and the client certificate, counting handshakes and TLS errors. */
function start(options: { handshakeTimeout?: number; delayMs?: number } = {}) {
  const seen: Seen[] = [];
  const tlsErrors: unknown[] = [];
  let handshakes = 0;
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const c of chunks) body.set(c, (offset += c.length) - c.length);
    const tls = tlsSocketOf(req);
    const peer = tls.getPeerCertificate() as { subject?: Record<string, unknown> };
    const entry: Seen = {
      url: req.url ?? "",
      method: req.method ?? "",
      cn: peer.subject?.CN,
      x509Subject: tls.getPeerX509Certificate()?.subject,
      chain: tls.getPeerCertificateChain().map((c) => c.subject),
      authorized: tls.authorized,
      protocol: tls.getProtocol(),
      bodySha: await sha256(body),
      bodyLength: body.length,
    };
    seen.push(entry);
    if (options.delayMs) await delay(options.delayMs);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(entry));
  };
  const https = serveHttps(handler, {
    context: mtlsContext(),
    hostname: "127.0.0.1",
    port: 0,
    handshakeTimeout: options.handshakeTimeout,
  });
  https.server.on("secureConnection", () => handshakes++);
  https.server.on("tlsClientError", (error: unknown) => tlsErrors.push(error));
  return {
    https,
    seen,
    tlsErrors,
    get handshakes() {
      return handshakes;
    },
    url: (path: string) => `https://localhost:${https.addr.port}${path}`,
  };
}

const CLIENT_CHAIN = ["CN=secsock client,O=secsock", "CN=secsock Test Intermediate CA,O=secsock"];

async function run(command: string, args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd: fixturePath(""),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(enc(stdin));
    await writer.close();
  }
  const result = await within(child.output(), TIMEOUT, `${command} to exit`);
  return { code: result.code, out: dec(result.stdout) + dec(result.stderr) };
}

async function closeServer(https: HttpsServer): Promise<void> {
  await within(https.close(), TIMEOUT, "server close");
  await within(https.finished, TIMEOUT, "server finished");
}

Deno.test({
  name:
    "serveHttps ← curl: client certificate seen in the handler, two requests on one keep-alive connection, body bytes",
  ignore: !hasPeer("curl"),
  fn: async () => {
    const s = start();
    const dir = await Deno.makeTempDir({ prefix: "secsock-http-" });
    try {
      const body = randomBytes(300_000);
      await Deno.writeFile(`${dir}/body.bin`, body);
      const tls = ["--http1.1", "--cacert", "ca.pem", "--cert", "client-chain.pem", "--key", "client.key"];
      const { code, out } = await run("curl", [
        "-sS",
        ...tls,
        "-w",
        "|%{http_code}|%{num_connects}\n",
        s.url("/one"),
        "--next",
        "-sS",
        ...tls,
        "-w",
        "|%{http_code}|%{num_connects}\n",
        "--data-binary",
        `@${dir}/body.bin`,
        s.url("/two"),
      ]);
      assert.equal(code, 0, out);
      const replies = [...out.matchAll(/(\{.*?\})\|(\d+)\|(\d+)/g)].map((m) => ({
        seen: JSON.parse(m[1]) as Seen,
        status: Number(m[2]),
        connects: Number(m[3]),
      }));
      assert.equal(replies.length, 2, out);
      assert.deepEqual(replies.map((r) => r.status), [200, 200]);
      // curl opened one connection and reused it; the server did one handshake.
      assert.deepEqual(replies.map((r) => r.connects), [1, 0]);
      assert.equal(s.handshakes, 1);
      assert.deepEqual(s.seen.map((e) => [e.method, e.url]), [["GET", "/one"], ["POST", "/two"]]);
      for (const e of s.seen) {
        assert.equal(e.cn, "secsock client");
        assert.equal(e.x509Subject, "CN=secsock client,O=secsock");
        assert.deepEqual(e.chain, CLIENT_CHAIN);
        assert.equal(e.authorized, true);
      }
      assert.equal(s.seen[1].bodyLength, body.length);
      assert.equal(s.seen[1].bodySha, await sha256(body));
      assert.deepEqual(s.tlsErrors, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await closeServer(s.https);
    }
  },
});

const NODE_CLIENT = `
import https from "node:https";
import { readFileSync } from "node:fs";
const port = process.argv.at(-1);
const agent = new https.Agent({
  keepAlive: true, maxSockets: 1,
  ca: readFileSync("ca.pem"), cert: readFileSync("client-chain.pem"), key: readFileSync("client.key"),
});
function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: "127.0.0.1", servername: "localhost", port, method, path, agent }, (res) => {
      const chunks = [];
      const authorized = res.socket.authorized;
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, authorized,
        reused: req.reusedSocket, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const first = await request("GET", "/node-one");
const second = await request("POST", "/node-two", Buffer.alloc(70000, 7));
console.log(JSON.stringify([first, second]));
agent.destroy();
`;

Deno.test({
  name: "serveHttps ← Node https.request: client certificate, keep-alive reuse, request body",
  ignore: !hasPeer("node"),
  fn: async () => {
    const s = start();
    try {
      const { code, out } = await run("node", ["--input-type=module", "-", String(s.https.addr.port)], NODE_CLIENT);
      assert.equal(code, 0, out);
      const [first, second] = JSON.parse(out.trim().split("\n").at(-1)!) as {
        status: number;
        authorized: boolean;
        reused: boolean;
        body: Seen;
      }[];
      assert.equal(first.status, 200);
      assert.equal(second.status, 200);
      // Node verified our server certificate against the fixture CA.
      assert.equal(first.authorized, true);
      assert.equal(second.reused, true);
      assert.equal(s.handshakes, 1);
      assert.equal(first.body.cn, "secsock client");
      assert.deepEqual(second.body.chain, CLIENT_CHAIN);
      assert.equal(second.body.bodyLength, 70000);
      assert.equal(second.body.bodySha, await sha256(new Uint8Array(70000).fill(7)));
    } finally {
      await closeServer(s.https);
    }
  },
});

Deno.test("serveHttps ← Deno fetch with Deno.createHttpClient client certificates", async () => {
  const s = start();
  const client = Deno.createHttpClient({
    caCerts: [fixture("ca.pem")],
    cert: fixture("client-chain.pem"),
    key: fixture("client.key"),
  });
  try {
    for (const path of ["/deno-one", "/deno-two"]) {
      const response = await within(fetch(s.url(path), { client }), TIMEOUT, `fetch ${path}`);
      assert.equal(response.status, 200);
      const seen = await response.json() as Seen;
      assert.equal(seen.url, path);
      assert.equal(seen.cn, "secsock client");
      assert.equal(seen.x509Subject, "CN=secsock client,O=secsock");
      assert.equal(seen.authorized, true);
    }
    assert.equal(s.handshakes, 1, "Deno's client reused its connection");
  } finally {
    client.close();
    await closeServer(s.https);
  }
});

Deno.test({
  name: "serveHttps: garbage, a stalled handshake and bad certificates each fail alone; a good client is served",
  ignore: !hasPeer("curl"),
  fn: async () => {
    const HANDSHAKE_TIMEOUT = 1500;
    const s = start({ handshakeTimeout: HANDSHAKE_TIMEOUT });
    const port = s.https.addr.port;
    const good = () =>
      run("curl", [
        "-sS",
        "--cacert",
        "ca.pem",
        "--cert",
        "client-chain.pem",
        "--key",
        "client.key",
        s.url("/good"),
      ]);
    try {
      // A client that connects and never says anything.
      const stalled = await Deno.connect({ hostname: "127.0.0.1", port });
      const stalledAt = performance.now();
      const stalledEnd = readAll(stalled).then(
        () => performance.now() - stalledAt,
        () => performance.now() - stalledAt,
      );
      // A client that speaks plain HTTP to the TLS port.
      const garbage = await Deno.connect({ hostname: "127.0.0.1", port });
      await garbage.write(enc("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
      // A certificate from another CA, and no certificate at all.
      const [wrong, none] = await Promise.all([
        run("curl", [
          "-sS",
          "--cacert",
          "ca.pem",
          "--cert",
          "other-client.pem",
          "--key",
          "other-client.key",
          s.url("/w"),
        ]),
        run("curl", ["-sS", "--cacert", "ca.pem", s.url("/none")]),
      ]);
      // While the stalled client still holds its connection, a good one is served.
      const during = await good();
      assert.equal(JSON.parse(during.out).cn, "secsock client", during.out);
      assert.notEqual(wrong.code, 0, "curl with an untrusted certificate must fail");
      assert.notEqual(none.code, 0, "curl without a certificate must fail");
      await within(readAll(garbage).catch(() => null), TIMEOUT, "the garbage client to be dropped");
      garbage.close();
      const stalledFor = await within(stalledEnd, TIMEOUT, "the stalled client to be dropped");
      stalled.close();
      assert.ok(stalledFor >= HANDSHAKE_TIMEOUT - 100, `stalled client dropped after ${stalledFor} ms`);
      const after = await good();
      assert.equal(JSON.parse(after.out).cn, "secsock client", after.out);
      assert.deepEqual(s.seen.map((e) => e.url), ["/good", "/good"]);
      // Each bad client surfaced as one tlsClientError with a typed error.
      await within(
        (async () => {
          while (s.tlsErrors.length < 4) await delay(20);
        })(),
        TIMEOUT,
        "four TLS client errors",
      );
      assert.equal(s.tlsErrors.length, 4);
      for (const error of s.tlsErrors) assert.ok(error instanceof SecureSocketError, String(error));
      assert.ok(s.tlsErrors.some((e) => e instanceof CertificateVerificationError), "untrusted certificate");
      assert.ok(s.tlsErrors.filter((e) => e instanceof HandshakeError).length >= 2, "garbage and stalled");
    } finally {
      await closeServer(s.https);
    }
  },
});

Deno.test("serveHttps close(): an in-flight response completes, then close_notify; new connections are refused", async () => {
  const s = start({ delayMs: 400 });
  const port = s.https.addr.port;
  const ctx = clientContext();
  ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("client.key"));
  const socket = await connectLocal(ctx, port);
  try {
    await socket.write(enc("GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    // The request is in the handler (which waits 400 ms) when close() starts.
    await within(
      (async () => {
        while (s.seen.length === 0) await delay(10);
      })(),
      TIMEOUT,
      "the request to reach the handler",
    );
    const closing = s.https.close();
    const head = await within(readUntil(socket, "/slow"), TIMEOUT, "the response");
    assert.match(head, /^HTTP\/1\.1 200 /);
    // Then the server's close_notify: a clean end of stream, not a truncation.
    assert.equal(await within(socket.read(new Uint8Array(1024)), TIMEOUT, "close_notify"), null);
    await socket.closeWrite();
    // Both ends said goodbye: close() is done well before its 5 s grace period.
    await within(closing, 3000, "close()");
    await within(s.https.finished, TIMEOUT, "finished");
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
  } finally {
    socket.close();
    ctx.close();
    await closeServer(s.https);
  }
});
