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
 * process on a Unix socket, relayed to the victim's TCP connection by socat
 * with 4 KiB buffers, so the answers back up after a few KiB in the kernel.
 */
import assert from "node:assert/strict";
import {
  type SecureSocket,
  SecureSocketError,
  SecureSocketListener,
  SocketClosedError,
  TruncatedStreamError,
} from "../../mod.ts";
import {
  clientContext,
  connectLocal,
  freePort,
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

const SMALL = "rcvbuf=4096,sndbuf=4096";

/** Starts `spawn` and waits for `pattern` in its output; stops it if that fails. */
async function started(peer: Peer, pattern: RegExp): Promise<Peer> {
  try {
    await peer.waitFor(pattern, 20_000);
    return peer;
  } catch (error) {
    await stopPeer(peer);
    throw error;
  }
}

/** The attacker in `mode`, on a fresh Unix socket path. */
function attacker(mode: string, path: string): Peer {
  return spawnPeer(Deno.execPath(), [
    "run",
    "-A",
    new URL("./peers/output_flood_peer.ts", import.meta.url).pathname,
    mode,
    path,
  ]);
}

/** socat between `a` and `b`, with 4 KiB buffers and 4 KiB reads. */
function relay(a: string, b: string): Peer {
  return spawnPeer("socat", ["-d", "-d", "-b", "4096", a, b]);
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

/** A victim client against an attacking server (`mode`) behind the relay. */
async function floodedClient(mode: string, cctxOptions: Parameters<typeof clientContext>[0]): Promise<void> {
  using cctx = clientContext(cctxOptions);
  const path = await Deno.makeTempFile({ prefix: "secsock-flood-", suffix: ".sock" });
  await Deno.remove(path);
  const peer = await started(attacker(mode, path), /LISTENING/);
  const port = freePort();
  const socat = await started(
    relay(`TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,${SMALL}`, `UNIX-CONNECT:${path},${SMALL}`),
    /listening on/,
  );
  try {
    const victim = await within(connectLocal(cctx, port), 10_000, "client handshake");
    try {
      await assertCutOff(victim, await within(victimReads(victim), 60_000, "the victim's reads"));
    } finally {
      victim.close();
    }
  } finally {
    await stopPeer(socat);
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
  const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
  const path = await Deno.makeTempFile({ prefix: "secsock-flood-", suffix: ".sock" });
  await Deno.remove(path);
  const socat = await started(
    relay(`UNIX-LISTEN:${path},${SMALL}`, `TCP:127.0.0.1:${listener.addr.port},${SMALL}`),
    /listening on/,
  );
  const peer = await started(attacker("client-hello", path), /CONNECTED/);
  try {
    const victim = await within(listener.accept(), 10_000, "accept");
    try {
      await within(victim.handshake(), 10_000, "server handshake");
      await assertCutOff(victim, await within(victimReads(victim), 60_000, "the victim's reads"));
    } finally {
      victim.close();
    }
  } finally {
    listener.close();
    await stopPeer(peer);
    await stopPeer(socat);
    await Deno.remove(path).catch(() => {});
  }
});
