/**
 * Interop with the openssl CLI: our client against `openssl s_server`, and
 * `openssl s_client` against our SecureSocketListener.
 */
import assert from "node:assert/strict";
import { type SecureSocket, SecureSocketListener, VerifyMode, X509Certificate } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  dec,
  enc,
  fixture,
  fixturePath,
  readAll,
  readExactly,
  readUntil,
  serverContext,
  sha256,
  stopPeer,
  VERSIONS,
  waitExit,
  within,
} from "./helpers.ts";
import {
  clientCertArgs,
  hexLines,
  opensslClient,
  opensslServer,
  SERVER_CHAIN_SUBJECTS,
  serverCertArgs,
  type ServerLeaf,
  strictClientArgs,
  TLS13_CIPHER,
  versionFlag,
} from "./peers/openssl.ts";

const reverse = (line: string) => [...line.replace(/\n$/, "")].reverse().join("") + "\n";

const CIPHER_TLS12: Record<string, RegExp> = {
  "server": /^ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/,
  "server-ec": /^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/,
  // Ed25519 authenticates the ECDSA cipher suites in TLS 1.2.
  "server-ed25519": /^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/,
};

for (const leaf of ["server", "server-ec", "server-ed25519"] as ServerLeaf[]) {
  for (const version of VERSIONS) {
    Deno.test(`secsock client ↔ openssl s_server -rev: ${leaf} chain, ${version}`, async () => {
      const peer = await opensslServer([...serverCertArgs(leaf), "-rev", "-naccept", "1", versionFlag(version)]);
      using client = clientContext();
      let socket: SecureSocket | null = null;
      try {
        socket = await within(connectLocal(client, peer.port), 10_000, "handshake with s_server");
        assert.equal(socket.protocol, version);
        assert.match(socket.cipher ?? "", version === "TLSv1.3" ? TLS13_CIPHER : CIPHER_TLS12[leaf]);
        assert.equal(socket.isServer, false);

        const expectedLeaf = X509Certificate.fromPEM(fixture(`${leaf}.pem`));
        const peerCert = socket.peerCertificate;
        assert.ok(peerCert);
        assert.equal(peerCert.subject, "CN=localhost,O=secsock");
        assert.equal(peerCert.issuer, "CN=secsock Test Intermediate CA,O=secsock");
        assert.equal(peerCert.fingerprint256, expectedLeaf.fingerprint256);
        const chain = socket.peerCertificateChain;
        assert.deepEqual(chain.map((c) => c.subject), SERVER_CHAIN_SUBJECTS);
        assert.equal(chain[0].fingerprint256, expectedLeaf.fingerprint256);
        assert.equal(
          chain[1].fingerprint256,
          X509Certificate.fromPEM(fixture("intermediate.pem")).fingerprint256,
        );

        // s_server -rev answers each line reversed: bytes checked both ways.
        const lines = hexLines(48, 1500, leaf.length + version.length);
        const expected = lines.map(reverse).join("");
        const [, received] = await Promise.all([
          socket.write(enc(lines.join(""))),
          within(readExactly(socket, expected.length), 10_000, "reversed lines"),
        ]);
        assert.equal(received.length, expected.length);
        assert.equal(await sha256(received), await sha256(enc(expected)));

        // "CLOSE" makes s_server shut down with close_notify: a clean end for us.
        await socket.write(enc("CLOSE\n"));
        assert.equal(dec(await within(readAll(socket), 10_000, "clean end from s_server")), "");
      } finally {
        socket?.close();
        await stopPeer(peer);
      }
      assert.match(peer.output(), new RegExp(`Protocol version: ${version.replace(".", "\\.")}`));
    });
  }
}

Deno.test("secsock client ↔ openssl s_server stdin/stdout: bytes both ways", async () => {
  const peer = await opensslServer([...serverCertArgs("server"), "-naccept", "1"]);
  using client = clientContext();
  let socket: SecureSocket | null = null;
  try {
    socket = await within(connectLocal(client, peer.port), 10_000, "handshake with s_server");
    assert.equal(socket.protocol, "TLSv1.3");
    // Ours → s_server's stdout.
    await socket.write(enc("from-secsock-0123456789\n"));
    await peer.waitFor(/from-secsock-0123456789/);
    // s_server's stdin → ours.
    await peer.send("from-s_server-9876543210\n");
    assert.equal(await within(readUntil(socket, "\n"), 10_000, "line from s_server"), "from-s_server-9876543210\n");
    await socket.closeWrite();
  } finally {
    socket?.close();
    await stopPeer(peer);
  }
});

