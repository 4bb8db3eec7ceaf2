/**
 * Attack criteria f (the paper's Section 3.2): f(x′) ≤ 0 means the attack succeeded.
 * A criterion is bound to one batch of native samples, so constants such as
 * ‖x − AE(x)‖² are computed once.
 */
import { tf } from '../tensor/index.js';
import type { CriterionConfig } from './config.js';
import type { AttackModel } from './model.js';

export interface Criterion {
  /** Per-sample f(x′), shape [B]; differentiable with respect to xAdv. */
  f(xAdv: tf.Tensor): tf.Tensor1D;
  dispose(): void;
}

export interface CriterionContext {
  /** Native samples [B, ...]. */
  x: tf.Tensor;
  /** True labels (cw untargeted, and a supervised model's loss) or target labels (cw targeted), one per sample. */
  labels?: Int32Array;
}

function perSampleSum(t: tf.Tensor): tf.Tensor1D {
  const B = t.shape[0]!;
  return tf.sum(tf.reshape(t, [B, -1]), 1) as tf.Tensor1D;
}

/** f = ‖x − AE(x′)‖² − ‖x − AE(x)‖² + κ: x′ reconstructs x at least as well as x does. */
class Reconstruction implements Criterion {
  private readonly base: tf.Tensor1D;
  constructor(private readonly model: AttackModel, private readonly x: tf.Tensor, private readonly kappa: number) {
    const reconstruct = model.reconstruct?.bind(model);
    if (!reconstruct) throw new Error('reconstruction criterion needs a model with reconstruct() (an autoencoder)');
    this.base = tf.tidy(() => tf.sub(perSampleSum(tf.squaredDifference(x, reconstruct(x))), kappa) as tf.Tensor1D);
  }
  f(xAdv: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => tf.sub(perSampleSum(tf.squaredDifference(this.x, this.model.reconstruct!(xAdv))), this.base));
  }
  dispose(): void {
    this.base.dispose();
  }
}

/**
 * f = L(x′) − L(x) + κ for the model's per-sample training loss (§2, "any
 * training loss"); a classifier's L is its cross-entropy against `labels`.
 */
class LossDifference implements Criterion {
  private readonly base: tf.Tensor1D;
  constructor(private readonly model: AttackModel, x: tf.Tensor, kappa: number, private readonly labels?: Int32Array) {
    if (!model.perSampleLoss) throw new Error('loss criterion needs a model with perSampleLoss()');
    this.base = tf.tidy(() => tf.sub(model.perSampleLoss!(x, labels), kappa) as tf.Tensor1D);
  }
  f(xAdv: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => tf.sub(this.model.perSampleLoss!(xAdv, this.labels), this.base));
  }
  dispose(): void {
    this.base.dispose();
  }
}

/**
 * Carlini–Wagner margin on logits Z. Untargeted (label t = true class):
 * f = Z_t − max_{j≠t} Z_j + κ. Targeted (label t′ = target): f = max_{j≠t′} Z_j − Z_t′ + κ.
 */
class CarliniWagner implements Criterion {
  private readonly onehot: tf.Tensor2D;
  constructor(private readonly model: AttackModel, x: tf.Tensor, labels: Int32Array, private readonly kappa: number, private readonly targeted: boolean) {
    if (!model.logits) throw new Error('cw criterion needs a classifier with logits()');
    const classes = tf.tidy(() => model.logits!(tf.slice(x, 0, 1)).shape[1]);
    if (labels.length !== x.shape[0]) throw new Error(`cw criterion needs one label per sample (${x.shape[0]}), got ${labels.length}`);
    for (const l of labels) if (l < 0 || l >= classes) throw new Error(`label ${l} outside [0, ${classes})`);
    this.onehot = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat() as tf.Tensor2D);
  }
  f(xAdv: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => {
      const z = this.model.logits!(xAdv);
      const labelled = tf.sum(tf.mul(z, this.onehot), 1);
      // Mask the labelled logit out of the max with a large negative offset.
      const others = tf.max(tf.sub(z, tf.mul(this.onehot, 1e9)), 1);
      const margin = this.targeted ? tf.sub(others, labelled) : tf.sub(labelled, others);
      return tf.add(margin, this.kappa) as tf.Tensor1D;
    });
  }
  dispose(): void {
    this.onehot.dispose();
  }
}

export function createCriterion(config: CriterionConfig, model: AttackModel, ctx: CriterionContext): Criterion {
  switch (config.kind) {
    case 'reconstruction':
      return new Reconstruction(model, ctx.x, config.kappa);
    case 'loss':
      return new LossDifference(model, ctx.x, config.kappa, ctx.labels);
    case 'cw':
      if (!ctx.labels) throw new Error(`cw criterion needs ${config.targeted ? 'target' : 'true'} labels`);
      return new CarliniWagner(model, ctx.x, ctx.labels, config.kappa, config.targeted);
  }
}
