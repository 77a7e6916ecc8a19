/**
 * The FFI interface on Node.js, with koffi (an npm dependency of the npm
 * package only). Symbol tables are translated from Deno's type names to koffi
 * prototypes; pointers are koffi's BigInt addresses (null for NULL); 64-bit
 * results are turned into BigInt as on Deno.
 *
 * @module
 */
import { createRequire } from "node:module";
import type {
  CallbackDefinition,
  CallbackHandle,
  DynamicLibrary,
  FfiRuntime,
  ForeignInterface,
  NativeResultType,
  Pointer,
  PointerValue,
} from "./runtime.ts";

/** The part of koffi's API secsock uses. */
interface Koffi {
  load(path: string, options?: { lazy?: boolean; global?: boolean; deep?: boolean }): KoffiLibrary;
  proto(result: string, parameters: string[]): unknown;
  pointer(type: unknown): unknown;
  register(fn: (...args: unknown[]) => unknown, type: unknown): bigint;
  unregister(pointer: bigint): void;
  address(value: unknown): bigint;
  view(pointer: bigint, length: number): ArrayBuffer;
  decode: ((pointer: bigint, offset: number, type: string) => unknown) & { string(pointer: bigint): string };
  encode(pointer: bigint, type: string, value: unknown): void;
}

interface KoffiLibrary {
  func(name: string, result: string, parameters: string[]): (...args: unknown[]) => unknown;
  unload(): void;
}

/** Deno's FFI type names as koffi types. */
const KOFFI_TYPES: Record<NativeResultType, string> = {
  void: "void",
  bool: "bool",
  u8: "uint8_t",
  i8: "int8_t",
  u16: "uint16_t",
  i16: "int16_t",
  u32: "uint32_t",
  i32: "int32_t",
  u64: "uint64_t",
  i64: "int64_t",
  usize: "size_t",
  isize: "intptr_t",
  f32: "float",
  f64: "double",
  pointer: "void *",
  buffer: "void *",
  function: "void *",
};

const BIGINT_TYPES = new Set<string>(["u64", "i64", "usize", "isize"]);

let koffiModule: Koffi | null = null;

function koffi(): Koffi {
  if (koffiModule) return koffiModule;
  try {
    const required = createRequire(import.meta.url)("koffi") as Koffi & { default?: Koffi };
    koffiModule = typeof required.load === "function" ? required : required.default!;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // A plain Error: ffi/library.ts lists it among the attempts of its
    // LibraryLoadError. Importing lib/errors.ts here would close an import
    // cycle through ffi/runtime.ts, whose top-level await loads this module,
    // and the package's import would never settle.
    throw new Error(`secsock on Node.js needs the "koffi" package to call OpenSSL (npm install koffi): ${reason}`);
  }
  return koffiModule;
}

/** koffi pointers are BigInt addresses; a JS buffer passed as a pointer is given to koffi as is. */
const address = (pointer: PointerValue): bigint => pointer as unknown as bigint;
const pointerOf = (value: bigint | null): PointerValue => value as unknown as PointerValue;

const prototypes = new Map<string, unknown>();

function callbackType(definition: CallbackDefinition): unknown {
  const k = koffi();
  const result = KOFFI_TYPES[definition.result];
  const parameters = definition.parameters.map((type) => KOFFI_TYPES[type]);
  const key = `${result}(${parameters.join(",")})`;
  let type = prototypes.get(key);
  if (!type) {
    type = k.pointer(k.proto(result, parameters));
    prototypes.set(key, type);
  }
  return type;
}

/** The Node.js (koffi) implementation of {@linkcode FfiRuntime}. */
export const nodeFfi: FfiRuntime = {
  name: "node",
  dlopen<S extends ForeignInterface>(path: string, symbols: S): DynamicLibrary<S> {
    // Node.js links its own OpenSSL into its executable and exports its symbols:
    // without RTLD_DEEPBIND, the system's libssl would bind half of its calls to
    // Node's copy of libcrypto (two OpenSSLs sharing objects, and an error queue
    // that stays empty). Deep binding makes each library prefer its own
    // dependencies. (Linux/FreeBSD; other systems bind by library name anyway.)
    const library = koffi().load(path, { deep: true });
    const bound: Record<string, (...args: unknown[]) => unknown> = {};
    try {
      for (const [name, definition] of Object.entries(symbols)) {
        const fn = library.func(name, KOFFI_TYPES[definition.result], definition.parameters.map((t) => KOFFI_TYPES[t]));
        // Deno hands back 64-bit results as BigInt; koffi gives a number when it fits.
        bound[name] = BIGINT_TYPES.has(definition.result) ? (...args) => BigInt(fn(...args) as number | bigint) : fn;
      }
    } catch (error) {
      library.unload();
      throw error;
    }
    return {
      symbols: bound as unknown as DynamicLibrary<S>["symbols"],
      close: () => library.unload(),
    };
  },
  callback<D extends CallbackDefinition>(definition: D, fn: (...args: never[]) => unknown): CallbackHandle {
    const k = koffi();
    const call = fn as unknown as (...args: unknown[]) => unknown;
    const widen = definition.parameters.map((type) => BIGINT_TYPES.has(type));
    const target = widen.some(Boolean)
      ? (...args: unknown[]) => call(...args.map((a, i) => widen[i] ? BigInt(a as number | bigint) : a))
      : call;
    const pointer = k.register(target, callbackType(definition));
    let open = true;
    return {
      pointer: pointer as unknown as Pointer,
      close: () => {
        if (!open) return;
        open = false;
        k.unregister(pointer);
      },
    };
  },
  readCString(pointer) {
    return koffi().decode.string(address(pointer));
  },
  copyInto(pointer, target) {
    if (target.length > 0) target.set(new Uint8Array(koffi().view(address(pointer), target.length)));
  },
  writeBytes(pointer, bytes) {
    if (bytes.length > 0) new Uint8Array(koffi().view(address(pointer), bytes.length)).set(bytes);
  },
  readPointer(pointer, offset) {
    return pointerOf(koffi().decode(address(pointer), offset, "void *") as bigint | null);
  },
  writePointer(pointer, value) {
    koffi().encode(address(pointer), "void *", value === null ? null : address(value));
  },
  readInt32(pointer, offset) {
    return koffi().decode(address(pointer), offset, "int32_t") as number;
  },
  writeInt32(pointer, value) {
    koffi().encode(address(pointer), "int32_t", value);
  },
  address(pointer) {
    if (pointer === null) return 0n;
    const value = pointer as unknown;
    return typeof value === "bigint" ? value : koffi().address(value);
  },
  fromAddress(value) {
    return value === 0n ? null : pointerOf(value);
  },
  offset(pointer, offset) {
    return pointerOf(address(pointer) + BigInt(offset));
  },
  pointerTo(bytes) {
    // koffi passes a typed array given for a "void *" parameter as a pointer to
    // its bytes, and keeps the array alive during the call.
    return bytes as unknown as PointerValue;
  },
  cursorTo(bytes) {
    const cursor = new BigUint64Array([koffi().address(bytes)]);
    // The cursor holds the only address of `bytes`: keep them alive together.
    Object.defineProperty(cursor, "target", { value: bytes });
    return cursor;
  },
};
