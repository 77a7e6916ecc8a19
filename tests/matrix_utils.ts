/**
 * Helpers for the interop matrix, fault, load and fuzz tests: child processes
 * with binary output, contexts that record every callback, a buffered reader
 * with a tiny HTTP/1.1 client and server, a re-chunking TCP proxy and a TLS
 * record writer. Generic helpers (bytes, bounded waits, ports) are in
 * tests/helpers.ts.
 */
import assert from "node:assert/strict";
import { type ClientCertificate, InfoWhere, SecureSocket, type SecureSocketContext, VerifyMode } from "../mod.ts";
import {
  clientContext,
  concat,
  delay,
  echoUntilEnd,
  fixture,
  indexOfBytes,
  type Outcome,
  peerScript,
  randomBytes,
  readAll,
  type Reader,
  serverContext,
  settle,
  sha256,
  spawnPiped,
  TestServer,
  type Version,
  within,
  writeAll,
} from "./helpers.ts";

/** One cell of the matrix: a protocol version, with or without a client certificate. */
export interface Cell {
  version: Version;
  clientCert: boolean;
}

/** The four cells every peer is tried in. */
export const CELLS: readonly Cell[] = [
  { version: "TLSv1.2", clientCert: false },
  { version: "TLSv1.2", clientCert: true },
  { version: "TLSv1.3", clientCert: false },
  { version: "TLSv1.3", clientCert: true },
];

/** "TLSv1.3 + client cert" */
export function cellName(cell: Cell): string {
  return `${cell.version}${cell.clientCert ? " + client cert" : ""}`;
}

