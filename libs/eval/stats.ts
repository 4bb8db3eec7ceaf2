/**
 * Confidence intervals over seeds and paired arm-vs-control comparisons.
 *
 * Every experiment is repeated over a handful of seeds; to say "this arm is
 * better than the control" we need the Student-t interval of a mean (or of a
 * mean paired difference), which needs the t quantile. That is computed here,
 * without dependencies: the Student-t CDF is written through the regularized
 * incomplete beta function (continued fraction, modified Lentz's method;
 * log-gamma by a Lanczos approximation) and inverted by bisection.
 */

const DEFAULT_LEVEL = 0.95;

// ---------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------

/** Lanczos coefficients for g = 7, nine terms (≈ 15 significant digits). */
const LANCZOS_G = 7;
const LANCZOS_COEFFS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(z) for z > 0 (Lanczos; reflection for z < 0.5). */
function logGamma(z: number): number {
  if (z < 0.5) {
    // Γ(z)Γ(1−z) = π / sin(πz); only reached for 0 < z < 0.5, where sin(πz) > 0.
    return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  }
  const w = z - 1;
  let series = LANCZOS_COEFFS[0]!;
  for (let k = 1; k < LANCZOS_COEFFS.length; k++) series += LANCZOS_COEFFS[k]! / (w + k);
  const t = w + LANCZOS_G + 0.5;
  return HALF_LOG_2PI + (w + 0.5) * Math.log(t) - t + Math.log(series);
}

/** ln B(a, b). */
function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

const CF_MAX_ITER = 20_000;
const CF_EPS = 1e-15;
const CF_TINY = 1e-300;

/**
 * Continued fraction of I_x(a, b) (without its prefactor), by the modified
 * Lentz method. Converges quickly for x < (a + 1) / (a + b + 2).
 */
function betaContinuedFraction(x: number, a: number, b: number): number {
  // Terms: 1 / (1 + d1 / (1 + d2 / (1 + ...))), with
  // d_{2m+1} = −(a+m)(a+b+m) x / ((a+2m)(a+2m+1)), d_{2m} = m(b−m) x / ((a+2m−1)(a+2m)).
  let c = 1;
  let dInv = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(dInv) < CF_TINY) dInv = CF_TINY;
  dInv = 1 / dInv;
  let f = dInv;
  for (let m = 1; m <= CF_MAX_ITER; m++) {
    const m2 = 2 * m;
    // Even step.
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    dInv = 1 + num * dInv;
    if (Math.abs(dInv) < CF_TINY) dInv = CF_TINY;
    c = 1 + num / c;
    if (Math.abs(c) < CF_TINY) c = CF_TINY;
    dInv = 1 / dInv;
    f *= dInv * c;
    // Odd step.
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    dInv = 1 + num * dInv;
    if (Math.abs(dInv) < CF_TINY) dInv = CF_TINY;
    c = 1 + num / c;
    if (Math.abs(c) < CF_TINY) c = CF_TINY;
    dInv = 1 / dInv;
    const delta = dInv * c;
    f *= delta;
    if (Math.abs(delta - 1) < CF_EPS) return f;
  }
  throw new Error(`incomplete beta continued fraction did not converge (a=${a}, b=${b}, x=${x})`);
}

/** Regularized incomplete beta I_x(a, b), with y = 1 − x given separately (no cancellation near x = 1). */
function regularizedBeta(x: number, y: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const logFront = a * Math.log(x) + b * Math.log(y) - logBeta(a, b);
  if (x < (a + 1) / (a + b + 2)) {
    return (Math.exp(logFront) * betaContinuedFraction(x, a, b)) / a;
  }
  // Symmetry I_x(a, b) = 1 − I_{1−x}(b, a), where the fraction converges fast.
  return 1 - (Math.exp(logFront) * betaContinuedFraction(y, b, a)) / b;
}

/** P(|T_df| > t) for t ≥ 0: the two-sided tail, I_{df/(df+t²)}(df/2, 1/2). */
function twoSidedTail(t: number, df: number): number {
  const t2 = t * t;
  const denom = df + t2;
  return regularizedBeta(df / denom, t2 / denom, df / 2, 0.5);
}

