/**
 * Trust per role. A server requiring client certificates must judge them only
 * against the CAs the application named (`ca`, addTrustedCertificate), never
 * against the system store: otherwise anyone holding a certificate from any
 * public CA gets in. Clients still verify servers against the system store.
 *
 * The "system" store is chosen for a child process with SSL_CERT_FILE (and an
 * empty SSL_CERT_DIR): OpenSSL's default verify paths then hold exactly a test
 * CA the application did not name.
 */
import assert from "node:assert/strict";
import { ContextInUseError, SecureSocketContext } from "../../mod.ts";
import {
  connectLocal,
  denoServerPeer,
  echoServer,
  fixture,
  fixturePath,
  type Peer,
  serverContext,
  spawnPeer,
  stopPeer,
  waitExit,
} from "../helpers.ts";
import { clientCertArgs, opensslClient } from "../peers/openssl.ts";

const UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20;

/** What a peer script printed about one connection. */
interface Verdict {
  accepted: boolean;
  subject?: string | null;
  error?: string;
  code?: number | null;
}

/** Environment making `systemCa` (a fixture) the whole of OpenSSL's default trust store. */
function systemStoreOf(systemCa: string, emptyDir: string): Record<string, string> {
  return { SSL_CERT_FILE: fixturePath(systemCa), SSL_CERT_DIR: emptyDir };
}

/** Starts the client-auth server script with `systemCa` as its system store. */
function startServer(mode: "direct" | "sni", systemCa: string, emptyDir: string): Promise<Peer> {
  const script = new URL("./peers/client_auth_server.ts", import.meta.url);
  return denoServerPeer(script, [mode], { env: systemStoreOf(systemCa, emptyDir) });
}

/** The server's verdicts so far, waiting until there are `count`. */
async function verdicts(peer: Peer, count: number): Promise<Verdict[]> {
  await peer.waitFor(new RegExp(`(?:\\{"accepted"[^\\n]*\\n[\\s\\S]*?){${count}}`), 15_000);
  return peer.output().split("\n").filter((line) => line.startsWith('{"accepted"')).map((l) => JSON.parse(l));
}

/** `openssl s_client` presenting a client certificate; runs until the server closes (or is stopped). */
async function presentCertificate(port: number, certArgs: string[], servername = "localhost"): Promise<void> {
  const client = opensslClient(port, ["-CAfile", fixturePath("ca.pem"), "-servername", servername, ...certArgs]);
  await waitExit(client, 10_000);
}

const OTHER_CLIENT = ["-cert", fixturePath("other-client.pem"), "-key", fixturePath("other-client.key")];

async function withEmptyDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "secsock-empty-certs-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("client certificate from a system-store CA the server did not name: refused", async () => {
  await withEmptyDir(async (empty) => {
    // The system store holds Other Test Root CA; the application named only the secsock root.
    const server = await startServer("direct", "other-ca.pem", empty);
    try {
      await presentCertificate(server.port, OTHER_CLIENT);
      await presentCertificate(server.port, clientCertArgs("client"));
      const [stranger, named] = await verdicts(server, 2);
      assert.deepEqual(stranger, {
        accepted: false,
        error: "CertificateVerificationError",
        code: UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
      });
      // Control: a client certificate from the CA the application named gets in.
      assert.deepEqual(named, { accepted: true, subject: "CN=secsock client,O=secsock" });
    } finally {
      await stopPeer(server);
    }
  });
});

Deno.test("client certificate from a system-store CA, after SNI moves to a context requiring one: refused", async () => {
  await withEmptyDir(async (empty) => {
    const server = await startServer("sni", "other-ca.pem", empty);
    try {
      await presentCertificate(server.port, OTHER_CLIENT, "admin.test");
      await presentCertificate(server.port, clientCertArgs("client"), "admin.test");
      const [stranger, named] = await verdicts(server, 2);
      assert.deepEqual(stranger, {
        accepted: false,
        error: "CertificateVerificationError",
        code: UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
      });
      assert.deepEqual(named, { accepted: true, subject: "CN=secsock client,O=secsock" });
    } finally {
      await stopPeer(server);
    }
  });
});

/** Runs the default-context client script against `port` with `systemCa` as its system store. */
async function systemTrustClient(port: number, systemCa: string, emptyDir: string): Promise<Verdict> {
  const script = new URL("./peers/system_trust_client.ts", import.meta.url).pathname;
  const peer = spawnPeer(Deno.execPath(), ["run", "-A", script, String(port)], {
    env: systemStoreOf(systemCa, emptyDir),
  });
  try {
    const m = await peer.waitFor(/\{"accepted"[^\n]*\n/, 30_000);
    return JSON.parse(m[0]);
  } finally {
    await stopPeer(peer);
  }
}

Deno.test("clients still verify servers against the system store (and only it, by default)", async () => {
  using ctx = serverContext();
  const server = echoServer(ctx);
  try {
    await withEmptyDir(async (empty) => {
      assert.deepEqual(await systemTrustClient(server.port, "ca.pem", empty), {
        accepted: true,
        subject: "CN=localhost,O=secsock",
      });
      assert.deepEqual(await systemTrustClient(server.port, "other-ca.pem", empty), {
        accepted: false,
        error: "CertificateVerificationError",
        code: UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
      });
    });
  } finally {
    await server.close();
  }
});

Deno.test("clients with system trust also trust the CAs they name, by option or added before the first socket", async () => {
  using ctx = serverContext();
  const server = echoServer(ctx);
  try {
    using viaOption = new SecureSocketContext({ ca: fixture("ca.pem") });
    const first = await connectLocal(viaOption, server.port);
    assert.equal(first.peerCertificate?.subject, "CN=localhost,O=secsock");
    await first.closeWrite();
    first.close();

    using unnamed = new SecureSocketContext();
    const refused = await connectLocal(unnamed, server.port).then((s) => s.close(), (e) => e);
    assert.equal((refused as { code?: number })?.code, UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    // Trust is frozen once a socket was made from the context: a new context it is.
    assert.throws(() => unnamed.addTrustedCertificate(fixture("ca.pem")), ContextInUseError);
    using added = new SecureSocketContext();
    added.addTrustedCertificate(fixture("ca.pem"));
    const second = await connectLocal(added, server.port);
    assert.equal(second.peerCertificate?.subject, "CN=localhost,O=secsock");
    await second.closeWrite();
    second.close();
  } finally {
    await server.close();
  }
});
