/**
 * A throwaway PostgreSQL server for the STARTTLS tests: Debian's server
 * binaries (`/usr/lib/postgresql/<major>/bin`), a fresh data directory in a
 * temporary directory, a free port on 127.0.0.1, TLS with the fixture chain,
 * and only `hostssl … cert` authentication (the client certificate's CN is the
 * database user).
 *
 * PostgreSQL refuses to run as root, and CI runs as root: then every server
 * command runs as the `postgres` system user (setpriv, which execs, so the
 * process we hold is the postmaster itself) and the temporary directory is
 * given to that user.
 */
import { fixturePath, freePort, within } from "../helpers.ts";

/** Where Debian installs the server programs, newest major version first (15 on Debian 12, 17 on Debian 13). */
export function postgresBinDir(): string | null {
  let majors: number[] = [];
  try {
    majors = [...Deno.readDirSync("/usr/lib/postgresql")]
      .map((e) => Number(e.name))
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => b - a);
  } catch {
    return null;
  }
  for (const major of majors) {
    const dir = `/usr/lib/postgresql/${major}/bin`;
    try {
      Deno.statSync(`${dir}/initdb`);
      Deno.statSync(`${dir}/postgres`);
      return dir;
    } catch { /* not this one */ }
  }
  return null;
}

/**
 * Whether the server can be started here. Like `hasPeer`: in CI
 * (SECSOCK_REQUIRE_PEERS=1) a missing server is an error, not a skip.
 */
export function hasPostgres(): boolean {
  const found = postgresBinDir() !== null;
  if (!found && Deno.env.get("SECSOCK_REQUIRE_PEERS") === "1") {
    throw new Error(
      "PostgreSQL (Debian package `postgresql`) is required in CI (SECSOCK_REQUIRE_PEERS=1) but is not installed",
    );
  }
  if (!found) console.warn("skipping: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)");
  return found;
}

/** A running server. */
export interface PostgresServer {
  port: number;
  /** The data directory's parent (also the Unix socket directory). */
  dir: string;
  /** Everything the server printed (its log). */
  log(): string;
  /** Fast shutdown, then removes the temporary directory. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@linkcode startPostgres}. */
export interface PostgresOptions {
  /** Login roles to create (quoted identifiers: spaces are fine). */
  roles: string[];
}

const isRoot = Deno.uid() === 0;

/** The system user that owns the cluster when we are root. */
function serverUser(): { uid: number; gid: number } {
  const out = new Deno.Command("id", { args: ["-u", "postgres"], stdout: "piped", stderr: "null" }).outputSync();
  const gid = new Deno.Command("id", { args: ["-g", "postgres"], stdout: "piped", stderr: "null" }).outputSync();
  if (!out.success || !gid.success) throw new Error("running as root, but there is no `postgres` system user");
  return { uid: Number(new TextDecoder().decode(out.stdout)), gid: Number(new TextDecoder().decode(gid.stdout)) };
}

/** argv that runs `program` as the server user (directly when we are not root). */
function asServerUser(program: string, args: string[]): [string, string[]] {
  if (!isRoot) return [program, args];
  return ["setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", program, ...args]];
}

async function runChecked(program: string, args: string[], stdin?: string): Promise<string> {
  const [cmd, argv] = asServerUser(program, args);
  const child = new Deno.Command("timeout", {
    args: ["-k", "2", "60", cmd, ...argv],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { LC_ALL: "C", LANG: "C" },
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${program} ${args.join(" ")} failed (${out.code}):\n${text}`);
  return text;
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Creates a cluster in a temporary directory and starts it on a free port
 * with `ssl = on` (server-chain.pem, server.key, ssl_ca_file = ca.pem) and
 * `hostssl all all 127.0.0.1/32 cert` as the only way in over TCP.
 */
export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL is not installed");
  const dir = await Deno.makeTempDir({ prefix: "secsock-pg-" });
  const data = `${dir}/data`;
  const owner = isRoot ? serverUser() : null;
  const give = (path: string) => {
    if (owner) Deno.chownSync(path, owner.uid, owner.gid);
  };
  let process: Deno.ChildProcess | null = null;
  let output = "";
  let pumps: Promise<unknown> = Promise.resolve();
  const cleanup = async () => {
    if (process) {
      try {
        process.kill("SIGINT"); // fast shutdown: ends sessions, no waiting for clients
      } catch { /* exited */ }
      try {
        await within(process.status, 15_000, "postgres shutdown");
      } catch {
        try {
          process.kill("SIGKILL");
        } catch { /* exited */ }
        await process.status;
      }
      await pumps;
      process = null;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    give(dir);
    // The server reads its TLS files from here: the key must be the server user's, mode 0600.
    for (const [name, mode] of [["server-chain.pem", 0o644], ["server.key", 0o600], ["ca.pem", 0o644]] as const) {
      const target = `${dir}/${name}`;
      Deno.copyFileSync(fixturePath(name), target);
      Deno.chmodSync(target, mode);
      give(target);
    }
    await runChecked(`${bin}/initdb`, [
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
    // Roles, in single-user mode: no connection (and no other authentication) needed.
    if (options.roles.length > 0) {
      const sql = options.roles.map((r) => `CREATE ROLE ${quoteIdent(r)} LOGIN;\n`).join("");
      await runChecked(`${bin}/postgres`, ["--single", "-D", data, "-j", "postgres"], sql);
    }
    const port = freePort();
    const conf = [
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
    ].join("\n");
    Deno.writeTextFileSync(`${data}/postgresql.conf`, conf, { append: true });
    // TCP only with TLS and a client certificate whose CN is the user name; nothing else gets in.
    Deno.writeTextFileSync(
      `${data}/pg_hba.conf`,
      "hostssl all all 127.0.0.1/32 cert\nhost all all 0.0.0.0/0 reject\nlocal all all reject\n",
    );
    const [cmd, argv] = asServerUser(`${bin}/postgres`, ["-D", data]);
    process = new Deno.Command(cmd, {
      args: argv,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { LC_ALL: "C", LANG: "C" },
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const d = new TextDecoder();
      for await (const chunk of stream) output += d.decode(chunk, { stream: true });
    };
    pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
    await waitForPort(port, process, () => output);
    const server: PostgresServer = {
      port,
      dir,
      log: () => output,
      stop: cleanup,
      [Symbol.asyncDispose]: cleanup,
    };
    return server;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Waits until the port accepts TCP connections (or the server exits). */
async function waitForPort(port: number, process: Deno.ChildProcess, log: () => string): Promise<void> {
  let exited = false;
  process.status.then(() => exited = true);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`postgres exited during startup:\n${log()}`);
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`postgres did not listen on ${port} within 30 s:\n${log()}`);
}
