/**
 * Key logging in the NSS key log format, for decrypting captures in
 * Wireshark, top to bottom: the callback's type and the SSLKEYLOGFILE
 * variable, the setter, the trampoline (`SSL_CTX_keylog_cb_func`), and the
 * per-connection dispatch to the callback and the file.
 *
 * @module
 */
import { libssl } from "../../ffi/library.ts";
import { SharedCallback } from "../../ffi/callbacks.ts";
import { type PointerValue, readCString } from "../../ffi/memory.ts";
import { platform } from "../../ffi/platform.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import type { ContextCore } from "../context_core.ts";
import type { SecureSocket } from "../socket.ts";
import { checkCallback, type Connection, dispatchTo } from "./connection.ts";

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

// ---- The setters ----

/** Sets (or, with null, removes) a context's key log callback. */
export function setKeylogCallback(core: ContextCore, cb: KeylogCallback | null): void {
  core.handle;
  checkCallback(cb, "setKeylogCallback()");
  core.keylogCallback = cb;
  installKeylog(core);
}

/** Writes key lines to the file SSLKEYLOGFILE names, when set (read when the context is made). */
export function useKeylogFileFromEnv(core: ContextCore): void {
  const file = keylogFileFromEnv();
  if (!file) return;
  core.keylogFile = file;
  installKeylog(core);
}

// ---- The trampoline ----

/** `void SSL_CTX_keylog_cb_func(const SSL *ssl, const char *line)`: nothing to return. */
const KEYLOG_CALLBACK = {
  parameters: ["pointer", "pointer"],
  result: "void",
} as const satisfies CallbackDefinition;

/** The keylog trampoline, one per process (ffi/callbacks.ts). */
const keylogTrampoline = new SharedCallback(KEYLOG_CALLBACK, dispatchTo(writeKeylog, undefined), undefined);

/**
 * Installs (or removes) the keylog trampoline (SSL_CTX_set_keylog_callback(3))
 * when a callback or SSLKEYLOGFILE wants key lines; `force` installs it for a
 * context SNI moves connections to.
 */
export function installKeylog(core: ContextCore, force = false): void {
  const active = force || core.keylogCallback !== null || core.keylogFile !== null;
  libssl().SSL_CTX_set_keylog_callback(core.handle, active ? keylogTrampoline.pointer : null);
}

// ---- The dispatch ----

/** Delivers one key log line (a C string) to the active context's callback and file (else the origin's). */
function writeKeylog(connection: Connection, text: PointerValue): void {
  const { active, origin } = connection;
  const line = readCString(text) ?? "";
  try {
    (active.keylogCallback ?? origin.keylogCallback)?.(connection.socket, line);
    const file = active.keylogFile ?? origin.keylogFile;
    if (file) platform.appendTextFileSync(file, `${line}\n`);
  } catch (error) {
    connection.record(error);
  }
}
