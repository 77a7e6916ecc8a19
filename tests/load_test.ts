/**
 * Load and leak tests (issue 4).
 *
 * 1. Many concurrent clients (a separate Deno process, tests/peers/load_clients.ts)
 *    against one secsock server, each echoing 1 MiB in random chunk sizes with
 *    every byte checked. SECSOCK_LOAD_CLIENTS (default 500) and
 *    SECSOCK_LOAD_BYTES (default 1 MiB) scale it.
 * 2. Sequential handshakes in one process with every callback set, measuring
 *    native memory (RSS minus the V8 heap) after warm-up.
 *    SECSOCK_LOAD_HANDSHAKES (default 20000) sets the count; growth is
 *    measured over the second half of the run (the last 10,000 by default).
 *
 * Both print their figures with console.log.
 */
import assert from "node:assert/strict";
import { PrivateKey, type SecureSocket, SecureSocketListener, VerifyMode, X509Certificate } from "../mod.ts";
import { liveSocketCount } from "../lib/callbacks/connection.ts";
import { openCallbackCount } from "../ffi/callbacks.ts";
import { acceptHandshake, clientContext, connectLocal, delay, fixture, fixturePath, serverContext } from "./helpers.ts";
import { Proc } from "./matrix_utils.ts";

const CLIENTS = Number(Deno.env.get("SECSOCK_LOAD_CLIENTS") ?? 500);
const BYTES = Number(Deno.env.get("SECSOCK_LOAD_BYTES") ?? 1024 * 1024);
const HANDSHAKES = Number(Deno.env.get("SECSOCK_LOAD_HANDSHAKES") ?? 20_000);

Deno.test({
  name: `load: ${CLIENTS} concurrent clients (separate process) each echo ${BYTES} bytes, every byte checked`,
  async fn() {
    using ctx = serverContext();
    const listener = SecureSocketListener.listen(ctx, { hostname: "127.0.0.1", port: 0, handshakeTimeout: 60_000 });
    const serverErrors: unknown[] = [];
    const tasks: Promise<void>[] = [];
    let open = 0;
    let peak = 0;
    let echoed = 0;
    let accepted = 0;
    const loop = (async () => {
      for (;;) {
        let socket: SecureSocket;
        try {
          socket = await listener.accept();
        } catch {
          return;
        }
        accepted++;
        tasks.push((async () => {
          open++;
          peak = Math.max(peak, open);
          try {
            const buf = new Uint8Array(65536);
            for (;;) {
              const n = await socket.read(buf);
              if (n === null) break;
              await socket.write(buf.subarray(0, n));
              echoed += n;
            }
            await socket.closeWrite();
          } catch (error) {
            serverErrors.push(error);
          } finally {
            open--;
            socket.close();
          }
        })());
      }
    })();
    const started = performance.now();
    const script = new URL("./peers/load_clients.ts", import.meta.url).pathname;
    const seed = (Math.random() * 2 ** 31) | 0;
    const clients = new Proc(Deno.execPath(), [
      "run",
      "-A",
      script,
      ...[listener.addr.port, CLIENTS, BYTES, seed].map(String),
    ]);
    let result: Record<string, unknown>;
    try {
      const status = await clients.exit(175_000);
      assert.equal(status.code, 0, clients.describe());
      const line = new TextDecoder().decode(clients.stdout).trim().split("\n").at(-1)!;
      result = JSON.parse(line);
    } finally {
      await clients.stop();
      listener.close();
      await loop;
      await Promise.all(tasks);
    }
    const seconds = (performance.now() - started) / 1000;
    assert.deepEqual(result.errors, [], "client errors");
    assert.equal(result.failed, 0);
    assert.equal(result.ok, CLIENTS);
    assert.equal(result.verifiedBytes, CLIENTS * BYTES, "bytes verified by the clients");
    assert.equal(result.peakOpen, CLIENTS, "not all clients were connected at once");
    assert.deepEqual(serverErrors, [], "server errors");
    assert.equal(accepted, CLIENTS);
    assert.equal(peak, CLIENTS, "the server never held every connection at once");
    assert.equal(echoed, CLIENTS * BYTES);
    const mib = (CLIENTS * BYTES) / (1024 * 1024);
    console.log(
      `load: ${CLIENTS} concurrent clients × ${BYTES} bytes echoed and verified in ${seconds.toFixed(1)} s ` +
        `(${(mib / seconds).toFixed(1)} MiB/s echoed; client process reported ${Number(result.seconds).toFixed(1)} s)`,
    );
  },
});

