/**
 * Diagnostics on a socket: `verifyResult`, the per-socket `infoCallback`
 * option of connect()/startTls(), the IANA alert names of describeAlert()
 * (also for the TLS 1.3 alerts OpenSSL 3.0 has no text for), and the `alert`
 * of an error caused by the peer's fatal alert.
 */
import assert from "node:assert/strict";
import {
  describeAlert,
  HandshakeError,
  InfoWhere,
  SecureSocket,
  SecureSocketContext,
  SecureSocketError,
  VerifyMode,
} from "../mod.ts";
import { clientContext, connectLocal, fixture, fixturePath, serverContext, settle, TestServer } from "./helpers.ts";
import { opensslServer, serverCertArgs } from "./peers/openssl.ts";

Deno.test("describeAlert: IANA names on every OpenSSL version, TLS 1.3 alerts included", () => {
  const fatal = (code: number) => describeAlert(0x0200 | code);
  assert.deepEqual(
    [48, 109, 116, 120, 0, 40].map((code) => fatal(code).description),
    [
      "unknown_ca",
      "missing_extension",
      "certificate_required",
      "no_application_protocol",
      "close_notify",
      "handshake_failure",
    ],
  );
  assert.equal(fatal(116).level, "fatal");
  assert.equal(describeAlert(0x0100).level, "warning");
  assert.equal(fatal(200).description, "unknown");
  // OpenSSL's text where it has one, else the IANA name (never "unknown" for a named alert).
  assert.notEqual(fatal(116).text, "unknown");
  assert.ok(fatal(48).text.length > 0);
});

Deno.test("verifyResult: 0 for a verified server; the failure's code with VerifyMode.None", async () => {
  const peer = await opensslServer([...serverCertArgs("expired"), "-www"]);
  const good = await opensslServer([...serverCertArgs(), "-www"]);
  try {
    const lax = await connectLocal(clientContext({ verifyMode: VerifyMode.None }), peer.port);
    await lax.handshake();
    assert.equal(lax.verifyResult.code, 10); // X509_V_ERR_CERT_HAS_EXPIRED
    assert.match(lax.verifyResult.errorString, /expired/);
    lax.close();
    const strict = await connectLocal(clientContext(), good.port);
    assert.deepEqual(strict.verifyResult, { code: 0, errorString: "ok" });
    strict.close();
  } finally {
    await peer.close();
    await good.close();
  }
});

Deno.test("infoCallback option: SecureSocket.connect() and startTls() trace their own handshake", async () => {
  const server = new TestServer(serverContext(), async (socket) => void await socket.handshake());
  try {
    const events: number[] = [];
    const seen = new Set<SecureSocket>();
    const socket = await SecureSocket.connect(clientContext(), {
      hostname: "127.0.0.1",
      servername: "localhost",
      port: server.port,
      infoCallback: (s, where) => {
        seen.add(s);
        events.push(where);
      },
    });
    socket.close();
    assert.deepEqual([...seen], [socket], "the callback gets the socket itself");
    assert.ok(events.some((w) => w & InfoWhere.HandshakeStart), "handshake start seen");
    assert.ok(events.some((w) => w & InfoWhere.HandshakeDone), "handshake done seen");

    const started: number[] = [];
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const tls = await SecureSocket.startTls(conn, clientContext(), {
      hostname: "localhost",
      infoCallback: (_s, where) => started.push(where),
    });
    tls.close();
    assert.ok(started.some((w) => w & InfoWhere.HandshakeDone), "startTls traced its handshake");
    assert.throws(
      () => new SecureSocket(clientContext(), { hostname: "localhost", infoCallback: "x" as never }),
      TypeError,
    );
  } finally {
    await server.close();
  }
});

Deno.test("error.alert: certificate_required (116) from a TLS 1.3 s_server that wants a client certificate", async () => {
  const peer = await opensslServer([
    ...serverCertArgs(),
    "-tls1_3",
    "-Verify",
    "1",
    "-verify_return_error",
    "-CAfile",
    fixturePath("ca.pem"),
  ]);
  try {
    // TLS 1.3: the client's handshake completes before the server judges it; the alert arrives on read.
    const socket = await connectLocal(clientContext(), peer.port);
    const read = await settle(socket.read(new Uint8Array(64)));
    socket.close();
    assert.ok(!read.ok && read.error instanceof SecureSocketError, `${!read.ok && read.error}`);
    assert.deepEqual(read.error.alert, { code: 116, description: "certificate_required" });
  } finally {
    await peer.close();
  }
});

Deno.test("error.alert: no_application_protocol (120) and unknown_ca (48) from secsock peers", async () => {
  const alpnServer = new TestServer(serverContext({ alpnProtocols: ["h2"] }), async (s) => void await s.handshake());
  try {
    const refused = await settle(connectLocal(clientContext({ alpnProtocols: ["http/1.1"] }), alpnServer.port));
    assert.ok(!refused.ok && refused.error instanceof HandshakeError);
    assert.deepEqual(refused.error.alert, { code: 120, description: "no_application_protocol" });
    // The server sent the alert; it did not receive one.
    const sent = await alpnServer.outcome(0);
    assert.ok(!sent.ok && sent.error instanceof HandshakeError && sent.error.alert === undefined);
  } finally {
    await alpnServer.close();
  }
  const server = new TestServer(serverContext(), async (s) => void await s.handshake());
  try {
    // A client that trusts another CA refuses the server's certificate with unknown_ca.
    const client = new SecureSocketContext({ useSystemTrust: false, ca: fixture("other-ca.pem") });
    const failed = await settle(connectLocal(client, server.port));
    assert.ok(!failed.ok);
    const served = await server.outcome(0);
    assert.ok(!served.ok && served.error instanceof HandshakeError);
    assert.deepEqual(served.error.alert, { code: 48, description: "unknown_ca" });
  } finally {
    await server.close();
  }
});
