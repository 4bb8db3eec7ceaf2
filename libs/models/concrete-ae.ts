/**
 * concrete-ae (Balın, Abid & Zou 2019, "Concrete Autoencoders"; the
 * paper's Section 4.5): a concrete-select layer of k nodes, each a Gumbel-softmax (concrete)
 * distribution over the d input features with learnable logits [k, d], and
 * the decoder dense 320 → LeakyReLU(0.2) → dropout 0.1 → dense 320 →
 * LeakyReLU(0.2) → dropout 0.1 → dense d. The output is a sigmoid (the data
 * are min-max scaled to [0, 1]; Balın's decoder is linear). MSE, Adam(1e-3)
 * (Balın's default learning rate).
 *
 * Training (this kind's trainBatch): per batch one Gumbel draw G [k, d] from
 * Rng(seed, STREAM.gumbel, epoch, batch) (Balın draws one per batch too),
 * selection weights softmax((logits + G) / T) and T annealed exponentially
 * from 10 to 0.1 over the run's planned steps, T(s) = 10 · (0.1/10)^(s/(S−1)),
 * so that the last step uses exactly 0.1 (Balın: 10 · α^s with α^S = 0.01,
 * which ends one step short of 0.1). Dropout masks come from
 * Rng(seed, STREAM.dropout, epoch, batch) (tfjs' seeded dropout would repeat
 * one mask every step). Balın's outer loop that doubles the epochs until the
 * selection has converged (mean max probability ≥ 0.998) lives with the
 * study's training (libs/augment trainFresh, `convergence`), which measures
 * `selectionConvergence()`.
 *
 * Inference (the layers model, reconstruct, the attack): each node is the
 * hard one-hot argmax of its logits, i.e. the layer gathers the selected
 * features x[:, argmax(logits)] — deterministic and differentiable w.r.t. x.
 *
 * perSampleLoss (the `loss` attack criterion): the training objective, the
 * MSE of the relaxed reconstruction, per sample, at the model's current
 * temperature T (the last training step's; saved with the model as
 * `options.temperature.current`), made deterministic: selection
 * softmax(logits / T) without Gumbel noise and without dropout (inference).
 * Gumbel noise has mean γ in every entry and softmax ignores a constant
 * shift, so G = 0 is the noise-free relaxation. Once the selection has
 * converged at a low T this equals the hard selection's compiled loss.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../tensor/index.js';
import { Rng, STREAM } from '../tensor/rng.js';
import { ADAM_LEARNING_RATE, LayersAutoencoder, ModelInputError, checkShape, compileAutoencoder, kernelInitializer, minimizeParts, trainableVariables } from './autoencoders.js';
import type { CreateAutoencoderOptions, TrainStepContext, TrainStepResult } from './types.js';
import { concreteSelectLayer } from './layers.js';
import { compiledLossPerSample } from './per-sample-loss.js';

export const CONCRETE_AE_DEFAULTS = { k: 50, widths: [320, 320], temperature: { start: 10, end: 0.1 }, dropout: 0.1, leakyAlpha: 0.2 } as const;

export type ResolvedConcreteOptions = CreateAutoencoderOptions & {
  k: number;
  widths: number[];
  temperature: { start: number; end: number };
  dropout: number;
  learningRate: number;
};

function resolve(opts: CreateAutoencoderOptions): ResolvedConcreteOptions {
  const k = opts.k ?? CONCRETE_AE_DEFAULTS.k;
  if (!Number.isInteger(k) || k <= 0) throw new Error(`k must be a positive integer, got ${k}`);
  const widths = [...(opts.widths ?? CONCRETE_AE_DEFAULTS.widths)];
  if (widths.some((v) => !Number.isInteger(v) || v <= 0)) throw new Error(`widths must be positive integers, got ${JSON.stringify(widths)}`);
  // `current` is the model's state, not the schedule: ConcreteAutoencoder keeps it.
  const { current, ...schedule } = opts.temperature ?? {};
  const temperature = { ...CONCRETE_AE_DEFAULTS.temperature, ...schedule };
  if (!(temperature.start > 0 && temperature.end > 0) || (current !== undefined && !(current > 0))) throw new Error('temperatures must be > 0');
  const dropout = opts.dropout ?? CONCRETE_AE_DEFAULTS.dropout;
  if (!(dropout >= 0 && dropout < 1)) throw new Error(`dropout must be in [0, 1), got ${dropout}`);
  return {
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    k,
    widths,
    temperature,
    dropout,
    learningRate: opts.learningRate ?? ADAM_LEARNING_RATE['concrete-ae'],
  };
}

/** Throws ModelInputError (field 'k') when a concrete AE would select more features than the input has. */
export function checkConcreteK(k: number, features: number): void {
  if (k > features) {
    throw new ModelInputError(`concrete-ae selects k = ${k} features, but the samples have only ${features}; k must be at most the number of input features`, 'k');
  }
}

