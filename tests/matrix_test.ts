/**
 * Interop matrix (issue 4): secsock as client and as server against real
 * peers — openssl s_server/s_client, gnutls-serv/gnutls-cli, nginx, curl,
 * Node's tls and Deno's native TLS — in TLS 1.2 and 1.3, each with and
 * without a client certificate. Every cell checks: the payload arrives
 * byte-exact (SHA-256) where the peer can carry it, the callbacks fire as
 * documented (the verify callback sees depths 2, 1, 0; the client-certificate
 * callback picks the certificate the server then reports; the info callback
 * reports the handshake and close_notify), and both sides close cleanly.
 * A summary table is printed by the last test.
 */
import assert from "node:assert/strict";
import { type SecureSocket, type SecureSocketContext, X509Certificate } from "../mod.ts";
import {
  closeBothWays,
  connectLocal,
  echoUntilEnd,
  fixture,
  fixtureFingerprint,
  fixturePath,
  freePort,
  hasPeer,
  indexOfBytes,
  randomBytes,
  readAll,
  readExactly,
  settle,
  sha256,
  within,
} from "./helpers.ts";
import {
  assertCloseNotify,
  assertHandshakeInfo,
  assertVerifiedChain,
  BufferedReader,
  type Cell,
  cellName,
  CELLS,
  CHOSEN_CLIENT_SUBJECT,
  echoHandler,
  httpEchoHandler,
  httpMessage,
  jsonEvents,
  MatrixSummary,
  nodeScript,
  type Observed,
  observed,
  Proc,
  randomText,
  readHttpMessage,
  recordingClientContext,
  recordingServerContext,
  ROOT_CA_NAME,
  serveOne,
  waitForEvent,
} from "./matrix_utils.ts";
import { clientCertArgs, serverCertArgs, versionFlag } from "./peers/openssl.ts";

const SERVER_SUBJECT = "CN=localhost,O=secsock";
/** The client certificate the command-line and Node peers send (the callback picks the EC one). */
const PEER_CLIENT_SUBJECT = "CN=secsock client,O=secsock";
/** Odd on purpose: not a multiple of the record size. */
const PAYLOAD = 256 * 1024 + 13;
const STEP_TIMEOUT = 30_000;

const summary = new MatrixSummary();
const encoder = new TextEncoder();

function connect(ctx: SecureSocketContext, port: number): Promise<SecureSocket> {
  return within(connectLocal(ctx, port, { handshakeTimeout: 15_000 }), 20_000, "secsock connect");
}

/** Client-side checks common to every cell once the handshake is done. */
function checkClientHandshake(socket: SecureSocket, cell: Cell, obs: Observed): void {
  assert.equal(socket.protocol, cell.version);
  assert.equal(socket.peerCertificate?.subject, SERVER_SUBJECT);
  assertVerifiedChain(obs, SERVER_SUBJECT);
  // §4: called exactly when the server asked for a certificate, with its CA names.
  assert.equal(obs.clientCertCalls, cell.clientCert ? 1 : 0, "client certificate callback calls");
  if (cell.clientCert) assert.ok(obs.acceptableIssuers.includes(ROOT_CA_NAME), `issuers: ${obs.acceptableIssuers}`);
}

/** Server-side checks common to every cell. */
function checkServerSide(
  served: Awaited<ReturnType<typeof serveOne>["result"]>,
  cell: Cell,
  obs: Observed,
  sentSha: string,
  sent: number,
  clientSubject = PEER_CLIENT_SUBJECT,
): void {
  if (served.error) throw served.error;
  assert.equal(served.protocol, cell.version);
  assert.equal(served.received, sent, "bytes the secsock server received");
  assert.equal(served.receivedSha256, sentSha, "checksum of what the secsock server received");
  assert.ok(served.cleanEnd, "the peer's close_notify did not arrive");
  if (cell.clientCert) {
    assert.equal(served.peerSubject, clientSubject);
    assertVerifiedChain(obs, clientSubject);
  } else {
    assert.equal(served.peerSubject, null);
    assert.deepEqual(obs.verifyDepths, [], "the verify callback ran without a client certificate");
  }
  assertHandshakeInfo(obs, "server");
  assertCloseNotify(obs, { sent: true, received: true });
}

