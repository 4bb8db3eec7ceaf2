/**
 * SimCLR (Chen et al. 2020; the paper's Section 4.6, Table 7): a ResNet
 * encoder f (resnet.ts) and a 2-layer projection head g (dense → ReLU →
 * dense, 128 outputs), trained with NT-Xent (nt-xent.ts) on two augmented
 * views (augment.ts) of every image. One layers model with two outputs,
 * [features h = f(x), projection z = g(h)], so it saves and loads as one.
 *
 * Training uses Adam (learning rate 1e-3): SimCLR's LARS matters for its
 * batches of 512–4096 on accelerators; at the batch sizes a CPU runs, Adam is
 * the usual choice.
 *
 * perSampleLoss (the attack's `loss` criterion, f = L(x′) − L(x) + κ) is
 * deterministic and per sample: every sample of every call gets the same two
 * augmentations, drawn once from `augmentSeed` (so x and x′ see the same crop,
 * flip and jitter), made with the differentiable crop; sample b's value is
 * ntXentAgainstBank of its two projections against the projections of a fixed
 * reference bank (M training images, each with its two views drawn once from
 * `augmentSeed`, stored with the model; their projections are recomputed after
 * each training step and cached). Everything runs in inference behaviour
 * (batch norm's moving statistics), so no sample depends on the others.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../tensor/index.js';
import { kernelInitializer, ModelInputError, minimizeParts, trainableVariables } from '../autoencoders.js';
import { DEFAULT_BATCH_SIZE, modelWeights, trainLoop } from '../train.js';
import type { TrainOptions, TrainResult, TrainStepContext, TrainStepResult } from '../types.js';
import {
  applyAugmentation,
  augmentRng,
  drawAugmentParams,
  repeatParams,
  resolveAugmentOptions,
  type AugmentParams,
  type ResolvedAugmentOptions,
  type SimclrAugmentOptions,
} from './augment.js';
import { DEFAULT_TEMPERATURE, ntXent, ntXentAgainstBank } from './nt-xent.js';
import { RESNET_SPECS, resnetEncoder, scaleSpec, type ResnetName } from './resnet.js';

export type SimclrKind = 'simclr-resnet18' | 'simclr-small';
export const SIMCLR_KINDS: readonly SimclrKind[] = ['simclr-resnet18', 'simclr-small'];
const ENCODER_OF: Record<SimclrKind, ResnetName> = { 'simclr-resnet18': 'resnet18', 'simclr-small': 'small' };

export const SIMCLR_DEFAULTS = {
  widthMultiplier: 1,
  projectionDim: 128,
  temperature: DEFAULT_TEMPERATURE,
  augmentSeed: 0,
  learningRate: 1e-3,
  /** Reference images of the per-sample loss that trainSimclr picks from the training data. */
  referenceSize: 32,
} as const;

export interface SimclrOptions {
  /** Scales every encoder width (tests use tiny ones). Default 1. */
  widthMultiplier?: number;
  /** Projection head: hidden width (default: the feature width) and output width (default 128). */
  projectionHidden?: number;
  projectionDim?: number;
  /** NT-Xent temperature τ, default 0.5. */
  temperature?: number;
  /** Kernel initialiser seed; omitted: unseeded. */
  seed?: number;
  /** Seed of the per-sample loss's two fixed augmentations, the reference bank's views and evaluation's views. Default 0. */
  augmentSeed?: number;
  /** Adam learning rate, default 1e-3. */
  learningRate?: number;
  augment?: SimclrAugmentOptions;
}

/** The options a model was built with, all filled in (what is saved). */
export interface ResolvedSimclrOptions {
  widthMultiplier: number;
  projectionHidden: number;
  projectionDim: number;
  temperature: number;
  augmentSeed: number;
  learningRate: number;
  augment: ResolvedAugmentOptions;
  seed?: number;
}

/** Where the per-sample loss's reference images came from. */
export interface ReferenceSource {
  /** e.g. the dataset and split; default 'training data'. */
  source: string;
  /** Their rows in that data, when known. */
  rows?: number[];
}

/** The layers model's output names. */
export const FEATURES_LAYER = 'features';
export const PROJECTION_LAYER = 'projection';

/** Keys of augmentRng below the seed: what each set of views is for. */
const VIEWS = { train: 1, loss: 2, reference: 3, evaluate: 4, pickReference: 5 } as const;

function positiveInt(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 1) throw new ModelInputError(`${field} must be a positive integer, got ${v}`, field);
  return v;
}

function checkInputShape(inputShape: number[]): [number, number, number] {
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new ModelInputError(`SimCLR needs image inputs [H, W, C], got [${inputShape.join(', ')}]`, 'inputShape');
  }
  return inputShape as [number, number, number];
}

