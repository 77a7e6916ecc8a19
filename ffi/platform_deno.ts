/**
 * Host services on Deno: the `Deno` namespace itself.
 *
 * @module
 */
import type { Platform } from "./platform.ts";

/** The Deno implementation of {@linkcode Platform}. */
export const denoPlatform: Platform = {
  get os() {
    return Deno.build.os;
  },
  get arch() {
    return Deno.build.arch;
  },
  env: (name) => Deno.env.get(name),
  readFileSync: (path) => Deno.readFileSync(path),
  appendTextFileSync: (path, text) => Deno.writeTextFileSync(path, text, { append: true }),
  connect: async (options) => {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    // TLS writes whole records: Nagle would hold a small request behind the
    // unacknowledged Finished until the peer's delayed ACK (tens of ms).
    conn.setNoDelay(true);
    return conn;
  },
  listen: (options) => Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" }),
};
