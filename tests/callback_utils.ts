/**
 * Helpers shared by the callback tests (§1–§4): a one-connection TLS pair over
 * real loopback sockets, fixture digests computed independently of the
 * library, and small assertion helpers.
 */
import { SecureSocket, type SecureSocketContext, SecureSocketListener } from "../mod.ts";
import { fixture } from "./helpers.ts";

/** The DER bytes of the first PEM block of a text (decoded here, not by secsock). */
export function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const m = pem.match(/-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/);
  if (!m) throw new Error("no PEM block");
  const b64 = m[1].replace(/\s+/g, "");
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** SHA-256 of a fixture certificate's DER as "AB:CD:…", computed with WebCrypto. */
export async function fixtureFingerprint256(name: string): Promise<string> {
  const der = pemToDer(fixture(name));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** Outcome of a promise, without throwing. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Settles a promise into an {@linkcode Outcome}. */
export function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  return promise.then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));
}

/** The error of a failed outcome; fails the test when it succeeded. */
export function failure<T>(outcome: Outcome<T>, what: string): unknown {
  if (outcome.ok) throw new Error(`${what} was expected to fail but succeeded`);
  return outcome.error;
}

/** Throws the error of a failed outcome (so assertion output shows it). */
export function success<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

/** Options of {@linkcode tlsPair}. */
export interface PairOptions {
  /** Name the client verifies (default "localhost"). */
  hostname?: string;
  /** Runs on the client socket before it connects (e.g. setInfoCallback). */
  onClient?: (socket: SecureSocket) => void;
  /** Runs on the accepted server socket before its handshake. */
  onServer?: (socket: SecureSocket) => void;
  /**
   * After the client's handshake, read one byte (the server writes one after
   * its own handshake). In TLS 1.3 a client finishes before the server has
   * checked its certificate, so this is where a server-side rejection shows.
   */
  exchange?: boolean;
}

/** One client and one server socket over loopback, handshaken (or failed). */
export interface Pair {
  client: SecureSocket;
  server: SecureSocket;
  /** The client's `connect()` (plus the one-byte read with `exchange`). */
  clientResult: Outcome<void>;
  /** The server's `handshake()` (plus the one-byte write with `exchange`). */
  serverResult: Outcome<void>;
  port: number;
  /** Closes both sockets and the listener. */
  close(): void;
  [Symbol.dispose](): void;
}

/** Connects a secsock client to a secsock server on 127.0.0.1 and runs both handshakes. */
export async function tlsPair(
  serverCtx: SecureSocketContext,
  clientCtx: SecureSocketContext,
  options: PairOptions = {},
): Promise<Pair> {
  const listener = SecureSocketListener.listen(serverCtx, { hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const client = new SecureSocket(clientCtx, { hostname: options.hostname ?? "localhost" });
  try {
    options.onClient?.(client);
    const accepted = listener.accept();
    const clientSide = settle((async () => {
      await client.connect({ hostname: "127.0.0.1", port });
      if (options.exchange) {
        const buf = new Uint8Array(1);
        const n = await client.read(buf);
        if (n !== 1) throw new Error(`expected one byte from the server, got ${n}`);
      }
    })());
    const server = await accepted;
    const serverSide = settle((async () => {
      options.onServer?.(server);
      await server.handshake();
      if (options.exchange) await server.write(new Uint8Array([42]));
    })());
    const serverResult = await serverSide;
    // A failed server handshake must reach the client even if the alert was lost.
    if (!serverResult.ok) server.close();
    const clientResult = await clientSide;
    const close = () => {
      client.close();
      server.close();
      listener.close();
    };
    return { client, server, clientResult, serverResult, port, close, [Symbol.dispose]: close };
  } catch (error) {
    client.close();
    listener.close();
    throw error;
  }
}

/** A promise that resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn` with the elapsed time in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}
