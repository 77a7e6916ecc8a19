/**
 * The offline path-validation API: X509Store.verify (X509_verify_cert) and
 * checkHost / checkIP / checkEmail (X509_check_host and friends), on the
 * fixture PKI and the chain corpus. Verdicts against `openssl verify` for the
 * whole corpus are in verify_differential_test.ts; this file covers the API:
 * its options, its typed errors and its native handle.
 */
import assert from "node:assert/strict";
import {
  checkEmail,
  checkHost,
  checkIP,
  SocketClosedError,
  UnableToReadCertificateError,
  X509Certificate,
  X509Store,
} from "../mod.ts";
import { fixture } from "./helpers.ts";
import { corpusText } from "./chain_corpus.ts";

const ROOT = "CN=secsock Test Root CA,O=secsock";
const INTERMEDIATE = "CN=secsock Test Intermediate CA,O=secsock";
const SERVER = "CN=localhost,O=secsock";
/** X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY */
const UNABLE_TO_GET_ISSUER_LOCALLY = 20;
/** X509_V_ERR_CERT_HAS_EXPIRED */
const CERT_HAS_EXPIRED = 10;
/** X509_V_ERR_INVALID_PURPOSE */
const INVALID_PURPOSE = 26;
/** X509_V_ERR_HOSTNAME_MISMATCH */
const HOSTNAME_MISMATCH = 62;
/** X509_V_ERR_IP_ADDRESS_MISMATCH */
const IP_ADDRESS_MISMATCH = 64;
/** X509_V_ERR_EMAIL_MISMATCH */
const EMAIL_MISMATCH = 63;

function fixtureStore(): X509Store {
  return new X509Store({ ca: fixture("ca.pem") });
}

const intermediates = () => [fixture("intermediate.pem")];

Deno.test("X509Store: a valid chain verifies, with the chain it built, leaf to root", () => {
  using store = fixtureStore();
  const verdict = store.verify(fixture("server.pem"), { intermediates: intermediates(), hostname: "localhost" });
  assert.equal(verdict.ok, true);
  assert.equal(verdict.error, 0);
  assert.equal(typeof verdict.errorString, "string");
  assert.deepEqual(verdict.chain.map((c) => c.subject), [SERVER, INTERMEDIATE, ROOT]);
  assert.ok(verdict.chain.every((c) => c instanceof X509Certificate));
  assert.equal(verdict.chain[0].fingerprint256, X509Certificate.fromPEM(fixture("server.pem")).fingerprint256);
});

Deno.test("X509Store: inputs may be PEM text, PEM or DER bytes, certificates, and PEM bundles", () => {
  using store = new X509Store();
  store.addCertificate(X509Certificate.fromPEM(fixture("ca.pem")).toDER());
  const leaf = X509Certificate.fromPEM(fixture("server.pem"));
  for (const input of [leaf, leaf.toDER(), new TextEncoder().encode(fixture("server.pem")), fixture("server.pem")]) {
    assert.equal(store.verify(input, { intermediates: intermediates() }).ok, true);
  }
  // server-chain.pem holds the leaf and the intermediate: a bundle is split.
  assert.equal(store.verify(leaf, { intermediates: [fixture("server-chain.pem")] }).ok, true);
});

