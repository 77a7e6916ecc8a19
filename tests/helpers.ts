/**
 * Shared test helpers: fixture paths, contexts built from the fixture PKI, and
 * real peers started as child processes (openssl s_server/s_client, Node tls).
 */
import { SecureSocket, SecureSocketContext, type SecureSocketContextOptions, SecureSocketListener } from "../mod.ts";

/** Absolute path of a file in tests/fixtures/. */
export function fixturePath(name: string): string {
  return new URL(`./fixtures/${name}`, import.meta.url).pathname;
}

/** Text of a file in tests/fixtures/. */
export function fixture(name: string): string {
  return Deno.readTextFileSync(fixturePath(name));
}

/** A server context with the RSA server chain (or another leaf name, e.g. "server-ec"). */
export function serverContext(options: SecureSocketContextOptions = {}, leaf = "server"): SecureSocketContext {
  const ctx = new SecureSocketContext({ useSystemTrust: false, ...options });
  ctx.useCertificateChainFile(fixturePath(`${leaf}-chain.pem`));
  ctx.usePrivateKeyFile(fixturePath(`${leaf}.key`));
  return ctx;
}

/** A client context trusting only the fixture root CA. */
export function clientContext(options: SecureSocketContextOptions = {}): SecureSocketContext {
  return new SecureSocketContext({ useSystemTrust: false, ca: fixture("ca.pem"), ...options });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** UTF-8 encode. */
export const enc = (s: string): Uint8Array<ArrayBuffer> => encoder.encode(s);
/** UTF-8 decode. */
export const dec = (b: Uint8Array): string => decoder.decode(b);

/** Reads a socket to its end (close_notify). */
export async function readAll(socket: { read(p: Uint8Array): Promise<number | null> }): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await socket.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** SHA-256 of bytes, hex. */
export async function sha256(data: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A secsock echo server on a free port: each connection echoes until the
 * client's close_notify, then closes gracefully. `sockets` collects them.
 */
export function echoServer(ctx: SecureSocketContext, onSocket?: (s: SecureSocket) => void | Promise<void>) {
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const errors: unknown[] = [];
  const sockets: SecureSocket[] = [];
  const tasks: Promise<void>[] = [];
  const loop = (async () => {
    for await (const socket of listener) {
      sockets.push(socket);
      tasks.push((async () => {
        try {
          await onSocket?.(socket);
          const buf = new Uint8Array(65536);
          for (;;) {
            const n = await socket.read(buf);
            if (n === null) break;
            await socket.write(buf.subarray(0, n));
          }
          await socket.closeWrite();
        } catch (error) {
          errors.push(error);
        } finally {
          socket.close();
        }
      })());
    }
  })();
  return {
    port: listener.addr.port,
    errors,
    sockets,
    async close() {
      listener.close();
      await loop;
      await Promise.all(tasks);
    },
  };
}

/** A child process peer with its combined output collected. */
export interface Peer {
  port: number;
  process: Deno.ChildProcess;
  /** Everything the peer printed so far (stdout + stderr). */
  output(): string;
  /** Writes to the peer's stdin. */
  send(text: string | Uint8Array): Promise<void>;
  /** Waits until the output matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Kills the process (if still running) and waits for it. */
  close(): Promise<Deno.CommandStatus>;
}

/** Starts a command, collecting its output. */
export function spawnPeer(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Peer {
  const process = new Deno.Command(command, {
    args,
    cwd: options.cwd ?? fixturePath(""),
    env: options.env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const listeners = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const d = new TextDecoder();
    for await (const chunk of stream) {
      output += d.decode(chunk, { stream: true });
      listeners.forEach((l) => l());
    }
  };
  const pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
  const writer = process.stdin.getWriter();
  let status: Promise<Deno.CommandStatus> | null = null;
  const peer: Peer = {
    port: 0,
    process,
    output: () => output,
    async send(text) {
      await writer.write(typeof text === "string" ? enc(text) : text);
    },
    waitFor(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = output.match(pattern);
          if (m) {
            cleanup();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern} in output of ${command}:\n${output}`));
        }, timeoutMs);
        const exited = process.status.then(() => {
          setTimeout(() => {
            if (!output.match(pattern)) {
              cleanup();
              reject(new Error(`${command} exited before printing ${pattern}:\n${output}`));
            }
          }, 50);
        });
        void exited;
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    close() {
      status ??= (async () => {
        try {
          await writer.close();
        } catch { /* already closed */ }
        try {
          process.kill("SIGTERM");
        } catch { /* already exited */ }
        const s = await process.status;
        await pumps;
        return s;
      })();
      return status;
    },
  };
  return peer;
}

/** Starts `openssl s_server` on a free port with the given extra arguments. */
export async function opensslServer(args: string[]): Promise<Peer> {
  const peer = spawnPeer("openssl", ["s_server", "-accept", "127.0.0.1:0", ...args]);
  const m = await peer.waitFor(/ACCEPT .*:(\d+)/);
  peer.port = Number(m[1]);
  return peer;
}

/** Runs a Node.js script from tests/peers/ with arguments; returns the peer. */
export function nodePeer(script: string, args: string[] = []): Peer {
  return spawnPeer("node", [new URL(`./peers/${script}`, import.meta.url).pathname, ...args]);
}

/** Connects a secsock client to 127.0.0.1:port, verifying "localhost". */
export function connectLocal(ctx: SecureSocketContext, port: number, hostname = "localhost"): Promise<SecureSocket> {
  return SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: hostname, port });
}

/**
 * Whether an optional peer program (gnutls-cli, curl, nginx…) is installed.
 * Tests use it as `ignore: !hasPeer("curl")`; in CI (SECSOCK_REQUIRE_PEERS=1)
 * a missing peer is an error instead of a skip.
 */
export function hasPeer(command: string): boolean {
  let found = false;
  try {
    found = new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    found = false;
  }
  if (!found && Deno.env.get("SECSOCK_REQUIRE_PEERS") === "1") {
    throw new Error(`${command} is required in CI (SECSOCK_REQUIRE_PEERS=1) but is not installed`);
  }
  return found;
}
