/**
 * Finds and opens libssl and libcrypto (OpenSSL >= 3.0) lazily, on first use,
 * so that importing the library needs no `--allow-ffi` permission.
 *
 * @module
 */
import { LibraryLoadError } from "../lib/errors.ts";
import { CRYPTO_SYMBOLS, SSL_SYMBOLS } from "./symbols.ts";
import { type DynamicLibrary, ffi, type ForeignInterface, type SymbolsOf } from "./runtime.ts";
import { platform } from "./platform.ts";

/** The opened libssl with its symbols. */
export type SslLibrary = SymbolsOf<typeof SSL_SYMBOLS>;
/** The opened libcrypto with its symbols. */
export type CryptoLibrary = SymbolsOf<typeof CRYPTO_SYMBOLS>;

/** The system a candidate list is for: os and arch with Deno's names, and its environment. */
export interface LibrarySystem {
  /** "linux", "darwin", "windows", … (`Deno.build.os`) */
  readonly os: string;
  /** "x86_64", "aarch64", … (`Deno.build.arch`) */
  readonly arch: string;
  /** Reads an environment variable (SECSOCK_LIBSSL, SECSOCK_LIBCRYPTO). */
  readonly env: (name: string) => string | undefined;
}

/**
 * The paths tried, in order, to open libssl or libcrypto on `system` — a pure
 * function of its arguments. SECSOCK_LIBSSL / SECSOCK_LIBCRYPTO replace the list.
 * The lists of both libraries pair up entry by entry (same installation).
 *
 * @example
 * ```ts
 * import { libraryCandidates } from "./ffi/library.ts";
 * const paths = libraryCandidates("ssl", { os: "darwin", arch: "aarch64", env: () => undefined });
 * console.log(paths[0]); // /opt/homebrew/opt/openssl@3/lib/libssl.3.dylib
 * ```
 */
export function libraryCandidates(kind: "ssl" | "crypto", system: LibrarySystem): string[] {
  const override = system.env(kind === "ssl" ? "SECSOCK_LIBSSL" : "SECSOCK_LIBCRYPTO");
  if (override) return [override];
  switch (system.os) {
    case "darwin": {
      // Homebrew's prefix is /opt/homebrew on Apple silicon and /usr/local on
      // Intel (also a Rosetta Homebrew on Apple silicon): the native one first.
      const prefixes = system.arch === "aarch64" ? ["/opt/homebrew", "/usr/local"] : ["/usr/local", "/opt/homebrew"];
      return [
        ...prefixes.map((prefix) => `${prefix}/opt/openssl@3/lib/lib${kind}.3.dylib`),
        ...prefixes.map((prefix) => `${prefix}/lib/lib${kind}.3.dylib`),
        `/opt/local/lib/lib${kind}.3.dylib`, // MacPorts
        // Never the unversioned /usr/lib/libssl.dylib: macOS's LibreSSL, which aborts when loaded.
        `lib${kind}.3.dylib`,
      ];
    }
    case "windows": {
      // OpenSSL 3's DLL names carry the architecture: libssl-3-x64.dll,
      // libssl-3-arm64.dll; 32-bit builds are plain libssl-3.dll.
      const suffix = system.arch === "aarch64" ? "-arm64" : system.arch === "x86_64" ? "-x64" : "";
      return suffix ? [`lib${kind}-3${suffix}.dll`, `lib${kind}-3.dll`] : [`lib${kind}-3.dll`];
    }
    default:
      return [
        `lib${kind}.so.3`,
        `/usr/lib/x86_64-linux-gnu/lib${kind}.so.3`,
        `/usr/lib/aarch64-linux-gnu/lib${kind}.so.3`,
        `/usr/lib64/lib${kind}.so.3`,
        `/usr/lib/lib${kind}.so.3`,
        `/usr/local/lib/lib${kind}.so.3`,
        `/usr/local/lib64/lib${kind}.so.3`,
      ];
  }
}

function candidates(kind: "ssl" | "crypto"): string[] {
  return libraryCandidates(kind, {
    os: platform.os,
    arch: platform.arch,
    env: (name) => {
      try {
        return platform.env(name) || undefined;
      } catch {
        return undefined; // No --allow-env: the variable cannot be read, so it cannot apply.
      }
    },
  });
}

function open<S extends ForeignInterface>(
  kind: "ssl" | "crypto",
  symbols: S,
  attempts: string[],
): DynamicLibrary<S> | null {
  for (const path of candidates(kind)) {
    try {
      return ffi.dlopen(path, symbols);
    } catch (error) {
      attempts.push(`${path}: ${error instanceof Error ? error.message : error}`);
    }
  }
  return null;
}

let loaded: { ssl: SslLibrary; crypto: CryptoLibrary; version: string; number: number } | null = null;

/** OpenSSL 3.0.0 as `OpenSSL_version_num()` reports it (0xMNN00PP0L). */
const MIN_VERSION = 0x30000000;

function load(): { ssl: SslLibrary; crypto: CryptoLibrary; version: string; number: number } {
  if (loaded) return loaded;
  const attempts: string[] = [];
  // libcrypto first: libssl depends on it, and its version is the one we check.
  const crypto = open("crypto", CRYPTO_SYMBOLS, attempts);
  const ssl = crypto ? open("ssl", SSL_SYMBOLS, attempts) : null;
  if (!crypto || !ssl) {
    crypto?.close();
    throw new LibraryLoadError(
      "secsock could not load OpenSSL 3 (libssl and libcrypto).\n" +
        "Install OpenSSL 3 (Debian/Ubuntu: apt-get install libssl3) or point " +
        "SECSOCK_LIBSSL and SECSOCK_LIBCRYPTO at the libraries. Tried:\n  " +
        attempts.join("\n  "),
      attempts,
    );
  }
  const num = Number(crypto.symbols.OpenSSL_version_num());
  const text = ffi.readCString(crypto.symbols.OpenSSL_version(0)!);
  if (num < MIN_VERSION) {
    ssl.close();
    crypto.close();
    throw new LibraryLoadError(
      `secsock needs OpenSSL >= 3.0, but loaded ${text}. ` +
        "Set SECSOCK_LIBSSL and SECSOCK_LIBCRYPTO to an OpenSSL 3 installation.",
      attempts,
    );
  }
  loaded = { ssl: ssl.symbols, crypto: crypto.symbols, version: text, number: num };
  return loaded;
}

/** libssl's symbols; opens the libraries on first call. */
export function libssl(): SslLibrary {
  return (loaded ?? load()).ssl;
}

/** libcrypto's symbols; opens the libraries on first call. */
export function libcrypto(): CryptoLibrary {
  return (loaded ?? load()).crypto;
}

/**
 * The loaded OpenSSL's version text, e.g. "OpenSSL 3.0.19 27 Jan 2026".
 *
 * @example
 * ```ts
 * import { opensslVersion } from "@secsock/secsock";
 * console.log(opensslVersion());
 * ```
 */
export function opensslVersion(): string {
  return (loaded ?? load()).version;
}

/**
 * True when the loaded OpenSSL is at least `major.minor`, from
 * `OpenSSL_version_num(3)` (0xMNN00PP0): for features and numbering that
 * differ between releases (e.g. the handshake states added in 3.2).
 */
export function opensslAtLeast(major: number, minor: number): boolean {
  return (loaded ?? load()).number >= ((major << 28) | (minor << 20)) >>> 0;
}
