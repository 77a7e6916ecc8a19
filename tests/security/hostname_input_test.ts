/**
 * Names that OpenSSL would not verify as written: refused with a TypeError on
 * every client entry point (`SecureSocket.connect`, `SecureSocket.startTls`,
 * the constructor followed by `connect()`), before any byte is sent. The
 * server is a real `openssl s_server` whose certificate (names.pem) is
 * trusted, so a name that slips through is visibly accepted.
 */
import assert from "node:assert/strict";
import { SecureSocket, type SecureSocketContext, type SecureSocketOptions } from "../../mod.ts";
import { within } from "../helpers.ts";
import { nameClientContext, withNameServer } from "./name_utils.ts";

type Entry = "SecureSocket.connect" | "SecureSocket.startTls" | "constructor + connect()";
const ENTRIES: Entry[] = ["SecureSocket.connect", "SecureSocket.startTls", "constructor + connect()"];

/** Tries a handshake through `entry` with client `options`; returns "accepted" or the error. */
async function attempt(
  entry: Entry,
  ctx: SecureSocketContext,
  port: number,
  options: SecureSocketOptions,
): Promise<unknown> {
  let socket: SecureSocket | null = null;
  try {
    if (entry === "SecureSocket.connect") {
      socket = await within(SecureSocket.connect(ctx, { hostname: "127.0.0.1", ...options, port }), 10_000, entry);
    } else if (entry === "SecureSocket.startTls") {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const outcome = await within(SecureSocket.startTls(conn, ctx, options), 10_000, entry).catch((e) => e);
      if (outcome instanceof Error) {
        // startTls owns the connection: a refused upgrade closes it.
        assert.throws(() => conn.close(), Deno.errors.BadResource);
        return outcome;
      }
      socket = outcome;
    } else {
      socket = new SecureSocket(ctx, options);
      await within(socket.connect({ hostname: "127.0.0.1", port }), 10_000, entry);
    }
    return "accepted";
  } catch (error) {
    return error;
  } finally {
    socket?.close();
  }
}

/** Asserts every entry point refuses `options` with a TypeError whose message matches `reason`. */
async function assertRefusedEverywhere(options: SecureSocketOptions, reason: RegExp): Promise<void> {
  using ctx = nameClientContext();
  await withNameServer("names", async (port) => {
    for (const entry of ENTRIES) {
      const outcome = await attempt(entry, ctx, port, options);
      assert.ok(outcome instanceof TypeError, `${entry} with ${JSON.stringify(options)}: ${outcome}`);
      assert.match(outcome.message, reason);
    }
    // Control: the same server and client agree on a well-formed name.
    assert.equal(await attempt("SecureSocket.connect", ctx, port, { servername: "exact.example.test" }), "accepted");
  });
}

Deno.test("host name with an embedded NUL (verified only up to the NUL): TypeError on every client entry point", async () => {
  await assertRefusedEverywhere({ servername: "exact.example.test\0.evil.test" }, /NUL/);
  await assertRefusedEverywhere({ hostname: "127.0.0.1", servername: "x.a.test\0" }, /NUL/);
});

Deno.test("host name with a leading dot (matches any subdomain in OpenSSL): TypeError on every client entry point", async () => {
  await assertRefusedEverywhere({ servername: ".a.test" }, /dot/);
});

Deno.test("empty servername (verified no name at all): TypeError on every client entry point", async () => {
  await assertRefusedEverywhere({ hostname: "127.0.0.1", servername: "" }, /empty/);
});