/**
 * One-connection secsock server for s_client: reads lines until "END\n",
 * answers with a digest and some bulk text, sends close_notify, then reads
 * until s_client's own close.
 */
function replyServer(options: { requireClientCert?: boolean } = {}) {
  const ctx = serverContext(
    options.requireClientCert
      ? { verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert, ca: fixture("ca.pem") }
      : {},
  );
  const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0 });
  const result = (async () => {
    const socket = await listener.accept();
    try {
      await socket.handshake();
      const request = await readUntil(socket, "END\n");
      const reply = `DIGEST ${await sha256(enc(request))}\n` + hexLines(20, 1000, 7).join("") + "BYE\n";
      await socket.write(enc(reply));
      await socket.closeWrite();
      let end: "clean" | unknown;
      try {
        const rest = await readAll(socket);
        end = rest.length === 0 ? "clean" : `extra bytes: ${dec(rest)}`;
      } catch (error) {
        end = error;
      }
      return {
        request,
        reply,
        end,
        protocol: socket.protocol,
        cipher: socket.cipher,
        servername: socket.servername,
        peerSubject: socket.peerCertificate?.subject ?? null,
      };
    } finally {
      socket.close();
    }
  })();
  return {
    port: listener.addr.port,
    result,
    close() {
      listener.close();
      ctx.close();
    },
  };
}

for (const version of VERSIONS) {
  Deno.test(`openssl s_client ↔ secsock server: ${version}, verify ok, bytes both ways`, async () => {
    const server = replyServer();
    const peer = opensslClient(server.port, [...strictClientArgs(), "-ign_eof", versionFlag(version)]);
    try {
      const lines = hexLines(30, 500, 3).join("") + "END\n";
      await peer.send(lines);
      const result = await within(server.result, 15_000, "secsock server exchange");
      assert.equal(result.request, lines);
      assert.equal(result.protocol, version);
      assert.equal(result.servername, "localhost");
      assert.equal(result.peerSubject, null);
      assert.equal(result.end, "clean", `s_client should end with close_notify, got ${String(result.end)}`);
      // s_client exits by itself once we closed (close_notify → "closed").
      const { status, exited } = await waitExit(peer, 10_000);
      assert.ok(exited, `s_client did not exit:\n${peer.output()}`);
      assert.equal(status.code, 0, peer.output());
      const output = peer.output();
      assert.match(output, /Verify return code: 0 \(ok\)/);
      assert.match(
        output,
        version === "TLSv1.3" ? /(New, TLSv1\.3,|Protocol\s*:\s*TLSv1\.3)/ : /(New, TLSv1\.2,|Protocol\s*:\s*TLSv1\.2)/,
      );
      assert.ok(output.includes(result.reply), "our reply must appear verbatim in s_client's output");
      assert.match(output, new RegExp(`DIGEST ${await sha256(enc(lines))}`));
    } finally {
      await stopPeer(peer);
      server.close();
      await server.result.catch(() => {});
    }
  });
}

Deno.test("openssl s_client with a client certificate ↔ secsock server requiring one", async () => {
  const server = replyServer({ requireClientCert: true });
  const peer = opensslClient(server.port, [
    ...clientCertArgs(),
    "-CAfile",
    fixturePath("ca.pem"),
    "-servername",
    "localhost",
    "-verify_return_error",
    "-ign_eof",
  ]);
  try {
    await peer.send("hello\nEND\n");
    const result = await within(server.result, 15_000, "secsock server exchange");
    assert.equal(result.request, "hello\nEND\n");
    assert.equal(result.peerSubject, "CN=secsock client,O=secsock");
    assert.equal(result.end, "clean");
    const { exited } = await waitExit(peer, 10_000);
    assert.ok(exited, peer.output());
    assert.match(peer.output(), /Verify return code: 0 \(ok\)/);
    assert.ok(peer.output().includes("BYE\n"));
  } finally {
    await stopPeer(peer);
    server.close();
    await server.result.catch(() => {});
  }
});
