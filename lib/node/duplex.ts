/**
 * SecureSocketDuplex: a `node:stream` Duplex over a {@linkcode SecureSocket},
 * shaped like `tls.TLSSocket`, so `node:http` servers and undici clients can
 * run over secsock's TLS. Built on the public API of mod.ts only.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { X509Certificate as NodeX509Certificate } from "node:crypto";
import { Duplex } from "node:stream";
import { clearTimeout, setTimeout } from "node:timers";
import type { Addr, SecureSocket, X509Certificate } from "../../mod.ts";

/** Options of {@linkcode SecureSocketDuplex}. */
export interface SecureSocketDuplexOptions {
  /**
   * Keep the writable side open after the peer's close_notify (the readable
   * side ended). Default false, as for `net.Socket` and `tls.TLSSocket`:
   * the duplex then ends its own side (close_notify) too.
   */
  allowHalfOpen?: boolean;
  /** Size of the buffer reads decrypt into, reused for every read; default 16384 (one TLS record). */
  readBufferSize?: number;
  /**
   * Whether the handshake verified the peer's certificate. secsock refuses a
   * handshake whose verification fails under `VerifyMode.Peer`, so a peer
   * certificate present after the handshake was verified — unless the
   * context turned verification off (`VerifyMode.None` on a client) or a
   * verify callback accepted a failure. The public API has no accessor for
   * OpenSSL's verify result, so such contexts say `verified: false` here.
   * Default true. Feeds `authorized`.
   */
  verified?: boolean;
}

/** `getCipher()`'s answer, as `tls.TLSSocket.getCipher()` gives it (`standardName` aside). */
export interface CipherInfo {
  /** OpenSSL's name of the cipher, e.g. "TLS_AES_256_GCM_SHA384" or "ECDHE-RSA-AES128-GCM-SHA256". */
  name: string;
  /** The protocol version it was negotiated in, e.g. "TLSv1.3". */
  version: string;
}

/** The peer certificate as `tls.TLSSocket.getPeerCertificate()` returns it (Node's "legacy object"). */
export interface PeerCertificate {
  /** Subject attributes, e.g. `{ CN: "localhost", O: "secsock" }`. */
  subject: Record<string, string | string[]>;
  /** Issuer attributes. */
  issuer: Record<string, string | string[]>;
  /** "DNS:localhost, IP Address:127.0.0.1" (when the certificate has SANs). */
  subjectaltname?: string;
  /** Start of validity, e.g. "Jan  1 00:00:00 2000 GMT". */
  valid_from: string;
  /** End of validity. */
  valid_to: string;
  /** Serial number in upper-case hex. */
  serialNumber: string;
  /** SHA-1 fingerprint "AB:CD:…". */
  fingerprint: string;
  /** SHA-256 fingerprint "AB:CD:…". */
  fingerprint256: string;
  /** The DER encoding. */
  raw: Buffer;
  /** With `getPeerCertificate(true)`: the issuer's certificate, up the chain the peer sent (a root refers to itself). */
  issuerCertificate?: PeerCertificate;
  /** Other fields Node adds (key details, ext_key_usage, …). */
  [field: string]: unknown;
}

/** What the duplex remembers of the handshake, so it stays readable after the socket closed. */
interface TlsDetails {
  protocol: string | null;
  cipher: string | null;
  alpnProtocol: string | null;
  servername: string | null;
  peerCertificate: X509Certificate | null;
  peerCertificateChain: X509Certificate[];
}

const DEFAULT_READ_BUFFER = 16384;

function netAddress(addr: Addr | null): { address?: string; port?: number; family?: string } {
  if (!addr || (addr.transport !== "tcp" && addr.transport !== "udp")) return {};
  return { address: addr.hostname, port: addr.port, family: addr.hostname.includes(":") ? "IPv6" : "IPv4" };
}

function addrOf(socket: SecureSocket, which: "localAddr" | "remoteAddr"): Addr | null {
  try {
    return socket[which];
  } catch {
    return null; // not connected or closed
  }
}

