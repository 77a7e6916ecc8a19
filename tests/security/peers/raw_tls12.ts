/**
 * A hostile TLS 1.2 peer for the flood tests: secsock runs a real handshake
 * (so the victim talks to OpenSSL), its key log gives the master secret, and
 * from then on this code writes hand-made AES-128-GCM records (RFC 5246
 * §6.2.3.3, RFC 5288) straight to the TCP connection, bypassing the state
 * machine that would never send them. It never reads what the victim answers.
 */
import { createCipheriv, createHmac } from "node:crypto";
import { SecureSocket, type SecureSocketContext } from "../../../mod.ts";
import { concat, enc, serverContext, unhex } from "../../helpers.ts";

/** The only suite the record writer speaks: 16-byte key, 4-byte implicit IV. */
export const RAW_CIPHER = "ECDHE-RSA-AES128-GCM-SHA256";

/** TLS record content types. */
export const HANDSHAKE = 22;
export const APPLICATION_DATA = 23;

/** A connection whose handshake secsock made, now written to by hand. */
export interface RawPeer {
  /** The connection under the handshake (writes here bypass OpenSSL). */
  conn: Deno.Conn<Deno.Addr>;
  /** The secsock socket that made the handshake; closing it closes `conn`. */
  socket: SecureSocket;
  /** One encrypted record of `type` holding `plaintext`, with the next sequence number. */
  record(type: number, plaintext: Uint8Array): Uint8Array<ArrayBuffer>;
}

/** TLS 1.2 PRF with SHA-256 (RFC 5246 §5): `length` bytes of P_SHA256(secret, label + seed). */
function prf(secret: Uint8Array, label: string, seed: Uint8Array, length: number): Uint8Array<ArrayBuffer> {
  const labelled = concat([enc(label), seed]);
  const out = new Uint8Array(length);
  let a: Uint8Array = labelled;
  for (let offset = 0; offset < length;) {
    a = createHmac("sha256", secret).update(a).digest();
    const block = createHmac("sha256", secret).update(a).update(labelled).digest();
    out.set(block.subarray(0, Math.min(block.length, length - offset)), offset);
    offset += block.length;
  }
  return out;
}

/** A record writer under `key`/`salt`, its sequence numbers starting after the Finished record (0). */
function recordWriter(key: Uint8Array, salt: Uint8Array): RawPeer["record"] {
  let sequence = 1n;
  return (type, plaintext) => {
    const explicit = new Uint8Array(8);
    new DataView(explicit.buffer).setBigUint64(0, sequence++);
    const cipher = createCipheriv("aes-128-gcm", key, concat([salt, explicit]));
    // Additional data: seq_num, type, version, length (RFC 5246 §6.2.3.3).
    cipher.setAAD(concat([explicit, Uint8Array.of(type, 3, 3, plaintext.length >> 8, plaintext.length & 255)]));
    const body = concat([explicit, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return concat([Uint8Array.of(type, 3, 3, body.length >> 8, body.length & 255), body]);
  };
}

/**
 * The keys of the finished handshake, from the key log line and the server
 * random (the ServerHello, first in what the server sent): client then
 * server write keys, then their implicit IVs (RFC 5246 §6.3).
 */
function keyBlock(keylog: string, serverFlight: Uint8Array) {
  const [label, clientRandom, master] = keylog.split(" ");
  if (label !== "CLIENT_RANDOM") throw new Error(`not a TLS 1.2 key log line: ${label}`);
  // record header (5), handshake header (4), version (2), then the 32-byte random
  if (serverFlight[0] !== HANDSHAKE || serverFlight[5] !== 2) {
    throw new Error("the server did not start with a ServerHello");
  }
  const block = prf(unhex(master), "key expansion", concat([serverFlight.subarray(11, 43), unhex(clientRandom)]), 40);
  return {
    clientKey: block.subarray(0, 16),
    serverKey: block.subarray(16, 32),
    clientSalt: block.subarray(32, 36),
    serverSalt: block.subarray(36, 40),
  };
}

/** Wraps `conn`, keeping a copy of what `side` ("read" or "write") carries, for the ServerHello. */
function tap(conn: Deno.Conn<Deno.Addr>, side: "read" | "write", seen: Uint8Array[]) {
  return {
    async read(p: Uint8Array) {
      const n = await conn.read(p);
      if (side === "read" && n) seen.push(p.slice(0, n));
      return n;
    },
    write(p: Uint8Array) {
      if (side === "write") seen.push(p.slice());
      return conn.write(p);
    },
    closeWrite: () => conn.closeWrite(),
    close: () => conn.close(),
    get localAddr() {
      return conn.localAddr;
    },
    get remoteAddr() {
      return conn.remoteAddr;
    },
  };
}

/** Completes a TLS 1.2 handshake as the server on `conn`; then records go out by hand. */
export async function rawTls12Server(conn: Deno.Conn<Deno.Addr>): Promise<RawPeer> {
  using ctx = serverContext({ maxVersion: "TLSv1.2", ciphers: RAW_CIPHER });
  let keylog = "";
  ctx.setKeylogCallback((_socket, line) => keylog = line);
  const sent: Uint8Array[] = [];
  const socket = await SecureSocket.startTls(tap(conn, "write", sent), ctx, { server: true });
  const keys = keyBlock(keylog, concat(sent));
  return { conn, socket, record: recordWriter(keys.serverKey, keys.serverSalt) };
}

/** Completes a TLS 1.2 handshake as the client on `conn` (with `ctx`); then records go out by hand. */
export async function rawTls12Client(conn: Deno.Conn<Deno.Addr>, ctx: SecureSocketContext): Promise<RawPeer> {
  let keylog = "";
  ctx.setKeylogCallback((_socket, line) => keylog = line);
  const received: Uint8Array[] = [];
  const socket = await SecureSocket.startTls(tap(conn, "read", received), ctx, { servername: "localhost" });
  const keys = keyBlock(keylog, concat(received));
  return { conn, socket, record: recordWriter(keys.clientKey, keys.clientSalt) };
}

/** Writes all of `bytes`, or stops quietly when the victim has closed the connection. */
export async function writeRaw(conn: Deno.Conn<Deno.Addr>, bytes: Uint8Array): Promise<boolean> {
  try {
    for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
    return true;
  } catch {
    return false;
  }
}
