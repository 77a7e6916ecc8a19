/**
 * §1 The password callback: `ctx.setPasswordCallback(cb)`, per-load passwords
 * (string, bytes or callback) on `usePrivateKey`, `usePrivateKeyFile` and
 * `PrivateKey.fromPEM/fromDER/fromFile`, every encrypted key format of the
 * fixtures, and the error paths (wrong, overlong, missing, badly typed
 * passwords; exceptions; Promises). No load path ever prompts on a terminal.
 */
import assert from "node:assert/strict";
import {
  type PasswordCallback,
  PrivateKey,
  SecureSocketContext,
  SecureSocketError,
  UnableToReadPrivateKeyError,
} from "../mod.ts";
import { clientContext, dec, enc, fixture, fixturePath } from "./helpers.ts";
import { success, tlsPair } from "./callback_utils.ts";

const PASSWORD = "secsock-pass";
const UTF8_PASSWORD = "pässwörd-🔐";
const UTF8_PASSWORD_BYTES = new Uint8Array([
  0x70,
  0xc3,
  0xa4,
  0x73,
  0x73,
  0x77,
  0xc3,
  0xb6,
  0x72,
  0x64,
  0x2d,
  0xf0,
  0x9f,
  0x94,
  0x90,
]);
const NUL_PASSWORD_BYTES = new Uint8Array([0x61, 0x62, 0x00, 0x63, 0x64]);

/** An encrypted fixture key and what it decrypts to. */
interface EncryptedKey {
  file: string;
  der: boolean;
  password: string | Uint8Array;
  type: string;
  bits: number;
  /** The certificate chain the key belongs to (so a context can check the match). */
  chain: string;
}

const RSA = { type: "RSA", bits: 2048, chain: "server-chain.pem" };
const ENCRYPTED: EncryptedKey[] = [
  { file: "server-key-pkcs8-aes256.pem", der: false, password: PASSWORD, ...RSA },
  { file: "server-key-pkcs8-aes256.der", der: true, password: PASSWORD, ...RSA },
  { file: "server-key-pkcs8-scrypt.pem", der: false, password: PASSWORD, ...RSA },
  { file: "server-key-legacy-des3.pem", der: false, password: PASSWORD, ...RSA },
  { file: "server-key-legacy-aes256.pem", der: false, password: PASSWORD, ...RSA },
  {
    file: "server-ec-key-legacy-aes256.pem",
    der: false,
    password: PASSWORD,
    type: "EC",
    bits: 256,
    chain: "server-ec-chain.pem",
  },
  { file: "server-key-utf8-pass.pem", der: false, password: UTF8_PASSWORD, ...RSA },
  { file: "server-key-nul-pass.pem", der: false, password: NUL_PASSWORD_BYTES, ...RSA },
  { file: "server-key-empty-pass.pem", der: false, password: "", ...RSA },
];

const UNENCRYPTED = [
  { file: "server.key", der: false },
  { file: "server-key.der", der: true },
  { file: "server-key-rsa-traditional.pem", der: false },
];

/** A password callback that records its calls. */
function recorder(answer: string | Uint8Array): PasswordCallback & { calls: [number, number][] } {
  const calls: [number, number][] = [];
  const cb = ((maxLength: number, rwflag: number) => {
    calls.push([maxLength, rwflag]);
    // A returned Uint8Array is handed over (secsock zeroes it): a fresh copy each time.
    return typeof answer === "string" ? answer : new Uint8Array(answer);
  }) as PasswordCallback & { calls: [number, number][] };
  cb.calls = calls;
  return cb;
}

/** Exactly one call, with an integer buffer size > 1 and rwflag 0 (reading). */
function assertCalledOnceForRead(calls: [number, number][]): void {
  assert.equal(calls.length, 1, `the password callback was called ${calls.length} times`);
  const [maxLength, rwflag] = calls[0];
  assert.ok(Number.isInteger(maxLength) && maxLength > 1, `maxLength ${maxLength} must be an integer > 1`);
  assert.equal(rwflag, 0);
}

function keyBytes(file: string): Uint8Array {
  return Deno.readFileSync(fixturePath(file));
}

/** The key in its in-memory form: PEM text for PEM files, bytes for DER. */
function inline(k: { file: string; der: boolean }): string | Uint8Array {
  return k.der ? keyBytes(k.file) : fixture(k.file);
}

