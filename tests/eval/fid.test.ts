/**
 * FID and KID (libs/eval/fid.ts) on known answers: identical sets, Gaussians
 * whose Fréchet distance has a closed form (from their exact moments and from
 * large samples), a hand-computed MMD², and KID's unbiasedness on 1-D
 * Gaussians whose population MMD² under the cubic kernel is analytic.
 */
import { describe, expect, it } from 'vitest';
import {
  frechetDistance,
  frechetDistanceOfMoments,
  gaussianMoments,
  kernelInceptionDistance,
  polynomialMmd2,
  type GaussianMoments,
} from '../../libs/eval/index.js';
import { Rng } from '../../libs/tensor/rng.js';

/** n rows of N(mean, L Lᵀ): x = mean + L z (L lower-triangular d × d, row-major). */
function gaussianSample(n: number, mean: number[], chol: number[][], seed: number): Float64Array {
  const d = mean.length;
  const rng = new Rng(seed, 99);
  const out = new Float64Array(n * d);
  const z = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d; j++) z[j] = rng.normal();
    for (let i = 0; i < d; i++) {
      let v = mean[i]!;
      for (let j = 0; j <= i; j++) v += chol[i]![j]! * z[j]!;
      out[r * d + i] = v;
    }
  }
  return out;
}

const moments = (mean: number[], cov: number[][]): GaussianMoments => ({ mean: Float64Array.from(mean), cov: Float64Array.from(cov.flat()), d: mean.length });
const diag = (v: number[]) => v.map((x, i) => v.map((_, j) => (i === j ? x : 0)));

/** R diag(v) Rᵀ for the rotation R by θ in the (0, 1) plane of d dimensions. */
function rotatedDiag(v: number[], theta: number): number[][] {
  const d = v.length;
  const r = diag(v.map(() => 1));
  r[0]![0] = Math.cos(theta);
  r[0]![1] = -Math.sin(theta);
  r[1]![0] = Math.sin(theta);
  r[1]![1] = Math.cos(theta);
  return Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => r[i]!.reduce((s, rik, k) => s + rik * v[k]! * r[j]![k]!, 0)));
}

/** Cholesky factor of a symmetric positive-definite matrix. */
function cholesky(a: number[][]): number[][] {
  const d = a.length;
  const l = a.map(() => new Array<number>(d).fill(0));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i]![j]!;
      for (let k = 0; k < j; k++) s -= l[i]![k]! * l[j]![k]!;
      l[i]![j] = i === j ? Math.sqrt(s) : s / l[j]![j]!;
    }
  }
  return l;
}

const sqDist = (a: number[], b: number[]) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);