/**
 * A `node:stream` Duplex over a connected {@linkcode SecureSocket}, with the
 * members of `tls.TLSSocket` that HTTP stacks and applications use.
 *
 * Stream contract: `_read` decrypts with `socket.read()` into one reused
 * buffer only when the stream asks for data (backpressure towards the peer:
 * nothing is read while the consumer is behind); `_write` resolves when
 * `socket.write()` handed the ciphertext to the transport (backpressure
 * towards the writer); `end()` sends close_notify (`socket.closeWrite()`)
 * after every byte written before; `destroy()` closes the socket at once.
 * The peer's close_notify ends the readable side; a connection cut without
 * it, and every other failure, is an `'error'` event carrying secsock's
 * typed error (`TruncatedStreamError`, `HandshakeError`, …).
 *
 * The handshake starts at once if it has not run yet; `'secureConnect'`
 * (client) or `'secure'` (server) follows it, as for `tls.TLSSocket`.
 *
 * Peer certificates: `getPeerCertificate()` returns Node's object shape
 * (made by `node:crypto` from the DER secsock received), `getPeerX509Certificate()`
 * and `getPeerCertificateChain()` secsock's own {@linkcode X509Certificate}s.
 *
 * @example
 * ```ts
 * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
 * import { SecureSocketDuplex } from "@secsock/secsock/node";
 * const ctx = new SecureSocketContext({ ca: Deno.readTextFileSync("tests/fixtures/ca.pem") });
 * const socket = await SecureSocket.connect(ctx, { hostname: "localhost", port: 8443 });
 * const duplex = new SecureSocketDuplex(socket);
 * console.log(duplex.getProtocol(), duplex.authorized, duplex.getPeerCertificate().subject);
 * duplex.end("GET / HTTP/1.0\r\n\r\n");
 * for await (const chunk of duplex) console.log(chunk.length);
 * ```
 */
