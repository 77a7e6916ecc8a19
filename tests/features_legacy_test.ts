/**
 * Issue 7 — legacy peers: TLS 1.0 / 1.1 only with an explicit opt-in
 * (`minVersion`, `securityLevel: 0`, an old cipher), proven against
 * `openssl s_server -tls1` / `s_client -tls1` (and -tls1_1); a default
 * context refuses the same peers.
 *
 * Whether the local openssl can speak TLS 1.0/1.1 at all depends on how it
 * was built and configured; it is probed once (s_server ↔ s_client, no
 * secsock involved) and the tests are skipped with a message when it cannot.
 */
import assert from "node:assert/strict";
import { HandshakeError, SecureSocketContext, type TlsVersion } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  enc,
  fixturePath,
  hasCapability,
  readUntil,
  serverContext,
  stopPeer,
  waitExit,
  within,
} from "./helpers.ts";
import { assertRejected, assertServed, oneShotServer, sendText, withServer } from "./peers/features_utils.ts";
import { opensslClient, opensslServer, sClient, serverCertArgs } from "./peers/openssl.ts";

const CIPHER = "ECDHE-RSA-AES256-SHA";
const LEGACY = [
  { version: "TLSv1", flag: "-tls1" },
  { version: "TLSv1.1", flag: "-tls1_1" },
] as const satisfies { version: TlsVersion; flag: string }[];

/** Can this machine's openssl s_server and s_client talk `flag` with the old cipher to each other? */
async function probe(flag: string): Promise<string | null> {
  let server;
  try {
    server = await opensslServer([...serverCertArgs(), flag, "-cipher", `${CIPHER}@SECLEVEL=0`, "-naccept", "1"]);
  } catch (error) {
    return `openssl s_server ${flag} does not start: ${(error as Error).message.split("\n").slice(0, 3).join(" ")}`;
  }
  const client = opensslClient(server.port, [flag, "-cipher", `${CIPHER}@SECLEVEL=0`]);
  try {
    await waitExit(client, 10_000);
  } finally {
    await stopPeer(server);
  }
  const output = client.output();
  return new RegExp(`Cipher( is|\\s*:) ${CIPHER}`).test(output)
    ? null
    : `openssl s_server and s_client cannot negotiate ${flag} with ${CIPHER} here:\n${
      output.split("\n").filter((l) => /error|alert|Cipher|Protocol/i.test(l)).slice(0, 5).join("\n")
    }`;
}

const unsupported = new Map<string, string | null>();
for (const { flag } of LEGACY) unsupported.set(flag, await probe(flag));

/** The explicit opt-in from the design: old versions, security level 0, one old cipher. */
function legacyOptions(version: TlsVersion) {
  return { minVersion: version, securityLevel: 0, ciphers: CIPHER } as const;
}

for (const { version, flag } of LEGACY) {
  const reason = hasCapability(`${version} with the legacy cipher`, unsupported.get(flag) ?? null)
    ? null
    : unsupported.get(flag)!;
  if (reason) console.warn(`skipping the ${version} legacy tests: ${reason}`);

  Deno.test({
    name: `legacy: opt-in secsock client ↔ openssl s_server ${flag} -cipher ${CIPHER}@SECLEVEL=0; default refused`,
    ignore: reason !== null,
    fn: async () => {
      const peer = await opensslServer([
        ...serverCertArgs(),
        flag,
        "-cipher",
        `${CIPHER}@SECLEVEL=0`,
        "-naccept",
        "2",
      ]);
      try {
        // A default context (TLS 1.2+, default security level) is refused.
        using strict = clientContext();
        await assert.rejects(within(connectLocal(strict, peer.port), 10_000, "default handshake"), HandshakeError);

        using legacy = clientContext(legacyOptions(version));
        const socket = await within(connectLocal(legacy, peer.port), 10_000, "legacy handshake");
        try {
          assert.equal(socket.protocol, version);
          assert.equal(socket.cipher, CIPHER);
          assert.equal(socket.peerCertificate?.subject, "CN=localhost,O=secsock");
          await socket.write(enc("legacy-hello\n"));
          await peer.waitFor(/legacy-hello/);
          await peer.send("legacy-reply\n");
          assert.equal(await within(readUntil(socket, "\n"), 10_000, "reply"), "legacy-reply\n");
        } finally {
          socket.close();
        }
      } finally {
        await stopPeer(peer);
      }
    },
  });

  Deno.test({
    name: `legacy: opt-in secsock server ↔ openssl s_client ${flag}; a default server refuses it`,
    ignore: reason !== null,
    fn: async () => {
      const clientArgs = [flag, "-cipher", `${CIPHER}@SECLEVEL=0`, "-CAfile", fixturePath("ca.pem")];
      const serve = sendText((socket) => `protocol=${socket.protocol} cipher=${socket.cipher}\n`);

      using legacy = serverContext(legacyOptions(version));
      const server = oneShotServer(legacy, serve);
      let output = "";
      const [ok] = await withServer(server, async () => {
        output = await sClient(server.port, clientArgs);
      });
      assertServed(ok, "legacy connection");
      assert.match(output, new RegExp(`protocol=${version.replace(".", "\\.")} cipher=${CIPHER}`));
      assert.match(output, new RegExp(`Cipher( is|\\s*:) ${CIPHER}`));
      assert.match(output, /Verify return code: 0 \(ok\)/);

      using strict = serverContext();
      const refusing = oneShotServer(strict, serve);
      const [refused] = await withServer(refusing, async () => {
        assert.doesNotMatch(await sClient(refusing.port, clientArgs), /protocol=/);
      });
      assertRejected(refused, "default server", HandshakeError);
    },
  });
}

Deno.test("legacy: the opt-in options are validated", () => {
  assert.throws(() => new SecureSocketContext({ securityLevel: 6 }), RangeError);
  assert.throws(() => new SecureSocketContext({ securityLevel: -1 }), RangeError);
  assert.throws(() => new SecureSocketContext({ minVersion: "SSLv3" as TlsVersion }), RangeError);
  using ok = new SecureSocketContext(legacyOptions("TLSv1"));
  assert.ok(ok);
});
