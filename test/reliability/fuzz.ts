/**
 * Seeded property-test settings for the reliability tier. CI runs a fixed seed and few runs, so a
 * failure reproduces exactly; a longer hunt is `LOFTBOX_FUZZ_RUNS=5000 LOFTBOX_FUZZ_SEED=<n> npx vitest
 * run test/reliability` (fast-check prints the seed and path of any counterexample).
 */
export const FUZZ_SEED = Number(process.env.LOFTBOX_FUZZ_SEED ?? 11_2026);

/** `base` runs by default; LOFTBOX_FUZZ_RUNS replaces it for a longer run. */
export function fuzzRuns(base: number): number {
  const runs = Number(process.env.LOFTBOX_FUZZ_RUNS);
  return Number.isInteger(runs) && runs > 0 ? runs : base;
}

export const fuzzOptions = (base: number) => ({ seed: FUZZ_SEED, numRuns: fuzzRuns(base) });