/** Writes `up` while reading `down.length` bytes back, then closes cleanly: close_notify both ways. */
async function exchangeAndClose(socket: SecureSocket, up: Uint8Array, downLength: number): Promise<Uint8Array> {
  const [, received] = await within(
    Promise.all([socket.write(up), readExactly(socket, downLength)]),
    STEP_TIMEOUT,
    "echo",
  );
  await closeBothWays(socket);
  return received;
}

/** Connects to an echoing peer on `port`, checks the handshake, echoes `payload` byte-exact, closes cleanly. */
async function echoAsClient(
  ctx: SecureSocketContext,
  port: number,
  cell: Cell,
  obs: Observed,
  payload: Uint8Array,
): Promise<void> {
  const socket = await connect(ctx, port);
  try {
    checkClientHandshake(socket, cell, obs);
    const received = await exchangeAndClose(socket, payload, payload.length);
    assert.equal(await sha256(received), await sha256(payload), "echo checksum");
  } finally {
    socket.close();
  }
}

/**
 * Pipes a payload through a peer client's stdin, expects the echo on its
 * stdout, closes its stdin (the peer then sends close_notify) and checks the
 * secsock server's side; returns the client's exit status.
 */
async function echoThroughStdin(
  client: Proc,
  server: ReturnType<typeof serveOne>,
  cell: Cell,
  obs: Observed,
): Promise<Deno.CommandStatus> {
  const payload = randomBytes(PAYLOAD);
  await client.write(payload);
  await client.waitFor(
    () => client.stdoutLength >= payload.length,
    STEP_TIMEOUT,
    `the echo on ${client.command}'s stdout`,
  );
  assert.equal(await sha256(client.stdout), await sha256(payload), `echo checksum at ${client.command}`);
  await client.closeStdin();
  const served = await within(server.result, STEP_TIMEOUT, "the secsock server");
  checkServerSide(served, cell, obs, await sha256(payload), payload.length);
  return await client.exit(10_000);
}

/**
 * One Deno.test per peer, one step per cell. `skip(cell)` names cells the
 * peer cannot do (they show as "n/a" in the summary).
 */
function matrix(
  row: string,
  available: boolean,
  run: (cell: Cell) => Promise<void>,
  skip: (cell: Cell) => string | null = () => null,
  hooks: { before?: () => Promise<void>; after?: () => Promise<void> } = {},
): void {
  if (!available) {
    for (const cell of CELLS) summary.set(row, cell, "skipped: peer missing");
  }
  Deno.test({
    name: `matrix: ${row}`,
    ignore: !available,
    async fn(t) {
      await hooks.before?.();
      try {
        await runCells(t);
      } finally {
        await hooks.after?.();
      }
    },
  });
  async function runCells(t: Deno.TestContext): Promise<void> {
    for (const cell of CELLS) {
      const reason = skip(cell);
      if (reason) {
        summary.set(row, cell, "n/a");
        summary.note(`${row}, ${cellName(cell)}: n/a (${reason})`);
        await t.step({ name: `${cellName(cell)} (n/a: ${reason})`, ignore: true, fn: () => {} });
        continue;
      }
      const started = performance.now();
      const passed = await t.step(cellName(cell), () => run(cell));
      summary.set(row, cell, passed ? `ok ${Math.round(performance.now() - started)}ms` : "FAIL");
    }
  }
}

const gnutlsPriority = (cell: Cell) => `NORMAL:-VERS-ALL:+VERS-TLS${cell.version.slice(4)}`;

// ======================================================================
// secsock CLIENT against peer servers
// ======================================================================