/** The annealed temperature at step `step` of `totalSteps`: start at step 0, end at the last step. */
export function concreteTemperature(step: number, totalSteps: number, start: number = CONCRETE_AE_DEFAULTS.temperature.start, end: number = CONCRETE_AE_DEFAULTS.temperature.end): number {
  if (totalSteps <= 1) return start;
  const t = Math.min(Math.max(step / (totalSteps - 1), 0), 1);
  return start * (end / start) ** t;
}

/**
 * The concrete selector layer (layers.ts: logits [units, d]; inference output
 * x[:, argmax(logits, 1)], [B, units]) with the training relaxation.
 * Registered for (de)serialisation.
 */
export class ConcreteSelect extends concreteSelectLayer({ layers: tfl.layers, initializers: tfl.initializers, serialization: tf.serialization, tidy: tf.tidy, gather: tf.gather, argMax: tf.argMax }) {
  /** Training: x · softmax((logits + gumbel) / temperature)ᵀ, [B, units]; no gumbel: the noise-free relaxation. */
  soft(x: tf.Tensor, gumbel: tf.Tensor2D | undefined, temperature: number): tf.Tensor2D {
    return tf.tidy(() => {
      const logits = this.logitsTensor();
      const selection = tf.softmax(tf.div(gumbel ? tf.add(logits, gumbel) : logits, temperature));
      return tf.matMul(x as tf.Tensor2D, selection, false, true);
    });
  }

  /** Argmax of each node's logits (read asynchronously: webgpu has no synchronous read). */
  async selected(): Promise<number[]> {
    const idx = tf.tidy(() => tf.argMax(this.logitsTensor(), 1));
    try {
      return Array.from(await idx.data());
    } finally {
      idx.dispose();
    }
  }
}
tf.serialization.registerClass(ConcreteSelect);

/** [Flatten] → ConcreteSelect(k) → (dense → LeakyReLU(0.2) → dropout)* → dense d sigmoid [→ Reshape]. */
export function buildConcreteAE(inputShape: number[], opts: CreateAutoencoderOptions = {}): tfl.Sequential {
  checkShape(inputShape);
  const o = resolve(opts);
  const d = inputShape.reduce((a, b) => a * b, 1);
  // k > d traps the wasm backend (table index out of bounds) and poisons it for the process.
  checkConcreteK(o.k, d);
  const flat = inputShape.length === 1;
  const m = tfl.sequential({ name: 'concrete_ae' });
  if (!flat) m.add(tfl.layers.flatten({ inputShape, name: 'flatten' }));
  let layer = 0;
  m.add(
    new ConcreteSelect({
      ...(flat ? { inputShape } : {}),
      units: o.k,
      ...(o.seed === undefined ? {} : { seed: new Rng(o.seed, STREAM.modelInit, layer).nextU32() }),
      name: 'concrete_select',
    }),
  );
  o.widths.forEach((w, i) => {
    m.add(tfl.layers.dense({ units: w, kernelInitializer: kernelInitializer(o.seed, ++layer), name: `decoder_${i + 1}` }));
    m.add(tfl.layers.leakyReLU({ alpha: CONCRETE_AE_DEFAULTS.leakyAlpha, name: `leaky_relu_${i + 1}` }));
    m.add(tfl.layers.dropout({ rate: o.dropout, name: `dropout_${i + 1}` }));
  });
  m.add(tfl.layers.dense({ units: d, activation: 'sigmoid', kernelInitializer: kernelInitializer(o.seed, ++layer), name: 'output' }));
  if (!flat) m.add(tfl.layers.reshape({ targetShape: inputShape, name: 'reshape' }));
  return m;
}

export class ConcreteAutoencoder extends LayersAutoencoder {
  private readonly resolved: Readonly<ResolvedConcreteOptions>;
  readonly select: ConcreteSelect;
  /** The temperature of the last training step (`options.temperature.current` of a loaded model; else the start temperature). */
  temperature: number;

  constructor(inputShape: number[], model: tfl.LayersModel, optimizer: tf.Optimizer, options: CreateAutoencoderOptions) {
    super('concrete-ae', inputShape, model, optimizer);
    const select = this.encoderLayers.at(-1);
    if (!(select instanceof ConcreteSelect)) throw new Error('concrete-ae: the model has no ConcreteSelect layer');
    this.select = select;
    const o = resolve(options);
    this.resolved = { ...o, k: select.units };
    this.temperature = options.temperature?.current ?? o.temperature.start;
  }

