/**
 * Issue 7 — PKCS#12: `Pkcs12.parse` and `ctx.usePkcs12` with the fixture
 * bundles (OpenSSL 3 defaults and -legacy), wrong passwords and non-PKCS#12
 * data; the loaded identities proven in handshakes with `openssl s_server`
 * (client certificate) and `openssl s_client` (server certificate).
 */
import assert from "node:assert/strict";
import {
  type PasswordCallback,
  Pkcs12,
  SecureSocketContext,
  UnableToReadCertificateError,
  UnableToReadPrivateKeyError,
} from "../mod.ts";
import {
  clientContext,
  connectLocal,
  enc,
  fixture,
  fixtureFingerprint,
  fixturePath,
  run,
  stopPeer,
  waitExit,
  within,
} from "./helpers.ts";
import { assertServed, oneShotServer, pemBlocks, sendText, withServer } from "./peers/features_utils.ts";
import { opensslServer, sClient, serverCertArgs, strictClientArgs, verifiedAt } from "./peers/openssl.ts";

const PASS = "secsock-pass";
const BUNDLES = ["client.p12", "client-legacy.p12"] as const;

/**
 * Legacy bundles (RC2/3DES) need OpenSSL's legacy provider, which some
 * distributions package separately (Debian 13: openssl-provider-legacy).
 */
const LEGACY_PROVIDER = (await run("openssl", ["list", "-providers", "-provider", "legacy"])).code === 0;
if (!LEGACY_PROVIDER) {
  console.warn("OpenSSL's legacy provider is not installed: the -legacy PKCS#12 tests are skipped");
}
const needsLegacy = (legacy: boolean) => legacy && !LEGACY_PROVIDER;
const CLIENT_FP = fixtureFingerprint("client.pem");
const INTERMEDIATE_FP = fixtureFingerprint("intermediate.pem");

for (const bundle of BUNDLES) {
  Deno.test({
    name: `PKCS#12: Pkcs12.parse(${bundle}) with a string, bytes and a password callback`,
    ignore: needsLegacy(bundle.includes("legacy")),
    fn: () => {
      const data = Deno.readFileSync(fixturePath(bundle));
      const calls: [number, number][] = [];
      const callback: PasswordCallback = (maxLength, rwflag) => {
        calls.push([maxLength, rwflag]);
        return PASS;
      };
      for (const password of [PASS, enc(PASS), callback]) {
        const { certificate, privateKey, chain } = Pkcs12.parse(data, password);
        try {
          assert.equal(certificate.fingerprint256, CLIENT_FP);
          assert.equal(certificate.subject, "CN=secsock client,O=secsock");
          assert.deepEqual(chain.map((c) => c.fingerprint256), [INTERMEDIATE_FP]);
          assert.equal(privateKey.type, "RSA");
          assert.equal(privateKey.bits, 2048);
          // The key belongs to the certificate: OpenSSL accepts the pair.
          using ctx = new SecureSocketContext({ useSystemTrust: false });
          ctx.useCertificateChain(fixture("client.pem"));
          ctx.usePrivateKey(privateKey);
        } finally {
          privateKey.close();
        }
      }
      assert.ok(calls.length >= 1, "the password callback was called");
      for (const [maxLength, rwflag] of calls) {
        assert.ok(maxLength > PASS.length, `maxLength ${maxLength} leaves room for the password and its NUL`);
        assert.equal(rwflag, 0, "rwflag is 0 when reading");
      }
    },
  });

  Deno.test({
    name: `PKCS#12: a wrong password for ${bundle} is an UnableToReadPrivateKeyError`,
    ignore: needsLegacy(bundle.includes("legacy")),
    fn: () => {
      const data = Deno.readFileSync(fixturePath(bundle));
      assert.throws(() => Pkcs12.parse(data, "wrong-pass"), UnableToReadPrivateKeyError);
      assert.throws(() => Pkcs12.parse(data, () => "wrong-pass"), UnableToReadPrivateKeyError);
      assert.throws(() => Pkcs12.parse(data), UnableToReadPrivateKeyError, "no password means the empty one");
      using ctx = new SecureSocketContext();
      assert.throws(() => ctx.usePkcs12(data, "wrong-pass"), UnableToReadPrivateKeyError);
      ctx.setPasswordCallback(() => "wrong-pass");
      assert.throws(() => ctx.usePkcs12(data), UnableToReadPrivateKeyError);
    },
  });
}

Deno.test("PKCS#12: data that is not PKCS#12 is an UnableToReadCertificateError", () => {
  const samples: [string, Uint8Array][] = [
    ["a PEM certificate", Deno.readFileSync(fixturePath("client.pem"))],
    ["a DER private key", Deno.readFileSync(fixturePath("server-key.der"))],
    ["random bytes", crypto.getRandomValues(new Uint8Array(512))],
    ["nothing", new Uint8Array(0)],
    ["a truncated bundle", Deno.readFileSync(fixturePath("client.p12")).subarray(0, 100)],
  ];
  for (const [what, data] of samples) {
    assert.throws(() => Pkcs12.parse(data, PASS), UnableToReadCertificateError, what);
    using ctx = new SecureSocketContext();
    assert.throws(() => ctx.usePkcs12(data, PASS), UnableToReadCertificateError, what);
  }
});

