/**
 * Attack: a certificate whose subjectAltName holds an otherName (a Microsoft
 * UPN on smart-card certificates, an XMPP address), a registeredID, a
 * directoryName, an x400Address or an ediPartyName. The old reader took every
 * GeneralName's union member as an ASN1_STRING, read garbage lengths and threw
 * `RangeError: Invalid typed array length` (or crashed) — from
 * `X509Certificate.fromPEM`, `useCertificateChainFile`, and, for a remote
 * peer, from `store.currentCertificate` inside a verify callback and from
 * `peerCertificate`.
 *
 * Also: names whose bytes (NUL, a ", DNS:" inside one name, quotes, control
 * characters, bytes above 0x7F) must not be confusable, and a malformed or
 * duplicated extension is an error of its own, not "no names".
 *
 * Fixtures: tests/fixtures/names/ (scripts/gen_name_corpus.sh).
 */
import assert from "node:assert/strict";
import {
  type SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  UnableToReadCertificateError,
  VerifyMode,
  X509Certificate,
} from "../../mod.ts";
import { connectLocal, fixture, fixturePath, readUntil, stopPeer, waitExit, within } from "../helpers.ts";
import { opensslClient, opensslServer } from "../peers/openssl.ts";

const names = (file: string) => fixturePath(`names/${file}`);
const namesPem = (file: string) => fixture(`names/${file}`);

/** What san-all-types.pem holds, from its definition in scripts/gen_name_corpus.sh. */
const ALL_TYPES = [
  "DNS:localhost",
  "IP:127.0.0.1",
  "IP:2001:db8::1",
  "email:admin@example.test",
  "URI:https://example.test/path?q=1",
  "othername:1.3.6.1.4.1.311.20.2.3:user@example.test",
  "othername:1.3.6.1.5.5.7.8.5:romeo@montague.test",
  "Registered ID:1.3.6.1.4.1.55555.1",
  'DirName:"CN=Directory Name,O=Example"',
  // ORAddress { BuiltInStandardAttributes { [APPLICATION 1] "US", [APPLICATION 2] "ADMD" } }
  "X400Name:#3010300e6104130255536206130441444d44",
  // EDIPartyName { [0] UTF8String "Assigner", [1] UTF8String "Party Name" }
  "EdiPartyName:#301aa00a0c0841737369676e6572a10c0c0a5061727479204e616d65",
];

const ALL_TYPE_NAMES = [
  "dNSName",
  "iPAddress",
  "iPAddress",
  "rfc822Name",
  "uniformResourceIdentifier",
  "otherName",
  "otherName",
  "registeredID",
  "directoryName",
  "x400Address",
  "ediPartyName",
];

/** The DER of a certificate's subjectAltName value (GeneralNames), as the openssl CLI extracts it. */
async function sanDerFromOpenssl(file: string): Promise<Uint8Array> {
  const listing = await new Deno.Command("openssl", { args: ["asn1parse", "-in", names(file)] }).output();
  const lines = new TextDecoder().decode(listing.stdout).split("\n");
  const at = lines.findIndex((line) => /:X509v3 Subject Alternative Name\s*$/.test(line));
  assert.ok(at >= 0, `no subjectAltName in ${file}`);
  // The OCTET STRING holding the value follows the OID (after the critical flag, if any).
  const octets = lines.slice(at + 1).find((line) => /OCTET STRING/.test(line));
  const offset = octets?.match(/^\s*(\d+):/)?.[1];
  assert.ok(offset, "no OCTET STRING after the subjectAltName OID");
  const out = await Deno.makeTempFile();
  try {
    const parse = await new Deno.Command("openssl", {
      args: ["asn1parse", "-in", names(file), "-strparse", offset, "-noout", "-out", out],
    }).output();
    assert.equal(parse.code, 0, new TextDecoder().decode(parse.stderr));
    return Deno.readFileSync(out);
  } finally {
    Deno.removeSync(out);
  }
}