describe('frechetDistance', () => {
  it('is 0 for identical sets, and equal for swapped arguments', () => {
    const x = gaussianSample(400, [0.5, -1, 2, 0], cholesky(rotatedDiag([2, 0.5, 1, 0.1], 0.7)), 1);
    expect(frechetDistance(x, x, 4)).toBeLessThan(1e-9);
    expect(frechetDistance(Float32Array.from(x), Float32Array.from(x), 4)).toBeLessThan(1e-6);
    const y = gaussianSample(300, [0, 0, 0, 0], cholesky(diag([1, 1, 1, 1])), 2);
    expect(frechetDistance(x, y, 4)).toBeCloseTo(frechetDistance(y, x, 4), 8);
  });

  it('has the closed form of diagonal Gaussians: ‖Δμ‖² + Σ(σa − σb)²', () => {
    const [ma, mb, va, vb] = [[1, 0, -1], [0, 0.5, 1], [4, 1, 0.25], [1, 1, 1]];
    const exact = sqDist(ma, mb) + va.reduce((s, v, i) => s + (Math.sqrt(v) - Math.sqrt(vb[i]!)) ** 2, 0);
    expect(frechetDistanceOfMoments(moments(ma, diag(va)), moments(mb, diag(vb)))).toBeCloseTo(exact, 10);
    const a = gaussianSample(60_000, ma, cholesky(diag(va)), 3);
    const b = gaussianSample(60_000, mb, cholesky(diag(vb)), 4);
    expect(Math.abs(frechetDistance(a, b, 3) / exact - 1)).toBeLessThan(0.01);
  });

  it('has the closed form of commuting covariances (same eigenvectors): ‖Δμ‖² + Σ(√λa − √λb)²', () => {
    const [ma, mb, la, lb] = [[0, 0, 0], [1, -1, 0.5], [3, 1, 0.5], [0.5, 2, 0.5]];
    const exact = sqDist(ma, mb) + la.reduce((s, v, i) => s + (Math.sqrt(v) - Math.sqrt(lb[i]!)) ** 2, 0);
    const [ca, cb] = [rotatedDiag(la, 0.6), rotatedDiag(lb, 0.6)];
    expect(frechetDistanceOfMoments(moments(ma, ca), moments(mb, cb))).toBeCloseTo(exact, 10);
    const a = gaussianSample(60_000, ma, cholesky(ca), 5);
    const b = gaussianSample(60_000, mb, cholesky(cb), 6);
    expect(Math.abs(frechetDistance(a, b, 3) / exact - 1)).toBeLessThan(0.01);
  });

  it('has the 2 × 2 closed form of non-commuting covariances: Tr(Σa^½ Σb Σa^½)^½ = √(Tr ΣaΣb + 2√(det Σa det Σb))', () => {
    const ca = [[2, 0.8], [0.8, 1]];
    const cb = [[0.5, -0.3], [-0.3, 1.5]];
    const trAB = ca[0]![0]! * cb[0]![0]! + ca[0]![1]! * cb[1]![0]! + ca[1]![0]! * cb[0]![1]! + ca[1]![1]! * cb[1]![1]!;
    const det = (m: number[][]) => m[0]![0]! * m[1]![1]! - m[0]![1]! * m[1]![0]!;
    const exact = sqDist([1, 2], [0, 0]) + 3 + 2 - 2 * Math.sqrt(trAB + 2 * Math.sqrt(det(ca) * det(cb)));
    expect(frechetDistanceOfMoments(moments([1, 2], ca), moments([0, 0], cb))).toBeCloseTo(exact, 10);
    const a = gaussianSample(60_000, [1, 2], cholesky(ca), 7);
    const b = gaussianSample(60_000, [0, 0], cholesky(cb), 8);
    expect(Math.abs(frechetDistance(a, b, 2) / exact - 1)).toBeLessThan(0.01);
  });

  it('stays real on singular covariances (a constant feature, as dead ReLU units give)', () => {
    // Both degenerate on the first axis: FID = (1 − 2)² + (√1 − √4)² on it, 0 on the dead one.
    const fd = frechetDistanceOfMoments(moments([0, 0], diag([1, 0])), moments([1, 0], diag([4, 0])));
    expect(fd).toBeCloseTo(2, 10);
    // A sample with a dead feature against itself shifted: the same singular covariance, so FID = ‖shift‖².
    const a = gaussianSample(5000, [0, 0, 0], [[1, 0, 0], [0.5, 1, 0], [0, 0, 0]], 9);
    const b = a.map((v, i) => v + [1, -2, 0.5][i % 3]!);
    expect(frechetDistance(a, b, 3)).toBeCloseTo(5.25, 6);
  });

  it('estimates the unbiased covariance', () => {
    const m = gaussianMoments(Float64Array.from([0, 0, 2, 4]), 2);
    expect([...m.mean]).toEqual([1, 2]);
    expect([...m.cov]).toEqual([2, 4, 4, 8]);
  });

  it('refuses malformed input, naming the argument', () => {
    const ok = new Float32Array(6);
    expect(() => frechetDistance(ok, new Float32Array(4), 3)).toThrow(/frechetDistance: b has 4 values, not a multiple of d = 3/);
    expect(() => frechetDistance(new Float32Array(3), ok, 3)).toThrow(/frechetDistance: a has 1 row; at least 2 are needed/);
    expect(() => frechetDistance(ok, Float32Array.from([0, 0, 0, 0, NaN, 0]), 3)).toThrow(/b has a non-finite value \(NaN\) at row 1, column 1/);
    expect(() => frechetDistance(ok, ok, 0)).toThrow(/d must be a positive integer/);
    expect(() => frechetDistance([0, 1] as unknown as Float32Array, ok, 3)).toThrow(/a must be a Float32Array or Float64Array/);
    expect(() => frechetDistanceOfMoments(moments([0, 0], diag([1, 1])), moments([0], diag([1])))).toThrow(/a has d = 2 features but b has d = 1/);
  });
});

