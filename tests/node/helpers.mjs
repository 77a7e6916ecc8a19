/**
 * Helpers for the Node.js test suite. It tests the built npm package (npm/,
 * or $SECSOCK_NPM_DIR), loaded through its package.json "exports" — never the
 * TypeScript sources.
 */
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The package directory under test. */
export const npmDir = process.env.SECSOCK_NPM_DIR ?? fileURLToPath(new URL("../../npm/", import.meta.url));
const packageJson = JSON.parse(readFileSync(join(npmDir, "package.json"), "utf8"));

/** The package, as `import ... from "secsock"` gets it. */
export const secsock = await import(pathToFileURL(join(npmDir, packageJson.exports["."].import)).href);

/** Absolute path of a file in tests/fixtures/. */
export const fixturePath = (name) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
/** Text of a file in tests/fixtures/. */
export const fixture = (name) => readFileSync(fixturePath(name), "utf8");

export const enc = (s) => new TextEncoder().encode(s);
export const dec = (b) => new TextDecoder().decode(b);

/** A server context with the RSA server chain and key. */
export function serverContext(options = {}) {
  const ctx = new secsock.SecureSocketContext({ useSystemTrust: false, ...options });
  ctx.useCertificateChainFile(fixturePath("server-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("server.key"));
  return ctx;
}

/** A client context trusting only the fixture root CA. */
export function clientContext(options = {}) {
  return new secsock.SecureSocketContext({ useSystemTrust: false, ca: fixture("ca.pem"), ...options });
}

/** Connects a secsock client to 127.0.0.1:port, verifying "localhost". */
export function connectLocal(ctx, port, hostname = "localhost") {
  return secsock.SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: hostname, port });
}

/** Reads a socket to its end (close_notify). */
export async function readAll(socket) {
  const chunks = [];
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await socket.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  return Buffer.concat(chunks);
}

/**
 * A secsock echo server on a free port: each connection echoes until the
 * client's close_notify, then closes gracefully.
 */
export function echoServer(ctx, onSocket) {
  const listener = secsock.SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const errors = [];
  const sockets = [];
  const tasks = [];
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

/** Starts a command with its output collected; `waitFor` matches the output. */
export function spawnPeer(command, args, options = {}) {
  const child = spawn(command, args, { cwd: options.cwd ?? fixturePath(""), stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  const listeners = new Set();
  const collect = (chunk) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise((resolve) => child.on("close", resolve));
  return {
    port: 0,
    child,
    output: () => output,
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
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async close() {
      child.stdin.end();
      child.kill("SIGTERM");
      return await exited;
    },
  };
}

/** Starts `openssl s_server` on a free loopback port with the given extra arguments. */
export async function opensslServer(args) {
  const peer = spawnPeer("openssl", ["s_server", "-accept", "127.0.0.1:0", ...args]);
  const m = await peer.waitFor(/ACCEPT .*:(\d+)/);
  peer.port = Number(m[1]);
  return peer;
}