/** The two-output layers model [features, projection] of `kind`. */
export function buildSimclrNetwork(kind: SimclrKind, inputShape: number[], o: ResolvedSimclrOptions): tfl.LayersModel {
  checkInputShape(inputShape);
  if (!SIMCLR_KINDS.includes(kind)) throw new ModelInputError(`unknown SimCLR kind "${kind}" (one of ${SIMCLR_KINDS.join(', ')})`, 'kind');
  const spec = scaleSpec(RESNET_SPECS[ENCODER_OF[kind]], o.widthMultiplier);
  const input = tfl.input({ shape: inputShape, name: 'image' });
  const pooled = resnetEncoder(input, spec, o.seed === undefined ? {} : { seed: o.seed });
  const features = tfl.layers.activation({ activation: 'linear', name: FEATURES_LAYER }).apply(pooled) as tfl.SymbolicTensor;
  const hidden = tfl.layers
    .dense({ units: o.projectionHidden, activation: 'relu', kernelInitializer: kernelInitializer(o.seed, 1000), name: 'head_hidden' })
    .apply(features) as tfl.SymbolicTensor;
  const projection = tfl.layers
    .dense({ units: o.projectionDim, kernelInitializer: kernelInitializer(o.seed, 1001), name: PROJECTION_LAYER })
    .apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: [features, projection], name: kind.replace('-', '_') });
}

export function resolveSimclrOptions(kind: SimclrKind, opts: SimclrOptions = {}): ResolvedSimclrOptions {
  if (!SIMCLR_KINDS.includes(kind)) throw new ModelInputError(`unknown SimCLR kind "${kind}" (one of ${SIMCLR_KINDS.join(', ')})`, 'kind');
  const widthMultiplier = opts.widthMultiplier ?? SIMCLR_DEFAULTS.widthMultiplier;
  const spec = scaleSpec(RESNET_SPECS[ENCODER_OF[kind]], widthMultiplier);
  const temperature = opts.temperature ?? SIMCLR_DEFAULTS.temperature;
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new ModelInputError(`temperature must be > 0, got ${temperature}`, 'temperature');
  const learningRate = opts.learningRate ?? SIMCLR_DEFAULTS.learningRate;
  if (!(learningRate > 0)) throw new ModelInputError(`learningRate must be > 0, got ${learningRate}`, 'learningRate');
  const augmentSeed = opts.augmentSeed ?? SIMCLR_DEFAULTS.augmentSeed;
  if (!Number.isInteger(augmentSeed) || augmentSeed < 0) throw new ModelInputError(`augmentSeed must be a non-negative integer, got ${augmentSeed}`, 'augmentSeed');
  return {
    widthMultiplier,
    projectionHidden: positiveInt(opts.projectionHidden ?? spec.widths.at(-1)!, 'projectionHidden'),
    projectionDim: positiveInt(opts.projectionDim ?? SIMCLR_DEFAULTS.projectionDim, 'projectionDim'),
    temperature,
    augmentSeed,
    learningRate,
    augment: resolveAugmentOptions(opts.augment),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
  };
}

export class SimclrModel {
  readonly inputShape: number[];
  /** Width of `features` (the encoder's last stage). */
  readonly featureDim: number;
  private readonly optimizer: tf.Optimizer;
  private disposed = false;
  /** The reference bank: images [M, H, W, C] and their two views stacked [2M, H, W, C]. */
  private refImages?: tf.Tensor4D;
  private refViews?: tf.Tensor4D;
  private refSource?: ReferenceSource;
  /** The bank's projections under the current weights (dropped by every training step). */
  private refProjections?: tf.Tensor2D;
  /** The per-sample loss's two augmentations (one image's parameters each). */
  private readonly lossParams: AugmentParams[];

  constructor(
    readonly kind: SimclrKind,
    inputShape: number[],
    readonly model: tfl.LayersModel,
    readonly options: Readonly<ResolvedSimclrOptions>,
  ) {
    if (!SIMCLR_KINDS.includes(kind)) throw new ModelInputError(`unknown SimCLR kind "${kind}"`, 'kind');
    const [h, w] = checkInputShape(inputShape);
    this.inputShape = [...inputShape];
    const modelShape = (model.inputs[0]!.shape as number[]).slice(1);
    if (modelShape.join() !== this.inputShape.join()) throw new Error(`model input [${modelShape.join(', ')}] does not match inputShape [${inputShape.join(', ')}]`);
    if (model.outputs.length !== 2) throw new Error(`a SimCLR model has two outputs [features, projection], got ${model.outputs.length}`);
    this.featureDim = model.outputs[0]!.shape.at(-1)!;
    this.optimizer = tf.train.adam(options.learningRate);
    this.lossParams = [0, 1].map((v) => drawAugmentParams(1, h, w, augmentRng(options.augmentSeed, VIEWS.loss, v), options.augment));
  }

