/**
 * Helpers for the issue 7 feature suites (tests/features_*_test.ts): the Node
 * tls peer (features_node_peer.mjs), a one-shot secsock server and the
 * connection handlers the suites share. Generic helpers are in
 * tests/helpers.ts, the openssl CLI in tests/peers/openssl.ts.
 */
import assert from "node:assert/strict";
import { type SecureSocket, type SecureSocketContext, X509Certificate } from "../../mod.ts";
import { enc, nodePeer, type Peer, readUntil, stopPeer, TestServer, waitExit, within } from "../helpers.ts";

/** The certificates (PEM blocks) printed in a peer's output, in order. */
export function pemBlocks(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((pem) => X509Certificate.fromPEM(pem + "\n"));
}

/** What the Node tls peer reports about one connection (see features_node_peer.mjs). */
export interface NodeReport {
  protocol: string | null;
  cipher: string | null;
  alpn: string | null;
  servername: string | null;
  sniRequested?: (string | null)[];
  authorized: boolean;
  authorizationError: string | null;
  peerFingerprint256: string | null;
  peerSubject: string | null;
  keylog: string[];
  finished: string | null;
  peerFinished: string | null;
  ekm: string[];
  sessionReused: boolean;
  session: string | null;
  ocsp: string | null;
  received: string;
}

/** Configuration of the Node tls peer (JSON on its command line). */
export interface NodePeerConfig {
  role: "client" | "server";
  /** Client: port to connect to on 127.0.0.1. */
  port?: number;
  /** Client: SNI name; also the name checked in the server certificate. */
  servername?: string;
  minVersion?: string;
  maxVersion?: string;
  alpn?: string[];
  /** Fixture leaf to present: server leaf for servers, client leaf for clients. */
  leaf?: string;
  /** Server: SNI host name → fixture leaf. */
  sni?: Record<string, string>;
  /** Server: number of connections to serve before exiting (default 1). */
  connections?: number;
  /** Server: ask for a client certificate. */
  requestCert?: boolean;
  /** Server: fixture file (DER) to staple as OCSP response. */
  ocspFile?: string;
  /** Client: request OCSP stapling. */
  requestOcsp?: boolean;
  /** Client: session to resume (hex of Node's session ticket data). */
  session?: string;
  /** Keying material to export: [label, length, context hex or null]. */
  ekm?: [string, number, string | null][];
  /** Client: text to send after the handshake; it reads one line back. */
  send?: string;
}

/** A running Node tls peer. */
export interface NodeTlsPeer {
  peer: Peer;
  /** Server: the port it listens on. */
  port: number;
  /** The n-th (0-based) connection report, waited for (bounded). */
  report(n?: number): Promise<NodeReport>;
  /** The n-th (0-based) error report, waited for (bounded). */
  error(n?: number): Promise<{ code: string | null; message: string }>;
  close(): Promise<void>;
}

/** Starts the Node tls peer; for servers, waits until it listens. */
export async function nodeTls(config: NodePeerConfig): Promise<NodeTlsPeer> {
  const peer = nodePeer("features_node_peer.mjs", [JSON.stringify(config)]);
  let port = config.port ?? 0;
  if (config.role === "server") {
    try {
      port = Number((await peer.waitFor(/^LISTENING (\d+)$/m))[1]);
    } catch (error) {
      await stopPeer(peer);
      throw error;
    }
  }
  const nth = async (kind: string, n: number) => {
    // n + 1 complete lines starting with the kind.
    await peer.waitFor(new RegExp(`(?:^${kind} .*\\n[\\s\\S]*?){${n + 1}}`, "m"));
    const lines = peer.output().split("\n").filter((l) => l.startsWith(`${kind} `));
    return JSON.parse(lines[n].slice(kind.length + 1));
  };
  return {
    peer,
    port,
    report: (n = 0) => nth("REPORT", n),
    error: (n = 0) => nth("ERROR", n),
    async close() {
      await waitExit(peer, 5_000);
    },
  };
}

/**
 * A {@linkcode TestServer} accepting `count` connections, served one after
 * the other, in order; each is handed to `serve` (which should end it), and
 * errors are collected rather than thrown.
 */
