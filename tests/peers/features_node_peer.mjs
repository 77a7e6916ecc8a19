// Node tls peer for the issue 7 feature suites (tests/features_*_test.ts).
//
//   node features_node_peer.mjs '<json config>'   (see NodePeerConfig in features_utils.ts)
//
// Server: listens on 127.0.0.1:0 and prints "LISTENING <port>"; for each
// connection it reads one line, echoes it, prints "REPORT <json>" and ends the
// connection; after `connections` connections (default 1) it exits.
// Client: connects to 127.0.0.1:<port>, sends `send` (default "hello\n"),
// reads one line back, prints "REPORT <json>" and ends.
// Handshake failures print "ERROR <json>" ({ code, message }).
// Key log lines (the 'keylog' events), keying material, Finished messages and
// the stapled OCSP response are part of the report.
import fs from "node:fs";
import tls from "node:tls";

const config = JSON.parse(process.argv[2]);
const fixture = (name) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const print = (kind, value) => process.stdout.write(`${kind} ${JSON.stringify(value)}\n`);
const hexOrNull = (buf) => (buf && buf.length ? buf.toString("hex") : null);

function report(socket, extra) {
  const peer = socket.getPeerCertificate();
  const cipher = socket.getCipher();
  return {
    protocol: socket.getProtocol() ?? null,
    cipher: cipher ? cipher.standardName ?? cipher.name : null,
    alpn: socket.alpnProtocol || null,
    servername: socket.servername || null,
    authorized: socket.authorized,
    authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
    peerFingerprint256: peer && peer.fingerprint256 ? peer.fingerprint256 : null,
    peerSubject: peer && peer.subject ? `CN=${peer.subject.CN},O=${peer.subject.O}` : null,
    finished: hexOrNull(socket.getFinished()),
    peerFinished: hexOrNull(socket.getPeerFinished()),
    ekm: (config.ekm ?? []).map(([label, length, context]) =>
      socket.exportKeyingMaterial(length, label, context === null ? undefined : Buffer.from(context, "hex"))
        .toString("hex")
    ),
    sessionReused: socket.isSessionReused(),
    ...extra,
  };
}

function errorReport(error) {
  return { code: error.code ?? null, message: String(error.message ?? error) };
}

/** Reads one line from a socket. */
function readLine(socket) {
  return new Promise((resolve) => {
    let text = "";
    const onData = (chunk) => {
      text += chunk.toString("utf8");
      if (text.includes("\n")) {
        socket.off("data", onData);
        resolve(text);
      }
    };
    socket.on("data", onData);
    socket.on("end", () => resolve(text));
  });
}

const versions = {
  ...(config.minVersion ? { minVersion: config.minVersion } : {}),
  ...(config.maxVersion ? { maxVersion: config.maxVersion } : {}),
};

if (config.role === "server") {
  const leaf = config.leaf ?? "server";
  const contexts = new Map(
    Object.entries(config.sni ?? {}).map(([name, l]) => [
      name,
      tls.createSecureContext({ cert: fixture(`${l}-chain.pem`), key: fixture(`${l}.key`) }),
    ]),
  );
  const sniRequested = [];
  const keylogs = new Map();
  const server = tls.createServer({
    cert: fixture(`${leaf}-chain.pem`),
    key: fixture(`${leaf}.key`),
    ca: fixture("ca.pem"),
    requestCert: config.requestCert ?? false,
    rejectUnauthorized: false,
    ...versions,
    ...(config.alpn ? { ALPNProtocols: config.alpn } : {}),
    ...(config.sni
      ? {
        SNICallback: (name, cb) => {
          sniRequested.push(name || null);
          cb(null, contexts.get(name) ?? null);
        },
      }
      : {}),
  });
  if (config.ocspFile) {
    const response = fixture(config.ocspFile);
    server.on("OCSPRequest", (_cert, _issuer, cb) => cb(null, response));
  }
  server.on("keylog", (line, socket) => {
    if (!keylogs.has(socket)) keylogs.set(socket, []);
    keylogs.get(socket).push(line.toString("utf8").trim());
  });
  let remaining = config.connections ?? 1;
  const done = () => {
    if (--remaining === 0) server.close();
  };
  server.on("tlsClientError", (error) => {
    print("ERROR", errorReport(error));
    done();
  });
  server.on("secureConnection", async (socket) => {
    socket.on("error", () => {});
    const line = await readLine(socket);
    socket.write(line);
    print("REPORT", report(socket, { keylog: keylogs.get(socket) ?? [], sniRequested, received: line, session: null }));
    socket.end();
    done();
  });
  server.listen(0, "127.0.0.1", () => print("LISTENING", server.address().port));
} else {
  const keylog = [];
  let ocsp = null;
  const socket = tls.connect({
    host: "127.0.0.1",
    port: config.port,
    ca: fixture("ca.pem"),
    ...(config.servername ? { servername: config.servername } : {}),
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(config.servername ?? "localhost", cert),
    ...versions,
    ...(config.alpn ? { ALPNProtocols: config.alpn } : {}),
    ...(config.leaf ? { cert: fixture(`${config.leaf}-chain.pem`), key: fixture(`${config.leaf}.key`) } : {}),
    ...(config.requestOcsp ? { requestOCSP: true } : {}),
    ...(config.session ? { session: Buffer.from(config.session, "hex") } : {}),
  });
  let session = null;
  socket.on("session", (data) => session = data.toString("hex"));
  socket.on("keylog", (line) => keylog.push(line.toString("utf8").trim()));
  socket.on("OCSPResponse", (response) => ocsp = hexOrNull(response));
  socket.on("error", (error) => print("ERROR", errorReport(error)));
  socket.on("secureConnect", async () => {
    socket.write(config.send ?? "hello\n");
    const line = await readLine(socket);
    print("REPORT", report(socket, { keylog, ocsp, received: line, session }));
    socket.end();
  });
}
