/**
 * Helpers for the issue 7 feature suites (tests/features_*_test.ts): bounded
 * waits, openssl CLI peers, the Node tls peer (features_node_peer.mjs) and a
 * one-shot secsock server. Kept apart from tests/helpers.ts, which other
 * suites share.
 */
import assert from "node:assert/strict";
import { type SecureSocket, type SecureSocketContext, SecureSocketListener, X509Certificate } from "../../mod.ts";
import { fixture, fixturePath, nodePeer, type Peer, spawnPeer } from "../helpers.ts";

/** Rejects with a clear message when `promise` does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Stops a peer and waits for it. `Peer.waitFor` arms a 50 ms timer when the
 * process exits; waiting a little longer keeps the op sanitizer quiet.
 */
export async function stopPeer(peer: Peer): Promise<Deno.CommandStatus> {
  const status = await peer.close();
  await delay(80);
  return status;
}

/** Waits (bounded) for a peer to exit by itself, then stops it; true when it exited on its own. */
export async function waitExit(peer: Peer, ms = 10_000): Promise<boolean> {
  let exited = true;
  try {
    await within(peer.process.status, ms, "peer exit");
  } catch {
    exited = false;
  }
  await stopPeer(peer);
  return exited;
}

/** `openssl s_server` arguments serving a fixture leaf with its intermediate (-cert reads one certificate). */
export function serverCertArgs(leaf: "server" | "server-ec" = "server"): string[] {
  return [
    "-cert",
    fixturePath(`${leaf}.pem`),
    "-cert_chain",
    fixturePath("intermediate.pem"),
    "-key",
    fixturePath(`${leaf}.key`),
  ];
}

/** Starts `openssl s_client` against 127.0.0.1:port with extra arguments. */
export function opensslClient(port: number, args: string[]): Peer {
  return spawnPeer("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, ...args]);
}

/** Reads from `reader` until the decoded text contains `marker` (or EOF); bounded by the caller. */
export async function readUntil(
  reader: { read(p: Uint8Array): Promise<number | null> },
  marker: string,
): Promise<string> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(16384);
  let text = "";
  while (!text.includes(marker)) {
    const n = await reader.read(buf);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text;
}

/** The certificates (PEM blocks) printed in a peer's output, in order. */
export function pemBlocks(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((pem) => X509Certificate.fromPEM(pem + "\n"));
}

/** SHA-256 fingerprint ("AB:CD:…") of a fixture certificate. */
export function fixtureFingerprint(name: string): string {
  return X509Certificate.fromPEM(fixture(name)).fingerprint256;
}

/** Hex of bytes. */
export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes of hex. */
export function unhex(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
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
 * A secsock server accepting `count` connections; each is handed to `serve`
 * (which should end it), and errors are collected rather than thrown.
 */
export function oneShotServer(
  ctx: SecureSocketContext,
  serve: (socket: SecureSocket, index: number) => Promise<void>,
  count = 1,
) {
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const sockets: SecureSocket[] = [];
  const results: PromiseSettledResult<void>[] = [];
  // Connections are served one after the other, in order.
  const done = (async () => {
    for (let i = 0; i < count; i++) {
      let socket: SecureSocket;
      try {
        socket = await listener.accept();
      } catch {
        break; // listener closed
      }
      sockets.push(socket);
      try {
        await serve(socket, i);
        results.push({ status: "fulfilled", value: undefined });
      } catch (reason) {
        results.push({ status: "rejected", reason });
      } finally {
        socket.close();
      }
    }
  })();
  return {
    port: listener.addr.port,
    sockets,
    results,
    /** Waits for the served connections (bounded), then closes the listener. */
    async finish(ms = 10_000): Promise<PromiseSettledResult<void>[]> {
      try {
        await within(done, ms, "server connections");
      } finally {
        listener.close();
        await done.catch(() => {});
        sockets.forEach((s) => s.close());
      }
      return results;
    },
    /** Closes the listener at once. */
    async close(): Promise<void> {
      listener.close();
      sockets.forEach((s) => s.close());
      await done.catch(() => {});
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

/** Runs a command to completion (bounded by `timeout` seconds via coreutils timeout) and returns its output. */
export async function run(
  command: string,
  args: string[],
  timeoutSeconds = 20,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("timeout", {
    args: ["-k", "2", String(timeoutSeconds), command, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}
