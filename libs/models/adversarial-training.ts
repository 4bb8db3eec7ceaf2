/**
 * Adversarial training (Madry et al., "Towards Deep Learning Models Resistant
 * to Adversarial Attacks", 2018): every minibatch is replaced by its L∞ PGD
 * examples — random start δ0 ~ U(−ε, ε), `steps` ascent steps
 * x′ ← Proj(x′ + α·sign(∇x′ CE(logits(x′), y))) onto ‖x′ − x‖∞ ≤ ε and
 * [0, 1] — and the optimiser steps on the cross-entropy of those (the
 * paper's "Adv. training", SuppMat 6.16–6.17). The inner maximisation stays
 * on the device: no reads until the batch's loss.
 */
import { tf } from '../tensor/index.js';
import type { Classifier } from './classifier.js';
import { ModelInputError } from './autoencoders.js';
import { evaluateModelLoss, modelWeights, trainLoop } from './train.js';
import type { TrainOptions, TrainResult } from './types.js';

export interface AdversarialTrainingOptions {
  method: 'pgd';
  /** L∞ radius ε in (0, 1]. */
  epsilon: number;
  /** PGD steps per batch; default 7 (Madry et al.'s CIFAR setting). */
  steps?: number;
  /** α; default 2.5·ε/steps (the steps together cover 2.5ε, as for the PGD attack). */
  stepSize?: number;
}

export const ADVERSARIAL_TRAINING_STEPS = 7;

/** The options with defaults filled in, or a ModelInputError naming the bad field. */
export function adversarialTrainingConfig(o: AdversarialTrainingOptions): Required<AdversarialTrainingOptions> {
  if (o.method !== 'pgd') throw new ModelInputError(`adversarial training supports pgd, not ${JSON.stringify(o.method)}`, 'adversarial.method');
  if (!(o.epsilon > 0 && o.epsilon <= 1)) throw new ModelInputError(`epsilon must be in (0, 1], got ${o.epsilon}`, 'adversarial.epsilon');
  const steps = o.steps ?? ADVERSARIAL_TRAINING_STEPS;
  if (!Number.isInteger(steps) || steps < 1 || steps > 1000) throw new ModelInputError(`steps must be an integer in [1, 1000], got ${steps}`, 'adversarial.steps');
  const stepSize = o.stepSize ?? (2.5 * o.epsilon) / steps;
  if (!(stepSize > 0)) throw new ModelInputError(`stepSize must be > 0, got ${stepSize}`, 'adversarial.stepSize');
  return { method: 'pgd', epsilon: o.epsilon, steps, stepSize };
}

/**
 * PGD examples of (x, one-hot y) that maximise the classifier's cross-entropy;
 * `seed` fixes the random start. Differentiates with respect to the input only.
 */
export function pgdExamples(clf: Classifier, x: tf.Tensor, yOneHot: tf.Tensor, o: Required<AdversarialTrainingOptions>, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const lower = tf.maximum(tf.sub(x, o.epsilon), 0);
    const upper = tf.minimum(tf.add(x, o.epsilon), 1);
    let xa = tf.clipByValue(tf.add(x, tf.randomUniform(x.shape, -o.epsilon, o.epsilon, 'float32', seed)), 0, 1);
    const lossOf = (v: tf.Tensor) => tf.losses.softmaxCrossEntropy(yOneHot, clf.logits(v)) as tf.Scalar;
    for (let s = 0; s < o.steps; s++) {
      const g = tf.grad(lossOf)(xa);
      xa = tf.minimum(tf.maximum(tf.add(xa, tf.mul(tf.sign(g), o.stepSize)), lower), upper);
    }
    return xa;
  });
}

/**
 * Trains `clf` in place on the PGD examples of (x, labels), as trainClassifier
 * trains on x: the same loop (seeded shuffle, validation on clean data, early
 * stopping, abort). A batch's random start derives from (seed, step).
 */
export async function trainClassifierAdversarially(
  clf: Classifier,
  x: tf.Tensor,
  labels: Int32Array,
  adversarial: AdversarialTrainingOptions,
  opts: TrainOptions = {},
): Promise<TrainResult> {
  const o = adversarialTrainingConfig(adversarial);
  if (labels.length !== x.shape[0]) throw new Error(`${x.shape[0]} samples but ${labels.length} labels`);
  const bad = labels.findIndex((l) => !(l >= 0 && l < clf.classes));
  if (bad >= 0) throw new Error(`label ${labels[bad]} at row ${bad} is outside [0, ${clf.classes})`);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), clf.classes).toFloat());
  try {
    return await trainLoop(
      x,
      y,
      opts,
      async (bx, by, ctx) => {
        const xa = pgdExamples(clf, bx, by!, o, ctx.seed * 1_000_003 + ctx.step);
        try {
          const loss = await clf.model.trainOnBatch(xa, by!);
          return Array.isArray(loss) ? loss[0]! : loss;
        } finally {
          xa.dispose();
        }
      },
      (xv, yv, bs) => evaluateModelLoss(clf.model, xv, yv, bs),
      modelWeights(clf.model),
    );
  } finally {
    y.dispose();
  }
}
