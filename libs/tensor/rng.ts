/**
 * Deterministic, backend-independent random numbers.
 *
 * Every random draw of the attack (initial δ, MINE parameters, permutations,
 * random projections) comes from here, generated in JS and uploaded, so a
 * result depends only on (seed, sample id, stream) — not on the backend, the
 * batch a sample travels in, or the worker that runs it.
 */

/** 32-bit mix (murmur3 finaliser). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Derives a 128-bit state from a list of integer keys (seed, sample id, stream...). */
function seedState(keys: readonly number[]): [number, number, number, number] {
  let h = 0x9e3779b9;
  const s: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) {
    for (const k of keys) {
      // Fold doubles beyond 32 bits too (seeds may be up to 2^53).
      const lo = k >>> 0;
      const hi = Math.floor(k / 4294967296) >>> 0;
      h = mix32(h ^ lo ^ Math.imul(i + 1, 0x27d4eb2d));
      h = mix32(h ^ hi);
    }
    s[i] = h || 0x1b873593;
  }
  return s;
}

/** xoshiro128** generator with helpers for the distributions the attack needs. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | undefined;

  constructor(...keys: number[]) {
    [this.a, this.b, this.c, this.d] = seedState(keys);
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  fillUniform(out: Float32Array, lo: number, hi: number, offset = 0, length = out.length - offset): Float32Array {
    const w = hi - lo;
    for (let i = offset, end = offset + length; i < end; i++) out[i] = lo + w * this.uniform();
    return out;
  }

  fillNormal(out: Float32Array, mean: number, std: number, offset = 0, length = out.length - offset): Float32Array {
    const end = offset + length;
    let i = offset;
    // Inline Box–Muller pairs: this fills tens of millions of values in the
    // random sampler's faithful (redraw) mode.
    for (; i + 1 < end; i += 2) {
      let u = 0;
      while (u === 0) u = this.uniform();
      const r = std * Math.sqrt(-2 * Math.log(u));
      const th = 2 * Math.PI * this.uniform();
      out[i] = mean + r * Math.cos(th);
      out[i + 1] = mean + r * Math.sin(th);
    }
    if (i < end) out[i] = mean + std * this.normal();
    return out;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Named streams so that different uses of one sample's seed never overlap. */
export const STREAM = {
  delta: 1,
  mineInit: 2,
  permutation: 3,
  projection: 4,
  noise: 5,
  shuffle: 6,
  modelInit: 7,
  /** Training noise of the autoencoders: AAE prior samples, concrete-AE Gumbel noise and dropout masks. */
  prior: 8,
  gumbel: 9,
  dropout: 10,
  /** Conventional augmentations (flip, rotation angles) and the study's validation split. */
  augment: 11,
  validation: 12,
  /** KID's random subsets (libs/eval/fid.ts). */
  kid: 13,
  /** Multi-round augmentation: the seed of each round after the first. */
  round: 14,
} as const;
