/**
 * connFromSocket: a `net.Socket` the application already holds (connected,
 * perhaps after a plaintext exchange) as a secsock {@linkcode Conn}, so
 * `SecureSocket.startTls` can take it over on Node.js, Bun and Deno's
 * `node:net` alike.
 *
 * @module
 */
import type net from "node:net";
import type { Conn } from "../../ffi/platform.ts";
import { NodeConn } from "../../ffi/platform_node.ts";

/**
 * Wraps a connected `net.Socket` as a {@linkcode Conn} (the byte stream
 * `SecureSocket.startTls` and `SecureSocket.fromConn` run TLS over).
 *
 * The wrapper reads the socket in paused mode (`socket.read()`), so a slow
 * reader applies TCP backpressure, and each read takes only the bytes asked
 * for: read a STARTTLS answer through the returned `Conn` (for instance
 * exactly one byte), and whatever follows stays for TLS. From the call on, the
 * `Conn` owns the socket: do not read it, write it or attach `'data'`
 * listeners yourself (bytes taken elsewhere would be lost to TLS), and close
 * it through the `Conn` (or the TLS socket made from it). `closeWrite()` is
 * `socket.end()`; create the socket with `allowHalfOpen: true` if the peer may
 * finish first while you still write. Nagle's algorithm is turned off.
 *
 * @param socket a `net.Socket` whose `'connect'` event has fired.
 * @returns the socket as a `Conn`.
 * @throws {TypeError} if `socket` is not a `net.Socket`, is still connecting, or is already destroyed.
 *
 * @example STARTTLS on a socket from `node:net` (PostgreSQL's SSLRequest)
 * ```ts
 * import net from "node:net";
 * import { once } from "node:events";
 * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
 * import { connFromSocket } from "@secsock/secsock/node";
 *
 * const socket = net.connect({ host: "db.example.com", port: 5432, allowHalfOpen: true });
 * await once(socket, "connect");
 * const conn = connFromSocket(socket);
 * await conn.write(new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])); // SSLRequest
 * const answer = new Uint8Array(1); // exactly one byte: what follows belongs to TLS
 * if ((await conn.read(answer)) !== 1 || answer[0] !== 0x53) throw new Error("TLS refused"); // 0x53 = "S"
 * const tls = await SecureSocket.startTls(conn, new SecureSocketContext(), { hostname: "db.example.com" });
 * console.log(tls.protocol);
 * tls.close();
 * ```
 */
export function connFromSocket(socket: net.Socket): Conn {
  const candidate = socket as Partial<net.Socket> | null | undefined;
  if (
    typeof candidate !== "object" || candidate === null || typeof candidate.read !== "function" ||
    typeof candidate.write !== "function" || typeof candidate.end !== "function" ||
    typeof candidate.on !== "function" || typeof candidate.setNoDelay !== "function"
  ) {
    throw new TypeError("connFromSocket expects a net.Socket");
  }
  if (socket.destroyed) throw new TypeError("connFromSocket: the socket is already destroyed");
  if (socket.connecting) {
    throw new TypeError("connFromSocket: the socket is still connecting; wait for its 'connect' event");
  }
  return new NodeConn(socket);
}
