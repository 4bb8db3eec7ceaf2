/**
 * adversarial-ae (Makhzani et al. 2016; the paper's Section 4.4): encoder
 * d → 1000 → 1000 → latent (sigmoid), decoder latent → 1000 → 1000 → d
 * (sigmoid), discriminator latent → 1000 → 1000 → 1; Adam(1e-4) for each of
 * the three steps. Hidden layers use ReLU (Makhzani's MNIST networks). The
 * widths are options (CPU tests use small ones); the latent dimension defaults
 * to 8, Makhzani's MNIST setting (the reference does not state its own).
 *
 * Prior: uniform on [0, 1]^latent. The latent is a sigmoid, so a Gaussian
 * prior could never be matched; the uniform prior is the natural one on the
 * sigmoid's range. Samples come from Rng(seed, STREAM.prior, epoch, batch).
 *
 * Training alternates per batch (Makhzani §2): (1) reconstruction: encoder +
 * decoder on MSE (the compiled model's trainOnBatch); (2) regularisation,
 * discriminator: prior samples are "real" (1), encoded samples "fake" (0),
 * sigmoid cross-entropy averaged over both halves; (3) regularisation,
 * generator: the encoder is updated so that the discriminator calls its codes
 * real. `model` is the reconstruction path (encoder + decoder) so that the
 * attack, save/load and worker threads treat it like any autoencoder; the
 * discriminator is saved beside it (io.ts) so that a loaded model trains on.
 *
 * perSampleLoss (the `loss` attack criterion): the encoder/decoder's two
 * objectives per sample, the reconstruction MSE (step 1) plus the generator
 * term of step 3, softplus(−D(E(xᵢ))) = sigmoid cross-entropy of the code
 * against "real". Both batch losses are means over samples, so the batch mean
 * of perSampleLoss is step 1's loss plus step 3's. The discriminator's own
 * loss (step 2) is not the autoencoder's objective and is left out.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../tensor/index.js';
import { Rng, STREAM } from '../tensor/rng.js';
import {
  ADAM_LEARNING_RATE,
  LayersAutoencoder,
  applyLayers,
  checkShape,
  compileAutoencoder,
  kernelInitializer,
  minimizeParts,
  trainableVariables,
} from './autoencoders.js';
import { compiledLossPerSample } from './per-sample-loss.js';
import type { CreateAutoencoderOptions, TrainStepContext, TrainStepResult } from './types.js';

export const AAE_DEFAULTS = { latent: 8, widths: [1000, 1000], discriminatorWidths: [1000, 1000] } as const;
/** Offset of the discriminator's initialiser seeds, after the encoder/decoder layers'. */
const DISCRIMINATOR_SEED_OFFSET = 1000;

export type ResolvedAAEOptions = CreateAutoencoderOptions & {
  latent: number;
  widths: number[];
  discriminatorWidths: number[];
  learningRate: number;
};

function checkWidths(name: string, w: unknown): number[] {
  if (!Array.isArray(w) || w.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new Error(`${name} must be a list of positive integers, got ${JSON.stringify(w)}`);
  }
  return [...(w as number[])];
}

function resolve(opts: CreateAutoencoderOptions): ResolvedAAEOptions {
  const latent = opts.latent ?? AAE_DEFAULTS.latent;
  if (!Number.isInteger(latent) || latent <= 0) throw new Error(`latent must be a positive integer, got ${latent}`);
  return {
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    latent,
    widths: checkWidths('widths', opts.widths ?? AAE_DEFAULTS.widths),
    discriminatorWidths: checkWidths('discriminatorWidths', opts.discriminatorWidths ?? AAE_DEFAULTS.discriminatorWidths),
    learningRate: opts.learningRate ?? ADAM_LEARNING_RATE['adversarial-ae'],
  };
}

