// A Node `tls` client for interop tests: sends <size> random bytes to an echo
// server, half-closes (close_notify), reads the echo to its end and compares
// SHA-256 digests. Usage:
//   node node_tls_client.mjs <fixtures dir> <port> <minVersion> <maxVersion> <size>
// Prints "RESULT <json>" and exits 0 when the echo matched and the end was clean.
// Once the whole echo arrived it turns on OpenSSL's message trace, so the
// server's close_notify alert shows up on stderr.
import tls from "node:tls";
import fs from "node:fs";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";

const [dir, port, minVersion, maxVersion, size] = process.argv.slice(2);
const payload = randomBytes(Number(size));
const sent = createHash("sha256").update(payload).digest("hex");
const hash = createHash("sha256");
let bytes = 0;
let ended = false;
let protocol = null;
const errors = [];

const socket = tls.connect({
  host: "127.0.0.1",
  port: Number(port),
  servername: "localhost",
  ca: fs.readFileSync(path.join(dir, "ca.pem")),
  minVersion,
  maxVersion,
}, () => {
  protocol = socket.getProtocol();
  socket.end(payload);
});
socket.on("data", (chunk) => {
  hash.update(chunk);
  bytes += chunk.length;
  if (bytes === payload.length) socket.enableTrace();
});
socket.on("end", () => {
  ended = true;
});
socket.on("error", (error) => {
  errors.push(error.code ?? error.message);
  console.log("ERROR " + (error.code ?? "") + " " + error.message);
});
socket.on("close", (hadError) => {
  const received = hash.digest("hex");
  const result = {
    sent,
    received,
    bytes,
    size: payload.length,
    ended,
    hadError,
    errors,
    authorized: socket.authorized,
    protocol,
  };
  console.log("RESULT " + JSON.stringify(result));
  process.exitCode = sent === received && ended && !hadError && errors.length === 0 ? 0 : 1;
});
