/**
 * STARTTLS against a real PostgreSQL (Debian's package, started here in a
 * temporary cluster with `ssl = on` and `hostssl … cert` authentication),
 * from the npm package, the way a Node.js user holds the connection: a
 * `net.Socket` from `net.connect`, handed to secsock with `connFromSocket`
 * (`secsock/node`). The plain SSLRequest exchange runs on it, then
 * `SecureSocket.startTls` with a client certificate whose key is encrypted
 * (opened by the password callback), the server's name verified; then the v3
 * startup and a query answered from the server's own view of the connection.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import net from "node:net";
import { test } from "node:test";
import { clientContext, fixture, fixturePath, npmDir, secsock } from "./helpers.mjs";
import {
  MessageReader,
  readOneByte,
  simpleQuery,
  sslRequest,
  startup,
  terminate,
  writeAll,
} from "../peers/pg_wire.mjs";
import { postgresMissing, startPostgres } from "../peers/postgres.mjs";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const { CertificateVerificationError, SecureSocket, X509Certificate } = secsock;
const packageJson = JSON.parse(readFileSync(join(npmDir, "package.json"), "utf8"));
/** `secsock/node`, as the package's "exports" map gives it. */
const { connFromSocket } = await import(pathToFileURL(join(npmDir, packageJson.exports["./node"].import)).href);

/** The database user: the fixture client certificate's CN (PostgreSQL's `cert` method compares them). */
const USER = "secsock client";
const missing = postgresMissing();

/** Rejects if `promise` does not settle within `ms` (a watchdog: the test never hangs). */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `net.connect`, the SSLRequest and its one-byte answer on the plain socket, then the TLS handshake on it. */
async function connectStartTls(port, ctx, hostname = "localhost") {
  const socket = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
  await within(once(socket, "connect"), 10_000, "TCP connect to postgres");
  const conn = connFromSocket(socket);
  try {
    await writeAll(conn, sslRequest());
    // One byte, read alone: anything after it already belongs to TLS.
    assert.equal(await within(readOneByte(conn), 10_000, "SSLRequest answer"), "S", "the server must agree to TLS");
  } catch (error) {
    conn.close();
    throw error;
  }
  // startTls owns the connection from here, and closes it if the handshake fails.
  const tls = await within(SecureSocket.startTls(conn, ctx, { hostname }), 15_000, "TLS handshake with postgres");
  return { socket, tls };
}

test("connFromSocket refuses what is not a connected net.Socket (TypeError)", async () => {
  assert.throws(() => connFromSocket({}), TypeError);
  assert.throws(() => connFromSocket(null), TypeError);
  const server = net.createServer((s) => s.destroy());
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const socket = net.connect({ host: "127.0.0.1", port: server.address().port });
  try {
    assert.throws(() => connFromSocket(socket), TypeError, "still connecting");
    await once(socket, "connect");
    socket.destroy();
    assert.throws(() => connFromSocket(socket), TypeError, "destroyed");
  } finally {
    socket.destroy();
    server.close();
  }
});

test(
  "PostgreSQL over STARTTLS from a net.Socket: SSLRequest, startTls with a client certificate from an encrypted key, cert auth, query",
  { skip: missing ?? false, timeout: 120_000 },
  async () => {
    const pg = await startPostgres({ roles: [USER] });
    try {
      const ctx = clientContext();
      const passwordCalls = [];
      ctx.setPasswordCallback((maxLength, rwflag) => {
        passwordCalls.push({ maxLength, rwflag });
        return "secsock-pass";
      });
      ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
      ctx.usePrivateKeyFile(fixturePath("client-key-pkcs8-aes256.pem"));
      assert.equal(passwordCalls.length, 1, "the encrypted key was opened by the password callback, once");
      assert.equal(passwordCalls[0].rwflag, 0, "for reading");
      assert.ok(passwordCalls[0].maxLength > "secsock-pass".length);
      const verified = [];
      ctx.setCertificateVerifyCallback((ok, store) => {
        verified.push({ depth: store.depth, ok, subject: store.currentCertificate?.subject });
        return ok;
      });

      const { socket, tls } = await connectStartTls(pg.port, ctx);
      try {
        // The server's name was verified: its chain reached our root, and "localhost" is in its SANs.
        assert.ok(verified.length > 0 && verified.every((v) => v.ok), JSON.stringify(verified));
        assert.ok(verified.some((v) => v.depth === 0 && v.subject === "CN=localhost,O=secsock"));

        const reader = new MessageReader(tls);
        const started = await within(
          startup(tls, reader, { user: USER, database: "postgres", application_name: "secsock-node-test" }),
          15_000,
          "startup",
        );
        assert.ok(started.backendPid > 0, "BackendKeyData carried the backend's pid");
        assert.equal(started.transactionStatus, "I");

        const result = await within(
          simpleQuery(
            tls,
            reader,
            "SELECT current_user, ssl, version, client_serial::text AS serial " +
              "FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
          ),
          15_000,
          "query",
        );
        assert.deepEqual(result.columns, ["current_user", "ssl", "version", "serial"]);
        assert.equal(result.rows.length, 1);
        const [who, ssl, version, serial] = result.rows[0];
        assert.equal(who, USER, "the server authenticated us as the client certificate's CN");
        assert.equal(ssl, "t", "the server saw a TLS connection");
        assert.equal(version, tls.protocol, "both ends agree on the protocol");
        // The certificate the server saw is ours (serials compared as numbers: no formatting involved).
        assert.equal(BigInt(serial), BigInt(`0x${X509Certificate.fromPEM(fixture("client.pem")).serialNumber}`));

        await writeAll(tls, terminate());
        await tls.closeWrite();
        // The backend ends the session with its own close_notify.
        assert.equal(await within(tls.read(new Uint8Array(64)), 10_000, "server's close_notify"), null);
      } finally {
        tls.close();
      }
      assert.ok(socket.destroyed, "closing the TLS socket closed the net.Socket under it");

      // Same path, another name: the server's certificate does not match, the handshake is refused.
      const error = await connectStartTls(pg.port, ctx, "db.example").then(
        ({ tls }) => {
          tls.close();
          return null;
        },
        (e) => e,
      );
      assert.ok(error instanceof CertificateVerificationError, String(error));
      assert.equal(error.depth, 0);
      assert.equal(error.code, 62); // X509_V_ERR_HOSTNAME_MISMATCH
      ctx.close?.();
    } catch (error) {
      error.message += `\n--- postgres log ---\n${pg.log()}`;
      throw error;
    } finally {
      await pg.stop();
    }
  },
);
