/**
 * Helpers for the session attack tests: a secsock server that records what
 * each connection looked like (resumed? which client certificate?), visits
 * by a secsock client and by `openssl s_client -sess_out/-sess_in`, and
 * secsock servers in other processes (a fleet sharing ticket keys).
 */
import assert from "node:assert/strict";
import { SecureSocketContext, type SecureSocketOptions } from "../../mod.ts";
import {
  clientContext,
  connectLocal,
  denoServerPeer,
  enc,
  fixture,
  fixturePath,
  hex,
  type Peer,
  readAll,
  readUntil,
  TestServer,
  type Version,
  within,
} from "../helpers.ts";
import { clientCertArgs, sClient, versionFlag } from "../peers/openssl.ts";

/** What a server saw of one connection. */
export interface Served {
  /** The handshake resumed a session. */
  reused: boolean | null;
  /** The SNI name the client asked for. */
  servername: string | null;
  /** Subject of the client certificate the server holds for this connection, or null. */
  client: string | null;
  /** The server-side error, if the connection failed. */
  error: unknown;
}

/**
 * A {@linkcode TestServer} that records each connection. Each connection:
 * handshake (10 s limit), one line "reused=<bool> client=<subject|none>",
 * close_notify, wait for the client.
 */
export function recordingServer(ctx: SecureSocketContext) {
  const server = new TestServer(ctx, async (socket): Promise<Served> => {
    const record: Served = { reused: null, servername: null, client: null, error: null };
    try {
      await socket.handshake();
      record.reused = socket.isSessionReused;
      record.servername = socket.servername;
      record.client = socket.peerCertificate?.subject ?? null;
    } catch (error) {
      record.error = error;
      return record;
    }
    try {
      await socket.write(enc(`reused=${record.reused} client=${record.client ?? "none"}\n`));
      await socket.closeWrite();
      await readAll(socket); // until the client closes
    } catch {
      // After the handshake only the handshake's outcome is recorded (s_client may skip close_notify).
    }
    return record;
  }, { handshakeTimeout: 10_000 });
  return {
    port: server.port,
    /** Waits (bounded) until the `count`-th connection (1-based, in accept order) has ended; what it recorded. */
    async served(count: number): Promise<Served> {
      const outcome = await server.outcome(count - 1, 10_000);
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    },
    /** Stops listening and closes the connections still open. */
    close: (): Promise<void> => server.close(),
  };
}

/** What a secsock client saw of one visit. */
export interface Visit {
  line: string;
  reused: boolean;
  session: Uint8Array | null;
}

/** Connects with a secsock client, reads the server's line (so TLS 1.3 tickets arrive), closes. */
export async function visit(
  ctx: SecureSocketContext,
  port: number,
  options: SecureSocketOptions = {},
): Promise<Visit> {
  const socket = await within(connectLocal(ctx, port, options), 10_000, "client handshake");
  try {
    const line = await within(readUntil(socket, "\n"), 10_000, "the server's line");
    const result = { line, reused: socket.isSessionReused, session: socket.session };
    await socket.closeWrite();
    await within(socket.read(new Uint8Array(64)), 10_000, "the server's close_notify");
    return result;
  } finally {
    socket.close();
  }
}

/** How `openssl s_client` ended: "New", "Reused", or "?" when it printed neither. */
export async function sClientVisit(
  port: number,
  version: Version,
  args: string[],
): Promise<{ kind: string; output: string }> {
  const output = await sClient(port, [versionFlag(version), ...args]);
  return { kind: output.match(/^(New|Reused), TLSv1\.[23],/m)?.[1] ?? "?", output };
}

/** `s_client` arguments presenting the fixture client certificate issued by other-ca (untrusted by ca.pem servers). */
export function otherClientArgs(): string[] {
  return ["-cert", fixturePath("other-client.pem"), "-key", fixturePath("other-client.key")];
}

export { clientCertArgs };

/** A fresh temporary directory for s_client session files, removed on disposal. */
export async function sessionDir(): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await Deno.makeTempDir();
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** A server context with the fixture RSA chain, trusting `ca` (default the fixture root) for client certificates. */
export function policyContext(
  options: { verifyMode?: number; ca?: string; maxVersion?: Version } = {},
): SecureSocketContext {
  const ctx = new SecureSocketContext({
    useSystemTrust: false,
    ca: fixture(options.ca ?? "ca.pem"),
    ...(options.verifyMode === undefined ? {} : { verifyMode: options.verifyMode }),
    ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
  });
  ctx.useCertificateChainFile(fixturePath("server-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("server.key"));
  return ctx;
}

/** A client context trusting the fixture root and presenting the fixture client certificate when asked. */
export function clientWithCertificate(maxVersion?: Version): SecureSocketContext {
  const ctx = clientContext(maxVersion ? { maxVersion } : {});
  ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("client.key"));
  return ctx;
}

/** Client-auth policies of the session policy server process. */
export type Policy = "none" | "require";

/** Starts tests/security/peers/session_policy_server.ts in its own process. */
export function policyServerProcess(keys: Uint8Array, policy: Policy): Promise<Peer> {
  return denoServerPeer(new URL("./peers/session_policy_server.ts", import.meta.url), [hex(keys), policy]);
}

/** The CONNECTION/ERROR lines a policy server process printed. */
export function processLines(peer: Peer): string[] {
  return peer.output().split("\n").filter((line) => /^(CONNECTION|ERROR) /.test(line));
}

/** Waits (bounded) until a policy server process has printed `count` CONNECTION/ERROR lines; returns the last. */
export async function processServed(peer: Peer, count: number): Promise<string> {
  await peer.waitFor(new RegExp(`(?:^(?:CONNECTION|ERROR) .*\\n[\\s\\S]*?){${count}}`, "m"), 10_000);
  const lines = processLines(peer);
  assert.ok(lines.length >= count);
  return lines[count - 1];
}