  private checkInput(x: tf.Tensor): asserts x is tf.Tensor4D {
    if (this.disposed) throw new Error(`${this.kind} has been disposed`);
    if (x.rank !== 4 || x.shape.slice(1).join() !== this.inputShape.join()) {
      throw new ModelInputError(`${this.kind} expects input [B, ${this.inputShape.join(', ')}], got [${x.shape.join(', ')}]`, 'x');
    }
  }

  private outputs(x: tf.Tensor, training = false): [tf.Tensor2D, tf.Tensor2D] {
    return this.model.apply(x, { training }) as [tf.Tensor2D, tf.Tensor2D];
  }

  /** Encoder output h = f(x) [B, featureDim] (inference behaviour, differentiable): the linear probe's input. */
  features(x: tf.Tensor): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => this.outputs(x)[0]);
  }

  /** Projection z = g(f(x)) [B, projectionDim] (inference behaviour, differentiable). */
  project(x: tf.Tensor): tf.Tensor2D {
    this.checkInput(x);
    return tf.tidy(() => this.outputs(x)[1]);
  }

  /** The two views of each image for `rng` keys, stacked [2B, H, W, C]: rows 0…B−1 the first view, B…2B−1 the second. */
  views(x: tf.Tensor4D, seed: number, keys: number[], differentiable = false): tf.Tensor4D {
    const [b, h, w] = x.shape;
    return tf.tidy(() =>
      tf.concat(
        [0, 1].map((v) => applyAugmentation(x, drawAugmentParams(b, h, w, augmentRng(seed, ...keys, v), this.options.augment), differentiable)),
        0,
      ),
    );
  }

  /** The NT-Xent loss of one batch of `x` with views keyed by (seed, keys), in inference behaviour. */
  contrastiveLoss(x: tf.Tensor, seed: number, keys: number[]): tf.Scalar {
    this.checkInput(x);
    return tf.tidy(() => ntXent(this.outputs(this.views(x, seed, keys))[1], this.options.temperature));
  }

  /**
   * Sets the per-sample loss's reference bank to `images` [M ≥ 1, H, W, C]
   * (copied; the caller keeps its tensor) and draws their two views once.
   */
  setReference(images: tf.Tensor, source: ReferenceSource = { source: 'training data' }): void {
    this.checkInput(images);
    if (images.shape[0]! < 1) throw new ModelInputError('the reference bank needs at least one image', 'reference');
    this.clearReference();
    this.refImages = tf.keep(images.clone());
    this.refViews = tf.keep(this.views(this.refImages, this.options.augmentSeed, [VIEWS.reference]));
    this.refSource = { source: source.source, ...(source.rows ? { rows: [...source.rows] } : {}) };
  }

  /** The reference images (not a copy: do not dispose) and where they came from; undefined before setReference. */
  get reference(): { images: tf.Tensor4D; source: ReferenceSource } | undefined {
    return this.refImages ? { images: this.refImages, source: this.refSource! } : undefined;
  }

  private clearReference(): void {
    tf.dispose([this.refImages, this.refViews, this.refProjections].filter((t) => t !== undefined) as tf.Tensor[]);
    this.refImages = this.refViews = this.refProjections = undefined;
  }

  private bankProjections(): tf.Tensor2D {
    if (!this.refViews) {
      throw new ModelInputError(`${this.kind}'s per-sample loss needs its reference bank (trainSimclr sets it; or setReference(images))`, 'reference');
    }
    // Computed outside any caller's tidy or gradient tape, and kept until the next training step.
    this.refProjections ??= tf.keep(tf.tidy(() => this.outputs(this.refViews!)[1]));
    return this.refProjections;
  }

  /**
   * The contrastive objective per sample [B] (module comment): deterministic,
   * independent of the other samples, differentiable in x. `labels` are
   * ignored (self-supervised); the parameter is AttackModel's.
   */
  perSampleLoss(x: tf.Tensor, _labels?: Int32Array): tf.Tensor1D {
    this.checkInput(x);
    const bank = this.bankProjections();
    const b = x.shape[0]!;
    return tf.tidy(() => {
      const [z1, z2] = this.lossParams.map((p) => this.outputs(applyAugmentation(x, repeatParams(p, b), true))[1]);
      return ntXentAgainstBank(z1!, z2!, bank, this.options.temperature);
    });
  }

  /** One Adam step on NT-Xent of two views of `x` keyed by (ctx.seed, epoch, batch), batch norm in training behaviour. */
  async trainBatch(x: tf.Tensor, ctx: TrainStepContext): Promise<TrainStepResult> {
    this.checkInput(x);
    if (x.shape[0]! < 2) {
      // A batch of one has no negatives: its loss is 0 and its gradient too.
      return { loss: 0 };
    }
    const views = this.views(x, ctx.seed, [VIEWS.train, ctx.epoch, ctx.batch]);
    try {
      tf.dispose(this.refProjections ?? []);
      this.refProjections = undefined;
      const [loss] = await minimizeParts(this.optimizer, trainableVariables(this.model.layers), () => [
        ntXent(this.outputs(views, true)[1], this.options.temperature),
      ]);
      return { loss: loss! };
    } finally {
      views.dispose();
    }
  }

  /** Frees the weights, the optimizer state and the reference bank. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearReference();
    this.model.dispose();
    this.optimizer.dispose();
  }
}

/** A fresh SimCLR model for images of `inputShape` [H, W, C]. */
export function createSimclr(kind: SimclrKind, inputShape: number[], opts: SimclrOptions = {}): SimclrModel {
  const o = resolveSimclrOptions(kind, opts);
  const model = buildSimclrNetwork(kind, inputShape, o);
  try {
    return new SimclrModel(kind, inputShape, model, o);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

export interface SimclrTrainOptions extends TrainOptions {
  /**
   * Images of `x` (its training rows) that become the per-sample loss's reference bank when the
   * model has none yet (seeded by TrainOptions.seed); 0: none. Default 32 (at most the training rows).
   */
  referenceSize?: number;
  /** Recorded with the bank: where `x` came from (default 'training data'). */
  referenceSource?: string;
}

/**
 * Trains `model` in place on images `x` [N, H, W, C] in [0, 1] with
 * trainLoop (seeded shuffle, onEpoch, validation, early stopping, abort);
 * each step's views are keyed by (seed, epoch, batch). The epoch reports'
 * loss is the training batches' NT-Xent; valLoss is evaluateContrastiveLoss.
 */
export async function trainSimclr(model: SimclrModel, x: tf.Tensor, opts: SimclrTrainOptions = {}): Promise<TrainResult> {
  if (x.rank !== 4 || x.shape.slice(1).join() !== model.inputShape.join()) {
    throw new ModelInputError(`training data must be [N, ${model.inputShape.join(', ')}], got [${x.shape.join(', ')}]`, 'x');
  }
  // The bank comes from the training rows: a validationSplit holds out the last rows (trainLoop's split).
  const n = x.shape[0]! - (opts.validationSplit !== undefined && opts.validationSplit > 0 && opts.validationSplit < 1 ? Math.floor(x.shape[0]! * opts.validationSplit) : 0);
  const m = Math.min(opts.referenceSize ?? SIMCLR_DEFAULTS.referenceSize, n);
  if (!Number.isInteger(m) || m < 0) throw new ModelInputError(`referenceSize must be a non-negative integer, got ${opts.referenceSize}`, 'referenceSize');
  if (!model.reference && m > 0) {
    const rows = Array.from(augmentRng(opts.seed ?? 0, VIEWS.pickReference).permutation(n).subarray(0, m)).sort((a, b) => a - b);
    const images = tf.tidy(() => tf.gather(x, tf.tensor1d(rows, 'int32')));
    try {
      model.setReference(images, { source: opts.referenceSource ?? 'training data', rows });
    } finally {
      images.dispose();
    }
  }
  return trainLoop(
    x,
    undefined,
    opts,
    (bx, _by, ctx) => model.trainBatch(bx, ctx),
    (xv, _yv, batchSize) => evaluateContrastiveLoss(model, xv, { batchSize }),
    modelWeights(model.model),
  );
}

/**
 * Mean NT-Xent over `x` in consecutive batches (the last one may be smaller;
 * means weighted by batch size; a batch of one has no negatives and counts 0),
 * views keyed by (seed, batch index), inference behaviour. The test loss.
 * NT-Xent grows with the batch (more negatives): compare at one batch size.
 */
export async function evaluateContrastiveLoss(
  model: SimclrModel,
  x: tf.Tensor,
  opts: { batchSize?: number; seed?: number } = {},
): Promise<number> {
  const batchSize = positiveInt(opts.batchSize ?? DEFAULT_BATCH_SIZE, 'batchSize');
  const seed = opts.seed ?? model.options.augmentSeed;
  const n = x.shape[0]!;
  if (n < 1) throw new ModelInputError('no samples to evaluate', 'x');
  let sum = tf.scalar(0);
  for (let start = 0, batch = 0; start < n; start += batchSize, batch++) {
    const size = Math.min(batchSize, n - start);
    if (size < 2) continue;
    const next = tf.tidy(() => tf.add(sum, tf.mul(model.contrastiveLoss(tf.slice(x, start, size), seed, [VIEWS.evaluate, batch]), size)) as tf.Scalar);
    sum.dispose();
    sum = next;
  }
  try {
    return (await sum.data())[0]! / n;
  } finally {
    sum.dispose();
  }
}
