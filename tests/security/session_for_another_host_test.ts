/**
 * Attack: a client offers a saved session where it does not belong. Resuming
 * skips the server's certificate, so the client would accept, for host B, the
 * server certificate some earlier connection verified for host A, or accept
 * under strict rules a server that a lax context let through. The session
 * option must refuse such a session with a clear SecureSocketError before any
 * byte is sent; sessions that fit still resume.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  HandshakeError,
  SecureSocket,
  type SecureSocketContext,
  SecureSocketError,
  VerifyMode,
} from "../../mod.ts";
import {
  clientContext,
  connectLocal,
  dec,
  enc,
  fixture,
  fixturePath,
  readAll,
  spawnPeer,
  stopPeer,
  VERSIONS,
  within,
} from "../helpers.ts";
import { opensslServer, serverCertArgs, versionFlag } from "../peers/openssl.ts";
import { nodeTls } from "../peers/features_utils.ts";

/** One request to `openssl s_server -www`: whether the session was reused, and the session to keep. */
async function wwwVisit(ctx: SecureSocketContext, port: number, servername: string, session?: Uint8Array) {
  const socket = await within(connectLocal(ctx, port, { servername, session }), 10_000, "handshake with s_server");
  try {
    await socket.write(enc("GET / HTTP/1.0\r\n\r\n"));
    const page = dec(await within(readAll(socket), 10_000, "the s_server page"));
    assert.match(page, /(New|Reused), TLSv1\.[23]/);
    return { reused: socket.isSessionReused, session: socket.session! };
  } finally {
    socket.close();
  }
}

/** The refusal: a SecureSocketError from connect(), not a handshake that resumed. */
async function assertRefused(attempt: Promise<{ reused: boolean }>, what: string): Promise<void> {
  let outcome: unknown;
  try {
    outcome = await attempt;
  } catch (error) {
    assert.ok(error instanceof SecureSocketError, `${what}: ${error}`);
    // Refused by the session option itself, before a ClientHello went out.
    assert.ok(
      !(error instanceof HandshakeError) && !(error instanceof CertificateVerificationError),
      `${what}: refused before any handshake, got ${error}`,
    );
    return;
  }
  assert.fail(`${what}: the session was accepted: ${JSON.stringify(outcome, ["reused"])}`);
}

for (const version of VERSIONS) {
  Deno.test(`session attack: a session for localhost offered to wrong.example (openssl s_server, ${version})`, async () => {
    const peer = await opensslServer([...serverCertArgs(), "-www", versionFlag(version)]);
    using ctx = clientContext();
    try {
      const made = await wwwVisit(ctx, peer.port, "localhost");
      assert.equal(made.reused, false);
      // A full handshake for wrong.example is refused: localhost's certificate does not name it.
      await assert.rejects(wwwVisit(ctx, peer.port, "wrong.example"), CertificateVerificationError);
      // The attack: the same session, the other name.
      await assertRefused(wwwVisit(ctx, peer.port, "wrong.example", made.session), "session for another host");
      // The session still resumes where it belongs.
      assert.equal((await wwwVisit(ctx, peer.port, "localhost", made.session)).reused, true);
    } finally {
      await stopPeer(peer);
    }
  });

  Deno.test(`session attack: a session for localhost offered to wrong.example (Node tls server with SNI, ${version})`, async () => {
    // The Node server acknowledges SNI, so the session records the name, and
    // it would present wronghost's certificate to a full handshake for wrong.example.
    const node = await nodeTls({
      role: "server",
      maxVersion: version,
      sni: { "localhost": "server", "wrong.example": "wronghost" },
      connections: 3,
    });
    using ctx = clientContext();
    const line = async (servername: string, session?: Uint8Array) => {
      const socket = await within(connectLocal(ctx, node.port, { servername, session }), 10_000, "handshake");
      try {
        await socket.write(enc("hello\n"));
        assert.equal(dec(await within(readAll(socket), 10_000, "echo")), "hello\n");
        return { reused: socket.isSessionReused, session: socket.session!, peer: socket.peerCertificate?.subject };
      } finally {
        socket.close();
      }
    };
    try {
      const made = await line("localhost");
      assert.equal(made.reused, false);
      assert.ok(made.session);
      await assertRefused(line("wrong.example", made.session), "session for another host");
      const again = await line("localhost", made.session);
      assert.equal(again.reused, true);
      assert.equal(again.peer, "CN=localhost,O=secsock");
      // A full handshake for wrong.example gets that name's own certificate.
      const other = await line("wrong.example");
      assert.deepEqual([other.reused, other.peer], [false, "CN=wrong.example,O=secsock"]);
    } finally {
      await node.close();
    }
  });

  Deno.test(`session attack: a session from a client context that verifies nothing, offered by one that does (${version})`, async () => {
    // A self-signed server: the lax context accepts it, the strict one never would.
    const peer = await opensslServer([
      "-cert",
      fixturePath("selfsigned.pem"),
      "-key",
      fixturePath("selfsigned.key"),
      "-www",
      versionFlag(version),
    ]);
    using lax = clientContext({ verifyMode: VerifyMode.None });
    using strict = clientContext();
    try {
      const made = await wwwVisit(lax, peer.port, "localhost");
      assert.equal((await wwwVisit(lax, peer.port, "localhost", made.session)).reused, true);
      await assert.rejects(wwwVisit(strict, peer.port, "localhost"), CertificateVerificationError);
      await assertRefused(wwwVisit(strict, peer.port, "localhost", made.session), "session from a lax context");
    } finally {
      await stopPeer(peer);
    }
  });

  Deno.test(`session attack: a session from a client context with other trust (${version})`, async () => {
    const peer = await opensslServer([...serverCertArgs(), "-www", versionFlag(version)]);
    // Trusts the fixture root and another CA; the second trusts only the other CA.
    using wide = clientContext({ ca: [fixture("ca.pem"), fixture("other-ca.pem")] });
    using narrow = clientContext({ ca: fixture("other-ca.pem") });
    try {
      const made = await wwwVisit(wide, peer.port, "localhost");
      await assert.rejects(wwwVisit(narrow, peer.port, "localhost"), CertificateVerificationError);
      await assertRefused(wwwVisit(narrow, peer.port, "localhost", made.session), "session from other trust");
    } finally {
      await stopPeer(peer);
    }
  });
}

