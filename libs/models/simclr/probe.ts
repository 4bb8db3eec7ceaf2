/**
 * The linear probe of SimCLR's evaluation (Chen et al. 2020, Section 4.2; the
 * paper's Table 7): logistic regression on frozen features, i.e.
 * createClassifier with hidden 0 (one dense layer → softmax cross-entropy,
 * Adam) trained on the training split's features and scored on the test split's.
 */
import { tf } from '../../tensor/index.js';
import { ModelInputError } from '../autoencoders.js';
import { createClassifier, trainClassifier } from '../classifier.js';
import type { EpochReport } from '../types.js';

export const LINEAR_PROBE_DEFAULTS = { epochs: 100, batchSize: 256, learningRate: 1e-3, seed: 0, standardize: true } as const;

export interface LinearProbeOptions {
  /** Default: 1 + the largest label of either split. */
  classes?: number;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Initialiser and shuffle seed. */
  seed?: number;
  /**
   * Scale every feature to zero mean and unit variance with the training
   * split's statistics (applied to both splits) before the regression; default
   * true (an affine map of the inputs: the same model class, better conditioned for Adam).
   */
  standardize?: boolean;
  onEpoch?: (e: EpochReport) => void;
  signal?: AbortSignal;
}

export interface LinearProbeResult {
  /** Share of test rows classified right. */
  accuracy: number;
  trainAccuracy: number;
  history: EpochReport[];
}

/** Logistic regression on frozen features [N, d] (train) and [M, d] (test); neither tensor is disposed. */
export async function linearProbe(
  trainFeatures: tf.Tensor2D,
  trainLabels: Int32Array,
  testFeatures: tf.Tensor2D,
  testLabels: Int32Array,
  opts: LinearProbeOptions = {},
): Promise<LinearProbeResult> {
  if (trainFeatures.rank !== 2 || testFeatures.rank !== 2 || trainFeatures.shape[1] !== testFeatures.shape[1]) {
    throw new ModelInputError(`the probe needs features [N, d] and [M, d], got [${trainFeatures.shape.join(', ')}] and [${testFeatures.shape.join(', ')}]`, 'features');
  }
  if (trainLabels.length !== trainFeatures.shape[0]) throw new ModelInputError(`${trainFeatures.shape[0]} training rows but ${trainLabels.length} labels`, 'labels');
  if (testLabels.length !== testFeatures.shape[0]) throw new ModelInputError(`${testFeatures.shape[0]} test rows but ${testLabels.length} labels`, 'testLabels');
  const o = { ...LINEAR_PROBE_DEFAULTS, ...opts };
  let maxLabel = 0;
  for (const l of [...trainLabels, ...testLabels]) maxLabel = Math.max(maxLabel, l);
  const classes = opts.classes ?? Math.max(2, maxLabel + 1);
  const [xTrain, xTest] = tf.tidy(() => {
    if (!o.standardize) return [trainFeatures.clone(), testFeatures.clone()];
    const { mean, variance } = tf.moments(trainFeatures, 0, true);
    const scale = tf.rsqrt(tf.add(variance, 1e-8));
    return [tf.mul(tf.sub(trainFeatures, mean), scale), tf.mul(tf.sub(testFeatures, mean), scale)];
  });
  const clf = createClassifier([trainFeatures.shape[1]], classes, { hidden: 0, seed: o.seed, learningRate: o.learningRate });
  try {
    const { history } = await trainClassifier(clf, xTrain, trainLabels, {
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      ...(o.onEpoch ? { onEpoch: o.onEpoch } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return { accuracy: await clf.accuracy(xTest, testLabels), trainAccuracy: await clf.accuracy(xTrain, trainLabels), history };
  } finally {
    clf.dispose();
    tf.dispose([xTrain, xTest]);
  }
}
