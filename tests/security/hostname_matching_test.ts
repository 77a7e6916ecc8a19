/**
 * Host-name matching attacks: a server presents a real certificate (served by
 * `openssl s_server`) whose names should not vouch for the name the client
 * asked for. The client must refuse with CertificateVerificationError
 * (X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH), as CPython's defaults
 * do for wildcards and as RFC 6125 asks for the subject CN.
 */
import assert from "node:assert/strict";
import {
  HOSTNAME_MISMATCH,
  IP_ADDRESS_MISMATCH,
  nameClientContext,
  namePath,
  verdictsFor,
  withNameServer,
} from "./name_utils.ts";

Deno.test("partial wildcard: a certificate for f*.example.test is refused for foo.example.test", async () => {
  using ctx = nameClientContext();
  await withNameServer("partial-wildcard", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, ["foo.example.test", "f.example.test"]), {
      "foo.example.test": HOSTNAME_MISMATCH,
      "f.example.test": HOSTNAME_MISMATCH,
    });
  });
});

Deno.test("subject CN fallback: a certificate without SAN is refused for the name in its CN", async () => {
  using ctx = nameClientContext();
  await withNameServer("cn-only", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, ["cn-only.example.test"]), {
      "cn-only.example.test": HOSTNAME_MISMATCH,
    });
  });
});

Deno.test("IP address only in the CN: refused for that IP", async () => {
  using ctx = nameClientContext();
  await withNameServer("ip-in-cn", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, ["127.0.0.1"]), { "127.0.0.1": IP_ADDRESS_MISMATCH });
  });
});

Deno.test("wildcards: *.a.test covers one whole label; *.test, *.*.a.test and xn--*.a.test cover nothing", async () => {
  using ctx = nameClientContext();
  await withNameServer("names", async (port) => {
    assert.deepEqual(
      await verdictsFor(ctx, port, ["x.a.test", "xn--bcher-kva.a.test", "x.y.a.test", "a.test"]),
      {
        "x.a.test": "accepted",
        // A whole-label wildcard may stand for an A-label (OpenSSL's rule, CPython's too).
        "xn--bcher-kva.a.test": "accepted",
        "x.y.a.test": HOSTNAME_MISMATCH,
        "a.test": HOSTNAME_MISMATCH,
      },
    );
  });
  await withNameServer("wildcard-tld", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, ["a.test"]), { "a.test": HOSTNAME_MISMATCH });
  });
  await withNameServer("double-wildcard", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, ["x.y.a.test"]), { "x.y.a.test": HOSTNAME_MISMATCH });
  });
  await withNameServer("idna-wildcard", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, ["xn--bcher-kva.a.test", "xn--x.a.test"]), {
      "xn--bcher-kva.a.test": HOSTNAME_MISMATCH,
      "xn--x.a.test": HOSTNAME_MISMATCH,
    });
  });
});

Deno.test("IP literals: v4 and v6 match their own SANs only; a v4-mapped v6 address is not its v4 address", async () => {
  using ctx = nameClientContext();
  await withNameServer("names", async (port) => {
    assert.deepEqual(
      await verdictsFor(ctx, port, ["127.0.0.1", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "127.0.0.2", "::2"]),
      {
        "127.0.0.1": "accepted",
        "::1": "accepted",
        "0:0:0:0:0:0:0:1": "accepted",
        "::ffff:127.0.0.1": IP_ADDRESS_MISMATCH,
        "127.0.0.2": IP_ADDRESS_MISMATCH,
        "::2": IP_ADDRESS_MISMATCH,
      },
    );
  });
  await withNameServer("ipv4-mapped", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, ["::ffff:127.0.0.1", "127.0.0.1"]), {
      "::ffff:127.0.0.1": "accepted",
      "127.0.0.1": IP_ADDRESS_MISMATCH,
    });
  });
});

/** `openssl verify` of names.pem for `name` (X509_check_host with default flags): true when it exits 0. */
async function opensslAccepts(name: string): Promise<boolean> {
  const { code } = await new Deno.Command("openssl", {
    args: ["verify", "-CAfile", namePath("ca.pem"), "-verify_hostname", name, namePath("names.pem")],
    stdout: "null",
    stderr: "null",
  }).output();
  return code === 0;
}

Deno.test("upper case and a trailing dot: the verdict of OpenSSL's X509_check_host (openssl verify)", async () => {
  using ctx = nameClientContext();
  const names = ["EXACT.Example.TEST", "X.A.TEST", "exact.example.test.", "x.a.test.", "EXACT.EXAMPLE.TEST."];
  const expected: Record<string, "accepted" | number> = {};
  for (const name of names) expected[name] = await opensslAccepts(name) ? "accepted" : HOSTNAME_MISMATCH;
  // Case never matters in DNS names.
  assert.equal(expected["EXACT.Example.TEST"], "accepted");
  assert.equal(expected["X.A.TEST"], "accepted");
  await withNameServer("names", async (port) => {
    assert.deepEqual(await verdictsFor(ctx, port, names), expected);
  });
});