function serverCtxFor(chain: string): SecureSocketContext {
  const ctx = new SecureSocketContext({ useSystemTrust: false });
  ctx.useCertificateChainFile(fixturePath(chain));
  return ctx;
}

/** Learns OpenSSL's password buffer size from a real load (never hard-coded). */
function opensslBufferSize(): number {
  const cb = recorder(PASSWORD);
  PrivateKey.fromFile(fixturePath("server-key-pkcs8-aes256.pem"), cb).close();
  assertCalledOnceForRead(cb.calls);
  return cb.calls[0][0];
}

function assertWrongPassword(error: unknown): true {
  assert.ok(error instanceof UnableToReadPrivateKeyError, `expected UnableToReadPrivateKeyError, got ${error}`);
  assert.ok(error.openssl.length > 0, "a wrong password carries OpenSSL's error entries");
  return true;
}

Deno.test("password: every encrypted fixture loads through every load path", async (t) => {
  for (const k of ENCRYPTED) {
    await t.step(k.file, async (t) => {
      const checkKey = (key: PrivateKey) => {
        assert.equal(key.type, k.type);
        assert.equal(key.bits, k.bits);
      };

      await t.step("PrivateKey.fromFile with a callback", () => {
        const cb = recorder(k.password);
        using key = PrivateKey.fromFile(fixturePath(k.file), cb);
        checkKey(key);
        assertCalledOnceForRead(cb.calls);
      });
      await t.step("PrivateKey.fromFile with the password itself", () => {
        using key = PrivateKey.fromFile(fixturePath(k.file), k.password);
        checkKey(key);
      });
      await t.step(`PrivateKey.${k.der ? "fromDER" : "fromPEM"} from memory (string and bytes)`, () => {
        const cb = recorder(k.password);
        using a = k.der ? PrivateKey.fromDER(keyBytes(k.file), cb) : PrivateKey.fromPEM(fixture(k.file), cb);
        checkKey(a);
        assertCalledOnceForRead(cb.calls);
        if (!k.der) {
          using b = PrivateKey.fromPEM(keyBytes(k.file), k.password);
          checkKey(b);
        }
      });
      await t.step("ctx.usePrivateKeyFile with a per-load password (matches the certificate)", () => {
        using ctx = serverCtxFor(k.chain);
        const cb = recorder(k.password);
        ctx.usePrivateKeyFile(fixturePath(k.file), cb);
        assertCalledOnceForRead(cb.calls);
      });
      await t.step("ctx.usePrivateKey from memory with the password itself", () => {
        using ctx = serverCtxFor(k.chain);
        ctx.usePrivateKey(inline(k), k.password);
      });
      await t.step("ctx.setPasswordCallback for file and in-memory loads", () => {
        using ctx = serverCtxFor(k.chain);
        const cb = recorder(k.password);
        ctx.setPasswordCallback(cb);
        ctx.usePrivateKeyFile(fixturePath(k.file));
        assertCalledOnceForRead(cb.calls);
        ctx.usePrivateKey(inline(k));
        assert.equal(cb.calls.length, 2, "called exactly once per load");
        assert.equal(cb.calls[1][1], 0);
      });
    });
  }
});

Deno.test("password: a per-load password wins over the context's callback", () => {
  using ctx = serverCtxFor("server-chain.pem");
  const ctxCb = recorder("not the password");
  ctx.setPasswordCallback(ctxCb);
  const own = recorder(PASSWORD);
  ctx.usePrivateKeyFile(fixturePath("server-key-pkcs8-aes256.pem"), own);
  assertCalledOnceForRead(own.calls);
  ctx.usePrivateKey(fixture("server-key-legacy-des3.pem"), PASSWORD);
  assert.equal(ctxCb.calls.length, 0, "the context's callback is not consulted when a password is given");
});

