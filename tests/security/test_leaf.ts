/**
 * Leaf certificates made at test time, signed by the fixture root, for
 * attacks whose certificate must not sit in tests/fixtures/ (a weak key that
 * OpenSSL's default security level refuses; IP literals read two ways).
 */
import assert from "node:assert/strict";
import { fixturePath, run } from "../helpers.ts";

/** What a test leaf is made of. */
export interface TestLeafOptions {
  /** The subject's CN. */
  cn: string;
  /** The key: `openssl req -newkey` argument and options, e.g. ["rsa:1024"] or ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]. */
  key: string[];
  /** Extension lines of the leaf, e.g. "extendedKeyUsage = serverAuth". */
  extensions: string[];
}

/** A leaf certificate and key in a temporary directory, removed on dispose. */
export interface TestLeaf extends AsyncDisposable {
  /** Path of the certificate (PEM). */
  cert: string;
  /** Path of the unencrypted private key (PEM). */
  key: string;
  /** The certificate's PEM text. */
  pem: string;
}

/** Issues a two-day leaf under the fixture root with `openssl req -x509 -CA`. */
export async function issueTestLeaf(options: TestLeafOptions): Promise<TestLeaf> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/leaf.cnf`,
    [
      "[ req ]",
      "distinguished_name = dn",
      "prompt = no",
      "x509_extensions = leaf",
      "[ dn ]",
      `CN = ${options.cn}`,
      "[ leaf ]",
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature",
      ...options.extensions,
      "",
    ].join("\n"),
  );
  const made = await run("openssl", [
    "req",
    "-x509",
    "-new",
    "-newkey",
    ...options.key,
    "-nodes",
    "-keyout",
    `${dir}/leaf.key`,
    "-out",
    `${dir}/leaf.pem`,
    "-config",
    `${dir}/leaf.cnf`,
    "-CA",
    fixturePath("ca.pem"),
    "-CAkey",
    fixturePath("ca.key"),
    "-days",
    "2",
  ]);
  assert.equal(made.code, 0, made.stderr);
  return {
    cert: `${dir}/leaf.pem`,
    key: `${dir}/leaf.key`,
    pem: await Deno.readTextFile(`${dir}/leaf.pem`),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}
