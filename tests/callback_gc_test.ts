/**
 * Cross-cutting callback tests: thousands of in-process handshakes with all
 * four callbacks set while the garbage collector is forced to run; native
 * trampolines are per process (their number grows neither with contexts nor
 * with handshakes) and contexts are freed when closed; callbacks can be
 * replaced and cleared.
 *
 * Run with `--v8-flags=--expose-gc` (the test task does); without it the GC
 * calls are skipped but everything else still runs.
 */
import assert from "node:assert/strict";
import {
  type ClientCertificate,
  ContextInUseError,
  type InfoCallback,
  PrivateKey,
  SecureSocket,
  SecureSocketContext,
  SecureSocketListener,
  UnableToReadPrivateKeyError,
  type VerifyCallback,
  VerifyMode,
  X509Certificate,
} from "../mod.ts";
import { openCallbackCount } from "../ffi/callbacks.ts";
import { liveContextCount } from "../lib/context_core.ts";
import { clientContext, fixture, fixturePath, hasCapability, serverContext } from "./helpers.ts";
import { failure, success, tlsPair } from "./callback_utils.ts";

const PASSWORD = "secsock-pass";
const exposedGc = (globalThis as { gc?: () => void }).gc;
hasCapability("--v8-flags=--expose-gc", exposedGc ? null : "globalThis.gc is not defined");
const gc: () => void = exposedGc ?? (() => {});
const HANDSHAKES = Number(Deno.env.get("SECSOCK_GC_HANDSHAKES") ?? 2000);
const CONCURRENCY = 4;

/** Counters for every callback kind. */
class Counters {
  password = 0;
  serverVerify = 0;
  clientVerify = 0;
  serverInfo = 0;
  clientInfo = 0;
  clientCert = 0;
}

/** Server and client contexts with every applicable callback set (EC keys, for speed). */
function contexts(counters: Counters, clientCert: ClientCertificate) {
  const server = new SecureSocketContext({ useSystemTrust: false });
  server.useCertificateChain(fixture("server-ec-chain.pem"));
  server.setPasswordCallback((_max, rwflag) => {
    counters.password++;
    assert.equal(rwflag, 0);
    return PASSWORD;
  });
  server.usePrivateKey(fixture("server-ec-key-legacy-aes256.pem")); // inline, encrypted: §1
  server.addTrustedCertificate(fixture("ca.pem"));
  server.setVerify(VerifyMode.Peer | VerifyMode.FailIfNoPeerCert, (ok) => { // §2
    counters.serverVerify++;
    return ok;
  });
  server.setInfoCallback(() => { // §3
    counters.serverInfo++;
  });
  const client = clientContext();
  client.setCertificateVerifyCallback((ok, store) => { // §2
    counters.clientVerify++;
    return ok && store.currentCertificate !== null;
  });
  client.setInfoCallback((socket) => { // §3
    counters.clientInfo++;
    void socket.stateString;
  });
  client.setClientCertificateCallback((socket) => { // §4
    counters.clientCert++;
    return socket.acceptableIssuers.length > 0 ? clientCert : null;
  });
  return { server, client };
}

function loadClientCertificate(): ClientCertificate {
  return {
    certificate: X509Certificate.fromPEM(fixture("client-ec.pem")),
    privateKey: PrivateKey.fromFile(fixturePath("client-ec.key")),
    chain: [X509Certificate.fromPEM(fixture("intermediate.pem"))],
  };
}

/** One handshake plus a one-byte round trip, both ends closed afterwards. */
async function oneHandshake(
  listener: SecureSocketListener,
  client: SecureSocketContext,
): Promise<void> {
  const accepted = listener.accept();
  const socket = new SecureSocket(client, { hostname: "localhost" });
  let peer: SecureSocket | null = null;
  try {
    const connecting = socket.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    peer = await accepted;
    await Promise.all([connecting, peer.handshake()]);
    await socket.write(new Uint8Array([7]));
    const buf = new Uint8Array(1);
    assert.equal(await peer.read(buf), 1);
    assert.equal(buf[0], 7);
  } finally {
    socket.close();
    peer?.close();
  }
}

