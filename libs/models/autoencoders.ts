/**
 * The reference autoencoders of the paper's Sections 4.4–4.5 as tfjs-layers models.
 *
 * - dense-ae: d → hidden (128) sigmoid → d sigmoid; MSE; RMSprop(lr 0.0025).
 *   An inputShape of rank > 1 (e.g. [28, 28, 1]) adds a Flatten in front and a
 *   Reshape behind, which changes nothing numerically.
 * - conv-ae: conv 16@5×5 relu → maxpool 2 → conv 8@5×5 relu → maxpool 2 →
 *   conv 8@5×5 relu → upsample 2 → conv 16@5×5 relu → upsample 2 →
 *   conv C@5×5 sigmoid, all 'same'; binary cross-entropy; Adadelta with the
 *   Keras 2.x defaults (lr 1.0, rho 0.95, epsilon 1e-7). H and W must be
 *   divisible by 4.
 *
 * Kernels use Glorot-uniform, biases zeros (the Keras defaults of the
 * reference); with a seed every layer's initialiser gets its own derived seed.
 *
 * The other kinds (sparse-ae.ts, adversarial-ae.ts, concrete-ae.ts) extend
 * LayersAutoencoder; createAutoencoder for all kinds lives in zoo.ts.
 */
import { tf } from '../tensor/index.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng, STREAM } from '../tensor/rng.js';
import { KerasAdadelta } from './adadelta.js';
import { compiledLossPerSample } from './per-sample-loss.js';
import type { Autoencoder, AutoencoderKind, CreateAutoencoderOptions } from './types.js';
import { AUTOENCODER_KINDS } from './types.js';
import type { Kinded } from '../errors/index.js';

export const DENSE_AE_HIDDEN = 128;
export const DENSE_AE_LEARNING_RATE = 0.0025;
export const CONV_AE_ADADELTA = { learningRate: 1.0, rho: 0.95, epsilon: 1e-7 } as const;

/** Glorot-uniform (Keras' default) with a per-layer seed derived from the model seed. */
export function kernelInitializer(seed: number | undefined, layer: number) {
  return tfl.initializers.glorotUniform(seed === undefined ? {} : { seed: new Rng(seed, STREAM.modelInit, layer).nextU32() });
}

/**
 * A model that cannot be built for the given data or options (a caller's
 * mistake, not a fault): services answer INVALID_ARGUMENT naming `field`.
 */
export class ModelInputError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(
    message: string,
    readonly field = 'model',
  ) {
    super(message);
    this.name = 'ModelInputError';
  }
}

export function checkShape(inputShape: number[]): void {
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new ModelInputError(`inputShape must be a non-empty list of positive integers, got [${inputShape.join(', ')}]`);
  }
}

export function buildDenseAE(inputShape: number[], opts: CreateAutoencoderOptions = {}, name = 'dense_ae'): tfl.Sequential {
  checkShape(inputShape);
  const hidden = opts.hidden ?? DENSE_AE_HIDDEN;
  const d = inputShape.reduce((a, b) => a * b, 1);
  const flat = inputShape.length === 1;
  const m = tfl.sequential({ name });
  if (!flat) m.add(tfl.layers.flatten({ inputShape, name: 'flatten' }));
  m.add(
    tfl.layers.dense({
      ...(flat ? { inputShape } : {}),
      units: hidden,
      activation: 'sigmoid',
      kernelInitializer: kernelInitializer(opts.seed, 0),
      name: 'encoder',
    }),
  );
  m.add(
    tfl.layers.dense({
      units: d,
      activation: 'sigmoid',
      kernelInitializer: kernelInitializer(opts.seed, 1),
      name: 'decoder',
    }),
  );
  if (!flat) m.add(tfl.layers.reshape({ targetShape: inputShape, name: 'reshape' }));
  return m;
}

