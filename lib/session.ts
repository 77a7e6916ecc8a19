/**
 * Sessions: the session ID context that keeps a session from resuming under
 * another access policy, and the checks a client makes before offering a
 * saved session. The server's session cache callbacks are in
 * lib/callbacks/session.ts.
 *
 * @module
 */
import type { Pointer } from "../ffi/memory.ts";
import {
  sessionHostname,
  sessionIdContextOf,
  sessionPeerMatches,
  sha256,
  verificationMaterial,
  verificationState,
} from "../ffi/session.ts";
import { SecureSocketError } from "./errors.ts";
import type { VerifyCallback } from "./callbacks/verify.ts";

/*
 * The session ID context
 * ----------------------
 * OpenSSL resumes a session (session ID, ticket, or TLS 1.3 PSK) only where
 * the connection's session ID context equals the one recorded in the session.
 * A resumed session skips certificate verification on both ends: the server
 * keeps the client certificate (or its absence) it verified back then, the
 * client the server certificate. So the context must name the policy a full
 * handshake would apply, and nothing else:
 *
 *   SHA-256 over a version tag, the verify mode as configured, the verify
 *   depth and X509_VERIFY_PARAM flags, the SHA-256 fingerprint of the own
 *   certificate, the sorted fingerprints of every certificate in the store
 *   peers are verified against (the verify store if one is set, else the
 *   certificate store, system roots included), the security level, the
 *   minimum and maximum protocol versions, every accepted cipher (TLS 1.3
 *   suites included, in order), the verify callback and the name given with
 *   setSessionIdContext(). A resumed session keeps the peer key the level
 *   judged and the cipher negotiated back then, so a context with a stricter
 *   level or cipher policy must not resume it.
 *
 * It is deterministic: servers in other processes with the same
 * configuration derive the same value, so a fleet sharing ticket keys or a
 * session store still resumes; any difference in policy gives another value,
 * and a session from there falls back to a full handshake. A verify callback
 * is a function whose verdicts cannot be compared: each callback object gets
 * a random token in this process, unless the context is given a name, which
 * declares that contexts bearing it (in any process) judge alike.
 *
 * It is computed when it matters: when a connection is made from the context
 * and again on a server in the client-hello callback, which OpenSSL runs
 * before it looks up the session, for the context that applies then (the one
 * SNI moved the connection to, if any). There a server binds it to the SNI
 * name asked for (nameBoundSessionIdContext): RFC 6066 §3 forbids resuming a
 * session under another name, which OpenSSL 3.0 does not enforce.
 * The policy it names is frozen once the context has sockets
 * (ContextInUseError), so it no longer changes then.
 * Clients record the value too: a client only offers a session its own
 * context would have accepted the server under.
 */

const SESSION_ID_CONTEXT_VERSION = "secsock session id context v2";
/** Random per-process tokens of verify callbacks: their verdicts cannot be compared across functions. */
const callbackTokens = new WeakMap<VerifyCallback, string>();

function callbackToken(callback: VerifyCallback): string {
  let token = callbackTokens.get(callback);
  if (!token) {
    token = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    callbackTokens.set(callback, token);
  }
  return token;
}

/** The parts of a context's policy kept in JavaScript (the rest is read from the SSL_CTX). */
export interface SessionPolicy {
  /** VerifyMode flags as configured; undefined means the role's default. */
  verifyMode: number | undefined;
  /** The verification callback, if any. */
  verifyCallback: VerifyCallback | null;
  /** The name given with setSessionIdContext(), if any. */
  name: Uint8Array | null;
  /** True when clients of this context also trust the system's CAs (`useSystemTrust`). */
  systemTrust: boolean;
}

/** A context's session ID context, recomputed only when its policy changed. */
export class SessionIdContext {
  #key: string | null = null;
  #value: Uint8Array<ArrayBuffer> = new Uint8Array(0);

