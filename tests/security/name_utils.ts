/**
 * Shared by the host-name attack tests: `openssl s_server` serving one of the
 * certificates of tests/fixtures/hostnames/ (scripts/gen_name_fixtures.sh),
 * and what a secsock client decides about it for a given name.
 */
import assert from "node:assert/strict";
import { CertificateVerificationError, SecureSocket, SecureSocketContext } from "../../mod.ts";
import { type Peer, stopPeer, within } from "../helpers.ts";
import { opensslServer } from "../peers/openssl.ts";

/** X509_V_ERR_HOSTNAME_MISMATCH */
export const HOSTNAME_MISMATCH = 62;
/** X509_V_ERR_IP_ADDRESS_MISMATCH */
export const IP_ADDRESS_MISMATCH = 64;

/** Absolute path of a file in tests/fixtures/hostnames/. */
export function namePath(file: string): string {
  return new URL(`../fixtures/hostnames/${file}`, import.meta.url).pathname;
}

/** A client context trusting only the host-name test root. */
export function nameClientContext(): SecureSocketContext {
  return new SecureSocketContext({ useSystemTrust: false, ca: Deno.readTextFileSync(namePath("ca.pem")) });
}

/** Runs `fn` with an s_server (serving every connection in turn) presenting `cert` from tests/fixtures/hostnames/. */
export async function withNameServer(cert: string, fn: (port: number) => Promise<void>): Promise<void> {
  const peer: Peer = await opensslServer(["-cert", namePath(`${cert}.pem`), "-key", namePath("leaf.key")]);
  try {
    await fn(peer.port);
  } finally {
    await stopPeer(peer);
  }
}

/** What the client decided: the handshake completed, or the X509_V_ERR code it was refused with. */
export type Verdict = "accepted" | number;

/**
 * Connects to 127.0.0.1:port verifying `name` (sent as `servername`, so any
 * name can be checked against the local server) and returns the verdict.
 * Anything but success or a CertificateVerificationError is rethrown.
 */
export async function verdictFor(ctx: SecureSocketContext, port: number, name: string): Promise<Verdict> {
  try {
    const socket = await within(
      SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: name, port }),
      10_000,
      `handshake verifying ${JSON.stringify(name)}`,
    );
    assert.ok(socket.peerCertificate !== null);
    socket.close();
    return "accepted";
  } catch (error) {
    if (error instanceof CertificateVerificationError) {
      assert.equal(error.depth, 0, error.message);
      return error.code;
    }
    throw error;
  }
}

/** The verdict for each name, as a record (so a failure shows every name at once). */
export async function verdictsFor(
  ctx: SecureSocketContext,
  port: number,
  names: string[],
): Promise<Record<string, Verdict>> {
  const out: Record<string, Verdict> = {};
  for (const name of names) out[name] = await verdictFor(ctx, port, name);
  return out;
}