export function buildConvAE(inputShape: number[], opts: CreateAutoencoderOptions = {}): tfl.Sequential {
  checkShape(inputShape);
  if (inputShape.length !== 3) {
    throw new ModelInputError(`conv-ae needs image data of shape [H, W, C]; got samples of shape [${inputShape.join(', ')}] (use a dense kind for vectors)`);
  }
  const [h, w, c] = inputShape as [number, number, number];
  if (h % 4 !== 0 || w % 4 !== 0) {
    throw new ModelInputError(`conv-ae needs H and W divisible by 4 (two 2× poolings), got ${h}×${w}`);
  }
  let layer = 0;
  const conv = (filters: number, activation: 'relu' | 'sigmoid', name: string, first = false) =>
    tfl.layers.conv2d({
      ...(first ? { inputShape } : {}),
      filters,
      kernelSize: 5,
      padding: 'same',
      activation,
      kernelInitializer: kernelInitializer(opts.seed, layer++),
      name,
    });
  const m = tfl.sequential({ name: 'conv_ae' });
  m.add(conv(16, 'relu', 'conv1', true));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2, padding: 'same', name: 'pool1' }));
  m.add(conv(8, 'relu', 'conv2'));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2, padding: 'same', name: 'pool2' }));
  m.add(conv(8, 'relu', 'conv3'));
  m.add(tfl.layers.upSampling2d({ size: [2, 2], name: 'up1' }));
  m.add(conv(16, 'relu', 'conv4'));
  m.add(tfl.layers.upSampling2d({ size: [2, 2], name: 'up2' }));
  m.add(conv(c, 'sigmoid', 'conv5'));
  return m;
}

/** Adam learning rates of the kinds trained with Adam (Keras' default 1e-3; Makhzani's AAE 1e-4). */
export const ADAM_LEARNING_RATE: Readonly<Record<'sparse-ae' | 'adversarial-ae' | 'concrete-ae', number>> = {
  'sparse-ae': 1e-3,
  'adversarial-ae': 1e-4,
  'concrete-ae': 1e-3,
};

/**
 * Compiles `model` with the reference loss and optimizer of `kind`; returns the
 * optimizer (caller owns it). `learningRate` applies to the Adam kinds only.
 */
export function compileAutoencoder(kind: AutoencoderKind, model: tfl.LayersModel, learningRate?: number): tf.Optimizer {
  let optimizer: tf.Optimizer;
  let loss: string;
  if (kind === 'dense-ae') {
    optimizer = tf.train.rmsprop(DENSE_AE_LEARNING_RATE);
    loss = 'meanSquaredError';
  } else if (kind === 'conv-ae') {
    optimizer = new KerasAdadelta(CONV_AE_ADADELTA.learningRate, CONV_AE_ADADELTA.rho, CONV_AE_ADADELTA.epsilon);
    loss = 'binaryCrossentropy';
  } else if (kind === 'sparse-ae' || kind === 'adversarial-ae' || kind === 'concrete-ae') {
    optimizer = tf.train.adam(learningRate ?? ADAM_LEARNING_RATE[kind]);
    loss = 'meanSquaredError';
  } else {
    throw new Error(`unknown autoencoder kind "${kind as string}"`);
  }
  model.compile({ optimizer, loss });
  return optimizer;
}

/** Applies `layers` in order to an eager tensor. */
export function applyLayers(layers: readonly tfl.layers.Layer[], x: tf.Tensor, training: boolean): tf.Tensor {
  let h = x;
  for (const l of layers) h = l.apply(h, { training }) as tf.Tensor;
  return h;
}

/** The trainable tf.Variables of `layers` (for optimizer.minimize). */
export function trainableVariables(layers: readonly tfl.layers.Layer[]): tf.Variable[] {
  return layers.flatMap((l) => l.trainableWeights.map((w) => w.read() as tf.Variable));
}

/**
 * One optimizer step on `vars` minimising `f()[0]`; returns the values of all
 * the scalars `f` returns (the loss and its parts), read after the step.
 */
