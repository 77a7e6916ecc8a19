/**
 * Helpers shared by the callback tests (§1–§4): a one-connection TLS pair over
 * real loopback sockets, and assertions on its outcomes.
 */
import { SecureSocket, type SecureSocketContext, SecureSocketListener } from "../mod.ts";
import { type Outcome, settle } from "./helpers.ts";

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
