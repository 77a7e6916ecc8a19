/**
 * Builds the npm package in npm/ (`deno task build:npm`) and tests it on Node.js.
 *
 * dnt cannot be fetched here, so this does its job: TypeScript (npm:typescript,
 * pinned) compiles mod.ts and everything it imports to ESM JavaScript plus
 * `.d.ts` in npm/esm/, with relative `.ts` specifiers rewritten to `.js`; then
 * package.json, README.md and LICENSE are written, the declarations are
 * type-checked as a consumer sees them, koffi (the Node.js FFI) is installed,
 * the Node test suite in tests/node/ runs against npm/ (never the sources) with
 * `node --test`, and again with `deno test` (the package's Deno FFI path), and
 * `npm pack --dry-run` must list only what users need. Any failure exits non-zero.
 *
 * Flags: --skip-tests builds only.
 */
// Pinned here rather than in deno.json: only this script uses it, and the JSR package must not depend on it.
// deno-lint-ignore no-import-prefix
import ts from "npm:typescript@5.9.3";

/** koffi, the package's only dependency: the FFI on Node.js (prebuilt binaries ship inside the npm packages). */
const KOFFI_VERSION = "3.3.4";
/** undici, for the `secsock/node` entry (HTTPS client): a peer dependency, the version deno.json maps. */
const UNDICI_VERSION = (JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url))) as {
  imports: Record<string, string>;
}).imports.undici.replace(/^npm:undici@/, "");

const root = new URL("../", import.meta.url).pathname;
const out = `${root}npm/`;
const esm = `${out}esm/`;
const skipTests = Deno.args.includes("--skip-tests");

const denoJson = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)) as { name: string; version: string };

function step(title: string): void {
  console.log(`\n== ${title}`);
}

function fail(message: string): never {
  console.error(`\nbuild:npm failed: ${message}`);
  Deno.exit(1);
}

async function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<void> {
  console.log(`$ ${[command, ...args].join(" ")}   (in ${cwd.replace(root, "./") || "./"})`);
  const status = await new Deno.Command(command, { args, cwd, env, stdout: "inherit", stderr: "inherit" }).spawn()
    .status;
  if (!status.success) fail(`${command} ${args.join(" ")} exited with ${status.code}`);
}

async function capture(command: string, args: string[], cwd: string): Promise<string> {
  const output = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "inherit" }).output();
  if (!output.success) fail(`${command} ${args.join(" ")} exited with ${output.code}`);
  return new TextDecoder().decode(output.stdout);
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => root,
    getNewLine: () => "\n",
  });
}

function* walk(dir: string): Generator<string> {
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) yield* walk(`${path}/`);
    else yield path;
  }
}

// ---------------------------------------------------------------------------
step(`compile ${denoJson.name}@${denoJson.version} with TypeScript ${ts.version}`);
try {
  Deno.removeSync(out, { recursive: true });
} catch (error) {
  if (!(error instanceof Deno.errors.NotFound)) throw error;
}
Deno.mkdirSync(esm, { recursive: true });

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  allowImportingTsExtensions: true,
  rewriteRelativeImportExtensions: true,
  declaration: true,
  rootDir: root,
  outDir: esm,
  newLine: ts.NewLineKind.LineFeed,
  strict: true,
  // `deno check` type-checks the sources (with Deno's and Node's types); here
  // TypeScript only emits, so it needs neither.
  noCheck: true,
  skipLibCheck: true,
  types: [],
  lib: ["lib.es2022.d.ts", "lib.esnext.disposable.d.ts", "lib.dom.d.ts"],
};
const program = ts.createProgram([`${root}mod.ts`, `${root}node.ts`], options);
const emitted = program.emit();
const compileErrors = [
  ...program.getSyntacticDiagnostics(),
  ...program.getOptionsDiagnostics(),
  ...emitted.diagnostics,
];
if (compileErrors.length > 0) fail(`TypeScript:\n${formatDiagnostics(compileErrors)}`);