Deno.test({
  name: `gc: ${HANDSHAKES} handshakes with all four callbacks under forced GC`,
  fn: async () => {
    gc();
    const contextsBefore = liveContextCount();
    const counters = new Counters();
    const clientCert = loadClientCertificate();
    const { server, client } = contexts(counters, clientCert);
    assert.equal(counters.password, 1, "the inline encrypted key asked for its password once");
    // Accept is serialized per connection, so one listener per worker keeps pairs matched.
    const listeners = Array.from(
      { length: CONCURRENCY },
      () => SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 }),
    );
    await oneHandshake(listeners[0], client);
    let done = 1;
    // Every trampoline exists once the first context was made (ffi/callbacks.ts).
    const perProcess = openCallbackCount();
    assert.ok(perProcess > 0, "the process has its trampolines");
    const counts: number[] = [];
    const start = performance.now();
    try {
      await Promise.all(listeners.map(async (listener) => {
        while (done < HANDSHAKES) {
          done++;
          await oneHandshake(listener, client);
          if (done % 100 === 0) {
            gc();
            counts.push(openCallbackCount());
            // §1 under GC as well: a per-load password trampoline comes and goes.
            using key = PrivateKey.fromPEM(fixture("server-key-pkcs8-aes256.pem"), () => PASSWORD);
            assert.equal(key.bits, 2048);
          }
        }
      }));
    } finally {
      listeners.forEach((l) => l.close());
    }
    const elapsed = performance.now() - start;
    gc();
    assert.ok(done >= HANDSHAKES);
    assert.ok(counts.every((n) => n === perProcess), `callback count drifted: ${perProcess} → ${counts}`);
    assert.equal(openCallbackCount(), perProcess, "no trampoline per handshake");
    assert.equal(counters.clientCert, done, "the client certificate callback ran once per handshake");
    assert.equal(counters.clientVerify, 3 * done, "three certificates verified per handshake (client)");
    assert.equal(counters.serverVerify, 3 * done, "three certificates verified per handshake (server)");
    assert.ok(counters.clientInfo >= 5 * done && counters.serverInfo >= 5 * done, "info callbacks ran");
    assert.ok(elapsed < 60_000, `${done} handshakes took ${Math.round(elapsed)} ms`);
    server.close();
    client.close();
    (clientCert.privateKey as PrivateKey).close();
    gc();
    assert.equal(liveContextCount(), contextsBefore, "closing the contexts frees them");
    assert.equal(openCallbackCount(), perProcess, "trampolines are per process, not per context");
  },
});

Deno.test("gc: contexts made and closed per handshake leave no contexts or trampolines behind", async () => {
  // The first context makes the process's trampolines; none is made after it.
  new SecureSocketContext().close();
  gc();
  const baseline = openCallbackCount();
  const contextsBefore = liveContextCount();
  const clientCert = loadClientCertificate();
  try {
    for (let i = 0; i < 100; i++) {
      const counters = new Counters();
      const { server, client } = contexts(counters, clientCert);
      const listener = SecureSocketListener.listen(server, { hostname: "127.0.0.1", port: 0 });
      try {
        await oneHandshake(listener, client);
      } finally {
        listener.close();
        // Closing the contexts while nothing else holds them frees everything.
        server.close();
        client.close();
      }
      assert.equal(counters.clientCert, 1);
      assert.equal(openCallbackCount(), baseline, `iteration ${i}`);
      assert.equal(liveContextCount(), contextsBefore, `iteration ${i}`);
      if (i % 10 === 0) gc();
    }
  } finally {
    (clientCert.privateKey as PrivateKey).close();
  }
});

Deno.test("gc: a context closed while its socket lives stays until the socket closes", async () => {
  gc();
  const baseline = liveContextCount();
  const counters = new Counters();
  const clientCert = loadClientCertificate();
  const { server, client } = contexts(counters, clientCert);
  const pair = await tlsPair(server, client, { exchange: true });
  try {
    success(pair.clientResult);
    server.close();
    client.close();
    gc();
    assert.ok(liveContextCount() > baseline, "the sockets still hold their contexts");
    // The callbacks still work: close_notify reaches both info callbacks.
    const before = counters.clientInfo;
    await pair.client.closeWrite();
    assert.equal(await pair.server.read(new Uint8Array(1)), null);
    assert.ok(counters.clientInfo > before);
  } finally {
    pair.close();
    (clientCert.privateKey as PrivateKey).close();
  }
  gc();
  assert.equal(liveContextCount(), baseline);
});

