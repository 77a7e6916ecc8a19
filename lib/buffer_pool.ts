/**
 * Reusable ciphertext buffers. A buffer is held only while bytes are in
 * flight to the transport, so idle connections hold none, and busy ones reuse
 * the same few instead of allocating per record.
 *
 * @module
 */

/** Keep at most this many spare buffers. */
const MAX_SPARE = 16;

/** A pool of equally sized byte buffers. */
export class BufferPool {
  readonly #size: number;
  readonly #spare: Uint8Array<ArrayBuffer>[] = [];

  /** @param size the length of every buffer */
  constructor(size: number) {
    this.#size = size;
  }

  /** A buffer for exclusive use until `release`. */
  take(): Uint8Array<ArrayBuffer> {
    return this.#spare.pop() ?? new Uint8Array(this.#size);
  }

  /** Gives a buffer back. */
  release(buffer: Uint8Array<ArrayBuffer>): void {
    if (this.#spare.length < MAX_SPARE) this.#spare.push(buffer);
  }
}