Deno.test("X509Store: failures are verdicts with OpenSSL's code and depth", async (t) => {
  using store = fixtureStore();
  await t.step("no intermediate: unable to get the local issuer, at the leaf", () => {
    const v = store.verify(fixture("server.pem"));
    assert.deepEqual([v.ok, v.error, v.depth], [false, UNABLE_TO_GET_ISSUER_LOCALLY, 0]);
    assert.deepEqual(v.chain.map((c) => c.subject), [SERVER], "as far as it got");
  });
  await t.step("an untrusted root: the same store without the anchor", () => {
    using empty = new X509Store();
    const v = empty.verify(fixture("server.pem"), { intermediates: intermediates() });
    assert.equal(v.ok, false);
    assert.notEqual(v.error, 0);
  });
  await t.step("a host name the leaf does not have", () => {
    const v = store.verify(fixture("server.pem"), { intermediates: intermediates(), hostname: "example.com" });
    assert.deepEqual([v.ok, v.error, v.depth], [false, HOSTNAME_MISMATCH, 0]);
  });
  await t.step("an IP address the leaf does not have (IPv4 and IPv6)", () => {
    assert.equal(store.verify(fixture("server.pem"), { intermediates: intermediates(), ip: "::1" }).ok, true);
    const v = store.verify(fixture("server.pem"), { intermediates: intermediates(), ip: "10.1.2.3" });
    assert.deepEqual([v.ok, v.error], [false, IP_ADDRESS_MISMATCH]);
  });
  await t.step("an e-mail address the leaf does not have", () => {
    const v = store.verify(fixture("client.pem"), {
      intermediates: intermediates(),
      purpose: "sslclient",
      email: "alice@example.com",
    });
    assert.deepEqual([v.ok, v.error], [false, EMAIL_MISMATCH]);
  });
  await t.step("purpose: the client certificate is no server certificate (the default purpose)", () => {
    assert.equal(
      store.verify(fixture("client.pem"), { intermediates: intermediates(), purpose: "sslclient" }).ok,
      true,
    );
    const v = store.verify(fixture("client.pem"), { intermediates: intermediates() });
    assert.deepEqual([v.ok, v.error, v.depth], [false, INVALID_PURPOSE, 0]);
    assert.equal(store.verify(fixture("client.pem"), { intermediates: intermediates(), purpose: "any" }).ok, true);
  });
});

Deno.test("X509Store: the validation time decides validity", () => {
  using store = fixtureStore();
  // expired.pem is valid from 2020-01-01 to 2021-01-01.
  const expired = store.verify(fixture("expired.pem"), { intermediates: intermediates() });
  assert.deepEqual([expired.ok, expired.error, expired.depth], [false, CERT_HAS_EXPIRED, 0]);
  const then = store.verify(fixture("expired.pem"), {
    intermediates: intermediates(),
    time: new Date("2020-06-01T00:00:00Z"),
  });
  assert.equal(then.ok, true);
  const later = store.verify(fixture("server.pem"), {
    intermediates: intermediates(),
    time: new Date("2200-01-01T00:00:00Z"),
  });
  assert.deepEqual([later.ok, later.error], [false, CERT_HAS_EXPIRED]);
});

Deno.test("X509Store: partialChain trusts an intermediate as an anchor, and only when asked", () => {
  using store = new X509Store({ ca: fixture("intermediate.pem") });
  assert.equal(store.verify(fixture("server.pem")).ok, false);
  const v = store.verify(fixture("server.pem"), { partialChain: true });
  assert.equal(v.ok, true);
  assert.deepEqual(v.chain.map((c) => c.subject), [SERVER, INTERMEDIATE]);
});

Deno.test("X509Store: the depth limit counts intermediates", () => {
  using store = new X509Store({ ca: corpusText("root.pem") });
  const leaf = corpusText("depth-within/leaf.pem");
  const chain = [corpusText("depth-within/intermediates.pem")];
  assert.equal(store.verify(leaf, { intermediates: chain, depth: 3 }).ok, true);
  assert.equal(store.verify(leaf, { intermediates: chain, depth: 2 }).ok, false);
});

Deno.test("X509Store: host names follow secsock's rules unless the caller weakens them in words", () => {
  using store = new X509Store({ ca: corpusText("root.pem") });
  const leaf = corpusText("no-san/leaf.pem");
  const options = { intermediates: [corpusText("no-san/intermediates.pem")], hostname: "nosan.test" };
  const strict = store.verify(leaf, options);
  assert.deepEqual([strict.ok, strict.error], [false, HOSTNAME_MISMATCH], "the subject CN is no host name");
  assert.equal(store.verify(leaf, { ...options, subjectFallback: true }).ok, true);
});

