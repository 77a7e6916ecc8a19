/**
 * Server CPU per `openssl s_time` connection for scripts/bench/profile.ts:
 * the secsock server next to `openssl s_server` on the same OpenSSL.
 *
 * @module
 */
import { type CertKind, CERTS, fixturePath, HOST, median, num } from "./common.ts";

const HERE = new URL(".", import.meta.url).pathname;
const decoder = new TextDecoder();
type Json = Record<string, unknown>;

// ------------------------------------------------------------------ server CPU per s_time connection

/** CPU seconds a process has used in user space and in the kernel (Linux /proc). */
function cpuOf(pid: number): { user: number; sys: number } {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100 };
}

/** A server for s_time: secsock (secsock_peer.ts) or `openssl s_server -WWW`, and its pid. */
async function stimeServer(impl: "secsock" | "openssl", cert: CertKind) {
  const www = await Deno.makeTempDir({ prefix: "secsock-profile-www-" });
  await Deno.writeTextFile(`${www}/ok.txt`, "ok\n");
  const args = impl === "openssl"
    ? [
      "s_server",
      "-accept",
      `${HOST}:0`,
      "-cert",
      fixturePath(CERTS[cert].leaf),
      "-cert_chain",
      fixturePath("intermediate.pem"),
      "-key",
      fixturePath(CERTS[cert].key),
      "-WWW",
    ]
    : ["run", "-A", `${HERE}secsock_peer.ts`, "server", "--cert", cert, "--lifetime", "600"];
  const server = await startServer(impl === "openssl" ? "openssl" : Deno.execPath(), args, www);
  return {
    port: server.port,
    pid: server.pid,
    async stop() {
      await server.stop();
      await Deno.remove(www, { recursive: true });
    },
  };
}

/**
 * Starts a server process and waits until it says where it listens: `openssl
 * s_server`'s "ACCEPT host:port" line or the Deno peers' JSON line ({port, pid}).
 */
