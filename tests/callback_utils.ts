/**
 * Helpers shared by the callback tests (§1–§4): a one-connection TLS pair over
 * real loopback sockets, and assertions on its outcomes.
 */
import { SecureSocket, type SecureSocketContext } from "../mod.ts";
import { type Outcome, settle, TestServer } from "./helpers.ts";

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

/**
 * A {@linkcode tlsPair} over contexts made for it: closing (disposing of) the
 * pair closes both contexts too, as does a failure to set it up.
 */
export async function ownedPair(
  serverCtx: SecureSocketContext,
  clientCtx: SecureSocketContext,
  options: PairOptions = {},
): Promise<Pair> {
  const closeContexts = () => {
    clientCtx.close();
    serverCtx.close();
  };
  try {
    const pair = await tlsPair(serverCtx, clientCtx, options);
    const close = () => {
      pair.close();
      closeContexts();
    };
    return { ...pair, close, [Symbol.dispose]: close };
  } catch (error) {
    closeContexts();
    throw error;
  }
}

/**
 * Connects a secsock client to a one-connection {@linkcode TestServer} and
 * runs both handshakes; the server's socket stays open for the test.
 */
export async function tlsPair(
  serverCtx: SecureSocketContext,
  clientCtx: SecureSocketContext,
  options: PairOptions = {},
): Promise<Pair> {
  const server = new TestServer(serverCtx, async (socket) => {
    options.onServer?.(socket);
    await socket.handshake();
    if (options.exchange) await socket.write(new Uint8Array([42]));
  }, { limit: 1, keepOpen: true });
  const port = server.port;
  const client = new SecureSocket(clientCtx, { hostname: options.hostname ?? "localhost" });
  // Synchronous, for `using`: TestServer.close() closes the listener and every socket before
  // its first await, and with the one connection's outcome settled nothing is left to wait for.
  const close = () => {
    client.close();
    void server.close();
  };
  try {
    options.onClient?.(client);
    const clientSide = settle((async () => {
      await client.connect({ hostname: "127.0.0.1", port });
      if (options.exchange) {
        const buf = new Uint8Array(1);
        const n = await client.read(buf);
        if (n !== 1) throw new Error(`expected one byte from the server, got ${n}`);
      }
    })());
    // A failed server handshake is closed at once (keepOpen keeps only successes), so the
    // failure reaches the client even if the alert was lost.
    const serverResult = await server.outcome(0);
    const clientResult = await clientSide;
    return { client, server: server.sockets[0], clientResult, serverResult, port, close, [Symbol.dispose]: close };
  } catch (error) {
    close();
    throw error;
  }
}