  /** The resolved creation options, with the current temperature (what saving stores). */
  get options(): Readonly<ResolvedConcreteOptions & { temperature: { start: number; end: number; current: number } }> {
    return { ...this.resolved, temperature: { ...this.resolved.temperature, current: this.temperature } };
  }

  /** The noise-free relaxed reconstruction's MSE at the current temperature, per sample (module comment). */
  override perSampleLoss(x: tf.Tensor): tf.Tensor1D {
    this.checkInput(x);
    return tf.tidy(() => {
      let h: tf.Tensor = x;
      for (const l of this.model.layers) h = l === this.select ? this.select.soft(h, undefined, this.temperature) : (l.apply(h, { training: false }) as tf.Tensor);
      return compiledLossPerSample(this.model, x, h);
    });
  }

  async selectedFeatures(): Promise<number[]> {
    this.checkAlive();
    return this.select.selected();
  }

  /**
   * Balın's convergence measure: the mean over select nodes of the largest
   * softmax(logits) probability (1/d at a uniform start, → 1 as each node settles on one feature).
   */
  async selectionConvergence(): Promise<number> {
    this.checkAlive();
    const m = tf.tidy(() => tf.mean(tf.max(tf.softmax(this.select.logitsTensor()), 1)));
    try {
      return (await m.data())[0]!;
    } finally {
      m.dispose();
    }
  }

  async trainBatch(x: tf.Tensor, ctx: TrainStepContext): Promise<TrainStepResult> {
    this.checkInput(x);
    const { start, end } = this.options.temperature;
    const temperature = concreteTemperature(ctx.step, ctx.totalSteps, start, end);
    this.temperature = temperature;
    const b = x.shape[0]!;
    const [k, d] = this.select.logitsTensor().shape;
    // Gumbel(0, 1) = −log(−log u), computed in doubles (u near 1 rounds to 1 in float32).
    const rng = new Rng(ctx.seed, STREAM.gumbel, ctx.epoch, ctx.batch);
    const g = new Float32Array(k * d);
    for (let i = 0; i < g.length; i++) g[i] = -Math.log(-Math.log(Math.max(rng.uniform(), 1e-7)));
    const gumbel = tf.tensor2d(g, [k, d]);
    // Inverted dropout masks (keep with probability 1 − rate, scaled by 1/(1 − rate)).
    const dropRng = new Rng(ctx.seed, STREAM.dropout, ctx.epoch, ctx.batch);
    const masks = new Map<tfl.layers.Layer, tf.Tensor>();
    for (const l of this.model.layers) {
      if (l.getClassName() !== 'Dropout') continue;
      const rate = (l.getConfig() as { rate: number }).rate;
      const width = (l.outputShape as (number | null)[]).at(-1)!;
      const m = new Float32Array(b * width);
      for (let i = 0; i < m.length; i++) m[i] = dropRng.uniform() < rate ? 0 : 1 / (1 - rate);
      masks.set(l, tf.tensor2d(m, [b, width]));
    }
    try {
      const [loss] = await minimizeParts(this.optimizer, trainableVariables(this.model.layers), () => {
        let h: tf.Tensor = x;
        for (const l of this.model.layers) {
          if (l === this.select) h = this.select.soft(h, gumbel, temperature);
          else if (masks.has(l)) h = tf.mul(h, masks.get(l)!);
          else h = l.apply(h, { training: true }) as tf.Tensor;
        }
        return [tf.mean(tf.squaredDifference(x, h)) as tf.Scalar];
      });
      return { loss: loss!, metrics: { temperature } };
    } finally {
      tf.dispose([gumbel, ...masks.values()]);
    }
  }
}

export function createConcreteAE(inputShape: number[], opts: CreateAutoencoderOptions = {}): ConcreteAutoencoder {
  const o = resolve(opts);
  const model = buildConcreteAE(inputShape, o);
  const optimizer = compileAutoencoder('concrete-ae', model, o.learningRate);
  return new ConcreteAutoencoder(inputShape, model, optimizer, opts);
}

/** Wraps a loaded concrete-ae layers model (compiled afresh). */
export function wrapConcreteAE(inputShape: number[], model: tfl.LayersModel, opts: CreateAutoencoderOptions = {}): ConcreteAutoencoder {
  const o = resolve(opts);
  const optimizer = compileAutoencoder('concrete-ae', model, o.learningRate);
  try {
    // opts, not o: resolve() leaves out the saved current temperature.
    return new ConcreteAutoencoder(inputShape, model, optimizer, opts);
  } catch (e) {
    optimizer.dispose();
    throw e;
  }
}
