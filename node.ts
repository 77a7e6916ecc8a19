/**
 * secsock for the Node.js ecosystem: a `node:stream` Duplex over a
 * SecureSocket shaped like `tls.TLSSocket`, an undici dispatcher (HTTPS
 * client with everything a SecureSocketContext holds: client certificates
 * from encrypted keys, the four callbacks) and a `node:http` server over a
 * SecureSocketListener (mutual TLS, the client's certificate in the handler),
 * and `connFromSocket`, which hands a `net.Socket` to `SecureSocket.startTls`.
 * Runs on Deno and, through the npm package (`secsock/node`), on Node.js.
 *
 * @example
 * ```ts
 * import { fetch } from "undici";
 * import { PrivateKey, SecureSocketContext } from "@secsock/secsock";
 * import { createDispatcher } from "@secsock/secsock/node";
 * const ctx = new SecureSocketContext({ alpnProtocols: ["http/1.1"] });
 * ctx.useCertificateChainFile("client-chain.pem");
 * ctx.usePrivateKey(PrivateKey.fromFile("client-encrypted.key", () => Deno.env.get("KEY_PASSWORD")!));
 * const response = await fetch("https://kubernetes.example:6443/api", { dispatcher: createDispatcher(ctx) });
 * ```
 *
 * @module
 */
export {
  type CipherInfo,
  type PeerCertificate,
  SecureSocketDuplex,
  type SecureSocketDuplexOptions,
  toNodeDuplex,
} from "./lib/node/duplex.ts";
export { createDispatcher, type DispatcherOptions } from "./lib/node/https_client.ts";
export { type HttpsServer, serveHttps, type ServeHttpsOptions, tlsSocketOf } from "./lib/node/https_server.ts";
export { connFromSocket } from "./lib/node/socket_conn.ts";
