/**
 * The similarity term s·sim(x, x′) of the attack objective. Higher means more
 * similar: MI for MINE, −‖x′ − x‖² for L2, cos(x, x′) for cosine. Unsupervised
 * attacks look for the least similar successful x′, supervised ones for the most.
 */
import { tf } from '../tensor/index.js';
import { ConvSampler, PerSampleMine, RandomSampler, type SampleKey } from '../mine/index.js';
import type { SimilarityConfig } from './config.js';
import type { AttackModel } from './model.js';

export interface Similarity {
  readonly name: 'mine' | 'l2' | 'cosine';
  /** Per-sample similarity [B], differentiable with respect to xAdv. */
  evaluate(xAdv: tf.Tensor): tf.Tensor1D;
  /** Called after each δ step with the new x′ (MINE trains its networks here). */
  update(xAdv: tf.Tensor, steps: number): void;
  /**
   * Whether a value may be recorded as a best-so-far: MINE requires a positive
   * bound (Algorithm 1's best-so-far rule); the distances accept any value.
   */
  eligible(value: number): boolean;
  dispose(): void;
}

function flat(t: tf.Tensor): tf.Tensor2D {
  return tf.reshape(t, [t.shape[0]!, -1]) as tf.Tensor2D;
}

class MineSimilarity implements Similarity {
  readonly name = 'mine' as const;
  constructor(private readonly mine: PerSampleMine, private readonly x: tf.Tensor) {}
  evaluate(xAdv: tf.Tensor): tf.Tensor1D {
    return this.mine.estimate(this.x, xAdv);
  }
  update(xAdv: tf.Tensor, steps: number): void {
    this.mine.fit(this.x, xAdv, steps)?.dispose();
  }
  eligible(value: number): boolean {
    return value > 0;
  }
  dispose(): void {
    this.mine.dispose();
  }
}

class L2Similarity implements Similarity {
  readonly name = 'l2' as const;
  constructor(private readonly x: tf.Tensor) {}
  evaluate(xAdv: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => tf.neg(tf.sum(tf.squaredDifference(flat(xAdv), flat(this.x)), 1)) as tf.Tensor1D);
  }
  update(): void {}
  eligible(): boolean {
    return true;
  }
  dispose(): void {}
}

class CosineSimilarity implements Similarity {
  readonly name = 'cosine' as const;
  private readonly xUnit: tf.Tensor2D;
  constructor(x: tf.Tensor) {
    this.xUnit = tf.tidy(() => {
      const f = flat(x);
      return tf.div(f, tf.add(tf.norm(f, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
    });
  }
  evaluate(xAdv: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => {
      const a = flat(xAdv);
      return tf.div(tf.sum(tf.mul(a, this.xUnit), 1), tf.add(tf.norm(a, 'euclidean', 1), 1e-12)) as tf.Tensor1D;
    });
  }
  update(): void {}
  eligible(): boolean {
    return true;
  }
  dispose(): void {
    this.xUnit.dispose();
  }
}

export function createSimilarity(config: SimilarityConfig, model: AttackModel, x: tf.Tensor, keys: readonly SampleKey[]): Similarity {
  switch (config.kind) {
    case 'l2':
      return new L2Similarity(x);
    case 'cosine':
      return new CosineSimilarity(x);
    case 'mine': {
      const cfg = config.mine;
      let sampler;
      if (cfg.sampler === 'conv') {
        if (!model.firstConv) {
          throw new Error('MINE conv sampler needs a model with a first conv layer; use sampler "random" for this model');
        }
        sampler = new ConvSampler(model.firstConv.bind(model), model.inputShape);
      } else {
        sampler = new RandomSampler(keys, model.inputShape, cfg);
      }
      return new MineSimilarity(new PerSampleMine(keys, sampler, cfg), x);
    }
  }
}
