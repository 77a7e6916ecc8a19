/**
 * §2 The certificate verification callback: `setVerify(mode, cb)` and
 * `setCertificateVerifyCallback(cb)`, on clients verifying servers and servers
 * verifying clients, with secsock and openssl peers: order and content of the
 * calls, accepting and rejecting, pinning, exceptions, async answers.
 */
import assert from "node:assert/strict";
import {
  CertificateVerificationError,
  HandshakeError,
  SecureSocket,
  SecureSocketContext,
  SecureSocketError,
  SecureSocketListener,
  type VerifyCallback,
  VerifyMode,
  X509Certificate,
  type X509StoreContext,
} from "../mod.ts";
import {
  clientContext,
  dec,
  delay,
  enc,
  fixture,
  fixtureFingerprint256,
  fixturePath,
  serverContext,
  settle,
  timed,
} from "./helpers.ts";
import { failure, ownedPair, type Pair, type PairOptions, success, tlsPair } from "./callback_utils.ts";
import { clientCertArgs, opensslClient, opensslServer, serverCertArgs } from "./peers/openssl.ts";

const ROOT = "CN=secsock Test Root CA,O=secsock";
const INTERMEDIATE = "CN=secsock Test Intermediate CA,O=secsock";
const SERVER = "CN=localhost,O=secsock";
const CLIENT = "CN=secsock client,O=secsock";
/** X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT */
const DEPTH_ZERO_SELF_SIGNED = 18;
/** X509_V_ERR_CERT_REJECTED */
const CERT_REJECTED = 28;
/** X509_V_ERR_APPLICATION_VERIFICATION */
const APPLICATION_VERIFICATION = 50;

/** What the callback saw on one call, copied while the store was valid. */
interface Seen {
  ok: boolean;
  depth: number;
  error: number;
  errorString: string;
  subject: string | undefined;
  fingerprint: string | undefined;
  chain: string[];
  socket: SecureSocket;
  store: X509StoreContext;
}

/** A verify callback that records every call and answers with `answer` (default: `ok`). */
function recordingVerifier(
  answer: (ok: boolean, store: X509StoreContext) => boolean | Promise<boolean> = (ok) => ok,
): VerifyCallback & { seen: Seen[] } {
  const seen: Seen[] = [];
  const cb = ((ok: boolean, store: X509StoreContext) => {
    const current = store.currentCertificate;
    seen.push({
      ok,
      depth: store.depth,
      error: store.error,
      errorString: store.errorString,
      subject: current?.subject,
      fingerprint: current?.fingerprint256,
      chain: store.chain.map((c) => c.subject),
      socket: store.socket,
      store,
    });
    return answer(ok, store);
  }) as VerifyCallback & { seen: Seen[] };
  cb.seen = seen;
  return cb;
}

function selfSignedServer(): SecureSocketContext {
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  ctx.useCertificateChainFile(fixturePath("selfsigned.pem"));
  ctx.usePrivateKeyFile(fixturePath("selfsigned.key"));
  return ctx;
}

/** A server that requires a client certificate issued under ca.pem. */
function clientAuthServer(cb?: VerifyCallback): SecureSocketContext {
  const ctx = serverContext();
  ctx.addTrustedCertificate(fixture("ca.pem"));
  ctx.setVerify(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert, cb);
  return ctx;
}

/** A client with the fixture client certificate and intermediate. */
function clientWithCertificate(): SecureSocketContext {
  const ctx = clientContext();
  ctx.useCertificateChainFile(fixturePath("client-chain.pem"));
  ctx.usePrivateKeyFile(fixturePath("client.key"));
  return ctx;
}

/**
 * A handshake (see {@linkcode tlsPair}) between `server` (the fixture server
 * by default) and a client context whose verify callback is `cb`; disposing of
 * the pair closes both contexts.
 */
function pairVerifiedBy(cb: VerifyCallback, options: PairOptions = {}, server = serverContext()): Promise<Pair> {
  const client = clientContext();
  client.setCertificateVerifyCallback(cb);
  return ownedPair(server, client, options);
}

/** A handshake with the one-byte exchange between {@linkcode clientAuthServer}(`cb`) and {@linkcode clientWithCertificate}. */
function clientAuthPair(cb?: VerifyCallback): Promise<Pair> {
  return ownedPair(clientAuthServer(cb), clientWithCertificate(), { exchange: true });
}