// ---------------------------------------------------------------- basics

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`, { cause: error });
      }
      await delay(25);
    }
  }
}

/**
 * Random text lines (64 characters, then "\n") from an alphabet that holds
 * none of the interactive command letters of `openssl s_server`/`s_client`
 * (Q q R r K k c P S) and none of gnutls-serv's ("*"), and no NUL: for peers
 * that pass data through a terminal-style loop.
 */
export function randomText(length: number): Uint8Array<ArrayBuffer> {
  const alphabet = new TextEncoder().encode("0123456789abdefghijlmnopstuvwxyzABDEFGHIJLMNOTUVWXYZ");
  const out = randomBytes(length);
  for (let i = 0; i < length; i++) {
    out[i] = (i % 65 === 64 || i === length - 1) ? 0x0a : alphabet[out[i] % alphabet.length];
  }
  return out;
}

// ---------------------------------------------------------------- child processes

/** A child process whose stdout is kept as bytes (binary-safe) and stderr as text. */
export class Proc {
  readonly child: Deno.ChildProcess;
  readonly command: string;
  readonly status: Promise<Deno.CommandStatus>;
  #stdout: Uint8Array[] = [];
  #stdoutLength = 0;
  #stdoutCache: Uint8Array<ArrayBuffer> | null = null;
  #stderr = "";
  #listeners = new Set<() => void>();
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #stdinClosed = false;
  #pumps: Promise<unknown>;
  #exited = false;

  constructor(command: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
    this.command = command;
    const child = spawnPiped(command, args, options);
    this.child = child;
    this.#writer = child.stdin.getWriter();
    const notify = () => this.#listeners.forEach((l) => l());
    const pumpOut = (async () => {
      for await (const chunk of child.stdout) {
        this.#stdout.push(chunk);
        this.#stdoutLength += chunk.length;
        this.#stdoutCache = null;
        notify();
      }
    })();
    const pumpErr = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        this.#stderr += decoder.decode(chunk, { stream: true });
        notify();
      }
    })();
    this.#pumps = Promise.allSettled([pumpOut, pumpErr]);
    this.status = child.status.then((s) => {
      this.#exited = true;
      notify();
      return s;
    });
  }

  get stdout(): Uint8Array<ArrayBuffer> {
    return this.#stdoutCache ??= concat(this.#stdout);
  }

  get stdoutLength(): number {
    return this.#stdoutLength;
  }

  /** stdout decoded as latin1 (one character per byte, so offsets match bytes). */
  get stdoutText(): string {
    return new TextDecoder("latin1").decode(this.stdout);
  }

  get stderr(): string {
    return this.#stderr;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Both streams, for failure messages. */
  describe(max = 4000): string {
    const out = this.stdoutText;
    return `--- ${this.command} stdout (${this.#stdoutLength} bytes):\n${out.slice(-max)}\n--- stderr:\n${
      this.#stderr.slice(-max)
    }`;
  }

  async write(data: string | Uint8Array): Promise<void> {
    await this.#writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  }

  async closeStdin(): Promise<void> {
    if (this.#stdinClosed) return;
    this.#stdinClosed = true;
    try {
      await this.#writer.close();
    } catch {
      // the process is gone
    }
  }

  /** Waits until `predicate()` holds; fails early if the process exits without it. */
  waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (error?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#listeners.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        if (predicate()) done();
        else if (this.#exited) {
          // Give the pumps a moment to deliver the last output.
          this.#pumps.then(() => {
            if (predicate()) done();
            else done(new Error(`${this.command} exited before ${what}\n${this.describe()}`));
          });
        }
      };
      const timer = setTimeout(
        () => done(new Error(`timed out (${timeoutMs} ms) waiting for ${what}\n${this.describe()}`)),
        timeoutMs,
      );
      this.#listeners.add(check);
      check();
    });
  }

  /** Waits for the text `pattern` in stdout or stderr. */
  waitForText(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    return this.waitFor(() => pattern.test(this.stdoutText) || pattern.test(this.#stderr), timeoutMs, String(pattern));
  }

  /** Waits for the process to exit on its own. */
  async exit(timeoutMs: number): Promise<Deno.CommandStatus> {
    const status = await within(this.status, timeoutMs, `${this.command} to exit`);
    await this.#pumps;
    return status;
  }

  /** Closes stdin, stops the process if it still runs, and waits for it and its output. */
  async stop(): Promise<Deno.CommandStatus> {
    await this.closeStdin();
    if (!this.#exited) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 3000);
      try {
        await this.status;
      } finally {
        clearTimeout(timer);
      }
    }
    await this.#pumps;
    return await this.status;
  }
}

/** Parses newline-delimited JSON events a Node peer prints on stdout. */
export function jsonEvents(proc: Proc): Record<string, unknown>[] {
  return new TextDecoder().decode(proc.stdout).split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** Waits for a JSON event from a Node peer and returns it. */
export async function waitForEvent(
  proc: Proc,
  event: string,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  await proc.waitFor(() => jsonEvents(proc).some((e) => e.event === event), timeoutMs, `event "${event}"`);
  return jsonEvents(proc).find((e) => e.event === event)!;
}

/** Starts a Node peer script from tests/peers/. */
export function nodeScript(script: string, args: string[]): Proc {
  return new Proc("node", [peerScript(script), ...args]);
}

// ---------------------------------------------------------------- contexts that record their callbacks

/** Everything the callbacks saw on one endpoint. */
export interface Observed {
  /** §2: depth of each certificate the verify callback was called for, in call order. */
  verifyDepths: number[];
  verifyOk: boolean[];
  verifySubjects: string[];
  /** §3: every info callback call. */
  info: { where: number; ret: number; server: boolean }[];
  /** §4: calls of the client-certificate callback and the CA names the server asked for. */
  clientCertCalls: number;
  acceptableIssuers: string[];
  /** Exceptions thrown by our own assertions inside callbacks. */
  errors: unknown[];
}

export function observed(): Observed {
  return {
    verifyDepths: [],
    verifyOk: [],
    verifySubjects: [],
    info: [],
    clientCertCalls: 0,
    acceptableIssuers: [],
    errors: [],
  };
}

export const ROOT_CA_NAME = "CN=secsock Test Root CA,O=secsock";

/** The certificate the client-certificate callback picks: the EC client (not a default of the context). */
export function chosenClientCertificate(): ClientCertificate {
  return {
    certificate: fixture("client-ec.pem"),
    privateKey: fixture("client-ec.key"),
    chain: [fixture("intermediate.pem")],
  };
}

export const CHOSEN_CLIENT_SUBJECT = "CN=secsock client ec,O=secsock";

function record(ctx: SecureSocketContext, obs: Observed): void {
  ctx.setCertificateVerifyCallback((ok, store) => {
    obs.verifyDepths.push(store.depth);
    obs.verifyOk.push(ok);
    obs.verifySubjects.push(store.currentCertificate?.subject ?? "?");
    return ok;
  });
  ctx.setInfoCallback((socket, where, ret) => {
    obs.info.push({ where, ret, server: socket.isServer });
  });
}

/**
 * A secsock client context pinned to one version, trusting only the fixture
 * root, with all callbacks recording into `obs`. The client-certificate
 * callback is always installed; it answers with {@linkcode chosenClientCertificate}.
 */
export function recordingClientContext(version: Version, obs: Observed): SecureSocketContext {
  const ctx = clientContext({ minVersion: version, maxVersion: version });
  record(ctx, obs);
  ctx.setClientCertificateCallback((socket) => {
    obs.clientCertCalls++;
    obs.acceptableIssuers.push(...socket.acceptableIssuers);
    return chosenClientCertificate();
  });
  return ctx;
}

/**
 * A secsock server context (RSA server chain) pinned to one version; with
 * `requireClientCert` it trusts the fixture root for clients and requires a
 * certificate. Callbacks record into `obs`.
 */
export function recordingServerContext(
  version: Version,
  obs: Observed,
  requireClientCert: boolean,
): SecureSocketContext {
  const ctx = serverContext({
    minVersion: version,
    maxVersion: version,
    ...(requireClientCert ? { ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert } : {}),
  });
  record(ctx, obs);
  return ctx;
}

const CLOSE_NOTIFY = 0x0100; // warning(1) << 8 | close_notify(0)

/** The info callback reported a complete handshake in the right role. */
export function assertHandshakeInfo(obs: Observed, role: "client" | "server"): void {
  const wheres = obs.info.map((i) => i.where);
  assert.ok(wheres.some((w) => (w & InfoWhere.HandshakeStart) !== 0), "info callback: no HandshakeStart");
  assert.ok(wheres.some((w) => (w & InfoWhere.HandshakeDone) !== 0), "info callback: no HandshakeDone");
  const loop = role === "client" ? InfoWhere.ConnectLoop : InfoWhere.AcceptLoop;
  const exit = role === "client" ? InfoWhere.ConnectExit : InfoWhere.AcceptExit;
  assert.ok(wheres.some((w) => (w & loop) === loop), `info callback: no ${role} loop state`);
  assert.ok(
    obs.info.some((i) => (i.where & exit) === exit && i.ret === 1),
    `info callback: no successful ${role} exit`,
  );
  assert.ok(obs.info.every((i) => i.server === (role === "server")), "info callback: socket.isServer is wrong");
}

/** The info callback saw close_notify going out and/or coming in. */
export function assertCloseNotify(obs: Observed, expect: { sent: boolean; received: boolean }): void {
  const sent = obs.info.some((i) =>
    (i.where & InfoWhere.WriteAlert) === InfoWhere.WriteAlert && i.ret === CLOSE_NOTIFY
  );
  const received = obs.info.some((i) =>
    (i.where & InfoWhere.ReadAlert) === InfoWhere.ReadAlert && i.ret === CLOSE_NOTIFY
  );
  if (expect.sent) assert.ok(sent, "info callback: we never sent close_notify");
  if (expect.received) assert.ok(received, "info callback: the peer's close_notify never arrived");
  const fatal = obs.info.filter((i) => (i.where & InfoWhere.Alert) !== 0 && (i.ret >> 8) === 2);
  assert.deepEqual(fatal, [], "info callback: a fatal alert was sent or received");
}

/** The verify callback saw the peer's chain: root (2), intermediate (1), leaf (0), all passing. */
export function assertVerifiedChain(obs: Observed, leafSubject: string): void {
  assert.deepEqual(obs.verifyDepths, [2, 1, 0], "verify callback depths");
  assert.deepEqual(obs.verifyOk, [true, true, true], "verify callback preverify results");
  assert.equal(obs.verifySubjects[0], ROOT_CA_NAME);
  assert.equal(obs.verifySubjects[2], leafSubject);
}

// ---------------------------------------------------------------- buffered reading and HTTP/1.1

/** Reads lines, delimited sections and exact lengths from a byte stream. */
export class BufferedReader {
  #reader: Reader;
  #buffer = new Uint8Array(0);
  #eof = false;

  constructor(reader: Reader) {
    this.#reader = reader;
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  async #more(): Promise<boolean> {
    if (this.#eof) return false;
    const chunk = new Uint8Array(65536);
    const n = await this.#reader.read(chunk);
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#buffer = concat([this.#buffer, chunk.subarray(0, n)]);
    return true;
  }

  #take(n: number): Uint8Array<ArrayBuffer> {
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.slice(n);
    return out;
  }

  /** Bytes up to and including `delimiter`; null at a clean end with nothing buffered. */
  async readUntil(delimiter: Uint8Array, limit = 1 << 20): Promise<Uint8Array<ArrayBuffer> | null> {
    for (;;) {
      const at = indexOfBytes(this.#buffer, delimiter);
      if (at >= 0) return this.#take(at + delimiter.length);
      if (this.#buffer.length > limit) throw new Error(`no delimiter within ${limit} bytes`);
      if (!await this.#more()) {
        if (this.#buffer.length === 0) return null;
        throw new Error(`stream ended inside a section (${this.#buffer.length} bytes buffered)`);
      }
    }
  }

  async readExactly(n: number): Promise<Uint8Array<ArrayBuffer>> {
    while (this.#buffer.length < n) {
      if (!await this.#more()) throw new Error(`stream ended after ${this.#buffer.length} of ${n} bytes`);
    }
    return this.#take(n);
  }

  /** Everything until the end of the stream. */
  async readToEnd(): Promise<Uint8Array<ArrayBuffer>> {
    while (await this.#more()) { /* keep reading */ }
    return this.#take(this.#buffer.length);
  }
}

const CRLF = new TextEncoder().encode("\r\n");
const CRLFCRLF = new TextEncoder().encode("\r\n\r\n");

/** An HTTP/1.1 request or response head plus body. */
export interface HttpMessage {
  /** "HTTP/1.1 200 OK" or "POST /echo HTTP/1.1". */
  startLine: string;
  headers: Map<string, string>;
  body: Uint8Array<ArrayBuffer>;
}

async function readBody(
  reader: BufferedReader,
  headers: Map<string, string>,
  toEnd: boolean,
): Promise<Uint8Array<ArrayBuffer>> {
  if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const line = await reader.readUntil(CRLF);
      if (!line) throw new Error("stream ended inside a chunked body");
      const size = parseInt(new TextDecoder().decode(line), 16);
      if (!Number.isFinite(size)) throw new Error("bad chunk size");
      const chunk = await reader.readExactly(size + 2);
      if (size === 0) break;
      chunks.push(chunk.subarray(0, size));
    }
    return concat(chunks);
  }
  const length = headers.get("content-length");
  if (length !== undefined) return await reader.readExactly(Number(length));
  return toEnd ? await reader.readToEnd() : new Uint8Array(0);
}

