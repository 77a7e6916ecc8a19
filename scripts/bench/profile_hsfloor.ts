/**
 * The C floor per full handshake for scripts/bench/profile.ts (issue 15): the
 * CPU time OpenSSL itself spends on the client and on the server side of one
 * full handshake, in one process over memory BIOs (handshake_floor.c, built
 * with `cc` when it and the OpenSSL headers are present; optional). From it,
 * the ceiling of handshakes/s for a two-process setup on 2 cores:
 * 1e6 / max(client µs, server µs) — the most any binding of this OpenSSL can
 * reach there.
 *
 * The cases run in rotating rounds (`--hsfloor-rounds`, each a fresh process
 * of `--hsfloor-handshakes` handshakes after a warm-up) so drift in the
 * machine's speed reaches every case alike; the figures are medians.
 *
 * @module
 */
import { type CertKind, CERTS, fixturePath, median, num } from "./common.ts";
import { buildC } from "./profile_floor.ts";

const decoder = new TextDecoder();
type Json = Record<string, unknown>;

/** The rows of the table: TLS version and server certificate. */
export const HSFLOOR_CASES: { version: "1.2" | "1.3"; cert: CertKind }[] = [
  { version: "1.3", cert: "rsa" },
  { version: "1.3", cert: "ec" },
  { version: "1.2", cert: "rsa" },
];

/** The key of a case in the JSON output, e.g. `rsa/1.3`. */
export const hsfloorKey = (c: { version: string; cert: string }): string => `${c.cert}/${c.version}`;

/**
 * Runs handshake_floor for every case; per case the medians of `clientUs`,
 * `serverUs`, `totalUs` and the ceiling from them, with every round's output
 * under `runs`. `{ unavailable }` when the program cannot be built.
 */
export async function hsfloor(options: Record<string, string>): Promise<Json> {
  const n = num(options, "hsfloor-handshakes", 500);
  const rounds = num(options, "hsfloor-rounds", 3);
  const built = await buildC("handshake_floor");
  if ("unavailable" in built) return built;
  const runs = new Map<string, Json[]>(HSFLOOR_CASES.map((c) => [hsfloorKey(c), []]));
  const errors = new Map<string, string>();
  try {
    for (let round = 0; round < rounds; round++) {
      // Rotate the order so no case always runs first (or right after another).
      for (let k = 0; k < HSFLOOR_CASES.length; k++) {
        const c = HSFLOOR_CASES[(k + round) % HSFLOOR_CASES.length];
        const r = await new Deno.Command(built.exe, {
          args: [
            String(n),
            fixturePath(CERTS[c.cert].chain),
            fixturePath(CERTS[c.cert].key),
            fixturePath("ca.pem"),
            c.version,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        if (r.success) runs.get(hsfloorKey(c))!.push(JSON.parse(decoder.decode(r.stdout)));
        else errors.set(hsfloorKey(c), decoder.decode(r.stderr).slice(0, 300));
      }
    }
  } finally {
    await Deno.remove(built.dir, { recursive: true });
  }
  const out: Json = {};
  for (const c of HSFLOOR_CASES) {
    const key = hsfloorKey(c);
    const list = runs.get(key)!;
    if (!list.length) {
      out[key] = { ...c, error: errors.get(key) ?? "no run" };
      continue;
    }
    const med = (field: string) => median(list.map((r) => r[field] as number));
    const clientUs = med("clientUs");
    const serverUs = med("serverUs");
    out[key] = {
      ...c,
      openssl: list[0].openssl,
      protocol: list[0].protocol,
      cipher: list[0].cipher,
      group: list[0].group,
      n,
      rounds: list.length,
      clientUs,
      serverUs,
      totalUs: med("totalUs"),
      ceilingPerSec: Math.round(1e6 / Math.max(clientUs, serverUs)),
      runs: list,
      ...(errors.has(key) ? { error: errors.get(key) } : {}),
    };
  }
  return out;
}