Deno.test({
  name: `load: ${HANDSHAKES} sequential handshakes with callbacks set: native memory stays flat`,
  async fn() {
    const gc = (globalThis as { gc?: () => void }).gc;
    assert.ok(gc, "run with --v8-flags=--expose-gc");
    const counts = { serverVerify: 0, clientVerify: 0, serverInfo: 0, clientInfo: 0, clientCert: 0 };
    // ECDSA server certificate: the handshakes stay cheap, the callbacks all run.
    using sctx = serverContext(
      { ca: fixture("ca.pem"), verifyMode: VerifyMode.Peer | VerifyMode.FailIfNoPeerCert },
      "server-ec",
    );
    sctx.setCertificateVerifyCallback((ok) => {
      counts.serverVerify++;
      return ok;
    });
    sctx.setInfoCallback(() => {
      counts.serverInfo++;
    });
    using cctx = clientContext();
    cctx.setCertificateVerifyCallback((ok) => {
      counts.clientVerify++;
      return ok;
    });
    cctx.setInfoCallback(() => {
      counts.clientInfo++;
    });
    const certificate = X509Certificate.fromPEM(fixture("client-ec.pem"));
    const privateKey = PrivateKey.fromFile(fixturePath("client-ec.key"));
    const chain = [X509Certificate.fromPEM(fixture("intermediate.pem"))];
    cctx.setClientCertificateCallback(() => {
      counts.clientCert++;
      return { certificate, privateKey, chain };
    });

    const listener = SecureSocketListener.listen(sctx, { hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    const one = async () => {
      const [client, server] = await Promise.all([
        connectLocal(cctx, port),
        acceptHandshake(listener),
      ]);
      client.close();
      server.close();
    };
    const native = async () => {
      gc();
      await delay(0);
      gc();
      const m = Deno.memoryUsage();
      return m.rss - m.heapTotal;
    };

    // Warm-up: the contexts create their native trampolines on first use.
    await one();
    const socketsBefore = liveSocketCount();
    const callbacksBefore = openCallbackCount();
    Object.keys(counts).forEach((k) => (counts[k as keyof typeof counts] = 0));
    const started = performance.now();
    const samples: { n: number; native: number }[] = [];
    const half = Math.floor(HANDSHAKES / 2);
    const every = Math.max(1, Math.floor(HANDSHAKES / 40));
    try {
      for (let i = 1; i <= HANDSHAKES; i++) {
        await one();
        if (i % every === 0 || i === half || i === HANDSHAKES) samples.push({ n: i, native: await native() });
      }
    } finally {
      listener.close();
    }
    const seconds = (performance.now() - started) / 1000;
    assert.equal(liveSocketCount(), socketsBefore, "native sockets left registered");
    assert.equal(openCallbackCount(), callbacksBefore, "native callbacks grew with the sockets");
    // Every callback ran for every handshake: 3 certificates each way, one client certificate.
    assert.equal(counts.clientVerify, 3 * HANDSHAKES);
    assert.equal(counts.serverVerify, 3 * HANDSHAKES);
    assert.equal(counts.clientCert, HANDSHAKES);
    assert.ok(counts.clientInfo >= 5 * HANDSHAKES && counts.serverInfo >= 5 * HANDSHAKES);

    // Growth over the second half: the Theil-Sen slope through its samples
    // (the median of all pairwise slopes: one odd sample, e.g. a moment when
    // V8 held extra heap, cannot skew it), and the end-point difference.
    const window = samples.filter((s) => s.n >= half);
    const slopes: number[] = [];
    for (let i = 0; i < window.length; i++) {
      for (let j = i + 1; j < window.length; j++) {
        slopes.push((window[j].native - window[i].native) / (window[j].n - window[i].n));
      }
    }
    slopes.sort((a, b) => a - b);
    const perHandshake = slopes[Math.floor(slopes.length / 2)];
    const endPoints = (window.at(-1)!.native - window[0].native) / (window.at(-1)!.n - window[0].n);
    const table = samples.map((s) => `${s.n}:${(s.native / 1048576).toFixed(1)}`).join(" ");
    console.log(
      `load: ${HANDSHAKES} handshakes in ${seconds.toFixed(1)} s (${(HANDSHAKES / seconds).toFixed(0)}/s); ` +
        `native memory (RSS - V8 heap) over the last ${HANDSHAKES - half}: ` +
        `${(perHandshake * 1000 / 1024).toFixed(1)} KiB per 1,000 handshakes = ${
          perHandshake.toFixed(1)
        } bytes/handshake ` +
        `(Theil-Sen slope; end points: ${endPoints.toFixed(1)} bytes/handshake)\n  samples (handshakes:MiB) ${table}`,
    );
    assert.ok(perHandshake < 4096, `native memory grows ${perHandshake.toFixed(0)} bytes per handshake`);
  },
});
