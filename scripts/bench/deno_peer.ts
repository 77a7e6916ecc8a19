/**
 * Deno native TLS contender (`Deno.listenTls` / `Deno.connectTls`, rustls):
 * `deno run -A scripts/bench/deno_peer.ts server --cert rsa|ec` or
 * `… client <mode> --port N`. See peer_core.ts for the protocol and modes.
 *
 * Deno's TLS API has no protocol-version options and no session API: client
 * runs that need them report why they cannot run.
 *
 * @module
 */
import { CERTS, fixturePath, HOST } from "./common.ts";
import { type Impl, main } from "./peer_core.ts";

const ca = Deno.readTextFileSync(fixturePath("ca.pem"));

const impl: Impl<Deno.TlsConn> = {
  name: "deno",
  listen({ cert }) {
    const listener = Deno.listenTls({
      hostname: HOST,
      port: 0,
      cert: Deno.readTextFileSync(fixturePath(CERTS[cert].chain)),
      key: Deno.readTextFileSync(fixturePath(CERTS[cert].key)),
    });
    return { port: listener.addr.port, accept: () => listener.accept(), close: () => listener.close() };
  },
  async connect(o) {
    const conn = await Deno.connectTls({ hostname: HOST, port: o.port, caCerts: [ca] });
    try {
      await conn.handshake();
    } catch (error) {
      conn.close();
      throw error;
    }
    return conn;
  },
  describe: () => ({ protocol: "TLSv1.3?", cipher: null }),
  async shutdown(conn) {
    try {
      await conn.closeWrite();
    } catch {
      // the peer may be gone
    }
    try {
      conn.close();
    } catch {
      // already closed
    }
  },
  abort(conn) {
    try {
      conn.close();
    } catch {
      // already closed
    }
  },
  resume: { unsupported: "Deno.connectTls has no session API" },
  clientLimits: (o) => o.max === "1.2" ? "Deno.connectTls has no protocol-version option" : null,
};

if (import.meta.main) await main(impl);
