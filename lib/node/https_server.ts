/**
 * The HTTPS server door: a `node:http` request handler (and so the
 * frameworks built on `node:http`) served over a {@linkcode SecureSocketListener}.
 * Each accepted connection completes its TLS handshake first, then reaches
 * the `http.Server` as a {@linkcode SecureSocketDuplex}.
 *
 * @module
 */
import http from "node:http";
import { type SecureSocket, type SecureSocketContext, SecureSocketListener } from "../../mod.ts";
import { SecureSocketDuplex } from "./duplex.ts";

/** Options of {@linkcode serveHttps}. */
export interface ServeHttpsOptions {
  /** The server context: certificate and key, and for mutual TLS `verifyMode` and `ca`. */
  context: SecureSocketContext;
  /** TCP port; 0 (the default) picks a free one (see `addr`). */
  port?: number;
  /** Address to bind; default "0.0.0.0". */
  hostname?: string;
  /**
   * A client that has not completed its TLS handshake after this many
   * milliseconds is dropped; default 120000, as Node's `https` server.
   */
  handshakeTimeout?: number;
  /** How long `close()` lets open connections finish before cutting them; default 5000 ms. */
  closeTimeout?: number;
  /** Options of the `http.Server` (`keepAliveTimeout`, `requestTimeout`, …). */
  server?: http.ServerOptions;
}

/**
 * A running HTTPS server. The `http.Server` emits, besides its own events:
 * `'secureConnection'` (duplex) for each client that completed its handshake,
 * and `'tlsClientError'` (error, socket) for each one that did not — as
 * Node's `https.Server` does. One failing client never stops the server.
 */
export interface HttpsServer extends AsyncDisposable {
  /** The `http.Server` the connections are handed to. */
  readonly server: http.Server;
  /** The bound address. */
  readonly addr: { hostname: string; port: number };
  /** Resolves when the server has closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, drops handshakes in progress, ends every open
   * connection with close_notify once its queued bytes are out, and cuts
   * those still open after `closeTimeout`. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * The TLS connection a request came in on, typed: `req.socket` as the
 * {@linkcode SecureSocketDuplex} serveHttps handed to node:http. A TypeError
 * for a request that did not come through serveHttps.
 *
 * @example
 * ```ts
 * import type http from "node:http";
 * import { tlsSocketOf } from "@secsock/secsock/node";
 * function handler(req: http.IncomingMessage, res: http.ServerResponse) {
 *   const tls = tlsSocketOf(req);
 *   res.end(`${tls.getPeerCertificate()?.subject?.CN} via ${tls.getProtocol()}\n`);
 * }
 * ```
 */
export function tlsSocketOf(req: http.IncomingMessage): SecureSocketDuplex {
  const socket: unknown = req.socket;
  if (!(socket instanceof SecureSocketDuplex)) throw new TypeError("the request did not come through serveHttps");
  return socket;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 120_000;
const DEFAULT_CLOSE_TIMEOUT = 5_000;

/**
 * Serves `handler` over HTTPS with secsock's TLS. In the handler,
 * `req.socket` is a {@linkcode SecureSocketDuplex} (typed by
 * {@linkcode tlsSocketOf}`(req)`): with mutual TLS,
 * `req.socket.getPeerCertificate()` is the client's certificate in Node's
 * shape, `req.socket.getPeerCertificateChain()` the chain it sent (secsock
 * certificates), and `req.socket.authorized` tells it was verified.
 *
 * @example
 * ```ts
 * import { SecureSocketContext, VerifyMode } from "@secsock/secsock";
 * import { serveHttps, tlsSocketOf } from "@secsock/secsock/node";
 * const context = new SecureSocketContext({
 *   ca: Deno.readTextFileSync("tests/fixtures/ca.pem"),
 *   verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert,
 * });
 * context.useCertificateChainFile("tests/fixtures/server-chain.pem");
 * context.usePrivateKeyFile("tests/fixtures/server.key");
 * const https = serveHttps((req, res) => {
 *   res.end(`hello ${tlsSocketOf(req).getPeerX509Certificate()?.subject}\n`);
 * }, { context, port: 0, hostname: "127.0.0.1" });
 * console.log(`listening on ${https.addr.port}`);
 * await https.close();
 * ```
 */
export function serveHttps(handler: http.RequestListener, options: ServeHttpsOptions): HttpsServer {
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  const closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
  for (const [name, value] of [["handshakeTimeout", handshakeTimeout], ["closeTimeout", closeTimeout]] as const) {
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number of ms`);
  }
  const server = http.createServer(options.server ?? {}, handler);
  const listener = SecureSocketListener.listen(options.context, {
    hostname: options.hostname,
    port: options.port ?? 0,
    handshakeTimeout,
  });
  const handshaking = new Set<SecureSocket>();
  const open = new Set<SecureSocketDuplex>();
  let closing: Promise<void> | null = null;
  let stopped = false;
  // The http.Server never listens itself, yet it must behave as a listening
  // server: node:http (Deno's at least) drops keep-alive connections of a
  // server that is not listening, and its 'listening' event sets up the
  // connection tracking behind headersTimeout/requestTimeout.
  Object.defineProperty(server, "listening", { configurable: true, get: () => !stopped });

  const welcome = async (socket: SecureSocket) => {
    handshaking.add(socket);
    try {
      await socket.handshake();
    } catch (error) {
      socket.close();
      if (!closing) server.emit("tlsClientError", error, socket);
      return;
    } finally {
      handshaking.delete(socket);
    }
    if (closing) {
      socket.close();
      return;
    }
    const duplex = new SecureSocketDuplex(socket);
    open.add(duplex);
    duplex.once("close", () => open.delete(duplex));
    server.emit("secureConnection", duplex);
    server.emit("connection", duplex);
  };

  const acceptLoop = (async () => {
    while (!closing) {
      let socket: SecureSocket;
      try {
        socket = await listener.accept();
      } catch (error) {
        if (closing) return;
        // Out of file descriptors and the like: say so, and keep serving.
        server.emit("acceptError", error);
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      welcome(socket);
    }
  })();

  const close = (): Promise<void> =>
    closing ??= (async () => {
      listener.close();
      await acceptLoop;
      for (const socket of handshaking) socket.close();
      const remaining = [...open].map((duplex) =>
        new Promise<void>((resolve) => {
          if (duplex.destroyed) return resolve();
          duplex.once("close", () => resolve());
          // A response in progress finishes first; then close_notify.
          const response = (duplex as { _httpMessage?: http.ServerResponse })._httpMessage;
          if (response && !response.writableFinished) response.once("finish", () => duplex.end());
          else duplex.end();
        })
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(remaining),
        new Promise<void>((resolve) => timer = setTimeout(resolve, closeTimeout)),
      ]);
      clearTimeout(timer);
      for (const duplex of open) duplex.destroy();
      stopped = true;
      // Stops node:http's timeout checks and emits 'close'.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })();

  queueMicrotask(() => server.emit("listening"));
  const addr = listener.addr;
  let finish: () => void;
  const finished = new Promise<void>((resolve) => finish = resolve);
  server.once("close", () => finish());
  return {
    server,
    addr: { hostname: addr.hostname, port: addr.port },
    finished,
    close,
    [Symbol.asyncDispose]: close,
  };
}