/** Content of a DER SEQUENCE (definite length). */
function sequenceContent(der: Uint8Array): Uint8Array {
  assert.equal(der[0], 0x30);
  let length = der[1], header = 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[2 + i];
    header = 2 + n;
  }
  assert.equal(header + length, der.length);
  return der.subarray(header);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

Deno.test("general names: every GeneralName type is read from a real certificate", async () => {
  const cert = X509Certificate.fromPEM(namesPem("san-all-types.pem"));
  assert.deepEqual(cert.subjectAltNames, ALL_TYPES);
  const entries = cert.subjectAltNameEntries;
  assert.deepEqual(entries.map((e) => e.type), ALL_TYPE_NAMES);
  const upn = entries.find((e) => e.oid === "1.3.6.1.4.1.311.20.2.3");
  assert.equal(upn?.type, "otherName");
  assert.equal(upn?.value, "user@example.test");
  assert.equal(entries.find((e) => e.type === "directoryName")?.value, "CN=Directory Name,O=Example");
  assert.equal(entries.find((e) => e.type === "registeredID")?.value, "1.3.6.1.4.1.55555.1");
  assert.equal(entries.find((e) => e.type === "x400Address")?.value, null);
  // Each entry's DER is exactly the GeneralName in the certificate, as openssl asn1parse finds it.
  assert.deepEqual(concat(entries.map((e) => e.der)), sequenceContent(await sanDerFromOpenssl("san-all-types.pem")));
  // The other fields are untouched by the names.
  assert.equal(cert.subject, "CN=localhost,O=secsock names");
  assert.equal(cert.issuer, "CN=secsock Names Test CA,O=secsock");
});

Deno.test("general names: the openssl config forms (otherName:, RID:, dirName:) and non-string otherName values", () => {
  const cli = X509Certificate.fromPEM(namesPem("san-cli-forms.pem"));
  assert.deepEqual(cli.subjectAltNames, [
    "DNS:localhost",
    "email:user@example.test",
    'URI:"urn:example:a,b"',
    "IP:192.0.2.1",
    "othername:1.3.6.1.4.1.311.20.2.3:upn@example.test",
    "othername:1.2.3.4:#02012a", // INTEGER 42
    "Registered ID:1.2.3.4.5",
    'DirName:"CN=c\\\\,d,O=a=b"',
  ]);

  const other = X509Certificate.fromPEM(namesPem("san-othername-values.pem"));
  assert.deepEqual(other.subjectAltNames, [
    'othername:1.3.6.1.5.5.7.8.5:"j\\u00fcrgen@example.test"',
    "othername:1.3.6.1.5.5.7.8.9:smtp@example.test",
    "othername:1.2.3.1:Printable",
    "othername:1.2.3.2:Visible",
    'othername:1.2.3.3:"0123 456"',
    'othername:1.2.3.4:"BMP\\u20ac"',
    'othername:1.2.3.5:"U\\ud83d\\ude00"',
    "othername:1.2.3.6:#0c0361ff62", // a UTF8String that is not UTF-8: hex, never U+FFFD
    "othername:1.2.3.7:#040300ff10",
    "othername:1.2.3.8:#0201fb",
    "othername:1.3.6.1.5.5.7.8.3:#30130c0c6964656e7469666965722d3106032a0309",
    "othername:1.2.3.10:#0500",
  ]);
  const values = other.subjectAltNameEntries.map((e) => e.value);
  assert.deepEqual(values.slice(0, 7), [
    "jürgen@example.test",
    "smtp@example.test",
    "Printable",
    "Visible",
    "0123 456",
    "BMP€",
    "U😀",
  ]);
  assert.deepEqual(values.slice(7), [null, null, null, null, null]);
});

