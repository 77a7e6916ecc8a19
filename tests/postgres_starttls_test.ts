/**
 * STARTTLS against a real PostgreSQL server (Debian's package), started here
 * in a temporary data directory with `ssl = on` and `hostssl … cert`
 * authentication: the plain SSLRequest exchange, `SecureSocket.startTls` with
 * a client certificate whose key is encrypted (opened by the password
 * callback), the server's name verified, then the v3 startup and a simple
 * query whose answer comes from the server's own view of the connection
 * (pg_stat_ssl).
 */
import assert from "node:assert/strict";
import {
  type AlertInfo,
  CertificateVerificationError,
  describeAlert,
  InfoWhere,
  SecureSocket,
  type SecureSocketContext,
  type SecureSocketContextOptions,
  SecureSocketError,
  X509Certificate,
} from "../mod.ts";
import { clientContext, fixture, fixturePath, run, settle, within, writeAll } from "./helpers.ts";
import { postgresMissing, type PostgresServer, startPostgres } from "./peers/postgres.mjs";
import {
  MessageReader,
  PostgresError,
  readOneByte,
  simpleQuery,
  sslRequest,
  startup,
  terminate,
} from "./peers/pg_wire.mjs";

/** The database user: the fixture client certificate's CN (PostgreSQL's `cert` method compares them). */
const USER = "secsock client";
const missing = postgresMissing();
if (missing) console.warn(`skipping: ${missing}`);

/** The fixture client key, encrypted here (AES-256, PKCS#8) with a password only this run knows. */
async function encryptedClientKey(password: string): Promise<string> {
  const out = await run("openssl", [
    "pkcs8",
    "-topk8",
    "-v2",
    "aes-256-cbc",
    "-in",
    fixturePath("client.key"),
    "-passout",
    `pass:${password}`,
  ]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /BEGIN ENCRYPTED PRIVATE KEY/);
  return out.stdout;
}

/** TCP connect, SSLRequest, the server's 'S', then the TLS handshake on the same connection. */
async function connectStartTls(
  port: number,
  ctx: SecureSocketContext,
  hostname = "localhost",
): Promise<SecureSocket> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, sslRequest());
    // One byte, read alone: anything after it already belongs to TLS.
    assert.equal(await readOneByte(conn), "S", "the server must agree to TLS");
  } catch (error) {
    conn.close();
    throw error;
  }
  // startTls owns the connection from here, and closes it if the handshake fails.
  return await within(SecureSocket.startTls(conn, ctx, { hostname }), 15_000, "TLS handshake with postgres");
}

/** Alerts seen through the context's info callback. */
function recordAlerts(ctx: SecureSocketContext): { read: AlertInfo[]; written: AlertInfo[] } {
  const seen = { read: [] as AlertInfo[], written: [] as AlertInfo[] };
  ctx.setInfoCallback((_socket, where, ret) => {
    if ((where & InfoWhere.Alert) === 0) return;
    (where & InfoWhere.Read ? seen.read : seen.written).push(describeAlert(ret));
  });
  return seen;
}

/** A client context trusting the fixture root and presenting `chain` (a fixture file) with `leaf`'s key. */
function certClient(leaf: string, chain: string, options: SecureSocketContextOptions = {}): SecureSocketContext {
  const ctx = clientContext(options);
  ctx.useCertificateChainFile(fixturePath(chain));
  ctx.usePrivateKeyFile(fixturePath(`${leaf}.key`));
  return ctx;
}