function assertStoreIsDead(store: X509StoreContext): void {
  for (
    const use of [
      () => store.depth,
      () => store.error,
      () => store.errorString,
      () => store.currentCertificate,
      () => store.chain,
      () => store.socket,
      () => store.setError(APPLICATION_VERIFICATION),
    ]
  ) {
    assert.throws(use, SecureSocketError);
  }
}

function isVerificationError(code: number, depth?: number) {
  return (error: unknown) => {
    assert.ok(error instanceof CertificateVerificationError, `expected CertificateVerificationError, got ${error}`);
    assert.equal(error.code, code);
    if (depth !== undefined) assert.equal(error.depth, depth);
    return true;
  };
}

Deno.test("verify: a client's callback sees the server chain once per certificate, deepest first", async (t) => {
  for (
    const [label, install] of [
      [
        "setCertificateVerifyCallback",
        (ctx: SecureSocketContext, cb: VerifyCallback) => ctx.setCertificateVerifyCallback(cb),
      ],
      ["setVerify(Peer, cb)", (ctx: SecureSocketContext, cb: VerifyCallback) => ctx.setVerify(VerifyMode.Peer, cb)],
    ] as const
  ) {
    await t.step(label, async () => {
      using server = serverContext();
      using client = clientContext();
      const cb = recordingVerifier();
      install(client, cb);
      using pair = await tlsPair(server, client, { exchange: true });
      success(pair.clientResult);
      success(pair.serverResult);
      assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
      assert.deepEqual(cb.seen.map((s) => s.subject), [ROOT, INTERMEDIATE, SERVER]);
      for (const s of cb.seen) {
        assert.equal(s.ok, true);
        assert.equal(s.error, 0);
        assert.equal(typeof s.errorString, "string");
        assert.ok(s.errorString.length > 0);
        assert.deepEqual(s.chain, [SERVER, INTERMEDIATE, ROOT]);
        assert.equal(s.socket, pair.client, "store.socket is the very SecureSocket");
        assertStoreIsDead(s.store);
      }
      assert.equal(cb.seen[2].fingerprint, await fixtureFingerprint256("server.pem"));
      assert.equal(cb.seen[0].fingerprint, await fixtureFingerprint256("ca.pem"));
    });
  }
});

Deno.test("verify: a server's callback sees the client chain once per certificate, deepest first", async () => {
  const cb = recordingVerifier();
  using pair = await clientAuthPair(cb);
  success(pair.serverResult);
  success(pair.clientResult);
  assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
  assert.deepEqual(cb.seen.map((s) => s.subject), [ROOT, INTERMEDIATE, CLIENT]);
  for (const s of cb.seen) {
    assert.equal(s.ok, true);
    assert.equal(s.error, 0);
    assert.deepEqual(s.chain, [CLIENT, INTERMEDIATE, ROOT]);
    assert.equal(s.socket, pair.server, "store.socket is the accepted SecureSocket");
    assert.equal(s.socket.isServer, true);
    assertStoreIsDead(s.store);
  }
  assert.equal(pair.server.peerCertificate?.subject, CLIENT);
  assert.equal(cb.seen[2].fingerprint, await fixtureFingerprint256("client.pem"));
});

Deno.test("verify: a server requiring a certificate fails a client without one (callback not called)", async () => {
  const cb = recordingVerifier();
  using server = clientAuthServer(cb);
  using client = clientContext();
  using pair = await tlsPair(server, client, { exchange: true });
  const serverError = failure(pair.serverResult, "server handshake");
  assert.ok(
    serverError instanceof HandshakeError || serverError instanceof CertificateVerificationError,
    `got ${serverError}`,
  );
  assert.ok(failure(pair.clientResult, "client") instanceof Error);
  assert.equal(cb.seen.length, 0);
});

