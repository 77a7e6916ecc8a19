// @ts-check
/**
 * A throwaway PostgreSQL server for the STARTTLS tests: Debian's server
 * binaries (`/usr/lib/postgresql/<major>/bin`), a fresh cluster in a temporary
 * directory, a free port on 127.0.0.1, `ssl = on` with the fixture chain, and
 * `hostssl … cert` as the only way in (the client certificate's CN is the user).
 *
 * Plain JavaScript with JSDoc types on `node:` modules, which Node.js, Bun and
 * Deno all have: one copy serves the Deno test (tests/postgres_starttls_test.ts)
 * and the npm package's suite (tests/node/postgres.test.mjs), which cannot
 * import TypeScript. It imports neither suite's helpers: the Node one loads
 * the built package, which the Deno test must not need.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: then every server
 * command runs as the `postgres` system user through setpriv (which execs, so
 * the child we hold is the postmaster itself) and the directory is given to it.
 */
import { execFileSync, spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

/** Absolute path of a file in tests/fixtures/. @param {string} name */
const fixturePath = (name) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

/**
 * Where Debian installs the server programs, newest major version first (15
 * on Debian 12, 17 on Debian 13); null when absent.
 * @returns {string | null}
 */
export function postgresBinDir() {
  /** @type {number[]} */
  let majors = [];
  try {
    majors = readdirSync("/usr/lib/postgresql").map(Number).filter(Number.isInteger).sort((a, b) => b - a);
  } catch {
    return null;
  }
  for (const major of majors) {
    const dir = `/usr/lib/postgresql/${major}/bin`;
    if (existsSync(`${dir}/initdb`) && existsSync(`${dir}/postgres`)) return dir;
  }
  return null;
}

/**
 * Why the PostgreSQL tests cannot run here (a skip reason), or null when they
 * can. Like a missing peer program: in CI (SECSOCK_REQUIRE_PEERS=1) a missing
 * server is an error, not a skip.
 * @returns {string | null}
 */
export function postgresMissing() {
  if (postgresBinDir() !== null) return null;
  if (process.env.SECSOCK_REQUIRE_PEERS === "1") {
    throw new Error(
      "PostgreSQL (Debian package `postgresql`) is required in CI (SECSOCK_REQUIRE_PEERS=1) but is not installed",
    );
  }
  return "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)";
}

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const ENV = { ...process.env, LC_ALL: "C", LANG: "C" };

/**
 * argv running `program` as the server user (directly when we are not root).
 * @param {string} program
 * @param {string[]} args
 * @returns {[string, string[]]}
 */
function asServerUser(program, args) {
  if (!isRoot) return [program, args];
  return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", program, ...args]];
}

/**
 * Runs a server command to completion (60 s at most), throwing with its output if it fails.
 * @param {string} program
 * @param {string[]} args
 * @param {string} [input] its standard input
 */
function runChecked(program, args, input) {
  const [cmd, argv] = asServerUser(program, args);
  try {
    execFileSync("timeout", ["-k", "2", "60", cmd, ...argv], {
      input: input ?? "",
      env: ENV,
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (error) {
    const failed = /** @type {{ status?: number, stdout?: unknown, stderr?: unknown }} */ (error);
    throw new Error(`${program} ${args.join(" ")} failed (${failed.status}):\n${failed.stdout}${failed.stderr}`);
  }
}

/**
 * The system user that owns the cluster when we are root.
 * @returns {{ uid: number, gid: number }}
 */
function serverUser() {
  try {
    return {
      uid: Number(execFileSync("id", ["-u", "postgres"], { stdio: ["ignore", "pipe", "ignore"] }).toString()),
      gid: Number(execFileSync("id", ["-g", "postgres"], { stdio: ["ignore", "pipe", "ignore"] }).toString()),
    };
  } catch {
    throw new Error("running as root, but there is no `postgres` system user");
  }
}

/**
 * A port that was free a moment ago on 127.0.0.1.
 * @returns {Promise<number>}
 */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/**
 * Quotes an SQL identifier.
 * @param {string} name
 */
export const quoteIdent = (name) => `"${name.replaceAll('"', '""')}"`;

/**
 * A running server.
 * @typedef {object} PostgresServer
 * @property {number} port its TCP port on 127.0.0.1
 * @property {string} dir the data directory's parent (also the Unix socket directory)
 * @property {() => string} log everything the server printed (its log)
 * @property {() => Promise<void>} stop fast shutdown, then removes the temporary directory
 */

/**
 * Creates a cluster in a temporary directory and starts it on a free port
 * with `ssl = on` (server-chain.pem, server.key, ssl_ca_file = ca.pem) and
 * `hostssl all all 127.0.0.1/32 cert` as the only way in over TCP. `stop()`
 * (also `await using`) is a fast shutdown (SIGINT), SIGKILL after 15 s,
 * then the temporary directory is removed.
 * @param {{ roles: string[] }} options the login roles to create (quoted identifiers: spaces are fine)
 * @returns {Promise<PostgresServer & AsyncDisposable>}
 */
export async function startPostgres({ roles }) {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL is not installed");
  const dir = mkdtempSync(join(tmpdir(), "secsock-pg-"));
  const data = `${dir}/data`;
  const owner = isRoot ? serverUser() : null;
  /** @param {string} path */
  const give = (path) => owner && chownSync(path, owner.uid, owner.gid);
  /** @type {import("node:child_process").ChildProcess | null} */
  let child = null;
  /** @type {Promise<unknown>} */
  let exited = Promise.resolve();
  let output = "";
  const stop = async () => {
    const running = child;
    if (running) {
      running.kill("SIGINT"); // fast shutdown: ends sessions, does not wait for clients
      const timer = setTimeout(() => running.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
      child = null;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    give(dir);
    // The server reads its TLS files from here: the key must be the server user's, mode 0600.
    for (
      const [name, mode]
        of /** @type {const} */ ([["server-chain.pem", 0o644], ["server.key", 0o600], ["ca.pem", 0o644]])
    ) {
      copyFileSync(fixturePath(name), `${dir}/${name}`);
      chmodSync(`${dir}/${name}`, mode);
      give(`${dir}/${name}`);
    }
    runChecked(`${bin}/initdb`, [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "reject",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    // Roles, in single-user mode: no connection (and so no authentication) needed.
    const sql = roles.map((r) => `CREATE ROLE ${quoteIdent(r)} LOGIN;\n`).join("");
    if (sql) runChecked(`${bin}/postgres`, ["--single", "-D", data, "-j", "postgres"], sql);
    const port = await freePort();
    appendFileSync(
      `${data}/postgresql.conf`,
      [
        `listen_addresses = '127.0.0.1'`,
        `port = ${port}`,
        `unix_socket_directories = '${dir}'`,
        `ssl = on`,
        `ssl_cert_file = '${dir}/server-chain.pem'`,
        `ssl_key_file = '${dir}/server.key'`,
        `ssl_ca_file = '${dir}/ca.pem'`,
        `fsync = off`,
        // Files in the data directory: no dependence on /dev/shm (missing or read-only in some chroots).
        `dynamic_shared_memory_type = mmap`,
        `log_connections = on`,
        `logging_collector = off`,
        "",
      ].join("\n"),
    );
    // TCP only with TLS and a client certificate whose CN is the user name; nothing else gets in.
    writeFileSync(
      `${data}/pg_hba.conf`,
      "hostssl all all 127.0.0.1/32 cert\nhost all all 0.0.0.0/0 reject\nlocal all all reject\n",
    );
    const [cmd, argv] = asServerUser(`${bin}/postgres`, ["-D", data]);
    const started = spawn(cmd, argv, { env: ENV, stdio: ["ignore", "pipe", "pipe"] });
    // "error" too: a program that cannot be started gets no "close", and an unheard "error" would throw.
    exited = new Promise((resolve) => {
      started.once("close", resolve);
      started.once("error", resolve);
    });
    child = started;
    started.stdout.on("data", (chunk) => output += chunk);
    started.stderr.on("data", (chunk) => output += chunk);
    await waitForPort(port, exited, () => output);
    // The port opens before recovery ends (connections get 57P03 "starting up" until then): wait until
    // pg_isready (libpq, over the Unix socket) says the server accepts connections.
    await waitReady(bin, dir, port, () => output);
    return { port, dir, log: () => output, stop, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Waits (30 s at most) until the port accepts TCP connections, failing early if the server exits.
 * @param {number} port
 * @param {Promise<unknown>} exited
 * @param {() => string} log
 */
async function waitForPort(port, exited, log) {
  let gone = false;
  exited.then(() => gone = true);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`postgres exited during startup:\n${log()}`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`postgres did not listen on ${port} within 30 s:\n${log()}`);
}

/**
 * Polls `pg_isready` (exit status 0: accepting connections) for up to 30 s.
 * @param {string} bin
 * @param {string} dir
 * @param {number} port
 * @param {() => string} log
 */
async function waitReady(bin, dir, port, log) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const status = await new Promise((resolve) => {
      const child = spawn(`${bin}/pg_isready`, ["-q", "-h", dir, "-p", String(port), "-t", "2"], {
        env: ENV,
        stdio: "ignore",
      });
      child.once("error", () => resolve(-1));
      child.once("close", resolve);
    });
    if (status === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`postgres did not become ready on ${port} within 30 s:\n${log()}`);
}