  /** The 32-byte session ID context of the context `ctx` with the JavaScript side `policy`. */
  derive(ctx: Pointer, policy: SessionPolicy): Uint8Array<ArrayBuffer> {
    const state = verificationState(ctx);
    const callback = policy.verifyCallback === null
      ? "none"
      : policy.name
      ? "named"
      : callbackToken(policy.verifyCallback);
    const name = policy.name ? Array.from(policy.name, (b) => b.toString(16).padStart(2, "0")).join("") : "";
    const key = `${state.key}|${policy.verifyMode ?? "default"}|${callback}|${name}|${policy.systemTrust}`;
    if (key !== this.#key) {
      const text = [
        SESSION_ID_CONTEXT_VERSION,
        `mode:${policy.verifyMode ?? "default"}`,
        `callback:${callback}`,
        `name:${name}`,
        `system-trust:${policy.systemTrust}`,
        ...verificationMaterial(ctx, state),
      ].join("\n");
      this.#value = sha256(new TextEncoder().encode(text));
      this.#key = key;
    }
    return this.#value;
  }
}

const NAME_BINDING_VERSION = new TextEncoder().encode("secsock sni binding v1\n");
/** Per policy value (the array SessionIdContext returns while the policy stands): name-bound values by name. */
const nameBound = new WeakMap<Uint8Array, Map<string, Uint8Array<ArrayBuffer>>>();
/** Names remembered per policy; the client picks them, so the cache is bounded (cleared when full). */
const NAMES_PER_POLICY = 256;

/**
 * A server connection's session ID context: SHA-256 over a version tag, the
 * context's policy value (`policy`, from SessionIdContext) and the SNI name
 * asked for (ASCII letters lower-cased, as host names compare), or a marker
 * for none. A session made for one name then resumes only under that name,
 * and a session made without SNI only without it. Deterministic, so servers
 * of a fleet with the same policy still resume each other's sessions for the
 * same name. Cached per name.
 */
export function nameBoundSessionIdContext(
  policy: Uint8Array<ArrayBuffer>,
  name: string | null,
): Uint8Array<ArrayBuffer> {
  const key = name === null ? "" : `=${name.replace(/[A-Z]+/g, (upper) => upper.toLowerCase())}`;
  let byName = nameBound.get(policy);
  if (!byName) nameBound.set(policy, byName = new Map());
  let value = byName.get(key);
  if (!value) {
    const nameBytes = new TextEncoder().encode(key);
    const input = new Uint8Array(NAME_BINDING_VERSION.length + policy.length + nameBytes.length);
    input.set(NAME_BINDING_VERSION);
    input.set(policy, NAME_BINDING_VERSION.length);
    input.set(nameBytes, NAME_BINDING_VERSION.length + policy.length);
    value = sha256(input);
    if (byName.size >= NAMES_PER_POLICY) byName.clear();
    byName.set(key, value);
  }
  return value;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** What a client socket expects of a session before offering it. */
export interface SessionExpectation {
  /** The name the socket verifies (and sends as SNI unless it is an IP address), or null. */
  verifyName: string | null;
  /** True when `verifyName` is an IP address (sent without SNI). */
  ip: boolean;
  /** True when the socket verifies the server's certificate. */
  verifies: boolean;
  /** The socket's own session ID context. */
  sessionIdContext: Uint8Array;
}

function refuse(message: string): never {
  throw new SecureSocketError(`cannot use the session: ${message}`, { openssl: [] });
}

/**
 * Refuses a saved client session that a full handshake on this socket would
 * not have accepted: one made for another host name, or by a context with
 * another verification policy (trust, verify mode, certificate, callback).
 * Resuming skips the server's certificate, so offering it would accept the
 * server another connection verified, under other rules, for another name.
 */
export function checkClientSession(session: Pointer, expected: SessionExpectation): void {
  // The SNI name is recorded only when the server acknowledged it; the
  // server certificate (checked below) is recorded always.
  const sni = expected.verifyName !== null && !expected.ip ? expected.verifyName : null;
  const made = sessionHostname(session);
  const normalize = (name: string) => name.toLowerCase().replace(/\.$/, "");
  if (made !== null && (sni === null || normalize(made) !== normalize(sni))) {
    refuse(`it was made for host "${made}", not for ${sni === null ? "a connection without SNI" : `"${sni}"`}`);
  }
  if (!sameBytes(sessionIdContextOf(session), expected.sessionIdContext)) {
    refuse(
      "it was made under another verification policy (trusted CAs, verify mode or callback, certificate); " +
        "a full handshake is needed",
    );
  }
  if (expected.verifies && expected.verifyName !== null) {
    const matches = sessionPeerMatches(session, expected.verifyName, expected.ip);
    if (matches !== true) {
      refuse(
        matches === null
          ? "it holds no server certificate to check"
          : `its server certificate does not match "${expected.verifyName}"`,
      );
    }
  }
}