Deno.test("general names: NUL, separators, quotes, control and high bytes cannot make names confusable", () => {
  const cert = X509Certificate.fromPEM(namesPem("san-hostile-strings.pem"));
  const strings = cert.subjectAltNames;
  const entries = cert.subjectAltNameEntries;
  assert.deepEqual(strings, [
    'DNS:"www.example.test\\u0000.evil.test"',
    'DNS:"a.test, DNS:b.test"',
    'DNS:"q\\"uote\'x.test"',
    'URI:"urn:a\\\\\\"b"',
    'email:"a@b.test\\u000aDNS:c.test"',
    'DNS:"\\u00e9\\u0080\\u00ff.test"',
    'DNS:"#hash.test"',
    'DNS:" spaced .test"',
    'DNS:""',
    'DNS:"\\u007f\\u001b[31m.test"',
    "DNS:plain.test",
  ]);
  for (const [i, s] of strings.entries()) {
    // Printable ASCII only: no NUL to truncate at, no newline or escape sequence to inject into a log.
    assert.match(s, /^[\x20-\x7e]*$/, s);
    const value = s.slice(s.indexOf(":") + 1);
    // A quoted value is a JSON string literal of exactly the name's value (IA5String: one character per byte).
    assert.equal(value.startsWith('"') ? JSON.parse(value) : value, entries[i].value);
  }
  assert.equal(entries[0].value, "www.example.test\u0000.evil.test");
  assert.equal(entries[5].value, "\u00e9\u0080\u00ff.test");
});

Deno.test("general names: iPAddress of every length; IPv6 as RFC 5952 writes it", () => {
  const cert = X509Certificate.fromPEM(namesPem("san-ip-lengths.pem"));
  assert.deepEqual(cert.subjectAltNames, [
    "IP:#",
    "IP:#0102030405",
    "IP:#c0000200ffffff00",
    "IP:#20010db8000000000000000000000000ffffffffffffffff0000000000000000",
    "IP:::",
    "IP:2001:db8::1:0:0:1",
    "IP:2001:db8:0:1:1:1:1:1",
    "IP:::ffff:c000:201",
  ]);
  assert.deepEqual(cert.subjectAltNameEntries.map((e) => e.value).slice(0, 4), [null, null, null, null]);
});

