/**
 * Distances between two sets of feature vectors (rows × d, row-major), for
 * the quality of generated sets (the paper's Tables 2 and 8 report FID and
 * KID of the UAEs against the training data):
 *
 *   FID  Fréchet distance of the Gaussians fitted to the two sets (Heusel et
 *        al. 2017): ‖μa − μb‖² + Tr(Σa + Σb − 2(Σa^½ Σb Σa^½)^½), computed
 *        with symmetric eigendecompositions (ml-matrix), so the matrix square
 *        roots stay real for singular covariances.
 *   KID  the unbiased estimate of the squared MMD with the cubic polynomial
 *        kernel k(x, y) = (xᵀy/d + 1)³ (Bińkowski et al. 2018), averaged over
 *        random subsets of both sets.
 *
 * Pure functions of the numbers: the feature network is feature-model.ts.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { Rng, STREAM } from '../tensor/rng.js';

/** rows × d feature values, row-major. */
export type FeatureRows = Float32Array | Float64Array;

/** Mean and (unbiased, n − 1) covariance of a feature set. */
export interface GaussianMoments {
  mean: Float64Array;
  /** d × d, row-major. */
  cov: Float64Array;
  d: number;
}

/** Rows of `x` after checking that it is rows × d of finite values with at least two rows; errors name `name`. */
function checkRows(x: FeatureRows, d: number, name: string, where: string): number {
  if (!(x instanceof Float32Array || x instanceof Float64Array)) throw new Error(`${where}: ${name} must be a Float32Array or Float64Array of rows × d values`);
  if (!Number.isInteger(d) || d < 1) throw new Error(`${where}: d must be a positive integer, got ${d}`);
  if (x.length % d !== 0) throw new Error(`${where}: ${name} has ${x.length} values, not a multiple of d = ${d}`);
  const rows = x.length / d;
  if (rows < 2) throw new Error(`${where}: ${name} has ${rows} row${rows === 1 ? '' : 's'}; at least 2 are needed`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) throw new Error(`${where}: ${name} has a non-finite value (${x[i]}) at row ${Math.floor(i / d)}, column ${i % d}`);
  }
  return rows;
}

/** Mean and unbiased covariance of rows × d features (float64 accumulation). */
export function gaussianMoments(x: FeatureRows, d: number, name = 'x'): GaussianMoments {
  const n = checkRows(x, d, name, 'gaussianMoments');
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j]! += x[r * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d; j++) row[j] = x[r * d + j]! - mean[j]!;
    for (let i = 0; i < d; i++) {
      const ri = row[i]!;
      if (ri === 0) continue;
      const base = i * d;
      for (let j = i; j < d; j++) cov[base + j]! += ri * row[j]!;
    }
  }
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = cov[i * d + j]! / (n - 1);
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
  }
  return { mean, cov, d };
}

