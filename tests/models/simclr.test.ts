/**
 * The SimCLR model (libs/models/simclr): its per-sample contrastive loss (the
 * attack's `loss` criterion: shape, determinism, independence from the batch,
 * gradients), training lowers NT-Xent without leaking tensors, save/load keeps
 * features and the loss, and the linear probe on separable features.
 * Tiny widths and 8×8 images keep it fast on CPU.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import {
  createSimclr,
  evaluateContrastiveLoss,
  linearProbe,
  loadSimclr,
  saveSimclr,
  trainSimclr,
  type SimclrModel,
  type SimclrOptions,
} from '../../libs/models/index.js';
import { attackConfig, runAttack } from '../../libs/attack/index.js';
import { maxAbsDiff } from './helpers.js';

const TINY: SimclrOptions = { widthMultiplier: 0.25, projectionHidden: 16, projectionDim: 8, seed: 1 };
let dir: string;

beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'uae-simclr-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `n` 8×8 images of four kinds (bright square in one quadrant) with pixel noise, values in [0, 1]. */
function quadrants(n: number, c: number, seed: number): tf.Tensor4D {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 8 * 8 * c);
  for (let i = 0; i < n; i++) {
    const q = i % 4;
    for (let y = 0; y < 8; y++) {
      for (let xx = 0; xx < 8; xx++) {
        const inside = (y < 4) === (q < 2) && (xx < 4) === (q % 2 === 0);
        for (let ch = 0; ch < c; ch++) x[((i * 8 + y) * 8 + xx) * c + ch] = Math.min(1, Math.max(0, (inside ? 0.8 : 0.2) + 0.1 * rng.normal()));
      }
    }
  }
  return tf.tensor4d(x, [n, 8, 8, c]);
}

function trainedTiny(c: number): { model: SimclrModel; x: tf.Tensor4D } {
  const model = createSimclr('simclr-small', [8, 8, c], TINY);
  const x = quadrants(16, c, 2);
  model.setReference(tf.slice(x, 0, 8), { source: 'quadrants', rows: [0, 1, 2, 3, 4, 5, 6, 7] });
  return { model, x };
}

