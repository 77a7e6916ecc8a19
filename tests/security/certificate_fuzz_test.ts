/**
 * Certificate fuzzing: mutated DER certificates through
 * `X509Certificate.fromDER` and every getter, `toPEM` and `toDER`, in this
 * process, so that an out-of-bounds read or a pointer taken as the wrong
 * struct ends the whole run. Only typed errors (SecureSocketError and its
 * subclasses) may come out; the fields of whatever parses must be readable
 * or typed errors, and its PEM must read back to the same DER.
 *
 * Seeds: every certificate of tests/fixtures/names/ (all GeneralName types,
 * hostile names, serials and times) and of the main fixture PKI. Mutations:
 * bit flips, interesting bytes, insertions, deletions, truncations, trailing
 * garbage, corrupted lengths (short, long, non-minimal, overlong, indefinite),
 * and structure-aware ones that change one element of the ASN.1 tree (its
 * tag, content, children; GeneralNames swapped between certificates; BER
 * indefinite lengths) and encode the rest correctly, so the mutant gets past
 * the outer parser into the fields.
 *
 * SECSOCK_CERT_FUZZ_SEED replays a run (the seed is printed);
 * SECSOCK_CERT_FUZZ_COUNT changes the number of DER cases (default 20000).
 */
import { type SeededRng as Rng, seededRng as rng } from "../seeded_rng.ts";
import assert from "node:assert/strict";
import { SecureSocketError, type SubjectAltName, X509Certificate } from "../../mod.ts";
import { fixture, fixturePath, pemToDer } from "../helpers.ts";

