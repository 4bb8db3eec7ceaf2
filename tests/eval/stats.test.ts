import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { meanInterval, pairedComparison, tCritical } from '../../libs/eval/stats.js';

describe('tCritical', () => {
  it.each([
    [1, 12.7062047],
    [2, 4.30265273],
    [4, 2.77644511],
    [9, 2.26215716],
    [30, 2.04227246],
  ])('matches the two-sided 95%% table value for df = %d', (df, expected) => {
    expect(Math.abs(tCritical(df) - expected)).toBeLessThan(1e-7);
  });

  it('tends to the normal quantile for large df', () => {
    expect(Math.abs(tCritical(1e6) - 1.959964)).toBeLessThan(1e-5);
  });

  it('honours the level', () => {
    expect(Math.abs(tCritical(4, 0.99) - 4.60409487)).toBeLessThan(1e-7);
    expect(tCritical(4, 0.9)).toBeLessThan(tCritical(4, 0.95));
  });

  it('accepts non-integer df, between its integer neighbours', () => {
    const t = tCritical(2.5);
    expect(t).toBeLessThan(tCritical(2));
    expect(t).toBeGreaterThan(tCritical(3));
  });

  it('rejects bad df and level', () => {
    expect(() => tCritical(0.5)).toThrow(/df/);
    expect(() => tCritical(Number.NaN)).toThrow(/df/);
    expect(() => tCritical(Infinity)).toThrow(/df/);
    expect(() => tCritical(3, 1)).toThrow(/level/);
    expect(() => tCritical(3, 0)).toThrow(/level/);
    expect(() => tCritical(3, Number.NaN)).toThrow(/level/);
  });
});

describe('meanInterval', () => {
  it('gives mean, sample std and the t-interval', () => {
    const r = meanInterval([1, 2, 3, 4, 5]);
    expect(r.n).toBe(5);
    expect(r.mean).toBe(3);
    expect(r.std).toBeCloseTo(Math.sqrt(2.5), 12);
    const half = (2.77644511 * Math.sqrt(2.5)) / Math.sqrt(5);
    expect(r.ci95![0]).toBeCloseTo(3 - half, 7);
    expect(r.ci95![1]).toBeCloseTo(3 + half, 7);
  });

  it('has no std or interval for a single value', () => {
    expect(meanInterval([0.7])).toEqual({ n: 1, mean: 0.7 });
  });

  it('collapses to the mean when all values are equal', () => {
    expect(meanInterval([2, 2, 2]).ci95).toEqual([2, 2]);
  });

  it('rejects empty input and non-finite values', () => {
    expect(() => meanInterval([])).toThrow(/values must not be empty/);
    expect(() => meanInterval([1, Number.NaN])).toThrow(/values\[1\]/);
    expect(() => meanInterval([1, Infinity])).toThrow(/values\[1\]/);
    expect(() => meanInterval([1, 2], 1.5)).toThrow(/level/);
  });

  it('property: the interval contains the mean and widens with the level', () => {
    const values = fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 2, maxLength: 20 });
    const levels = fc.tuple(fc.double({ min: 0.5, max: 0.999, noNaN: true }), fc.double({ min: 0.5, max: 0.999, noNaN: true }));
    fc.assert(
      fc.property(values, levels, (vs, [a, b]) => {
        const lo = Math.min(a, b);
        const hi = Math.max(a, b);
        const narrow = meanInterval(vs, lo);
        const wide = meanInterval(vs, hi);
        const [l1, u1] = narrow.ci95!;
        const [l2, u2] = wide.ci95!;
        expect(l1).toBeLessThanOrEqual(narrow.mean);
        expect(u1).toBeGreaterThanOrEqual(narrow.mean);
        expect(u2 - l2).toBeGreaterThanOrEqual(u1 - l1);
      }),
      { numRuns: 200 },
    );
  });
});

describe('pairedComparison', () => {
  const control = [0.5, 0.6, 0.55, 0.52, 0.58];

  it('says better when the arm is consistently higher (accuracy)', () => {
    const arm = control.map((c, i) => c + 0.05 + 0.001 * i);
    const r = pairedComparison(arm, control, false);
    expect(r.n).toBe(5);
    expect(r.diff).toBeCloseTo(0.052, 12);
    expect(r.ci95![0]).toBeGreaterThan(0);
    expect(r.verdict).toBe('better');
  });

  it('says worse when the arm is consistently lower (accuracy)', () => {
    const arm = control.map((c, i) => c - 0.05 - 0.001 * i);
    expect(pairedComparison(arm, control, false).verdict).toBe('worse');
  });

  it('says indistinguishable when the interval straddles 0', () => {
    const arm = control.map((c, i) => c + (i % 2 === 0 ? 0.01 : -0.01));
    const r = pairedComparison(arm, control, false);
    expect(r.ci95![0]).toBeLessThan(0);
    expect(r.ci95![1]).toBeGreaterThan(0);
    expect(r.verdict).toBe('indistinguishable');
  });

  it('lowerIsBetter flips better and worse', () => {
    const higher = control.map((c, i) => c + 0.05 + 0.001 * i);
    const lower = control.map((c, i) => c - 0.05 - 0.001 * i);
    expect(pairedComparison(higher, control, true).verdict).toBe('worse');
    expect(pairedComparison(lower, control, true).verdict).toBe('better');
  });

  it('is indistinguishable with no interval for one seed', () => {
    const r = pairedComparison([0.9], [0.1], false);
    expect(r).toEqual({ n: 1, diff: 0.8, verdict: 'indistinguishable' });
    expect('ci95' in r).toBe(false);
  });

  it('pairs by index: a shared seed effect cancels', () => {
    // Large between-seed spread, constant within-seed gain: unpaired this would be noise.
    const ctrl = [0.1, 0.9, 0.3, 0.7];
    const arm = ctrl.map((c) => c + 0.01);
    expect(pairedComparison(arm, ctrl, false).verdict).toBe('better');
  });

  it('rejects mismatched lengths, empty input and NaN', () => {
    expect(() => pairedComparison([1, 2], [1], false)).toThrow(/same length/);
    expect(() => pairedComparison([], [], false)).toThrow(/arm must not be empty/);
    expect(() => pairedComparison([1, Number.NaN], [1, 2], false)).toThrow(/arm\[1\]/);
    expect(() => pairedComparison([1, 2], [Number.NaN, 2], true)).toThrow(/control\[0\]/);
  });
});
