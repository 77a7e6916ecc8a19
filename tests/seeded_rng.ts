/**
 * A seeded pseudo-random generator for the fuzz tests: xorshift32, so that a
 * run is replayed exactly from the seed it prints.
 *
 * @example
 * ```ts
 * const r = seededRng(42);
 * const data = r.bytes(1 + r.int(64));
 * ```
 */
export function seededRng(seed: number): SeededRng {
  let x = seed >>> 0 || 0x2545f491;
  const float = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  const int = (n: number) => Math.floor(float() * n);
  return {
    float,
    int,
    bytes: (n: number) => Uint8Array.from({ length: n }, () => int(256)),
    pick: <T>(items: readonly T[]): T => items[int(items.length)],
  };
}

/** What {@link seededRng} returns. */
export interface SeededRng {
  /** A number in [0, 1). */
  float(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** n random bytes. */
  bytes(n: number): Uint8Array<ArrayBuffer>;
  /** One of items. */
  pick<T>(items: readonly T[]): T;
}
