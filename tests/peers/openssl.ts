/**
 * The openssl CLI as a peer: `s_server` / `s_client` processes, their
 * arguments for the fixture chains, and payloads safe to pipe through them.
 */
import assert from "node:assert/strict";
import { fixturePath, type Peer, spawnPeer, type Version, waitExit } from "../helpers.ts";

/** Server leaves of the fixture PKI that the openssl CLI can serve. */
export type ServerLeaf = "server" | "server-ec" | "server-ed25519" | "expired" | "not-yet-valid" | "wronghost";

/** `-cert`, `-cert_chain` (the intermediate) and `-key` arguments for a fixture leaf. */
function chainArgs(leaf: string): string[] {
  return [
    "-cert",
    fixturePath(`${leaf}.pem`),
    "-cert_chain",
    fixturePath("intermediate.pem"),
    "-key",
    fixturePath(`${leaf}.key`),
  ];
}

/**
 * `openssl s_server` arguments serving `leaf` with its intermediate: `-cert`
 * reads only the first certificate of a file, so the intermediate goes in
 * `-cert_chain`.
 */
export function serverCertArgs(leaf: ServerLeaf = "server"): string[] {
  return chainArgs(leaf);
}

/** `openssl s_client` arguments presenting the fixture client certificate with its intermediate. */
export function clientCertArgs(leaf: "client" | "client-ec" = "client"): string[] {
  return chainArgs(leaf);
}

/**
 * `openssl s_server` arguments serving the RSA chain by default and the EC
 * leaf to clients asking for "localhost" (SNI). The second context has no
 * chain option: clients must also trust the intermediate.
 */
export function sniServerArgs(): string[] {
  return [
    ...serverCertArgs("server"),
    "-servername",
    "localhost",
    "-cert2",
    fixturePath("server-ec.pem"),
    "-key2",
    fixturePath("server-ec.key"),
  ];
}

/** `openssl s_client` arguments that verify the fixture server as "localhost" (trusting only the root) and fail on error. */
export function strictClientArgs(): string[] {
  return [
    "-CAfile",
    fixturePath("ca.pem"),
    "-servername",
    "localhost",
    "-verify_hostname",
    "localhost",
    "-verify_return_error",
  ];
}

/** `-tls1_2` or `-tls1_3`. */
export function versionFlag(version: Version): string {
  return version === "TLSv1.2" ? "-tls1_2" : "-tls1_3";
}

/** Subjects of the chain a fixture server leaf sends (leaf, then intermediate). */
export const SERVER_CHAIN_SUBJECTS = ["CN=localhost,O=secsock", "CN=secsock Test Intermediate CA,O=secsock"];

/** TLS 1.3 cipher suites OpenSSL 3 enables by default. */
export const TLS13_CIPHER = /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/;

/**
 * True when `openssl s_server`/`s_client` reported that it verified the
 * certificate whose CN is `cn` at chain depth `depth` ("verify return:1").
 * OpenSSL 3.0 prints subjects as "O = secsock, CN = x", 3.5 as
 * "O=secsock, CN=x": the spacing is normalised away.
 */
export function verifiedAt(output: string, depth: number, cn: string): boolean {
  const normalized = output.replace(/ = /g, "=");
  const name = cn.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`depth=${depth} [^\\n]*CN=${name}\\s+verify return:1`).test(normalized);
}

/** Starts `openssl s_server` on a free port with the given extra arguments. */
export async function opensslServer(args: string[]): Promise<Peer> {
  const peer = spawnPeer("openssl", ["s_server", "-accept", "127.0.0.1:0", ...args]);
  const m = await peer.waitFor(/ACCEPT .*:(\d+)/);
  peer.port = Number(m[1]);
  return peer;
}

/** Starts `openssl s_client` against 127.0.0.1:port with extra arguments. */
export function opensslClient(port: number, args: string[]): Peer {
  return spawnPeer("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, ...args]);
}

/**
 * Runs `openssl s_client` against 127.0.0.1:port until it exits by itself
 * (asserted, bounded by `ms`); returns its output.
 */
export async function sClient(port: number, args: string[], ms = 10_000): Promise<string> {
  const peer = opensslClient(port, args);
  const { exited } = await waitExit(peer, ms);
  assert.ok(exited, `s_client did not exit:\n${peer.output()}`);
  return peer.output();
}

/**
 * Deterministic printable lines (hex digits only: never an s_client or
 * s_server command letter), each ending in "\n".
 */
export function hexLines(count: number, length: number, seed = 1): string[] {
  const lines: string[] = [];
  let x = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    let line = "";
    for (let j = 0; j < length; j++) {
      // xorshift32
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      line += "0123456789abcdef"[x & 15];
    }
    lines.push(line + "\n");
  }
  return lines;
}
