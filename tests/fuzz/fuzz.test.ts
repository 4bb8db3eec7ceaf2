/**
 * Property tests (fast-check) over what untrusted bytes reach: the tensor
 * codec, the NPY / IDX / CSV readers, and every uae.v1 request decoder
 * followed by the services' validators. Every input must end in a result or
 * a documented status (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, …),
 * never an unanticipated error (INTERNAL) or a broken invariant. A few
 * thousand inputs here; `npm run fuzz` runs ≥ 10^5 (tests/fuzz/run.ts).
 */
import { describe, expect, it } from 'vitest';
import { FUZZ_TARGETS, fuzz } from './targets.js';

const RUNS = Number(process.env.UAE_FUZZ_RUNS ?? 600);
const SEED = Number(process.env.UAE_FUZZ_SEED ?? 20261202);

describe('fuzz (fast-check)', () => {
  for (const target of FUZZ_TARGETS) {
    it(`${target.name}: ${RUNS} inputs, documented outcomes only`, () => {
      const stats = fuzz(target, RUNS, SEED);
      expect(stats.crashes).toEqual([]);
      expect(stats.runs).toBe(RUNS);
      // the inputs reach both sides: some succeed or are refused for a reason deeper than framing
      expect(Object.keys(stats.outcomes).length).toBeGreaterThanOrEqual(2);
    });
  }
});
