/**
 * Attack: a verify callback that passes OpenSSL's verdict through,
 * `(ok) => ok` (the logging pattern), must not weaken verification. OpenSSL
 * reports on the same certificate more than once — first "ok", later a name
 * constraint violation — so an answer cached per certificate would accept a
 * leaf its issuer was never allowed to certify. A rogue but name-constrained
 * CA is exactly who sends such a chain.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, type VerifyCallback, VerifyMode } from "../../mod.ts";
import { failure, ownedPair, success } from "../callback_utils.ts";
import { type ChainCase, corpusCase, corpusTrustingContext, presentingContext } from "../chain_corpus.ts";

/** X509_V_ERR_PERMITTED_VIOLATION */
const PERMITTED_VIOLATION = 47;
/** X509_V_ERR_EXCLUDED_VIOLATION */
const EXCLUDED_VIOLATION = 48;

function assertVerificationError(error: unknown, code: number): void {
  assert.ok(error instanceof CertificateVerificationError, `expected CertificateVerificationError, got ${error}`);
  assert.equal(error.code, code, `verification code (message: ${error.message})`);
  assert.equal(error.depth, 0);
}

/** Our client verifying the case's server chain with `cb` (or none); the client's outcome. */
async function clientVerdict(c: ChainCase, cb: VerifyCallback | null): Promise<unknown> {
  const client = corpusTrustingContext();
  if (cb) client.setCertificateVerifyCallback(cb);
  using pair = await ownedPair(presentingContext(c), client, { hostname: c.host ?? c.ip!, exchange: true });
  return pair.clientResult.ok ? null : pair.clientResult.error;
}

/** Our server verifying the case's client chain with `cb` (or none); the server's outcome. */
async function serverVerdict(c: ChainCase, cb: VerifyCallback | null): Promise<unknown> {
  const server = presentingContext(corpusCase("good"), {
    ca: Deno.readTextFileSync(new URL("../fixtures/chains/root.pem", import.meta.url)),
    verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert,
  });
  if (cb) server.setCertificateVerifyCallback(cb);
  using pair = await ownedPair(server, presentingContext(c, { useSystemTrust: false, verifyMode: VerifyMode.None }), {
    hostname: "good.test",
    exchange: true,
  });
  return pair.serverResult.ok ? null : pair.serverResult.error;
}

const passThrough: VerifyCallback = (ok) => ok;
const asyncPassThrough: VerifyCallback = (ok) => Promise.resolve(ok);

Deno.test("attack: (ok) => ok accepts a server leaf outside its issuer's permitted DNS subtree", async () => {
  const c = corpusCase("nc-dns-permitted");
  assertVerificationError(await clientVerdict(c, null), PERMITTED_VIOLATION);
  assertVerificationError(await clientVerdict(c, passThrough), PERMITTED_VIOLATION);
});

Deno.test("attack: (ok) => Promise.resolve(ok) accepts a server leaf outside its issuer's permitted DNS subtree", async () => {
  const c = corpusCase("nc-dns-permitted");
  assertVerificationError(await clientVerdict(c, asyncPassThrough), PERMITTED_VIOLATION);
});

Deno.test("attack: (ok) => ok accepts a server leaf inside its issuer's excluded IP subtree", async () => {
  const c = corpusCase("nc-ip-excluded");
  assertVerificationError(await clientVerdict(c, null), EXCLUDED_VIOLATION);
  assertVerificationError(await clientVerdict(c, passThrough), EXCLUDED_VIOLATION);
  assertVerificationError(await clientVerdict(c, asyncPassThrough), EXCLUDED_VIOLATION);
});

Deno.test("attack: a server's (ok) => ok accepts a client certificate outside its issuer's permitted email subtree", async () => {
  const c = corpusCase("nc-email-permitted");
  assertVerificationError(await serverVerdict(c, null), PERMITTED_VIOLATION);
  assertVerificationError(await serverVerdict(c, passThrough), PERMITTED_VIOLATION);
});

Deno.test("attack: the pass-through callbacks still accept a chain inside the constraints (control)", async () => {
  const c = corpusCase("nc-dns-permitted-ok");
  for (const cb of [null, passThrough, asyncPassThrough]) {
    assert.equal(await clientVerdict(c, cb), null);
  }
  const client = corpusTrustingContext();
  client.setCertificateVerifyCallback(passThrough);
  using pair = await ownedPair(presentingContext(c), client, { hostname: "www.allowed.test", exchange: true });
  success(pair.clientResult);
  assert.equal(failure({ ok: false, error: 1 }, "sanity"), 1);
});
