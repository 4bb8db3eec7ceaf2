/**
 * A --model-dir as the commands that read one see it: an autoencoder
 * (saveAutoencoder), a classifier (saveClassifier, `uae train --model
 * mlp-classifier|cnn-classifier`) or a SimCLR model (saveSimclr, `uae train
 * --model simclr-resnet18|simclr-small`), told apart by the kind in model.json.
 */
import { tf } from '../libs/tensor/index.js';
import {
  DEFAULT_BATCH_SIZE,
  evaluateContrastiveLoss,
  linearProbe,
  loadAutoencoder,
  loadClassifier,
  loadSimclr,
  savedModelFamily,
  type Autoencoder,
  type Classifier,
  type SimclrModel,
} from '../libs/models/index.js';
import type { ModelDataset } from '../libs/augment/index.js';
import { forFlag } from './conventions.js';

export type LoadedModel =
  | { family: 'autoencoder'; model: Autoencoder }
  | { family: 'classifier'; model: Classifier; info: Record<string, unknown> }
  | { family: 'simclr'; model: SimclrModel; info: Record<string, unknown> };

export async function loadModelDir(dir: string): Promise<LoadedModel> {
  return forFlag('--model-dir', dir, async () => {
    const family = await savedModelFamily(dir);
    if (family === 'classifier') {
      const { classifier, info } = await loadClassifier(dir);
      return { family: 'classifier', model: classifier, info };
    }
    if (family === 'simclr') {
      const { model, info } = await loadSimclr(dir);
      return { family: 'simclr', model, info };
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

/** Encoder features h = f(x) [n, featureDim] of the rows of `x` (flat, n × inputShape), in batches; the caller disposes. */
export async function simclrFeatures(model: SimclrModel, x: Float32Array): Promise<tf.Tensor2D> {
  const d = model.inputShape.reduce((a, b) => a * b, 1);
  const n = x.length / d;
  const parts: tf.Tensor2D[] = [];
  try {
    for (let start = 0; start < n; start += SCORE_BATCH) {
      const end = Math.min(n, start + SCORE_BATCH);
      parts.push(tf.tidy(() => model.features(tf.tensor(x.subarray(start * d, end * d), [end - start, ...model.inputShape]))));
      // One batch at a time: let the backend finish it before the next.
      await parts.at(-1)!.data();
    }
    return parts.length === 1 ? parts[0]!.clone() : (tf.concat(parts, 0) as tf.Tensor2D);
  } finally {
    tf.dispose(parts);
  }
}

/** How `uae train` and `uae evaluate` score a SimCLR model. */
export interface SimclrScoreOptions {
  /** Linear-probe epochs (0: no probe). */
  probeEpochs: number;
  /** Batch size of the contrastive test loss (NT-Xent grows with the batch: train and evaluate use the same). */
  lossBatch?: number;
  /** The probe's initialiser and shuffle seed. */
  seed: number;
}

/**
 * A SimCLR model's scores on `ds`: `test_loss`, the mean NT-Xent of the test
 * split (evaluateContrastiveLoss at `lossBatch`), and, for labelled data and
 * probeEpochs > 0, the linear probe on frozen features (trained on the
 * training split, scored on the test split): `accuracy` (test) and
 * `train_accuracy`; null without labels or probe.
 */
export async function simclrScores(model: SimclrModel, ds: ModelDataset, o: SimclrScoreOptions): Promise<{ test_loss: number; loss_batch: number; accuracy: number | null; train_accuracy: number | null; probe_epochs: number }> {
  const lossBatch = o.lossBatch ?? DEFAULT_BATCH_SIZE;
  const xTest = tf.tensor(ds.test.x, [ds.test.n, ...model.inputShape]);
  let testLoss: number;
  try {
    testLoss = await evaluateContrastiveLoss(model, xTest, { batchSize: lossBatch });
  } finally {
    xTest.dispose();
  }
  const scores = { test_loss: testLoss, loss_batch: lossBatch, accuracy: null as number | null, train_accuracy: null as number | null, probe_epochs: o.probeEpochs };
  if (o.probeEpochs <= 0 || !ds.train.labels || !ds.test.labels) return scores;
  const trainFeatures = await simclrFeatures(model, ds.train.x);
  let testFeatures: tf.Tensor2D | undefined;
  try {
    testFeatures = await simclrFeatures(model, ds.test.x);
    const probe = await linearProbe(trainFeatures, ds.train.labels, testFeatures, ds.test.labels, {
      epochs: o.probeEpochs,
      seed: o.seed,
      ...(ds.classes?.length ? { classes: ds.classes.length } : {}),
    });
    return { ...scores, accuracy: probe.accuracy, train_accuracy: probe.trainAccuracy };
  } finally {
    trainFeatures.dispose();
    testFeatures?.dispose();
  }
}