/** `openssl s_server -www` with the fixture chain (localhost, 127.0.0.1, ::1), reachable on every loopback address. */
async function anyLoopbackServer(version: (typeof VERSIONS)[number]) {
  const peer = spawnPeer("openssl", [
    "s_server",
    "-accept",
    "0.0.0.0:0",
    ...serverCertArgs(),
    "-www",
    versionFlag(version),
  ]);
  peer.port = Number((await peer.waitFor(/ACCEPT .*:(\d+)/))[1]);
  return peer;
}

/** One -www request over `socket` (already connected): whether it resumed, and the session. */
async function wwwOver(socket: SecureSocket) {
  try {
    await socket.write(enc("GET / HTTP/1.0\r\n\r\n"));
    assert.match(dec(await within(readAll(socket), 10_000, "the s_server page")), /(New|Reused), TLSv1\.[23]/);
    return { reused: socket.isSessionReused, session: socket.session! };
  } finally {
    socket.close();
  }
}

/** The constructor gets the session, connect() the host name (and so the name to verify). */
async function sessionThenConnect(ctx: SecureSocketContext, hostname: string, port: number, session: Uint8Array) {
  const socket = new SecureSocket(ctx, { session });
  try {
    await within(socket.connect({ hostname, port }), 10_000, "connect");
  } catch (error) {
    socket.close();
    throw error;
  }
  return await wwwOver(socket);
}

for (const version of VERSIONS) {
  Deno.test(`session attack: a session given to the constructor, the host name to connect() (${version})`, async () => {
    // The certificate names 127.0.0.1, not 127.0.0.2: a full handshake to 127.0.0.2 is refused.
    const peer = await anyLoopbackServer(version);
    using ctx = clientContext();
    try {
      const first = await within(
        SecureSocket.connect(ctx, { hostname: "127.0.0.1", port: peer.port }),
        10_000,
        "first",
      );
      const made = await wwwOver(first);
      assert.equal(made.reused, false);
      await assert.rejects(
        within(SecureSocket.connect(ctx, { hostname: "127.0.0.2", port: peer.port }), 10_000, "full handshake"),
        CertificateVerificationError,
      );
      // The attack: the name arrives after the session was given.
      await assertRefused(sessionThenConnect(ctx, "127.0.0.2", peer.port, made.session), "ctor session + connect()");
      // startTls checks the same way.
      const conn = await Deno.connect({ hostname: "127.0.0.2", port: peer.port });
      await assertRefused(
        within(SecureSocket.startTls(conn, ctx, { hostname: "127.0.0.2", session: made.session }), 10_000, "startTls")
          .then(wwwOver),
        "startTls with a session for another host",
      );
      // Where it belongs, the session still resumes on both paths.
      assert.equal((await sessionThenConnect(ctx, "127.0.0.1", peer.port, made.session)).reused, true);
      const own = await Deno.connect({ hostname: "127.0.0.1", port: peer.port });
      const resumed = await within(
        SecureSocket.startTls(own, ctx, { hostname: "127.0.0.1", session: made.session }),
        10_000,
        "startTls",
      );
      assert.equal((await wwwOver(resumed)).reused, true);
    } finally {
      await stopPeer(peer);
    }
  });
}