/** The four ways to hand usePkcs12 its password. */
const PASSWORD_STYLES = ["string", "callback argument", "context password callback", "bytes"] as const;

for (const bundle of BUNDLES) {
  for (const style of PASSWORD_STYLES) {
    Deno.test({
      name: `PKCS#12: usePkcs12(${bundle}, ${style}) client identity verified by openssl s_server -Verify`,
      ignore: needsLegacy(bundle.includes("legacy")),
      fn: async () => {
        const data = Deno.readFileSync(fixturePath(bundle));
        using ctx = clientContext();
        let calls = 0;
        switch (style) {
          case "string":
            ctx.usePkcs12(data, PASS);
            break;
          case "bytes":
            ctx.usePkcs12(data, enc(PASS));
            break;
          case "callback argument":
            ctx.usePkcs12(data, () => (calls++, PASS));
            break;
          case "context password callback":
            ctx.setPasswordCallback(() => (calls++, PASS));
            ctx.usePkcs12(data);
            break;
        }
        if (style.includes("callback")) assert.ok(calls >= 1);
        // -Verify: a client certificate is required; only the root is trusted, so
        // the intermediate from the bundle must be sent along.
        const peer = await opensslServer([
          ...serverCertArgs(),
          "-Verify",
          "2",
          "-CAfile",
          fixturePath("ca.pem"),
          "-verify_return_error",
          "-naccept",
          "1",
        ]);
        try {
          const socket = await within(connectLocal(ctx, peer.port), 10_000, "handshake with s_server");
          try {
            await socket.write(enc("from-p12\n"));
            await peer.waitFor(/from-p12/);
            await socket.closeWrite();
          } finally {
            socket.close();
          }
          assert.ok((await waitExit(peer)).exited, peer.output());
        } finally {
          await stopPeer(peer);
        }
        const output = peer.output();
        assert.ok(verifiedAt(output, 1, "secsock Test Intermediate CA"), output);
        assert.ok(verifiedAt(output, 0, "secsock client"), output);
        assert.equal(pemBlocks(output.slice(output.indexOf("Client certificate")))[0]?.fingerprint256, CLIENT_FP);
      },
    });
  }
}

/** Exports server.pem + server.key + intermediate into a temporary .p12 with the openssl CLI. */
async function exportServerP12(dir: string, legacy: boolean): Promise<Uint8Array> {
  const out = `${dir}/server${legacy ? "-legacy" : ""}.p12`;
  const result = await run("openssl", [
    "pkcs12",
    "-export",
    ...(legacy ? ["-legacy"] : []),
    "-in",
    fixturePath("server.pem"),
    "-inkey",
    fixturePath("server.key"),
    "-certfile",
    fixturePath("intermediate.pem"),
    "-name",
    "secsock server",
    "-passout",
    "pass:x",
    "-out",
    out,
  ]);
  assert.equal(result.code, 0, `openssl pkcs12 -export failed: ${result.stderr}`);
  return await Deno.readFile(out);
}

for (const legacy of [false, true]) {
  Deno.test({
    name: `PKCS#12: a server context from a ${
      legacy ? "-legacy" : "default"
    } .p12 made by openssl pkcs12 -export → s_client verify OK`,
    ignore: needsLegacy(legacy),
    fn: async () => {
      const dir = await Deno.makeTempDir();
      let data: Uint8Array;
      try {
        data = await exportServerP12(dir, legacy);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
      const parsed = Pkcs12.parse(data, "x");
      parsed.privateKey.close();
      assert.equal(parsed.certificate.fingerprint256, fixtureFingerprint("server.pem"));
      assert.deepEqual(parsed.chain.map((c) => c.fingerprint256), [INTERMEDIATE_FP]);

      using ctx = new SecureSocketContext({ useSystemTrust: false });
      ctx.usePkcs12(data, "x");
      const server = oneShotServer(ctx, sendText("served-from-p12\n"));
      let output = "";
      const [result] = await withServer(server, async () => {
        output = await sClient(server.port, strictClientArgs());
      });
      assertServed(result, "connection");
      assert.match(output, /served-from-p12/);
      assert.match(output, /Verify return code: 0 \(ok\)/);
      // Only the root is trusted: the intermediate came from the bundle.
      assert.ok(verifiedAt(output, 1, "secsock Test Intermediate CA"), output);
      assert.equal(pemBlocks(output)[0]?.fingerprint256, fixtureFingerprint("server.pem"));
    },
  });
}
