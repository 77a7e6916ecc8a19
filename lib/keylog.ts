/**
 * Key logging in the NSS key log format, for decrypting captures in Wireshark:
 * a callback, and the SSLKEYLOGFILE environment variable.
 *
 * @module
 */
import type { SocketHooks } from "./registry.ts";
import type { SecureSocket } from "./socket.ts";
import { platform } from "../ffi/platform.ts";

/**
 * Receives each key log line (NSS format, e.g. "CLIENT_HANDSHAKE_TRAFFIC_SECRET <random> <secret>").
 *
 * @example
 * ```ts
 * import type { KeylogCallback } from "@secsock/secsock";
 * const lines: string[] = [];
 * const collect: KeylogCallback = (_socket, line) => lines.push(line);
 * ```
 */
export type KeylogCallback = (socket: SecureSocket, line: string) => void;

/** The SSLKEYLOGFILE path, if set and readable. */
export function keylogFileFromEnv(): string | null {
  try {
    return platform.env("SSLKEYLOGFILE") || null;
  } catch {
    return null; // no --allow-env: the variable cannot be honoured
  }
}

/** Delivers one key log line to the active context's callback and file. */
export function writeKeylog(hooks: SocketHooks, line: string): void {
  const { core, origin } = hooks;
  try {
    (core.keylogCallback ?? origin.keylogCallback)?.(hooks.socket, line);
    const file = core.keylogFile ?? origin.keylogFile;
    if (file) platform.appendTextFileSync(file, `${line}\n`);
  } catch (error) {
    hooks.record(error);
  }
}
