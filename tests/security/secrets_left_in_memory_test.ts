/**
 * Attack on secrets at rest in the process: passwords and session ticket
 * keys that secsock copied into JavaScript memory and left there, readable by
 * a heap dump, a core file or a later out-of-bounds read long after the key
 * was loaded. Every copy secsock makes is zeroed once OpenSSL has its own;
 * a Uint8Array a password callback returns is handed over and zeroed too; a
 * Uint8Array the caller passes directly stays the caller's (neither zeroed
 * nor retained).
 *
 * Copies are observed from outside: while a load runs, `Uint8Array` is
 * replaced by a subclass that records each array created (not views over
 * existing buffers), and afterwards no recorded array (but the caller's own)
 * may still hold the secret. OpenSSL's own native copies are its business
 * (it cleanses them).
 */
import assert from "node:assert/strict";
import { Pkcs12, PrivateKey, SecureSocketContext } from "../../mod.ts";
import { delay, enc, fixture, fixturePath, indexOfBytes } from "../helpers.ts";

const PASSWORD = "secsock-pass";
const gc = (globalThis as { gc?: () => void }).gc;

/** Runs `fn` while recording every Uint8Array created through the global constructor. */
function recordingArrays<T>(fn: () => T): { result: T; arrays: Uint8Array[] } {
  const Original = globalThis.Uint8Array;
  const arrays: Uint8Array[] = [];
  class Recording extends Original {
    constructor(...args: unknown[]) {
      super(...(args as [ArrayBuffer]));
      // A view over an existing buffer (native memory OpenSSL owns, say) is not a copy.
      if (!(args[0] instanceof ArrayBuffer)) arrays.push(this);
    }
    // `x instanceof Uint8Array` in the library must mean what it always means.
    static override [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof Original;
    }
  }
  Object.defineProperty(globalThis, "Uint8Array", { value: Recording, writable: true, configurable: true });
  try {
    return { result: fn(), arrays };
  } finally {
    Object.defineProperty(globalThis, "Uint8Array", { value: Original, writable: true, configurable: true });
  }
}

/** The recorded arrays (other than `except`) that still contain `secret`. */
function holding(arrays: Uint8Array[], secret: Uint8Array, except: Uint8Array[] = []): Uint8Array[] {
  return arrays.filter((a) => !except.includes(a) && indexOfBytes(a, secret) >= 0);
}

/** Every way a key (or bundle) is loaded with a password. */
const LOADS: [string, (password: string | Uint8Array | (() => Uint8Array)) => void][] = [
  ["PrivateKey.fromPEM (legacy PEM encryption)", (p) => {
    PrivateKey.fromPEM(fixture("server-key-legacy-aes256.pem"), p).close();
  }],
  ["PrivateKey.fromDER (encrypted PKCS#8)", (p) => {
    PrivateKey.fromDER(Deno.readFileSync(fixturePath("server-key-pkcs8-aes256.der")), p).close();
  }],
  ["ctx.usePrivateKeyFile", (p) => {
    using ctx = new SecureSocketContext({ useSystemTrust: false });
    ctx.useCertificateChainFile(fixturePath("server-chain.pem"));
    ctx.usePrivateKeyFile(fixturePath("server-key-pkcs8-aes256.pem"), p);
  }],
  ["ctx.setPasswordCallback + usePrivateKey", (p) => {
    using ctx = new SecureSocketContext({ useSystemTrust: false });
    // A callback's result is handed over: give it a fresh array.
    ctx.setPasswordCallback(typeof p === "function" ? p : () => (typeof p === "string" ? p : p.slice()));
    ctx.usePrivateKey(fixture("server-key-pkcs8-scrypt.pem"));
  }],
  ["Pkcs12.parse", (p) => {
    Pkcs12.parse(Deno.readFileSync(fixturePath("client.p12")), p).privateKey.close();
  }],
  ["ctx.usePkcs12", (p) => {
    using ctx = new SecureSocketContext({ useSystemTrust: false });
    ctx.usePkcs12(Deno.readFileSync(fixturePath("client.p12")), p);
  }],
];

Deno.test("secrets attack: a password callback's returned bytes stay readable after the key is loaded", () => {
  for (const [what, load] of LOADS) {
    const returned: Uint8Array[] = [];
    load(() => {
      const bytes = enc(PASSWORD);
      returned.push(bytes);
      return bytes;
    });
    assert.ok(returned.length > 0, `${what}: the callback was not asked`);
    for (const bytes of returned) {
      assert.deepEqual([...bytes], new Array(PASSWORD.length).fill(0), `${what}: the returned password was not zeroed`);
    }
  }
  // Returning the same (already zeroed) array again is named, not a mysterious wrong password.
  const once = enc(PASSWORD);
  PrivateKey.fromPEM(fixture("server-key-legacy-aes256.pem"), () => once).close();
  assert.throws(() => PrivateKey.fromPEM(fixture("server-key-legacy-aes256.pem"), () => once), TypeError);
});

Deno.test("secrets attack: secsock's own copies of a password stay in JavaScript memory", () => {
  for (const [what, load] of LOADS) {
    for (const form of ["bytes", "string", "callback"] as const) {
      const given = enc(PASSWORD);
      const { arrays } = recordingArrays(() => {
        load(form === "bytes" ? given : form === "string" ? PASSWORD : () => enc(PASSWORD));
      });
      const left = holding(arrays, enc(PASSWORD), [given]);
      assert.equal(left.length, 0, `${what} (${form}): ${left.length} copies of the password left in memory`);
      // The caller's own bytes are the caller's: intact.
      assert.equal(new TextDecoder().decode(given), PASSWORD, `${what}: the caller's password was modified`);
    }
  }
  // A password too long for OpenSSL's buffer is refused, and its copy wiped too.
  const long = enc("x".repeat(5000));
  const { arrays } = recordingArrays(() =>
    assert.throws(() => PrivateKey.fromPEM(fixture("server-key-legacy-aes256.pem"), () => long.slice()))
  );
  assert.equal(holding(arrays, long.subarray(0, 64)).length, 0, "the overlong password's copy was left");
});

Deno.test("secrets attack: secsock's copy of the session ticket keys stays in JavaScript memory", () => {
  using ctx = new SecureSocketContext({ useSystemTrust: false });
  const keys = crypto.getRandomValues(new Uint8Array(80));
  const original = keys.slice();
  const { arrays } = recordingArrays(() => ctx.setTicketKeys(keys));
  assert.equal(holding(arrays, keys).length, 0, "a copy of the ticket keys was left in memory");
  assert.deepEqual(keys, original, "the caller's keys were modified");
  // OpenSSL has them: getTicketKeys reads them back (into the caller's array only).
  const { result: read, arrays: reading } = recordingArrays(() => ctx.getTicketKeys());
  assert.deepEqual([...read], [...original]);
  assert.equal(holding(reading, keys, [read]).length, 0, "getTicketKeys left another copy");
  read.fill(0);
});

Deno.test({
  name: "secrets: a password passed as bytes is not retained after the load",
  ignore: gc === undefined,
  async fn() {
    let collected = false;
    const registry = new FinalizationRegistry<void>(() => collected = true);
    const key = (() => {
      const password = enc(PASSWORD);
      registry.register(password, undefined);
      return PrivateKey.fromPEM(fixture("server-key-legacy-aes256.pem"), password);
    })();
    try {
      for (let i = 0; i < 100 && !collected; i++) {
        gc!();
        await delay(20);
      }
      assert.ok(collected, "the caller's password array is still referenced after the key was loaded");
      assert.equal(key.type, "RSA");
    } finally {
      key.close();
    }
  },
});
