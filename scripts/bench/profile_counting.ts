/**
 * Counting for scripts/bench/profile.ts (issue 15): a copy of the library in
 * which every `async` function counts its calls, and counters on the FFI
 * symbol tables, the native callbacks, `Promise` and the transport. Used by
 * the counting worker only: nothing here touches the library in the checkout.
 *
 * @module
 */
const ROOT = new URL("../../", import.meta.url).pathname;

/** A JSON object. */
export type Json = Record<string, unknown>;

// ------------------------------------------------------------------ the instrumented copy

/** Matches the `async` keyword that starts a function, method or arrow function. */
const ASYNC_SITE = /(?<![\w$.])async\s+(?=\*|function\b|#|\[|\(|[\w$]+\s*[<(])/;

/**
 * Makes every `async` function in `source` call `__secsockAsync()` first.
 * Each call of an async function makes exactly one promise. Returns the
 * sites instrumented and the ones it could not (expression-bodied arrows).
 */
export function instrumentAsync(source: string, file: string): { text: string; sites: string[]; missed: string[] } {
  const lines = source.split("\n");
  const sites: string[] = [];
  const missed: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const trimmed = line.trimStart();
    if (trimmed.startsWith("*") || trimmed.startsWith("//") || trimmed.startsWith("/*")) continue;
    const comment = line.indexOf("//");
    const m = ASYNC_SITE.exec(line);
    if (!m || (comment >= 0 && comment < m.index)) continue;
    const site = `${file}:${i + 1}`;
    let body = -1;
    if (line.trimEnd().endsWith("{")) {
      body = i;
    } else if (!line.slice(m.index).includes("=>")) {
      // A multi-line signature: the body opens on the first line that ends
      // with "{" at the declaration's own indentation.
      const indent = line.length - trimmed.length;
      for (let j = i + 1; j < Math.min(lines.length, i + 20); j++) {
        const l = lines[j];
        if (l.length - l.trimStart().length === indent && l.trimEnd().endsWith("{")) {
          body = j;
          break;
        }
      }
    }
    if (body < 0) {
      missed.push(site);
      continue;
    }
    lines[body] = `${lines[body].trimEnd()} (globalThis as any).__secsockAsync?.(${JSON.stringify(site)});`;
    sites.push(site);
  }
  return { text: lines.join("\n"), sites, missed };
}

async function copyTree(from: string, to: string, rel: string, report: { sites: string[]; missed: string[] }) {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const src = `${from}/${entry.name}`;
    const dst = `${to}/${entry.name}`;
    if (entry.isDirectory) {
      await copyTree(src, dst, `${rel}${entry.name}/`, report);
    } else if (entry.name.endsWith(".ts")) {
      const out = instrumentAsync(await Deno.readTextFile(src), `${rel}${entry.name}`);
      report.sites.push(...out.sites);
      report.missed.push(...out.missed);
      await Deno.writeTextFile(dst, out.text);
    }
  }
}

/** Copies mod.ts, lib/ and ffi/ to a temporary directory with every async function counting its calls. */
export async function instrumentedCopy(): Promise<{ dir: string; sites: string[]; missed: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "secsock-profile-" });
  const report = { sites: [] as string[], missed: [] as string[] };
  for (const sub of ["lib", "ffi"]) await copyTree(`${ROOT}${sub}`, `${dir}/${sub}`, `${sub}/`, report);
  const mod = instrumentAsync(await Deno.readTextFile(`${ROOT}mod.ts`), "mod.ts");
  await Deno.writeTextFile(`${dir}/mod.ts`, mod.text);
  return { dir, sites: report.sites, missed: report.missed };
}

// ------------------------------------------------------------------ counters (counting worker only)

/** What one window counts. */
interface Counts {
  ffi: Map<string, number>;
  callbacks: Map<string, number>;
  asyncCalls: number;
  promiseStatics: number;
  promiseNew: number;
  thenCalls: number;
  transportReads: number;
  transportWrites: number;
}

const newCounts = (): Counts => ({
  ffi: new Map(),
  callbacks: new Map(),
  asyncCalls: 0,
  promiseStatics: 0,
  promiseNew: 0,
  thenCalls: 0,
  transportReads: 0,
  transportWrites: 0,
});

let counts = newCounts();

