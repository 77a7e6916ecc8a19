/**
 * Interop with Deno's built-in TLS (rustls): our client against
 * `Deno.listenTls`, and `Deno.connectTls` / `Deno.startTls` against our server.
 */
import assert from "node:assert/strict";
import { HandshakeError, type SecureSocket } from "../mod.ts";
import {
  clientContext,
  concat,
  connectLocal,
  echoServer,
  fixture,
  type HandshakeView,
  randomBytes,
  recordHandshake,
  roundTrip,
  serverContext,
  sha256,
  VERSIONS,
  within,
  writeAll,
} from "./helpers.ts";
import { SERVER_CHAIN_SUBJECTS, TLS13_CIPHER } from "./peers/openssl.ts";

const SIZE = 1024 * 1024 + 77;

/** A one-connection Deno.listenTls echo server; reports how the client ended. */
function denoEchoServer() {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: fixture("server-chain.pem"),
    key: fixture("server.key"),
  });
  const done = (async () => {
    const conn = await listener.accept();
    const hash: Uint8Array[] = [];
    let end: "clean" | string = "clean";
    try {
      await conn.handshake();
      const buf = new Uint8Array(65536);
      for (;;) {
        let n: number | null;
        try {
          n = await conn.read(buf);
        } catch (error) {
          end = `read error: ${(error as Error).name}: ${(error as Error).message}`;
          break;
        }
        if (n === null) break;
        hash.push(buf.slice(0, n));
        await writeAll(conn, buf.subarray(0, n));
      }
      await conn.closeWrite();
    } finally {
      conn.close();
    }
    return { end, received: concat(hash) };
  })();
  return {
    port: listener.addr.port,
    done,
    close: () => listener.close(),
  };
}

for (const maxVersion of VERSIONS) {
  Deno.test(`secsock client ↔ Deno.listenTls: ${maxVersion}, echo with checksums`, async () => {
    const server = denoEchoServer();
    using client = clientContext({ maxVersion });
    let socket: SecureSocket | null = null;
    try {
      socket = await within(connectLocal(client, server.port), 10_000, "handshake with Deno.listenTls");
      const s = socket;
      assert.equal(s.protocol, maxVersion);
      assert.match(s.cipher ?? "", maxVersion === "TLSv1.3" ? TLS13_CIPHER : /^ECDHE-RSA-/);
      assert.deepEqual(s.peerCertificateChain.map((c) => c.subject), SERVER_CHAIN_SUBJECTS);
      const payload = randomBytes(SIZE);
      // A TruncatedStreamError here means rustls ended without close_notify.
      const echoed = await within(roundTrip(s, payload), 20_000, "echo through Deno.listenTls");
      assert.equal(echoed.length, SIZE);
      assert.equal(await sha256(echoed), await sha256(payload));
      const result = await within(server.done, 10_000, "Deno server end");
      // rustls saw our close_notify: a clean end, not an UnexpectedEof.
      assert.equal(result.end, "clean");
      assert.equal(await sha256(result.received), await sha256(payload));
    } finally {
      socket?.close();
      server.close();
      await server.done.catch(() => {});
    }
  });
}

Deno.test("Deno.connectTls (IP 127.0.0.1, caCerts) ↔ secsock server: echo with checksums", async () => {
  using server = serverContext();
  const seen: HandshakeView[] = [];
  const echo = echoServer(server, recordHandshake(seen));
  try {
    const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: echo.port, caCerts: [fixture("ca.pem")] });
    try {
      const payload = randomBytes(SIZE);
      // rustls rejects an end without close_notify.
      const echoed = await within(roundTrip(conn, payload), 20_000, "echo through secsock server");
      assert.equal(echoed.length, SIZE);
      assert.equal(await sha256(echoed), await sha256(payload));
    } finally {
      conn.close();
    }
  } finally {
    await echo.close();
  }
  // An IP literal is never sent as SNI (RFC 6066).
  assert.deepEqual(seen, [{ protocol: "TLSv1.3", servername: null }]);
  assert.deepEqual(echo.errors, []);
});

Deno.test("Deno.startTls (hostname localhost, SNI) ↔ secsock server: echo with checksums", async () => {
  using server = serverContext();
  const seen: HandshakeView[] = [];
  const echo = echoServer(server, recordHandshake(seen));
  try {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: echo.port });
    const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [fixture("ca.pem")] });
    try {
      const handshake = await conn.handshake();
      assert.equal(handshake.alpnProtocol, null);
      const payload = randomBytes(64 * 1024 + 5);
      const echoed = await within(roundTrip(conn, payload), 20_000, "echo through secsock server");
      assert.equal(await sha256(echoed), await sha256(payload));
    } finally {
      conn.close();
    }
  } finally {
    await echo.close();
  }
  assert.deepEqual(seen, [{ protocol: "TLSv1.3", servername: "localhost" }]);
  assert.deepEqual(echo.errors, []);
});

Deno.test("Deno.connectTls without our CA refuses the secsock server", async () => {
  using server = serverContext();
  const echo = echoServer(server);
  try {
    await assert.rejects(
      (async () => {
        const conn = await Deno.connectTls({ hostname: "127.0.0.1", port: echo.port });
        try {
          await conn.handshake();
        } finally {
          conn.close();
        }
      })(),
      /UnknownIssuer/,
    );
  } finally {
    await echo.close();
  }
  // Our server side fails that handshake with the client's alert (unknown_ca, 48).
  assert.equal(echo.errors.length, 1);
  assert.ok(echo.errors[0] instanceof HandshakeError, String(echo.errors[0]));
  assert.match((echo.errors[0] as HandshakeError).message, /unknown ca/i);
});