Deno.test("password: unencrypted keys never invoke any password callback", async (t) => {
  for (const k of UNENCRYPTED) {
    await t.step(k.file, () => {
      const cb = recorder(PASSWORD);
      using a = PrivateKey.fromFile(fixturePath(k.file), cb);
      assert.equal(a.type, "RSA");
      assert.equal(a.bits, 2048);
      using b = k.der ? PrivateKey.fromDER(keyBytes(k.file), cb) : PrivateKey.fromPEM(fixture(k.file), cb);
      assert.equal(b.bits, 2048);
      using ctx = serverCtxFor("server-chain.pem");
      const ctxCb = recorder(PASSWORD);
      ctx.setPasswordCallback(ctxCb);
      ctx.usePrivateKeyFile(fixturePath(k.file));
      ctx.usePrivateKey(inline(k));
      ctx.usePrivateKey(inline(k), cb);
      ctx.usePrivateKey(b);
      assert.equal(cb.calls.length, 0);
      assert.equal(ctxCb.calls.length, 0);
    });
  }
  await t.step("a loaded PrivateKey object needs no password", () => {
    using key = PrivateKey.fromFile(fixturePath("server-key-legacy-aes256.pem"), PASSWORD);
    using ctx = serverCtxFor("server-chain.pem");
    const ctxCb = recorder(PASSWORD);
    ctx.setPasswordCallback(ctxCb);
    ctx.usePrivateKey(key);
    assert.equal(ctxCb.calls.length, 0);
  });
});

Deno.test("password: a wrong password is UnableToReadPrivateKeyError with OpenSSL's entries", async (t) => {
  for (const k of ENCRYPTED) {
    await t.step(k.file, () => {
      const wrong = k.password === "" ? "x" : "wrong-password";
      const cb = recorder(wrong);
      assert.throws(() => PrivateKey.fromFile(fixturePath(k.file), cb), assertWrongPassword);
      assertCalledOnceForRead(cb.calls);
      assert.throws(
        () => k.der ? PrivateKey.fromDER(keyBytes(k.file), wrong) : PrivateKey.fromPEM(fixture(k.file), wrong),
        assertWrongPassword,
      );
      using ctx = serverCtxFor(k.chain);
      assert.throws(() => ctx.usePrivateKeyFile(fixturePath(k.file), wrong), assertWrongPassword);
      const ctxCb = recorder(wrong);
      ctx.setPasswordCallback(ctxCb);
      assert.throws(() => ctx.usePrivateKey(inline(k)), assertWrongPassword);
      assertCalledOnceForRead(ctxCb.calls);
      // The failure leaves nothing behind: the right password works right after.
      ctx.usePrivateKey(inline(k), k.password);
    });
  }
});

Deno.test("password: the NUL-byte password must be passed whole", () => {
  const file = fixturePath("server-key-nul-pass.pem");
  using a = PrivateKey.fromFile(file, NUL_PASSWORD_BYTES);
  assert.equal(a.bits, 2048);
  using b = PrivateKey.fromFile(file, () => NUL_PASSWORD_BYTES);
  assert.equal(b.bits, 2048);
  using c = PrivateKey.fromFile(file, "ab\0cd");
  assert.equal(c.bits, 2048);
  assert.throws(() => PrivateKey.fromFile(file, "ab"), assertWrongPassword);
  assert.throws(() => PrivateKey.fromFile(file, new Uint8Array([0x61, 0x62])), assertWrongPassword);
});

Deno.test("password: non-ASCII UTF-8 passwords work as strings and as bytes", () => {
  const file = fixturePath("server-key-utf8-pass.pem");
  assert.deepEqual(enc(UTF8_PASSWORD), UTF8_PASSWORD_BYTES);
  using a = PrivateKey.fromFile(file, UTF8_PASSWORD);
  using b = PrivateKey.fromFile(file, UTF8_PASSWORD_BYTES);
  using c = PrivateKey.fromPEM(fixture("server-key-utf8-pass.pem"), () => UTF8_PASSWORD);
  assert.equal(a.bits + b.bits + c.bits, 3 * 2048);
  // A different normalization of the same text is a different password.
  assert.throws(() => PrivateKey.fromFile(file, UTF8_PASSWORD.normalize("NFD")), assertWrongPassword);
});

Deno.test("password: the empty password works from a callback, a string and bytes", () => {
  const file = fixturePath("server-key-empty-pass.pem");
  const cb = recorder("");
  using a = PrivateKey.fromFile(file, cb);
  assertCalledOnceForRead(cb.calls);
  using b = PrivateKey.fromFile(file, "");
  using c = PrivateKey.fromPEM(fixture("server-key-empty-pass.pem"), new Uint8Array(0));
  assert.equal(a.bits + b.bits + c.bits, 3 * 2048);
});

