/**
 * The FFI interface on Deno: `Deno.dlopen`, `Deno.UnsafeCallback` and
 * `Deno.UnsafePointerView`. Opened symbols are Deno's own functions, so the
 * calls on the hot path (SSL_read, SSL_write, BIO_read, BIO_write) stay on
 * Deno's fast FFI path with no wrapper in between.
 *
 * @module
 */
import type {
  CallbackDefinition,
  CallbackHandle,
  DynamicLibrary,
  FfiRuntime,
  Pointer,
  PointerValue,
} from "./runtime.ts";

type DenoPointer = NonNullable<Deno.PointerValue>;

const toDeno = (pointer: PointerValue) => pointer as unknown as Deno.PointerValue;
const fromDeno = (pointer: Deno.PointerValue) => pointer as unknown as PointerValue;

/** The Deno implementation of {@linkcode FfiRuntime}. */
export const denoFfi: FfiRuntime = {
  name: "deno",
  dlopen(path, symbols) {
    return Deno.dlopen(path, symbols as unknown as Deno.ForeignLibraryInterface) as unknown as DynamicLibrary<
      typeof symbols
    >;
  },
  callback<D extends CallbackDefinition>(definition: D, fn: (...args: never[]) => unknown): CallbackHandle {
    const callback = new Deno.UnsafeCallback(
      definition as unknown as Deno.UnsafeCallbackDefinition,
      fn as unknown as Deno.UnsafeCallbackFunction,
    );
    return {
      pointer: callback.pointer as unknown as Pointer,
      close: () => callback.close(),
    };
  },
  readCString(pointer) {
    return Deno.UnsafePointerView.getCString(toDeno(pointer) as DenoPointer);
  },
  copyInto(pointer, target) {
    if (target.length > 0) Deno.UnsafePointerView.copyInto(toDeno(pointer) as DenoPointer, target);
  },
  writeBytes(pointer, bytes) {
    if (bytes.length === 0) return;
    new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(toDeno(pointer) as DenoPointer, bytes.length)).set(bytes);
  },
  readPointer(pointer, offset) {
    return fromDeno(new Deno.UnsafePointerView(toDeno(pointer) as DenoPointer).getPointer(offset));
  },
  writePointer(pointer, value) {
    new BigUint64Array(Deno.UnsafePointerView.getArrayBuffer(toDeno(pointer) as DenoPointer, 8))[0] = BigInt(
      Deno.UnsafePointer.value(toDeno(value)),
    );
  },
  readInt32(pointer, offset) {
    return new Deno.UnsafePointerView(toDeno(pointer) as DenoPointer).getInt32(offset);
  },
  writeInt32(pointer, value) {
    new Int32Array(Deno.UnsafePointerView.getArrayBuffer(toDeno(pointer) as DenoPointer, 4))[0] = value;
  },
  address(pointer) {
    return pointer === null ? 0n : BigInt(Deno.UnsafePointer.value(toDeno(pointer)));
  },
  fromAddress(address) {
    return fromDeno(Deno.UnsafePointer.create(address));
  },
  offset(pointer, offset) {
    return fromDeno(Deno.UnsafePointer.offset(toDeno(pointer) as DenoPointer, offset));
  },
  pointerTo(bytes) {
    return fromDeno(Deno.UnsafePointer.of(bytes as BufferSource));
  },
  cursorTo(bytes) {
    return new BigUint64Array([BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes as BufferSource)))]);
  },
};
