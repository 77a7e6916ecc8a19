/**
 * The handshake information callback (§3), top to bottom: its types and
 * constants, the setters' validation, the trampoline OpenSSL calls
 * (`info_callback`, installed on each SSL whose context or socket has a
 * callback), the dispatch to the socket's own callback or else the context's,
 * and the helpers: alert decoding and a tracer in the style of
 * `openssl s_client -state`.
 *
 * @module
 */
import { libssl } from "../../ffi/library.ts";
import { SharedCallback } from "../../ffi/callbacks.ts";
import { readCString } from "../../ffi/memory.ts";
import type { CallbackDefinition } from "../../ffi/runtime.ts";
import type { ContextCore } from "../context_core.ts";
import { checkCallback, type Connection, dispatchTo } from "./connection.ts";
import {
  SSL_CB_ALERT,
  SSL_CB_EXIT,
  SSL_CB_HANDSHAKE_DONE,
  SSL_CB_HANDSHAKE_START,
  SSL_CB_LOOP,
  SSL_CB_READ,
  SSL_CB_WRITE,
  SSL_ST_ACCEPT,
  SSL_ST_CONNECT,
} from "../../ffi/constants.ts";
import type { SecureSocket } from "../socket.ts";

/**
 * The handshake information callback: `where` is a bit set of {@linkcode InfoWhere}
 * flags, `ret` is an alert (for alerts) or a return code (for exits).
 *
 * @example
 * ```ts
 * import { InfoWhere, type InfoCallback } from "@secsock/secsock";
 * const onInfo: InfoCallback = (socket, where, ret) => {
 *   if (where & InfoWhere.HandshakeDone) console.log("handshake done:", socket.protocol);
 * };
 * ```
 */
export type InfoCallback = (socket: SecureSocket, where: number, ret: number) => void;

/**
 * `where` flags of the info callback (OpenSSL's SSL_CB_* values).
 *
 * @example
 * ```ts
 * import { InfoWhere } from "@secsock/secsock";
 * const isAlert = (where: number) => (where & InfoWhere.Alert) !== 0;
 * ```
 */
export const InfoWhere = {
  Loop: SSL_CB_LOOP,
  Exit: SSL_CB_EXIT,
  Read: SSL_CB_READ,
  Write: SSL_CB_WRITE,
  Alert: SSL_CB_ALERT,
  ReadAlert: SSL_CB_ALERT | SSL_CB_READ,
  WriteAlert: SSL_CB_ALERT | SSL_CB_WRITE,
  AcceptLoop: SSL_ST_ACCEPT | SSL_CB_LOOP,
  AcceptExit: SSL_ST_ACCEPT | SSL_CB_EXIT,
  ConnectLoop: SSL_ST_CONNECT | SSL_CB_LOOP,
  ConnectExit: SSL_ST_CONNECT | SSL_CB_EXIT,
  HandshakeStart: SSL_CB_HANDSHAKE_START,
  HandshakeDone: SSL_CB_HANDSHAKE_DONE,
} as const;

// ---- The setters ----

/**
 * A context's default info callback (setInfoCallback()); null removes it.
 * The trampoline goes on the SSL_CTX, which OpenSSL consults at every event
 * of a connection without its own, so a change applies to existing sockets too.
 */
export function setContextInfoCallback(core: ContextCore, cb: InfoCallback | null): void {
  const handle = core.handle;
  checkCallback(cb, "setInfoCallback()");
  core.infoCallback = cb;
  if (cb) libssl().SSL_CTX_set_info_callback(handle, infoTrampoline.pointer);
}

/** A socket's own info callback (SecureSocket.setInfoCallback()); it overrides the context's. */
export function setSocketInfoCallback(connection: Connection, cb: InfoCallback | null): void {
  const ssl = connection.ssl;
  checkCallback(cb, "setInfoCallback()");
  connection.infoCallback = cb;
  if (cb) libssl().SSL_set_info_callback(ssl, infoTrampoline.pointer);
}

// ---- The trampoline ----

/** `void info_callback(const SSL *ssl, int where, int ret)`: nothing to return, so nothing can fail. */
const INFO_CALLBACK = {
  parameters: ["pointer", "i32", "i32"],
  result: "void",
} as const satisfies CallbackDefinition;

/**
 * The info trampoline, one per process (ffi/callbacks.ts): installed on the
 * SSL_CTX for the context's callback (SSL_CTX_set_info_callback(3)), and on
 * an SSL for a socket's own (SSL_set_info_callback(3), which wins).
 */
const infoTrampoline = new SharedCallback(INFO_CALLBACK, dispatchTo(dispatchInfo, undefined), undefined);

// ---- The dispatch ----

/** The socket's own callback, else the one of the context that applies now; its exception is kept for rethrow. */
function dispatchInfo(connection: Connection, where: number, ret: number): void {
  const cb = connection.infoCallback ?? connection.active.infoCallback;
  if (!cb) return;
  try {
    cb(connection.socket, where, ret);
  } catch (error) {
    connection.record(error);
  }
}

// ---- Helpers for callbacks ----

/** An alert decoded from the info callback's `ret`. */
export interface AlertInfo {
  /** "warning" or "fatal". */
  level: "warning" | "fatal" | "unknown";
  /** The alert's numeric description code (e.g. 42 = bad_certificate). */
  code: number;
  /** OpenSSL's long description, e.g. "bad certificate". */
  description: string;
}

/**
 * Decodes the `ret` of an alert info callback (`where & InfoWhere.Alert`).
 *
 * @example
 * ```ts
 * import { describeAlert } from "@secsock/secsock";
 * console.log(describeAlert(0x0230)); // { level: "fatal", code: 48, description: "unknown CA" }
 * ```
 */
export function describeAlert(ret: number): AlertInfo {
  const ssl = libssl();
  const levelCode = (ret >> 8) & 0xff;
  return {
    level: levelCode === 1 ? "warning" : levelCode === 2 ? "fatal" : "unknown",
    code: ret & 0xff,
    description: readCString(ssl.SSL_alert_desc_string_long(ret)) ?? "unknown",
  };
}

/**
 * One trace line for an info callback invocation, like `openssl s_client -state`
 * prints, or null for events it does not report.
 *
 * @example
 * ```ts
 * import { formatInfo, SecureSocketContext } from "@secsock/secsock";
 * const ctx = new SecureSocketContext();
 * ctx.setInfoCallback((socket, where, ret) => {
 *   const line = formatInfo(socket, where, ret);
 *   if (line) console.error(line);
 * });
 * ```
 */
export function formatInfo(socket: SecureSocket, where: number, ret: number): string | null {
  const role = where & SSL_ST_CONNECT
    ? "SSL_connect"
    : where & SSL_ST_ACCEPT
    ? "SSL_accept"
    : socket.isServer
    ? "SSL_accept"
    : "SSL_connect";
  if (where & InfoWhere.Alert) {
    const alert = describeAlert(ret);
    return `SSL3 alert ${where & InfoWhere.Read ? "read" : "write"}:${alert.level}:${alert.description}`;
  }
  if (where & InfoWhere.Loop) return `${role}:${socket.stateString}`;
  if (where & InfoWhere.Exit) {
    if (ret === 0) return `${role}:failed in ${socket.stateString}`;
    if (ret < 0) return `${role}:error in ${socket.stateString}`;
    return null;
  }
  if (where & InfoWhere.HandshakeStart) return `${role}:handshake start`;
  if (where & InfoWhere.HandshakeDone) return `${role}:handshake done`;
  return null;
}
