/**
 * The certificate-chain corpus made by scripts/gen_chain_corpus.sh
 * (tests/fixtures/chains/): its manifest, file paths, and contexts that serve
 * or trust its chains.
 */
import { SecureSocketContext, type SecureSocketContextOptions } from "../mod.ts";

/** One case of tests/fixtures/chains/manifest.json. */
export interface ChainCase {
  name: string;
  description: string;
  /** Who presents the chain in a handshake: a TLS server (checked as sslserver) or a client (sslclient). */
  role: "server" | "client";
  purpose: "sslserver" | "sslclient";
  /** Paths relative to tests/fixtures/chains/. */
  leaf: string;
  key: string;
  /** The CA certificates the peer sends after its leaf, or null for none. */
  intermediates: string | null;
  host: string | null;
  ip: string | null;
  /** A verification depth limit, or null for OpenSSL's default. */
  depth: number | null;
  /** The name is only the subject CN, which secsock never falls back to. */
  hostOnlyInSubjectCN: boolean;
  /** Needs policy checking, which TLS handshakes never ask for: offline only. */
  policyCheck: boolean;
  /** The verdict the case is built to draw from `openssl verify`. */
  intent: "accept" | "reject";
}

const base = new URL("./fixtures/chains/", import.meta.url);

/** Absolute path of a corpus file. */
export function corpusPath(file: string): string {
  return new URL(file, base).pathname;
}

/** Text of a corpus file. */
export function corpusText(file: string): string {
  return Deno.readTextFileSync(corpusPath(file));
}

/** Every case of the corpus. */
export function corpusCases(): ChainCase[] {
  return JSON.parse(corpusText("manifest.json")).cases as ChainCase[];
}

/** One case by name. */
export function corpusCase(name: string): ChainCase {
  const found = corpusCases().find((c) => c.name === name);
  if (!found) throw new Error(`no corpus case ${name}`);
  return found;
}

/** The leaf followed by what the peer sends after it, as one PEM text. */
export function presentedChain(c: ChainCase): string {
  return corpusText(c.leaf) + (c.intermediates ? corpusText(c.intermediates) : "");
}

/** A context presenting the case's chain (as a server, or as a client's own certificate). */
export function presentingContext(c: ChainCase, options: SecureSocketContextOptions = {}): SecureSocketContext {
  const ctx = new SecureSocketContext({ useSystemTrust: false, ...options });
  try {
    ctx.useCertificateChain(presentedChain(c));
    ctx.usePrivateKeyFile(corpusPath(c.key));
  } catch (error) {
    ctx.close();
    throw error;
  }
  return ctx;
}

/** A context trusting only the corpus root. */
export function corpusTrustingContext(options: SecureSocketContextOptions = {}): SecureSocketContext {
  return new SecureSocketContext({ useSystemTrust: false, ca: corpusText("root.pem"), ...options });
}
