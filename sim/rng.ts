// A small, fast, seedable PRNG (mulberry32): the same seed, the same numbers. Scenario
// placement (sim/scenario/runner.ts) and the ring kit's explorer (sim/ringkit/explore.ts)
// draw from it; a trace hash depends on every number it gives, so it never changes.

/** Numbers in [0, 1) from `seed`. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
