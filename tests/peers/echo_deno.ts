/**
 * An echo server in its own process, for the I/O contract tests:
 *
 *   deno run -A tests/peers/echo_deno.ts <deno|secsock>
 *
 * `deno` serves with Deno.listenTls (rustls), `secsock` with
 * SecureSocketListener. Each connection echoes what it reads (reading again
 * only once the echo was written, so a client that stops reading stops it)
 * until the client's close_notify, then sends its own. Prints
 * "LISTENING <port>"; runs until killed.
 */
import { SecureSocketContext, SecureSocketListener } from "../../mod.ts";

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

interface Echoing {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}

async function echo(conn: Echoing): Promise<void> {
  const buffer = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      for (let sent = 0; sent < n;) sent += await conn.write(buffer.subarray(sent, n));
    }
    await conn.closeWrite();
  } catch {
    // A client that closes abruptly (a failing test) ends only its connection.
  } finally {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

const kind = Deno.args[0];
if (kind === "deno") {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: Deno.readTextFileSync(fixture("server-chain.pem")),
    key: Deno.readTextFileSync(fixture("server.key")),
  });
  console.log(`LISTENING ${listener.addr.port}`);
  for await (const conn of listener) void echo(conn);
} else if (kind === "secsock") {
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  ctx.useCertificateChainFile(fixture("server-chain.pem"));
  ctx.usePrivateKeyFile(fixture("server.key"));
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  console.log(`LISTENING ${listener.addr.port}`);
  for await (const socket of listener) void echo(socket);
} else {
  console.error("usage: echo_deno.ts <deno|secsock>");
  Deno.exit(2);
}
