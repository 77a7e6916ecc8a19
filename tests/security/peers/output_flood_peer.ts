/**
 * A hostile peer that sends records the victim must answer and never reads
 * the answers, in its own process (so the victim's memory is measured alone):
 *
 *   deno run -A tests/security/peers/output_flood_peer.ts <mode> <unix socket path>
 *
 * It talks to the victim over a Unix socket (the kernel then buffers little
 * of the victim's answers, without TCP's autotuning), so they back up in
 * the victim. Modes:
 * - `key-update`: listens; a TLS 1.3 server (secsock) sending 150,000
 *   KeyUpdate(update_requested) messages;
 * - `hello-request`: listens; a TLS 1.2 server writing 256 records of 4096
 *   HelloRequests each by hand;
 * - `client-hello`: connects; a TLS 1.2 client writing 300,000 renegotiation
 *   "ClientHello"s of 4 bytes, one per record, by hand.
 * Each ends the flood with "END" as application data. Prints "LISTENING" (or
 * "CONNECTED"), then "SENT" or "STOPPED <reason>"; runs until killed.
 */
import { SecureSocket } from "../../../mod.ts";
import { clientContext, enc, serverContext } from "../../helpers.ts";
import { APPLICATION_DATA, HANDSHAKE, RAW_CIPHER, rawTls12Client, rawTls12Server, writeRaw } from "./raw_tls12.ts";

const [mode, path] = Deno.args;

async function keyUpdates(conn: Deno.Conn<Deno.Addr>): Promise<string> {
  using ctx = serverContext({ minVersion: "TLSv1.3" });
  const socket = await SecureSocket.startTls(conn, ctx, { server: true });
  for (let sent = 0; sent < 150_000; sent += 1000) {
    const results = await Promise.allSettled(Array.from({ length: 1000 }, () => socket.updateKeys(true)));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) return `STOPPED after ${sent}: ${(failed as PromiseRejectedResult).reason}`;
  }
  await socket.write(enc("END"));
  return "SENT";
}

async function helloRequests(conn: Deno.Conn<Deno.Addr>): Promise<string> {
  const peer = await rawTls12Server(conn);
  // 4096 HelloRequests per record (type 0, length 0): a no_renegotiation alert for each.
  for (let i = 0; i < 256; i++) {
    if (!await writeRaw(conn, peer.record(HANDSHAKE, new Uint8Array(16384)))) return `STOPPED after ${i} records`;
  }
  await writeRaw(conn, peer.record(APPLICATION_DATA, enc("END")));
  return "SENT";
}

async function clientHellos(conn: Deno.Conn<Deno.Addr>): Promise<string> {
  using ctx = clientContext({ maxVersion: "TLSv1.2", ciphers: RAW_CIPHER });
  const peer = await rawTls12Client(conn, ctx);
  const hello = Uint8Array.of(1, 0, 0, 0);
  for (let sent = 0; sent < 300_000; sent += 2000) {
    const records = Array.from({ length: 2000 }, () => peer.record(HANDSHAKE, hello));
    const batch = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
    records.reduce((offset, r) => (batch.set(r, offset), offset + r.length), 0);
    if (!await writeRaw(conn, batch)) return `STOPPED after ${sent}`;
  }
  await writeRaw(conn, peer.record(APPLICATION_DATA, enc("END")));
  return "SENT";
}

let conn: Deno.Conn<Deno.Addr>;
if (mode === "client-hello") {
  conn = await Deno.connect({ transport: "unix", path });
  console.log("CONNECTED");
} else {
  const listener = Deno.listen({ transport: "unix", path });
  console.log("LISTENING");
  conn = await listener.accept();
  listener.close();
}
let outcome: string;
try {
  outcome = await (mode === "key-update" ? keyUpdates : mode === "hello-request" ? helloRequests : clientHellos)(conn);
} catch (error) {
  outcome = `STOPPED: ${error}`;
}
console.log(outcome);
// Never reads; the test kills this process.
setInterval(() => {}, 60_000);