Deno.test("general names: a malformed or duplicated extension is a typed error, and only that getter fails", () => {
  for (const file of ["san-malformed.pem", "san-unknown-tag.pem", "san-duplicate.pem"]) {
    const cert = X509Certificate.fromPEM(namesPem(file));
    assert.throws(() => cert.subjectAltNames, UnableToReadCertificateError, file);
    assert.throws(() => cert.subjectAltNameEntries, UnableToReadCertificateError, file);
    assert.match(cert.subject, /^CN=[a-z ]+,O=secsock names$/);
    assert.match(cert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.deepEqual(X509Certificate.fromPEM(cert.toPEM()).toDER(), cert.toDER());
  }
  assert.deepEqual(X509Certificate.fromPEM(namesPem("san-empty.pem")).subjectAltNames, []);
  assert.deepEqual(X509Certificate.fromPEM(namesPem("v1-no-extensions.pem")).subjectAltNames, []);
  const huge = X509Certificate.fromPEM(namesPem("san-huge.pem")).subjectAltNames;
  assert.equal(huge.length, 301);
  assert.equal(huge[300], `DNS:${"a".repeat(20000)}.test`);
});

/** A client context trusting only the names CA, with a verify callback that reads every certificate it is shown. */
function readingClient() {
  const seen: { depth: number; subject: string | undefined; altNames: string[] | undefined }[] = [];
  const ctx = new SecureSocketContext({ useSystemTrust: false, ca: namesPem("names-ca.pem") });
  ctx.setCertificateVerifyCallback((ok, store) => {
    const cert = store.currentCertificate;
    seen.push({ depth: store.depth, subject: cert?.subject, altNames: cert?.subjectAltNames });
    for (const c of store.chain) void c.subjectAltNames;
    return ok;
  });
  return { ctx, seen };
}

Deno.test("general names: a peer (openssl s_server) with every GeneralName type; read in the verify callback and after", async () => {
  const peer = await opensslServer([
    "-cert",
    names("san-all-types.pem"),
    "-key",
    names("leaf.key"),
    "-naccept",
    "1",
  ]);
  const { ctx, seen } = readingClient();
  let socket: SecureSocket | null = null;
  try {
    socket = await within(connectLocal(ctx, peer.port), 10_000, "handshake with s_server");
    const leaf = seen.find((s) => s.depth === 0);
    assert.deepEqual(leaf?.altNames, ALL_TYPES, "the verify callback read the peer's names");
    assert.deepEqual(socket.peerCertificate?.subjectAltNames, ALL_TYPES);
    assert.deepEqual(socket.peerCertificateChain[0].subjectAltNames, ALL_TYPES);
    assert.equal(socket.peerCertificate?.subjectAltNameEntries[5].value, "user@example.test");
    await socket.closeWrite();
  } finally {
    socket?.close();
    ctx.close();
    await stopPeer(peer);
  }
});

Deno.test("general names: a secsock server loads such a chain file and reads a client certificate with every type", async () => {
  const ctx = new SecureSocketContext({
    useSystemTrust: false,
    ca: namesPem("names-ca.pem"),
    verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert,
  });
  // Loading the chain file failed with a RangeError before.
  ctx.useCertificateChainFile(names("san-all-types.pem"));
  ctx.usePrivateKeyFile(names("leaf.key"));
  const seen: string[][] = [];
  ctx.setCertificateVerifyCallback((ok, store) => {
    if (store.depth === 0) seen.push(store.currentCertificate?.subjectAltNames ?? []);
    return ok;
  });
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const client = opensslClient(listener.addr.port, [
    "-CAfile",
    names("names-ca.pem"),
    "-verify_return_error",
    "-verify_hostname",
    "localhost",
    "-cert",
    names("san-all-types.pem"),
    "-key",
    names("leaf.key"),
    "-ign_eof",
  ]);
  try {
    const socket = await within(listener.accept(), 10_000, "s_client to connect");
    try {
      await within(socket.handshake(), 10_000, "handshake with s_client");
      assert.deepEqual(seen, [ALL_TYPES]);
      assert.deepEqual(socket.peerCertificate?.subjectAltNames, ALL_TYPES);
      await client.send("hello\n");
      assert.equal(await within(readUntil(socket, "\n"), 10_000, "s_client's line"), "hello\n");
      await socket.closeWrite();
    } finally {
      socket.close();
    }
    const { exited } = await waitExit(client, 10_000);
    assert.ok(exited, client.output());
    assert.match(client.output(), /Verify return code: 0 /, "s_client verified our chain");
  } finally {
    await stopPeer(client);
    listener.close();
    ctx.close();
  }
});

Deno.test("general names: a peer whose subjectAltName does not decode — the callback still reads its other fields", async () => {
  const peer = await opensslServer(["-cert", names("san-malformed.pem"), "-key", names("leaf.key"), "-naccept", "1"]);
  const ctx = new SecureSocketContext({ useSystemTrust: false, ca: namesPem("names-ca.pem") });
  const seen: { depth: number; subject?: string; altNames: unknown }[] = [];
  ctx.setCertificateVerifyCallback((ok, store) => {
    const cert = store.currentCertificate;
    let altNames: unknown;
    try {
      altNames = cert?.subjectAltNames;
    } catch (error) {
      altNames = error;
    }
    seen.push({ depth: store.depth, subject: cert?.subject, altNames });
    return ok;
  });
  try {
    // OpenSSL itself rejects the certificate (invalid extension); the callback was shown it first.
    await assert.rejects(within(connectLocal(ctx, peer.port), 10_000, "handshake"));
    const leaf = seen.find((s) => s.depth === 0);
    assert.equal(leaf?.subject, "CN=malformed san,O=secsock names");
    assert.ok(leaf?.altNames instanceof UnableToReadCertificateError, String(leaf?.altNames));
  } finally {
    ctx.close();
    await stopPeer(peer);
  }
});