matrix("secsock client → openssl s_server", hasPeer("openssl"), async (cell) => {
  const obs = observed();
  using ctx = recordingClientContext(cell.version, obs);
  const port = freePort();
  const args = ["s_server", "-accept", `127.0.0.1:${port}`, "-naccept", "1", versionFlag(cell.version)];
  args.push(...serverCertArgs());
  if (cell.clientCert) args.push("-Verify", "2", "-CAfile", "ca.pem", "-verify_return_error");
  // Not -quiet: s_server then reports the client certificate. Data from us
  // goes to its stdout as raw bytes; its stdin goes to us (text without the
  // command letters s_server interprets at the start of a read).
  const server = new Proc("openssl", args);
  try {
    await server.waitForText(/ACCEPT/);
    const socket = await connect(ctx, port);
    try {
      checkClientHandshake(socket, cell, obs);
      const marker = encoder.encode("<<<secsock-matrix>>>");
      const up = randomBytes(PAYLOAD);
      const down = randomText(PAYLOAD);
      await socket.write(marker);
      const [, received] = await within(
        Promise.all([socket.write(up), readExactly(socket, down.length), server.write(down)]),
        STEP_TIMEOUT,
        "exchange with s_server",
      );
      assert.equal(await sha256(received), await sha256(down), "s_server → secsock checksum");
      let start = -1;
      await server.waitFor(
        () => {
          start = indexOfBytes(server.stdout, marker);
          return start >= 0 && server.stdoutLength >= start + marker.length + up.length;
        },
        STEP_TIMEOUT,
        "our payload on s_server's stdout",
      );
      const echoed = server.stdout.subarray(start + marker.length, start + marker.length + up.length);
      assert.equal(await sha256(echoed), await sha256(up), "secsock → s_server checksum");
      await socket.closeWrite();
      assert.equal(await within(socket.read(new Uint8Array(16)), 10_000, "s_server's close_notify"), null);
    } finally {
      socket.close();
    }
    const status = await server.exit(10_000);
    assert.equal(status.code, 0, server.describe());
    const text = server.stdoutText;
    // "DONE" is s_server's SSL_ERROR_ZERO_RETURN: our close_notify arrived.
    assert.match(text, /DONE/);
    const pem = text.match(/Client certificate\s*\n(-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----)/);
    if (cell.clientCert) {
      assert.ok(pem, `s_server did not report a client certificate\n${server.describe()}`);
      assert.equal(X509Certificate.fromPEM(pem[1]).fingerprint256, fixtureFingerprint("client-ec.pem"));
    } else {
      assert.equal(pem, null);
    }
    assertHandshakeInfo(obs, "client");
    assertCloseNotify(obs, { sent: true, received: true });
  } finally {
    await server.stop();
  }
});

matrix("secsock client → gnutls-serv", hasPeer("gnutls-serv"), async (cell) => {
  const obs = observed();
  using ctx = recordingClientContext(cell.version, obs);
  const port = freePort();
  const args = ["--echo", "-p", String(port), "--priority", gnutlsPriority(cell)];
  args.push("--x509certfile", "server-chain.pem", "--x509keyfile", "server.key");
  if (cell.clientCert) args.push("--x509cafile", "ca.pem", "--require-client-cert", "--verify-client-cert");
  else args.push("--disable-client-cert");
  const server = new Proc("gnutls-serv", args);
  try {
    await server.waitForText(/listening on .*done/);
    // gnutls-serv's echo mode is line-based over C strings: text lines only.
    await echoAsClient(ctx, port, cell, obs, randomText(PAYLOAD));
    await server.waitForText(/Accepted connection/);
    const text = server.stdoutText;
    if (cell.clientCert) {
      assert.match(text, new RegExp(`Subject: ${CHOSEN_CLIENT_SUBJECT}`), server.describe());
      assert.doesNotMatch(text, /NOT verified/);
    } else {
      assert.doesNotMatch(text, /Certificate\[0\] info/);
    }
    assert.doesNotMatch(server.stderr, /Error/, server.describe());
    assertHandshakeInfo(obs, "client");
    assertCloseNotify(obs, { sent: true, received: true });
  } finally {
    await server.stop();
  }
});

