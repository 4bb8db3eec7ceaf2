/**
 * The one interface every reference autoencoder (ALGORITHMS.md §6) offers to the
 * attack, the trainer and the services.
 */
import type { tf } from '../tensor/index.js';
import type * as tfl from '@tensorflow/tfjs-layers';

export type AutoencoderKind = 'dense-ae' | 'conv-ae';
export const AUTOENCODER_KINDS: readonly AutoencoderKind[] = ['dense-ae', 'conv-ae'];

export interface Autoencoder {
  readonly kind: AutoencoderKind;
  /** Per sample, e.g. [28, 28, 1] or [784]. Inputs are [B, ...inputShape]. */
  readonly inputShape: number[];
  /** The underlying tfjs-layers model, compiled with the reference loss and optimizer. */
  readonly model: tfl.LayersModel;
  /** Differentiable forward pass on a batch [B, ...inputShape] (inference behaviour). */
  reconstruct(x: tf.Tensor): tf.Tensor;
  /** Per-sample ||x − AE(x)||², summed over all elements of a sample: shape [B] (differentiable). */
  perSampleSquaredError(x: tf.Tensor): tf.Tensor1D;
  /** The first conv layer's output including its activation, [B, H', W', F]; only on conv models. */
  firstConv?(x: tf.Tensor4D): tf.Tensor4D;
  /** Frees the model's weights and its optimizer state. */
  dispose(): void;
}

export interface CreateAutoencoderOptions {
  /**
   * Seed for the Glorot-uniform kernel initialisers (each layer gets its own
   * seed derived from this one). Omitted: unseeded (tfjs' Math.random-based) init.
   */
  seed?: number;
  /** Dense AE: width of the hidden layer (default 128; the reference uses 256 for SVHN). */
  hidden?: number;
}

/** Everything needed to rebuild an autoencoder; structured-clonable (worker threads). */
export interface AutoencoderArtifacts {
  kind: AutoencoderKind;
  inputShape: number[];
  /** The layers-model topology (model.toJSON()), as in model.json's `modelTopology`. */
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

export interface EpochReport {
  /** 0-based epoch index. */
  epoch: number;
  /** Mean training loss over the epoch's samples (the model's compiled loss). */
  loss: number;
  /** Loss on the validation split, when there is one. */
  valLoss?: number;
  /** Training samples processed per second of wall time in this epoch. */
  samplesPerSec: number;
}

export interface TrainOptions {
  /** Default 20 (the reference). */
  epochs?: number;
  /** Default 100 (the reference). */
  batchSize?: number;
  /** Seed for the per-epoch shuffle. Default 0. */
  seed?: number;
  /**
   * Fraction in (0, 1) of the samples held out for validation, taken from the
   * end of `x` before shuffling (as Keras does). Default: none.
   */
  validationSplit?: number;
  /**
   * Stop when the monitored loss (valLoss when there is a validation split,
   * else the training loss) has not improved by more than `minDelta` for
   * `patience` consecutive epochs (Keras semantics). Weights are those of the
   * last epoch run (Keras' default, no restore of the best weights).
   */
  earlyStopping?: { patience: number; minDelta?: number };
  /** Called after every epoch. */
  onEpoch?: (e: EpochReport) => void;
  /** Checked between batches; aborting rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface TrainResult {
  history: EpochReport[];
  /** True when early stopping ended training before `epochs`. */
  stoppedEarly: boolean;
}