/** Reads one HTTP/1.1 message; null if the stream ended cleanly before it. */
export async function readHttpMessage(reader: BufferedReader, isResponse: boolean): Promise<HttpMessage | null> {
  const head = await reader.readUntil(CRLFCRLF);
  if (!head) return null;
  const lines = new TextDecoder().decode(head.subarray(0, head.length - 4)).split("\r\n");
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const startLine = lines[0];
  const status = isResponse ? Number(startLine.split(" ")[1]) : 0;
  const noBody = isResponse && (status === 204 || status === 304 || (status >= 100 && status < 200));
  const body = noBody ? new Uint8Array(0) : await readBody(reader, headers, isResponse);
  return { startLine, headers, body };
}

/** Serializes an HTTP/1.1 message with a Content-Length. */
export function httpMessage(startLine: string, headers: Record<string, string>, body: Uint8Array = new Uint8Array(0)) {
  const head = [startLine, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), `Content-Length: ${body.length}`]
    .join("\r\n") + "\r\n\r\n";
  return concat([new TextEncoder().encode(head), body]);
}

// ---------------------------------------------------------------- secsock servers for the matrix

/** What a secsock server saw on one connection. */
export interface ServedConnection {
  protocol: string | null;
  peerSubject: string | null;
  peerChain: string[];
  received: number;
  receivedSha256: string;
  /** read() returned null: the peer's close_notify arrived. */
  cleanEnd: boolean;
  error: unknown;
}

