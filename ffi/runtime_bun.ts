/**
 * The FFI interface on Bun, with `bun:ffi`. Pointers are Bun's numeric
 * addresses (null for NULL); 64-bit integers are BigInt, as on Deno (Bun's
 * "u64"/"i64", not the "_fast" variants that return numbers). Tested in CI:
 * the npm package's suite (tests/node/) runs on the pinned Bun (.ci/run).
 *
 * Unlike Node.js, Bun does not export an OpenSSL of its own (it links
 * BoringSSL without exporting its symbols), so the system's libssl binds to
 * its own libcrypto without deep binding.
 *
 * @module
 */
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

/** The part of `bun:ffi` secsock uses. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown>; close(): void };
  JSCallback: new (
    fn: (...args: unknown[]) => unknown,
    definition: { args: string[]; returns: string; threadsafe: boolean },
  ) => {
    readonly ptr: number | null;
    close(): void;
  };
  ptr(view: ArrayBufferView | ArrayBuffer): number;
  toArrayBuffer(pointer: number, byteOffset: number, byteLength: number): ArrayBuffer;
  read: { ptr(pointer: number, offset: number): number; i32(pointer: number, offset: number): number };
  CString: new (pointer: number) => string;
}

const BUN_TYPES: Record<NativeResultType, string> = {
  void: "void",
  bool: "bool",
  u8: "u8",
  i8: "i8",
  u16: "u16",
  i16: "i16",
  u32: "u32",
  i32: "i32",
  u64: "u64",
  i64: "i64",
  usize: "u64",
  isize: "i64",
  f32: "f32",
  f64: "f64",
  pointer: "ptr",
  buffer: "ptr",
  function: "ptr",
};

let bunModule: BunFfi | null = null;

function bun(): BunFfi {
  return bunModule ??= (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
}

const address = (pointer: PointerValue): number => pointer as unknown as number;
const pointerOf = (value: number | null): PointerValue => (value ? value as unknown as PointerValue : null);

/**
 * Stands in for the bytes of an empty buffer: Bun's `ptr()` refuses zero-length
 * views (it returns a TypeError instead of an address), while C gets a valid
 * pointer with a zero length on the other runtimes. Nothing is read from it.
 */
const EMPTY = new Uint8Array(1);

/** The address of a JS buffer's first byte. */
function bytesAddress(bytes: ArrayBufferView | ArrayBuffer): number {
  const target = bytes.byteLength === 0 ? EMPTY : bytes;
  const value: unknown = bun().ptr(target);
  if (typeof value !== "number") throw value instanceof Error ? value : new TypeError("bun:ffi ptr() gave no address");
  return value;
}

/** The Bun implementation of {@linkcode FfiRuntime}. */
export const bunFfi: FfiRuntime = {
  name: "bun",
  dlopen<S extends ForeignInterface>(path: string, symbols: S): DynamicLibrary<S> {
    const table: Record<string, { args: string[]; returns: string }> = {};
    for (const [name, definition] of Object.entries(symbols)) {
      table[name] = { args: definition.parameters.map((t) => BUN_TYPES[t]), returns: BUN_TYPES[definition.result] };
    }
    // Throws when the library or any symbol is missing, as Deno.dlopen does.
    const library = bun().dlopen(path, table);
    return library as unknown as DynamicLibrary<S>;
  },
  callback<D extends CallbackDefinition>(definition: D, fn: (...args: never[]) => unknown): CallbackHandle {
    // threadsafe: false — OpenSSL calls back synchronously, on the JS thread,
    // from inside the FFI call that drives it.
    const callback = new (bun().JSCallback)(fn as unknown as (...args: unknown[]) => unknown, {
      args: definition.parameters.map((t) => BUN_TYPES[t]),
      returns: BUN_TYPES[definition.result],
      threadsafe: false,
    });
    if (!callback.ptr) throw new Error("bun:ffi could not create a native callback");
    let open = true;
    return {
      pointer: callback.ptr as unknown as Pointer,
      close: () => {
        if (!open) return;
        open = false;
        callback.close();
      },
    };
  },
  readCString(pointer) {
    return String(new (bun().CString)(address(pointer)));
  },
  copyInto(pointer, target) {
    if (target.length > 0) target.set(new Uint8Array(bun().toArrayBuffer(address(pointer), 0, target.length)));
  },
  writeBytes(pointer, bytes) {
    if (bytes.length > 0) new Uint8Array(bun().toArrayBuffer(address(pointer), 0, bytes.length)).set(bytes);
  },
  readPointer(pointer, offset) {
    return pointerOf(bun().read.ptr(address(pointer), offset));
  },
  writePointer(pointer, value) {
    new BigUint64Array(bun().toArrayBuffer(address(pointer), 0, 8))[0] = BigInt(value === null ? 0 : address(value));
  },
  readInt32(pointer, offset) {
    return bun().read.i32(address(pointer), offset);
  },
  writeInt32(pointer, value) {
    new Int32Array(bun().toArrayBuffer(address(pointer), 0, 4))[0] = value;
  },
  address(pointer) {
    return pointer === null ? 0n : BigInt(address(pointer));
  },
  fromAddress(value) {
    return pointerOf(Number(value));
  },
  offset(pointer, offset) {
    return pointerOf(address(pointer) + offset);
  },
  pointerTo(bytes) {
    return pointerOf(bytesAddress(bytes));
  },
  cursorTo(bytes) {
    const cursor = new BigUint64Array([BigInt(bytesAddress(bytes))]);
    // The cursor holds the only address of `bytes`: keep them alive together.
    Object.defineProperty(cursor, "target", { value: bytes });
    return cursor;
  },
};
