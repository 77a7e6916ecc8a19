/**
 * A secsock client in its own process, for the SSLKEYLOGFILE test (the
 * variable is read when a context is created, so it needs a fresh process):
 *
 *   SSLKEYLOGFILE=/tmp/keys.log deno run -A tests/peers/features_keylog_client.ts <port> [maxVersion]
 *
 * Connects to 127.0.0.1:<port> (verifying "localhost" against the fixture
 * root), sends "hello\n", reads one line back, prints "DONE <protocol>",
 * sends close_notify and exits. No key log callback is set: the file is
 * written by the library because of the environment variable alone.
 */
import { SecureSocket, SecureSocketContext, type TlsVersion } from "../../mod.ts";

const [portArg, maxVersion] = Deno.args;
const fixture = (name: string) => Deno.readTextFileSync(new URL(`../fixtures/${name}`, import.meta.url));
using ctx = new SecureSocketContext({
  useSystemTrust: false,
  ca: fixture("ca.pem"),
  ...(maxVersion ? { maxVersion: maxVersion as TlsVersion } : {}),
});
const socket = await SecureSocket.connect(ctx, {
  hostname: "127.0.0.1",
  servername: "localhost",
  port: Number(portArg),
});
try {
  await socket.write(new TextEncoder().encode("hello\n"));
  const buf = new Uint8Array(1024);
  let text = "";
  while (!text.includes("\n")) {
    const n = await socket.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  console.log(`DONE ${socket.protocol} ${text.trim()}`);
  await socket.closeWrite();
} finally {
  socket.close();
}
