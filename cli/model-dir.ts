/**
 * A --model-dir as the commands that read one see it: an autoencoder
 * (saveAutoencoder) or a classifier (saveClassifier, `uae train --model
 * mlp-classifier|cnn-classifier`), told apart by the kind in model.json.
 */
import { tf } from '../libs/tensor/index.js';
import { loadAutoencoder, loadClassifier, savedModelFamily, type Autoencoder, type Classifier } from '../libs/models/index.js';
import { forFlag } from './conventions.js';

export type LoadedModel =
  | { family: 'autoencoder'; model: Autoencoder }
  | { family: 'classifier'; model: Classifier; info: Record<string, unknown> };

export async function loadModelDir(dir: string): Promise<LoadedModel> {
  return forFlag('--model-dir', dir, async () => {
    if ((await savedModelFamily(dir)) === 'classifier') {
      const { classifier, info } = await loadClassifier(dir);
      return { family: 'classifier', model: classifier, info };
    }
    return { family: 'autoencoder', model: await loadAutoencoder(dir) };
  });
}

/** Rows per forward pass when scoring a whole split (a conv classifier's activations on 10 000 images would not fit at once). */
const SCORE_BATCH = 256;

/** Predicted classes of the rows of `x` (flat), in batches. */
export async function classifierPredictions(clf: Classifier, x: Float32Array): Promise<Int32Array> {
  const d = clf.inputShape.reduce((a, b) => a * b, 1);
  const n = x.length / d;
  const out = new Int32Array(n);
  for (let start = 0; start < n; start += SCORE_BATCH) {
    const end = Math.min(n, start + SCORE_BATCH);
    const batch = tf.tensor(x.subarray(start * d, end * d), [end - start, ...clf.inputShape]);
    try {
      out.set(await clf.predict(batch), start);
    } finally {
      batch.dispose();
    }
  }
  return out;
}

/** Share of the rows of `x` (flat, n × inputShape) whose predicted class equals the label. */
export async function classifierAccuracy(clf: Classifier, x: Float32Array, labels: Int32Array): Promise<number> {
  const predicted = await classifierPredictions(clf, x);
  if (predicted.length !== labels.length) throw new Error(`${predicted.length} samples but ${labels.length} labels`);
  let right = 0;
  predicted.forEach((p, i) => (right += p === labels[i] ? 1 : 0));
  return labels.length === 0 ? 0 : right / labels.length;
}
