/**
 * The one interface every reference autoencoder (the paper's Sections 4.4–4.5) offers to the
 * attack, the trainer and the services.
 */
import type { tf } from '../tensor/index.js';
import type * as tfl from '@tensorflow/tfjs-layers';

export type AutoencoderKind = 'dense-ae' | 'conv-ae' | 'sparse-ae' | 'adversarial-ae' | 'concrete-ae';
export const AUTOENCODER_KINDS: readonly AutoencoderKind[] = ['dense-ae', 'conv-ae', 'sparse-ae', 'adversarial-ae', 'concrete-ae'];

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
  /**
   * The model's own training objective per sample, shape [B] (differentiable;
   * inference behaviour): what the `loss` attack criterion compares
   * (docs/algorithms.md, criteria, f = L(x′) − L(x) + κ). Each kind's definition, and how
   * a batch-level term is split per sample, is in docs/models.md.
   */
  perSampleLoss(x: tf.Tensor): tf.Tensor1D;
  /** The first conv layer's output including its activation, [B, H', W', F]; only on conv models. */
  firstConv?(x: tf.Tensor4D): tf.Tensor4D;
  /**
   * The latent code [B, m] of a batch [B, ...inputShape] (inference behaviour,
   * differentiable): the features of the downstream-accuracy classifier.
   * dense-ae / sparse-ae: the hidden layer; conv-ae: the bottleneck feature map
   * (conv3's output, before the first upsampling) flattened; adversarial-ae: the
   * sigmoid latent; concrete-ae: the selected features x[:, selectedFeatures()].
   */
  encode(x: tf.Tensor): tf.Tensor2D;
  /** concrete-ae: the input feature (flat index) each select node picks, argmax of its logits; k entries. */
  selectedFeatures?(): Promise<number[]>;
  /** concrete-ae: mean over select nodes of the max softmax(logits) probability (Balın's convergence measure). */
  selectionConvergence?(): Promise<number>;
  /**
   * One optimisation step on a batch [b, ...inputShape], for kinds whose
   * training is not `model.trainOnBatch` with the compiled loss (sparse-ae,
   * adversarial-ae, concrete-ae). trainAutoencoder calls it, when present,
   * inside the same loop as trainModel (seeded shuffle, progress, early
   * stopping, abort). `loss` is the reconstruction loss, the quantity the
   * compiled model reports in evaluation.
   */
  trainBatch?(x: tf.Tensor, ctx: TrainStepContext): Promise<TrainStepResult>;
  /** The creation options that rebuilding needs (the kinds other than dense-ae / conv-ae); stored with the model. */
  readonly options?: Readonly<CreateAutoencoderOptions>;
  /** Frees the model's weights and its optimizer state. */
  dispose(): void;
}

export interface CreateAutoencoderOptions {
  /**
   * Seed for the Glorot-uniform kernel initialisers (each layer gets its own
   * seed derived from this one). Omitted: unseeded (tfjs' Math.random-based) init.
   */
  seed?: number;
  /** dense-ae / sparse-ae: width of the hidden layer (default 128; the reference uses 256 for SVHN). */
  hidden?: number;
  /**
   * sparse-ae: KL sparsity target ρ (default 0.1), its weight β (default 3) and
   * the L1 activity penalty on both layers (default 1e-7).
   */
  sparsity?: { target?: number; weight?: number; l1?: number };
  /** adversarial-ae: latent dimension (default 8, Makhzani's MNIST setting). */
  latent?: number;
  /**
   * adversarial-ae: encoder hidden widths (default [1000, 1000]; the decoder
   * mirrors them); concrete-ae: decoder hidden widths (default [320, 320]).
   */
  widths?: number[];
  /** adversarial-ae: discriminator hidden widths (default [1000, 1000]). */
  discriminatorWidths?: number[];
  /** Adam learning rate: sparse-ae 1e-3, adversarial-ae 1e-4, concrete-ae 1e-3 by default. */
  learningRate?: number;
  /** concrete-ae: number of select nodes k (default 50; Mice Protein uses 10). */
  k?: number;
  /**
   * concrete-ae: temperature annealed exponentially from `start` (10) to `end` (0.1) over training.
   * `current`: the temperature the model is at (its last training step's; default `start`),
   * stored with the model so that a loaded model's perSampleLoss relaxes the selection as the
   * trained one does.
   */
  temperature?: { start?: number; end?: number; current?: number };
  /** concrete-ae: dropout rate after each decoder hidden layer (default 0.1). */
  dropout?: number;
}

/** Where a training step is within trainAutoencoder's run. */
export interface TrainStepContext {
  /** 0-based epoch and batch within the epoch. */
  epoch: number;
  batch: number;
  /** 0-based step over the whole run: epoch × batchesPerEpoch + batch. */
  step: number;
  /** Planned epochs (TrainOptions.epochs) and batches per epoch; totalSteps = their product. */
  epochs: number;
  batchesPerEpoch: number;
  totalSteps: number;
  /** TrainOptions.seed: training noise (priors, Gumbel noise, dropout) derives from it and the step. */
  seed: number;
}

export interface TrainStepResult {
  /** The batch's reconstruction loss (mean, the compiled loss). */
  loss: number;
  /** Further per-batch values (loss parts, temperature); EpochReport.metrics holds their epoch means. */
  metrics?: Record<string, number>;
}

/** Everything needed to rebuild an autoencoder; structured-clonable (worker threads). */
export interface AutoencoderArtifacts {
  kind: AutoencoderKind;
  inputShape: number[];
  /** The layers-model topology (model.toJSON()), as in model.json's `modelTopology`. */
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
  /** The creation options (kinds other than dense-ae / conv-ae). */
  options?: CreateAutoencoderOptions;
  /** adversarial-ae: the discriminator, so that a rebuilt model trains on with it. */
  discriminator?: LayersModelArtifacts;
}

/** A tfjs layers model as plain data. */
export interface LayersModelArtifacts {
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
  /** Epoch means of the per-batch metrics of custom training steps (e.g. the AAE's discriminator loss). */
  metrics?: Record<string, number>;
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
   * last epoch run (Keras' default) unless `restoreBest`: then the model ends
   * with the weights of the epoch with the lowest monitored loss (the first
   * such epoch on ties), whether or not training stopped early.
   */
  earlyStopping?: { patience: number; minDelta?: number; restoreBest?: boolean };
  /**
   * A held-out split given explicitly ([M, ...inputShape]; for trainModel with y,
   * `validationLabels` too), instead of `validationSplit`. Not disposed.
   */
  validationData?: tf.Tensor;
  validationLabels?: tf.Tensor;
  /**
   * Stop after this many optimiser steps (batches) in all, even mid-epoch: a
   * retraining scheduled to take the same number of steps as another run.
   * Planned steps (TrainStepContext.totalSteps, e.g. the concrete AE's
   * temperature schedule) are then min(epochs × batchesPerEpoch, maxSteps).
   */
  maxSteps?: number;
  /** Called after every epoch. */
  onEpoch?: (e: EpochReport) => void;
  /** Checked between batches; aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Yield to the event loop (a macrotask) between batches once this many
   * milliseconds passed since the last yield, so a server training in its
   * main thread keeps answering calls, timers and I/O. Default: never (the
   * numbers are the same either way).
   */
  yieldMs?: number;
}

export interface TrainResult {
  history: EpochReport[];
  /** True when early stopping ended training before `epochs`. */
  stoppedEarly: boolean;
  /** Optimiser steps (minibatches) taken. */
  steps: number;
  /** With earlyStopping.restoreBest: the epoch (0-based) whose weights the model ended with. */
  restoredEpoch?: number;
}