Deno.test("password: longer than maxLength - 1 bytes is an error that says so (no truncation)", async (t) => {
  const size = opensslBufferSize();
  const file = fixturePath("server-key-pkcs8-aes256.pem");
  const tooLong = (error: unknown) => {
    assert.ok(error instanceof UnableToReadPrivateKeyError, `expected UnableToReadPrivateKeyError, got ${error}`);
    assert.match(error.message, /long/i);
    assert.ok(error.message.includes(String(size - 1)), `the message names the limit ${size - 1}: ${error.message}`);
    return true;
  };
  await t.step("from a callback (maxLength bytes)", () => {
    const calls: number[] = [];
    assert.throws(() =>
      PrivateKey.fromFile(file, (maxLength) => {
        calls.push(maxLength);
        return "x".repeat(maxLength);
      }), tooLong);
    assert.ok(calls.length > 0 && calls.every((n) => n === size));
  });
  await t.step("as a string, as bytes, and from the context's callback", () => {
    assert.throws(() => PrivateKey.fromFile(file, "x".repeat(size)), tooLong);
    assert.throws(
      () => PrivateKey.fromPEM(fixture("server-key-pkcs8-aes256.pem"), new Uint8Array(size + 100)),
      tooLong,
    );
    using ctx = serverCtxFor("server-chain.pem");
    ctx.setPasswordCallback((maxLength) => PASSWORD + "!".repeat(maxLength));
    assert.throws(() => ctx.usePrivateKeyFile(file), tooLong);
  });
  await t.step("bytes are counted, not characters", () => {
    const umlauts = "ä".repeat(Math.ceil(size / 2)); // fewer than `size` characters, at least `size` bytes
    assert.ok(umlauts.length < size && enc(umlauts).length > size - 1);
    assert.throws(() => PrivateKey.fromFile(file, umlauts), tooLong);
  });
  await t.step("exactly maxLength - 1 bytes is handed to OpenSSL (just a wrong password)", () => {
    assert.throws(() => PrivateKey.fromFile(file, "x".repeat(size - 1)), (error) => {
      assertWrongPassword(error);
      assert.ok(!String((error as Error).message).includes(String(size - 1)), "not a length error");
      return true;
    });
  });
  await t.step("the right password with trailing bytes is not silently truncated into success", () => {
    // If secsock truncated to the buffer, PASSWORD + padding cut at PASSWORD's length would succeed.
    assert.throws(() => PrivateKey.fromFile(file, PASSWORD + "\0".repeat(size)), tooLong);
  });
});

Deno.test("password: a bad return value is a TypeError", async (t) => {
  const file = fixturePath("server-key-pkcs8-aes256.pem");
  const values: [string, unknown][] = [["a number", 42], ["null", null], ["undefined", undefined], ["an object", {}]];
  for (const [label, value] of values) {
    await t.step(label, () => {
      const bad = (() => value) as unknown as PasswordCallback;
      assert.throws(() => PrivateKey.fromFile(file, bad), TypeError);
      using ctx = serverCtxFor("server-chain.pem");
      ctx.setPasswordCallback(bad);
      assert.throws(() => ctx.usePrivateKeyFile(file), TypeError);
    });
  }
  await t.step("a Promise (OpenSSL cannot wait): TypeError naming the Promise", () => {
    const promised = (() => Promise.resolve(PASSWORD)) as unknown as PasswordCallback;
    assert.throws(() => PrivateKey.fromFile(file, promised), (error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /Promise/);
      return true;
    });
    using ctx = serverCtxFor("server-chain.pem");
    ctx.setPasswordCallback(promised);
    assert.throws(() => ctx.usePrivateKey(fixture("server-key-legacy-des3.pem")), TypeError);
    // The load still works afterwards.
    ctx.usePrivateKey(fixture("server-key-legacy-des3.pem"), PASSWORD);
  });
  await t.step("setPasswordCallback rejects a non-function", () => {
    using ctx = new SecureSocketContext({ useSystemTrust: false });
    assert.throws(() => ctx.setPasswordCallback("secsock-pass" as unknown as PasswordCallback), TypeError);
  });
});

