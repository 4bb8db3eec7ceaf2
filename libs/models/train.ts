/**
 * Training loop for the reference models: minibatch training (x → x for
 * autoencoders, x → y for classifiers) with the model's compiled loss and
 * optimizer, shuffled every epoch by a seeded PRNG (tfjs' own fit() shuffles
 * with Math.random), so that a seeded model and a seeded run give the same
 * weights on a deterministic backend.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../tensor/index.js';
import { Rng, STREAM } from '../tensor/rng.js';
import type { Autoencoder, EpochReport, TrainOptions, TrainResult, TrainStepContext, TrainStepResult } from './types.js';

export const DEFAULT_EPOCHS = 20;
export const DEFAULT_BATCH_SIZE = 100;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('training aborted', 'AbortError');
}

/**
 * Trains `ae` in place on `x` ([N, ...inputShape], values in [0, 1]).
 * `x` is not disposed. Rejects with the signal's reason when aborted (the
 * model keeps the weights of the last completed batch). Kinds with their own
 * step (`ae.trainBatch`: sparse-ae, adversarial-ae, concrete-ae) run it inside
 * the same loop; the validation loss is the compiled (reconstruction) loss.
 */
export async function trainAutoencoder(
  ae: Autoencoder,
  x: tf.Tensor,
  opts: TrainOptions = {},
): Promise<TrainResult> {
  const expected = [ae.inputShape.length + 1, ...ae.inputShape];
  if (x.rank !== expected[0] || x.shape.slice(1).some((d, i) => d !== ae.inputShape[i])) {
    throw new Error(`training data must be [N, ${ae.inputShape.join(', ')}], got [${x.shape.join(', ')}]`);
  }
  if (!ae.trainBatch) return trainModel(ae.model, x, undefined, opts);
  const trainBatch = ae.trainBatch.bind(ae);
  return trainLoop(
    x,
    undefined,
    opts,
    (bx, _by, ctx) => trainBatch(bx, ctx),
    (xv, yv, bs) => evaluateModelLoss(ae.model, xv, yv, bs),
    modelWeights(ae.model),
  );
}

/**
 * Trains a compiled layers model in place on (x, y); y undefined means x → x.
 * Neither tensor is disposed.
 */
export async function trainModel(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor | undefined,
  opts: TrainOptions = {},
): Promise<TrainResult> {
  return trainLoop(
    x,
    y,
    opts,
    async (bx, by) => (await model.trainOnBatch(bx, by ?? bx)) as number,
    (xv, yv, bs) => evaluateModelLoss(model, xv, yv, bs),
    modelWeights(model),
  );
}

/** Copies a model's weights out and back (early stopping's restoreBest). */
export interface WeightKeeper {
  /** Copies of the current weights (the caller disposes them). */
  snapshot(): tf.Tensor[];
  /** Sets the weights to `weights` (copied in; the caller still owns them). */
  restore(weights: tf.Tensor[]): void;
}

/** A WeightKeeper over every weight of a layers model (trainable or not: batch-norm statistics included). */
export function modelWeights(model: tfl.LayersModel): WeightKeeper {
  return {
    snapshot: () => tf.tidy(() => model.getWeights().map((w) => w.clone())),
    restore: (weights) => model.setWeights(weights),
  };
}

/**
 * One optimisation step on a batch (x, y; y undefined for x → x); returns the
 * batch's mean loss, or that and further metrics. The loop disposes the batch.
 */
export type BatchStep = (x: tf.Tensor, y: tf.Tensor | undefined, ctx: TrainStepContext) => Promise<number | TrainStepResult>;

/** Mean loss over a held-out split (x, y; y is x for autoencoders). */
export type SplitEvaluator = (x: tf.Tensor, y: tf.Tensor, batchSize: number) => Promise<number>;

/**
 * The training loop behind trainModel and trainAutoencoder: Keras-style
 * validation split, a seeded shuffle per epoch, `step` on every minibatch,
 * per-epoch reports, early stopping and abort between batches.
 */
