// Node `tls` client for the interop matrix: sends random bytes, half-closes
// (close_notify), reads the echo to the end and reports both checksums.
// Usage: node matrix_node_client.mjs <port> <TLSv1.2|TLSv1.3> <sendClientCert 0|1> <bytes>
import tls from "node:tls";
import fs from "node:fs";
import crypto from "node:crypto";

const [port, version, withCert, size] = process.argv.slice(2);
const fixture = (name) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const emit = (event, data = {}) => process.stdout.write(JSON.stringify({ event, ...data }) + "\n");

const payload = crypto.randomBytes(Number(size));
const socket = tls.connect({
  host: "127.0.0.1",
  port: Number(port),
  servername: "localhost",
  ca: fixture("ca.pem"),
  minVersion: version,
  maxVersion: version,
  ...(withCert === "1" ? { cert: fixture("client-chain.pem"), key: fixture("client.key") } : {}),
}, () => {
  const peer = socket.getPeerCertificate();
  emit("secure", {
    protocol: socket.getProtocol(),
    authorized: socket.authorized,
    peerSubject: peer && peer.subject ? `CN=${peer.subject.CN},O=${peer.subject.O}` : null,
  });
  // Random chunk sizes, then close_notify.
  let offset = 0;
  while (offset < payload.length) {
    const n = Math.min(payload.length - offset, 1 + Math.floor(Math.random() * 40000));
    socket.write(payload.subarray(offset, offset + n));
    offset += n;
  }
  socket.end();
});
const hash = crypto.createHash("sha256");
let bytes = 0;
socket.on("data", (data) => {
  hash.update(data);
  bytes += data.length;
});
socket.on("end", () => {
  emit("end", {
    sent: payload.length,
    sentSha256: crypto.createHash("sha256").update(payload).digest("hex"),
    bytes,
    sha256: hash.digest("hex"),
  });
});
socket.on("error", (error) => emit("error", { message: error.message, code: error.code }));
socket.on("close", (hadError) => {
  emit("close", { hadError });
});
setTimeout(() => process.exit(3), 60_000).unref();