// ---------------------------------------------------------------------------
// Validation helpers
// ---------------------------------------------------------------------------

function checkLevel(level: number): void {
  if (!Number.isFinite(level) || level <= 0 || level >= 1) {
    throw new Error(`level must be a number in (0, 1), got ${level}`);
  }
}

function checkFiniteArray(name: string, values: readonly number[]): void {
  if (values.length === 0) throw new Error(`${name} must not be empty`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new Error(`${name}[${i}] is not a finite number (${values[i]})`);
  }
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/** Student-t two-sided critical value: P(|T_df| ≤ t) = level (e.g. 0.95). df ≥ 1 (non-integer allowed). */
export function tCritical(df: number, level: number = DEFAULT_LEVEL): number {
  if (!Number.isFinite(df) || df < 1) throw new Error(`df must be a finite number ≥ 1, got ${df}`);
  checkLevel(level);
  const alpha = 1 - level;
  // Bracket: the tail decreases in t; grow hi until the tail is below alpha.
  let lo = 0;
  let hi = 2;
  while (twoSidedTail(hi, df) > alpha) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) throw new Error(`tCritical: no bracket found for df=${df}, level=${level}`);
  }
  // Bisection to ~1e-13 relative: at most a few hundred steps, each cheap.
  for (let iter = 0; iter < 400 && hi - lo > 1e-13 * hi; iter++) {
    const mid = 0.5 * (lo + hi);
    if (twoSidedTail(mid, df) > alpha) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** Sample mean, sample standard deviation (n−1; undefined for n < 2) and the t-interval of the mean at `level` (undefined for n < 2). Non-finite values are an error. */
export interface MeanInterval {
  n: number;
  mean: number;
  std?: number;
  ci95?: [number, number];
}

export function meanInterval(values: readonly number[], level: number = DEFAULT_LEVEL): MeanInterval {
  checkFiniteArray('values', values);
  checkLevel(level);
  const n = values.length;
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n < 2) return { n, mean };
  // Two-pass variance (stable for the small samples we get from seeds).
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  const std = Math.sqrt(ss / (n - 1));
  const half = (tCritical(n - 1, level) * std) / Math.sqrt(n);
  return { n, mean, std, ci95: [mean - half, mean + half] };
}

export type Verdict = 'better' | 'worse' | 'indistinguishable';

export interface PairedComparison {
  n: number;
  diff: number;
  ci95?: [number, number];
  verdict: Verdict;
}

/**
 * Paired by index (seed): d_i = arm_i − control_i; diff = mean d, ci95 its t-interval.
 * `lowerIsBetter` (reconstruction error) or not (accuracy). Verdict: 'better' when the whole
 * interval is on the good side of 0, 'worse' when on the bad side, else 'indistinguishable'
 * (also for n < 2, where there is no interval).
 */
export function pairedComparison(
  arm: readonly number[],
  control: readonly number[],
  lowerIsBetter: boolean,
  level: number = DEFAULT_LEVEL,
): PairedComparison {
  checkFiniteArray('arm', arm);
  checkFiniteArray('control', control);
  if (arm.length !== control.length) {
    throw new Error(`arm and control must have the same length (paired by seed), got ${arm.length} and ${control.length}`);
  }
  const diffs = arm.map((a, i) => a - control[i]!);
  const { n, mean, ci95 } = meanInterval(diffs, level);
  const result: PairedComparison = { n, diff: mean, verdict: verdictOf(ci95, lowerIsBetter) };
  if (ci95) result.ci95 = ci95;
  return result;
}

/** Which side of 0 the whole interval lies on, read through the metric's direction. */
function verdictOf(ci: [number, number] | undefined, lowerIsBetter: boolean): Verdict {
  if (!ci) return 'indistinguishable';
  const [lo, hi] = ci;
  if (hi < 0) return lowerIsBetter ? 'better' : 'worse';
  if (lo > 0) return lowerIsBetter ? 'worse' : 'better';
  return 'indistinguishable';
}
