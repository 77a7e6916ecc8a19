/**
 * Issue 7 — key logging and keying material, checked against the other end's
 * own secrets: Node's tls emits a 'keylog' event per NSS key log line and
 * exports keying material (RFC 5705 / RFC 8446 §7.5) and Finished messages.
 *
 * (A capture decrypted with tshark would be a third witness; tshark is not
 * part of the peer set here, so the Node cross-checks carry the proof.)
 */
import assert from "node:assert/strict";
import { SecureSocket, SecureSocketError } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  enc,
  hex,
  peerScript,
  readUntil,
  serverContext,
  spawnPeer,
  stopPeer,
  unhex,
  type Version,
  VERSIONS,
  waitExit,
  within,
} from "./helpers.ts";
import {
  assertRejected,
  assertServed,
  closeAndDrain,
  drain,
  type NodeReport,
  nodeTls,
  oneShotServer,
  serverHandshake,
  withServer,
} from "./peers/features_utils.ts";

const LABELS: Record<Version, string[]> = {
  "TLSv1.2": ["CLIENT_RANDOM"],
  "TLSv1.3": [
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
    "CLIENT_TRAFFIC_SECRET_0",
    "EXPORTER_SECRET",
    "SERVER_HANDSHAKE_TRAFFIC_SECRET",
    "SERVER_TRAFFIC_SECRET_0",
  ],
};

/** NSS key log line: label, 32-byte client random, secret (hex). */
const NSS_LINE = /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,}$/;

function checkLines(lines: string[], version: Version): void {
  for (const line of lines) assert.match(line, NSS_LINE);
  assert.deepEqual([...new Set(lines.map((l) => l.split(" ")[0]))].sort(), LABELS[version]);
  // One connection: one client random throughout.
  assert.equal(new Set(lines.map((l) => l.split(" ")[1])).size, 1);
}

/** One end's view of the exported secrets. */
interface View {
  ekm: string[];
  finished: string;
  peerFinished: string;
}

const sorted = (lines: string[]) => [...lines].sort();

/** Keying material requests made on both ends: [label, length, context hex or null]. */
const EKM: [string, number, string | null][] = [
  ["EXPERIMENTAL secsock", 32, null],
  ["EXPERIMENTAL secsock", 48, "00ff10203040"],
  ["EXPERIMENTAL secsock", 32, ""],
  ["EXPERIMENTAL other label", 16, null],
];

function ekmOf(socket: SecureSocket): string[] {
  return EKM.map(([label, length, context]) =>
    hex(socket.exportKeyingMaterial(label, length, context === null ? undefined : unhex(context)))
  );
}

function checkEkmShape(values: string[], version: Version): void {
  assert.deepEqual(values.map((v) => v.length / 2), EKM.map(([, length]) => length));
  // TLS 1.2 (RFC 5705) tells "no context" from "empty context"; TLS 1.3 (RFC 8446 §7.5) does not.
  if (version === "TLSv1.2") assert.notEqual(values[0], values[2]);
  else assert.equal(values[0], values[2]);
  const distinct = [values[0], values[1], values[3]];
  assert.equal(new Set(distinct).size, 3, "different labels/contexts give different material");
}