describe('KID', () => {
  it('polynomialMmd2 is the U-statistic: a hand-computed case', () => {
    // d = 1, k(x, y) = (xy + 1)³. Within x: k(0, 1) = 1; within y: k(2, 3) = 343;
    // across: 1 + 1 + 27 + 64 = 93. MMD²_u = 1 + 343 − 2·93/4 = 297.5.
    expect(polynomialMmd2(Float64Array.from([0, 1]), Float64Array.from([2, 3]), 1)).toBeCloseTo(297.5, 10);
    // d = 2 scales xᵀy by 1/2: within x, k((1, 1), (1, −1)) = 1; within y, k((2, 0), (0, 2)) = 1;
    // across, k((1,1),(2,0)) = k((1,1),(0,2)) = k((1,−1),(2,0)) = 2³ = 8 and k((1,−1),(0,2)) = 0³ = 0.
    const x = Float64Array.from([1, 1, 1, -1]);
    const y = Float64Array.from([2, 0, 0, 2]);
    expect(polynomialMmd2(x, y, 2)).toBeCloseTo(1 + 1 - (2 * 24) / 4, 10);
  });

  it('is unbiased: its mean over many small draws is the population MMD² of N(0.5, 1) against N(0, 1), and 0 for one distribution', () => {
    // With k = (xy + 1)³ = x³y³ + 3x²y² + 3xy + 1, MMD²(P, Q) = (m3P − m3Q)² + 3(m2P − m2Q)² + 3(m1P − m1Q)²
    // for the raw moments m1..m3: here (μ³ + 3μ)² + 3μ⁴ + 3μ² = 3.578125 at μ = 0.5.
    const mu = 0.5;
    const population = (mu ** 3 + 3 * mu) ** 2 + 3 * mu ** 4 + 3 * mu ** 2;
    const m = 8;
    const draws = 20_000;
    const rng = new Rng(2026, 1);
    const sample = (shift: number) => Float64Array.from({ length: m }, () => shift + rng.normal());
    const meanAndSe = (f: () => number) => {
      const v = Array.from({ length: draws }, f);
      const mean = v.reduce((s, x) => s + x, 0) / draws;
      const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (draws - 1));
      return { mean, se: sd / Math.sqrt(draws) };
    };
    const shifted = meanAndSe(() => polynomialMmd2(sample(mu), sample(0), 1));
    const same = meanAndSe(() => polynomialMmd2(sample(0), sample(0), 1));
    // The biased (V-statistic) estimate would be off by 2/m·(E k(x,x) − E k(x,x')) ≈ 2/8·(28 − 4) = 6 for N(0, 1):
    // far outside these bounds, so a diagonal kept in by mistake fails here.
    expect(shifted.se).toBeLessThan(0.2);
    expect(Math.abs(shifted.mean - population)).toBeLessThan(4 * shifted.se);
    expect(same.se).toBeLessThan(0.2);
    expect(Math.abs(same.mean)).toBeLessThan(4 * same.se);
  });

  it('kernelInceptionDistance averages seeded subsets: ≈ 0 for one distribution, clearly positive for two', () => {
    const cov = cholesky(rotatedDiag([1, 0.5, 0.25, 2], 0.3));
    const a = gaussianSample(3000, [0, 0, 0, 0], cov, 11);
    const b = gaussianSample(3000, [0, 0, 0, 0], cov, 12);
    const c = gaussianSample(3000, [1, 0, 0, 0], cov, 13);
    const same = kernelInceptionDistance(a, b, 4, { subsets: 20, subsetSize: 500 });
    const other = kernelInceptionDistance(a, c, 4, { subsets: 20, subsetSize: 500 });
    expect(same.subsetSize).toBe(500);
    expect(same.subsets).toBe(20);
    // Within 4 standard errors of the subset mean (subsets overlap, so this is loose, not exact).
    expect(Math.abs(same.mean)).toBeLessThan((4 * same.std) / Math.sqrt(20));
    expect(other.mean).toBeGreaterThan((10 * other.std) / Math.sqrt(20));
    expect(other.mean).toBeGreaterThan(20 * Math.abs(same.mean));
    expect(kernelInceptionDistance(a, c, 4, { subsets: 20, subsetSize: 500 })).toEqual(other);
    expect(kernelInceptionDistance(a, c, 4, { subsets: 20, subsetSize: 500, seed: 1 }).mean).not.toBe(other.mean);
  });

  it('of a set against itself: unpaired keeps the −(2/n)(mean k(x, x) − mean k(x, x′)) of rows meeting themselves; paired, ≈ 0', () => {
    const n = 400;
    const a = gaussianSample(n, [0.2, -0.1], cholesky(diag([1, 0.5])), 14);
    const c = gaussianSample(n, [1, 0], cholesky(diag([1, 0.5])), 15);
    const k = (i: number, j: number) => ((a[2 * i]! * a[2 * j]! + a[2 * i + 1]! * a[2 * j + 1]!) / 2 + 1) ** 3;
    let diagSum = 0;
    let offSum = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) (i === j ? (diagSum += k(i, j)) : (offSum += k(i, j)));
    const self = kernelInceptionDistance(a, a, 2, { subsets: 10 });
    // Every subset would be the whole of both sets: computed once.
    expect(self).toMatchObject({ subsetSize: n, subsets: 1, std: 0 });
    expect(self.mean).toBeCloseTo((-2 / n) * (diagSum / n - offSum / (n * (n - 1))), 10);
    expect(self.mean).toBeLessThan(0);
    // Paired: each subset's two halves are disjoint rows, an unbiased estimate of 0.
    const paired = kernelInceptionDistance(a, a, 2, { subsets: 50, paired: true });
    expect(paired).toMatchObject({ subsetSize: n / 2, subsets: 50 });
    expect(Math.abs(paired.mean)).toBeLessThan((4 * paired.std) / Math.sqrt(50));
    expect(Math.abs(paired.mean)).toBeLessThan(0.02 * kernelInceptionDistance(a, c, 2, { subsets: 10 }).mean);
    expect(() => kernelInceptionDistance(a, c.subarray(0, 20), 2, { paired: true })).toThrow(/paired sets need as many rows in b as in a, got 10 and 400/);
  });

  it('refuses malformed input and options, naming them', () => {
    const ok = new Float32Array(6);
    expect(() => kernelInceptionDistance(ok, new Float32Array(5), 3)).toThrow(/kernelInceptionDistance: b has 5 values/);
    expect(() => kernelInceptionDistance(ok, ok, 3, { subsets: 0 })).toThrow(/subsets must be a positive integer/);
    expect(() => kernelInceptionDistance(ok, ok, 3, { subsetSize: 1 })).toThrow(/subsetSize must be an integer ≥ 2/);
    expect(() => kernelInceptionDistance(ok, ok, 3, { seed: -1 })).toThrow(/seed must be a non-negative integer/);
    expect(() => polynomialMmd2(Float64Array.from([Infinity, 0]), ok, 1)).toThrow(/polynomialMmd2: x has a non-finite value/);
  });
});
