/**
 * Attack: an asynchronous verification answer replayed onto a report about
 * another chain. A Promise answer makes OpenSSL verify the chain again once it
 * settles, and the next pass gets the answers already given. If an answer is
 * keyed only by the report (position, depth, ok, error, certificate), a pass
 * that built a different chain still gets it: here the server sends two
 * intermediates with the same name and key, Ia valid until T and Ib from T.
 * The application approves the leaf only on a chain through Ia, and takes its
 * time answering; meanwhile T passes, the next pass builds [leaf, Ib, root],
 * and the approval given for [leaf, Ia, root] must not apply to it.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, SecureSocket, SecureSocketContext, X509Certificate } from "../../mod.ts";
import { delay, run, stopPeer, within } from "../helpers.ts";
import { opensslServer } from "../peers/openssl.ts";

/** T as OpenSSL's YYYYMMDDHHMMSSZ. */
function asn1Time(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
}

Deno.test("async verify answer replayed on another chain: an approval for [leaf, Ia, root] does not pass [leaf, Ib, root]", async () => {
  const dir = await Deno.makeTempDir();
  // Whole seconds: certificate times have no fractions.
  const switchAt = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
  const script = new URL("./peers/gen_switching_intermediates.sh", import.meta.url).pathname;
  const peer = await (async () => {
    const made = await run("bash", [script, dir, asn1Time(switchAt)]);
    assert.equal(made.code, 0, made.stderr);
    return await opensslServer([
      "-cert",
      `${dir}/leaf.pem`,
      "-key",
      `${dir}/leaf.key`,
      "-cert_chain",
      `${dir}/both.pem`,
    ]);
  })();
  const ia = X509Certificate.fromPEM(await Deno.readTextFile(`${dir}/ia.pem`)).fingerprint256;
  using ctx = new SecureSocketContext({ useSystemTrust: false, ca: await Deno.readTextFile(`${dir}/root.pem`) });
  const leafReports: { throughIa: boolean; beforeSwitch: boolean }[] = [];
  ctx.setCertificateVerifyCallback(async (ok, store) => {
    if (store.depth !== 0) return ok;
    const throughIa = store.chain[1]?.fingerprint256 === ia;
    leafReports.push({ throughIa, beforeSwitch: Date.now() < switchAt.getTime() });
    // A slow approval (a remote allow-list, say): T passes meanwhile.
    await delay(Math.max(0, switchAt.getTime() + 1500 - Date.now()));
    return ok && throughIa;
  });
  try {
    const outcome = await within(
      SecureSocket.connect(ctx, { hostname: "localhost", port: peer.port }),
      20_000,
      "connect",
    )
      .then((socket) => {
        socket.close();
        return "accepted";
      }, (error) => error);
    // The first leaf report was about the chain through Ia, before T: otherwise the test proves nothing.
    assert.deepEqual(leafReports[0], { throughIa: true, beforeSwitch: true }, JSON.stringify(leafReports));
    assert.ok(
      outcome instanceof CertificateVerificationError,
      `the approval of [leaf, Ia, root] was replayed for a later chain: ${outcome}; reports ${
        JSON.stringify(leafReports)
      }`,
    );
    // The chain through Ib was asked about in its own right, and refused.
    assert.ok(leafReports.some((r) => !r.throughIa), JSON.stringify(leafReports));
    assert.equal(outcome.depth, 0);
  } finally {
    await stopPeer(peer);
    await Deno.remove(dir, { recursive: true });
  }
});