Deno.test("verify: a self-signed server is rejected by default and accepted by a callback returning true", async (t) => {
  await t.step("no callback: CertificateVerificationError (self-signed, depth 0)", async () => {
    using server = selfSignedServer();
    using client = clientContext();
    using pair = await tlsPair(server, client);
    assert.throws(() => {
      throw failure(pair.clientResult, "client");
    }, isVerificationError(DEPTH_ZERO_SELF_SIGNED, 0));
    assert.ok(failure(pair.serverResult, "server") instanceof SecureSocketError);
  });
  await t.step("callback returning true: handshake succeeds", async () => {
    const cb = recordingVerifier(() => true);
    using pair = await pairVerifiedBy(cb, { exchange: true }, selfSignedServer());
    success(pair.clientResult);
    success(pair.serverResult);
    assert.ok(cb.seen.length >= 1);
    assert.ok(cb.seen.every((s) => s.depth === 0 && s.subject === SERVER));
    assert.equal(cb.seen[0].ok, false, "OpenSSL's own checks failed");
    assert.equal(cb.seen[0].error, DEPTH_ZERO_SELF_SIGNED);
    assert.notEqual(cb.seen[0].errorString, cb.seen.find((s) => s.error === 0)?.errorString ?? "");
    assert.equal(pair.client.peerCertificate?.fingerprint256, await fixtureFingerprint256("selfsigned.pem"));
  });
});

Deno.test("verify: OpenSSL's own failures reach the callback, which normally returns ok", async (t) => {
  await t.step("an expired server certificate: ok=false with code 10 at depth 0", async () => {
    using server = new SecureSocketContext({ useSystemTrust: false });
    server.useCertificateChainFile(fixturePath("expired-chain.pem"));
    server.usePrivateKeyFile(fixturePath("expired.key"));
    using client = clientContext();
    const cb = recordingVerifier();
    client.setCertificateVerifyCallback(cb);
    using pair = await tlsPair(server, client);
    const CERT_HAS_EXPIRED = 10;
    assert.throws(() => {
      throw failure(pair.clientResult, "client");
    }, isVerificationError(CERT_HAS_EXPIRED, 0));
    const leaf = cb.seen.find((s) => s.depth === 0);
    assert.ok(leaf, "the callback saw the leaf");
    assert.equal(leaf.ok, false);
    assert.equal(leaf.error, CERT_HAS_EXPIRED);
    assert.ok(leaf.errorString.length > 0 && leaf.errorString !== cb.seen[0].errorString);
  });
  await t.step("a host name mismatch: ok=false at depth 0; the callback may override it", async () => {
    using server = serverContext();
    using client = clientContext();
    const HOSTNAME_MISMATCH = 62;
    const cb = recordingVerifier((ok, store) => store.depth === 0 && store.error === HOSTNAME_MISMATCH ? true : ok);
    client.setCertificateVerifyCallback(cb);
    using pair = await tlsPair(server, client, { hostname: "wrong.example", exchange: true });
    success(pair.clientResult);
    const leaf = cb.seen.find((s) => s.depth === 0 && !s.ok);
    assert.ok(leaf, "the mismatch was reported to the callback");
    assert.equal(leaf.error, HOSTNAME_MISMATCH);
    using withoutCallback = clientContext();
    using rejected = await tlsPair(server, withoutCallback, { hostname: "wrong.example" });
    assert.throws(() => {
      throw failure(rejected.clientResult, "client");
    }, isVerificationError(HOSTNAME_MISMATCH, 0));
  });
});

Deno.test("verify: fingerprint pinning accepts only the pinned certificate", async (t) => {
  const pin = await fixtureFingerprint256("selfsigned.pem");
  const pinning = (pinned: string) =>
    recordingVerifier((ok, store) => store.depth === 0 ? store.currentCertificate?.fingerprint256 === pinned : ok);

  await t.step("the pinned self-signed server is accepted", async () => {
    const cb = pinning(pin);
    using pair = await pairVerifiedBy(cb, { exchange: true }, selfSignedServer());
    success(pair.clientResult);
    success(pair.serverResult);
    assert.equal(cb.seen[0].fingerprint, pin);
    await pair.client.write(enc("pinned"));
    const buf = new Uint8Array(16);
    const n = await pair.server.read(buf);
    assert.equal(dec(buf.subarray(0, n ?? 0)), "pinned");
  });
  await t.step("a different pin rejects the self-signed server", async () => {
    using pair = await pairVerifiedBy(pinning(await fixtureFingerprint256("server.pem")), {}, selfSignedServer());
    const error = failure(pair.clientResult, "client");
    assert.ok(error instanceof CertificateVerificationError, `got ${error}`);
    assert.equal(error.depth, 0);
  });
  await t.step("the pin also rejects a valid, CA-issued server with another key", async () => {
    using pair = await pairVerifiedBy(pinning(pin));
    assert.throws(() => {
      throw failure(pair.clientResult, "client");
    }, isVerificationError(APPLICATION_VERIFICATION, 0));
  });
});

