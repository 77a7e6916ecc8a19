/**
 * Reusable ciphertext buffers. A buffer is held only while bytes are in
 * flight to the transport, so idle connections hold none, and busy ones reuse
 * the same few instead of allocating per record.
 *
 * @module
 */

/** A pool of equally sized byte buffers. */
export class BufferPool {
  readonly #size: number;
  readonly #maxSpare: number;
  readonly #spare: Uint8Array<ArrayBuffer>[] = [];

  /**
   * @param size the length of every buffer
   * @param maxSpare how many released buffers to keep for reuse
   */
  constructor(size: number, maxSpare: number) {
    this.#size = size;
    this.#maxSpare = maxSpare;
  }

  /** A buffer for exclusive use until `release`. */
  take(): Uint8Array<ArrayBuffer> {
    return this.#spare.pop() ?? new Uint8Array(this.#size);
  }

  /** Gives a buffer back. */
  release(buffer: Uint8Array<ArrayBuffer>): void {
    if (this.#spare.length < this.#maxSpare) this.#spare.push(buffer);
  }
}
