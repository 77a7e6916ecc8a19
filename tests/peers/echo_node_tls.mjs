// A Node `tls` echo server for the I/O contract tests: every connection is
// piped into itself (`socket.pipe(socket)`, which honours backpressure both
// ways) and ended (close_notify, FIN) after the client's end. Runs until killed.
// Usage: node echo_node_tls.mjs <fixtures dir>
// Prints "LISTENING <port>".
import tls from "node:tls";
import fs from "node:fs";
import path from "node:path";

const [dir] = process.argv.slice(2);
const read = (name) => fs.readFileSync(path.join(dir, name));

const server = tls.createServer({ cert: read("server-chain.pem"), key: read("server.key") }, (socket) => {
  socket.pipe(socket);
  // A client that closes abruptly (a failing test) must not end the server.
  socket.on("error", () => socket.destroy());
});
server.listen(0, "127.0.0.1", () => console.log("LISTENING " + server.address().port));