Deno.test("verify: returning false rejects a valid chain", async (t) => {
  await t.step("client: false at depth 0 → code 50 (application verification)", async () => {
    using server = serverContext();
    using client = clientContext();
    const cb = recordingVerifier((ok, store) => store.depth === 0 ? false : ok);
    client.setCertificateVerifyCallback(cb);
    using pair = await tlsPair(server, client);
    assert.throws(() => {
      throw failure(pair.clientResult, "client");
    }, isVerificationError(APPLICATION_VERIFICATION, 0));
    assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
    assert.ok(failure(pair.serverResult, "server") instanceof SecureSocketError, "the server is told (alert)");
  });
  await t.step("client: false at the root stops at once (depth 2)", async () => {
    const cb = recordingVerifier(() => false);
    using pair = await pairVerifiedBy(cb);
    assert.throws(() => {
      throw failure(pair.clientResult, "client");
    }, isVerificationError(APPLICATION_VERIFICATION, 2));
    assert.deepEqual(cb.seen.map((s) => s.depth), [2]);
  });
  await t.step("client: a code set with store.setError is the error's code", async () => {
    let errorInside = -1;
    using pair = await pairVerifiedBy((ok, store) => {
      if (store.depth !== 1) return ok;
      store.setError(CERT_REJECTED);
      errorInside = store.error;
      return false;
    });
    assert.equal(errorInside, CERT_REJECTED);
    assert.throws(() => {
      throw failure(pair.clientResult, "client");
    }, isVerificationError(CERT_REJECTED, 1));
  });
  await t.step("server: false rejects the client's certificate", async () => {
    const cb = recordingVerifier((ok, store) => store.depth === 0 ? false : ok);
    using pair = await clientAuthPair(cb);
    assert.throws(() => {
      throw failure(pair.serverResult, "server");
    }, isVerificationError(APPLICATION_VERIFICATION, 0));
    assert.ok(failure(pair.clientResult, "client") instanceof Error, "the client sees the rejection");
    assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
  });
  await t.step("setCertificateVerifyCallback rejects a non-function", () => {
    using ctx = clientContext();
    assert.throws(() => ctx.setCertificateVerifyCallback(true as unknown as VerifyCallback), TypeError);
  });
});

Deno.test("verify: an error thrown by the callback rejects the handshake with the same object", async (t) => {
  await t.step("client: connect() rejects with it", async () => {
    const thrown = new Error("verification exploded");
    let calls = 0;
    using pair = await pairVerifiedBy((ok, store) => {
      calls++;
      if (store.depth === 1) throw thrown;
      return ok;
    });
    assert.equal(failure(pair.clientResult, "client"), thrown);
    assert.equal(calls, 2, "the handshake stops at the throwing certificate");
    assert.ok(failure(pair.serverResult, "server") instanceof SecureSocketError);
    await assert.rejects(pair.client.read(new Uint8Array(1)));
  });
  await t.step("client: SecureSocket.connect rejects with it", async () => {
    using server = serverContext();
    using client = clientContext();
    const thrown = new RangeError("depth 0 not allowed");
    client.setCertificateVerifyCallback(() => {
      throw thrown;
    });
    const listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
    const accepted = listener.accept();
    const connecting = settle(
      SecureSocket.connect(client, { hostname: "127.0.0.1", servername: "localhost", port: listener.addr.port }),
    );
    const peer = await accepted;
    const serverSide = await settle(peer.handshake());
    assert.ok(!serverSide.ok);
    peer.close();
    listener.close();
    assert.equal(failure(await connecting, "connect"), thrown);
  });
  await t.step("server: handshake() rejects with it", async () => {
    const thrown = new Error("client not welcome");
    using pair = await clientAuthPair(() => {
      throw thrown;
    });
    assert.equal(failure(pair.serverResult, "server"), thrown);
    assert.ok(failure(pair.clientResult, "client") instanceof Error);
    // Later I/O on the failed server socket rejects too.
    await assert.rejects(pair.server.read(new Uint8Array(1)));
  });
});