/** Encoder + decoder as one layers model; the encoder ends at the layer named "latent". */
export function buildAdversarialAE(inputShape: number[], opts: CreateAutoencoderOptions = {}): tfl.Sequential {
  checkShape(inputShape);
  const o = resolve(opts);
  const d = inputShape.reduce((a, b) => a * b, 1);
  const flat = inputShape.length === 1;
  const m = tfl.sequential({ name: 'adversarial_ae' });
  if (!flat) m.add(tfl.layers.flatten({ inputShape, name: 'flatten' }));
  let layer = 0;
  const dense = (units: number, activation: 'relu' | 'sigmoid', name: string) =>
    tfl.layers.dense({
      ...(flat && layer === 0 ? { inputShape } : {}),
      units,
      activation,
      kernelInitializer: kernelInitializer(o.seed, layer++),
      name,
    });
  o.widths.forEach((w, i) => m.add(dense(w, 'relu', `encoder_${i + 1}`)));
  m.add(dense(o.latent, 'sigmoid', 'latent'));
  [...o.widths].reverse().forEach((w, i) => m.add(dense(w, 'relu', `decoder_${i + 1}`)));
  m.add(dense(d, 'sigmoid', 'output'));
  if (!flat) m.add(tfl.layers.reshape({ targetShape: inputShape, name: 'reshape' }));
  return m;
}

/** latent → widths (ReLU) → 1 logit (the sigmoid is in the loss). */
export function buildDiscriminator(opts: CreateAutoencoderOptions = {}): tfl.Sequential {
  const o = resolve(opts);
  const m = tfl.sequential({ name: 'aae_discriminator' });
  let layer = 0;
  const init = () => kernelInitializer(o.seed, DISCRIMINATOR_SEED_OFFSET + layer);
  for (const w of o.discriminatorWidths) {
    m.add(
      tfl.layers.dense({
        ...(layer === 0 ? { inputShape: [o.latent] } : {}),
        units: w,
        activation: 'relu',
        kernelInitializer: init(),
        name: `discriminator_${++layer}`,
      }),
    );
  }
  m.add(
    tfl.layers.dense({
      ...(layer === 0 ? { inputShape: [o.latent] } : {}),
      units: 1,
      kernelInitializer: init(),
      name: 'discriminator_logit',
    }),
  );
  return m;
}

export class AdversarialAutoencoder extends LayersAutoencoder {
  readonly options: Readonly<ResolvedAAEOptions>;
  private readonly discriminatorOptimizer: tf.Optimizer;
  private readonly generatorOptimizer: tf.Optimizer;
  private readonly decoderLayers: tfl.layers.Layer[];

  /** Takes ownership of `model`, `optimizer` (the reconstruction step's) and `discriminator`. */
  constructor(
    inputShape: number[],
    model: tfl.LayersModel,
    optimizer: tf.Optimizer,
    readonly discriminator: tfl.LayersModel,
    options: CreateAutoencoderOptions,
  ) {
    super('adversarial-ae', inputShape, model, optimizer);
    const o = resolve(options);
    const latent = (this.encoderLayers.at(-1)!.outputShape as (number | null)[]).at(-1)!;
    const discIn = (discriminator.inputs[0]!.shape as (number | null)[]).slice(1);
    if (discIn.length !== 1 || discIn[0] !== latent) {
      throw new Error(`adversarial-ae: discriminator input [${discIn.join(', ')}] does not match the latent dimension ${latent}`);
    }
    this.options = { ...o, latent };
    this.decoderLayers = model.layers.slice(this.encoderLayers.length);
    this.discriminatorOptimizer = tf.train.adam(o.learningRate);
    this.generatorOptimizer = tf.train.adam(o.learningRate);
  }

  /** Prior samples [b, latent]: uniform on [0, 1]^latent, seeded per (seed, epoch, batch). */
  priorSample(b: number, ctx: Pick<TrainStepContext, 'seed' | 'epoch' | 'batch'>): tf.Tensor2D {
    const latent = this.options.latent;
    const v = new Rng(ctx.seed, STREAM.prior, ctx.epoch, ctx.batch).fillUniform(new Float32Array(b * latent), 0, 1);
    return tf.tensor2d(v, [b, latent]);
  }