/**
 * A {@linkcode TestServer} that serves exactly one connection with `handler`
 * (which returns the bytes it received), then stops listening.
 */
export function serveOne(
  ctx: SecureSocketContext,
  handler: (socket: SecureSocket) => Promise<{ received: Uint8Array; cleanEnd: boolean }>,
): { port: number; result: Promise<ServedConnection>; close(): void } {
  const server = new TestServer(ctx, async (socket): Promise<ServedConnection> => {
    const served: ServedConnection = {
      protocol: null,
      peerSubject: null,
      peerChain: [],
      received: 0,
      receivedSha256: "",
      cleanEnd: false,
      error: null,
    };
    try {
      await socket.handshake();
      served.protocol = socket.protocol;
      served.peerSubject = socket.peerCertificate?.subject ?? null;
      served.peerChain = socket.peerCertificateChain.map((c) => c.subject);
      const { received, cleanEnd } = await handler(socket);
      served.received = received.length;
      served.receivedSha256 = await sha256(received);
      served.cleanEnd = cleanEnd;
    } catch (error) {
      served.error = error;
    }
    return served;
  }, { limit: 1 });
  // Waits as long as the test does (its own watchdog bounds it), as a bare accept would.
  const result = server.outcome(0, 2 ** 31 - 1).then((o) => {
    if (!o.ok) throw o.error;
    return o.value;
  });
  return { port: server.port, result, close: () => server.stopAccepting() };
}

