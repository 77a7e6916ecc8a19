/**
 * STARTTLS: a plain-text line protocol over a Deno TCP connection, upgraded
 * in place with `SecureSocket.startTls` on both ends.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, HandshakeError, SecureSocket, SocketClosedError } from "../mod.ts";
import {
  clientContext,
  dec,
  echoUntilEnd,
  enc,
  fixture,
  randomBytes,
  readAll,
  roundTrip,
  serverContext,
  sha256,
  within,
  writeAll,
} from "./helpers.ts";

/** Reads one CRLF-terminated line byte by byte, so no TLS byte is consumed by accident. */
async function readLine(conn: Deno.Conn): Promise<string> {
  const one = new Uint8Array(1);
  const bytes: number[] = [];
  while (!(bytes.length >= 2 && bytes[bytes.length - 2] === 13 && bytes[bytes.length - 1] === 10)) {
    const n = await conn.read(one);
    if (n === null) throw new Error(`EOF inside a line: ${JSON.stringify(dec(new Uint8Array(bytes)))}`);
    bytes.push(one[0]);
  }
  return dec(new Uint8Array(bytes));
}

function writeText(conn: Deno.Conn, text: string): Promise<void> {
  return writeAll(conn, enc(text));
}

Deno.test("STARTTLS: plain greeting, upgrade on both ends, echo with checksums, clean close", async () => {
  using serverCtx = serverContext();
  using clientCtx = clientContext();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const payload = randomBytes(256 * 1024 + 3);

  const server = (async () => {
    const conn = await listener.accept();
    let tls: SecureSocket | null = null;
    try {
      await writeText(conn, "220 secsock ready\r\n");
      assert.equal(await readLine(conn), "EHLO client\r\n");
      await writeText(conn, "250 STARTTLS\r\n");
      assert.equal(await readLine(conn), "STARTTLS\r\n");
      await writeText(conn, "OK\r\n");
      tls = await SecureSocket.startTls(conn, serverCtx, { server: true });
      const info = { isServer: tls.isServer, protocol: tls.protocol, servername: tls.servername };
      // Echo until the client's close_notify, then ours.
      await echoUntilEnd(tls);
      return info;
    } finally {
      if (tls) tls.close();
      else conn.close();
    }
  })();

  let tls: SecureSocket | null = null;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  try {
    assert.equal(await readLine(conn), "220 secsock ready\r\n");
    await writeText(conn, "EHLO client\r\n");
    assert.equal(await readLine(conn), "250 STARTTLS\r\n");
    await writeText(conn, "STARTTLS\r\n");
    assert.equal(await readLine(conn), "OK\r\n");
    tls = await within(SecureSocket.startTls(conn, clientCtx, { hostname: "localhost" }), 10_000, "startTls");
    const t = tls;
    assert.equal(t.isServer, false);
    assert.equal(t.protocol, "TLSv1.3");
    assert.equal(t.peerCertificate?.subject, "CN=localhost,O=secsock");
    const echoed = await within(roundTrip(t, payload), 20_000, "echo over STARTTLS");
    assert.equal(await sha256(echoed), await sha256(payload));
  } finally {
    if (tls) tls.close();
    else conn.close();
    listener.close();
  }
  assert.deepEqual(await server, { isServer: true, protocol: "TLSv1.3", servername: "localhost" });
});

Deno.test("STARTTLS with IP verification: hostname 127.0.0.1 matches the IP SAN", async () => {
  using serverCtx = serverContext();
  using clientCtx = clientContext();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = (async () => {
    const conn = await listener.accept();
    const tls = await SecureSocket.startTls(conn, serverCtx, { server: true });
    try {
      const line = await readAll(tls);
      await tls.write(enc(`got ${dec(line)}`));
      await tls.closeWrite();
      return tls.servername;
    } finally {
      tls.close();
    }
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const tls = await SecureSocket.startTls(conn, clientCtx, { hostname: "127.0.0.1" });
  try {
    assert.equal(dec(await roundTrip(tls, enc("ping"))), "got ping");
  } finally {
    tls.close();
    listener.close();
  }
  // No SNI for an IP literal.
  assert.equal(await server, null);
});

Deno.test("STARTTLS client that does not trust the server: CertificateVerificationError, connection closed", async () => {
  using serverCtx = serverContext();
  // Trusts only the unrelated root.
  using clientCtx = clientContext({ ca: fixture("other-ca.pem") });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = (async () => {
    const conn = await listener.accept();
    try {
      await SecureSocket.startTls(conn, serverCtx, { server: true });
      return "handshake succeeded";
    } catch (error) {
      return error;
    }
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  let connClosedByLibrary = false;
  try {
    const error = await SecureSocket.startTls(conn, clientCtx, { hostname: "localhost" }).then(
      (s) => {
        s.close();
        return null;
      },
      (e) => e,
    );
    assert.ok(error instanceof CertificateVerificationError, String(error));
    assert.equal(error.code, 20); // unable to get local issuer certificate
    assert.equal(error.depth, 1);
    // startTls took ownership of the connection: a failed upgrade must not leak it.
    try {
      await conn.write(enc("x"));
    } catch (e) {
      connClosedByLibrary = e instanceof Deno.errors.BadResource;
    }
  } finally {
    if (!connClosedByLibrary) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    listener.close();
  }
  const serverError = await server;
  assert.ok(serverError instanceof HandshakeError, String(serverError));
  assert.ok(connClosedByLibrary, "startTls must close the Deno.Conn it was given when the handshake fails");
});

Deno.test("STARTTLS with a closed context: SocketClosedError, connection closed", async () => {
  const clientCtx = clientContext();
  clientCtx.close();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const other = await accepted;
  try {
    await assert.rejects(SecureSocket.startTls(conn, clientCtx, { hostname: "localhost" }), SocketClosedError);
    // The peer sees the connection closed.
    assert.equal(await other.read(new Uint8Array(10)), null);
  } finally {
    other.close();
    listener.close();
  }
});
