/**
 * Where the loader looks for OpenSSL 3 on each system (ffi/library.ts's
 * libraryCandidates). macOS and Windows are not tested on those systems: their
 * lists are checked here against the names those installations use (Homebrew
 * under both prefixes, MacPorts; OpenSSL 3's DLL names per architecture). The
 * Linux list and the environment overrides are also checked for real, by loading.
 */
import assert from "node:assert/strict";
import { libraryCandidates, type LibrarySystem } from "../ffi/library.ts";

const noEnv = (): undefined => undefined;
const system = (os: string, arch: string, env: LibrarySystem["env"] = noEnv): LibrarySystem => ({ os, arch, env });
const both = (s: LibrarySystem) => ({ ssl: libraryCandidates("ssl", s), crypto: libraryCandidates("crypto", s) });

/** libssl and libcrypto are looked for in the same installations, in the same order. */
function assertPaired(lists: { ssl: string[]; crypto: string[] }): void {
  assert.equal(lists.ssl.length, lists.crypto.length);
  lists.ssl.forEach((path, i) => assert.equal(path.replace(/libssl/, "libcrypto"), lists.crypto[i]));
  assert.equal(new Set(lists.ssl).size, lists.ssl.length, "no path twice");
}

for (const arch of ["aarch64", "x86_64"]) {
  Deno.test(`library candidates: macOS ${arch} finds Homebrew's openssl@3 under both prefixes, native first`, () => {
    const lists = both(system("darwin", arch));
    assertPaired(lists);
    const native = arch === "aarch64" ? "/opt/homebrew" : "/usr/local";
    const other = arch === "aarch64" ? "/usr/local" : "/opt/homebrew";
    assert.equal(lists.ssl[0], `${native}/opt/openssl@3/lib/libssl.3.dylib`);
    assert.equal(lists.crypto[0], `${native}/opt/openssl@3/lib/libcrypto.3.dylib`);
    assert.ok(lists.ssl.includes(`${other}/opt/openssl@3/lib/libssl.3.dylib`));
    assert.ok(lists.crypto.includes(`${other}/opt/openssl@3/lib/libcrypto.3.dylib`));
    assert.ok(lists.ssl.includes("/opt/local/lib/libssl.3.dylib"), "MacPorts");
    // Only OpenSSL 3's versioned names: the unversioned libssl.dylib of /usr/lib is macOS's LibreSSL.
    for (const path of [...lists.ssl, ...lists.crypto]) assert.match(path, /\/?lib(ssl|crypto)\.3\.dylib$/);
  });
}

Deno.test("library candidates: Windows uses OpenSSL 3's DLL names for x64, arm64 and 32-bit x86", () => {
  const x64 = both(system("windows", "x86_64"));
  assertPaired(x64);
  assert.deepEqual(x64.ssl.slice(0, 1), ["libssl-3-x64.dll"]);
  assert.deepEqual(x64.crypto.slice(0, 1), ["libcrypto-3-x64.dll"]);
  const arm64 = both(system("windows", "aarch64"));
  assertPaired(arm64);
  assert.deepEqual(arm64.ssl.slice(0, 1), ["libssl-3-arm64.dll"]);
  assert.deepEqual(arm64.crypto.slice(0, 1), ["libcrypto-3-arm64.dll"]);
  assert.ok(!arm64.ssl.some((p) => p.includes("x64")), "an arm64 process cannot load an x64 DLL");
  const x86 = both(system("windows", "x86"));
  assert.deepEqual(x86, { ssl: ["libssl-3.dll"], crypto: ["libcrypto-3.dll"] });
});

Deno.test("library candidates: Linux asks the dynamic linker for the .so.3 first, then the usual directories", () => {
  for (const arch of ["x86_64", "aarch64"]) {
    const lists = both(system("linux", arch));
    assertPaired(lists);
    assert.equal(lists.ssl[0], "libssl.so.3");
    assert.equal(lists.crypto[0], "libcrypto.so.3");
    assert.ok(lists.crypto.includes(`/usr/lib/${arch}-linux-gnu/libcrypto.so.3`));
    for (const path of lists.crypto) assert.match(path, /(^|\/)libcrypto\.so\.3$/);
  }
});

Deno.test("library candidates: SECSOCK_LIBSSL / SECSOCK_LIBCRYPTO replace the list on every system", () => {
  const env = (name: string) =>
    ({ SECSOCK_LIBSSL: "/opt/x/libssl.so", SECSOCK_LIBCRYPTO: "/opt/x/libcrypto.so" })[name];
  for (const os of ["linux", "darwin", "windows"]) {
    assert.deepEqual(both(system(os, "x86_64", env)), { ssl: ["/opt/x/libssl.so"], crypto: ["/opt/x/libcrypto.so"] });
  }
  // An empty variable is no override.
  assert.equal(libraryCandidates("ssl", system("linux", "x86_64", () => ""))[0], "libssl.so.3");
});

Deno.test("library candidates: on this machine a listed libcrypto opens and is OpenSSL 3", () => {
  const env = (name: string) => Deno.env.get(name);
  const opened = libraryCandidates("crypto", system(Deno.build.os, Deno.build.arch, env)).flatMap((path) => {
    try {
      const lib = Deno.dlopen(path, { OpenSSL_version_num: { parameters: [], result: "u64" } });
      const version = BigInt(lib.symbols.OpenSSL_version_num());
      lib.close();
      return [{ path, version }];
    } catch {
      return [];
    }
  });
  assert.ok(opened.length > 0, "no candidate opened");
  assert.ok(opened[0].version >= 0x30000000n, `${opened[0].path} is OpenSSL ${opened[0].version.toString(16)}`);
});

Deno.test("library candidates: the loader tries exactly the overridden path and says so", async () => {
  const script = `
    import { LibraryLoadError, opensslVersion } from "./mod.ts";
    try {
      opensslVersion();
      console.log(JSON.stringify({ loaded: true }));
    } catch (error) {
      console.log(JSON.stringify({ loadError: error instanceof LibraryLoadError, attempts: error.attempts }));
    }`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("../", import.meta.url),
    env: { SECSOCK_LIBCRYPTO: "/nonexistent/libcrypto-secsock-test.so.3" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(result.loadError, true);
  assert.equal(result.attempts.length, 1);
  assert.match(result.attempts[0], /^\/nonexistent\/libcrypto-secsock-test\.so\.3: /);
});