/** Echoes until the peer's close_notify, then sends ours. */
export async function echoHandler(socket: SecureSocket): Promise<{ received: Uint8Array; cleanEnd: boolean }> {
  return { received: await echoUntilEnd(socket), cleanEnd: true };
}

/**
 * A tiny HTTP/1.1 responder: POST /echo answers with the request body; the
 * response names the client certificate and protocol in headers. One request
 * per connection ("Connection: close"); after the response it sends
 * close_notify and waits for the client's.
 */
export async function httpEchoHandler(socket: SecureSocket): Promise<{ received: Uint8Array; cleanEnd: boolean }> {
  const reader = new BufferedReader(socket);
  const request = await readHttpMessage(reader, false);
  if (!request) throw new Error("no HTTP request");
  const [method, target] = request.startLine.split(" ");
  const ok = method === "POST" && target === "/echo";
  await socket.write(httpMessage(
    ok ? "HTTP/1.1 200 OK" : "HTTP/1.1 404 Not Found",
    {
      "Content-Type": "application/octet-stream",
      "Connection": "close",
      "X-Client-Subject": socket.peerCertificate?.subject ?? "none",
      "X-Protocol": socket.protocol ?? "none",
    },
    ok ? request.body : new Uint8Array(0),
  ));
  await socket.closeWrite();
  // The client's close_notify (or its absence) decides how clean the end was.
  let cleanEnd = false;
  try {
    cleanEnd = (await readAll(socket)).length === 0;
  } catch {
    cleanEnd = false;
  }
  return { received: request.body, cleanEnd };
}