/** Starts a new counting window. */
export function resetCounts(): void {
  counts = newCounts();
}
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** Replaces `Promise` and `Promise.prototype.then` with counting versions. Call before importing the library. */
function countPromises(): void {
  const NativePromise = Promise;
  const then = NativePromise.prototype.then;
  (NativePromise.prototype as { then: unknown }).then = function (this: Promise<unknown>, ...args: unknown[]) {
    counts.thenCalls++;
    return then.apply(this, args as [never, never]);
  };
  const statics = new Map<PropertyKey, unknown>();
  const proxy = new Proxy(NativePromise, {
    construct(target, args) {
      counts.promiseNew++;
      return Reflect.construct(target, args, target);
    },
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== "function" || key === "prototype") return value;
      let wrapped = statics.get(key);
      if (!wrapped) {
        wrapped = (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          // Promise.resolve(p) hands back a native promise as it is.
          if (result !== args[0]) counts.promiseStatics++;
          return result;
        };
        statics.set(key, wrapped);
      }
      return wrapped;
    },
  });
  (globalThis as { Promise: unknown }).Promise = proxy;
  (globalThis as { __secsockAsync?: () => void }).__secsockAsync = () => {
    counts.asyncCalls++;
  };
}

/** Counting conn: transport reads and writes. */
function countConn<C extends { read(p: Uint8Array): Promise<number | null>; write(p: Uint8Array): Promise<number> }>(
  conn: C,
): C {
  const read = conn.read.bind(conn);
  const write = conn.write.bind(conn);
  conn.read = (p) => {
    counts.transportReads++;
    return read(p);
  };
  conn.write = (p) => {
    counts.transportWrites++;
    return write(p);
  };
  return conn;
}

/** The library under test: the instrumented copy (counting) or the checkout (heap, idle). */
// deno-lint-ignore no-explicit-any
export type Mod = any;

/** Imports the instrumented copy in `dir` with every counter installed; returns its mod.ts. */
export async function loadCounting(dir: string): Promise<Mod> {
  countPromises();
  const mod = await import(`file://${dir}/mod.ts`);
  const { libssl, libcrypto } = await import(`file://${dir}/ffi/library.ts`);
  for (const lib of [libssl(), libcrypto()] as Record<string, unknown>[]) {
    for (const name of Object.keys(lib)) {
      const fn = lib[name];
      if (typeof fn !== "function") continue;
      lib[name] = (...args: unknown[]) => {
        bump(counts.ffi, name);
        return (fn as (...a: unknown[]) => unknown)(...args);
      };
    }
  }
  const { ffi } = await import(`file://${dir}/ffi/runtime.ts`);
  const names = new Map<unknown, string>();
  try {
    const defs = await import(`file://${dir}/ffi/callbacks.ts`);
    for (const [k, v] of Object.entries(defs)) {
      if (v && typeof v === "object" && "parameters" in v) names.set(v, k.replace(/_CALLBACK$/, "").toLowerCase());
    }
  } catch {
    // moved: callbacks are then named by their signature
  }
  const callback = ffi.callback.bind(ffi);
  ffi.callback = (definition: { parameters: string[]; result: string }, fn: (...a: unknown[]) => unknown) => {
    const name = names.get(definition) ?? `(${definition.parameters.join(",")})->${definition.result}`;
    return callback(definition, (...args: unknown[]) => {
      bump(counts.callbacks, name);
      return fn(...args);
    });
  };
  const { platform } = await import(`file://${dir}/ffi/platform.ts`);
  const connect = platform.connect.bind(platform);
  platform.connect = async (o: unknown) => countConn(await connect(o));
  const listen = platform.listen.bind(platform);
  platform.listen = (o: unknown) => {
    const listener = listen(o);
    const accept = listener.accept.bind(listener);
    listener.accept = async () => countConn(await accept());
    return listener;
  };
  return mod;
}

/** The counts since the last reset, per operation (`per` operations). */
export function snapshotCounts(per: number): Json {
  const c = counts;
  const scale = (v: number) => Math.round((v / per) * 100) / 100;
  const ffi = Object.fromEntries([...c.ffi].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, scale(v)]));
  const ffiTotal = scale([...c.ffi.values()].reduce((a, b) => a + b, 0));
  const get = (k: string) => scale(c.ffi.get(k) ?? 0);
  return {
    ffiTotal,
    ffi,
    callbacks: Object.fromEntries([...c.callbacks].map(([k, v]) => [k, scale(v)])),
    callbacksTotal: scale([...c.callbacks.values()].reduce((a, b) => a + b, 0)),
    certificatesParsed: Math.round((get("d2i_X509") + get("PEM_read_bio_X509") + get("PEM_read_bio_X509_AUX")) * 100) /
      100,
    certificateValues: get("i2d_X509"),
    promises: scale(c.asyncCalls + c.promiseNew + c.promiseStatics + c.thenCalls),
    asyncCalls: scale(c.asyncCalls),
    promiseNew: scale(c.promiseNew + c.promiseStatics),
    thenCalls: scale(c.thenCalls),
    transportReads: scale(c.transportReads),
    transportWrites: scale(c.transportWrites),
  };
}