// Relative ".ts" specifiers become ".js" (TypeScript rewrites them in JavaScript;
// declarations keep them), and the examples in the docs name the npm package.
const SPECIFIER = /((?:\bfrom|\bimport)\s*\(?\s*)(["'])(\.{1,2}\/[^"']*?)\.ts\2/g;
let files = 0;
for (const path of walk(esm)) {
  if (!path.endsWith(".js") && !path.endsWith(".d.ts")) continue;
  const text = Deno.readTextFileSync(path);
  const rewritten = text.replace(SPECIFIER, "$1$2$3.js$2").replaceAll('"@secsock/secsock"', '"secsock"')
    .replaceAll('"@secsock/secsock/node"', '"secsock/node"');
  if (/from\s*["']\.{1,2}\/[^"']*\.ts["']|import\(\s*["']\.{1,2}\/[^"']*\.ts["']\s*\)/.test(rewritten)) {
    fail(`${path} still imports a .ts file`);
  }
  if (rewritten !== text) Deno.writeTextFileSync(path, rewritten);
  files++;
}
console.log(`${files} files in npm/esm/`);

// ---------------------------------------------------------------------------
step("package.json, README.md, LICENSE");
const packageJson = {
  name: "secsock",
  version: denoJson.version,
  description:
    "TLS client and server sockets on the system's OpenSSL 3 over FFI, with OpenSSL's password, certificate " +
    "verification, handshake information and client certificate callbacks. Node.js (koffi), Deno and Bun.",
  license: "MIT",
  repository: { type: "git", url: "git+https://github.com/secsock/secsock.git" },
  keywords: [
    "tls",
    "ssl",
    "openssl",
    "x509",
    "certificate",
    "mtls",
    "client-certificate",
    "ffi",
    "koffi",
    "deno",
    "node",
    "bun",
  ],
  type: "module",
  main: "./esm/mod.js",
  module: "./esm/mod.js",
  types: "./esm/mod.d.ts",
  exports: {
    ".": {
      types: "./esm/mod.d.ts",
      import: "./esm/mod.js",
      default: "./esm/mod.js",
    },
    "./node": {
      types: "./esm/node.d.ts",
      import: "./esm/node.js",
      default: "./esm/node.js",
    },
    "./package.json": "./package.json",
  },
  files: ["esm/"],
  engines: { node: ">=20" },
  dependencies: { koffi: KOFFI_VERSION },
  // Only `secsock/node` imports undici; npm installs a peer dependency unless the application has one.
  peerDependencies: { undici: `^${UNDICI_VERSION}` },
  // The Node.js tests of `secsock/node` run against npm/ itself.
  devDependencies: { undici: UNDICI_VERSION },
};
Deno.writeTextFileSync(`${out}package.json`, JSON.stringify(packageJson, null, 2) + "\n");
Deno.copyFileSync(`${root}README.md`, `${out}README.md`);
Deno.copyFileSync(`${root}LICENSE`, `${out}LICENSE`);
console.log(`secsock@${packageJson.version}, dependencies ${JSON.stringify(packageJson.dependencies)}`);

// ---------------------------------------------------------------------------
step("type-check the declarations as a consumer sees them");
const consumer = `${out}.types-check.ts`;
Deno.writeTextFileSync(
  consumer,
  `import { type Conn, SecureSocket, SecureSocketContext, SecureSocketListener, type NetAddr } from "./esm/mod.js";
const ctx: SecureSocketContext = new SecureSocketContext({ minVersion: "TLSv1.2" });
ctx.setCertificateVerifyCallback((ok, store) => ok && store.depth >= 0);
export async function check(conn: Conn): Promise<NetAddr | string> {
  const socket: SecureSocket = await SecureSocket.startTls(conn, ctx, { hostname: "localhost" });
  const listener = SecureSocketListener.listen(ctx, { port: 0 });
  return socket.protocol ?? listener.addr;
}
`,
);
const consumerProgram = ts.createProgram([consumer], {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noEmit: true,
  skipLibCheck: false,
  types: [],
  lib: ["lib.es2022.d.ts", "lib.esnext.disposable.d.ts", "lib.dom.d.ts"],
});
const typeErrors = ts.getPreEmitDiagnostics(consumerProgram);
Deno.removeSync(consumer);
if (typeErrors.length > 0) fail(`the declarations do not type-check:\n${formatDiagnostics(typeErrors)}`);
console.log(
  `${consumerProgram.getSourceFiles().filter((f) => f.fileName.includes("/esm/")).length} declaration files ok`,
);

// ---------------------------------------------------------------------------
step("npm install (koffi; undici for the tests)");
await run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], out);

if (!skipTests) {
  step("Node.js test suite against npm/");
  const tests = [...Deno.readDirSync(`${root}tests/node/`)]
    .filter((e) => e.isFile && e.name.endsWith(".test.mjs"))
    .map((e) => `${root}tests/node/${e.name}`)
    .sort();
  if (tests.length === 0) fail("no tests in tests/node/");
  console.log(`node ${(await capture("node", ["--version"], root)).trim()}`);
  await run("node", ["--test", "--test-reporter=spec", ...tests], root, { SECSOCK_NPM_DIR: out });

  // The package also runs on Deno (npm: imports), there with Deno's own FFI:
  // the same suite, minus the README snippet (which it runs with `node`).
  step("the same suite on Deno against npm/");
  await run(
    Deno.execPath(),
    ["test", "--allow-all", "--no-check", "--no-config", `${root}tests/node/secsock.test.mjs`],
    root,
    { SECSOCK_NPM_DIR: out },
  );
}

// ---------------------------------------------------------------------------
step("npm pack --dry-run");
const packed = JSON.parse(await capture("npm", ["pack", "--dry-run", "--json", "--loglevel=error"], out)) as {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}[];
const paths = packed[0].files.map((f) => f.path).sort();
for (const path of paths) console.log(`  ${path}`);
console.log(
  `${packed[0].filename}: ${paths.length} files, ${packed[0].size} bytes packed, ${packed[0].unpackedSize} unpacked`,
);
const unexpected = paths.filter((p) =>
  !(p === "package.json" || p === "README.md" || p === "LICENSE" ||
    /^esm\/(mod|node|ffi\/\w+|lib\/\w+|lib\/(node|callbacks)\/\w+)\.(js|d\.ts)$/.test(p))
);
if (unexpected.length > 0) fail(`npm pack would ship files users do not need: ${unexpected.join(", ")}`);
for (
  const needed of [
    "package.json",
    "README.md",
    "LICENSE",
    "esm/mod.js",
    "esm/mod.d.ts",
    "esm/node.js",
    "esm/node.d.ts",
    "esm/ffi/runtime_node.js",
  ]
) {
  if (!paths.includes(needed)) fail(`npm pack would not ship ${needed}`);
}

console.log("\nbuild:npm ok");