Deno.test("password: an error thrown by the callback is rethrown as the very same object", async (t) => {
  const file = fixturePath("server-key-pkcs8-aes256.pem");
  const paths: [string, (cb: PasswordCallback) => void][] = [
    ["PrivateKey.fromFile", (cb) => PrivateKey.fromFile(file, cb)],
    ["PrivateKey.fromPEM", (cb) => PrivateKey.fromPEM(fixture("server-key-legacy-aes256.pem"), cb)],
    ["PrivateKey.fromDER", (cb) => PrivateKey.fromDER(keyBytes("server-key-pkcs8-aes256.der"), cb)],
    ["ctx.usePrivateKeyFile", (cb) => {
      using ctx = serverCtxFor("server-chain.pem");
      ctx.usePrivateKeyFile(file, cb);
    }],
    ["ctx.setPasswordCallback + usePrivateKey", (cb) => {
      using ctx = serverCtxFor("server-chain.pem");
      ctx.setPasswordCallback(cb);
      ctx.usePrivateKey(fixture("server-key-pkcs8-scrypt.pem"));
    }],
  ];
  for (const [label, load] of paths) {
    await t.step(label, () => {
      const thrown = new Error(`from the callback (${label})`);
      let caught: unknown;
      try {
        load(() => {
          throw thrown;
        });
      } catch (error) {
        caught = error;
      }
      assert.equal(caught, thrown);
      // Non-Error values are passed through unchanged as well.
      const token = { reason: "vault unavailable" };
      assert.throws(() =>
        load(() => {
          throw token;
        }), (error) => error === token);
      // Nothing is left behind.
      using key = PrivateKey.fromFile(file, PASSWORD);
      assert.equal(key.bits, 2048);
    });
  }
});

Deno.test("password: a failing callback is invoked exactly once per load (not retried by OpenSSL)", async (t) => {
  const failures: [string, (maxLength: number) => unknown][] = [
    ["throws", () => {
      throw new Error("no password today");
    }],
    ["too long", (maxLength) => "x".repeat(maxLength)],
    ["wrong type", () => 42],
    ["Promise", () => Promise.resolve(PASSWORD)],
  ];
  const loads: [string, (cb: PasswordCallback) => void][] = [
    ["PrivateKey.fromFile(PKCS#8 PEM)", (cb) => PrivateKey.fromFile(fixturePath("server-key-pkcs8-aes256.pem"), cb)],
    ["PrivateKey.fromPEM(legacy DES3)", (cb) => PrivateKey.fromPEM(fixture("server-key-legacy-des3.pem"), cb)],
    ["PrivateKey.fromDER(PKCS#8 DER)", (cb) => PrivateKey.fromDER(keyBytes("server-key-pkcs8-aes256.der"), cb)],
    ["ctx.usePrivateKey(scrypt PEM)", (cb) => {
      using ctx = serverCtxFor("server-chain.pem");
      ctx.setPasswordCallback(cb);
      ctx.usePrivateKey(fixture("server-key-pkcs8-scrypt.pem"));
    }],
  ];
  for (const [how, answer] of failures) {
    for (const [label, load] of loads) {
      await t.step(`${how}: ${label}`, () => {
        let calls = 0;
        assert.throws(() =>
          load(
            ((maxLength: number) => {
              calls++;
              return answer(maxLength);
            }) as PasswordCallback,
          )
        );
        assert.equal(calls, 1, `the callback ran ${calls} times for one load`);
      });
    }
  }
});

Deno.test("password: an encrypted key with no password fails at once, and clearing the callback works", () => {
  const file = fixturePath("server-key-pkcs8-aes256.pem");
  assert.throws(() => PrivateKey.fromFile(file), UnableToReadPrivateKeyError);
  assert.throws(() => PrivateKey.fromPEM(fixture("server-key-legacy-des3.pem")), UnableToReadPrivateKeyError);
  assert.throws(() => PrivateKey.fromDER(keyBytes("server-key-pkcs8-aes256.der")), UnableToReadPrivateKeyError);
  using ctx = serverCtxFor("server-chain.pem");
  assert.throws(() => ctx.usePrivateKeyFile(file), UnableToReadPrivateKeyError);
  const cb = recorder(PASSWORD);
  ctx.setPasswordCallback(cb);
  ctx.usePrivateKeyFile(file);
  assertCalledOnceForRead(cb.calls);
  ctx.setPasswordCallback(null);
  assert.throws(() => ctx.usePrivateKeyFile(file), UnableToReadPrivateKeyError);
  assert.equal(cb.calls.length, 1, "a cleared callback is not called");
  // Not a password problem: garbage is reported as such, and no callback runs.
  assert.throws(() => PrivateKey.fromPEM("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", cb), (e) => {
    assert.ok(e instanceof SecureSocketError);
    return true;
  });
  assert.equal(cb.calls.length, 1);
});

