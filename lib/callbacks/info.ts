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
import { libssl, opensslAtLeast } from "../../ffi/library.ts";
import { SharedCallback } from "../../ffi/callbacks.ts";
import { alertName } from "../alerts.ts";
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
  /**
   * The alert's IANA name, e.g. "unknown_ca", "certificate_required" (the
   * same on every OpenSSL version; "unknown" for a code IANA has not assigned).
   */
  description: string;
  /**
   * OpenSSL's own text (`SSL_alert_desc_string_long(3)`), e.g. "unknown CA",
   * as `openssl s_client -state` prints it; the IANA name where OpenSSL has
   * none (OpenSSL 3.0 lacks the TLS 1.3 alerts).
   */
  text: string;
}

/**
 * Decodes the `ret` of an alert info callback (`where & InfoWhere.Alert`).
 *
 * @example
 * ```ts
 * import { describeAlert } from "@secsock/secsock";
 * console.log(describeAlert(0x0230)); // { level: "fatal", code: 48, description: "unknown_ca", text: "unknown CA" }
 * console.log(describeAlert(0x0274).description); // "certificate_required"
 * ```
 */
export function describeAlert(ret: number): AlertInfo {
  const levelCode = (ret >> 8) & 0xff;
  const code = ret & 0xff;
  const description = alertName(code);
  const own = readCString(libssl().SSL_alert_desc_string_long(ret));
  return {
    level: levelCode === 1 ? "warning" : levelCode === 2 ? "fatal" : "unknown",
    code,
    description,
    text: own && own !== "unknown" ? own : description,
  };
}

/** OpenSSL 3.0's OSSL_HANDSHAKE_STATE values, in order (ssl.h). */
const STATES_3_0 = [
  "TLS_ST_BEFORE",
  "TLS_ST_OK",
  "DTLS_ST_CR_HELLO_VERIFY_REQUEST",
  "TLS_ST_CR_SRVR_HELLO",
  "TLS_ST_CR_CERT",
  "TLS_ST_CR_CERT_STATUS",
  "TLS_ST_CR_KEY_EXCH",
  "TLS_ST_CR_CERT_REQ",
  "TLS_ST_CR_SRVR_DONE",
  "TLS_ST_CR_SESSION_TICKET",
  "TLS_ST_CR_CHANGE",
  "TLS_ST_CR_FINISHED",
  "TLS_ST_CW_CLNT_HELLO",
  "TLS_ST_CW_CERT",
  "TLS_ST_CW_KEY_EXCH",
  "TLS_ST_CW_CERT_VRFY",
  "TLS_ST_CW_CHANGE",
  "TLS_ST_CW_NEXT_PROTO",
  "TLS_ST_CW_FINISHED",
  "TLS_ST_SW_HELLO_REQ",
  "TLS_ST_SR_CLNT_HELLO",
  "DTLS_ST_SW_HELLO_VERIFY_REQUEST",
  "TLS_ST_SW_SRVR_HELLO",
  "TLS_ST_SW_CERT",
  "TLS_ST_SW_KEY_EXCH",
  "TLS_ST_SW_CERT_REQ",
  "TLS_ST_SW_SRVR_DONE",
  "TLS_ST_SR_CERT",
  "TLS_ST_SR_KEY_EXCH",
  "TLS_ST_SR_CERT_VRFY",
  "TLS_ST_SR_NEXT_PROTO",
  "TLS_ST_SR_CHANGE",
  "TLS_ST_SR_FINISHED",
  "TLS_ST_SW_SESSION_TICKET",
  "TLS_ST_SW_CERT_STATUS",
  "TLS_ST_SW_CHANGE",
  "TLS_ST_SW_FINISHED",
  "TLS_ST_SW_ENCRYPTED_EXTENSIONS",
  "TLS_ST_CR_ENCRYPTED_EXTENSIONS",
  "TLS_ST_CR_CERT_VRFY",
  "TLS_ST_SW_CERT_VRFY",
  "TLS_ST_CR_HELLO_REQ",
  "TLS_ST_SW_KEY_UPDATE",
  "TLS_ST_CW_KEY_UPDATE",
  "TLS_ST_SR_KEY_UPDATE",
  "TLS_ST_CR_KEY_UPDATE",
  "TLS_ST_EARLY_DATA",
  "TLS_ST_PENDING_EARLY_DATA_END",
  "TLS_ST_CW_END_OF_EARLY_DATA",
  "TLS_ST_SR_END_OF_EARLY_DATA",
] as const;

/**
 * OpenSSL 3.2 inserted the four compressed-certificate states (RFC 8879)
 * after the matching plain certificate states, renumbering the enum: the
 * same number names different states on 3.0 and 3.2+.
 */
const STATES_3_2: readonly string[] = STATES_3_0.flatMap((name) => {
  const compressed = {
    TLS_ST_CR_CERT: "TLS_ST_CR_COMP_CERT",
    TLS_ST_CW_CERT: "TLS_ST_CW_COMP_CERT",
    TLS_ST_SW_CERT: "TLS_ST_SW_COMP_CERT",
    TLS_ST_SR_CERT: "TLS_ST_SR_COMP_CERT",
  }[name as string];
  return compressed ? [name, compressed] : [name];
});

/** The handshake state of a socket, decoded from `SSL_get_state(3)`. */
export interface HandshakeState {
  /** OpenSSL's OSSL_HANDSHAKE_STATE name, e.g. "TLS_ST_SW_CERT", "TLS_ST_CW_COMP_CERT". */
  name: string;
  /**
   * True in the states that send or receive an RFC 8879 CompressedCertificate
   * message (OpenSSL 3.2+; see the context's `certificateCompression` option).
   */
  compressedCertificate: boolean;
}

/**
 * Names the handshake state a socket is in, with the numbering of the
 * OpenSSL version loaded (3.2 renumbered the states). Inside the info
 * callback it is the state the event is about; compressed-certificate states
 * show as `compressedCertificate: true`, which `stateString` only spells out
 * in words ("… compressed certificate").
 *
 * @example
 * ```ts
 * import { describeState, InfoWhere, SecureSocketContext } from "@secsock/secsock";
 * const ctx = new SecureSocketContext();
 * ctx.setInfoCallback((socket, where) => {
 *   if (where & InfoWhere.Loop && describeState(socket).compressedCertificate) {
 *     console.log("certificate compressed:", describeState(socket).name);
 *   }
 * });
 * ```
 */
export function describeState(socket: SecureSocket): HandshakeState {
  const value = socketState(socket);
  const names = opensslAtLeast(3, 2) ? STATES_3_2 : STATES_3_0;
  const name = names[value] ?? `unknown state ${value}`;
  return { name, compressedCertificate: name.endsWith("_COMP_CERT") };
}

/** `SSL_get_state(3)` of a live socket; socket.ts registers it (the SSL is private there). */
let socketState: (socket: SecureSocket) => number;

/** Registered once by socket.ts: how to read a live socket's `SSL_get_state(3)`. */
export function registerStateReader(read: (socket: SecureSocket) => number): void {
  socketState = read;
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
    return `SSL3 alert ${where & InfoWhere.Read ? "read" : "write"}:${alert.level}:${alert.text}`;
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
