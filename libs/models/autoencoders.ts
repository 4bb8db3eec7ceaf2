/**
 * The reference autoencoders of ALGORITHMS.md §6 as tfjs-layers models.
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
 */
import { tf } from '../tensor/index.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng, STREAM } from '../tensor/rng.js';
import { KerasAdadelta } from './adadelta.js';
import type { Autoencoder, AutoencoderKind, CreateAutoencoderOptions } from './types.js';
import { AUTOENCODER_KINDS } from './types.js';

export const DENSE_AE_HIDDEN = 128;
export const DENSE_AE_LEARNING_RATE = 0.0025;
export const CONV_AE_ADADELTA = { learningRate: 1.0, rho: 0.95, epsilon: 1e-7 } as const;

/** Glorot-uniform (Keras' default) with a per-layer seed derived from the model seed. */
export function kernelInitializer(seed: number | undefined, layer: number) {
  return tfl.initializers.glorotUniform(seed === undefined ? {} : { seed: new Rng(seed, STREAM.modelInit, layer).nextU32() });
}

function checkShape(inputShape: number[]): void {
  if (inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`inputShape must be a non-empty list of positive integers, got [${inputShape.join(', ')}]`);
  }
}

export function buildDenseAE(inputShape: number[], opts: CreateAutoencoderOptions = {}): tfl.Sequential {
  checkShape(inputShape);
  const hidden = opts.hidden ?? DENSE_AE_HIDDEN;
  const d = inputShape.reduce((a, b) => a * b, 1);
  const flat = inputShape.length === 1;
  const m = tfl.sequential({ name: 'dense_ae' });
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
    throw new Error(`conv-ae needs an [H, W, C] inputShape, got [${inputShape.join(', ')}]`);
  }
  const [h, w, c] = inputShape as [number, number, number];
  if (h % 4 !== 0 || w % 4 !== 0) {
    throw new Error(`conv-ae needs H and W divisible by 4 (two 2× poolings), got ${h}×${w}`);
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

/** Compiles `model` with the reference loss and optimizer of `kind`; returns the optimizer (caller owns it). */
export function compileAutoencoder(kind: AutoencoderKind, model: tfl.LayersModel): tf.Optimizer {
  const optimizer =
    kind === 'dense-ae'
      ? tf.train.rmsprop(DENSE_AE_LEARNING_RATE)
      : new KerasAdadelta(CONV_AE_ADADELTA.learningRate, CONV_AE_ADADELTA.rho, CONV_AE_ADADELTA.epsilon);
  model.compile({ optimizer, loss: kind === 'dense-ae' ? 'meanSquaredError' : 'binaryCrossentropy' });
  return optimizer;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** An Autoencoder around a compiled tfjs-layers model. */
export class LayersAutoencoder implements Autoencoder {
  readonly inputShape: number[];
  readonly firstConv?: (x: tf.Tensor4D) => tf.Tensor4D;
  private disposed = false;

  constructor(
    readonly kind: AutoencoderKind,
    inputShape: number[],
    readonly model: tfl.LayersModel,
    private readonly optimizer: tf.Optimizer,
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
  }

  private checkInput(x: tf.Tensor): void {
    if (this.disposed) throw new Error(`${this.kind} has been disposed`);
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

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    this.optimizer.dispose();
  }
}

/** A fresh, compiled reference autoencoder. */
export function createAutoencoder(
  kind: AutoencoderKind,
  inputShape: number[],
  opts: CreateAutoencoderOptions = {},
): LayersAutoencoder {
  let model: tfl.Sequential;
  if (kind === 'dense-ae') model = buildDenseAE(inputShape, opts);
  else if (kind === 'conv-ae') model = buildConvAE(inputShape, opts);
  else throw new Error(`unknown autoencoder kind "${kind as string}"; expected one of ${AUTOENCODER_KINDS.join(', ')}`);
  const optimizer = compileAutoencoder(kind, model);
  return new LayersAutoencoder(kind, inputShape, model, optimizer);
}