for (const version of VERSIONS) {
  Deno.test(`keylog + EKM + Finished: secsock client ↔ Node tls server (${version})`, async () => {
    const node = await nodeTls({ role: "server", maxVersion: version, ekm: EKM });
    using ctx = clientContext();
    const lines: string[] = [];
    const owners = new Set<SecureSocket>();
    ctx.setKeylogCallback((socket, line) => {
      owners.add(socket);
      lines.push(line);
    });
    const socket = new SecureSocket(ctx, { hostname: "127.0.0.1", servername: "localhost" });
    let ours: string[];
    let finished: [string | null, string | null];
    try {
      await within(socket.connect({ hostname: "127.0.0.1", port: node.port }), 10_000, "handshake");
      await socket.write(enc("hello\n"));
      assert.equal(await within(readUntil(socket, "\n"), 10_000, "echo"), "hello\n");
      assert.equal(socket.protocol, version);
      ours = ekmOf(socket);
      const f = socket.getFinished(), pf = socket.getPeerFinished();
      finished = [f && hex(f), pf && hex(pf)];
      await drain(socket);
    } finally {
      socket.close();
    }
    const report = await within(node.report(), 10_000, "node report");
    await node.close();

    assert.deepEqual([...owners], [socket], "the callback gets the connection's socket");
    checkLines(lines, version);
    assert.deepEqual(sorted(lines), sorted(report.keylog), "our key log lines = the Node server's");

    checkEkmShape(ours, version);
    assert.deepEqual(ours, report.ekm, "our keying material = the Node server's");

    if (version === "TLSv1.2") {
      // tls-unique: each end's Finished is the other's peer Finished.
      assert.ok(finished[0] && finished[1]);
      assert.equal(finished[0], report.peerFinished);
      assert.equal(finished[1], report.finished);
      assert.notEqual(finished[0], finished[1]);
    }
  });

  Deno.test(`keylog + EKM + Finished: Node tls client ↔ secsock server (${version})`, async () => {
    using ctx = serverContext({ maxVersion: version });
    const lines: string[] = [];
    const owners = new Set<SecureSocket>();
    ctx.setKeylogCallback((socket, line) => {
      owners.add(socket);
      lines.push(line);
    });
    let ours: string[] = [];
    let finished: [string | null, string | null] = [null, null];
    const server = oneShotServer(ctx, async (socket) => {
      await serverHandshake(socket);
      const line = await within(readUntil(socket, "\n"), 10_000, "line");
      await socket.write(enc(line));
      ours = ekmOf(socket);
      const f = socket.getFinished(), pf = socket.getPeerFinished();
      finished = [f && hex(f), pf && hex(pf)];
      await closeAndDrain(socket);
    });
    let report: NodeReport | undefined;
    const [result] = await withServer(server, async () => {
      const node = await nodeTls({ role: "client", port: server.port, servername: "localhost", ekm: EKM });
      report = await within(node.report(), 10_000, "node report");
      await node.close();
    });
    assertServed(result, "connection");
    assert.ok(report);
    assert.equal(report.protocol, version);
    assert.deepEqual([...owners], [server.sockets[0]]);
    checkLines(lines, version);
    assert.deepEqual(sorted(lines), sorted(report.keylog), "our key log lines = the Node client's");
    checkEkmShape(ours, version);
    assert.deepEqual(ours, report.ekm, "our keying material = the Node client's");
    if (version === "TLSv1.2") {
      assert.equal(finished[0], report.peerFinished);
      assert.equal(finished[1], report.finished);
    }
  });

  Deno.test(`keylog + EKM + Finished: secsock client ↔ secsock server (${version})`, async () => {
    using serverCtx = serverContext({ maxVersion: version });
    using clientCtx = clientContext();
    const serverLines: string[] = [];
    const clientLines: string[] = [];
    serverCtx.setKeylogCallback((_s, line) => serverLines.push(line));
    clientCtx.setKeylogCallback((_s, line) => clientLines.push(line));
    const views: { server?: View; client?: View } = {};
    const server = oneShotServer(serverCtx, async (socket) => {
      await serverHandshake(socket);
      assert.throws(() => socket.exportKeyingMaterial("EXPERIMENTAL x", 0), RangeError);
      views.server = {
        ekm: ekmOf(socket),
        finished: hex(socket.getFinished() ?? new Uint8Array()),
        peerFinished: hex(socket.getPeerFinished() ?? new Uint8Array()),
      };
      await socket.write(enc("!"));
      await closeAndDrain(socket);
    });
    const [result] = await withServer(server, async () => {
      const socket = new SecureSocket(clientCtx, { hostname: "127.0.0.1", servername: "localhost" });
      try {
        assert.throws(() => socket.exportKeyingMaterial("EXPERIMENTAL x", 16), SecureSocketError);
        await within(socket.connect({ hostname: "127.0.0.1", port: server.port }), 10_000, "handshake");
        await within(socket.read(new Uint8Array(1)), 10_000, "one byte");
        views.client = {
          ekm: ekmOf(socket),
          finished: hex(socket.getFinished() ?? new Uint8Array()),
          peerFinished: hex(socket.getPeerFinished() ?? new Uint8Array()),
        };
        await closeAndDrain(socket);
      } finally {
        socket.close();
      }
    });
    assertServed(result, "connection");
    const { server: s, client: c } = views;
    assert.ok(s && c);
    checkEkmShape(c.ekm, version);
    assert.deepEqual(c.ekm, s.ekm);
    assert.equal(c.finished, s.peerFinished);
    assert.equal(c.peerFinished, s.finished);
    checkLines(clientLines, version);
    assert.deepEqual(sorted(clientLines), sorted(serverLines));
  });

  Deno.test(`keylog: SSLKEYLOGFILE in a child process matches the server's key log (${version})`, async () => {
    const dir = await Deno.makeTempDir();
    const file = `${dir}/keys.log`;
    using ctx = serverContext();
    const serverLines: string[] = [];
    ctx.setKeylogCallback((_s, line) => serverLines.push(line));
    const server = oneShotServer(ctx, async (socket) => {
      await within(socket.handshake(), 30_000, "server handshake");
      const line = await within(readUntil(socket, "\n"), 10_000, "line");
      await socket.write(enc(line));
      await closeAndDrain(socket);
    });
    const script = peerScript("features_keylog_client.ts");
    let output = "";
    const [result] = await withServer(server, async () => {
      const child = spawnPeer(Deno.execPath(), ["run", "-A", script, String(server.port), version], {
        env: { SSLKEYLOGFILE: file },
      });
      try {
        await child.waitFor(/^DONE /m, 30_000);
        assert.ok((await waitExit(child, 10_000)).exited, child.output());
      } finally {
        await stopPeer(child);
      }
      output = child.output();
    });
    assertServed(result, "connection");
    assert.match(output, new RegExp(`^DONE ${version.replace(".", "\\.")} hello$`, "m"));
    const text = await Deno.readTextFile(file);
    await Deno.remove(dir, { recursive: true });
    assert.ok(text.endsWith("\n"), "each line ends with a newline");
    const fileLines = text.trimEnd().split("\n");
    checkLines(fileLines, version);
    assert.deepEqual(sorted(fileLines), sorted(serverLines), "SSLKEYLOGFILE lines = our server's callback lines");
  });
}

