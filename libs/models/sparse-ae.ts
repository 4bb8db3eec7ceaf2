/**
 * sparse-ae (the paper's Section 4.4): the dense AE (d → hidden sigmoid → d sigmoid)
 * trained with Adam on
 *   MSE + l1 · (‖h‖₁ + ‖x̂‖₁) / B + β · Σⱼ KL(ρ ‖ ρ̂ⱼ),  ρ̂ⱼ = mean over the batch of hⱼ,
 * with l1 = 1e-7 (an L1 activity penalty on both layers), ρ = 0.1 and β = 3
 * (the classic sparse-AE KL term, summed over the hidden units). The
 * reference trains 50 epochs; callers pass the epochs.
 *
 * tfjs-layers cannot run activity regularizers (Layer.apply throws
 * NotImplementedError), so the penalties live in this kind's training step;
 * the layers model itself is a plain dense AE (same topology, no custom
 * classes) compiled with MSE and Adam. The L1 activity term is divided by the
 * batch size as tf.keras does (standalone Keras 2 summed over the batch);
 * the reported `loss` is the MSE, the penalties go to EpochReport.metrics.
 *
 * perSampleLoss (the `loss` attack criterion) splits the objective per sample
 * i as the training loss of the batch {x_i} alone:
 *   mseᵢ + l1 · (‖hᵢ‖₁ + ‖x̂ᵢ‖₁) + β · Σⱼ KL(ρ ‖ hᵢⱼ).
 * The MSE and L1 shares are exact: their batch mean is the batch's MSE and L1
 * terms. The KL term is a function of the batch mean ρ̂, so no share that
 * depends on sample i alone (the attack needs a sample's loss independent of
 * its chunk) averages to it; sample i's is its batch-of-one term, ρ̂ = hᵢ (the
 * reference attacks with batch size 1). KL(ρ ‖ ·) is convex, so the batch
 * mean of these is ≥ the batch's KL term (Jensen), equal when β = 0.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../tensor/index.js';
import { LayersAutoencoder, applyLayers, buildDenseAE, compileAutoencoder, minimizeParts, trainableVariables, ADAM_LEARNING_RATE } from './autoencoders.js';
import { compiledLossPerSample, sumPerSample } from './per-sample-loss.js';
import type { CreateAutoencoderOptions, TrainStepContext, TrainStepResult } from './types.js';

export const SPARSE_AE_DEFAULTS = { target: 0.1, weight: 3, l1: 1e-7 } as const;

/** Clamp of ρ̂ away from 0 and 1 so that the KL term stays finite. */
const RHO_EPS = 1e-7;

export interface SparsityOptions {
  target: number;
  weight: number;
  l1: number;
}

function resolve(opts: CreateAutoencoderOptions): CreateAutoencoderOptions & { sparsity: SparsityOptions; learningRate: number } {
  const sparsity = { ...SPARSE_AE_DEFAULTS, ...(opts.sparsity ?? {}) };
  if (!(sparsity.target > 0 && sparsity.target < 1)) throw new Error(`sparsity.target must be in (0, 1), got ${sparsity.target}`);
  if (!(sparsity.weight >= 0) || !(sparsity.l1 >= 0)) throw new Error('sparsity.weight and sparsity.l1 must be ≥ 0');
  return {
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.hidden !== undefined ? { hidden: opts.hidden } : {}),
    sparsity,
    learningRate: opts.learningRate ?? ADAM_LEARNING_RATE['sparse-ae'],
  };
}

/** KL(ρ ‖ ρ̂) of Bernoulli distributions, elementwise over ρ̂ (clamped into (0, 1)). */
function klBernoulli(rho: number, rhoHat: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const q = tf.clipByValue(rhoHat, RHO_EPS, 1 - RHO_EPS);
    return tf.add(tf.mul(rho, tf.log(tf.div(rho, q))), tf.mul(1 - rho, tf.log(tf.div(1 - rho, tf.sub(1, q)))));
  });
}

/** Σⱼ KL(ρ ‖ ρ̂ⱼ) for ρ̂ = the batch mean of h [B, m]. */
export function klSparsity(h: tf.Tensor2D, rho: number): tf.Scalar {
  return tf.tidy(() => tf.sum(klBernoulli(rho, tf.mean(h, 0))));
}

export class SparseAutoencoder extends LayersAutoencoder {
  readonly options: Readonly<CreateAutoencoderOptions & { sparsity: SparsityOptions; learningRate: number }>;
  private readonly decoderLayers: tfl.layers.Layer[];

  constructor(inputShape: number[], model: tfl.LayersModel, optimizer: tf.Optimizer, options: CreateAutoencoderOptions) {
    super('sparse-ae', inputShape, model, optimizer);
    this.options = resolve(options);
    this.decoderLayers = model.layers.slice(this.encoderLayers.length);
  }

  async trainBatch(x: tf.Tensor, _ctx: TrainStepContext): Promise<TrainStepResult> {
    this.checkInput(x);
    const { target, weight, l1 } = this.options.sparsity;
    const b = x.shape[0]!;
    const [total, mse, kl, act] = await minimizeParts(this.optimizer, trainableVariables(this.model.layers), () => {
      const h = applyLayers(this.encoderLayers, x, true) as tf.Tensor2D;
      const out = applyLayers(this.decoderLayers, h, true);
      const mse = tf.mean(tf.squaredDifference(x, out)) as tf.Scalar;
      const act = tf.mul(tf.div(tf.add(tf.sum(tf.abs(h)), tf.sum(tf.abs(out))), b), l1) as tf.Scalar;
      const kl = tf.mul(klSparsity(h, target), weight) as tf.Scalar;
      return [tf.addN([mse, act, kl]) as tf.Scalar, mse, kl, act];
    });
    return { loss: mse!, metrics: { total: total!, sparsity: kl!, l1: act! } };
  }

  /** Each sample's training objective as its own batch of one (module comment). */
  override perSampleLoss(x: tf.Tensor): tf.Tensor1D {
    this.checkInput(x);
    const { target, weight, l1 } = this.options.sparsity;
    return tf.tidy(() => {
      const h = applyLayers(this.encoderLayers, x, false) as tf.Tensor2D;
      const out = applyLayers(this.decoderLayers, h, false);
      const mse = compiledLossPerSample(this.model, x, out);
      const act = tf.mul(tf.add(sumPerSample(tf.abs(h)), sumPerSample(tf.abs(out))), l1);
      const kl = tf.mul(tf.sum(klBernoulli(target, h), 1), weight);
      return tf.addN([mse, act, kl]) as tf.Tensor1D;
    });
  }
}

export function createSparseAE(inputShape: number[], opts: CreateAutoencoderOptions = {}): SparseAutoencoder {
  const options = resolve(opts);
  const model = buildDenseAE(inputShape, options, 'sparse_ae');
  const optimizer = compileAutoencoder('sparse-ae', model, options.learningRate);
  return new SparseAutoencoder(inputShape, model, optimizer, options);
}

/** Wraps a loaded sparse-ae layers model (compiled afresh). */
export function wrapSparseAE(inputShape: number[], model: tfl.LayersModel, opts: CreateAutoencoderOptions = {}): SparseAutoencoder {
  const options = resolve(opts);
  const optimizer = compileAutoencoder('sparse-ae', model, options.learningRate);
  try {
    return new SparseAutoencoder(inputShape, model, optimizer, options);
  } catch (e) {
    optimizer.dispose();
    throw e;
  }
}