function toMatrix(a: Float64Array, d: number): Matrix {
  const m = new Matrix(d, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m.set(i, j, a[i * d + j]!);
  return m;
}

/** Eigenvalues and eigenvectors of a symmetric matrix (symmetrised first against rounding). */
function symmetricEigen(m: Matrix): { values: number[]; vectors: Matrix } {
  const s = m.add(m.transpose()).mul(0.5);
  const e = new EigenvalueDecomposition(s, { assumeSymmetric: true });
  return { values: e.realEigenvalues, vectors: e.eigenvectorMatrix };
}

/** V diag(√max(λ, 0)) Vᵀ: the PSD square root (rounding's tiny negative eigenvalues count as 0). */
function psdSqrt(m: Matrix): Matrix {
  const { values, vectors } = symmetricEigen(m);
  const scaled = vectors.clone();
  for (let j = 0; j < values.length; j++) {
    const s = Math.sqrt(Math.max(values[j]!, 0));
    for (let i = 0; i < scaled.rows; i++) scaled.set(i, j, scaled.get(i, j) * s);
  }
  return scaled.mmul(vectors.transpose());
}

function checkMoments(m: GaussianMoments, name: string): void {
  const { d } = m;
  if (!Number.isInteger(d) || d < 1) throw new Error(`frechetDistanceOfMoments: ${name}.d must be a positive integer, got ${d}`);
  if (m.mean.length !== d) throw new Error(`frechetDistanceOfMoments: ${name}.mean has ${m.mean.length} values, not d = ${d}`);
  if (m.cov.length !== d * d) throw new Error(`frechetDistanceOfMoments: ${name}.cov has ${m.cov.length} values, not d² = ${d * d}`);
  if (![...m.mean, ...m.cov].every(Number.isFinite)) throw new Error(`frechetDistanceOfMoments: ${name} has non-finite moments`);
}

/** The Fréchet distance between N(a.mean, a.cov) and N(b.mean, b.cov) (≥ 0; rounding below 0 is returned as 0). */
export function frechetDistanceOfMoments(a: GaussianMoments, b: GaussianMoments): number {
  checkMoments(a, 'a');
  checkMoments(b, 'b');
  if (a.d !== b.d) throw new Error(`frechetDistanceOfMoments: a has d = ${a.d} features but b has d = ${b.d}`);
  const d = a.d;
  let meanTerm = 0;
  for (let j = 0; j < d; j++) meanTerm += (a.mean[j]! - b.mean[j]!) ** 2;
  let traces = 0;
  for (let j = 0; j < d; j++) traces += a.cov[j * d + j]! + b.cov[j * d + j]!;
  const rootA = psdSqrt(toMatrix(a.cov, d));
  const inner = rootA.mmul(toMatrix(b.cov, d)).mmul(rootA);
  // Tr (Σa^½ Σb Σa^½)^½ = Σ √λ over the eigenvalues of the PSD inner product.
  const crossTrace = symmetricEigen(inner).values.reduce((s, v) => s + Math.sqrt(Math.max(v, 0)), 0);
  return Math.max(0, meanTerm + traces - 2 * crossTrace);
}

/** FID of two feature sets (rows × d each): the Fréchet distance of their fitted Gaussians. */
export function frechetDistance(a: FeatureRows, b: FeatureRows, d: number): number {
  checkRows(a, d, 'a', 'frechetDistance');
  checkRows(b, d, 'b', 'frechetDistance');
  return frechetDistanceOfMoments(gaussianMoments(a, d, 'a'), gaussianMoments(b, d, 'b'));
}

/** k(x, y) = (xᵀy/d + 1)³ between row i of `x` and row j of `y`. */
function cubicKernel(x: Float64Array, i: number, y: Float64Array, j: number, d: number): number {
  let dot = 0;
  const xi = i * d;
  const yj = j * d;
  for (let k = 0; k < d; k++) dot += x[xi + k]! * y[yj + k]!;
  const t = dot / d + 1;
  return t * t * t;
}

/**
 * Unbiased MMD² with the cubic polynomial kernel between all rows of `x`
 * (m × d) and of `y` (n × d): the U-statistic, whose within-set sums leave out
 * the diagonal k(xᵢ, xᵢ).
 */
export function polynomialMmd2(x: FeatureRows, y: FeatureRows, d: number): number {
  const m = checkRows(x, d, 'x', 'polynomialMmd2');
  const n = checkRows(y, d, 'y', 'polynomialMmd2');
  return mmd2(Float64Array.from(x), m, Float64Array.from(y), n, d);
}

function mmd2(x: Float64Array, m: number, y: Float64Array, n: number, d: number): number {
  let kxx = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) kxx += cubicKernel(x, i, x, j, d);
  let kyy = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) kyy += cubicKernel(y, i, y, j, d);
  let kxy = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) kxy += cubicKernel(x, i, y, j, d);
  return (2 * kxx) / (m * (m - 1)) + (2 * kyy) / (n * (n - 1)) - (2 * kxy) / (m * n);
}

