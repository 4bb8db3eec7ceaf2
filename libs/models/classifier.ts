/**
 * Classifiers: a small MLP (the downstream-accuracy probe of the augmentation
 * pipeline, on latent codes or selected features, the paper's Sections 4.4–4.5)
 * and the conv classifiers of the MINE/CW literature (Section 4.3, Table 3) —
 * both targets of supervised (Carlini–Wagner, PGD) attacks. Their layers model
 * outputs logits; training minimises softmax cross-entropy with Adam.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../tensor/index.js';
import { kernelInitializer, ModelInputError } from './autoencoders.js';
import { trainModel } from './train.js';
import type { TrainOptions, TrainResult } from './types.js';

export type ClassifierKind = 'mlp-classifier' | 'cnn-classifier';
export const CLASSIFIER_KINDS: readonly ClassifierKind[] = ['mlp-classifier', 'cnn-classifier'];

/**
 * The conv classifiers' two layouts (Carlini & Wagner's MNIST and CIFAR
 * models, without dropout): 3×3 valid convs `convs[0]`, `convs[0]`, 2×2 max-pool,
 * `convs[1]`, `convs[1]`, 2×2 max-pool, two ReLU dense layers of `dense` units, logits.
 */
export const CNN_ARCHITECTURES = {
  mnist: { convs: [32, 64], dense: 200 },
  cifar: { convs: [64, 128], dense: 256 },
} as const;
export type CnnArchitecture = keyof typeof CNN_ARCHITECTURES;

export interface ClassifierOptions {
  /** Default mlp-classifier. */
  kind?: ClassifierKind;
  /** mlp-classifier: hidden width (one ReLU layer); 0 for a linear (logistic-regression) probe. Default 128. */
  hidden?: number;
  /** cnn-classifier: the layout; default `cifar` for 3-channel inputs, else `mnist`. */
  architecture?: CnnArchitecture;
  seed?: number;
  learningRate?: number;
}

export class Classifier {
  /** cnn-classifier: the first conv layer's output incl. its ReLU [B,H',W',F] (the MINE conv sampler's features). */
  readonly firstConv?: (x: tf.Tensor4D) => tf.Tensor4D;
  private disposed = false;

  constructor(
    readonly inputShape: number[],
    readonly classes: number,
    readonly model: tfl.LayersModel,
    private readonly optimizer: tf.Optimizer,
    readonly kind: ClassifierKind = 'mlp-classifier',
  ) {
    if (!CLASSIFIER_KINDS.includes(kind)) throw new Error(`unknown classifier kind "${kind}"`);
    if (kind === 'cnn-classifier') {
      const conv1 = model.layers[0]!;
      if (conv1.getClassName() !== 'Conv2D') throw new Error(`cnn-classifier: first layer is ${conv1.getClassName()}, not Conv2D`);
      this.firstConv = (x: tf.Tensor4D): tf.Tensor4D => tf.tidy(() => conv1.apply(x) as tf.Tensor4D);
    }
  }

  /** Logits [B, classes], differentiable (inference behaviour). */
  logits(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.model.apply(x, { training: false }) as tf.Tensor2D);
  }

  /**
   * The training objective per sample: softmax cross-entropy of the logits
   * against `labels` (one class index per sample, as the cw criterion takes
   * them); its batch mean is the compiled loss. Labels are required.
   */
  perSampleLoss(x: tf.Tensor, labels?: Int32Array): tf.Tensor1D {
    const b = x.shape[0]!;
    if (labels?.length !== b) throw new ModelInputError(`the ${this.kind}'s loss needs one label per sample (${b}), got ${labels?.length ?? 0}`, 'labels');
    const bad = labels.findIndex((l) => !(l >= 0 && l < this.classes));
    if (bad >= 0) throw new ModelInputError(`label ${labels[bad]} of sample ${bad} is outside [0, ${this.classes})`, 'labels');
    return tf.tidy(() => {
      const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), this.classes);
      return tf.losses.softmaxCrossEntropy(onehot, this.logits(x), undefined, 0, tf.Reduction.NONE) as tf.Tensor1D;
    });
  }

  /**
   * Penultimate-layer activations [B, width]: the hidden ReLU layer (a
   * linear probe's is its flattened input). The feature network of FID/KID
   * (libs/eval/feature-model.ts).
   */
  features(x: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x;
      for (const layer of this.model.layers.slice(0, -1)) h = layer.apply(h, { training: false }) as tf.Tensor;
      return tf.reshape(h, [x.shape[0]!, -1]) as tf.Tensor2D;
    });
  }

  async predict(x: tf.Tensor): Promise<Int32Array> {
    const classes = tf.tidy(() => tf.argMax(this.logits(x), 1));
    try {
      return (await classes.data()) as Int32Array;
    } finally {
      classes.dispose();
    }
  }

  /** Share of rows whose predicted class equals the label. */
  async accuracy(x: tf.Tensor, labels: Int32Array): Promise<number> {
    if (labels.length !== x.shape[0]) throw new Error(`${x.shape[0]} samples but ${labels.length} labels`);
    const predicted = await this.predict(x);
    let right = 0;
    predicted.forEach((p, i) => (right += p === labels[i] ? 1 : 0));
    return labels.length === 0 ? 0 : right / labels.length;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    this.optimizer.dispose();
  }
}

