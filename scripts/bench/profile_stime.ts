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

/** CPU seconds (user + system) a process has used (Linux /proc). */
function cpuOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
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
  const child = new Deno.Command(impl === "openssl" ? "openssl" : Deno.execPath(), {
    args,
    cwd: www,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let ready: { port: number; pid: number } | null = null;
  while (!ready) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${impl} server did not start`);
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
      await Deno.remove(www, { recursive: true });
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
    const samples: Record<string, { cpu: number[]; rate: number[] }> = {
      secsock: { cpu: [], rate: [] },
      openssl: { cpu: [], rate: [] },
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
          const cpu = cpuOf(server.pid) - cpu0;
          const counts = [...decoder.decode(out.stdout).matchAll(/(\d+) connections in [\d.]+s;/g)].map((m) =>
            Number(m[1])
          );
          const n = counts.length ? counts[counts.length - 1] : NaN;
          samples[impl].cpu.push((cpu * 1e6) / n);
          samples[impl].rate.push(n / wall);
        } finally {
          await server.stop();
        }
      }
    }
    const s = { cpu: median(samples.secsock.cpu), rate: median(samples.secsock.rate) };
    const b = { cpu: median(samples.openssl.cpu), rate: median(samples.openssl.rate) };
    rows.push({
      kind: kind.label,
      secsockCpuUs: s.cpu,
      opensslCpuUs: b.cpu,
      cpuRatio: s.cpu / b.cpu,
      secsockRate: s.rate,
      opensslRate: b.rate,
      rateRatio: s.rate / b.rate,
      samples,
    });
    console.error(`profile: s_time ${kind.label}: ${s.cpu.toFixed(0)} vs ${b.cpu.toFixed(0)} µs CPU/connection`);
  }
  return rows;
}