describe('SimCLR per-sample loss (the attack\'s loss criterion)', () => {
  it('is [B], deterministic, independent of the rest of the batch, with finite nonzero gradients', async () => {
    const { model, x } = trainedTiny(3);
    const batch = tf.slice(x, 8, 6);
    // The first call inside a gradient tape (the bank's projections are computed and cached there).
    const g = tf.grad((t: tf.Tensor) => tf.sum(model.perSampleLoss(t)))(batch);
    const a = model.perSampleLoss(batch);
    expect(a.shape).toEqual([6]);
    const av = await a.data();
    expect(av.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    expect(maxAbsDiff(av, await model.perSampleLoss(batch).data())).toBe(0);
    const held = tf.memory().numTensors;
    model.perSampleLoss(batch).dispose();
    expect(tf.memory().numTensors).toBe(held);
    // Sample 2 alone, and sample 2 in a reversed batch of other samples: the same value.
    const alone = (await model.perSampleLoss(tf.slice(batch, 2, 1)).data())[0]!;
    expect(alone).toBeCloseTo(av[2]!, 5);
    const reversed = await model.perSampleLoss(tf.reverse(batch, 0)).data();
    expect(maxAbsDiff(Array.from(reversed).reverse(), av)).toBeLessThan(1e-5);
    const gv = await g.data();
    expect(gv.every(Number.isFinite)).toBe(true);
    // Every sample gets a gradient.
    for (let i = 0; i < 6; i++) expect(Math.max(...gv.subarray(i * 192, (i + 1) * 192).map(Math.abs))).toBeGreaterThan(0);
    tf.dispose([batch, a, g, x]);
    model.dispose();
  });

  it('drives the attack\'s loss criterion unchanged (f = L(x′) − L(x) + κ)', async () => {
    const { model, x } = trainedTiny(1);
    const data = (await tf.slice(x, 8, 2).data()) as Float32Array;
    const res = await runAttack(model, { data, inputShape: [8, 8, 1] }, attackConfig({ criterion: { kind: 'loss', kappa: 0 }, similarity: { kind: 'l2' }, iterations: 5, alpha: 0.1 }));
    expect(res).toHaveLength(2);
    for (const r of res) {
      expect(r.xAdv).toHaveLength(64);
      expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(Number.isFinite(r.f)).toBe(true);
    }
    x.dispose();
    model.dispose();
  });

  it('needs its reference bank, naming it', () => {
    const model = createSimclr('simclr-small', [8, 8, 1], TINY);
    const x = tf.zeros([2, 8, 8, 1]);
    expect(() => model.perSampleLoss(x)).toThrow(expect.objectContaining({ field: 'reference' }));
    expect(() => model.features(tf.zeros([2, 8, 8, 3]))).toThrow(expect.objectContaining({ field: 'x' }));
    x.dispose();
    model.dispose();
  });
});

describe('SimCLR training', () => {
  it('a few Adam steps lower the NT-Xent test loss, without leaking tensors', async () => {
    const model = createSimclr('simclr-small', [8, 8, 1], { ...TINY, learningRate: 1e-2 });
    const x = quadrants(32, 1, 3);
    const before = await evaluateContrastiveLoss(model, x, { batchSize: 16 });
    // First step (Adam's slots, the reference bank) outside the count.
    await trainSimclr(model, x, { epochs: 1, batchSize: 16, seed: 1, maxSteps: 1 });
    const start = tf.memory().numTensors;
    const epochs: number[] = [];
    const res = await trainSimclr(model, x, { epochs: 10, batchSize: 16, seed: 1, onEpoch: (e) => epochs.push(e.epoch) });
    expect(tf.memory().numTensors).toBe(start);
    expect(res.steps).toBe(20);
    expect(epochs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const after = await evaluateContrastiveLoss(model, x, { batchSize: 16 });
    expect(after).toBeLessThan(before - 0.1);
    // trainSimclr picked the reference bank from x (32 rows at most: all 32 here), recorded as such.
    expect(model.reference?.source.rows).toHaveLength(32);
    tf.dispose(x);
    model.dispose();
  });

  it('stops on abort with the signal\'s reason', async () => {
    const model = createSimclr('simclr-small', [8, 8, 1], TINY);
    const x = quadrants(8, 1, 4);
    const ctl = new AbortController();
    ctl.abort(new Error('stop'));
    await expect(trainSimclr(model, x, { epochs: 1, batchSize: 4, signal: ctl.signal })).rejects.toThrow('stop');
    x.dispose();
    model.dispose();
  });
});

describe('SimCLR save/load', () => {
  it('round trip keeps features, projections, the per-sample loss, the options and the reference source', async () => {
    const { model, x } = trainedTiny(1);
    await trainSimclr(model, x, { epochs: 1, batchSize: 8, seed: 2 });
    const out = join(dir, 'tiny');
    await saveSimclr(model, out, { dataset: 'quadrants' });
    const { model: loaded, info } = await loadSimclr(out);
    expect(info).toEqual({ dataset: 'quadrants' });
    expect(loaded.kind).toBe('simclr-small');
    expect(loaded.options).toEqual(model.options);
    expect(loaded.reference?.source).toEqual({ source: 'quadrants', rows: [0, 1, 2, 3, 4, 5, 6, 7] });
    expect(maxAbsDiff(await loaded.features(x).data(), await model.features(x).data())).toBeLessThan(1e-6);
    expect(maxAbsDiff(await loaded.project(x).data(), await model.project(x).data())).toBeLessThan(1e-6);
    expect(maxAbsDiff(await loaded.perSampleLoss(x).data(), await model.perSampleLoss(x).data())).toBeLessThan(1e-5);
    x.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('builds a tiny ResNet-18 and round-trips it', async () => {
    const model = createSimclr('simclr-resnet18', [8, 8, 3], { ...TINY, widthMultiplier: 1 / 16 });
    const x = quadrants(4, 3, 5);
    expect(model.features(x).shape).toEqual([4, 32]);
    expect(model.project(x).shape).toEqual([4, 8]);
    const out = join(dir, 'r18');
    await saveSimclr(model, out);
    const { model: loaded } = await loadSimclr(out);
    expect(loaded.reference).toBeUndefined();
    expect(maxAbsDiff(await loaded.features(x).data(), await model.features(x).data())).toBeLessThan(1e-6);
    x.dispose();
    model.dispose();
    loaded.dispose();
  });
});

describe('linear probe', () => {
  it('logistic regression reaches high test accuracy on separable features', async () => {
    const blobs = (n: number, seed: number) => {
      const rng = new Rng(seed);
      const f = new Float32Array(n * 6);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        labels[i] = i % 3;
        for (let j = 0; j < 6; j++) f[i * 6 + j] = (j === labels[i]! * 2 ? 3 : 0) + rng.normal();
      }
      return { f: tf.tensor2d(f, [n, 6]), labels };
    };
    const [train, test] = [blobs(300, 1), blobs(150, 2)];
    const res = await linearProbe(train.f, train.labels, test.f, test.labels, { epochs: 30, batchSize: 50, learningRate: 0.05 });
    expect(res.accuracy).toBeGreaterThan(0.9);
    expect(res.history).toHaveLength(30);
    tf.dispose([train.f, test.f]);
  });
});