export async function minimizeParts(optimizer: tf.Optimizer, vars: tf.Variable[], f: () => tf.Scalar[]): Promise<number[]> {
  let parts: tf.Tensor | undefined;
  optimizer.minimize(
    () => {
      const s = f();
      parts = tf.keep(tf.stack(s));
      return s[0]!;
    },
    false,
    vars,
  );
  try {
    return Array.from(await parts!.data());
  } finally {
    parts?.dispose();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** An Autoencoder around a compiled tfjs-layers model (dense-ae, conv-ae; the base of the other kinds). */
export class LayersAutoencoder implements Autoencoder {
  readonly inputShape: number[];
  readonly firstConv?: (x: tf.Tensor4D) => tf.Tensor4D;
  /** The model's layers that compute `encode` (its output is flattened to [B, m]). */
  protected readonly encoderLayers: tfl.layers.Layer[];
  private disposed = false;

  constructor(
    readonly kind: AutoencoderKind,
    inputShape: number[],
    readonly model: tfl.LayersModel,
    protected readonly optimizer: tf.Optimizer,
  ) {
    if (!AUTOENCODER_KINDS.includes(kind)) throw new Error(`unknown autoencoder kind "${kind}"`);
    this.inputShape = [...inputShape];
    const modelShape = (model.inputs[0]!.shape as (number | null)[]).slice(1);
    if (!sameShape(modelShape as number[], this.inputShape)) {
      throw new Error(`model input [${modelShape.join(', ')}] does not match inputShape [${inputShape.join(', ')}]`);
    }
    if (kind === 'conv-ae') {
      const conv1 = model.layers[0]!;
      if (conv1.getClassName() !== 'Conv2D') throw new Error(`conv-ae: first layer is ${conv1.getClassName()}, not Conv2D`);
      this.firstConv = (x: tf.Tensor4D): tf.Tensor4D => {
        this.checkInput(x);
        return tf.tidy(() => conv1.apply(x) as tf.Tensor4D);
      };
    }
    this.encoderLayers = encoderLayersOf(kind, model);
  }

  protected checkAlive(): void {
    if (this.disposed) throw new Error(`${this.kind} has been disposed`);
  }

  protected checkInput(x: tf.Tensor): void {
    this.checkAlive();
    if (x.rank !== this.inputShape.length + 1 || !sameShape(x.shape.slice(1), this.inputShape)) {
      throw new Error(
        `${this.kind} expects input [B, ${this.inputShape.join(', ')}], got [${x.shape.join(', ')}]`,
      );
    }
  }

  reconstruct(x: tf.Tensor): tf.Tensor {
    this.checkInput(x);
    return tf.tidy(() => this.model.apply(x, { training: false }) as tf.Tensor);
  }

  perSampleSquaredError(x: tf.Tensor): tf.Tensor1D {
    this.checkInput(x);
    return tf.tidy(() => {
      const r = this.reconstruct(x);
      return tf.sum(tf.reshape(tf.squaredDifference(x, r), [x.shape[0]!, -1]), 1) as tf.Tensor1D;
    });
  }

  /**
   * dense-ae / conv-ae: the compiled loss (MSE, binary cross-entropy) of x
   * against AE(x), the mean over the sample's elements; its batch mean is the
   * loss trainOnBatch minimises. The other kinds add their own terms.
   */
  perSampleLoss(x: tf.Tensor): tf.Tensor1D {
    this.checkInput(x);
    return tf.tidy(() => compiledLossPerSample(this.model, x, this.reconstruct(x)));
  }

  encode(x: tf.Tensor): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => tf.reshape(applyLayers(this.encoderLayers, x, false), [x.shape[0]!, -1]) as tf.Tensor2D);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    this.optimizer.dispose();
  }
}

/**
 * The leading layers of `model` that compute the latent code: dense-ae /
 * sparse-ae through the first Dense (the hidden layer); conv-ae up to the
 * first UpSampling2D (the bottleneck, conv3's output); adversarial-ae through
 * the layer named "latent"; concrete-ae through the ConcreteSelect layer.
 */
function encoderLayersOf(kind: AutoencoderKind, model: tfl.LayersModel): tfl.layers.Layer[] {
  const layers = model.layers;
  let end: number;
  if (kind === 'dense-ae' || kind === 'sparse-ae') end = layers.findIndex((l) => l.getClassName() === 'Dense') + 1;
  else if (kind === 'conv-ae') end = layers.findIndex((l) => l.getClassName() === 'UpSampling2D');
  else if (kind === 'adversarial-ae') end = layers.findIndex((l) => l.name === 'latent') + 1;
  else end = layers.findIndex((l) => l.getClassName() === 'ConcreteSelect') + 1;
  if (end <= 0) throw new Error(`${kind}: cannot find the encoder's last layer in the model`);
  return layers.slice(0, end);
}
