// A Node `tls` echo server for interop tests (one connection, then exit).
// Usage: node node_tls_server.mjs <fixtures dir> <minVersion> <maxVersion> <expected bytes>
// Prints "LISTENING <port>", then one "END <json>" when the client ends, and
// "CLOSED <json>" when the socket closes. Once all expected bytes arrived it
// turns on OpenSSL's message trace, so the client's close_notify alert shows
// up on stderr.
import tls from "node:tls";
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";

const [dir, minVersion, maxVersion, expected] = process.argv.slice(2);
const read = (name) => fs.readFileSync(path.join(dir, name));

const server = tls.createServer({
  cert: read("server-chain.pem"),
  key: read("server.key"),
  minVersion,
  maxVersion,
}, (socket) => {
  const hash = createHash("sha256");
  let bytes = 0;
  const errors = [];
  socket.on("data", (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
    socket.write(chunk);
    if (bytes === Number(expected)) socket.enableTrace();
  });
  socket.on("end", () => {
    console.log(
      "END " + JSON.stringify({
        bytes,
        sha256: hash.digest("hex"),
        protocol: socket.getProtocol(),
        cipher: socket.getCipher().standardName,
        servername: socket.servername ?? null,
      }),
    );
    socket.end();
  });
  socket.on("error", (error) => {
    errors.push(error.code ?? error.message);
    console.log("ERROR " + (error.code ?? "") + " " + error.message);
  });
  socket.on("close", (hadError) => {
    console.log("CLOSED " + JSON.stringify({ hadError, errors }));
    server.close();
  });
});
server.listen(0, "127.0.0.1", () => console.log("LISTENING " + server.address().port));
