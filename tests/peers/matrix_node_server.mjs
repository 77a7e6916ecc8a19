// Node `tls` echo server for the interop matrix.
// Usage: node matrix_node_server.mjs <TLSv1.2|TLSv1.3> <requireClientCert 0|1>
// Prints one JSON object per line: listening, secure, end, error, close.
// Serves one connection, then exits.
import tls from "node:tls";
import fs from "node:fs";
import crypto from "node:crypto";

const [version, requireCert] = process.argv.slice(2);
const fixture = (name) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const emit = (event, data = {}) => process.stdout.write(JSON.stringify({ event, ...data }) + "\n");

const server = tls.createServer({
  key: fixture("server.key"),
  cert: fixture("server-chain.pem"),
  ca: fixture("ca.pem"),
  requestCert: requireCert === "1",
  rejectUnauthorized: requireCert === "1",
  minVersion: version,
  maxVersion: version,
}, (socket) => {
  const peer = socket.getPeerCertificate();
  emit("secure", {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher()?.name,
    authorized: socket.authorized,
    peerSubject: peer && peer.subject ? `CN=${peer.subject.CN},O=${peer.subject.O}` : null,
    peerFingerprint256: peer?.fingerprint256 ?? null,
  });
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  socket.on("data", (data) => {
    hash.update(data);
    bytes += data.length;
    socket.write(data);
  });
  socket.on("end", () => {
    emit("end", { bytes, sha256: hash.digest("hex") });
    socket.end();
  });
  socket.on("error", (error) => emit("error", { message: error.message, code: error.code }));
  socket.on("close", (hadError) => {
    emit("close", { hadError });
    server.close();
  });
});
server.on("tlsClientError", (error) => emit("tlsClientError", { message: error.message, code: error.code }));
server.listen(0, "127.0.0.1", () => emit("listening", { port: server.address().port }));
// Never outlive a test that forgot us.
setTimeout(() => process.exit(3), 60_000).unref();
