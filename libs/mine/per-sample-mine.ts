/**
 * Per-sample MINE for B samples at once (the paper's Section 3.1, SuppMat 6.2): one statistics
 * network per sample (stacked), one pair sampler, a lean Adam maximising the
 * DV bound, and per-sample permutation streams.
 */
import { tf } from '../tensor/index.js';
import { LeanAdam } from '../tensor/adam.js';
import { Rng, STREAM } from '../tensor/rng.js';
import type { MineConfig } from './config.js';
import { StatisticsNetwork, type PreparedDraws, type SampleKey } from './statistics-network.js';
import type { PairSampler } from './samplers.js';

export class PerSampleMine {
  readonly net: StatisticsNetwork;
  private readonly adam: LeanAdam;
  private readonly permRngs: Rng[];
  /** Prepared x draws, reused while x is the same tensor and the sampler is deterministic. */
  private preparedX: { source: tf.Tensor; draws: PreparedDraws } | undefined;

  constructor(
    readonly keys: readonly SampleKey[],
    readonly sampler: PairSampler,
    readonly cfg: MineConfig,
  ) {
    this.net = StatisticsNetwork.init(keys, sampler.drawShape, cfg);
    this.adam = new LeanAdam(this.net.params, {
      learningRate: cfg.learningRate,
      beta1: cfg.beta1,
      beta2: cfg.beta2,
      epsilon: cfg.epsilon,
      goal: 'max',
    });
    this.permRngs = keys.map((k) => new Rng(k.seed, k.sampleId, STREAM.permutation));
  }

  get batch(): number {
    return this.keys.length;
  }

  /** A fresh permutation per sample, as flat row indices b·n + π_b(i). */
  private nextPermutation(): tf.Tensor1D {
    const n = this.sampler.draws;
    const idx = new Int32Array(this.batch * n);
    this.permRngs.forEach((rng, b) => {
      const p = rng.permutation(n);
      for (let i = 0; i < n; i++) idx[b * n + i] = b * n + p[i]!;
    });
    return tf.tensor1d(idx, 'int32');
  }

  /** Prepared draws of (x, xAdv); the x side is cached when it cannot change. */
  private preparedPairs(x: tf.Tensor, xAdv: tf.Tensor): [PreparedDraws, PreparedDraws] {
    const cached = this.sampler.deterministic && this.preparedX?.source === x;
    const { X, Y } = this.sampler.pairs(x, xAdv, !cached);
    if (!this.sampler.deterministic) return [this.net.prepare(X!), this.net.prepare(Y)];
    if (!cached) {
      this.disposePreparedX();
      const draws = this.net.prepare(X!);
      tf.keep(draws.t);
      this.preparedX = { source: x, draws };
    }
    return [this.preparedX!.draws, this.net.prepare(Y)];
  }

  private disposePreparedX(): void {
    this.preparedX?.draws.t.dispose();
    this.preparedX = undefined;
  }

  /**
   * I_θ(x, x′) per sample [B], differentiable with respect to xAdv (θ fixed).
   * Draws a fresh permutation (and, in redraw mode, fresh projections).
   */
  estimate(x: tf.Tensor, xAdv: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => {
      const [px, py] = this.preparedPairs(x, xAdv);
      return this.net.dvPrepared(px, py, this.nextPermutation());
    });
  }

  /**
   * `steps` Adam steps maximising I_θ(x, x′) for every sample (x′ fixed).
   * Returns the per-sample bound measured at the last step (before its update),
   * or undefined for zero steps.
   */
  async train(x: tf.Tensor, xAdv: tf.Tensor, steps: number): Promise<Float32Array | undefined> {
    const last = this.fit(x, xAdv, steps);
    if (!last) return undefined;
    try {
      return (await last.data()) as Float32Array;
    } finally {
      last.dispose();
    }
  }

  /**
   * The steps of train() without reading anything back (the attack does not
   * need the bound, and a GPU backend would wait for it): the last step's
   * per-sample bound as a tensor the caller disposes, or undefined for zero steps.
   */
  fit(x: tf.Tensor, xAdv: tf.Tensor, steps: number): tf.Tensor1D | undefined {
    let last: tf.Tensor1D | undefined;
    // x′ is fixed during these steps: a deterministic sampler's draws (and
    // their parameter-free preparation) are computed once for all of them.
    let fixedY: PreparedDraws | undefined;
    try {
      // Conv draws on wasm: W₁ of each branch trained by one fused pass (see
      // StatisticsNetwork.fusedTrainStep); equal to the autograd path up to
      // float summation order.
      const fused = this.net.canFuseTraining();
      for (let s = 0; s < steps; s++) {
        const draws = () => {
          if (this.sampler.deterministic) {
            if (!fixedY) {
              [, fixedY] = this.preparedPairs(x, xAdv);
              tf.keep(fixedY.t);
            }
            return [this.preparedX!.draws, fixedY] as const;
          }
          return this.preparedPairs(x, xAdv);
        };
        let value: tf.Tensor1D;
        if (fused && this.sampler.deterministic) {
          // The draws are kept (cached); the tidy frees the sampler's temporaries.
          const [px, py] = tf.tidy(() => draws() as unknown as tf.TensorContainer) as unknown as [PreparedDraws, PreparedDraws];
          const perm = this.nextPermutation();
          value = this.net.fusedTrainStep(px, py, perm, this.adam);
          perm.dispose();
        } else {
          const out = tf.tidy(() => {
            const [px, py] = draws();
            const perm = this.nextPermutation();
            const perSample: tf.Tensor1D[] = [];
            // Sum over samples: each sample's gradient is its own network's.
            const { value, grads } = tf.valueAndGrads((...p: tf.Tensor[]) => {
              const dv = this.net.dvPrepared(px, py, perm, p);
              perSample.push(tf.keep(dv)); // outlives the gradient scope; disposed below
              return tf.sum(dv) as tf.Scalar;
            })(this.net.params);
            value.dispose();
            return { value: perSample[0]!, grads };
          });
          value = out.value;
          this.net.setParams(this.adam.step(this.net.params, out.grads));
        }
        if (s === steps - 1) last = value;
        else value.dispose();
      }
    } finally {
      fixedY?.t.dispose();
    }
    return last;
  }

  dispose(): void {
    this.disposePreparedX();
    this.net.dispose();
    this.adam.dispose();
    this.sampler.dispose();
  }
}