Deno.test("verify: a client's callback may answer with a Promise", async (t) => {
  await t.step("resolving true after a timer: the handshake waits, then succeeds", async () => {
    using server = serverContext();
    using client = clientContext();
    const events: string[] = [];
    const cb = recordingVerifier(async (ok, store) => {
      const depth = store.depth;
      await delay(40);
      events.push(`resolved ${depth}`);
      return ok;
    });
    client.setCertificateVerifyCallback(cb);
    const [pair, elapsed] = await timed(() => tlsPair(server, client, { exchange: true }));
    using _pair = pair;
    success(pair.clientResult);
    success(pair.serverResult);
    events.push("connected");
    assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0], "exactly once per certificate");
    assert.deepEqual(events.slice(0, 3).sort(), ["resolved 0", "resolved 1", "resolved 2"]);
    assert.equal(events.at(-1), "connected");
    assert.ok(elapsed >= 35, `the handshake waited for the answers (${elapsed} ms)`);
    assert.equal(pair.client.protocol, "TLSv1.3");
    assert.ok(cb.seen.every((s) => s.socket === pair.client));
  });
  await t.step("the store is dead once the callback has returned its Promise", async () => {
    const afterAwait: unknown[] = [];
    using pair = await pairVerifiedBy(async (ok, store) => {
      await delay(1);
      try {
        afterAwait.push(store.depth);
      } catch (error) {
        afterAwait.push(error);
      }
      return ok;
    }, { exchange: true });
    success(pair.clientResult);
    assert.equal(afterAwait.length, 3);
    for (const e of afterAwait) assert.ok(e instanceof SecureSocketError, `store used after return gave ${e}`);
  });
  await t.step("mixed synchronous and asynchronous answers", async () => {
    const cb = recordingVerifier((ok, store) => store.depth === 1 ? delay(20).then(() => ok) : ok);
    using pair = await pairVerifiedBy(cb, { exchange: true });
    success(pair.clientResult);
    assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
  });
  await t.step("resolving false fails the handshake", async () => {
    const cb = recordingVerifier(async (ok, store) => {
      const depth = store.depth;
      await delay(10);
      return depth === 0 ? false : ok;
    });
    using pair = await pairVerifiedBy(cb);
    assert.throws(() => {
      throw failure(pair.clientResult, "client");
    }, isVerificationError(APPLICATION_VERIFICATION, 0));
    assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0], "exactly once per certificate");
  });
  await t.step("rejecting: connect() rejects with the same error object", async () => {
    const thrown = new Error("OCSP responder unreachable");
    const cb = recordingVerifier(async (ok, store) => {
      const depth = store.depth;
      await delay(5);
      if (depth === 0) throw thrown;
      return ok;
    });
    using pair = await pairVerifiedBy(cb);
    assert.equal(failure(pair.clientResult, "client"), thrown);
    assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
  });
  await t.step("resolving to a non-boolean: TypeError", async () => {
    using pair = await pairVerifiedBy((() => Promise.resolve("yes")) as unknown as VerifyCallback);
    assert.ok(failure(pair.clientResult, "client") instanceof TypeError);
  });
  await t.step("the same answers for a self-signed server: a Promise of true pins it", async () => {
    const pin = await fixtureFingerprint256("selfsigned.pem");
    const cb = recordingVerifier(async (_ok, store) => {
      const fingerprint = store.currentCertificate?.fingerprint256;
      await delay(10);
      return fingerprint === pin;
    });
    using pair = await pairVerifiedBy(cb, { exchange: true }, selfSignedServer());
    success(pair.clientResult);
    // OpenSSL reports twice on the only certificate (self-signed, then the
    // overridden pass goes on): each report is asked once, the same reports a
    // synchronous callback sees.
    const sync = recordingVerifier((_ok, store) => store.currentCertificate?.fingerprint256 === pin);
    using syncPair = await pairVerifiedBy(sync, { exchange: true }, selfSignedServer());
    success(syncPair.clientResult);
    const reports = (seen: Seen[]) => seen.map((s) => `${s.depth}:${s.ok}:${s.error}`);
    assert.deepEqual(reports(cb.seen), reports(sync.seen));
    assert.ok(cb.seen.every((s) => s.depth === 0));
  });
});

Deno.test("verify: a server's callback returning a Promise is a TypeError", async () => {
  const cb = recordingVerifier((ok) => Promise.resolve(ok));
  using pair = await clientAuthPair(cb);
  const error = failure(pair.serverResult, "server");
  assert.ok(error instanceof TypeError, `got ${error}`);
  assert.match(error.message, /Promise/);
  assert.ok(failure(pair.clientResult, "client") instanceof Error, "the client was not let in");
  assert.equal(cb.seen.length, 1, "the handshake stops at the first asynchronous answer");
});

