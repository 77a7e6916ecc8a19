/**
 * Differential test of certificate verification over the chain corpus
 * (scripts/gen_chain_corpus.sh → tests/fixtures/chains/). For every chain,
 * the same verdict — accept, or reject with the same X509_V_ERR code at the
 * same depth — must come from:
 *
 * - `openssl verify` with the same trust anchor, intermediates, purpose, host
 *   name or IP, depth limit and time (`-attime`), run now: the reference;
 * - secsock in a real handshake, verifying the chain an `openssl s_server`
 *   serves (as a client) or an `openssl s_client` presents (as a server): with
 *   no verify callback, with `(ok) => ok`, and on the client with
 *   `(ok) => Promise.resolve(ok)`;
 * - the offline X509Store API.
 *
 * One deliberate difference: secsock never matches a host name against the
 * subject CN (CPython's rule; `openssl verify` falls back to it when the
 * certificate has no DNS name). For those cases X509Store with
 * `subjectFallback: true` must reproduce `openssl verify`, and everything else
 * must reject the name.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  type VerifyCallback,
  VerifyMode,
  X509Store,
} from "../mod.ts";
import { type ChainCase, corpusCases, corpusPath, corpusText, presentingContext } from "./chain_corpus.ts";
import { type Peer, run, stopPeer, waitExit, within } from "./helpers.ts";
import { opensslClient, opensslServer } from "./peers/openssl.ts";

/** X509_V_ERR_HOSTNAME_MISMATCH */
const HOSTNAME_MISMATCH = 62;

/** A verification outcome, comparable across verifiers. */
interface Verdict {
  ok: boolean;
  /** X509_V_ERR_* (0 when accepted). */
  error: number;
  /** Depth of the failing certificate (null when accepted). */
  depth: number | null;
}

const ACCEPT: Verdict = { ok: true, error: 0, depth: null };

function show(v: Verdict): string {
  return v.ok ? "accept" : `reject ${v.error} at depth ${v.depth}`;
}

/** One validation time for everything: the handshakes use the clock, so `openssl verify` and X509Store get now too. */
const NOW = new Date();

/** `openssl verify` on the case, with its inputs; its first reported error is the verdict. */
async function opensslVerify(c: ChainCase): Promise<Verdict> {
  const args = [
    "verify",
    "-CAfile",
    corpusPath("root.pem"),
    "-no-CApath",
    "-no-CAstore",
    "-purpose",
    c.purpose,
    "-attime",
    String(Math.floor(NOW.getTime() / 1000)),
  ];
  if (c.intermediates) args.push("-untrusted", corpusPath(c.intermediates));
  if (c.host) args.push("-verify_hostname", c.host);
  if (c.ip) args.push("-verify_ip", c.ip);
  if (c.depth !== null) args.push("-verify_depth", String(c.depth));
  if (c.policyCheck) args.push("-policy_check");
  args.push(corpusPath(c.leaf));
  const { code, stdout, stderr } = await run("openssl", args);
  if (code === 0) return ACCEPT;
  // The verify app prints "error <code> at <depth> depth lookup: ..." for each report it sees.
  const m = (stdout + stderr).match(/error (\d+) at (\d+) depth/);
  assert.ok(m, `openssl verify failed without an X509_V_ERR code:\n${stdout}${stderr}`);
  return { ok: false, error: Number(m[1]), depth: Number(m[2]) };
}

/** X509Store's verdict on the case. */
function offlineVerdict(store: X509Store, c: ChainCase, subjectFallback = false): Verdict {
  const v = store.verify(corpusText(c.leaf), {
    intermediates: c.intermediates ? [corpusText(c.intermediates)] : [],
    hostname: c.host ?? undefined,
    ip: c.ip ?? undefined,
    purpose: c.purpose,
    depth: c.depth ?? undefined,
    policyCheck: c.policyCheck,
    time: NOW,
    subjectFallback,
  });
  if (v.ok) {
    assert.ok(v.chain.length >= 2, "an accepted chain runs from the leaf to the root");
    assert.equal(v.chain.at(-1)?.subject, "CN=Corpus Root CA,O=secsock corpus");
    return ACCEPT;
  }
  return { ok: false, error: v.error, depth: v.depth };
}

/** The verdict of a secsock handshake that ended with `error` (null: it succeeded). */
function handshakeVerdict(error: unknown): Verdict {
  if (error === null) return ACCEPT;
  if (error instanceof CertificateVerificationError) return { ok: false, error: error.code, depth: error.depth };
  throw error;
}

