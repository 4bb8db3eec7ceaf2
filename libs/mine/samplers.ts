/**
 * Turning one pair (x, x′) into a batch of paired draws (the paper's Section 3.1, SuppMat 6.2),
 * for B samples at once. Draws come out as [B, n, ...drawShape].
 */
import { tf } from '../tensor/index.js';
import { Rng, STREAM } from '../tensor/rng.js';
import type { MineConfig } from './config.js';
import type { SampleKey } from './statistics-network.js';
import { lazyProjectPair } from './lazy-projection.js';

export interface PairDraws {
  /** Draws of x; omitted when the caller said it has them (deterministic samplers only). */
  X?: tf.Tensor;
  Y: tf.Tensor;
}

export interface PairSampler {
  readonly kind: 'conv' | 'random';
  /** n, the draws per sample. */
  readonly draws: number;
  /** Shape of one draw: [H', W', 1] (conv) or [projectionDim] (random). */
  readonly drawShape: number[];
  /**
   * True when the draws of a given pair are the same at every evaluation
   * (conv; random with fixed projections), so they can be computed once.
   */
  readonly deterministic: boolean;
  /**
   * Draws for x (native, fixed during an attack) and xAdv. Y is differentiable
   * with respect to xAdv. Called once per MINE evaluation: samplers that redraw
   * their randomness advance their per-sample streams here. `needX: false`
   * (deterministic samplers only) skips the x draws the caller has cached.
   */
  pairs(x: tf.Tensor, xAdv: tf.Tensor, needX?: boolean): PairDraws;
  dispose(): void;
}

/** A model's first convolution layer, activation included: [B,H,W,C] → [B,H',W',F]. */
export type FirstConv = (x: tf.Tensor4D) => tf.Tensor4D;

/**
 * Conv sampler: each of the F filter maps of the model's first conv layer is
 * one draw, X = [F, H', W', 1] per sample. The draws of x are computed once
 * and cached (x does not change during an attack).
 */
export class ConvSampler implements PairSampler {
  readonly kind = 'conv' as const;
  readonly deterministic = true;
  readonly draws: number;
  readonly drawShape: number[];
  private cachedX: { source: tf.Tensor; draws: tf.Tensor } | undefined;

  constructor(private readonly firstConv: FirstConv, inputShape: number[]) {
    const probe = tf.tidy(() => firstConv(tf.zeros([1, ...inputShape]) as unknown as tf.Tensor4D));
    if (probe.rank !== 4) throw new Error(`first conv layer must return [B,H,W,F]; got [${probe.shape.join(',')}]`);
    const [, h, w, f] = probe.shape;
    probe.dispose();
    this.draws = f;
    this.drawShape = [h, w, 1];
  }

  private drawsOf(x: tf.Tensor): tf.Tensor {
    const maps = this.firstConv(x as tf.Tensor4D); // [B,H',W',F]
    const [B, h, w, f] = maps.shape;
    return tf.reshape(tf.transpose(maps, [0, 3, 1, 2]), [B, f, h, w, 1]);
  }

  pairs(x: tf.Tensor, xAdv: tf.Tensor, needX = true): PairDraws {
    if (!needX) return { Y: this.drawsOf(xAdv) };
    if (this.cachedX?.source !== x) {
      this.cachedX?.draws.dispose();
      this.cachedX = { source: x, draws: tf.keep(tf.tidy(() => this.drawsOf(x))) };
    }
    // A fresh handle on the cached draws, so callers may dispose what they get.
    return { X: tf.clone(this.cachedX.draws), Y: this.drawsOf(xAdv) };
  }

  dispose(): void {
    this.cachedX?.draws.dispose();
    this.cachedX = undefined;
  }
}

/**
 * Random (compressive) sampler: K matrices A_k ∈ R^{d×m}, entries N(0, 1/m),
 * the same for x and x′; X_k = standardize(vec(x)·A_k). In `redraw` mode the
 * matrices are new at every evaluation (the reference draws them in-graph),
 * sampled exactly without materialising them (lazy-projection.ts);
 * `redraw-explicit` materialises them; `fixed` draws them once per sample.
 */
export class RandomSampler implements PairSampler {
  readonly kind = 'random' as const;
  readonly draws: number;
  readonly drawShape: number[];
  readonly deterministic: boolean;
  private readonly rngs: Rng[];
  private readonly d: number;
  private readonly m: number;
  private fixed: tf.Tensor3D | undefined;

  constructor(keys: readonly SampleKey[], inputShape: number[], private readonly cfg: MineConfig) {
    this.draws = cfg.draws;
    this.deterministic = cfg.projection === 'fixed';
    this.m = cfg.projectionDim;
    this.drawShape = [this.m];
    this.d = inputShape.reduce((a, b) => a * b, 1);
    this.rngs = keys.map((k) => new Rng(k.seed, k.sampleId, STREAM.projection));
  }

  /**
   * The K matrices of every sample, stored transposed as Aᵀ: [B, K·m, d] with
   * N(0, 1/m) entries, one block per sample from its own stream. (Entries are
   * i.i.d., so the layout changes nothing in distribution; it lets the matMul
   * stream the big matrix instead of re-packing it.)
   */
  private drawMatrices(): tf.Tensor3D {
    const per = this.d * this.draws * this.m;
    const buf = new Float32Array(this.rngs.length * per);
    const std = 1 / Math.sqrt(this.m);
    this.rngs.forEach((rng, b) => rng.fillNormal(buf, 0, std, b * per, per));
    return tf.tensor3d(buf, [this.rngs.length, this.draws * this.m, this.d]);
  }

  /** standardize(vec(x)·A_k) for every k: [B, K, m]. */
  private project(x: tf.Tensor, At: tf.Tensor3D): tf.Tensor {
    const B = x.shape[0]!;
    const v = tf.reshape(x, [B, this.d, 1]);
    return this.standardize(tf.reshape(tf.matMul(At, v), [B, this.draws, this.m]));
  }

  /** Zero mean, unit variance per m-vector: [B, K, m]. */
  private standardize(z: tf.Tensor): tf.Tensor {
    const { mean, variance } = tf.moments(z, 2, true);
    // Tiny floor: an all-zero sample projects to zeros, whose variance is 0.
    return tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, 1e-12)));
  }

  pairs(x: tf.Tensor, xAdv: tf.Tensor, needX = true): PairDraws {
    if (x.shape[0] !== this.rngs.length) {
      throw new Error(`RandomSampler built for ${this.rngs.length} samples, got a batch of ${x.shape[0]}`);
    }
    if (this.cfg.projection === 'redraw') {
      const B = x.shape[0]!;
      const { X, Y } = lazyProjectPair(x, xAdv, this.rngs, this.draws * this.m, this.m);
      return { X: this.standardize(tf.reshape(X, [B, this.draws, this.m])), Y: this.standardize(tf.reshape(Y, [B, this.draws, this.m])) };
    }
    let A: tf.Tensor3D;
    if (this.cfg.projection === 'fixed') {
      this.fixed ??= tf.keep(this.drawMatrices());
      A = this.fixed;
    } else {
      A = this.drawMatrices();
    }
    // A redrawn A is left to the caller's tidy: a gradient through Y still needs it.
    return { X: needX || this.cfg.projection !== 'fixed' ? this.project(x, A) : undefined, Y: this.project(xAdv, A) };
  }

  dispose(): void {
    this.fixed?.dispose();
    this.fixed = undefined;
  }
}