Deno.test("password: no load path prompts on the terminal (child process with a silent stdin)", async () => {
  const mod = new URL("../mod.ts", import.meta.url).href;
  const dir = fixturePath("");
  const code = `
    import { PrivateKey, SecureSocketContext } from ${JSON.stringify(mod)};
    const dir = ${JSON.stringify(dir)};
    const paths = {
      "fromFile(pkcs8)": () => PrivateKey.fromFile(dir + "server-key-pkcs8-aes256.pem"),
      "fromFile(legacy)": () => PrivateKey.fromFile(dir + "server-key-legacy-des3.pem"),
      "fromPEM(scrypt)": () => PrivateKey.fromPEM(Deno.readTextFileSync(dir + "server-key-pkcs8-scrypt.pem")),
      "fromDER": () => PrivateKey.fromDER(Deno.readFileSync(dir + "server-key-pkcs8-aes256.der")),
      "usePrivateKeyFile": () => new SecureSocketContext().usePrivateKeyFile(dir + "server-ec-key-legacy-aes256.pem"),
      "usePrivateKey(pem)": () => new SecureSocketContext().usePrivateKey(Deno.readTextFileSync(dir + "server-key-legacy-aes256.pem")),
      "usePrivateKey(der)": () => new SecureSocketContext().usePrivateKey(Deno.readFileSync(dir + "server-key-pkcs8-aes256.der")),
    };
    for (const [name, load] of Object.entries(paths)) {
      try { load(); console.log(name + " loaded"); }
      catch (error) { console.log(name + " " + error.name); }
    }
    console.log("all done");
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stdin = child.stdin.getWriter(); // kept open and never written
  const TIMEOUT = 30_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, TIMEOUT);
  const start = performance.now();
  const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const status = await child.status;
  clearTimeout(timer);
  await stdin.close().catch(() => {});
  const elapsed = performance.now() - start;
  assert.ok(!timedOut, `the child hung (a password prompt?) — output so far:\n${out}\n${err}`);
  assert.equal(status.code, 0, err);
  const lines = out.trim().split("\n");
  assert.equal(lines.at(-1), "all done");
  assert.equal(lines.length, 8, out);
  for (const line of lines.slice(0, -1)) assert.match(line, / UnableToReadPrivateKeyError$/);
  assert.ok(elapsed < TIMEOUT, `took ${elapsed} ms`);
});

Deno.test("password: an inline encrypted key server handshakes with a client", async (t) => {
  const variants: [string, (ctx: SecureSocketContext) => void][] = [
    ["PEM string + password callback", (ctx) => {
      const cb = recorder(PASSWORD);
      ctx.usePrivateKey(fixture("server-key-pkcs8-aes256.pem"), cb);
      assertCalledOnceForRead(cb.calls);
    }],
    ["legacy PEM string + context password callback", (ctx) => {
      ctx.setPasswordCallback(() => PASSWORD);
      ctx.usePrivateKey(fixture("server-key-legacy-des3.pem"));
    }],
    ["DER bytes + password bytes", (ctx) => ctx.usePrivateKey(keyBytes("server-key-pkcs8-aes256.der"), enc(PASSWORD))],
    ["PrivateKey.fromPEM object", (ctx) => {
      using key = PrivateKey.fromPEM(fixture("server-key-utf8-pass.pem"), () => UTF8_PASSWORD);
      ctx.usePrivateKey(key);
    }],
  ];
  for (const [label, useKey] of variants) {
    await t.step(label, async () => {
      using server = new SecureSocketContext({ useSystemTrust: false });
      server.useCertificateChain(fixture("server-chain.pem"));
      useKey(server);
      using client = clientContext();
      using pair = await tlsPair(server, client, { exchange: true });
      success(pair.serverResult);
      success(pair.clientResult);
      assert.equal(pair.client.peerCertificate?.subject, "CN=localhost,O=secsock");
      await pair.client.write(enc("ping"));
      const buf = new Uint8Array(16);
      const n = await pair.server.read(buf);
      assert.equal(dec(buf.subarray(0, n ?? 0)), "ping");
    });
  }
});