export interface KidOptions {
  /** Random subsets averaged over (default 100, as Bińkowski et al.'s reference code; 1 when a subset is the whole of both sets). */
  subsets?: number;
  /** Rows drawn (without replacement) from each set per subset (default 1000; at most the smaller set's size). */
  subsetSize?: number;
  seed?: number;
  /**
   * Row i of `b` was made from row i of `a` (a generated set against its
   * originals): each subset then takes its rows of `a` and of `b` from
   * disjoint row indices, so that a pair (x, x′) never meets in the cross
   * term, whose k(x, x′) ≈ k(x, x) would otherwise bias the estimate down by
   * O(1/n). Needs sets of equal size; subsets of at most half of it.
   */
  paired?: boolean;
}

export const KID_DEFAULTS = { subsets: 100, subsetSize: 1000, seed: 0 } as const;

export interface KidResult {
  /** Mean over subsets of the unbiased MMD² (raw; the paper reports it × 100). */
  mean: number;
  /** Sample standard deviation over subsets (0 with one subset). */
  std: number;
  /** Subsets computed. */
  subsets: number;
  /** Rows per set in each subset, as run. */
  subsetSize: number;
}

/** Rows `idx` of `x` (rows × d) as a float64 matrix. */
function takeRows(x: FeatureRows, idx: Int32Array, d: number): Float64Array {
  const out = new Float64Array(idx.length * d);
  for (let k = 0; k < idx.length; k++) for (let j = 0; j < d; j++) out[k * d + j] = x[idx[k]! * d + j]!;
  return out;
}

/**
 * KID of two feature sets (rows × d each): the unbiased polynomial-kernel
 * MMD² averaged over `subsets` seeded draws of `subsetSize` rows from each
 * set (every row of a set when it has fewer; `paired`: disjoint rows).
 * Unbiased: its expectation is the population MMD², 0 for two samples of one
 * distribution.
 */
export function kernelInceptionDistance(a: FeatureRows, b: FeatureRows, d: number, opts: KidOptions = {}): KidResult {
  const na = checkRows(a, d, 'a', 'kernelInceptionDistance');
  const nb = checkRows(b, d, 'b', 'kernelInceptionDistance');
  const subsets = opts.subsets ?? KID_DEFAULTS.subsets;
  const wanted = opts.subsetSize ?? KID_DEFAULTS.subsetSize;
  const seed = opts.seed ?? KID_DEFAULTS.seed;
  if (!Number.isInteger(subsets) || subsets < 1) throw new Error(`kernelInceptionDistance: subsets must be a positive integer, got ${subsets}`);
  if (!Number.isInteger(wanted) || wanted < 2) throw new Error(`kernelInceptionDistance: subsetSize must be an integer ≥ 2, got ${wanted}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`kernelInceptionDistance: seed must be a non-negative integer, got ${seed}`);
  const paired = opts.paired ?? false;
  if (paired && na !== nb) throw new Error(`kernelInceptionDistance: paired sets need as many rows in b as in a, got ${nb} and ${na}`);
  if (paired && na < 4) throw new Error(`kernelInceptionDistance: paired sets need at least 4 rows (two disjoint halves of 2), got ${na}`);
  const size = paired ? Math.min(wanted, Math.floor(na / 2)) : Math.min(wanted, na, nb);
  // Subsets that take every row of both sets are all the same MMD²: one suffices.
  const draws = !paired && size === na && size === nb ? 1 : subsets;
  const values: number[] = [];
  for (let s = 0; s < draws; s++) {
    let ia: Int32Array;
    let ib: Int32Array;
    if (paired) {
      const order = new Rng(seed, STREAM.kid, s, 2).permutation(na);
      ia = order.subarray(0, size);
      ib = order.subarray(size, 2 * size);
    } else {
      ia = new Rng(seed, STREAM.kid, s, 0).permutation(na).subarray(0, size);
      ib = new Rng(seed, STREAM.kid, s, 1).permutation(nb).subarray(0, size);
    }
    values.push(mmd2(takeRows(a, ia, d), size, takeRows(b, ib, d), size, d));
  }
  const mean = values.reduce((x, y) => x + y, 0) / draws;
  const std = draws > 1 ? Math.sqrt(values.reduce((x, v) => x + (v - mean) ** 2, 0) / (draws - 1)) : 0;
  return { mean, std, subsets: draws, subsetSize: size };
}
