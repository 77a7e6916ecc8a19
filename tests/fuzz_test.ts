/**
 * Bounded-time fuzzing (issue 4): mutated real ClientHellos (from secsock and
 * from Node, TLS 1.3 and 1.2 offers) and random byte streams are thrown at
 * two secsock servers (one also requesting client certificates), each with a
 * handshake time limit. No input may crash the process, hang a connection
 * (each must be dropped within the limit), fail with anything but a
 * HandshakeError, or stop the servers from accepting: good clients handshake
 * at the end.
 *
 * SECSOCK_FUZZ_SECONDS (default 20) bounds the run; SECSOCK_FUZZ_SEED
 * replays one (the seed is printed).
 */
import { type SeededRng, seededRng as rng } from "./seeded_rng.ts";
import assert from "node:assert/strict";
import { HandshakeError, SecureSocket, type SecureSocketContext, SecureSocketError, VerifyMode } from "../mod.ts";
import { liveSocketCount } from "../lib/callbacks/connection.ts";
import {
  clientContext,
  concat,
  fixture,
  hasPeer,
  readAll,
  serverContext,
  settle,
  TestServer,
  within,
} from "./helpers.ts";
import { BufferedReader, captureClientHello, chosenClientCertificate, nodeScript, rawConnect } from "./matrix_utils.ts";

