/**
 * Helpers for the interop and defaults suites: openssl CLI arguments for the
 * fixture chains, bounded waits for child processes, deterministic payloads.
 * (Kept apart from tests/helpers.ts, which other suites share.)
 */
import { fixturePath, type Peer, spawnPeer } from "../helpers.ts";

/** Server leaves of the fixture PKI that the openssl CLI can serve. */
export type ServerLeaf = "server" | "server-ec" | "server-ed25519" | "expired" | "not-yet-valid" | "wronghost";

/**
 * `openssl s_server` arguments serving `leaf` with its intermediate: `-cert`
 * reads only the first certificate of a file, so the intermediate goes in
 * `-cert_chain`.
 */
export function serverCertArgs(leaf: ServerLeaf): string[] {
  return [
    "-cert",
    fixturePath(`${leaf}.pem`),
    "-cert_chain",
    fixturePath("intermediate.pem"),
    "-key",
    fixturePath(`${leaf}.key`),
  ];
}

/** Subjects of the chain a fixture server leaf sends (leaf, then intermediate). */
export const SERVER_CHAIN_SUBJECTS = ["CN=localhost,O=secsock", "CN=secsock Test Intermediate CA,O=secsock"];

/** TLS 1.3 cipher suites OpenSSL 3 enables by default. */
export const TLS13_CIPHER = /^TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$/;

/** Rejects with a clear message when `promise` does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits (bounded) for a peer to exit on its own; kills it on timeout. Returns
 * its exit status and whether it exited by itself.
 */
export async function waitExit(peer: Peer, ms = 10_000): Promise<{ status: Deno.CommandStatus; exited: boolean }> {
  let exited = true;
  try {
    await within(peer.process.status, ms, "peer exit");
  } catch {
    exited = false;
  }
  const status = await stopPeer(peer);
  return { status, exited };
}

/**
 * Stops a peer and waits for it. `Peer.waitFor` arms a 50 ms timer when the
 * process exits; waiting a little longer keeps the op sanitizer quiet.
 */
export async function stopPeer(peer: Peer): Promise<Deno.CommandStatus> {
  const status = await peer.close();
  await delay(80);
  return status;
}

/** Starts `openssl s_client` with the given arguments. */
export function opensslClient(args: string[]): Peer {
  return spawnPeer("openssl", ["s_client", ...args]);
}

/**
 * Deterministic printable lines (hex digits only: never an s_client or
 * s_server command letter), each ending in "\n".
 */
export function hexLines(count: number, length: number, seed = 1): string[] {
  const lines: string[] = [];
  let x = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    let line = "";
    for (let j = 0; j < length; j++) {
      // xorshift32
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      line += "0123456789abcdef"[x & 15];
    }
    lines.push(line + "\n");
  }
  return lines;
}

/** Random bytes of any length (getRandomValues takes at most 64 KiB at a time). */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(length, i + 65536)));
  return out;
}

/** Concatenates byte arrays. */
export function concat(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Reads from `reader` until `length` bytes arrived (or EOF); returns them. */
export async function readExactly(
  reader: { read(p: Uint8Array): Promise<number | null> },
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(length);
  let o = 0;
  while (o < length) {
    const n = await reader.read(out.subarray(o));
    if (n === null) break;
    o += n;
  }
  return out.subarray(0, o);
}

/** Reads from `reader` until the decoded text contains `marker` (or EOF). */
export async function readUntil(
  reader: { read(p: Uint8Array): Promise<number | null> },
  marker: string,
): Promise<string> {
  const decoder = new TextDecoder();
  const buf = new Uint8Array(65536);
  let text = "";
  while (!text.includes(marker)) {
    const n = await reader.read(buf);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return text;
}
