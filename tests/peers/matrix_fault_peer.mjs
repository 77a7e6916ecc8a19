// Misbehaving peers for tests/faults_test.ts. One JSON event per stdout line.
//
//   reset-mid-handshake <port>      TCP client: half a ClientHello, then RST
//   reset-server <version>          TLS server: sends 64 KiB, waits for "go", then RST
//   half-close <port> <bytes>       TLS client (allowHalfOpen): request, close_notify,
//                                   then reads the answer to the end
//   hello <port> [maxVersion]       TLS client whose ClientHello a test captures
//   records <port> <mode> <count>   TLS 1.3 client that, after the handshake, writes
//                                   raw records encrypted with keys derived from its
//                                   own key log: mode = data | empty | warn |
//                                   after-close | oversized
import net from "node:net";
import tls from "node:tls";
import fs from "node:fs";
import crypto from "node:crypto";

const [mode, ...args] = process.argv.slice(2);
const fixture = (name) => fs.readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const emit = (event, data = {}) => process.stdout.write(JSON.stringify({ event, ...data }) + "\n");
setTimeout(() => {
  emit("timeout");
  process.exit(3);
}, 30_000).unref();

function watch(socket) {
  socket.on("error", (error) => emit("error", { message: error.message, code: error.code }));
  socket.on("end", () => emit("end"));
  socket.on("close", (hadError) => emit("close", { hadError }));
}

if (mode === "reset-mid-handshake") {
  const socket = net.connect(Number(args[0]), "127.0.0.1", () => {
    // A handshake record header announcing 300 bytes, and only 20 of them.
    socket.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x01, 0x2c]), crypto.randomBytes(20)]));
    setTimeout(() => {
      socket.resetAndDestroy();
      emit("reset");
    }, 100);
  });
  socket.on("error", (error) => emit("error", { message: error.message, code: error.code }));
} else if (mode === "reset-server") {
  // TLS over a plain net.Socket we keep, so the TCP handle can be reset
  // (TLSSocket.resetAndDestroy() refuses a TLS handle).
  const secureContext = tls.createSecureContext({
    key: fixture("server.key"),
    cert: fixture("server-chain.pem"),
    minVersion: args[0],
    maxVersion: args[0],
  });
  const server = net.createServer((raw) => {
    const socket = new tls.TLSSocket(raw, { isServer: true, secureContext });
    socket.on("secure", () => {
      emit("secure", { protocol: socket.getProtocol() });
      socket.write(Buffer.alloc(65536, 0x61));
    });
    socket.on("data", (data) => {
      if (data.toString().includes("go")) {
        raw.resetAndDestroy();
        emit("reset");
        server.close();
      }
    });
    socket.on("error", (error) => emit("error", { message: error.message, code: error.code }));
  });
  server.listen(0, "127.0.0.1", () => emit("listening", { port: server.address().port }));
} else if (mode === "half-close") {
  const request = crypto.randomBytes(Number(args[1]));
  const socket = tls.connect({
    host: "127.0.0.1",
    port: Number(args[0]),
    servername: "localhost",
    ca: fixture("ca.pem"),
    allowHalfOpen: true,
  }, () => {
    emit("secure", { protocol: socket.getProtocol() });
    socket.end(request);
  });
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  socket.on("data", (data) => {
    hash.update(data);
    bytes += data.length;
  });
  socket.on("end", () =>
    emit("answer", {
      bytes,
      sha256: hash.digest("hex"),
      requestSha256: crypto.createHash("sha256").update(request).digest("hex"),
    }));
  socket.on("error", (error) => emit("error", { message: error.message, code: error.code }));
  socket.on("close", (hadError) => emit("close", { hadError }));
} else if (mode === "hello") {
  // Sends Node's ClientHello to <port>; the test only captures it.
  const socket = tls.connect({
    host: "127.0.0.1",
    port: Number(args[0]),
    servername: "localhost",
    rejectUnauthorized: false,
    ...(args[1] ? { maxVersion: args[1] } : {}),
  });
  socket.on("error", () => {});
  socket.on("close", () => emit("close"));
} else if (mode === "records") {
  const [port, kind, count] = [Number(args[0]), args[1], Number(args[2] ?? 1)];
  const secrets = new Map();
  const raw = net.connect(port, "127.0.0.1");
  const socket = tls.connect({
    socket: raw,
    servername: "localhost",
    ca: fixture("ca.pem"),
    minVersion: "TLSv1.3",
    maxVersion: "TLSv1.3",
    ciphers: "TLS_AES_128_GCM_SHA256",
  });
  socket.on("keylog", (line) => {
    const [label, , secret] = line.toString().trim().split(" ");
    secrets.set(label, Buffer.from(secret, "hex"));
  });
  watch(socket);
  socket.on("secureConnect", () => {
    emit("secure", { protocol: socket.getProtocol(), cipher: socket.getCipher().standardName });
    // Let node flush its Finished before our records follow it.
    setTimeout(() => {
      const writer = recordWriter(secrets.get("CLIENT_TRAFFIC_SECRET_0"));
      const records = [];
      if (kind === "data") records.push(writer(23, Buffer.from("injected hello")));
      else if (kind === "empty") { for (let i = 0; i < count; i++) records.push(writer(23, Buffer.alloc(0))); }
      else if (kind === "warn") { for (let i = 0; i < count; i++) records.push(writer(21, Buffer.from([1, 90]))); }
      else if (kind === "after-close") {
        records.push(writer(23, Buffer.from("before close_notify")));
        records.push(writer(21, Buffer.from([1, 0])));
        records.push(writer(23, Buffer.from("after close_notify")));
      } else if (kind === "oversized") {
        records.push(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0xff, 0xff]), crypto.randomBytes(4096)]));
      } else throw new Error(`unknown kind ${kind}`);
      const bytes = Buffer.concat(records);
      raw.write(bytes, () => emit("injected", { records: records.length, bytes: bytes.length }));
    }, 100);
  });
  // Read whatever the server answers (alerts, close_notify) as plain TLS data.
  socket.on("data", (data) => emit("data", { text: data.toString() }));
} else {
  throw new Error(`unknown mode ${mode}`);
}

// TLS 1.3 record protection (RFC 8446 §5.2, §7.3) for TLS_AES_128_GCM_SHA256.
function hkdfExpandLabel(secret, label, length) {
  const full = Buffer.from(`tls13 ${label}`);
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0])]);
  // HKDF-Expand with one block is enough for <= 32 bytes.
  return crypto.createHmac("sha256", secret).update(Buffer.concat([info, Buffer.from([1])])).digest().subarray(
    0,
    length,
  );
}

function recordWriter(secret) {
  if (!secret) throw new Error("no CLIENT_TRAFFIC_SECRET_0 in the key log");
  const key = hkdfExpandLabel(secret, "key", 16);
  const iv = hkdfExpandLabel(secret, "iv", 12);
  let seq = 0n;
  return (type, content) => {
    const inner = Buffer.concat([content, Buffer.from([type])]);
    const length = inner.length + 16;
    const header = Buffer.from([0x17, 0x03, 0x03, length >> 8, length & 0xff]);
    const nonce = Buffer.from(iv);
    for (let i = 0; i < 8; i++) nonce[11 - i] ^= Number((seq >> BigInt(8 * i)) & 0xffn);
    seq++;
    const cipher = crypto.createCipheriv("aes-128-gcm", key, nonce);
    cipher.setAAD(header);
    const body = Buffer.concat([cipher.update(inner), cipher.final(), cipher.getAuthTag()]);
    return Buffer.concat([header, body]);
  };
}
