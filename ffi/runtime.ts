/**
 * The one FFI interface secsock's other modules use, whatever the runtime:
 * open a library with a symbol table, make native callbacks, and read or
 * write native memory. Deno uses `Deno.dlopen` (the symbols it returns are
 * called directly, with no wrapper), Node.js uses koffi, Bun uses `bun:ffi`.
 *
 * The symbol tables keep Deno's type names ("pointer", "buffer", "function",
 * "i32", "u64", …) and Deno's calling conventions on every runtime: 64-bit
 * integers are BigInt, pointers are opaque values (null for NULL), "buffer"
 * parameters take typed arrays, "function" parameters take a callback's pointer.
 *
 * @module
 */
import { denoFfi } from "./runtime_deno.ts";

/** Native integer and float types passed as JavaScript numbers. */
export type NativeNumberType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
/** Native 64-bit integer types passed as BigInt. */
export type NativeBigIntType = "u64" | "i64" | "usize" | "isize";
/** A parameter type in a symbol table. */
export type NativeType = NativeNumberType | NativeBigIntType | "bool" | "pointer" | "buffer" | "function";
/** A result type in a symbol table. */
export type NativeResultType = NativeType | "void";

/** One C function: its parameter and result types. */
export interface ForeignFunction {
  /** Parameter types, in order. */
  readonly parameters: readonly NativeType[];
  /** Result type. */
  readonly result: NativeResultType;
}

/** A symbol table: C function names to their signatures. */
export type ForeignInterface = { readonly [name: string]: ForeignFunction };

/** The C signature of a native callback. */
export interface CallbackDefinition {
  /** Parameter types, in order. */
  readonly parameters: readonly NativeType[];
  /** Result type. */
  readonly result: NativeResultType;
}

/**
 * An opaque, non-null native pointer (`SSL*`, `X509*`, …). Its representation
 * depends on the runtime; only ffi/ looks inside.
 */
export interface Pointer {
  /** Brand: pointers are created by the runtime only. */
  readonly __secsockPointer: never;
}

/** A native pointer or null (C's NULL). */
export type PointerValue = Pointer | null;

/** What JavaScript passes for a parameter of type `T`. */
export type ToNative<T extends NativeType> = T extends "pointer" | "function" ? PointerValue
  : T extends "buffer" ? ArrayBufferView | ArrayBuffer | null
  : T extends NativeBigIntType ? bigint | number
  : T extends "bool" ? boolean
  : number;

/** What JavaScript receives for a value of native type `T` (a result, or a callback's parameter). */
export type FromNative<T extends NativeResultType> = T extends "void" ? void
  : T extends "pointer" | "function" | "buffer" ? PointerValue
  : T extends NativeBigIntType ? bigint
  : T extends "bool" ? boolean
  : number;

/** What a callback returns for a result of type `T`. */
export type ToNativeResult<T extends NativeResultType> = T extends "void" ? void
  : T extends "pointer" | "function" | "buffer" ? PointerValue
  : T extends NativeBigIntType ? bigint | number
  : T extends "bool" ? boolean
  : number;

/** What JavaScript passes for parameters of types `P`. */
export type ToNativeParameters<P extends readonly NativeType[]> = {
  -readonly [K in keyof P]: P[K] extends NativeType ? ToNative<P[K]> : never;
};

/** What a callback receives for parameters of types `P`. */
export type FromNativeParameters<P extends readonly NativeType[]> = {
  -readonly [K in keyof P]: P[K] extends NativeType ? FromNative<P[K]> : never;
};

/** The JavaScript signature of a foreign function. */
export type ForeignCall<F extends ForeignFunction> = (
  ...args: ToNativeParameters<F["parameters"]>
) => FromNative<F["result"]>;

/** An opened library's functions, by name. */
export type SymbolsOf<S extends ForeignInterface> = { readonly [K in keyof S]: ForeignCall<S[K]> };

/** The JavaScript signature of a native callback with parameter types `P` and result type `R`. */
export type CallbackFunction<
  P extends readonly NativeType[] = readonly NativeType[],
  R extends NativeResultType = NativeResultType,
> = (...args: FromNativeParameters<P>) => ToNativeResult<R>;

/** An opened shared library. */
export interface DynamicLibrary<S extends ForeignInterface> {
  /** The library's functions. */
  readonly symbols: SymbolsOf<S>;
  /** Unloads the library. */
  close(): void;
}

/** A native trampoline that calls a JavaScript function. */
export interface CallbackHandle {
  /** The function pointer to hand to C. */
  readonly pointer: Pointer;
  /** Frees the trampoline; C must not call it afterwards. */
  close(): void;
}

/** The FFI operations secsock needs, implemented once per runtime. */
export interface FfiRuntime {
  /** Which runtime this is. */
  readonly name: "deno" | "node" | "bun";
  /** Opens a shared library and binds `symbols`; throws when the library or a symbol is missing. */
  dlopen<S extends ForeignInterface>(path: string, symbols: S): DynamicLibrary<S>;
  /** Makes a native callback with the C signature `definition` (called synchronously, on the JS thread). */
  callback<D extends CallbackDefinition>(
    definition: D,
    fn: CallbackFunction<D["parameters"], D["result"]>,
  ): CallbackHandle;
  /** Reads a NUL-terminated UTF-8 string. */
  readCString(pointer: Pointer): string;
  /** Copies `target.length` bytes from native memory into `target`. */
  copyInto(pointer: Pointer, target: Uint8Array): void;
  /** Copies `bytes` into native memory. */
  writeBytes(pointer: Pointer, bytes: Uint8Array): void;
  /** Reads the pointer stored at `pointer + offset`. */
  readPointer(pointer: Pointer, offset: number): PointerValue;
  /** Stores `value` at `pointer` (a `T **` out-parameter). */
  writePointer(pointer: Pointer, value: PointerValue): void;
  /** Reads the `int` at `pointer + offset`. */
  readInt32(pointer: Pointer, offset: number): number;
  /** Stores an `int` at `pointer`. */
  writeInt32(pointer: Pointer, value: number): void;
  /** A pointer's address (0n for null): a stable key, unlike pointer objects. */
  address(pointer: PointerValue): bigint;
  /** The pointer at an address (null for 0n). */
  fromAddress(address: bigint): PointerValue;
  /** `pointer + offset`. */
  offset(pointer: Pointer, offset: number): PointerValue;
  /** A pointer to a JS buffer's bytes, valid while the buffer is alive, for "pointer" parameters. */
  pointerTo(bytes: ArrayBufferView | ArrayBuffer): PointerValue;
  /**
   * A `unsigned char **` cursor (8 bytes holding the address of `bytes`) for
   * OpenSSL's i2d/d2i functions; it keeps `bytes` alive while it is.
   */
  cursorTo(bytes: Uint8Array): BigUint64Array<ArrayBuffer>;
}

const runtimeGlobals = globalThis as { Deno?: { dlopen?: unknown }; Bun?: unknown };

/**
 * The FFI of the runtime secsock runs on. Only Deno's implementation is
 * loaded on Deno; Bun's and Node's (with koffi) are imported on demand.
 */
export const ffi: FfiRuntime = typeof runtimeGlobals.Deno?.dlopen === "function"
  ? denoFfi
  : runtimeGlobals.Bun !== undefined
  ? (await import("./runtime_bun.ts")).bunFfi
  : (await import("./runtime_node.ts")).nodeFfi;
