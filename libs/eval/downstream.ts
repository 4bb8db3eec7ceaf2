/**
 * Downstream accuracy (the paper's Sections 4.4–4.5): a small classifier trained on the
 * autoencoder's latent code (the concrete AE's code is its k selected
 * features) of the training split, scored on the test split's codes. The same
 * classifier seed and schedule are used for every model of a run, so accuracy
 * differences come from the representations.
 */
import { tf } from '../tensor/index.js';
import { createClassifier, trainClassifier, type Autoencoder } from '../models/index.js';

export interface DownstreamOptions {
  /** Classifier training epochs (default 50). */
  epochs?: number;
  /** Hidden width of the MLP probe (default 64; 0 = logistic regression). */
  hidden?: number;
  batchSize?: number;
  seed?: number;
}

export interface LabelledSplit {
  x: Float32Array;
  labels: Int32Array;
}

/** Latent codes [n, m] of `data`, computed in batches. */
export function encodeAll(ae: Autoencoder, data: Float32Array, batchSize = 256): tf.Tensor2D {
  const d = ae.inputShape.reduce((a, b) => a * b, 1);
  const n = data.length / d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`data length ${data.length} is not a positive multiple of ${d}`);
  const parts: tf.Tensor2D[] = [];
  try {
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      parts.push(tf.tidy(() => ae.encode(tf.tensor(data.subarray(start * d, end * d), [end - start, ...ae.inputShape]))));
    }
    return parts.length === 1 ? parts.pop()! : (tf.concat(parts, 0) as tf.Tensor2D);
  } finally {
    tf.dispose(parts);
  }
}

/** Test accuracy in [0, 1] of a classifier trained on the codes of `train`. */
export async function downstreamAccuracy(
  ae: Autoencoder,
  train: LabelledSplit,
  test: LabelledSplit,
  opts: DownstreamOptions = {},
): Promise<number> {
  const classes = Math.max(...train.labels, ...test.labels) + 1;
  if (!(classes >= 2)) throw new Error('downstream accuracy needs at least two classes');
  const codesTrain = encodeAll(ae, train.x);
  const codesTest = encodeAll(ae, test.x);
  const clf = createClassifier([codesTrain.shape[1]], classes, { hidden: opts.hidden ?? 64, seed: opts.seed ?? 0 });
  try {
    await trainClassifier(clf, codesTrain, train.labels, {
      epochs: opts.epochs ?? 50,
      batchSize: opts.batchSize ?? 32,
      seed: opts.seed ?? 0,
    });
    return await clf.accuracy(codesTest, test.labels);
  } finally {
    clf.dispose();
    tf.dispose([codesTrain, codesTest]);
  }
}
