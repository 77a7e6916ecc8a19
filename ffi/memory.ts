/**
 * Small helpers for C memory: NUL-terminated strings, out-parameters and
 * copies out of (and into) native buffers. This is the only place that reads
 * or writes memory through raw pointers (with the runtime's FFI, ffi/runtime.ts).
 *
 * @module
 */
import { ffi, type Pointer, type PointerValue } from "./runtime.ts";

// An opaque native pointer (`SSL*`, `X509*`, …), and the same or null; never dereferenced outside ffi/.
export type { Pointer, PointerValue };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes `text` as a NUL-terminated UTF-8 C string. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(text.length * 3 + 1);
  const { written } = encoder.encodeInto(text, bytes);
  return bytes.subarray(0, written + 1);
}

/** Reads a NUL-terminated C string, or null for a null pointer. */
export function readCString(pointer: PointerValue): string | null {
  return pointer === null ? null : ffi.readCString(pointer);
}

/** Copies `length` bytes out of native memory. */
export function readBytes(pointer: Pointer, length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  if (length > 0) ffi.copyInto(pointer, out);
  return out;
}

/** Copies `bytes` into native memory at `pointer` (which must hold at least as many). */
export function writeBytes(pointer: Pointer, bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  ffi.writeBytes(pointer, bytes);
}

/** Stores a pointer into a C out-parameter of type `T **`. */
export function writePointer(out: Pointer, value: PointerValue): void {
  ffi.writePointer(out, value);
}

/** Reads the pointer stored at `address + offset` (a struct member of pointer type). */
export function readPointer(address: Pointer, offset = 0): PointerValue {
  return ffi.readPointer(address, offset);
}

/** Reads an `int` at `address + offset`. */
export function readInt32(address: Pointer, offset = 0): number {
  return ffi.readInt32(address, offset);
}

/** A stable key for a pointer: pointer objects are not stable identities, their addresses are. */
export function pointerKey(pointer: PointerValue): bigint {
  return ffi.address(pointer);
}

/** True when a pointer is null. */
export function isNull(pointer: PointerValue): pointer is null {
  return pointer === null;
}

/**
 * A reusable out-parameter slot for `T **` arguments: pass `.buffer` to a
 * function declared with a "buffer" parameter, then read `.pointer`.
 */
export class PointerSlot {
  /** The 8 bytes handed to C. */
  readonly buffer: BigUint64Array<ArrayBuffer> = new BigUint64Array(1);
  /** The pointer C stored, or null. */
  get pointer(): PointerValue {
    return ffi.fromAddress(this.buffer[0]);
  }
}

/** Decodes UTF-8 bytes. */
export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The address of a JS buffer, for C parameters declared as plain pointers (the buffer must outlive the call). */
export function pointerTo(bytes: ArrayBufferView | ArrayBuffer): PointerValue {
  return ffi.pointerTo(bytes);
}

/** Stores an `int` into a C out-parameter of type `int *`. */
export function writeInt32(out: Pointer, value: number): void {
  ffi.writeInt32(out, value);
}

/** `pointer + offset`, for results that must point into a buffer OpenSSL gave us. */
export function pointerOffset(pointer: Pointer, offset: number): PointerValue {
  return ffi.offset(pointer, offset);
}

/**
 * A `unsigned char **` cursor for OpenSSL's i2d/d2i functions: pass `.buffer`
 * where C expects `&p`; it starts at the start of `bytes`.
 */
export function cursorTo(bytes: Uint8Array<ArrayBuffer>): BigUint64Array<ArrayBuffer> {
  return ffi.cursorTo(bytes);
}