const SECONDS = Number(Deno.env.get("SECSOCK_FUZZ_SECONDS") ?? 20);
const SEED = Number(Deno.env.get("SECSOCK_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const HANDSHAKE_TIMEOUT = 500;
const WORKERS = 12;

/** Node's ClientHello, captured by a plain listener. */
async function nodeClientHello(maxVersion?: string): Promise<Uint8Array> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = nodeScript("matrix_fault_peer.mjs", [
    "hello",
    String(listener.addr.port),
    ...(maxVersion ? [maxVersion] : []),
  ]);
  try {
    const conn = await within(listener.accept(), 10_000, "node to connect");
    try {
      const reader = new BufferedReader(conn);
      const header = await reader.readExactly(5);
      return concat([header, await reader.readExactly((header[3] << 8) | header[4])]);
    } finally {
      conn.close();
    }
  } finally {
    listener.close();
    await peer.stop();
  }
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

function mutate(r: SeededRng, seeds: Uint8Array[]): { name: string; data: Uint8Array } {
  const kind = r.int(12);
  if (kind === 0) return { name: "random bytes", data: r.bytes(1 + r.int(4096)) };
  if (kind === 1) {
    // Looks like a handshake record, the body is noise.
    const body = r.bytes(r.int(1024));
    const data = concat([new Uint8Array([0x16, 0x03, r.int(5), body.length >> 8, body.length & 0xff]), body]);
    return { name: "random handshake record", data };
  }
  let data: Uint8Array = Uint8Array.from(r.pick(seeds));
  const names: string[] = [];
  const rounds = 1 + r.int(3);
  for (let i = 0; i < rounds; i++) {
    const op = r.int(9);
    const at = r.int(data.length);
    switch (op) {
      case 0: {
        for (let k = 1 + r.int(8); k > 0; k--) data[r.int(data.length)] ^= 1 << r.int(8);
        names.push("flip bits");
        break;
      }
      case 1: {
        for (let k = 1 + r.int(4); k > 0; k--) data[r.int(data.length)] = r.pick(INTERESTING);
        names.push("set bytes");
        break;
      }
      case 2:
        data = concat([data.subarray(0, at), r.bytes(1 + r.int(64)), data.subarray(at)]);
        names.push("insert");
        break;
      case 3:
        data = concat([data.subarray(0, at), data.subarray(Math.min(data.length, at + 1 + r.int(64)))]);
        names.push("delete");
        break;
      case 4:
        data = data.subarray(0, at);
        names.push("truncate");
        break;
      case 5: {
        const len = 1 + r.int(64);
        data = concat([data.subarray(0, at + len), data.subarray(at, at + len), data.subarray(at + len)]);
        names.push("duplicate");
        break;
      }
      case 6: {
        // A 16- or 24-bit length field (record, handshake, or anywhere) set to an extreme.
        const offset = r.pick([3, 6, 7, 43, 44, at]);
        if (offset + 1 < data.length) {
          const value = r.pick([
            0,
            1,
            0xffff,
            ((data[offset] << 8) | data[offset + 1]) + 1,
            ((data[offset] << 8) | data[offset + 1]) - 1,
          ]);
          data[offset] = (value >> 8) & 0xff;
          data[offset + 1] = value & 0xff;
        }
        names.push("length field");
        break;
      }
      case 7: {
        const other = r.pick(seeds);
        data = concat([data.subarray(0, at), other.subarray(r.int(other.length))]);
        names.push("splice");
        break;
      }
      case 8: {
        // Re-fragment the handshake into two records (legal), then keep mutating.
        if (data.length > 10) {
          const body = data.subarray(5);
          const cut = r.int(body.length);
          const rec = (b: Uint8Array) =>
            concat([new Uint8Array([data[0], data[1], data[2], b.length >> 8, b.length & 0xff]), b]);
          data = concat([rec(body.subarray(0, cut)), rec(body.subarray(cut))]);
        }
        names.push("fragment");
        break;
      }
    }
  }
  return { name: names.join("+"), data };
}

type Served = { port: number; error: unknown };

Deno.test({
  name: `fuzz: ${SECONDS} s of mutated ClientHellos and random bytes against secsock servers`,
  async fn() {
    const before = liveSocketCount();
    const r = rng(SEED);
    using cctx = clientContext();
    using cctx12 = clientContext({ maxVersion: "TLSv1.2" });
    const seeds = [
      await captureClientHello(cctx),
      await captureClientHello(cctx12),
      ...(hasPeer("node") ? [await nodeClientHello(), await nodeClientHello("TLSv1.2")] : []),
    ];
    for (const s of seeds) assert.equal(s[0], 0x16, "a captured ClientHello is a handshake record");

    using plain = serverContext();
    using mutual = serverContext({ ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert });
    const handler = async (s: SecureSocket): Promise<Served> => {
      const port = (s.remoteAddr as Deno.NetAddr).port;
      try {
        await s.handshake();
        return { port, error: null };
      } catch (error) {
        return { port, error };
      }
    };
    const servers = [
      new TestServer(plain, handler, { handshakeTimeout: HANDSHAKE_TIMEOUT }),
      new TestServer(mutual, handler, { handshakeTimeout: HANDSHAKE_TIMEOUT }),
    ];
    const inputs = new Map<number, { name: string; data: Uint8Array }>();
    const kinds = new Map<string, number>();
    let cases = 0;
    let slowest = 0;
    const deadline = performance.now() + SECONDS * 1000;
    try {
      const worker = async (id: number) => {
        while (performance.now() < deadline) {
          const server = servers[(id + cases) % servers.length];
          const input = mutate(r, seeds);
          const keepOpen = r.float() < 0.25;
          const conn = await rawConnect(server.port);
          inputs.set(conn.localAddr.port, input);
          const started = performance.now();
          try {
            await conn.write(input.data).catch(() => {});
            if (!keepOpen) await conn.closeWrite().catch(() => {});
            // Whatever it got, the server must let go of the connection in time.
            await within(
              settle(readAll(conn)),
              HANDSHAKE_TIMEOUT + 5000,
              `the server to drop a fuzzed connection (${input.name}, seed ${SEED})`,
            );
          } finally {
            conn.close();
          }
          slowest = Math.max(slowest, performance.now() - started);
          cases++;
          const kind = input.name.split("+")[0];
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));

      // Every connection ended in a HandshakeError (or, rarely, a real handshake).
      const unexpected: string[] = [];
      const reasons = new Map<string, number>();
      let handshakes = 0;
      for (const server of servers) {
        for (let i = 0; i < server.accepted; i++) {
          const outcome = await server.outcome(i, 10_000);
          assert.ok(outcome.ok);
          const { port, error } = outcome.value;
          if (error === null) {
            handshakes++;
            continue;
          }
          const reason = error instanceof SecureSocketError
            ? (error.openssl[0]?.reason ?? error.message.replace(/\d+/g, "N"))
            : String(error);
          reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
          if (!(error instanceof HandshakeError)) {
            const input = inputs.get(port);
            unexpected.push(
              `${(error as Error)?.constructor?.name}: ${(error as Error)?.message} ← ${input?.name} ${
                Array.from(input?.data.subarray(0, 48) ?? [], (b) => b.toString(16).padStart(2, "0")).join("")
              }…`,
            );
          }
        }
        assert.deepEqual(server.acceptErrors, [], "accept errors");
      }
      const accepted = servers.reduce((n, s) => n + s.accepted, 0);
      console.log(
        `fuzz: seed ${SEED}, ${cases} inputs in ${SECONDS} s (${accepted} connections accepted, ${handshakes} completed ` +
          `handshakes, slowest drop ${Math.round(slowest)} ms)\n  inputs: ${
            [...kinds].map(([k, n]) => `${k} ${n}`).join(", ")
          }\n  top reasons: ${
            [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, n]) => `${k} ×${n}`).join("; ")
          }`,
      );
      assert.equal(accepted, cases, "every input reached a server");
      assert.ok(cases > 100, `only ${cases} inputs in ${SECONDS} s`);
      assert.deepEqual(
        unexpected.slice(0, 10),
        [],
        `${unexpected.length} inputs ended in something else than HandshakeError`,
      );

      // The servers still accept and complete handshakes.
      await assertGoodClient(servers[0].port, cctx);
      using withCert = clientContext();
      withCert.setClientCertificateCallback(() => chosenClientCertificate());
      await assertGoodClient(servers[1].port, withCert);
    } finally {
      for (const server of servers) await server.close();
    }
    assert.equal(liveSocketCount(), before, "native sockets left behind");
  },
});

async function assertGoodClient(port: number, ctx: SecureSocketContext): Promise<void> {
  const socket = await within(
    SecureSocket.connect(ctx, { hostname: "127.0.0.1", servername: "localhost", port }),
    10_000,
    "a good client after the fuzzing",
  );
  try {
    assert.equal(socket.protocol, "TLSv1.3");
  } finally {
    socket.close();
  }
}
