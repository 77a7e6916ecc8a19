/**
 * Attack: a host name that the verifier and the connection read as two
 * different addresses. "127.0.0.010" looks like a dotted quad: OpenSSL reads
 * every part as decimal (verifies 127.0.0.10) while resolvers and URL parsers
 * read a leading 0 as octal (connect to 127.0.0.8). "0177.0.0.1" fails a
 * dotted-quad pattern and, handed to SSL_set1_host, OpenSSL 3 reads it as the
 * IP address 177.0.0.1 (and sends it as SNI) while the connection goes to
 * 127.0.0.1. A certificate for 127.0.0.10 / 177.0.0.1 then vouches for another
 * host. Every name whose last label is a number must be a canonical IPv4
 * address, or it is refused with a TypeError, on every client entry point and
 * in the offline checks (checkHost, checkIP, X509Store.verify), which must
 * agree with the handshake.
 *
 * The server certificate is made here with the openssl CLI, issued by the
 * fixture root: IP:127.0.0.10 and IP:177.0.0.1 only.
 */
import assert from "node:assert/strict";
import { checkHost, checkIP, SecureSocket, type SecureSocketOptions, X509Store } from "../../mod.ts";
import { clientContext, fixture, stopPeer, within } from "../helpers.ts";
import { opensslServer } from "../peers/openssl.ts";
import { issueTestLeaf, type TestLeaf } from "./test_leaf.ts";

const IP_ADDRESS_MISMATCH = 64;

/** A leaf for IP:127.0.0.10 and IP:177.0.0.1, issued by the fixture root; removed on disposal. */
function ipLeaf(): Promise<TestLeaf> {
  return issueTestLeaf({
    cn: "ip literal test",
    key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    extensions: ["extendedKeyUsage = serverAuth", "subjectAltName = IP:127.0.0.10, IP:177.0.0.1"],
  });
}

type Entry = "SecureSocket.connect" | "SecureSocket.startTls" | "constructor + connect()";

/** A handshake with the name to verify given through `entry`: "accepted", or the error. */
async function attempt(entry: Entry, port: number, options: SecureSocketOptions & { connectTo?: string }) {
  using ctx = clientContext();
  let socket: SecureSocket | null = null;
  try {
    if (entry === "SecureSocket.connect") {
      socket = await within(SecureSocket.connect(ctx, { hostname: "127.0.0.1", ...options, port }), 10_000, entry);
    } else if (entry === "SecureSocket.startTls") {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      socket = await within(SecureSocket.startTls(conn, ctx, options), 10_000, entry);
    } else {
      socket = new SecureSocket(ctx);
      await within(socket.connect({ hostname: options.connectTo!, port }), 10_000, entry);
    }
    return `accepted (connected to ${(socket.remoteAddr as Deno.NetAddr).hostname})`;
  } catch (error) {
    return error;
  } finally {
    socket?.close();
  }
}

Deno.test("IP literal read two ways: 127.0.0.010 and 0177.0.0.1 refused on every client entry point", async () => {
  await using leaf = await ipLeaf();
  const peer = await opensslServer(["-cert", leaf.cert, "-key", leaf.key]);
  try {
    // The server is 127.0.0.1, which the certificate does not name.
    const control = await attempt("SecureSocket.connect", peer.port, { hostname: "127.0.0.1" });
    assert.equal((control as { code?: number }).code, IP_ADDRESS_MISMATCH, String(control));
    for (const name of ["127.0.0.010", "0177.0.0.1"]) {
      for (const entry of ["SecureSocket.connect", "SecureSocket.startTls"] as const) {
        const outcome = await attempt(entry, peer.port, { servername: name });
        assert.ok(outcome instanceof TypeError, `${entry}, servername ${name}: ${outcome}`);
      }
    }
    // The name that reaches 127.0.0.1 through the resolver (octal 0177 = 127).
    const octal = await attempt("constructor + connect()", peer.port, { connectTo: "0177.0.0.1" });
    assert.ok(octal instanceof TypeError, `connect({ hostname: "0177.0.0.1" }): ${octal}`);
  } finally {
    await stopPeer(peer);
  }
});

Deno.test("IP literal read two ways: names ending in a number are IPv4 in canonical form or a TypeError", () => {
  using ctx = clientContext();
  const refused = [
    "127.0.0.010",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "127.1",
    "2130706433",
    "1.2.3.256",
    "127.0.0.1.",
    "example.0x1f",
    "example.42",
    "fe80::1%lo",
    "::ffff:127.0.0.010",
    "1:2:3:4:5:6:7:8:9",
  ];
  for (const name of refused) {
    assert.throws(() => new SecureSocket(ctx, { hostname: name }).close(), TypeError, `hostname ${name}`);
    assert.throws(() => new SecureSocket(ctx, { servername: name }).close(), TypeError, `servername ${name}`);
  }
  for (const name of ["127.0.0.1", "0.0.0.0", "255.255.255.255", "::1", "::ffff:127.0.0.1", "localhost", "a.1b"]) {
    new SecureSocket(ctx, { hostname: name }).close();
  }
});

Deno.test("IP literal read two ways: checkHost, checkIP and X509Store.verify agree with the handshake", async () => {
  await using leaf = await ipLeaf();
  for (const name of ["127.0.0.010", "0177.0.0.1", "0x7f.0.0.1"]) {
    assert.throws(() => checkHost(leaf.pem, name), TypeError, `checkHost ${name}`);
    assert.throws(() => checkIP(leaf.pem, name), TypeError, `checkIP ${name}`);
  }
  assert.equal(checkIP(leaf.pem, "127.0.0.10"), true);
  assert.equal(checkIP(leaf.pem, "127.0.0.8"), false);
  // A host name that is an IP address is checked as one, as a client verifying it would.
  assert.equal(checkHost(leaf.pem, "177.0.0.1"), true);
  using store = new X509Store({ ca: fixture("ca.pem") });
  for (const name of ["127.0.0.010", "0177.0.0.1"]) {
    assert.throws(() => store.verify(leaf.pem, { hostname: name }), TypeError, `verify hostname ${name}`);
    assert.throws(() => store.verify(leaf.pem, { ip: name }), TypeError, `verify ip ${name}`);
  }
  assert.equal(store.verify(leaf.pem, { hostname: "127.0.0.10" }).ok, true);
  const mismatch = store.verify(leaf.pem, { hostname: "127.0.0.1" });
  assert.deepEqual([mismatch.ok, mismatch.error], [false, IP_ADDRESS_MISMATCH]);
});
