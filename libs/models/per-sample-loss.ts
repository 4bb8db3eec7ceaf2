/**
 * Per-sample training losses, the pieces the model kinds share: the `loss`
 * attack criterion (docs/algorithms.md, criteria, f = L(x′) − L(x) + κ) needs each
 * model's own objective as one value per sample, [B], where training
 * reduces it to one value per batch.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../tensor/index.js';

/** Mean over every axis but the first: [B, ...] → [B]. */
export function meanPerSample(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.mean(tf.reshape(t, [t.shape[0]!, -1]), 1) as tf.Tensor1D);
}

/** Sum over every axis but the first: [B, ...] → [B]. */
export function sumPerSample(t: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.reshape(t, [t.shape[0]!, -1]), 1) as tf.Tensor1D);
}

/** The losses our models compile with, by name: tfjs-layers' public metrics of these names are those very loss functions. */
const COMPILED_LOSSES: Record<string, (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor> = {
  meanSquaredError: tfl.metrics.meanSquaredError,
  binaryCrossentropy: tfl.metrics.binaryCrossentropy,
};

function compiledLossOf(model: tfl.LayersModel): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor {
  const loss = model.loss;
  if (typeof loss === 'function') return loss;
  if (typeof loss === 'string' && loss in COMPILED_LOSSES) return COMPILED_LOSSES[loss]!;
  throw new Error(`${model.name}: no per-sample form of its compiled loss ${JSON.stringify(loss ?? null)}`);
}

/**
 * `model`'s compiled loss per sample: its loss function (tfjs-layers' losses
 * take the mean over the last axis) averaged over the sample's other axes.
 * Every sample has as many elements as the next, so the batch mean of this is
 * the mean trainOnBatch and evaluate take — the loss the model is trained on.
 */
export function compiledLossPerSample(model: tfl.LayersModel, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D {
  const lossFn = compiledLossOf(model);
  return tf.tidy(() => {
    const l = lossFn(yTrue, yPred);
    if (l.rank === 0) throw new Error(`${model.name}: its compiled loss reduces the batch to a scalar; no per-sample value`);
    return l.rank === 1 ? (l as tf.Tensor1D) : meanPerSample(l);
  });
}
