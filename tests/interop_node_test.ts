/**
 * Interop with Node's `tls` (system node, OpenSSL bundled with Node): our
 * client against a Node server and a Node client against our server, with
 * byte-exact echoes, TLS 1.2 and 1.3, and clean closes on both sides.
 */
import assert from "node:assert/strict";
import type { SecureSocket } from "../mod.ts";
import {
  clientContext,
  connectLocal,
  echoServer,
  fixturePath,
  type HandshakeView,
  nodePeer,
  randomBytes,
  recordHandshake,
  roundTrip,
  serverContext,
  sha256,
  stopPeer,
  VERSIONS,
  waitExit,
  within,
} from "./helpers.ts";
import { TLS13_CIPHER } from "./peers/openssl.ts";

const FIXTURES = fixturePath("");
const SIZE = 1024 * 1024 + 123;
/**
 * How many close_notify alerts OpenSSL's message trace (Node's `enableTrace()`)
 * shows. The peers turn the trace on once the whole payload has crossed, so
 * it shows only the alerts of the closing exchange. The trace's layout differs
 * between OpenSSL versions (3.0 prints a "Received Record" header, 3.5 does
 * not): count the alert lines, whichever way they are framed.
 */
function closeNotifyAlerts(trace: string): number {
  return trace.match(/description=close notify\(0\)/g)?.length ?? 0;
}

for (const version of VERSIONS) {
  Deno.test(`secsock client ↔ Node tls server: ${version}, byte-exact echo, clean close`, async () => {
    const peer = nodePeer("node_tls_server.mjs", [FIXTURES, version, version, String(SIZE)]);
    using client = clientContext();
    let socket: SecureSocket | null = null;
    try {
      const port = Number((await peer.waitFor(/LISTENING (\d+)/))[1]);
      socket = await within(connectLocal(client, port), 10_000, "handshake with Node");
      const s = socket;
      assert.equal(s.protocol, version);
      assert.match(s.cipher ?? "", version === "TLSv1.3" ? TLS13_CIPHER : /^ECDHE-RSA-/);
      assert.equal(s.peerCertificate?.subject, "CN=localhost,O=secsock");

      const payload = randomBytes(SIZE);
      // roundTrip throws TruncatedStreamError if Node ends without close_notify.
      const echoed = await within(roundTrip(s, payload), 20_000, "echo through Node");
      assert.equal(echoed.length, payload.length);
      assert.equal(await sha256(echoed), await sha256(payload));

      const end = JSON.parse((await peer.waitFor(/END (\{.*\})/))[1]);
      assert.equal(end.bytes, SIZE);
      assert.equal(end.sha256, await sha256(payload));
      assert.equal(end.protocol, version);
      assert.equal(end.servername, "localhost");
      const closed = JSON.parse((await peer.waitFor(/CLOSED (\{.*\})/))[1]);
      assert.deepEqual(closed, { hadError: false, errors: [] }, peer.output());
      // Node received our close_notify (not just a TCP FIN) and sent its own:
      // two alerts; a FIN alone would leave only Node's. And no ECONNRESET.
      assert.ok(closeNotifyAlerts(peer.output()) >= 2, peer.output());
      assert.doesNotMatch(peer.output(), /ECONNRESET|ERROR /);
      const { status, exited } = await waitExit(peer, 10_000);
      assert.ok(exited, peer.output());
      assert.equal(status.code, 0, peer.output());
    } finally {
      socket?.close();
      await stopPeer(peer);
    }
  });

  Deno.test(`Node tls client ↔ secsock server: ${version}, byte-exact echo, clean close`, async () => {
    using server = serverContext();
    const seen: HandshakeView[] = [];
    const echo = echoServer(server, recordHandshake(seen));
    const peer = nodePeer("node_tls_client.mjs", [FIXTURES, String(echo.port), version, version, String(SIZE)]);
    try {
      const { status, exited } = await waitExit(peer, 30_000);
      assert.ok(exited, `Node client did not finish:\n${peer.output()}`);
      const result = JSON.parse(peer.output().match(/RESULT (\{.*\})/)?.[1] ?? "null");
      assert.ok(result, peer.output());
      assert.equal(result.size, SIZE);
      assert.equal(result.bytes, SIZE);
      assert.equal(result.received, result.sent);
      assert.equal(result.authorized, true);
      assert.equal(result.protocol, version);
      assert.equal(result.ended, true);
      assert.equal(result.hadError, false);
      assert.deepEqual(result.errors, []);
      assert.equal(status.code, 0, peer.output());
      // Node saw our close_notify, not just a TCP FIN: its own went out with
      // end(payload), before the trace was on, so every traced alert is ours.
      assert.ok(closeNotifyAlerts(peer.output()) >= 1, peer.output());
    } finally {
      await stopPeer(peer);
      await echo.close();
    }
    assert.deepEqual(seen, [{ protocol: version, servername: "localhost" }]);
    // Our server side saw Node's close_notify: no TruncatedStreamError, no other error.
    assert.deepEqual(echo.errors, []);
  });
}