// ---------------------------------------------------------------- summary table

/** Collects the outcome of every cell and prints a compact table. */
export class MatrixSummary {
  #rows = new Map<string, Map<string, string>>();
  #notes: string[] = [];

  set(row: string, cell: Cell, outcome: string): void {
    if (!this.#rows.has(row)) this.#rows.set(row, new Map());
    this.#rows.get(row)!.set(cellName(cell), outcome);
  }

  note(text: string): void {
    this.#notes.push(text);
  }

  get rows(): number {
    return this.#rows.size;
  }

  outcomes(): string[] {
    return [...this.#rows.values()].flatMap((r) => [...r.values()]);
  }

  format(): string {
    const columns = CELLS.map(cellName);
    const rowNames = [...this.#rows.keys()];
    const width0 = Math.max(4, ...rowNames.map((r) => r.length));
    const widths = columns.map((c) =>
      Math.max(c.length, ...rowNames.map((r) => (this.#rows.get(r)!.get(c) ?? "").length))
    );
    const line = (cells: string[]) =>
      `| ${cells[0].padEnd(width0)} | ${cells.slice(1).map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
    const out = [
      line(["peer", ...columns]),
      `|${"-".repeat(width0 + 2)}|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
      ...rowNames.map((r) => line([r, ...columns.map((c) => this.#rows.get(r)!.get(c) ?? "")])),
    ];
    return [...out, ...this.#notes.map((n) => `  ${n}`)].join("\n");
  }
}

// ---------------------------------------------------------------- a re-chunking TCP proxy

/** How the proxy re-chunks the bytes it forwards. */
export interface ProxyOptions {
  /**
   * "bytes": forward in writes of `chunkSize` bytes (default 1): one TCP
   * segment each, so the receiver reads small, arbitrarily split chunks.
   * "coalesce": hold everything until the sender has been idle for
   * `idleMs`, then forward it in one write.
   * "cut": forward server→client records unchanged until the first record
   * longer than `cutAbove` bytes; forward its header and half of its body,
   * then close both connections (no close_notify, mid-record).
   */
  mode: "bytes" | "coalesce" | "cut";
  chunkSize?: number;
  idleMs?: number;
  cutAbove?: number;
}

/** Bytes and write calls per direction. */
export interface DirectionStats {
  bytes: number;
  writes: number;
  largestWrite: number;
}

/** A TCP proxy on 127.0.0.1 in front of `targetPort` that re-chunks the ciphertext. */
export class ChunkingProxy {
  readonly #listener: Deno.Listener;
  readonly #tasks: Promise<unknown>[] = [];
  readonly #conns = new Set<Deno.Conn>();
  readonly toServer: DirectionStats = { bytes: 0, writes: 0, largestWrite: 0 };
  readonly toClient: DirectionStats = { bytes: 0, writes: 0, largestWrite: 0 };
  #cut = false;

  constructor(targetPort: number, readonly options: ProxyOptions) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#tasks.push(this.#acceptLoop(targetPort));
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** True once "cut" mode has cut a record. */
  get cut(): boolean {
    return this.#cut;
  }

  async #acceptLoop(targetPort: number): Promise<void> {
    for (;;) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return;
      }
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        client.close();
        continue;
      }
      this.#conns.add(client);
      this.#conns.add(server);
      const closeBoth = () => {
        for (const c of [client, server]) {
          if (this.#conns.delete(c)) {
            try {
              c.close();
            } catch { /* closed */ }
          }
        }
      };
      const up = this.#pump(client, server, this.toServer, false);
      const down = this.#pump(server, client, this.toClient, this.options.mode === "cut");
      this.#tasks.push(Promise.allSettled([up, down]).then(closeBoth));
      if (this.options.mode === "cut") this.#tasks.push(down.then(closeBoth, closeBoth));
    }
  }

  async #write(dst: Deno.Conn, data: Uint8Array, stats: DirectionStats): Promise<void> {
    if (data.length === 0) return;
    await writeAll(dst, data);
    stats.bytes += data.length;
    stats.writes++;
    stats.largestWrite = Math.max(stats.largestWrite, data.length);
  }

  async #pump(src: Deno.Conn, dst: Deno.Conn, stats: DirectionStats, cut: boolean): Promise<void> {
    const mode = this.options.mode;
    try {
      if (mode === "coalesce") await this.#coalesce(src, dst, stats);
      else if (cut) await this.#cutRecords(src, dst, stats);
      else {
        const size = mode === "bytes" ? this.options.chunkSize ?? 1 : Infinity;
        const buf = new Uint8Array(65536);
        for (;;) {
          const n = await src.read(buf);
          if (n === null) break;
          for (let i = 0; i < n; i += size === Infinity ? n : size) {
            await this.#write(dst, buf.subarray(i, Math.min(n, i + (size === Infinity ? n : size))), stats);
          }
        }
      }
      if (!this.#cut) await (dst as Deno.TcpConn).closeWrite();
    } catch {
      // a side went away: the pair is closed below
    }
  }

  async #coalesce(src: Deno.Conn, dst: Deno.Conn, stats: DirectionStats): Promise<void> {
    const idle = this.options.idleMs ?? 50;
    let pending: Uint8Array[] = [];
    let last = 0;
    let eof = false;
    const signal: { wake: (() => void) | null } = { wake: null };
    const reader = (async () => {
      const buf = new Uint8Array(65536);
      try {
        for (;;) {
          const n = await src.read(buf);
          if (n === null) break;
          pending.push(buf.slice(0, n));
          last = performance.now();
          signal.wake?.();
        }
      } finally {
        eof = true;
        signal.wake?.();
      }
    })();
    for (;;) {
      if (pending.length === 0) {
        if (eof) break;
        await new Promise<void>((resolve) => (signal.wake = resolve));
        signal.wake = null;
        continue;
      }
      while (!eof && performance.now() - last < idle) await delay(idle);
      const chunk = concat(pending);
      pending = [];
      await this.#write(dst, chunk, stats);
    }
    await reader;
  }

  async #cutRecords(src: Deno.Conn, dst: Deno.Conn, stats: DirectionStats): Promise<void> {
    const limit = this.options.cutAbove ?? 4096;
    let buffer = new Uint8Array(0);
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await src.read(buf);
      if (n === null) return;
      buffer = concat([buffer, buf.subarray(0, n)]);
      for (;;) {
        if (buffer.length < 5) break;
        const length = (buffer[3] << 8) | buffer[4];
        if (length > limit) {
          const half = 5 + (length >> 1);
          if (buffer.length < half) break;
          await this.#write(dst, buffer.subarray(0, half), stats);
          this.#cut = true;
          return;
        }
        if (buffer.length < 5 + length) break;
        await this.#write(dst, buffer.subarray(0, 5 + length), stats);
        buffer = buffer.slice(5 + length);
      }
    }
  }

  /** Stops accepting, closes every connection and waits for the pumps. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    this.#conns.clear();
    await Promise.allSettled(this.#tasks);
  }
}

// ---------------------------------------------------------------- raw TLS bytes

/** A TLS record: type, legacy version 0x0303 (0x0301 for a first ClientHello), body. */
export function tlsRecord(type: number, body: Uint8Array, version = 0x0303): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(5 + body.length);
  out[0] = type;
  out[1] = version >> 8;
  out[2] = version & 0xff;
  out[3] = body.length >> 8;
  out[4] = body.length & 0xff;
  out.set(body, 5);
  return out;
}

/**
 * Captures a real ClientHello (the first flight, as one record) that a
 * secsock client sends: a plain TCP listener reads it and closes.
 */
export async function captureClientHello(
  ctx: SecureSocketContext,
  hostname = "localhost",
): Promise<Uint8Array<ArrayBuffer>> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const capture = (async () => {
    const conn = await listener.accept();
    try {
      const reader = new BufferedReader(conn);
      const header = await reader.readExactly(5);
      const body = await reader.readExactly((header[3] << 8) | header[4]);
      return concat([header, body]);
    } finally {
      conn.close();
    }
  })();
  const client = settle(
    SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: hostname, port: listener.addr.port }),
  );
  try {
    return await within(capture, 10_000, "capturing a ClientHello");
  } finally {
    listener.close();
    const result = await client;
    if (result.ok) result.value.close();
  }
}