Deno.test("gc: replacing and clearing callbacks", async (t) => {
  await t.step("verify: the new callback is called, the old one is not; null restores the default", async () => {
    using server = serverContext();
    const calls = { a: 0, b: 0 };
    const a: VerifyCallback = (ok) => (calls.a++, ok);
    const b: VerifyCallback = (ok) => (calls.b++, ok);
    // Replaced before the first socket (afterwards the setting is frozen).
    using client = clientContext();
    client.setCertificateVerifyCallback(a);
    client.setVerify(VerifyMode.Peer, b);
    {
      using pair = await tlsPair(server, client);
      success(pair.clientResult);
    }
    assert.deepEqual(calls, { a: 0, b: 3 });
    assert.throws(() => client.setCertificateVerifyCallback(a), ContextInUseError);
    {
      using pair = await tlsPair(server, client);
      success(pair.clientResult);
    }
    assert.deepEqual(calls, { a: 0, b: 6 }, "the refused replacement changed nothing");
    using cleared = clientContext();
    cleared.setCertificateVerifyCallback(a);
    cleared.setCertificateVerifyCallback(null);
    {
      using pair = await tlsPair(server, cleared);
      success(pair.clientResult);
    }
    assert.deepEqual(calls, { a: 0, b: 6 });
    // With no callback, a self-signed server is rejected; with an accepting one, it is not.
    using selfSigned = new SecureSocketContext({ useSystemTrust: false });
    selfSigned.useCertificateChainFile(fixturePath("selfsigned.pem"));
    selfSigned.usePrivateKeyFile(fixturePath("selfsigned.key"));
    using accepting = clientContext();
    accepting.setCertificateVerifyCallback(() => true);
    {
      using pair = await tlsPair(selfSigned, accepting);
      success(pair.clientResult);
    }
    using pair = await tlsPair(selfSigned, cleared);
    failure(pair.clientResult, "client");
  });

  await t.step("info: context default and socket callback can be replaced and cleared", async () => {
    using server = serverContext();
    using client = clientContext();
    const calls = { a: 0, b: 0, own1: 0, own2: 0 };
    client.setInfoCallback(() => calls.a++);
    client.setInfoCallback(() => calls.b++);
    {
      using pair = await tlsPair(server, client);
      success(pair.clientResult);
    }
    assert.equal(calls.a, 0);
    assert.ok(calls.b > 0);
    client.setInfoCallback(null);
    const bBefore = calls.b;
    {
      const first: InfoCallback = () => calls.own1++;
      const second: InfoCallback = () => calls.own2++;
      using pair = await tlsPair(server, client, {
        onClient: (s) => {
          s.setInfoCallback(first);
          s.setInfoCallback(second);
        },
      });
      success(pair.clientResult);
    }
    assert.equal(calls.b, bBefore, "a cleared context default is not called");
    assert.equal(calls.own1, 0);
    assert.ok(calls.own2 > 0);
    const own2Before = calls.own2;
    {
      using pair = await tlsPair(server, client, {
        onClient: (s) => {
          s.setInfoCallback(() => calls.own1++);
          s.setInfoCallback(null);
        },
      });
      success(pair.clientResult);
    }
    assert.equal(calls.own1, 0, "a cleared socket callback is not called");
    assert.equal(calls.own2, own2Before);
  });

  await t.step("client certificate: the new chooser decides; null sends none", async () => {
    using server = serverContext();
    server.addTrustedCertificate(fixture("ca.pem"));
    server.setVerify(VerifyMode.Peer); // asks, but does not require
    const calls = { rsa: 0, ec: 0 };
    const withChain = (name: string) => ({
      certificate: fixture(`${name}.pem`),
      privateKey: fixture(`${name}.key`),
      chain: [fixture("intermediate.pem")],
    });
    // Toggling (before the first socket) does not pile up trampolines.
    using client = clientContext();
    const count = openCallbackCount();
    for (let i = 0; i < 50; i++) {
      client.setClientCertificateCallback(() => null);
      client.setClientCertificateCallback(null);
    }
    assert.ok(openCallbackCount() <= count + 1);
    client.setClientCertificateCallback(() => (calls.rsa++, withChain("client")));
    client.setClientCertificateCallback(() => (calls.ec++, withChain("client-ec")));
    {
      using pair = await tlsPair(server, client, { exchange: true });
      success(pair.serverResult);
      assert.equal(pair.server.peerCertificate?.subject, "CN=secsock client ec,O=secsock");
    }
    assert.deepEqual(calls, { rsa: 0, ec: 1 });
    assert.throws(() => client.setClientCertificateCallback(null), ContextInUseError);
    using cleared = clientContext();
    cleared.setClientCertificateCallback(() => (calls.rsa++, withChain("client")));
    cleared.setClientCertificateCallback(null);
    {
      using pair = await tlsPair(server, cleared, { exchange: true });
      success(pair.serverResult);
      assert.equal(pair.server.peerCertificate, null);
    }
    assert.deepEqual(calls, { rsa: 0, ec: 1 });
  });

  await t.step("password: the new callback is called, the old one is not; null means no password", () => {
    using ctx = new SecureSocketContext({ useSystemTrust: false });
    ctx.useCertificateChainFile(fixturePath("server-chain.pem"));
    const calls = { a: 0, b: 0 };
    ctx.setPasswordCallback(() => (calls.a++, PASSWORD));
    ctx.usePrivateKeyFile(fixturePath("server-key-pkcs8-aes256.pem"));
    ctx.setPasswordCallback(() => (calls.b++, PASSWORD));
    ctx.usePrivateKeyFile(fixturePath("server-key-legacy-des3.pem"));
    assert.deepEqual(calls, { a: 1, b: 1 });
    ctx.setPasswordCallback(null);
    assert.throws(() => ctx.usePrivateKeyFile(fixturePath("server-key-pkcs8-aes256.pem")), UnableToReadPrivateKeyError);
    assert.deepEqual(calls, { a: 1, b: 1 });
  });
});