Deno.test("keylog: an exception in the callback rejects the call that drove OpenSSL; null stops the lines", async () => {
  const boom = new Error("keylog callback failed");
  // Client side: connect() rejects with the same error.
  {
    using serverCtx = serverContext();
    using clientCtx = clientContext();
    clientCtx.setKeylogCallback(() => {
      throw boom;
    });
    const server = oneShotServer(serverCtx, serverHandshake);
    const outcome = await connectLocal(clientCtx, server.port).then((s) => (s.close(), null), (error) => error);
    await server.finish();
    assert.equal(outcome, boom);
  }
  // Server side: handshake() rejects with the same error.
  {
    using serverCtx = serverContext();
    serverCtx.setKeylogCallback(() => {
      throw boom;
    });
    using clientCtx = clientContext();
    const server = oneShotServer(serverCtx, serverHandshake);
    await connectLocal(clientCtx, server.port).then((s) => s.close(), () => {});
    const [result] = await server.finish();
    assert.equal(assertRejected(result), boom);
  }
  // Removing the callback stops the lines.
  {
    using serverCtx = serverContext();
    using clientCtx = clientContext();
    const lines: string[] = [];
    clientCtx.setKeylogCallback((_s, line) => lines.push(line));
    clientCtx.setKeylogCallback(null);
    const server = oneShotServer(serverCtx, serverHandshake);
    const socket = await connectLocal(clientCtx, server.port);
    socket.close();
    await server.finish();
    assert.deepEqual(lines, []);
  }
});