  async trainBatch(x: tf.Tensor, ctx: TrainStepContext): Promise<TrainStepResult> {
    this.checkInput(x);
    const b = x.shape[0]!;
    // (1) Reconstruction phase.
    const reconstruction = (await this.model.trainOnBatch(x, x)) as number;
    // (2) Regularisation phase, discriminator: prior = real, codes = fake.
    const prior = this.priorSample(b, ctx);
    const codes = tf.tidy(() => applyLayers(this.encoderLayers, x, true));
    const ones = tf.ones([b, 1]);
    const zeros = tf.zeros([b, 1]);
    let discriminator: number;
    let generator: number;
    try {
      [discriminator] = await minimizeParts(this.discriminatorOptimizer, trainableVariables(this.discriminator.layers), () => {
        const real = tf.losses.sigmoidCrossEntropy(ones, this.discriminator.apply(prior, { training: true }) as tf.Tensor);
        const fake = tf.losses.sigmoidCrossEntropy(zeros, this.discriminator.apply(codes, { training: true }) as tf.Tensor);
        return [tf.mul(tf.add(real, fake), 0.5) as tf.Scalar];
      });
      // (3) Regularisation phase, generator: the encoder learns to fool the discriminator.
      [generator] = await minimizeParts(this.generatorOptimizer, trainableVariables(this.encoderLayers), () => {
        const z = applyLayers(this.encoderLayers, x, true);
        return [tf.losses.sigmoidCrossEntropy(ones, this.discriminator.apply(z, { training: true }) as tf.Tensor) as tf.Scalar];
      });
    } finally {
      tf.dispose([prior, codes, ones, zeros]);
    }
    return { loss: reconstruction, metrics: { reconstruction, discriminator: discriminator!, generator: generator! } };
  }

  /** Reconstruction MSE + the generator term, per sample (module comment). */
  override perSampleLoss(x: tf.Tensor): tf.Tensor1D {
    this.checkInput(x);
    return tf.tidy(() => {
      const z = applyLayers(this.encoderLayers, x, false);
      const out = applyLayers(this.decoderLayers, z, false);
      const logits = this.discriminator.apply(z, { training: false }) as tf.Tensor2D;
      const generator = tf.losses.sigmoidCrossEntropy(tf.onesLike(logits), logits, undefined, 0, tf.Reduction.NONE);
      return tf.add(compiledLossPerSample(this.model, x, out), tf.reshape(generator, [-1])) as tf.Tensor1D;
    });
  }

  override dispose(): void {
    super.dispose();
    this.discriminator.dispose();
    this.discriminatorOptimizer.dispose();
    this.generatorOptimizer.dispose();
  }
}

export function createAdversarialAE(inputShape: number[], opts: CreateAutoencoderOptions = {}): AdversarialAutoencoder {
  const o = resolve(opts);
  const model = buildAdversarialAE(inputShape, o);
  const discriminator = buildDiscriminator(o);
  const optimizer = compileAutoencoder('adversarial-ae', model, o.learningRate);
  return new AdversarialAutoencoder(inputShape, model, optimizer, discriminator, o);
}

/**
 * Wraps a loaded reconstruction model (compiled afresh); `discriminator`
 * omitted: a fresh one, seeded by `opts.seed`, is built from `opts`.
 */
export function wrapAdversarialAE(
  inputShape: number[],
  model: tfl.LayersModel,
  opts: CreateAutoencoderOptions = {},
  discriminator?: tfl.LayersModel,
): AdversarialAutoencoder {
  const o = resolve(opts);
  const latentLayer = model.layers.find((l) => l.name === 'latent');
  if (!latentLayer) throw new Error('adversarial-ae: the model has no layer named "latent"');
  const latent = (latentLayer.outputShape as (number | null)[]).at(-1)!;
  const disc = discriminator ?? buildDiscriminator({ ...o, latent });
  let optimizer: tf.Optimizer | undefined;
  try {
    optimizer = compileAutoencoder('adversarial-ae', model, o.learningRate);
    return new AdversarialAutoencoder(inputShape, model, optimizer, disc, { ...o, latent });
  } catch (e) {
    optimizer?.dispose();
    if (!discriminator) disc.dispose();
    throw e;
  }
}