export function createClassifier(inputShape: number[], classes: number, opts: ClassifierOptions = {}): Classifier {
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`classes must be an integer ≥ 2, got ${classes}`);
  const kind = opts.kind ?? 'mlp-classifier';
  if (kind === 'cnn-classifier') return compileClassifier(buildCnnClassifier(inputShape, classes, opts), inputShape, classes, opts.learningRate, kind);
  if (!CLASSIFIER_KINDS.includes(kind)) throw new ModelInputError(`unknown classifier kind "${kind}" (one of ${CLASSIFIER_KINDS.join(', ')})`, 'kind');
  const hidden = opts.hidden ?? 128;
  const init = (layer: number) => kernelInitializer(opts.seed, layer);
  const layers: tfl.layers.Layer[] = [];
  // Only the first layer carries the input shape; vectors need no Flatten.
  let input: { inputShape?: number[] } = { inputShape };
  if (inputShape.length > 1) {
    layers.push(tfl.layers.flatten({ inputShape }));
    input = {};
  }
  if (hidden > 0) {
    layers.push(tfl.layers.dense({ units: hidden, activation: 'relu', kernelInitializer: init(0), ...input }));
    input = {};
  }
  layers.push(tfl.layers.dense({ units: classes, kernelInitializer: init(1), ...input }));
  return compileClassifier(tfl.sequential({ layers }), inputShape, classes, opts.learningRate);
}

/** The conv classifier's layers (CNN_ARCHITECTURES) for [H, W, C] images. */
export function buildCnnClassifier(inputShape: number[], classes: number, opts: ClassifierOptions = {}): tfl.Sequential {
  if (inputShape.length !== 3) throw new ModelInputError(`cnn-classifier needs image inputs [H, W, C], got [${inputShape.join(', ')}]`, 'inputShape');
  const architecture = opts.architecture ?? (inputShape[2] === 3 ? 'cifar' : 'mnist');
  const arch = CNN_ARCHITECTURES[architecture];
  if (!arch) throw new ModelInputError(`unknown cnn architecture "${architecture}" (one of ${Object.keys(CNN_ARCHITECTURES).join(', ')})`, 'architecture');
  // Two valid 3×3 convs and a 2×2 pool per stage: each stage maps s → ⌊(s − 4)/2⌋.
  const smallest = Math.min(inputShape[0]!, inputShape[1]!);
  if (Math.floor((Math.floor((smallest - 4) / 2) - 4) / 2) < 1) throw new ModelInputError(`cnn-classifier needs images of at least 16×16, got ${inputShape[0]}×${inputShape[1]}`, 'inputShape');
  let layer = 0;
  const init = () => kernelInitializer(opts.seed, layer++);
  const conv = (filters: number, first = false) =>
    tfl.layers.conv2d({ filters, kernelSize: 3, activation: 'relu', kernelInitializer: init(), ...(first ? { inputShape } : {}) });
  const [c1, c2] = arch.convs;
  return tfl.sequential({
    layers: [
      conv(c1, true),
      conv(c1),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      conv(c2),
      conv(c2),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: arch.dense, activation: 'relu', kernelInitializer: init() }),
      tfl.layers.dense({ units: arch.dense, activation: 'relu', kernelInitializer: init() }),
      tfl.layers.dense({ units: classes, kernelInitializer: init() }),
    ],
  });
}

/** Wraps a layers model that outputs logits (built above, or loaded: io.ts loadClassifier), compiled with softmax cross-entropy and Adam. */
export function compileClassifier(model: tfl.LayersModel, inputShape: number[], classes: number, learningRate = 1e-3, kind: ClassifierKind = 'mlp-classifier'): Classifier {
  const optimizer = tf.train.adam(learningRate);
  model.compile({
    optimizer,
    loss: (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, logits),
  });
  return new Classifier(inputShape, classes, model, optimizer, kind);
}

/** Trains on (x [N, ...inputShape], integer labels in [0, classes)). */
export async function trainClassifier(clf: Classifier, x: tf.Tensor, labels: Int32Array, opts: TrainOptions = {}): Promise<TrainResult> {
  if (labels.length !== x.shape[0]) throw new Error(`${x.shape[0]} samples but ${labels.length} labels`);
  const bad = labels.findIndex((l) => !(l >= 0 && l < clf.classes));
  if (bad >= 0) throw new Error(`label ${labels[bad]} at row ${bad} is outside [0, ${clf.classes})`);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), clf.classes).toFloat());
  try {
    return await trainModel(clf.model, x, y, opts);
  } finally {
    y.dispose();
  }
}