// ---------------------------------------------------------------- a secsock server that keeps every outcome

/** A plain TCP connection to 127.0.0.1:port. */
export function rawConnect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

/** Reads a plain connection until the peer closes it: the bytes, or the error (e.g. a reset). */
export async function drainRaw(conn: Deno.Conn, timeoutMs = 10_000): Promise<Outcome<Uint8Array>> {
  return await within(settle(readAll(conn)), timeoutMs, "the peer to close the connection");
}

/**
 * A Deno.Conn stand-in that passes everything to a TCP connection; the
 * wrappers below change the one method they are about. `conn` is the object
 * to hand to SecureSocket.startTls.
 */
class ConnWrapper {
  protected readonly inner: Deno.TcpConn;

  constructor(conn: Deno.TcpConn) {
    this.inner = conn;
  }

  /** For SecureSocket.startTls. */
  get conn(): Deno.Conn {
    return this as unknown as Deno.Conn;
  }

  read(p: Uint8Array): Promise<number | null> {
    return this.inner.read(p);
  }

  write(p: Uint8Array): Promise<number> {
    return this.inner.write(p);
  }

  closeWrite(): Promise<void> {
    return this.inner.closeWrite();
  }

  close(): void {
    this.inner.close();
  }

  get localAddr(): Deno.NetAddr {
    return this.inner.localAddr;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.inner.remoteAddr;
  }
}