export async function trainLoop(
  x: tf.Tensor,
  y: tf.Tensor | undefined,
  opts: TrainOptions,
  step: BatchStep,
  evaluate: SplitEvaluator,
  weights?: WeightKeeper,
): Promise<TrainResult> {
  const epochs = opts.epochs ?? DEFAULT_EPOCHS;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(epochs) || epochs < 0) throw new Error(`epochs must be a non-negative integer, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
  const n = x.shape[0]!;
  if (y && y.shape[0] !== n) throw new Error(`x has ${n} samples but y has ${y.shape[0]}`);
  let nVal = 0;
  if (opts.validationSplit !== undefined && opts.validationData) throw new Error('give validationSplit or validationData, not both');
  if (opts.maxSteps !== undefined && (!Number.isInteger(opts.maxSteps) || opts.maxSteps < 1)) {
    throw new Error(`maxSteps must be a positive integer, got ${opts.maxSteps}`);
  }
  if (opts.validationSplit !== undefined) {
    const v = opts.validationSplit;
    if (!(v > 0 && v < 1)) throw new Error(`validationSplit must be in (0, 1), got ${v}`);
    nVal = Math.floor(n * v);
    if (nVal < 1 || nVal >= n) throw new Error(`validationSplit ${v} of ${n} samples leaves an empty split`);
  }
  const nTrain = n - nVal;
  if (nTrain < 1) throw new Error('no training samples');
  const patience = opts.earlyStopping?.patience;
  const minDelta = opts.earlyStopping?.minDelta ?? 0;
  if (patience !== undefined && (!Number.isInteger(patience) || patience < 0)) {
    throw new Error(`earlyStopping.patience must be a non-negative integer, got ${patience}`);
  }
  const restoreBest = opts.earlyStopping?.restoreBest === true;
  if (restoreBest && !weights) throw new Error('earlyStopping.restoreBest needs the model\'s weights (trainModel or trainAutoencoder)');
  opts.signal?.throwIfAborted();

  // Keras' validation_split: the last fraction, before any shuffling.
  const split = (t: tf.Tensor) => tf.tidy(() => (nVal > 0 ? [tf.slice(t, 0, nTrain), tf.slice(t, nTrain, nVal)] : [tf.clone(t), undefined]));
  const given = opts.validationData;
  if (given && (given.rank !== x.rank || given.shape.slice(1).some((v, i) => v !== x.shape[i + 1]) || given.shape[0]! < 1)) {
    throw new Error(`validationData must be [M ≥ 1, ${x.shape.slice(1).join(', ')}], got [${given.shape.join(', ')}]`);
  }
  if (given && y && !opts.validationLabels) throw new Error('validationData needs validationLabels when training x → y');
  const [xTrain, xSplitVal] = split(x);
  const [yTrain, ySplitVal] = y ? split(y) : [xTrain, xSplitVal];
  const xVal = given ?? xSplitVal;
  const yVal = given ? (y ? opts.validationLabels : given) : ySplitVal;
  const batchesPerEpoch = Math.ceil(nTrain / batchSize);
  const maxSteps = opts.maxSteps ?? Infinity;
  const totalSteps = Math.min(epochs * batchesPerEpoch, maxSteps);
  let steps = 0;
  const history: EpochReport[] = [];
  let best = Infinity;
  let sinceBest = 0;
  let stoppedEarly = false;
  // restoreBest: copies of the weights after the best epoch so far.
  let bestWeights: tf.Tensor[] | undefined;
  let bestEpoch = -1;
  let bestMonitored = Infinity;
  let lastYield = performance.now();
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = new Rng(seed, STREAM.shuffle, epoch).permutation(nTrain);
      const t0 = performance.now();
      let lossSum = 0;
      let metricSums: Record<string, number> | undefined;
      for (let start = 0, batch = 0; start < nTrain && steps < maxSteps; start += batchSize, batch++) {
        if (opts.yieldMs !== undefined && performance.now() - lastYield >= opts.yieldMs) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
        if (opts.signal?.aborted) throw abortReason(opts.signal);
        const idx = order.subarray(start, Math.min(start + batchSize, nTrain));
        const [bx, by] = tf.tidy(() => {
          const i = tf.tensor1d(idx, 'int32');
          return [tf.gather(xTrain!, i), y ? tf.gather(yTrain!, i) : undefined];
        });
        try {
          const ctx: TrainStepContext = {
            epoch,
            batch,
            step: epoch * batchesPerEpoch + batch,
            epochs,
            batchesPerEpoch,
            totalSteps,
            seed,
          };
          const out = await step(bx!, by, ctx);
          steps++;
          const loss = typeof out === 'number' ? out : out.loss;
          lossSum += loss * idx.length;
          if (typeof out !== 'number' && out.metrics) {
            metricSums ??= {};
            for (const [k, v] of Object.entries(out.metrics)) metricSums[k] = (metricSums[k] ?? 0) + v * idx.length;
          }
        } finally {
          bx!.dispose();
          by?.dispose();
        }
      }
      const seconds = (performance.now() - t0) / 1000;
      const seen = Math.min(nTrain, (steps - epoch * batchesPerEpoch) * batchSize);
      const report: EpochReport = {
        epoch,
        loss: lossSum / seen,
        samplesPerSec: seen / Math.max(seconds, 1e-9),
      };
      if (metricSums) report.metrics = Object.fromEntries(Object.entries(metricSums).map(([k, v]) => [k, v / seen]));
      if (xVal) report.valLoss = await evaluate(xVal, yVal!, batchSize);
      history.push(report);
      opts.onEpoch?.(report);
      if (restoreBest) {
        // Keras' restore_best_weights: the best epoch is judged without min_delta.
        const monitored = report.valLoss ?? report.loss;
        if (monitored < bestMonitored) {
          tf.dispose(bestWeights ?? []);
          bestWeights = weights!.snapshot();
          bestMonitored = monitored;
          bestEpoch = epoch;
        }
      }
      if (steps >= maxSteps) break;
      if (patience !== undefined) {
        const monitored = report.valLoss ?? report.loss;
        if (monitored < best - minDelta) {
          best = monitored;
          sinceBest = 0;
        } else if (++sinceBest >= patience) {
          stoppedEarly = true;
          break;
        }
      }
    }
    if (bestWeights && bestEpoch < history.length - 1) weights!.restore(bestWeights);
  } finally {
    tf.dispose([xTrain!, ...(xSplitVal ? [xSplitVal] : []), ...(y ? [yTrain!, ...(ySplitVal ? [ySplitVal] : [])] : [])]);
    tf.dispose(bestWeights ?? []);
  }
  return { history, stoppedEarly, steps, ...(restoreBest && bestEpoch >= 0 ? { restoredEpoch: bestEpoch } : {}) };
}

/** Mean of the model's compiled loss over `x`, evaluated in batches (inference behaviour). */
export async function evaluateLoss(ae: Autoencoder, x: tf.Tensor, batchSize = DEFAULT_BATCH_SIZE): Promise<number> {
  return evaluateModelLoss(ae.model, x, x, batchSize);
}

export async function evaluateModelLoss(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, batchSize = DEFAULT_BATCH_SIZE): Promise<number> {
  const out = model.evaluate(x, y, { batchSize }) as tf.Scalar | tf.Scalar[];
  const s = Array.isArray(out) ? out : [out];
  const v = (await s[0]!.data())[0]!;
  tf.dispose(s);
  return v;
}
