/**
 * Attack: make the victim answer, never read the answers. Some records make
 * OpenSSL write while reading: a TLS 1.3 KeyUpdate(update_requested) gets a
 * KeyUpdate back, a TLS 1.2 HelloRequest or renegotiation ClientHello gets a
 * no_renegotiation warning alert (a 4-byte message, a 31-byte answer). Reads
 * never wait for the write side, so a peer that sends these and does not read
 * made the write BIO grow without limit (141 MiB within one read()).
 *
 * Expected: the connection fails with a SecureSocketError once the unsent
 * output passes a fixed limit, the socket is closed, and the process's
 * memory grows by a bounded amount (a generous threshold here: the limit is
 * 1 MiB). Refused renegotiations are not counted separately: the output
 * limit bounds them (see lib/io_engine.ts).
 *
 * The attacker (tests/security/peers/output_flood_peer.ts) runs in its own
 * process, connected to the victim by a Unix socket: the kernel holds at most
 * the sender's socket buffer (about 200 KiB, no autotuning as with TCP on
 * loopback), so the answers back up in the victim whatever the machine's load.
 */
import assert from "node:assert/strict";
import { SecureSocket, SecureSocketError, SocketClosedError, TruncatedStreamError } from "../../mod.ts";
import {
  clientContext,
  type Outcome,
  type Peer,
  serverContext,
  settle,
  spawnPeer,
  stopPeer,
  within,
} from "../helpers.ts";

/** RSS growth allowed while the victim reads the flood (the output limit is 1 MiB). */
const RSS_GROWTH_LIMIT = 24 * 1024 * 1024;

/** The attacker in `mode` on the Unix socket `path`, once it printed `ready`. */
async function attacker(mode: string, path: string, ready: RegExp): Promise<Peer> {
  const script = new URL("./peers/output_flood_peer.ts", import.meta.url).pathname;
  const peer = spawnPeer(Deno.execPath(), ["run", "-A", script, mode, path]);
  try {
    await peer.waitFor(ready, 20_000);
    return peer;
  } catch (error) {
    await stopPeer(peer);
    throw error;
  }
}

/** A fresh path for a Unix socket. */
async function socketPath(): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "secsock-flood-", suffix: ".sock" });
  await Deno.remove(path);
  return path;
}

/**
 * The victim reads until its read fails (or the flood's "END" arrives, which
 * means it read the whole flood without failing); returns how the reads
 * ended and the RSS growth meanwhile.
 */
async function victimReads(socket: SecureSocket): Promise<{ end: Outcome<string>; growth: number }> {
  const rss = Deno.memoryUsage().rss;
  const buffer = new Uint8Array(65536);
  const end = await settle((async () => {
    let text = "";
    while (!text.includes("END")) {
      const n = await socket.read(buffer);
      if (n === null) return `${text}<close_notify>`;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text;
  })());
  return { end, growth: Deno.memoryUsage().rss - rss };
}

/** The flood was refused as it should be: the output-limit error, the socket closed, memory bounded. */
async function assertCutOff(socket: SecureSocket, outcome: { end: Outcome<string>; growth: number }) {
  const { end, growth } = outcome;
  const mib = (growth / 1048576).toFixed(1);
  assert.ok(!end.ok, `the victim read the whole flood (RSS +${mib} MiB) without failing: ${end.ok && end.value}`);
  const error = end.error;
  assert.ok(error instanceof SecureSocketError, `not a SecureSocketError: ${error}`);
  assert.ok(!(error instanceof TruncatedStreamError) && !(error instanceof SocketClosedError), `${error}`);
  assert.match(error.message, /does not read/);
  // The socket was closed, and later calls report the same failure.
  await assert.rejects(socket.read(new Uint8Array(16)), (later) => later === error);
  assert.ok(growth < RSS_GROWTH_LIMIT, `RSS grew by ${mib} MiB during the flood`);
}

/** A victim client against an attacking server (`mode`). */
async function floodedClient(mode: string, cctxOptions: Parameters<typeof clientContext>[0]): Promise<void> {
  using cctx = clientContext(cctxOptions);
  const path = await socketPath();
  const peer = await attacker(mode, path, /LISTENING/);
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    const victim = await within(SecureSocket.startTls(conn, cctx, { hostname: "localhost" }), 10_000, "handshake");
    try {
      await assertCutOff(victim, await within(victimReads(victim), 60_000, "the victim's reads"));
    } finally {
      victim.close();
    }
  } finally {
    await stopPeer(peer);
    await Deno.remove(path).catch(() => {});
  }
}

Deno.test("attack: TLS 1.3 KeyUpdate(update_requested) flood from a server that never reads", async () => {
  await floodedClient("key-update", {});
});

Deno.test("attack: TLS 1.2 HelloRequest flood from a server that never reads", async () => {
  await floodedClient("hello-request", { maxVersion: "TLSv1.2" });
});

Deno.test("attack: TLS 1.2 renegotiation ClientHello flood from a client that never reads", async () => {
  using sctx = serverContext({ maxVersion: "TLSv1.2" });
  const path = await socketPath();
  const listener = Deno.listen({ transport: "unix", path });
  const accepted = listener.accept();
  const peer = await attacker("client-hello", path, /CONNECTED/);
  try {
    const conn = await within(accepted, 10_000, "accept");
    const victim = await within(SecureSocket.startTls(conn, sctx, { server: true }), 10_000, "handshake");
    try {
      await assertCutOff(victim, await within(victimReads(victim), 60_000, "the victim's reads"));
    } finally {
      victim.close();
    }
  } finally {
    listener.close();
    await stopPeer(peer);
    await Deno.remove(path).catch(() => {});
  }
});
