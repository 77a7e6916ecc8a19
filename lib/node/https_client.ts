/**
 * The HTTPS client door: an undici dispatcher whose connections are secsock
 * TLS sockets made from a {@linkcode SecureSocketContext}, so `fetch` runs
 * with everything the context holds (client certificates from encrypted
 * keys, verify callbacks, the client-certificate callback, handshake traces).
 *
 * @module
 */
import { Agent } from "undici";
import { HandshakeError, SecureSocket, type SecureSocketContext } from "../../mod.ts";
import { SecureSocketDuplex } from "./duplex.ts";

/** Options of {@linkcode createDispatcher}. */
export interface DispatcherOptions extends Omit<Agent.Options, "connect"> {
  /** Abort a TLS handshake after this many milliseconds; default 30000. */
  handshakeTimeout?: number;
  /**
   * SNI name and the name the server's certificate must match, for every
   * origin; by default each origin's own host name (or IP address).
   */
  servername?: string;
  /** Called with each new connection once its handshake is done (logging, pinning checks, …). */
  onConnect?: (socket: SecureSocket) => void;
}

/** The parts of undici's connect options the dispatcher reads. */
interface ConnectParams {
  hostname: string;
  protocol: string;
  port: string | number;
  servername?: string | null;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 30_000;

/**
 * An undici `Agent` whose connections are secsock TLS sockets made from
 * `context`, for `undici.fetch(url, { dispatcher })`, `undici.request`, or
 * undici's global dispatcher. Connections are reused (HTTP/1.1 keep-alive) as
 * undici decides; the server's name is verified as every secsock client does.
 *
 * HTTP/1.1 only: give the context `alpnProtocols: ["http/1.1"]` to announce it
 * (a context offering "h2" gets an error if the server picks it). Only
 * `https:` origins are served (a TypeError for others).
 *
 * @example
 * ```ts
 * import { fetch } from "undici";
 * import { SecureSocketContext } from "@secsock/secsock";
 * import { createDispatcher } from "@secsock/secsock/node";
 * const ctx = new SecureSocketContext({ alpnProtocols: ["http/1.1"] });
 * ctx.useCertificateChainFile("tests/fixtures/client-chain.pem");
 * ctx.usePrivateKeyFile("tests/fixtures/client.key");
 * const dispatcher = createDispatcher(ctx);
 * const response = await fetch("https://localhost:8443/", { dispatcher });
 * console.log(response.status, await response.text());
 * await dispatcher.close();
 * ```
 */
export function createDispatcher(context: SecureSocketContext, options: DispatcherOptions = {}): Agent {
  const { handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT, servername, onConnect, ...agentOptions } = options;
  if (!Number.isFinite(handshakeTimeout) || handshakeTimeout <= 0) {
    throw new RangeError("handshakeTimeout must be a positive number of milliseconds");
  }
  return new Agent({
    ...agentOptions,
    connect: (params, callback) => {
      connect(context, params as ConnectParams, { handshakeTimeout, servername, onConnect }).then(
        (duplex) => callback(null, duplex as never),
        (error) => callback(error, null),
      );
    },
  });
}

async function connect(
  context: SecureSocketContext,
  params: ConnectParams,
  options: { handshakeTimeout: number; servername?: string; onConnect?: (socket: SecureSocket) => void },
): Promise<SecureSocketDuplex> {
  if (params.protocol !== "https:") {
    throw new TypeError(`the secsock dispatcher serves https: origins only, not ${params.protocol}`);
  }
  const port = Number(params.port) || 443;
  const socket = await SecureSocket.connect(context, {
    hostname: params.hostname,
    port,
    // undici passes the origin's host name as servername (none for an IP address, which secsock then verifies).
    servername: options.servername ?? (params.servername || undefined),
    handshakeTimeout: options.handshakeTimeout,
  });
  try {
    const alpn = socket.alpnProtocol;
    if (alpn !== null && alpn !== "http/1.1") {
      throw new HandshakeError(`the server selected ALPN protocol "${alpn}"; this dispatcher speaks http/1.1`, {
        openssl: [],
      });
    }
    options.onConnect?.(socket);
    return new SecureSocketDuplex(socket);
  } catch (error) {
    socket.close();
    throw error;
  }
}