/**
 * A Deno.Conn wrapper whose read() hands over at most `maxRead` bytes, so a
 * SecureSocket made with `startTls` gets its ciphertext exactly that finely.
 */
export class TrickleConn extends ConnWrapper {
  readonly #maxRead: number;
  #pending = new Uint8Array(0);
  reads = 0;
  largestRead = 0;

  constructor(conn: Deno.TcpConn, maxRead = 1) {
    super(conn);
    this.#maxRead = maxRead;
  }

  override async read(p: Uint8Array): Promise<number | null> {
    if (this.#pending.length === 0) {
      const buf = new Uint8Array(65536);
      const n = await this.inner.read(buf);
      if (n === null) return null;
      this.#pending = buf.subarray(0, n);
    }
    const n = Math.min(this.#maxRead, p.length, this.#pending.length);
    p.set(this.#pending.subarray(0, n));
    this.#pending = this.#pending.subarray(n);
    this.reads++;
    this.largestRead = Math.max(this.largestRead, n);
    return n;
  }
}

/**
 * A Deno.Conn wrapper that shows how long its current write() has been
 * waiting for the kernel to take the bytes: a SecureSocket made with
 * `startTls` over it lets a test see its writer stalled by backpressure.
 */
export class WatchedConn extends ConnWrapper {
  #writeSince = 0;

  /** Milliseconds the current write() has been pending; 0 when none is. */
  get writePendingFor(): number {
    return this.#writeSince === 0 ? 0 : performance.now() - this.#writeSince;
  }

  override async write(p: Uint8Array): Promise<number> {
    this.#writeSince = performance.now();
    try {
      return await this.inner.write(p);
    } finally {
      this.#writeSince = 0;
    }
  }
}
