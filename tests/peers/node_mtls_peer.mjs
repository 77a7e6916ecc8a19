// Node `tls` peers for the Node-style context option tests (tests/context_node_options_test.ts).
//   node node_mtls_peer.mjs server <fixtures dir>
//     A server asking for client certificates (requestCert, rejectUnauthorized),
//     ALPN ["h2", "http/1.1"]. Prints "LISTENING <port>", then per connection
//     "CONN <json>" (authorized, the client's CN, ALPN), and "REFUSED <code>" for
//     a client it refused.
//   node node_mtls_peer.mjs client <fixtures dir> <port> <with cert: yes|no>
//     Connects, verifying "localhost" against ca.pem, offering ALPN http/1.1, and
//     prints "CLIENT <json>" (authorized, ALPN, what the server sent) or "FAILED <code>".
import tls from "node:tls";
import fs from "node:fs";
import path from "node:path";

const [mode, dir, port, withCert] = process.argv.slice(2);
const read = (name) => fs.readFileSync(path.join(dir, name));

if (mode === "server") {
  const server = tls.createServer({
    cert: read("server-chain.pem"),
    key: read("server.key"),
    ca: read("ca.pem"),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ["h2", "http/1.1"],
  }, (socket) => {
    const cn = socket.getPeerCertificate()?.subject?.CN ?? null;
    console.log("CONN " + JSON.stringify({ authorized: socket.authorized, cn, alpn: socket.alpnProtocol || null }));
    socket.on("error", () => {});
    socket.end(`hello ${cn}\n`);
  });
  server.on("tlsClientError", (error) => console.log("REFUSED " + (error.code ?? error.message)));
  server.listen(0, "127.0.0.1", () => console.log("LISTENING " + server.address().port));
} else {
  const socket = tls.connect({
    host: "127.0.0.1",
    port: Number(port),
    servername: "localhost",
    ca: read("ca.pem"),
    ALPNProtocols: ["http/1.1"],
    ...(withCert === "yes" ? { cert: read("client-chain.pem"), key: read("client.key") } : {}),
  }, () => {
    let data = "";
    socket.on("data", (chunk) => data += chunk);
    socket.on("end", () => {
      console.log(
        "CLIENT " + JSON.stringify({ authorized: socket.authorized, alpn: socket.alpnProtocol || null, data }),
      );
      socket.end();
    });
  });
  socket.on("error", (error) => console.log("FAILED " + (error.code ?? error.message)));
}