/** The secsock verify callbacks compared: none, pass-through, and (clients only) asynchronous pass-through. */
const MODES: { name: string; callback: VerifyCallback | null; clientOnly: boolean }[] = [
  { name: "no callback", callback: null, clientOnly: false },
  { name: "(ok) => ok", callback: (ok) => ok, clientOnly: false },
  { name: "(ok) => Promise.resolve(ok)", callback: (ok) => Promise.resolve(ok), clientOnly: true },
];

/** `openssl s_server` serving the case's chain. */
function serveChain(c: ChainCase): Promise<Peer> {
  const args = ["-cert", corpusPath(c.leaf), "-key", corpusPath(c.key)];
  if (c.intermediates) args.push("-cert_chain", corpusPath(c.intermediates));
  return opensslServer(args);
}

/** Our client verifying what `server` serves, with `callback`. */
async function clientVerdict(c: ChainCase, port: number, callback: VerifyCallback | null): Promise<Verdict> {
  using ctx = new SecureSocketContext({ useSystemTrust: false, ca: corpusText("root.pem") });
  if (c.depth !== null) ctx.setVerifyDepth(c.depth);
  if (callback) ctx.setCertificateVerifyCallback(callback);
  let error: unknown = null;
  try {
    const socket = await within(
      SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: c.host ?? c.ip!, port }),
      10_000,
      `handshake with the ${c.name} server`,
    );
    socket.close();
  } catch (e) {
    error = e;
  }
  return handshakeVerdict(error);
}

/** Our server verifying the case's chain presented by `openssl s_client`, with `callback`. */
async function serverVerdict(c: ChainCase, callback: VerifyCallback | null): Promise<Verdict> {
  // The server's own certificate: any valid one (the client does not check it).
  const good = corpusCases().find((g) => g.name === "good")!;
  using ctx = presentingContext(good, {
    ca: corpusText("root.pem"),
    verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert,
  });
  if (c.depth !== null) ctx.setVerifyDepth(c.depth);
  if (callback) ctx.setCertificateVerifyCallback(callback);
  using listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const args = ["-cert", corpusPath(c.leaf), "-key", corpusPath(c.key), "-servername", "good.test"];
  if (c.intermediates) args.push("-cert_chain", corpusPath(c.intermediates));
  const client = opensslClient(listener.addr.port, args);
  let error: unknown = null;
  try {
    const socket = await within(listener.accept(), 10_000, `s_client presenting ${c.name}`);
    try {
      await within(socket.handshake(), 10_000, `server handshake with ${c.name}`);
    } catch (e) {
      error = e;
    } finally {
      socket.close();
    }
  } finally {
    await client.send("Q\n").catch(() => {});
    await waitExit(client, 5_000);
  }
  return handshakeVerdict(error);
}

Deno.test("differential: every corpus chain gets openssl verify's verdict from secsock and X509Store", async (t) => {
  using store = new X509Store({ ca: corpusText("root.pem") });
  const cases = corpusCases();
  assert.ok(cases.length >= 25, `the corpus has ${cases.length} cases`);
  for (const c of cases) {
    await t.step(`${c.name}: ${c.description}`, async () => {
      const reference = await opensslVerify(c);
      assert.equal(
        reference.ok,
        c.intent === "accept",
        `openssl verify gave ${show(reference)}; the case is built to ${c.intent}`,
      );
      let expected = reference;
      if (c.hostOnlyInSubjectCN) {
        // openssl verify matched the name in the subject CN; X509Store does too when asked to.
        assert.deepEqual(offlineVerdict(store, c, true), reference, "X509Store with subjectFallback");
        expected = { ok: false, error: HOSTNAME_MISMATCH, depth: 0 };
      }
      const seen: Record<string, Verdict> = { "X509Store": offlineVerdict(store, c) };
      if (!c.policyCheck) {
        // Handshakes never check policies: such cases are for openssl verify and X509Store only.
        if (c.role === "server") {
          const server = await serveChain(c);
          try {
            for (const mode of MODES) seen[`client, ${mode.name}`] = await clientVerdict(c, server.port, mode.callback);
          } finally {
            await stopPeer(server);
          }
        } else {
          for (const mode of MODES.filter((m) => !m.clientOnly)) {
            seen[`server, ${mode.name}`] = await serverVerdict(c, mode.callback);
          }
        }
      }
      const disagreeing = Object.entries(seen).filter(([, v]) => show(v) !== show(expected));
      assert.deepEqual(
        disagreeing.map(([who, v]) => `${who}: ${show(v)}`),
        [],
        `expected ${show(expected)} (openssl verify: ${show(reference)})` +
          (c.hostOnlyInSubjectCN ? "; secsock never matches a host name against the subject CN (design.md)" : ""),
      );
    });
  }
});