export function oneShotServer(
  ctx: SecureSocketContext,
  serve: (socket: SecureSocket, index: number) => Promise<void>,
  count = 1,
) {
  const results: PromiseSettledResult<void>[] = [];
  const server = new TestServer(ctx, async (socket, index) => {
    try {
      await serve(socket, index);
      results.push({ status: "fulfilled", value: undefined });
    } catch (reason) {
      results.push({ status: "rejected", reason });
    }
  }, { sequential: true, limit: count });
  return {
    port: server.port,
    sockets: server.sockets,
    results,
    /** Waits for the served connections (bounded), then closes the listener. */
    async finish(ms = 10_000): Promise<PromiseSettledResult<void>[]> {
      try {
        await within(server.outcome(count - 1, ms), ms, "server connections");
      } finally {
        await server.close();
      }
      return results;
    },
    /** Closes the listener at once. */
    close(): Promise<void> {
      return server.close();
    },
  };
}

/**
 * Runs `body` against a server from {@linkcode oneShotServer}: on success waits
 * for the server's connections and returns their results; on failure closes
 * the server at once and rethrows the body's error (not a timeout it caused).
 */
export async function withServer(
  server: ReturnType<typeof oneShotServer>,
  body: () => Promise<void>,
): Promise<PromiseSettledResult<void>[]> {
  try {
    await body();
  } catch (error) {
    await server.close();
    throw error;
  }
  return await server.finish();
}

/** Asserts a settled server task succeeded (rethrowing its error so it shows). */
export function assertServed(result: PromiseSettledResult<void> | undefined, what: string): void {
  assert.ok(result, `${what}: the server did not serve a connection`);
  if (result.status === "rejected") throw result.reason;
}

/** Asserts every settled server task succeeded ("connection 0", "connection 1"…). */
export function assertAllServed(results: PromiseSettledResult<void>[]): void {
  results.forEach((r, i) => assertServed(r, `connection ${i}`));
}

/** Asserts a settled server task failed (with an instance of `type` when given); returns the reason. */
export function assertRejected(
  result: PromiseSettledResult<void> | undefined,
  what?: string,
  type?: new (...args: never[]) => unknown,
): unknown {
  assert.equal(result?.status, "rejected", what);
  const reason = (result as PromiseRejectedResult).reason;
  if (type) assert.ok(reason instanceof type, `${what ?? "reason"}: ${String(reason)}`);
  return reason;
}

/** The server's handshake, bounded. */
export async function serverHandshake(socket: SecureSocket): Promise<void> {
  await within(socket.handshake(), 10_000, "server handshake");
}

/** Ends a served connection: close_notify, then wait (bounded) for the client's close. */
export async function closeAndDrain(socket: SecureSocket): Promise<void> {
  await socket.closeWrite();
  await drain(socket);
}

/**
 * A handler for {@linkcode oneShotServer}: handshake, write `text` (or what
 * it returns for the handshaken socket), close_notify, wait for the client.
 */
export function sendText(text: string | ((socket: SecureSocket) => string)) {
  return async (socket: SecureSocket): Promise<void> => {
    await serverHandshake(socket);
    await socket.write(enc(typeof text === "string" ? text : text(socket)));
    await closeAndDrain(socket);
  };
}

/**
 * A handler for {@linkcode oneShotServer}: handshake, `onHandshake` (to
 * record the server's view), echo one line, close_notify, wait for the client.
 */
export function echoLine(onHandshake?: (socket: SecureSocket) => void) {
  return async (socket: SecureSocket): Promise<void> => {
    await serverHandshake(socket);
    onHandshake?.(socket);
    const line = await within(readUntil(socket, "\n"), 10_000, "line");
    await socket.write(enc(line));
    await closeAndDrain(socket);
  };
}

/** Reads what is left until the peer's close (bounded); "clean" on close_notify, else the error. */
export async function drain(socket: SecureSocket, ms = 10_000): Promise<"clean" | unknown> {
  try {
    await within(
      (async () => {
        const buf = new Uint8Array(16384);
        while (await socket.read(buf) !== null) { /* discard */ }
      })(),
      ms,
      "the peer's close",
    );
    return "clean";
  } catch (error) {
    return error;
  }
}