async function startServer(command: string, args: string[], cwd?: string) {
  const child = new Deno.Command(command, { args, cwd, stdin: "piped", stdout: "piped", stderr: "null" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let ready: { port: number; pid: number } | null = null;
  while (!ready) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${command} ${args[0]}: the server did not start`);
    text += value;
    const accept = text.match(/^ACCEPT .*:(\d+)/m);
    if (accept) ready = { port: Number(accept[1]), pid: child.pid };
    const json = text.match(/^\{.*\}$/m);
    if (json) ready = { port: JSON.parse(json[0]).port, pid: JSON.parse(json[0]).pid };
  }
  const drain = (async () => {
    while (!(await reader.read()).done);
  })();
  return {
    ...ready,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drain.catch(() => {});
    },
  };
}

/**
 * `openssl s_time` against the secsock server and against `openssl s_server`
 * (the same OpenSSL), alternating: the servers' CPU time per connection, and
 * connections per second. CPU per connection moves far less with the load of
 * other processes than the rate does.
 */
export async function stimeCpu(o: Record<string, string>): Promise<Json[]> {
  const seconds = num(o, "stime-seconds", 3);
  const rounds = num(o, "stime-rounds", 3);
  const kinds = [
    { label: "new, TLS 1.3, RSA", mode: "-new", version: "-tls1_3", cert: "rsa" as const },
    { label: "new, TLS 1.3, P-256", mode: "-new", version: "-tls1_3", cert: "ec" as const },
    { label: "new, TLS 1.2, RSA", mode: "-new", version: "-tls1_2", cert: "rsa" as const },
    { label: "reuse, TLS 1.2", mode: "-reuse", version: "-tls1_2", cert: "rsa" as const },
    { label: "reuse, TLS 1.3", mode: "-reuse", version: "-tls1_3", cert: "rsa" as const },
  ];
  const rows: Json[] = [];
  for (const kind of kinds) {
    const samples: Record<string, { cpu: number[]; user: number[]; rate: number[] }> = {
      secsock: { cpu: [], user: [], rate: [] },
      openssl: { cpu: [], user: [], rate: [] },
    };
    for (let round = 0; round < rounds; round++) {
      for (const impl of (round % 2 ? ["secsock", "openssl"] : ["openssl", "secsock"]) as ("secsock" | "openssl")[]) {
        const server = await stimeServer(impl, kind.cert);
        try {
          const cpu0 = cpuOf(server.pid);
          const t0 = performance.now();
          const out = await new Deno.Command("openssl", {
            args: ["s_time", "-connect", `${HOST}:${server.port}`, kind.mode, kind.version, "-time", String(seconds)]
              .concat(["-www", "/ok.txt"]),
            stdout: "piped",
            stderr: "null",
          }).output();
          const wall = (performance.now() - t0) / 1000;
          const cpu1 = cpuOf(server.pid);
          const counts = [...decoder.decode(out.stdout).matchAll(/(\d+) connections in [\d.]+s;/g)].map((m) =>
            Number(m[1])
          );
          const n = counts.length ? counts[counts.length - 1] : NaN;
          samples[impl].cpu.push(((cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) * 1e6) / n);
          samples[impl].user.push(((cpu1.user - cpu0.user) * 1e6) / n);
          samples[impl].rate.push(n / wall);
        } finally {
          await server.stop();
        }
      }
    }
    const s = {
      cpu: median(samples.secsock.cpu),
      user: median(samples.secsock.user),
      rate: median(samples.secsock.rate),
    };
    const b = {
      cpu: median(samples.openssl.cpu),
      user: median(samples.openssl.user),
      rate: median(samples.openssl.rate),
    };
    rows.push({
      kind: kind.label,
      secsockCpuUs: s.cpu,
      opensslCpuUs: b.cpu,
      cpuRatio: s.cpu / b.cpu,
      secsockUserUs: s.user,
      opensslUserUs: b.user,
      userRatio: s.user / b.user,
      secsockRate: s.rate,
      opensslRate: b.rate,
      rateRatio: s.rate / b.rate,
      samples,
    });
    console.error(
      `profile: s_time ${kind.label}: ${s.cpu.toFixed(0)} vs ${b.cpu.toFixed(0)} µs CPU/connection ` +
        `(user ${s.user.toFixed(0)} vs ${b.user.toFixed(0)})`,
    );
  }
  return rows;
}

// ------------------------------------------------------------------ Deno's own floor per connection

/** A plain TCP server answering one HTTP/1.0 request per connection as the s_time servers do (run by `deno eval`). */
const PLAIN_SERVER = `
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(JSON.stringify({ port: listener.addr.port, pid: Deno.pid }));
const answer = new TextEncoder().encode("HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n");
async function serve(conn) {
  const buf = new Uint8Array(1024);
  try {
    conn.setNoDelay(true);
    let text = "";
    while (!text.includes("\\r\\n\\r\\n")) {
      const n = await conn.read(buf);
      if (n === null) return;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    await conn.write(answer);
    await conn.closeWrite();
    while (await conn.read(buf) !== null);
  } catch {
    // the client went away
  } finally {
    try { conn.close(); } catch { /* closed */ }
  }
}
for await (const conn of listener) serve(conn);
`;

/** The load for PLAIN_SERVER: sequential connections, one request each, for N seconds; prints the count. */
const PLAIN_CLIENT = `
const [port, seconds] = Deno.args.map(Number);
const request = new TextEncoder().encode("GET /ok.txt HTTP/1.0\\r\\n\\r\\n");
const buf = new Uint8Array(1024);
let n = 0;
const end = performance.now() + seconds * 1000;
while (performance.now() < end) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(request);
  while (await conn.read(buf) !== null);
  conn.close();
  n++;
}
console.log(n);
`;

/**
 * Deno's own cost per connection, without TLS: a plain TCP server that reads
 * one request, answers and closes, as the s_time servers do, under sequential
 * connections from another process. What a binding on Deno cannot go below.
 */
export async function plainTcpCpu(o: Record<string, string>): Promise<Json> {
  const seconds = num(o, "stime-seconds", 3);
  const rounds = num(o, "stime-rounds", 3);
  const user: number[] = [];
  const cpu: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const server = await startServer(Deno.execPath(), ["eval", PLAIN_SERVER]);
    try {
      const cpu0 = cpuOf(server.pid);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", PLAIN_CLIENT, String(server.port), String(seconds)],
        stdout: "piped",
        stderr: "null",
      }).output();
      const cpu1 = cpuOf(server.pid);
      const n = Number(decoder.decode(out.stdout).trim());
      cpu.push(((cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) * 1e6) / n);
      user.push(((cpu1.user - cpu0.user) * 1e6) / n);
    } finally {
      await server.stop();
    }
  }
  const row = { cpuUs: median(cpu), userUs: median(user), samples: { cpu, user } };
  console.error(`profile: plain TCP (Deno): ${row.cpuUs.toFixed(0)} µs CPU/connection (user ${row.userUs.toFixed(0)})`);
  return row;
}