export class SecureSocketDuplex extends Duplex {
  /** Always true: this is a TLS connection (as `tls.TLSSocket.encrypted`). */
  readonly encrypted = true as const;
  /** The underlying socket, for everything else secsock offers. */
  readonly secureSocket: SecureSocket;
  /** Plain-text bytes handed to the application so far. */
  bytesRead = 0;
  /** Plain-text bytes written to the socket so far. */
  bytesWritten = 0;
  readonly #buffer: Uint8Array;
  readonly #verified: boolean;
  readonly #local: Addr | null;
  readonly #remote: Addr | null;
  #reading = false;
  #details: TlsDetails | null = null;
  #idleTimeout = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * Wraps a connected socket (client from `SecureSocket.connect`/`startTls`,
   * or server from `SecureSocketListener.accept`). The duplex owns it from
   * now on: destroying the duplex closes the socket.
   */
  constructor(socket: SecureSocket, options: SecureSocketDuplexOptions = {}) {
    const size = options.readBufferSize ?? DEFAULT_READ_BUFFER;
    if (!Number.isInteger(size) || size <= 0) throw new RangeError("readBufferSize must be a positive integer");
    super({ allowHalfOpen: options.allowHalfOpen ?? false, emitClose: true, autoDestroy: true });
    this.secureSocket = socket;
    this.#buffer = new Uint8Array(size);
    this.#verified = options.verified ?? true;
    this.#local = addrOf(socket, "localAddr");
    this.#remote = addrOf(socket, "remoteAddr");
    let done = false;
    try {
      done = socket.protocol !== null;
    } catch {
      // closed: the first read reports it
    }
    if (done) {
      this.#details = this.#snapshot();
    } else {
      socket.handshake().then(() => {
        if (this.destroyed) return;
        this.#details = this.#snapshot();
        this.emit(socket.isServer ? "secure" : "secureConnect");
      }, (error) => this.destroy(error));
    }
  }

  #snapshot(): TlsDetails {
    const socket = this.secureSocket;
    return {
      protocol: socket.protocol,
      cipher: socket.cipher,
      alpnProtocol: socket.alpnProtocol,
      servername: socket.servername,
      peerCertificate: socket.peerCertificate,
      peerCertificateChain: socket.peerCertificateChain,
    };
  }

  /** Decrypts one read's worth into the reused buffer; the stream calls again while it wants more. */
  override _read(): void {
    if (this.#reading) return;
    this.#reading = true;
    this.secureSocket.read(this.#buffer).then((n) => {
      this.#reading = false;
      if (this.destroyed) return;
      this.#touch();
      if (n === null) {
        this.push(null);
        return;
      }
      this.bytesRead += n;
      // push() keeps the chunk: copy it out of the reused buffer.
      this.push(Buffer.from(this.#buffer.subarray(0, n)));
    }, (error) => {
      this.#reading = false;
      if (!this.destroyed) this.destroy(error);
    });
  }

  /** Encrypts and sends one chunk; the callback waits for the transport. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk, callback);
  }

  /** Corked chunks go out as one write (e.g. an HTTP head and body in one TLS record). */
  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    this.#send(chunks.length === 1 ? chunks[0].chunk : Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  #send(data: Uint8Array, callback: (error?: Error | null) => void): void {
    this.secureSocket.write(data).then(() => {
      this.bytesWritten += data.length;
      this.#touch();
      callback();
    }, (error) => callback(error));
  }

  /** `end()`: close_notify after every byte written before. */
  override _final(callback: (error?: Error | null) => void): void {
    this.secureSocket.closeWrite().then(() => callback(), (error) => callback(error));
  }

  /** `destroy()`: closes the socket at once (no close_notify). */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#clearTimer();
    this.secureSocket.close();
    callback(error);
  }

  // ------------------------------------------------------------ tls.TLSSocket-like accessors

  /** True when the peer presented a certificate that the handshake verified (see the `verified` option). */
  get authorized(): boolean {
    return this.#verified && this.#details?.peerCertificate != null;
  }

  /** Why `authorized` is false, or null when it is true. */
  get authorizationError(): string | null {
    if (this.authorized) return null;
    if (!this.#details) return "HANDSHAKE_NOT_COMPLETE";
    return this.#details.peerCertificate ? "PEER_CERTIFICATE_NOT_VERIFIED" : "NO_PEER_CERTIFICATE";
  }

  /** The ALPN protocol selected, or false (as `tls.TLSSocket.alpnProtocol`). */
  get alpnProtocol(): string | false {
    return this.#details?.alpnProtocol ?? false;
  }

  /** Client: the SNI name sent; server: the one the client asked for; false when none. */
  get servername(): string | false {
    return this.#details?.servername ?? false;
  }

  /** The negotiated protocol, e.g. "TLSv1.3"; null before the handshake. */
  getProtocol(): string | null {
    return this.#details?.protocol ?? null;
  }

  /** The negotiated cipher; null before the handshake. */
  getCipher(): CipherInfo | null {
    const details = this.#details;
    return details?.cipher && details.protocol ? { name: details.cipher, version: details.protocol } : null;
  }

  /**
   * The peer's certificate as `tls.TLSSocket.getPeerCertificate()` returns it:
   * `{}` when the peer sent none, null once the duplex is destroyed. With
   * `detailed`, `issuerCertificate` links up the chain the peer sent.
   */
  getPeerCertificate(detailed = false): PeerCertificate | Record<string, never> | null {
    if (this.destroyed) return null;
    const details = this.#details;
    if (!details?.peerCertificate) return {};
    const chain = details.peerCertificateChain.length > 0 ? details.peerCertificateChain : [details.peerCertificate];
    const objects = (detailed ? chain : chain.slice(0, 1)).map(legacyObject);
    for (let i = 0; i < objects.length - 1; i++) objects[i].issuerCertificate = objects[i + 1];
    const last = objects[objects.length - 1];
    if (detailed && chain.length > 0 && chain[chain.length - 1].subject === chain[chain.length - 1].issuer) {
      last.issuerCertificate = last; // a self-signed root refers to itself, as in Node
    }
    return objects[0];
  }

  /** The peer's certificate as secsock's {@linkcode X509Certificate} (Node returns a `crypto.X509Certificate`). */
  getPeerX509Certificate(): X509Certificate | undefined {
    return this.#details?.peerCertificate ?? undefined;
  }

  /** The chain the peer sent, its own certificate first (secsock's `peerCertificateChain`). */
  getPeerCertificateChain(): X509Certificate[] {
    return this.#details?.peerCertificateChain ?? [];
  }

  /** Remote IP address. */
  get remoteAddress(): string | undefined {
    return netAddress(this.#remote).address;
  }

  /** Remote port. */
  get remotePort(): number | undefined {
    return netAddress(this.#remote).port;
  }

  /** "IPv4" or "IPv6". */
  get remoteFamily(): string | undefined {
    return netAddress(this.#remote).family;
  }

  /** Local IP address. */
  get localAddress(): string | undefined {
    return netAddress(this.#local).address;
  }

  /** Local port. */
  get localPort(): number | undefined {
    return netAddress(this.#local).port;
  }

  /** `{ address, family, port }` of the local end, as `net.Socket.address()`. */
  address(): { address?: string; family?: string; port?: number } {
    return netAddress(this.#local);
  }

  /** False: the duplex wraps a connected socket. */
  get connecting(): boolean {
    return false;
  }

  /** As `net.Socket.readyState`. */
  get readyState(): "open" | "readOnly" | "writeOnly" | "closed" {
    if (this.destroyed) return "closed";
    if (this.readable && this.writable) return "open";
    return this.readable ? "readOnly" : this.writable ? "writeOnly" : "closed";
  }

  /**
   * Idle timeout, as `net.Socket.setTimeout()`: `'timeout'` is emitted after
   * `ms` without reads or writes (the duplex stays open; the listener
   * decides). 0 turns it off. Node's `http` server uses it for keep-alive.
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError("timeout must be a non-negative number");
    this.#idleTimeout = ms;
    if (callback) {
      if (ms === 0) this.removeListener("timeout", callback);
      else this.once("timeout", callback);
    }
    this.#touch();
    return this;
  }

  /** The idle timeout set with `setTimeout()`, 0 when off. */
  get timeout(): number {
    return this.#idleTimeout;
  }

  #touch(): void {
    this.#clearTimer();
    if (this.#idleTimeout === 0 || this.destroyed) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.destroyed) this.emit("timeout");
    }, this.#idleTimeout);
    this.#timer.unref?.();
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** No-op: secsock turns TCP_NODELAY on for every connection it opens or accepts (whole TLS records). */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  /** No-op: the public SecureSocket API does not reach the TCP socket's keep-alive option. */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  /** As `net.Socket.ref()`: the connection keeps the process alive again (`SecureSocket.ref()`). */
  ref(): this {
    if (!this.destroyed) this.secureSocket.ref();
    return this;
  }

  /**
   * As `net.Socket.unref()`: a read waiting on the connection no longer keeps
   * the process alive (`SecureSocket.unref()`). undici unrefs the idle
   * sockets of its pool, so an idle keep-alive connection does not hold a
   * process that is otherwise done.
   */
  unref(): this {
    if (!this.destroyed) this.secureSocket.unref();
    return this;
  }
}

/** Node's `getPeerCertificate()` object for one certificate, from its DER (parsed by node:crypto). */
function legacyObject(cert: X509Certificate): PeerCertificate {
  return new NodeX509Certificate(cert.toDER()).toLegacyObject() as unknown as PeerCertificate;
}

/**
 * Wraps a connected {@linkcode SecureSocket} in a {@linkcode SecureSocketDuplex}.
 *
 * @example
 * ```ts
 * import { SecureSocket, SecureSocketContext } from "@secsock/secsock";
 * import { toNodeDuplex } from "@secsock/secsock/node";
 * const socket = await SecureSocket.connect(new SecureSocketContext(), { hostname: "localhost", port: 8443 });
 * const duplex = toNodeDuplex(socket);
 * duplex.on("error", (error) => console.error(error.name, error.message));
 * ```
 */
export function toNodeDuplex(socket: SecureSocket, options: SecureSocketDuplexOptions = {}): SecureSocketDuplex {
  return new SecureSocketDuplex(socket, options);
}