Deno.test({
  name: "PostgreSQL over STARTTLS: SSLRequest, startTls with a client certificate, cert auth, query",
  ignore: missing !== null,
  async fn(t) {
    await using pg: PostgresServer = await startPostgres({ roles: [USER] });

    await t.step("client certificate with an encrypted key: authenticated as its CN, query answered", async () => {
      const password = crypto.randomUUID();
      const keyPem = await encryptedClientKey(password);
      using ctx = clientContext();
      const passwordCalls: number[] = [];
      ctx.setPasswordCallback((maxLength, rwflag) => {
        passwordCalls.push(rwflag);
        assert.ok(maxLength > password.length);
        return password;
      });
      ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
      ctx.usePrivateKey(keyPem);
      assert.deepEqual(passwordCalls, [0], "the key was opened by the password callback, once, for reading");
      const verified: { depth: number; ok: boolean; subject: string | undefined }[] = [];
      ctx.setCertificateVerifyCallback((ok, store) => {
        verified.push({ depth: store.depth, ok, subject: store.currentCertificate?.subject });
        return ok;
      });

      const tls = await connectStartTls(pg.port, ctx);
      try {
        // The server's name was verified: its chain reached our root, and "localhost" is in its SANs.
        assert.ok(verified.length > 0 && verified.every((v) => v.ok), JSON.stringify(verified));
        assert.ok(verified.some((v) => v.depth === 0 && v.subject === "CN=localhost,O=secsock"));
        assert.ok(tls.peerCertificate?.subjectAltNames.includes("DNS:localhost"));

        const reader = new MessageReader(tls);
        const started = await within(
          startup(tls, reader, { user: USER, database: "postgres", application_name: "secsock-test" }),
          15_000,
          "startup",
        );
        assert.ok(started.backendPid > 0, "BackendKeyData carried the backend's pid");
        assert.equal(started.transactionStatus, "I");
        assert.ok("server_version" in started.parameters, "ParameterStatus messages arrived");

        const result = await within(
          simpleQuery(
            tls,
            reader,
            "SELECT 1+1 AS two, current_user AS who, s.ssl, s.version, s.cipher, s.client_serial::text AS serial " +
              "FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()",
          ),
          15_000,
          "query",
        );
        assert.deepEqual(result.columns, ["two", "who", "ssl", "version", "cipher", "serial"]);
        assert.equal(result.rows.length, 1);
        const [two, who, ssl, version, cipher, serial] = result.rows[0];
        assert.equal(two, "2");
        assert.equal(who, USER, "the server authenticated us as the certificate's CN");
        assert.equal(ssl, "t", "the server saw a TLS connection");
        // Both ends agree on what was negotiated.
        assert.equal(version, tls.protocol);
        assert.equal(cipher, tls.cipher);
        // The certificate the server saw is ours (serial compared as a number: no formatting involved).
        const ours = X509Certificate.fromPEM(fixture("client.pem"));
        assert.equal(BigInt(serial!), BigInt(`0x${ours.serialNumber}`));
        assert.equal(result.commandTag, "SELECT 1");

        await writeAll(tls, terminate());
        await tls.closeWrite();
        // The backend ends the session with its own close_notify.
        assert.equal(await within(tls.read(new Uint8Array(64)), 10_000, "server's close_notify"), null);
      } finally {
        tls.close();
      }
    });

    await t.step("the server's name is checked: another name fails verification at depth 0", async () => {
      using ctx = certClient("client", "client-chain.pem");
      const error = await settle(connectStartTls(pg.port, ctx, "db.example"));
      assert.ok(!error.ok && error.error instanceof CertificateVerificationError, String(!error.ok && error.error));
      assert.equal(error.error.depth, 0);
      assert.equal(error.error.code, 62); // X509_V_ERR_HOSTNAME_MISMATCH
    });

    for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
      await t.step(
        `a client certificate from an untrusted CA is refused by the TLS handshake (${version})`,
        async () => {
          using ctx = certClient("other-client", "other-client.pem", { minVersion: version, maxVersion: version });
          const alerts = recordAlerts(ctx);
          let stage = "";
          let failure: unknown = null;
          try {
            const tls = await connectStartTls(pg.port, ctx);
            try {
              stage = "after the handshake";
              // In TLS 1.3 the client finishes first; the server's verdict arrives with the first read.
              await within(
                startup(tls, new MessageReader(tls), { user: USER, database: "postgres" }),
                15_000,
                "startup",
              );
              stage = "never";
            } finally {
              tls.close();
            }
          } catch (error) {
            stage ||= "during the handshake";
            failure = error;
          }
          assert.notEqual(stage, "never", "the server must refuse an untrusted client certificate");
          assert.ok(!(failure instanceof PostgresError), `refused by the TLS layer, not by SQL auth: ${failure}`);
          assert.ok(failure instanceof SecureSocketError, String(failure));
          // TLS 1.2: the client's handshake fails; TLS 1.3: the handshake completes on the client first.
          assert.equal(stage, version === "TLSv1.2" ? "during the handshake" : "after the handshake");
          // The server said why: a fatal unknown_ca (48) alert.
          assert.deepEqual(alerts.read.map((a) => [a.level, a.code]), [["fatal", 48]]);
        },
      );
    }

    await t.step("a trusted certificate whose CN is another user is refused by PostgreSQL's cert auth", async () => {
      // client-ec's CN is "secsock client ec": a valid certificate, but not this user's.
      using ctx = certClient("client-ec", "client-ec-chain.pem");
      const alerts = recordAlerts(ctx);
      const tls = await connectStartTls(pg.port, ctx);
      try {
        const outcome = await settle(
          within(startup(tls, new MessageReader(tls), { user: USER, database: "postgres" }), 15_000, "startup"),
        );
        assert.ok(!outcome.ok && outcome.error instanceof PostgresError, String(!outcome.ok && outcome.error));
        assert.equal(outcome.error.code, "28000"); // invalid_authorization_specification
        assert.deepEqual(alerts.read.filter((a) => a.level === "fatal"), [], "TLS itself went through");
      } finally {
        tls.close();
      }
    });
  },
});
