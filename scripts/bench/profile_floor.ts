/**
 * The C floor for scripts/bench/profile.ts: OpenSSL's own memory for an idle
 * established SSL (idle_mem.c), built with `cc` when it and the OpenSSL
 * headers are present. Optional: without them the report says why.
 *
 * @module
 */
import { CERTS, fixturePath } from "./common.ts";

const HERE = new URL(".", import.meta.url).pathname;
const decoder = new TextDecoder();
type Json = Record<string, unknown>;

// ------------------------------------------------------------------ the C floor

/** Builds idle_mem.c with `cc` (optional: null with the reason when it cannot). */
async function buildFloor(): Promise<{ exe: string; dir: string } | { unavailable: string }> {
  if (Deno.build.os !== "linux") return { unavailable: "mallinfo2 is glibc's" };
  try {
    Deno.statSync("/usr/include/openssl/ssl.h");
  } catch {
    return { unavailable: "no OpenSSL headers (libssl-dev)" };
  }
  const dir = await Deno.makeTempDir({ prefix: "secsock-floor-" });
  const exe = `${dir}/idle_mem`;
  try {
    const r = await new Deno.Command("cc", {
      args: ["-O2", "-o", exe, `${HERE}idle_mem.c`, "-lssl", "-lcrypto"],
      stderr: "piped",
    }).output();
    if (!r.success) return { unavailable: `cc failed: ${decoder.decode(r.stderr).slice(0, 300)}` };
  } catch {
    return { unavailable: "no C compiler (cc)" };
  }
  return { exe, dir };
}

export async function floor(conns: number): Promise<Json> {
  const built = await buildFloor();
  if ("unavailable" in built) return built;
  const out: Json = {};
  try {
    for (const cert of ["ec", "rsa"] as const) {
      for (const release of [1, 0]) {
        for (const version of ["1.3", "1.2"]) {
          const r = await new Deno.Command(built.exe, {
            args: [
              String(conns),
              fixturePath(CERTS[cert].chain),
              fixturePath(CERTS[cert].key),
              String(release),
              version,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          out[`${cert}/${version}/release=${release}`] = r.success
            ? JSON.parse(decoder.decode(r.stdout))
            : { error: decoder.decode(r.stderr).slice(0, 300) };
        }
      }
    }
  } finally {
    await Deno.remove(built.dir, { recursive: true });
  }
  return out;
}
