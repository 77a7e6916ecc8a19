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

/**
 * Builds one of the C programs beside this file (`<name>.c`) with `cc`
 * against the system OpenSSL, into a fresh temporary directory the caller
 * removes. Optional: `{ unavailable }` with the reason when it cannot (no
 * OpenSSL headers, no compiler, or the build fails).
 */
export async function buildC(name: string): Promise<{ exe: string; dir: string } | { unavailable: string }> {
  try {
    Deno.statSync("/usr/include/openssl/ssl.h");
  } catch {
    return { unavailable: "no OpenSSL headers (libssl-dev)" };
  }
  const dir = await Deno.makeTempDir({ prefix: `secsock-${name}-` });
  const exe = `${dir}/${name}`;
  try {
    const r = await new Deno.Command("cc", {
      args: ["-O2", "-o", exe, `${HERE}${name}.c`, "-lssl", "-lcrypto"],
      stderr: "piped",
    }).output();
    if (!r.success) {
      await Deno.remove(dir, { recursive: true });
      return { unavailable: `cc failed: ${decoder.decode(r.stderr).slice(0, 300)}` };
    }
  } catch {
    await Deno.remove(dir, { recursive: true });
    return { unavailable: "no C compiler (cc)" };
  }
  return { exe, dir };
}

/** OpenSSL's own memory per idle established SSL (idle_mem.c), by certificate, buffer mode and version. */
export async function floor(conns: number): Promise<Json> {
  if (Deno.build.os !== "linux") return { unavailable: "mallinfo2 is glibc's" };
  const built = await buildC("idle_mem");
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
