/**
 * secsock contender: `deno run -A scripts/bench/secsock_peer.ts server --cert rsa|ec`
 * or `… client <mode> --port N`. See peer_core.ts for the protocol and modes.
 *
 * @module
 */
import {
  type ConnectOptions,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  type TlsVersion,
} from "../../mod.ts";
import { CERTS, fixturePath, HOST, type ShortVersion } from "./common.ts";
import { type ClientOptions, type Impl, main, type ResumeApi } from "./peer_core.ts";

const version = (v?: ShortVersion): TlsVersion | undefined => v ? `TLSv${v}` : undefined;

const clientContexts = new Map<string, SecureSocketContext>();
function clientContext(o: ClientOptions): SecureSocketContext {
  const key = `${o.min}/${o.max}`;
  let ctx = clientContexts.get(key);
  if (!ctx) {
    ctx = new SecureSocketContext({
      useSystemTrust: false,
      ca: Deno.readTextFileSync(fixturePath("ca.pem")),
      minVersion: version(o.min),
      maxVersion: version(o.max),
    });
    clientContexts.set(key, ctx);
  }
  return ctx;
}

/** The session API of the design (`socket.session`, `isSessionReused`, `connect({ session })`). */
type SessionSocket = SecureSocket & { readonly session: Uint8Array | null; readonly isSessionReused: boolean };

/**
 * Resumption for secsock: detected at run time, so this benchmark measures it
 * as soon as lib/socket.ts grows the session API, with no other change.
 */
function secsockResumption(): ResumeApi<SecureSocket> | { unsupported: string } {
  const proto = SecureSocket.prototype;
  if (!("session" in proto) || !("isSessionReused" in proto)) return { unsupported: "no session API yet" };
  return {
    connect: (o, session) =>
      SecureSocket.connect(
        clientContext(o),
        {
          hostname: HOST,
          port: o.port,
          ...(session ? { session } : {}),
        } as ConnectOptions & { session?: Uint8Array },
      ),
    reused: (s) => (s as SessionSocket).isSessionReused,
    session: (s) => (s as SessionSocket).session,
  };
}

const impl: Impl<SecureSocket> = {
  name: "secsock",
  listen({ cert, min, max }) {
    const ctx = new SecureSocketContext({ useSystemTrust: false, minVersion: version(min), maxVersion: version(max) });
    ctx.useCertificateChainFile(fixturePath(CERTS[cert].chain));
    ctx.usePrivateKeyFile(fixturePath(CERTS[cert].key));
    const listener = SecureSocketListener.listen(ctx, { hostname: HOST, port: 0 });
    return { port: listener.addr.port, accept: () => listener.accept(), close: () => listener.close() };
  },
  connect: (o) => SecureSocket.connect(clientContext(o), { hostname: HOST, port: o.port }),
  describe: (s) => ({ protocol: s.protocol, cipher: s.cipher }),
  async shutdown(s) {
    try {
      await s.closeWrite();
    } finally {
      s.close();
    }
  },
  abort: (s) => s.close(),
  resume: secsockResumption(),
};

if (import.meta.main) await main(impl);