const SEED = Number(Deno.env.get("SECSOCK_CERT_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const COUNT = Number(Deno.env.get("SECSOCK_CERT_FUZZ_COUNT") ?? 20_000);
const PEM_COUNT = 2_000;

// ---------------------------------------------------------------- a small DER tree, for structure-aware mutations

/** One TLV: a primitive with content, or a constructed node with children. */
interface Node {
  tag: number;
  content?: Uint8Array;
  children?: Node[];
  /** Encode with BER indefinite length (constructed only). */
  indefinite?: boolean;
}

/** Parses DER (single-byte tags, definite lengths) into a tree; null if it is not that. */
function parseTree(der: Uint8Array, start = 0, end = der.length): Node[] | null {
  const nodes: Node[] = [];
  let at = start;
  while (at < end) {
    if (end - at < 2) return null;
    const tag = der[at];
    if ((tag & 0x1f) === 0x1f) return null;
    let length = der[at + 1], header = 2;
    if (length === 0x80) return null;
    if (length & 0x80) {
      const n = length & 0x7f;
      if (n > 3 || at + 2 + n > end) return null;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + der[at + 2 + i];
      header = 2 + n;
    }
    const contentStart = at + header, contentEnd = contentStart + length;
    if (contentEnd > end) return null;
    if (tag & 0x20) {
      const children = parseTree(der, contentStart, contentEnd);
      if (!children) return null;
      nodes.push({ tag, children });
    } else {
      nodes.push({ tag, content: der.slice(contentStart, contentEnd) });
    }
    at = contentEnd;
  }
  return nodes;
}

function encodeLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

function encodeTree(nodes: Node[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const node of nodes) {
    const content = node.children ? encodeTree(node.children) : node.content ?? new Uint8Array(0);
    if (node.indefinite && node.children) {
      parts.push(new Uint8Array([node.tag, 0x80]), content, new Uint8Array([0, 0]));
    } else {
      parts.push(new Uint8Array([node.tag, ...encodeLength(content.length)]), content);
    }
  }
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Every node of a tree with its parent's child list, depth first. */
function allNodes(nodes: Node[], out: { node: Node; siblings: Node[] }[] = []) {
  for (const node of nodes) {
    out.push({ node, siblings: nodes });
    if (node.children) allNodes(node.children, out);
  }
  return out;
}

const cloneTree = (nodes: Node[]): Node[] =>
  nodes.map((n) => ({ ...n, children: n.children && cloneTree(n.children) }));

/** GeneralName nodes: children of a SEQUENCE inside an OCTET STRING that follows the subjectAltName OID. */
function generalNames(tree: Node[]): Node[] {
  const out: Node[] = [];
  for (const { node } of allNodes(tree)) {
    const kids = node.children;
    if (!kids) continue;
    const oid = kids.findIndex((k) => k.tag === 0x06 && k.content?.length === 3 && k.content[2] === 0x11);
    const value = oid >= 0 ? kids.slice(oid + 1).find((k) => k.tag === 0x04) : undefined;
    const names = value?.content && parseTree(value.content);
    if (names?.[0]?.children) out.push(...names[0].children);
  }
  return out;
}

/** subjectAltName OCTET STRINGs of a tree, with their parsed GeneralNames, for rewriting. */
function sanValues(tree: Node[]): { octets: Node; names: Node[] }[] {
  const out: { octets: Node; names: Node[] }[] = [];
  for (const { node } of allNodes(tree)) {
    const kids = node.children;
    if (!kids) continue;
    const oid = kids.findIndex((k) => k.tag === 0x06 && k.content?.length === 3 && k.content[2] === 0x11);
    const octets = oid >= 0 ? kids.slice(oid + 1).find((k) => k.tag === 0x04) : undefined;
    const names = octets?.content && parseTree(octets.content);
    if (octets && names?.[0]?.children) out.push({ octets, names: names[0].children });
  }
  return out;
}

// ---------------------------------------------------------------- mutations

const INTERESTING = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xa0, 0xff];

interface Seed {
  name: string;
  der: Uint8Array;
  tree: Node[] | null;
}

function mutateContent(r: Rng, content: Uint8Array): Uint8Array {
  const out = Uint8Array.from(content);
  switch (r.int(6)) {
    case 0:
      if (out.length) out[r.int(out.length)] ^= 1 << r.int(8);
      return out;
    case 1:
      if (out.length) out[r.int(out.length)] = r.pick(INTERESTING);
      return out;
    case 2:
      return out.subarray(0, r.int(out.length + 1));
    case 3: {
      const at = r.int(out.length + 1);
      return concat([out.subarray(0, at), r.bytes(1 + r.int(8)), out.subarray(at)]);
    }
    case 4: // bytes a string parser may trip on: NUL, high bytes, odd lengths
      return concat([out, new Uint8Array([r.pick([0x00, 0xff, 0x80, 0xd8, 0x22, 0x2c, 0x5c])])]);
    default:
      return r.bytes(r.int(64));
  }
}

/** What structure-aware mutations draw from: parsed seeds and every GeneralName of them. */
interface Donors {
  trees: Seed[];
  generalNames: Node[];
}

/** Structure-aware: one change in the tree, lengths encoded correctly around it. */
function mutateTree(r: Rng, seed: Seed, donors: Donors): { data: Uint8Array; how: string } {
  const tree = cloneTree(seed.tree!);
  const kind = r.int(8);
  const sans = sanValues(tree);
  if (kind <= 2 && sans.length > 0) {
    // Rewrite a GeneralName inside the subjectAltName: its tag, its content,
    // or one from another certificate; then re-encode the extension value.
    const { octets, names } = r.pick(sans);
    const i = r.int(names.length);
    let how: string;
    if (kind === 0 && names.length > 0) {
      names[i] = {
        ...names[i],
        tag: r.pick([0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0xa0, 0xa3, 0xa4, 0xa5, 0xa8, 0x89]),
      };
      how = `GeneralName ${i} retagged ${names[i].tag.toString(16)}`;
    } else if (kind === 1 || names.length === 0) {
      names.splice(i, 0, cloneTree([r.pick(donors.generalNames)])[0]);
      how = `GeneralName inserted at ${i}`;
    } else if (names.length > 0) {
      const inner = allNodes([names[i]]);
      const { node } = r.pick(inner);
      if (node.content) node.content = mutateContent(r, node.content);
      else node.children = node.children?.slice(0, r.int(node.children.length + 1));
      how = `GeneralName ${i} content mutated`;
    } else {
      how = "no GeneralName to change";
    }
    octets.content = encodeTree([{ tag: 0x30, children: names }]);
    return { data: encodeTree(tree), how };
  }
  const nodes = allNodes(tree);
  const { node, siblings } = r.pick(nodes);
  switch (kind) {
    case 3:
      node.tag = r.pick([...INTERESTING, 0x02, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x14, 0x16, 0x17, 0x18, 0x1e, 0x30, 0x31]);
      return { data: encodeTree(tree), how: `retag to ${node.tag.toString(16)}` };
    case 4:
      if (node.content) node.content = mutateContent(r, node.content);
      else node.indefinite = true;
      return { data: encodeTree(tree), how: node.content ? "content mutated" : "indefinite length" };
    case 5: {
      const i = siblings.indexOf(node);
      if (r.int(2)) siblings.splice(i, 1);
      else siblings.splice(i, 0, cloneTree([node])[0]);
      return { data: encodeTree(tree), how: "sibling removed or duplicated" };
    }
    case 6:
      // Every constructed node indefinite (BER throughout).
      for (const { node: n } of nodes) if (n.children && r.int(2)) n.indefinite = true;
      return { data: encodeTree(tree), how: "indefinite lengths" };
    default: {
      const donor = r.pick(donors.trees);
      const part = r.pick(allNodes(donor.tree!)).node;
      siblings[siblings.indexOf(node)] = cloneTree([part])[0];
      return { data: encodeTree(tree), how: `node spliced from ${donor.name}` };
    }
  }
}

/** Raw bytes: flips, insertions, deletions, truncation, trailing garbage, corrupted lengths. */
function mutateBytes(r: Rng, seed: Seed): { data: Uint8Array; how: string } {
  const der = seed.der;
  const kind = r.int(7);
  if (kind === 0) {
    const out = Uint8Array.from(der);
    const flips = 1 + r.int(8);
    for (let i = 0; i < flips; i++) out[r.int(out.length)] ^= 1 << r.int(8);
    return { data: out, how: `${flips} bit flips` };
  }
  if (kind === 1) {
    const out = Uint8Array.from(der);
    out[r.int(out.length)] = r.pick(INTERESTING);
    return { data: out, how: "interesting byte" };
  }
  if (kind === 2) {
    const at = r.int(der.length + 1);
    return { data: concat([der.subarray(0, at), r.bytes(1 + r.int(16)), der.subarray(at)]), how: `insert at ${at}` };
  }
  if (kind === 3) {
    const at = r.int(der.length);
    const n = 1 + r.int(32);
    return { data: concat([der.subarray(0, at), der.subarray(at + n)]), how: `delete ${n} at ${at}` };
  }
  if (kind === 4) {
    const n = r.int(der.length);
    return { data: der.slice(0, n), how: `truncate to ${n}` };
  }
  if (kind === 5) return { data: concat([der, r.bytes(1 + r.int(64))]), how: "trailing garbage" };
  // Corrupt one length field: find a TLV header by walking the DER.
  const headers: { at: number; lengthBytes: number }[] = [];
  const walk = (start: number, end: number) => {
    let at = start;
    while (at + 2 <= end) {
      const tag = der[at];
      let length = der[at + 1], header = 2;
      if (length & 0x80) {
        const n = length & 0x7f;
        if (n === 0 || n > 3) return;
        length = 0;
        for (let i = 0; i < n; i++) length = length * 256 + der[at + 2 + i];
        header = 2 + n;
      }
      headers.push({ at, lengthBytes: header - 1 });
      if (tag & 0x20) walk(at + header, Math.min(end, at + header + length));
      at += header + length;
    }
  };
  walk(0, der.length);
  const { at, lengthBytes } = r.pick(headers);
  const replacement = r.pick([
    [r.int(0x80)],
    [0x80], // indefinite, with no end-of-contents
    [0x81, r.int(256)], // possibly non-minimal
    [0x82, r.int(256), r.int(256)],
    [0x84, 0xff, 0xff, 0xff, 0xff],
    [0x84, 0x7f, 0xff, 0xff, 0xff],
    [0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [0x00],
  ]);
  const data = concat([der.subarray(0, at + 1), new Uint8Array(replacement), der.subarray(at + 1 + lengthBytes)]);
  return { data, how: `length at ${at} set to ${replacement.map((b) => b.toString(16)).join(" ")}` };
}

// ---------------------------------------------------------------- exercising a certificate

const GETTERS: [string, (c: X509Certificate) => unknown][] = [
  ["subject", (c) => c.subject],
  ["issuer", (c) => c.issuer],
  ["serialNumber", (c) => c.serialNumber],
  ["notBefore", (c) => c.notBefore],
  ["notAfter", (c) => c.notAfter],
  ["fingerprint256", (c) => c.fingerprint256],
  ["subjectAltNames", (c) => c.subjectAltNames],
  ["subjectAltNameEntries", (c) => c.subjectAltNameEntries],
  ["toString", (c) => c.toString()],
  ["toDER", (c) => c.toDER()],
  ["toPEM", (c) => c.toPEM()],
];

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

interface Stats {
  parsed: number;
  rejected: number;
  fieldErrors: number;
  typesSeen: Set<string>;
}

function typed(error: unknown, context: () => string): void {
  if (!(error instanceof SecureSocketError)) {
    assert.fail(`untyped ${error instanceof Error ? error.stack : String(error)}\n${context()}`);
  }
}

/** Checks the value a getter returned: well-formed, no stray characters. */
function checkValue(name: string, value: unknown, context: () => string): void {
  const ok = (cond: boolean) => assert.ok(cond, `${name} returned ${String(value)}\n${context()}`);
  switch (name) {
    case "subject":
    case "issuer":
    case "serialNumber":
    case "fingerprint256":
    case "toString":
      ok(typeof value === "string" && !value.includes("\0") && !value.includes("\ufffd"));
      break;
    case "notBefore":
    case "notAfter":
      ok(value instanceof Date && !Number.isNaN(value.getTime()));
      break;
    case "subjectAltNames":
      // Printable ASCII only, each a known prefix.
      ok(
        Array.isArray(value) &&
          value.every((s) =>
            /^[\x20-\x7e]*$/.test(s) &&
            /^(DNS|email|URI|IP|DirName|Registered ID|othername|X400Name|EdiPartyName):/.test(s)
          ),
      );
      break;
  }
}

function exercise(der: Uint8Array, stats: Stats, context: () => string): void {
  let cert: X509Certificate;
  try {
    cert = X509Certificate.fromDER(der);
  } catch (error) {
    typed(error, context);
    stats.rejected++;
    return;
  }
  stats.parsed++;
  for (const [name, get] of GETTERS) {
    let value: unknown;
    try {
      value = get(cert);
    } catch (error) {
      typed(error, () => `${name}: ${context()}`);
      stats.fieldErrors++;
      continue;
    }
    checkValue(name, value, context);
    if (name === "subjectAltNameEntries") {
      for (const entry of value as SubjectAltName[]) stats.typesSeen.add(entry.type);
    }
  }
  // The PEM holds the same DER (decoded here); for every tenth, OpenSSL reads it back too.
  const pem = cert.toPEM();
  assert.deepEqual(pemToDer(pem), cert.toDER(), context());
  if (stats.parsed % 10 === 0) assert.deepEqual(X509Certificate.fromPEM(pem).toDER(), cert.toDER(), context());
}

// ---------------------------------------------------------------- seeds

const HUGE = ["san-huge.pem", "name-huge.pem"];

function loadSeeds(): Seed[] {
  const seeds: Seed[] = [];
  const add = (name: string, text: string) => {
    for (const block of text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
      if (block.includes("Proc-Type")) continue;
      const der = pemToDer(block);
      seeds.push({ name, der, tree: parseTree(der) });
    }
  };
  for (const entry of Deno.readDirSync(fixturePath("names"))) {
    // The 20-kilobyte certificates would make every mutant of theirs slow; the names tests read them.
    if (!entry.name.endsWith(".pem") || HUGE.includes(entry.name)) continue;
    add(`names/${entry.name}`, fixture(`names/${entry.name}`));
  }
  for (const name of ["server-chain.pem", "ca.pem", "client.pem", "server-ec.pem", "server-ed25519.pem"]) {
    add(name, fixture(name));
  }
  return seeds.sort((a, b) => a.name.localeCompare(b.name));
}

Deno.test(`certificate fuzz: ${COUNT} mutated DER certificates through fromDER and every getter`, () => {
  console.log(`certificate fuzz seed: ${SEED} (replay with SECSOCK_CERT_FUZZ_SEED=${SEED})`);
  const r = rng(SEED);
  const seeds = loadSeeds();
  assert.ok(seeds.length >= 30, `only ${seeds.length} seeds`);
  const stats: Stats = { parsed: 0, rejected: 0, fieldErrors: 0, typesSeen: new Set() };
  const trees = seeds.filter((s) => s.tree);
  const donors: Donors = { trees, generalNames: trees.flatMap((s) => generalNames(s.tree!)) };
  const withNames = seeds.filter((s) => s.name.startsWith("names/san-"));
  const started = performance.now();
  // The seeds themselves first.
  for (const seed of seeds) exercise(seed.der, stats, () => `seed ${seed.name}`);
  for (let i = 0; i < COUNT; i++) {
    // Certificates with every GeneralName type are picked more often.
    const seed = r.int(3) === 0 ? r.pick(withNames) : r.pick(seeds);
    const { data, how } = seed.tree && r.int(2) === 0 ? mutateTree(r, seed, donors) : mutateBytes(r, seed);
    exercise(
      data,
      stats,
      () => `case ${i} (seed ${SEED}, SECSOCK_CERT_FUZZ_SEED=${SEED}): ${seed.name}, ${how}\ninput: ${hex(data)}`,
    );
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `certificate fuzz: ${COUNT} cases in ${seconds} s; ${stats.parsed} parsed, ${stats.rejected} rejected, ` +
      `${stats.fieldErrors} field errors; GeneralName types read: ${[...stats.typesSeen].sort().join(", ")}`,
  );
  // The mutants reached the getters, including every GeneralName type.
  assert.ok(stats.parsed >= COUNT / 5, `only ${stats.parsed} mutants parsed`);
  assert.equal(stats.typesSeen.size, 9, [...stats.typesSeen].join(", "));
});

// ---------------------------------------------------------------- PEM input

Deno.test("certificate fuzz: PEM input — junk around, other labels, CRLF, no final newline, broken blocks", () => {
  const pem = fixture("names/san-all-types.pem");
  const der = X509Certificate.fromPEM(pem).toDER();
  const body = pem.split("\n").slice(1, -2).join("\n");
  const same = [
    ["junk before", `hello\n-----\nnot a block\n${pem}`],
    ["junk after", `${pem}trailing junk\n-----BEGIN NOTHING\n`],
    ["CRLF", pem.replaceAll("\n", "\r\n")],
    ["no final newline", pem.trimEnd()],
    ["one base64 line", `-----BEGIN CERTIFICATE-----\n${body.replaceAll("\n", "")}\n-----END CERTIFICATE-----\n`],
    ["legacy X509 CERTIFICATE label", pem.replaceAll("CERTIFICATE", "X509 CERTIFICATE")],
    ["another block first", `${fixture("server.key")}${pem}`],
  ];
  for (const [name, text] of same) {
    assert.deepEqual(X509Certificate.fromPEM(text).toDER(), der, name);
    assert.deepEqual(X509Certificate.fromPEM(new TextEncoder().encode(text)).toDER(), der, name);
  }
  const refused = [
    ["empty", ""],
    ["whitespace", " \n\r\n\t"],
    ["TRUSTED CERTIFICATE label", pem.replaceAll("CERTIFICATE", "TRUSTED CERTIFICATE")],
    ["PRIVATE KEY label", pem.replaceAll("CERTIFICATE", "PRIVATE KEY")],
    ["mismatched END", pem.replace("END CERTIFICATE", "END X509 CRL")],
    ["no END line", pem.replace("-----END CERTIFICATE-----\n", "")],
    ["bad base64", pem.replace(/\n[A-Za-z]/, "\n*")],
    ["truncated base64", pem.replace(/[A-Za-z0-9+/=]{20}\n-----END/, "\n-----END")],
    ["encrypted header", fixture("names/encrypted-header.pem")],
    ["good block then a broken one", pem + pem.replace(/\n[A-Za-z]{8}/, "\nAAAAAAAA")],
  ];
  for (const [name, text] of refused) {
    assert.throws(() => X509Certificate.fromPEM(text), SecureSocketError, name);
  }

  // Random edits of the text: each result parses to something readable or is a typed error.
  const r = rng(SEED ^ 0x5bd1e995);
  const stats: Stats = { parsed: 0, rejected: 0, fieldErrors: 0, typesSeen: new Set() };
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-\n\r \0\u00e9";
  for (let i = 0; i < PEM_COUNT; i++) {
    let text = r.int(2) ? pem : fixture("server-chain.pem");
    for (let edits = 1 + r.int(3); edits > 0; edits--) {
      const at = r.int(text.length + 1);
      const kind = r.int(4);
      if (kind === 0) text = text.slice(0, at) + text.slice(at + 1 + r.int(8));
      else if (kind === 1) text = text.slice(0, at) + alphabet[r.int(alphabet.length)] + text.slice(at);
      else if (kind === 2) text = text.slice(0, at);
      else {
        const lines = text.split("\n");
        const j = r.int(lines.length);
        lines.splice(r.int(lines.length), 0, lines[j]);
        text = lines.join("\n");
      }
    }
    const context = () => `PEM case ${i} (seed ${SEED}):\n${JSON.stringify(text)}`;
    let certs: X509Certificate;
    try {
      certs = X509Certificate.fromPEM(text);
    } catch (error) {
      typed(error, context);
      stats.rejected++;
      continue;
    }
    exercise(certs.toDER(), stats, context);
  }
  assert.ok(stats.parsed > 0 && stats.rejected > 0, JSON.stringify({ ...stats, typesSeen: [...stats.typesSeen] }));
});
