/**
 * TLS 1.3 certificate compression (RFC 8879): on by default in OpenSSL 3.2+
 * (3.5 in Debian 13), absent from 3.0. `certificateCompression: false` turns
 * it off; describeState() reports the compressed-certificate handshake
 * states. On 3.0 both settings work and no state is compressed. (CI runs
 * this file on both versions: here, and in the Debian 13 root.)
 *
 * What OpenSSL 3.5 compresses by default (checked with s_client -state
 * against s_server): a client compresses its certificate on the fly for a
 * server that offers to decompress; a server sends its own compressed only
 * when it was compressed ahead of time (SSL_CTX_compress_certs(3)), so the
 * trace below uses mutual TLS and looks at the client's certificate.
 */
import assert from "node:assert/strict";
import {
  describeState,
  InfoWhere,
  opensslVersion,
  type SecureSocket,
  type SecureSocketContext,
  VerifyMode,
} from "../mod.ts";
import { clientContext, connectLocal, fixture, fixturePath, readAll, serverContext, TestServer } from "./helpers.ts";
import { opensslServer, serverCertArgs, verifiedAt } from "./peers/openssl.ts";

const [major, minor] = opensslVersion().match(/OpenSSL (\d+)\.(\d+)/)!.slice(1).map(Number);
/** OpenSSL 3.2 brought certificate compression (and compresses by default when built with a compressor). */
const compresses = major > 3 || (major === 3 && minor >= 2);

/** Records the handshake states an info callback sees that are compressed-certificate states. */
function traceCompressed(ctx: SecureSocketContext): string[] {
  const states: string[] = [];
  ctx.setInfoCallback((socket: SecureSocket, where: number) => {
    if (where & InfoWhere.Loop) {
      const state = describeState(socket);
      if (state.compressedCertificate) states.push(state.name);
    }
  });
  return states;
}

async function handshakeWith(server: { compression?: boolean }, client: { compression?: boolean }) {
  const serverCtx = serverContext({
    certificateCompression: server.compression,
    minVersion: "TLSv1.3",
    ca: fixture("ca.pem"),
    verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert,
  });
  const clientCtx = clientContext({ certificateCompression: client.compression });
  clientCtx.useCertificateChainFile(fixturePath("client-chain.pem"));
  clientCtx.usePrivateKeyFile(fixturePath("client.key"));
  const serverStates = traceCompressed(serverCtx);
  const clientStates = traceCompressed(clientCtx);
  const tls = new TestServer(serverCtx, async (socket) => {
    await socket.write(new TextEncoder().encode("ok"));
    await socket.closeWrite();
    await readAll(socket);
    return `${socket.protocol} ${socket.peerCertificate?.subject}`;
  });
  try {
    const socket = await connectLocal(clientCtx, tls.port);
    assert.equal(new TextDecoder().decode(await readAll(socket)), "ok", "the handshake and the data went through");
    await socket.closeWrite();
    socket.close();
    const outcome = await tls.outcome(0);
    assert.ok(outcome.ok && outcome.value === "TLSv1.3 CN=secsock client,O=secsock", "the server verified the client");
  } finally {
    await tls.close();
  }
  return { serverStates, clientStates };
}

Deno.test(`certificate compression by default: ${compresses ? "the client's certificate goes compressed" : "none on this OpenSSL"}`, async () => {
  const { serverStates, clientStates } = await handshakeWith({}, {});
  if (compresses) {
    assert.deepEqual(serverStates, ["TLS_ST_SR_COMP_CERT"]);
    assert.deepEqual(clientStates, ["TLS_ST_CW_COMP_CERT"]);
  } else {
    assert.deepEqual([...serverStates, ...clientStates], []);
  }
});

Deno.test("certificateCompression: false on either end: no compressed certificate, the handshake still works", async () => {
  for (
    const [server, client] of [[{ compression: false }, {}], [{}, { compression: false }], [{ compression: false }, {
      compression: false,
    }]]
  ) {
    const { serverStates, clientStates } = await handshakeWith(server, client);
    assert.deepEqual([...serverStates, ...clientStates], [], JSON.stringify({ server, client }));
  }
});

Deno.test("certificateCompression against openssl s_server: off means an uncompressed certificate, on follows OpenSSL", async () => {
  const peer = await opensslServer([
    ...serverCertArgs(),
    "-tls1_3",
    "-Verify",
    "1",
    "-verify_return_error",
    "-CAfile",
    fixturePath("ca.pem"),
    "-www",
  ]);
  try {
    for (const compression of [undefined, false, true]) {
      const ctx = clientContext({ certificateCompression: compression });
      ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
      ctx.usePrivateKeyFile(fixturePath("client.key"));
      const states = traceCompressed(ctx);
      const socket = await connectLocal(ctx, peer.port);
      await socket.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
      await socket.read(new Uint8Array(64)); // the server's verdict on our certificate arrives after our Finished
      socket.close();
      const expected = compresses && compression !== false ? ["TLS_ST_CW_COMP_CERT"] : [];
      assert.deepEqual(states, expected, `certificateCompression: ${compression}`);
    }
    assert.ok(verifiedAt(peer.output(), 0, "secsock client"), peer.output());
  } finally {
    await peer.close();
  }
});