Deno.test("verify: a wrong return type is a TypeError", async (t) => {
  const bad: [string, unknown][] = [["a string", "yes"], ["undefined", undefined], ["a number", 1], ["null", null]];
  for (const [label, value] of bad) {
    await t.step(`client, ${label}`, async () => {
      using pair = await pairVerifiedBy((() => value) as unknown as VerifyCallback);
      assert.ok(failure(pair.clientResult, "client") instanceof TypeError);
    });
  }
  await t.step("server, a string", async () => {
    using pair = await clientAuthPair((() => "ok") as unknown as VerifyCallback);
    assert.ok(failure(pair.serverResult, "server") instanceof TypeError);
  });
});

Deno.test("verify: our client verifies openssl s_server's chain", async () => {
  const peer = await opensslServer([...serverCertArgs(), "-naccept", "1"]);
  try {
    using client = clientContext();
    const cb = recordingVerifier();
    client.setVerify(VerifyMode.Peer, cb);
    const socket = new SecureSocket(client, { hostname: "localhost" });
    await socket.connect({ hostname: "127.0.0.1", port: peer.port });
    assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
    assert.deepEqual(cb.seen.map((s) => s.subject), [ROOT, INTERMEDIATE, SERVER]);
    assert.ok(cb.seen.every((s) => s.ok && s.socket === socket));
    await socket.write(enc("hello s_server\n"));
    await peer.waitFor(/hello s_server/);
    socket.close();
  } finally {
    await peer.close();
  }
});

Deno.test("verify: our client's callback rejects openssl s_server", async () => {
  const peer = await opensslServer(serverCertArgs());
  try {
    using client = clientContext();
    client.setCertificateVerifyCallback((ok, store) => store.depth === 0 ? false : ok);
    const socket = new SecureSocket(client, { hostname: "localhost" });
    await assert.rejects(
      socket.connect({ hostname: "127.0.0.1", port: peer.port }),
      isVerificationError(APPLICATION_VERIFICATION, 0),
    );
    await peer.waitFor(/alert/i);
  } finally {
    await peer.close();
  }
});

Deno.test("verify: our server verifies openssl s_client's certificate chain", async (t) => {
  for (const accept of [true, false]) {
    await t.step(accept ? "accepted" : "rejected by the callback", async () => {
      const cb = recordingVerifier((ok, store) => accept || store.depth !== 0 ? ok : false);
      using server = clientAuthServer(cb);
      const listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
      const accepted = listener.accept();
      const peer = opensslClient(listener.addr.port, [
        ...["-servername", "localhost", "-CAfile", "ca.pem", "-verify_return_error"],
        ...clientCertArgs(),
      ]);
      const socket = await accepted;
      try {
        const result = await settle(socket.handshake());
        assert.deepEqual(cb.seen.map((s) => s.depth), [2, 1, 0]);
        assert.deepEqual(cb.seen.map((s) => s.subject), [ROOT, INTERMEDIATE, CLIENT]);
        assert.ok(cb.seen.every((s) => s.socket === socket));
        if (accept) {
          success(result);
          assert.equal(socket.peerCertificate?.subject, CLIENT);
          await socket.write(enc("hello s_client\n"));
          await peer.waitFor(/hello s_client/);
          await socket.closeWrite();
        } else {
          assert.throws(() => {
            throw failure(result, "server handshake");
          }, isVerificationError(APPLICATION_VERIFICATION, 0));
          // s_client reports the fatal alert our server sent.
          await peer.waitFor(/alert/i);
        }
      } finally {
        socket.close();
        listener.close();
        await peer.close();
      }
    });
  }
});

Deno.test("verify: X509StoreContext exposes certificates equal to the fixtures", async () => {
  const fromStore: X509Certificate[] = [];
  using pair = await pairVerifiedBy((ok, store) => {
    if (store.depth === 0) fromStore.push(...store.chain);
    return ok;
  });
  success(pair.clientResult);
  const expected = ["server.pem", "intermediate.pem", "ca.pem"].map((f) => X509Certificate.fromPEM(fixture(f)));
  assert.deepEqual(fromStore.map((c) => c.fingerprint256), expected.map((c) => c.fingerprint256));
  assert.deepEqual(fromStore.map((c) => c.toPEM()), expected.map((c) => c.toPEM()));
});
