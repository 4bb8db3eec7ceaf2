import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { tf, initBackend } from '../../libs/tensor/index.js';
import { createAutoencoder, trainAutoencoder, trainLoop, type Autoencoder, type EpochReport, type TrainStepContext } from '../../libs/models/index.js';
import { fixtureImages, maxAbsDiff, weightsOf } from './helpers.js';

describe('trainAutoencoder', () => {
  let x: tf.Tensor2D;
  beforeAll(async () => {
    await initBackend('wasm');
    const img = await fixtureImages(200);
    x = img.reshape([200, 784]);
    img.dispose();
  });
  afterAll(() => x.dispose());

  it('is deterministic under a seed and depends on the shuffle seed', async () => {
    const run = async (shuffleSeed: number) => {
      const ae = createAutoencoder('dense-ae', [784], { seed: 5 });
      const res = await trainAutoencoder(ae, x, { epochs: 2, batchSize: 50, seed: shuffleSeed });
      const w = weightsOf(ae.model);
      ae.dispose();
      return { w, loss: res.history.map((h) => h.loss) };
    };
    const a = await run(1);
    const b = await run(1);
    const c = await run(2);
    expect(a.loss).toEqual(b.loss);
    a.w.forEach((w, i) => expect(maxAbsDiff(w, b.w[i]!)).toBe(0));
    expect(maxAbsDiff(a.w[0]!, c.w[0]!)).toBeGreaterThan(0);
  });

  it('reports validation loss on the last fraction and leaks no tensors', async () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 5 });
    const before = tf.memory().numTensors;
    const seen: EpochReport[] = [];
    const res = await trainAutoencoder(ae, x, {
      epochs: 2,
      batchSize: 40,
      validationSplit: 0.2,
      onEpoch: (e) => seen.push(e),
    });
    expect(seen).toEqual(res.history);
    expect(res.history).toHaveLength(2);
    for (const h of res.history) {
      expect(h.valLoss).toBeGreaterThan(0);
      expect(h.samplesPerSec).toBeGreaterThan(0);
    }
    // Optimizer slots are created on the first step; nothing else may remain.
    const slots = tf.memory().numTensors - before;
    await trainAutoencoder(ae, x, { epochs: 1, batchSize: 40, validationSplit: 0.2 });
    expect(tf.memory().numTensors - before).toBe(slots);
    ae.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
  });

  it('stops early after `patience` epochs without improvement', async () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 5 });
    // minDelta so large that nothing after the first epoch counts as better.
    const res = await trainAutoencoder(ae, x, {
      epochs: 10,
      batchSize: 100,
      earlyStopping: { patience: 2, minDelta: 10 },
    });
    expect(res.stoppedEarly).toBe(true);
    expect(res.history).toHaveLength(3);
    ae.dispose();
  });

  it('restoreBest ends with the weights of the epoch with the lowest validation loss', async () => {
    // A custom step that really trains for two epochs, then wrecks the weights a
    // little more every epoch: the validation loss bottoms out early and early
    // stopping fires later, so the last epoch is not the best one.
    const run = async (restoreBest: boolean) => {
      const ae = createAutoencoder('dense-ae', [784], { seed: 5 });
      const custom = {
        kind: ae.kind,
        inputShape: ae.inputShape,
        model: ae.model,
        trainBatch: async (bx: tf.Tensor, ctx: TrainStepContext) => {
          if (ctx.epoch < 2) return (await ae.model.trainOnBatch(bx, bx)) as number;
          const wrecked = tf.tidy(() => ae.model.getWeights().map((w) => w.add(tf.randomNormal(w.shape, 0, 0.05, 'float32', ctx.step))));
          ae.model.setWeights(wrecked);
          tf.dispose(wrecked);
          return 1;
        },
      } as unknown as Autoencoder;
      const perEpoch: Float32Array[][] = [];
      const before = tf.memory().numTensors;
      const res = await trainAutoencoder(custom, x, {
        epochs: 20,
        batchSize: 50,
        validationSplit: 0.25,
        earlyStopping: { patience: 3, restoreBest },
        onEpoch: () => perEpoch.push(weightsOf(ae.model)),
      });
      const leaked = tf.memory().numTensors - before;
      const final = weightsOf(ae.model);
      ae.dispose();
      return { res, perEpoch, final, leaked };
    };
    const kept = await run(true);
    const val = kept.res.history.map((h) => h.valLoss!);
    const best = val.indexOf(Math.min(...val));
    expect(kept.res.stoppedEarly).toBe(true);
    expect(best).toBeLessThan(val.length - 1);
    expect(kept.res.restoredEpoch).toBe(best);
    kept.final.forEach((w, i) => expect(maxAbsDiff(w, kept.perEpoch[best]![i]!)).toBe(0));
    // Without it: the last epoch's weights (Keras' default), and no restoredEpoch.
    const last = await run(false);
    expect(last.res.restoredEpoch).toBeUndefined();
    last.final.forEach((w, i) => expect(maxAbsDiff(w, last.perEpoch[last.perEpoch.length - 1]![i]!)).toBe(0));
    expect(maxAbsDiff(last.final[0]!, last.perEpoch[best]![0]!)).toBeGreaterThan(0);
    // The snapshots are all disposed: both runs keep the same tensors (the optimizer's slots).
    expect(kept.leaked).toBe(last.leaked);
  });

  it('restoreBest needs a model to restore: trainLoop without one refuses it', async () => {
    const opts = { epochs: 1, earlyStopping: { patience: 1, restoreBest: true } };
    await expect(trainLoop(x, undefined, opts, async () => 0, async () => 0)).rejects.toThrow(/restoreBest/);
  });

  it('aborts between batches with the signal’s reason', async () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 5 });
    const ctl = new AbortController();
    const before = tf.memory().numTensors;
    const p = trainAutoencoder(ae, x, {
      epochs: 5,
      batchSize: 20,
      signal: ctl.signal,
      onEpoch: () => ctl.abort(new Error('stop here')),
    });
    await expect(p).rejects.toThrow('stop here');
    // It stopped inside the second epoch's first batch: one epoch was reported.
    const pre = new AbortController();
    pre.abort();
    await expect(trainAutoencoder(ae, x, { signal: pre.signal })).rejects.toThrow();
    ae.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
  });

  it('validates its arguments', async () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 5 });
    const img = tf.zeros([4, 28, 28, 1]);
    await expect(trainAutoencoder(ae, img)).rejects.toThrow(/\[N, 784\]/);
    img.dispose();
    await expect(trainAutoencoder(ae, x, { validationSplit: 1 })).rejects.toThrow(/validationSplit/);
    await expect(trainAutoencoder(ae, x, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    ae.dispose();
  });

  it('runs an autoencoder’s own trainBatch inside the same loop (context, metrics, early stopping, abort)', async () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 5 });
    const calls: { ctx: TrainStepContext; rows: number }[] = [];
    const custom = {
      kind: ae.kind,
      inputShape: ae.inputShape,
      model: ae.model,
      trainBatch: async (bx: tf.Tensor, ctx: TrainStepContext) => {
        calls.push({ ctx, rows: bx.shape[0]! });
        return { loss: ctx.epoch === 0 ? 1 : 2, metrics: { rows: bx.shape[0]! } };
      },
    } as unknown as Autoencoder;
    const before = tf.memory().numTensors;
    const res = await trainAutoencoder(custom, x, { epochs: 3, batchSize: 64, seed: 7, validationSplit: 0.1 });
    expect(tf.memory().numTensors).toBe(before);
    // 180 training rows: batches of 64, 64, 52.
    expect(calls.map((c) => c.rows)).toEqual([64, 64, 52, 64, 64, 52, 64, 64, 52]);
    expect(calls.map((c) => c.ctx.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(calls[4]!.ctx).toEqual({ epoch: 1, batch: 1, step: 4, epochs: 3, batchesPerEpoch: 3, totalSteps: 9, seed: 7 });
    expect(res.history.map((h) => h.loss)).toEqual([1, 2, 2]);
    expect(res.history[0]!.metrics!.rows).toBeCloseTo((64 * 64 + 64 * 64 + 52 * 52) / 180, 10);
    expect(res.history[0]!.valLoss).toBeGreaterThan(0); // the compiled model's loss on the split
    // Early stopping: the loss never improves after epoch 0.
    calls.length = 0;
    const stopped = await trainAutoencoder(custom, x, { epochs: 10, batchSize: 100, earlyStopping: { patience: 1 } });
    expect(stopped.stoppedEarly).toBe(true);
    expect(stopped.history).toHaveLength(2);
    // Abort between batches.
    const ctl = new AbortController();
    const p = trainAutoencoder(custom, x, { epochs: 5, batchSize: 20, signal: ctl.signal, onEpoch: () => ctl.abort(new Error('halt')) });
    await expect(p).rejects.toThrow('halt');
    ae.dispose();
  });
});