/** nginx with two TLS server blocks: client certificates required (`on`) and not requested (`off`). */
async function startNginx(): Promise<{ on: number; off: number; dir: string; proc: Proc; stop(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "secsock-nginx-" });
  const on = freePort();
  let off = freePort();
  while (off === on) off = freePort();
  await Deno.mkdir(`${dir}/www/upload`, { recursive: true });
  const tls = (port: number, verify: "on" | "off") => `
    server {
      listen 127.0.0.1:${port} ssl;
      server_name localhost;
      ssl_certificate ${fixturePath("server-chain.pem")};
      ssl_certificate_key ${fixturePath("server.key")};
      ssl_protocols TLSv1.2 TLSv1.3;
      ssl_client_certificate ${fixturePath("ca.pem")};
      ssl_verify_client ${verify};
      ssl_verify_depth 2;
      root ${dir}/www;
      client_max_body_size 16m;
      location /upload/ { dav_methods PUT DELETE; }
      location = /whoami {
        default_type text/plain;
        return 200 "$ssl_client_s_dn|$ssl_client_verify|$ssl_protocol";
      }
    }`;
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
      ${tls(on, "on")}
      ${tls(off, "off")}
    }`;
  await Deno.writeTextFile(`${dir}/nginx.conf`, conf);
  const proc = new Proc("nginx", ["-p", dir, "-c", `${dir}/nginx.conf`, "-g", `daemon off; pid ${dir}/nginx.pid;`], {
    cwd: dir,
  });
  const stop = async () => {
    await proc.stop();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await within(
      (async () => {
        for (;;) {
          if (proc.exited) throw new Error(`nginx exited\n${proc.describe()}`);
          try {
            const conn = await Deno.connect({ hostname: "127.0.0.1", port: off });
            conn.close();
            const conn2 = await Deno.connect({ hostname: "127.0.0.1", port: on });
            conn2.close();
            return;
          } catch {
            await new Promise((r) => setTimeout(r, 25));
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
  return { on, off, dir, proc, stop };
}

async function httpRequest(
  socket: SecureSocket,
  reader: BufferedReader,
  method: string,
  path: string,
  body?: Uint8Array,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Uint8Array; headers: Map<string, string> }> {
  await socket.write(httpMessage(`${method} ${path} HTTP/1.1`, { Host: "localhost", ...headers }, body));
  const response = await within(readHttpMessage(reader, true), STEP_TIMEOUT, `${method} ${path}`);
  assert.ok(response, `no response to ${method} ${path}`);
  return { status: Number(response.startLine.split(" ")[1]), body: response.body, headers: response.headers };
}

let nginx: Awaited<ReturnType<typeof startNginx>> | null = null;
matrix(
  "secsock client → nginx (ssl_verify_client on)",
  hasPeer("nginx"),
  async (cell) => {
    assert.ok(nginx, "nginx is not running");
    const obs = observed();
    using ctx = recordingClientContext(cell.version, obs);
    // Without a client certificate the `on` server completes the handshake and
    // answers 400; the byte-exact exchange then runs against the `off` server.
    if (!cell.clientCert) {
      const bare = observed();
      using plain = recordingClientContext(cell.version, bare);
      plain.setClientCertificateCallback(null);
      const socket = await connect(plain, nginx.on);
      try {
        const reader = new BufferedReader(socket);
        const answer = await httpRequest(socket, reader, "GET", "/whoami");
        assert.equal(answer.status, 400);
        assert.match(new TextDecoder().decode(answer.body), /No required SSL certificate was sent/);
      } finally {
        socket.close();
      }
    }
    const socket = await connect(ctx, cell.clientCert ? nginx.on : nginx.off);
    try {
      checkClientHandshake(socket, cell, obs);
      const reader = new BufferedReader(socket);
      const payload = randomBytes(PAYLOAD);
      const name = `/upload/${cell.version}-${cell.clientCert ? "cert" : "nocert"}.bin`;
      const put = await httpRequest(socket, reader, "PUT", name, payload);
      assert.ok(put.status === 201 || put.status === 204, `PUT answered ${put.status}`);
      const get = await httpRequest(socket, reader, "GET", name);
      assert.equal(get.status, 200);
      assert.equal(await sha256(get.body), await sha256(payload), "PUT then GET checksum");
      // The last request asks nginx to close: it then sends close_notify. (When
      // the client sends close_notify first, nginx closes TCP without answering
      // with its own, so the order is nginx first here.)
      const who = await httpRequest(socket, reader, "GET", "/whoami", undefined, { Connection: "close" });
      assert.equal(who.status, 200);
      const [dn, verify, protocol] = new TextDecoder().decode(who.body).split("|");
      assert.equal(protocol, cell.version);
      if (cell.clientCert) {
        assert.equal(dn, CHOSEN_CLIENT_SUBJECT, "nginx's $ssl_client_s_dn");
        assert.equal(verify, "SUCCESS");
      } else {
        assert.equal(dn, "");
        assert.equal(verify, "NONE");
      }
      assert.equal((await within(reader.readToEnd(), 10_000, "nginx's close_notify")).length, 0);
      await socket.closeWrite();
    } finally {
      socket.close();
    }
    assertHandshakeInfo(obs, "client");
    assertCloseNotify(obs, { sent: true, received: true });
  },
  () => null,
  {
    before: async () => {
      nginx = await startNginx();
      summary.note(
        "nginx, cells without client cert: the ssl_verify_client on server completes the handshake and " +
          "answers 400 (checked); the byte-exact PUT/GET runs on a second server block with ssl_verify_client off",
      );
    },
    after: async () => {
      if (!nginx) return;
      const { dir, proc } = nginx;
      nginx = null;
      const log = await Deno.readTextFile(`${dir}/error.log`).catch(() => "");
      try {
        // No error, alert or SSL failure for any of our connections; the only
        // connections closed during a handshake are the two readiness probes.
        assert.doesNotMatch(log, /\[(error|alert|crit|emerg)\]/, log);
        assert.doesNotMatch(log, /SSL_(read|write|shutdown|do_handshake)\(\) failed/, log);
        assert.ok((log.match(/closed connection while SSL handshaking/g) ?? []).length <= 2, log);
      } finally {
        await proc.stop();
        await Deno.remove(dir, { recursive: true });
      }
    },
  },
);

matrix("secsock client → Node tls server", hasPeer("node"), async (cell) => {
  const obs = observed();
  using ctx = recordingClientContext(cell.version, obs);
  const server = nodeScript("matrix_node_server.mjs", [cell.version, cell.clientCert ? "1" : "0"]);
  try {
    const port = Number((await waitForEvent(server, "listening")).port);
    const payload = randomBytes(PAYLOAD);
    await echoAsClient(ctx, port, cell, obs, payload);
    const secure = await waitForEvent(server, "secure");
    assert.equal(secure.protocol, cell.version);
    assert.equal(secure.authorized, cell.clientCert);
    assert.equal(secure.peerSubject, cell.clientCert ? CHOSEN_CLIENT_SUBJECT : null);
    if (cell.clientCert) assert.equal(secure.peerFingerprint256, fixtureFingerprint("client-ec.pem"));
    const end = await waitForEvent(server, "end");
    assert.equal(end.bytes, payload.length);
    assert.equal(end.sha256, await sha256(payload));
    assert.equal((await waitForEvent(server, "close")).hadError, false);
    assert.equal((await server.exit(10_000)).code, 0);
    assert.deepEqual(jsonEvents(server).filter((e) => e.event === "error" || e.event === "tlsClientError"), []);
    assertHandshakeInfo(obs, "client");
    assertCloseNotify(obs, { sent: true, received: true });
  } finally {
    await server.stop();
  }
});

matrix(
  "secsock client → Deno.listenTls",
  true,
  async (cell) => {
    const obs = observed();
    using ctx = recordingClientContext(cell.version, obs);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: fixture("server-chain.pem"),
      key: fixture("server.key"),
    });
    // Deno's side echoes until our close_notify (read() gives null), then sends its own.
    const served = settle((async () => {
      const conn = await listener.accept();
      try {
        return await echoUntilEnd(conn);
      } finally {
        conn.close();
      }
    })());
    try {
      const payload = randomBytes(PAYLOAD);
      await echoAsClient(ctx, listener.addr.port, cell, obs, payload);
      const result = await within(served, STEP_TIMEOUT, "the Deno.listenTls side");
      if (!result.ok) throw result.error;
      assert.equal(await sha256(result.value), await sha256(payload), "what Deno.listenTls received");
      assertHandshakeInfo(obs, "client");
      assertCloseNotify(obs, { sent: true, received: true });
    } finally {
      listener.close();
      await served;
    }
  },
  (cell) => cell.clientCert ? "Deno.listenTls has no option to request or verify client certificates" : null,
);

// ======================================================================
// secsock SERVER against peer clients
// ======================================================================

matrix("openssl s_client → secsock server", hasPeer("openssl"), async (cell) => {
  const obs = observed();
  using ctx = recordingServerContext(cell.version, obs, cell.clientCert);
  const server = serveOne(ctx, echoHandler);
  const args = [
    "s_client",
    "-connect",
    `127.0.0.1:${server.port}`,
    "-servername",
    "localhost",
    versionFlag(cell.version),
  ];
  args.push("-verify_hostname", "localhost", "-CAfile", "ca.pem", "-verify_return_error");
  if (cell.clientCert) args.push(...clientCertArgs());
  // -quiet: stdout carries only data; -no_ign_eof: stdin EOF sends close_notify; -nocommands: binary-safe stdin.
  args.push("-quiet", "-no_ign_eof", "-nocommands");
  const client = new Proc("openssl", args);
  try {
    const status = await echoThroughStdin(client, server, cell, obs);
    assert.equal(status.code, 0, client.describe());
    assert.match(client.stderr, /verify return:1/);
    assert.doesNotMatch(client.stderr, /error/i, client.describe());
  } finally {
    server.close();
    await client.stop();
  }
});

matrix("gnutls-cli → secsock server", hasPeer("gnutls-cli"), async (cell) => {
  const obs = observed();
  using ctx = recordingServerContext(cell.version, obs, cell.clientCert);
  const server = serveOne(ctx, echoHandler);
  const log = await Deno.makeTempFile({ prefix: "secsock-gnutls-cli-" });
  const args = ["-p", String(server.port), "--priority", gnutlsPriority(cell), "--x509cafile", "ca.pem"];
  args.push("--sni-hostname", "localhost", "--verify-hostname", "localhost", "--logfile", log);
  if (cell.clientCert) args.push("--x509certfile", "client-chain.pem", "--x509keyfile", "client.key");
  args.push("127.0.0.1");
  const client = new Proc("gnutls-cli", args);
  try {
    // stdin EOF: gnutls-cli sends close_notify (gnutls_bye).
    const status = await echoThroughStdin(client, server, cell, obs);
    const info = await Deno.readTextFile(log);
    assert.equal(status.code, 0, `${client.describe()}\n${info}`);
    assert.match(info, /Handshake was completed/);
    assert.match(info, new RegExp(`\\(TLS${cell.version.slice(4)}`));
  } finally {
    server.close();
    await client.stop();
    await Deno.remove(log);
  }
});

matrix("curl → secsock server (HTTPS)", hasPeer("curl"), async (cell) => {
  const obs = observed();
  using ctx = recordingServerContext(cell.version, obs, cell.clientCert);
  const server = serveOne(ctx, httpEchoHandler);
  const dir = await Deno.makeTempDir({ prefix: "secsock-curl-" });
  try {
    const payload = randomBytes(PAYLOAD);
    await Deno.writeFile(`${dir}/request.bin`, payload);
    const url = `https://localhost:${server.port}/echo`;
    const args = ["-sS", "--fail", "--http1.1", "--max-time", "30", "--cacert", fixturePath("ca.pem")];
    args.push("--resolve", `localhost:${server.port}:127.0.0.1`, `--tlsv${cell.version.slice(4)}`);
    args.push("--tls-max", cell.version.slice(4), "-H", "Expect:", "-H", "Content-Type: application/octet-stream");
    args.push("--data-binary", `@${dir}/request.bin`, "-o", `${dir}/response.bin`, "-D", `${dir}/headers.txt`);
    if (cell.clientCert) args.push("--cert", fixturePath("client-chain.pem"), "--key", fixturePath("client.key"));
    args.push(url);
    const client = new Proc("curl", args);
    let status: Deno.CommandStatus;
    try {
      status = await client.exit(STEP_TIMEOUT);
    } finally {
      await client.stop();
    }
    assert.equal(status.code, 0, client.describe());
    const response = await Deno.readFile(`${dir}/response.bin`);
    assert.equal(await sha256(response), await sha256(payload), "HTTPS echo checksum at curl");
    const headers = await Deno.readTextFile(`${dir}/headers.txt`);
    assert.match(headers, /^HTTP\/1\.1 200/);
    assert.match(headers, new RegExp(`X-Protocol: ${cell.version}`, "i"));
    assert.match(headers, new RegExp(`X-Client-Subject: ${cell.clientCert ? PEER_CLIENT_SUBJECT : "none"}`, "i"));
    const served = await within(server.result, STEP_TIMEOUT, "the secsock server");
    checkServerSide(served, cell, obs, await sha256(payload), payload.length);
  } finally {
    server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

matrix("Node tls client → secsock server", hasPeer("node"), async (cell) => {
  const obs = observed();
  using ctx = recordingServerContext(cell.version, obs, cell.clientCert);
  const server = serveOne(ctx, echoHandler);
  const client = nodeScript("matrix_node_client.mjs", [
    String(server.port),
    cell.version,
    cell.clientCert ? "1" : "0",
    String(PAYLOAD),
  ]);
  try {
    const end = await waitForEvent(client, "end", STEP_TIMEOUT);
    assert.equal(end.bytes, PAYLOAD);
    assert.equal(end.sha256, end.sentSha256, "echo checksum at Node");
    const secure = jsonEvents(client).find((e) => e.event === "secure")!;
    assert.equal(secure.protocol, cell.version);
    assert.equal(secure.authorized, true);
    assert.equal(secure.peerSubject, SERVER_SUBJECT);
    const served = await within(server.result, STEP_TIMEOUT, "the secsock server");
    checkServerSide(served, cell, obs, String(end.sentSha256), PAYLOAD);
    assert.equal((await waitForEvent(client, "close")).hadError, false);
    assert.equal((await client.exit(10_000)).code, 0);
    assert.deepEqual(jsonEvents(client).filter((e) => e.event === "error"), []);
  } finally {
    server.close();
    await client.stop();
  }
});

matrix("Deno.connectTls → secsock server", true, async (cell) => {
  // Deno.connectTls can present a client certificate (cert/key), so all four cells run.
  const obs = observed();
  using ctx = recordingServerContext(cell.version, obs, cell.clientCert);
  const server = serveOne(ctx, echoHandler);
  try {
    const conn = await within(
      Deno.connectTls({
        hostname: "127.0.0.1",
        port: server.port,
        caCerts: [fixture("ca.pem")],
        ...(cell.clientCert ? { cert: fixture("client-chain.pem"), key: fixture("client.key") } : {}),
      }),
      STEP_TIMEOUT,
      "Deno.connectTls",
    );
    const payload = randomBytes(PAYLOAD);
    let received: Uint8Array;
    try {
      await conn.handshake();
      [, received] = await within(
        Promise.all([
          (async () => {
            let offset = 0;
            while (offset < payload.length) offset += await conn.write(payload.subarray(offset));
            await conn.closeWrite();
          })(),
          readAll(conn),
        ]),
        STEP_TIMEOUT,
        "Deno.connectTls echo",
      );
    } finally {
      conn.close();
    }
    assert.equal(await sha256(received), await sha256(payload), "echo checksum at Deno.connectTls");
    const served = await within(server.result, STEP_TIMEOUT, "the secsock server");
    checkServerSide(served, cell, obs, await sha256(payload), payload.length);
  } finally {
    server.close();
  }
});

Deno.test("matrix: summary", () => {
  console.log(
    `\nInterop matrix (${Deno.build.os}, OpenSSL via secsock; cell = outcome and time)\n${summary.format()}\n`,
  );
  assert.ok(summary.rows > 0);
});
