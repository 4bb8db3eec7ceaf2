/**
 * The feature network of FID and KID (fid.ts). The paper takes Inception's
 * pool features (Tables 2 and 8); Inception's weights cannot be fetched
 * here, so a small MLP classifier is trained on the run's own dataset
 * (libs/models createClassifier: one hidden ReLU layer) and its penultimate
 * layer, the hidden activations, gives the features. It is saved as a model
 * folder (model.json + weights.bin, with what it was trained on and its test
 * accuracy in the metadata), so a later run can take the same network
 * (`--feature-model DIR`) and its distances stay comparable.
 *
 * The network takes flat samples ([d]), whatever shape the autoencoder
 * reads, so one network serves every model kind of a dataset.
 */
import { tf } from '../tensor/index.js';
import { createClassifier, loadClassifier, saveClassifier, trainClassifier, type Classifier } from '../models/index.js';
import type { Dataset } from '../data/index.js';

export const FEATURE_MODEL_DEFAULTS = { hidden: 128, epochs: 20, batchSize: 100, seed: 0 } as const;

export interface FeatureModelOptions {
  /** Hidden (feature) width (default 128). */
  hidden?: number;
  /** Training epochs (default 20). */
  epochs?: number;
  batchSize?: number;
  seed?: number;
}

/** What a feature network is: recorded in metrics.json (`feature_model`) and saved with the weights. */
export interface FeatureModelRecord {
  /** The folder it was saved to or loaded from. */
  path?: string;
  /** e.g. "mlp 784-128-10, features: the 128 ReLU units of the hidden layer". */
  architecture: string;
  /** Values per (flat) sample it takes. */
  input_size: number;
  /** Feature dimension d of FID/KID. */
  features: number;
  classes: number;
  dataset: string;
  train_samples: number;
  epochs: number;
  seed: number;
  /** Accuracy on the dataset's test split (null without test labels). */
  test_accuracy: number | null;
}

export interface FeatureModel {
  classifier: Classifier;
  record: FeatureModelRecord;
}

function architecture(d: number, hidden: number, classes: number): string {
  return `mlp ${d}-${hidden}-${classes} (ReLU, softmax cross-entropy, Adam), features: the ${hidden} ReLU units of the hidden layer`;
}

/**
 * Trains the feature network on the dataset's (full) training split and
 * scores it on the test split. Needs labels.
 */
export async function trainFeatureModel(ds: Pick<Dataset, 'name' | 'inputShape' | 'train' | 'test' | 'fullTrain'>, opts: FeatureModelOptions = {}): Promise<FeatureModel> {
  const train = ds.fullTrain ?? ds.train;
  if (!train.labels) throw new Error(`trainFeatureModel: ${ds.name} has no training labels; give a saved feature network instead (--feature-model DIR)`);
  const hidden = opts.hidden ?? FEATURE_MODEL_DEFAULTS.hidden;
  const epochs = opts.epochs ?? FEATURE_MODEL_DEFAULTS.epochs;
  const seed = opts.seed ?? FEATURE_MODEL_DEFAULTS.seed;
  if (!Number.isInteger(hidden) || hidden < 1) throw new Error(`trainFeatureModel: hidden must be a positive integer (the feature width), got ${hidden}`);
  const d = ds.inputShape.reduce((a, b) => a * b, 1);
  const testLabels = ds.test.labels;
  let classes = 0;
  for (const l of [...train.labels, ...(testLabels ?? [])]) classes = Math.max(classes, l + 1);
  const classifier = createClassifier([d], classes, { hidden, seed });
  try {
    const x = tf.tensor2d(train.x, [train.n, d]);
    try {
      await trainClassifier(classifier, x, train.labels, { epochs, batchSize: opts.batchSize ?? FEATURE_MODEL_DEFAULTS.batchSize, seed });
    } finally {
      x.dispose();
    }
    let testAccuracy: number | null = null;
    if (testLabels && ds.test.n > 0) {
      const xt = tf.tensor2d(ds.test.x, [ds.test.n, d]);
      try {
        testAccuracy = await classifier.accuracy(xt, testLabels);
      } finally {
        xt.dispose();
      }
    }
    return {
      classifier,
      record: { architecture: architecture(d, hidden, classes), input_size: d, features: hidden, classes, dataset: ds.name, train_samples: train.n, epochs, seed, test_accuracy: testAccuracy },
    };
  } catch (e) {
    classifier.dispose();
    throw e;
  }
}

/** Saves the network and its record to `dir`; the record's path becomes `dir`. */
export async function saveFeatureModel(model: FeatureModel, dir: string): Promise<void> {
  const { path: _p, ...record } = model.record;
  await saveClassifier(model.classifier, dir, { feature_model: record });
  model.record = { path: dir, ...record };
}

const RECORD_KEYS = ['architecture', 'input_size', 'features', 'classes', 'dataset', 'train_samples', 'epochs', 'seed', 'test_accuracy'] as const;

/** A feature network saved by `saveFeatureModel` (a run's feature-model/ folder). */
export async function loadFeatureModel(dir: string): Promise<FeatureModel> {
  const { classifier, info } = await loadClassifier(dir);
  const saved = info['feature_model'] as Partial<FeatureModelRecord> | undefined;
  const missing = RECORD_KEYS.filter((k) => saved?.[k] === undefined);
  if (missing.length > 0) {
    classifier.dispose();
    throw new Error(`${dir}: a classifier, but not a saved feature network (its metadata lacks ${missing.join(', ')})`);
  }
  return { classifier, record: { path: dir, ...(Object.fromEntries(RECORD_KEYS.map((k) => [k, saved![k]])) as Omit<FeatureModelRecord, 'path'>) } };
}

/**
 * Features (rows × record.features) of `x` (rows × input_size, flat), in
 * batches. Reads asynchronously: webgpu has no synchronous read, and on a GPU
 * a sync read stalls the queue.
 */
export async function extractFeatures(model: FeatureModel, x: Float32Array, batchSize = 256): Promise<Float32Array> {
  const d = model.record.input_size;
  if (x.length % d !== 0) throw new Error(`extractFeatures: ${x.length} values are not rows of the feature network's ${d} inputs`);
  const n = x.length / d;
  const width = model.record.features;
  const out = new Float32Array(n * width);
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const f = tf.tidy(() => model.classifier.features(tf.tensor2d(x.subarray(start * d, end * d), [end - start, d])));
    try {
      if (f.shape[1] !== width) throw new Error(`extractFeatures: the network gives ${f.shape[1]} features, its record says ${width}`);
      out.set(await f.data(), start * width);
    } finally {
      f.dispose();
    }
  }
  return out;
}