Deno.test("X509Store: misuse is a typed error, before anything is verified", () => {
  using store = fixtureStore();
  const leaf = fixture("server.pem");
  assert.throws(() => store.verify(leaf, { purpose: "webserver" as "sslserver" }), RangeError);
  assert.throws(() => store.verify(leaf, { time: new Date(NaN) }), RangeError);
  assert.throws(() => store.verify(leaf, { depth: -1 }), RangeError);
  assert.throws(() => store.verify(leaf, { depth: 1.5 }), RangeError);
  assert.throws(() => store.verify(leaf, { hostname: "localhost\0.evil.test" }), TypeError);
  assert.throws(() => store.verify(leaf, { hostname: "" }), TypeError);
  assert.throws(() => store.verify(leaf, { hostname: ".localhost" }), TypeError, "a leading dot means any subdomain");
  assert.throws(() => store.verify(leaf, { ip: "not an address" }), TypeError);
  assert.throws(() => store.verify(leaf, { ip: "127.0.0.1\0" }), TypeError);
  assert.throws(() => store.verify(leaf, { email: "a@b\0c" }), TypeError);
  assert.throws(() => store.verify(42 as unknown as string), TypeError);
  assert.throws(() => store.verify(leaf, { intermediates: [null as unknown as string] }), TypeError);
  assert.throws(() => store.verify("not a certificate"), UnableToReadCertificateError);
  assert.throws(() => store.verify(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])), UnableToReadCertificateError);
  assert.throws(
    () => store.addCertificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    UnableToReadCertificateError,
  );
  // The store still works after all of that.
  assert.equal(store.verify(leaf, { intermediates: intermediates() }).ok, true);
});

Deno.test("X509Store: close() is idempotent, later use is a SocketClosedError, verdicts outlive the store", () => {
  const store = fixtureStore();
  const verdict = store.verify(fixture("server.pem"), { intermediates: intermediates() });
  store.close();
  store.close();
  assert.throws(() => store.verify(fixture("server.pem")), SocketClosedError);
  assert.throws(() => store.addCertificate(fixture("ca.pem")), SocketClosedError);
  assert.equal(verdict.chain[2].subject, ROOT);
  assert.match(verdict.chain[0].toPEM(), /BEGIN CERTIFICATE/);
  {
    using disposed = fixtureStore();
    assert.equal(disposed.verify(fixture("server.pem"), { intermediates: intermediates() }).ok, true);
  }
});

Deno.test("X509Store: many stores and verifications release their native memory", () => {
  // Each store is closed explicitly or left to the collector; neither may crash or leak handles.
  for (let i = 0; i < 200; i++) {
    const store = fixtureStore();
    store.verify(fixture("server.pem"), { intermediates: intermediates(), hostname: "localhost" });
    if (i % 2 === 0) store.close();
  }
  (globalThis as { gc?: () => void }).gc?.();
});

Deno.test("checkHost / checkIP / checkEmail: the leaf's names, with secsock's host-name rules", () => {
  const server = X509Certificate.fromPEM(fixture("server.pem"));
  assert.equal(checkHost(server, "localhost"), true);
  assert.equal(checkHost(server, "LOCALHOST"), true);
  assert.equal(checkHost(server, "example.com"), false);
  assert.equal(checkHost(fixture("server.pem"), "localhost"), true, "PEM text is accepted");
  assert.equal(checkIP(server, "127.0.0.1"), true);
  assert.equal(checkIP(server, "::1"), true);
  assert.equal(checkIP(server, "0:0:0:0:0:0:0:1"), true);
  assert.equal(checkIP(server, "127.0.0.2"), false);
  // The name only in the subject CN: not a match unless asked for.
  const noSan = corpusText("no-san/leaf.pem");
  assert.equal(checkHost(noSan, "nosan.test"), false);
  assert.equal(checkHost(noSan, "nosan.test", { subjectFallback: true }), true);
  const ipInCn = corpusText("ip-in-cn/leaf.pem");
  assert.equal(checkIP(ipInCn, "127.0.0.1"), false, "an IP in the CN never matches");
  const client = corpusText("good-client/leaf.pem");
  assert.equal(checkEmail(client, "alice@good.test"), true);
  assert.equal(checkEmail(client, "mallory@good.test"), false);
  assert.throws(() => checkHost(server, "localhost\0.evil.test"), TypeError);
  assert.throws(() => checkHost(server, ""), TypeError);
  assert.throws(() => checkHost(server, ".localhost"), TypeError);
  assert.throws(() => checkIP(server, "localhost"), TypeError);
  assert.throws(() => checkEmail(server, "a\0b"), TypeError);
  assert.throws(() => checkHost({} as X509Certificate, "localhost"), TypeError);
});
