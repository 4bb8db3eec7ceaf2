/**
 * The trustworthy study (docs/study.md): controls that isolate the UAEs,
 * explicit training schedules, the convergence loop, probes, and statistics
 * over seeds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset, type Dataset } from '../../libs/data/index.js';
import { initialPerturbation, runAttack, attackConfig } from '../../libs/attack/index.js';
import {
  aggregateStudy,
  armSpec,
  carveValidation,
  horizontalFlip,
  initNoiseSamples,
  parseMethod,
  parseMethods,
  pipelineAttackConfig,
  randomRotation,
  runAugmentation,
  runStudy,
  studyMarkdown,
  trainFresh,
  type AugmentationConfig,
  type AugmentationReport,
} from '../../libs/augment/index.js';
import { createAutoencoder, trainAutoencoder } from '../../libs/models/index.js';
import { tf } from '../../libs/tensor/index.js';

const SLICE = new URL('../fixtures/fashion-mnist-slice', import.meta.url).pathname;
let ds: Dataset;

beforeAll(async () => {
  await initBackend('wasm');
  const images = await loadDataset(`idx:${SLICE}`, { trainSamples: 40, testSamples: 32, seed: 1 });
  ds = { ...images, inputShape: [784] };
});

const base: AugmentationConfig = {
  model: 'dense-ae',
  methods: ['mine', 'init-noise'],
  epochs: 3,
  retrainEpochs: 3,
  batchSize: 16,
  seed: 3,
  workers: 1,
  classifier: false,
  modelOptions: { hidden: 16 },
  attack: {
    iterations: 3,
    mineSteps: 1,
    similarity: { kind: 'mine', mine: { sampler: 'random', draws: 16, projectionDim: 16, hidden: 16 } },
  },
};

describe('arms', () => {
  it('parses the arm grammar to canonical names and rejects what is not an arm', () => {
    expect(parseMethod('noise-0.10')).toBe('ga-0.1');
    expect(parseMethod('mine-adam@0.050')).toBe('mine-adam@0.05');
    expect(parseMethod('cosine')).toBe('cosine');
    expect(parseMethod('rotate-15')).toBe('rotate-15');
    expect(armSpec('mine-sign@0.2')).toEqual({ kind: 'attack', base: 'mine', update: 'sign', alpha: 0.2 });
    expect(() => parseMethod('rotate-0')).toThrow(/\(0, 180\]/);
    expect(() => parseMethod('mine-rmsprop')).toThrow(/unknown method/);
    expect(() => parseMethods(['init-noise', 'mine'])).toThrow(/needs the "mine" arm listed before it/);
    expect(() => parseMethods(['mine', 'ga-0.1', 'noise-0.1'])).toThrow(/listed twice/);
  });

  it("an arm's name sets its attack's similarity, update rule and step size", () => {
    const c = pipelineAttackConfig('cosine-adam@0.5', 'dense-ae', { alpha: 0.01 }, 7);
    expect(c.similarity.kind).toBe('cosine');
    expect(c.update).toBe('adam');
    expect(c.alpha).toBe(0.5);
    expect(c.seed).toBe(7);
    expect(pipelineAttackConfig('mine', 'conv-ae', {}, 0).update).toBe('gradient');
  });

  it('flip mirrors every image; a vanishing rotation is the identity; both refuse vectors', () => {
    // One 2×3×1 image.
    const img = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(horizontalFlip(img, [2, 3, 1]))).toEqual([3, 2, 1, 6, 5, 4]);
    expect(Array.from(horizontalFlip(horizontalFlip(ds.train.x, [28, 28, 1]), [28, 28, 1]))).toEqual(Array.from(ds.train.x));
    const r = randomRotation(ds.train.x.subarray(0, 784 * 2), [28, 28, 1], 1e-9, 0);
    for (let i = 0; i < r.length; i++) expect(r[i]).toBeCloseTo(ds.train.x[i]!, 5);
    // A real rotation moves pixels but keeps values in [0, 1].
    const r15 = randomRotation(ds.train.x.subarray(0, 784), [28, 28, 1], 15, 0);
    expect(r15.some((v, i) => Math.abs(v - ds.train.x[i]!) > 0.1)).toBe(true);
    expect(r15.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(() => horizontalFlip(img, [6])).toThrow(/needs image data/);
  });
});

describe('init-noise', () => {
  it('keeps clip(x + δ0) where the MINE arm succeeded and the original where it failed', () => {
    const x = Float32Array.from([0.5, 0.9, 0.2, 0.0]);
    const delta0 = Float32Array.from([0.1, 0.1, -0.2, 0.3]);
    expect(Array.from(initNoiseSamples(x, delta0, [1, 0]))).toEqual([Math.fround(0.6), Math.fround(1.0), Math.fround(0.2), 0]);
  });

  it('initialPerturbation is exactly where the attack starts: with a vanishing step the UAE is x + δ0', async () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 1, hidden: 16 });
    try {
      const x = ds.train.x.subarray(0, 784 * 4);
      const config = attackConfig({ iterations: 1, alpha: 1e-30, similarity: { kind: 'l2' }, seed: 5 });
      const results = await runAttack(ae, { data: x, inputShape: [784] }, config);
      const delta0 = initialPerturbation(config, [784], x, [0, 1, 2, 3]);
      results.forEach((r, b) => {
        for (let j = 0; j < 784; j++) expect(r.xAdv[j]).toBe(Math.fround(x[b * 784 + j]! + delta0[b * 784 + j]!));
      });
    } finally {
      ae.dispose();
    }
  });

  it('uses exactly the MINE arm’s δ0 and success mask in the pipeline, and the diagnostics see the difference', async () => {
    const report = await runAugmentation(ds, base);
    const mine = report.generated.mine!;
    const init = report.generated['init-noise']!.x;
    const config = pipelineAttackConfig('mine', 'dense-ae', base.attack, base.seed);
    const delta0 = initialPerturbation(config, [784], report.trainX, mine.results!.map((r) => r.sampleId));
    const expected = initNoiseSamples(report.trainX, delta0, mine.results!.map((r) => r.success));
    expect(Array.from(init)).toEqual(Array.from(expected));
    expect(mine.results!.some((r) => r.success)).toBe(true);
    // Per-sample diagnostics: one row per sample; a moved δ has rel_move > 0 and cos(δ, δ0) ≤ 1.
    expect(mine.diagnostics).toHaveLength(report.train_samples);
    for (const row of mine.diagnostics!) {
      expect(row.rel_move).toBeGreaterThanOrEqual(0);
      expect(row.cos_delta0).toBeLessThanOrEqual(1 + 1e-6);
      expect(row.linf).toBeLessThanOrEqual(1);
    }
    const summary = report.methods.mine!.diagnostics!;
    expect(summary.samples).toBe(mine.results!.filter((r) => r.success).length);
    expect(report.methods['init-noise']!.diagnostics).toBeUndefined();
  });
});

describe('training protocol', () => {
  it('carves a seeded validation split disjoint from the samples trained on', () => {
    const a = carveValidation(ds.train, 784, 0.25, 9);
    const b = carveValidation(ds.train, 784, 0.25, 9);
    expect(a.fit.n).toBe(30);
    expect(a.validation!.length).toBe(10 * 784);
    expect(Array.from(a.fitIndex)).toEqual(Array.from(b.fitIndex));
    expect(Array.from(carveValidation(ds.train, 784, 0.25, 10).fitIndex)).not.toEqual(Array.from(a.fitIndex));
    expect(() => carveValidation(ds.train, 784, 1, 0)).toThrow(/validation fraction/);
  });

  it('same-steps retrains for exactly the original’s optimiser steps, same-epochs for its epochs', async () => {
    const cfg: AugmentationConfig = { ...base, methods: ['repeat'], epochs: 4 };
    const steps = await runAugmentation(ds, { ...cfg, retrainSchedule: 'same-steps' });
    expect(steps.methods.original.train_steps).toBe(4 * Math.ceil(40 / 16));
    expect(steps.methods.repeat!.train_steps).toBe(steps.methods.original.train_steps);
    const epochs = await runAugmentation(ds, { ...cfg, retrainSchedule: 'same-epochs' });
    expect(epochs.methods.repeat!.train_epochs).toBe(4);
    expect(epochs.methods.repeat!.train_steps).toBe(4 * Math.ceil(80 / 16));
  });

  it('early stopping on the validation split ends the original before its cap', async () => {
    // No epoch improves the validation loss by more than minDelta = 1: the second epoch stops it.
    const report = await runAugmentation(ds, { ...base, methods: ['none'], epochs: 50, validation: { fraction: 0.25, patience: 1, minDelta: 1 }, retrainSchedule: 'plateau' });
    expect(report.methods.original.train_epochs).toBe(2);
    expect(report.methods.none!.train_epochs).toBe(2);
    expect(report.validation_samples).toBe(10);
    expect(report.train_samples).toBe(30);
    expect(report.methods.original.train_epochs).toBeLessThan(50);
    expect(report.history.original!.every((e) => e.valLoss !== undefined)).toBe(true);
    expect(report.protocol.retrain_schedule).toBe('plateau');
  });

  it('restoreBest: the trained model is the best validation epoch’s, and the protocol records it', async () => {
    const split = carveValidation(ds.train, 784, 0.25, 0);
    const trained = await trainFresh({
      kind: 'dense-ae', inputShape: [784], data: split.fit.x, epochs: 30, batchSize: 4, seed: 0,
      modelOptions: { hidden: 16 }, validation: split.validation!, patience: 2, restoreBest: true,
    });
    const val = trained.history.map((e) => e.valLoss!);
    const best = val.indexOf(Math.min(...val));
    expect(trained.restoredEpoch).toBe(best);
    const xv = tf.tensor(split.validation!, [10, 784]);
    const out = trained.ae.model.evaluate(xv, xv, { batchSize: 100 }) as tf.Scalar;
    // The model's validation loss is the best epoch's, not the last one's.
    expect((await out.data())[0]).toBeCloseTo(val[best]!, 6);
    tf.dispose([xv, out]);
    trained.ae.dispose();
    const report = await runAugmentation(ds, { ...base, methods: ['none'], epochs: 3, validation: { fraction: 0.25, patience: 1, restoreBest: true }, retrainSchedule: 'plateau' });
    expect(report.protocol.validation).toMatchObject({ restore_best: true, patience: 1 });
    const plain = await runAugmentation(ds, { ...base, methods: ['none'], epochs: 3, validation: { fraction: 0.25, patience: 1 }, retrainSchedule: 'plateau' });
    expect(plain.protocol.validation).not.toHaveProperty('restore_best');
  });

  it('the concrete AE’s convergence loop doubles the epochs until the threshold or the cap', async () => {
    const mice = await loadDataset('mice-protein', { trainSamples: 32, testSamples: 16, seed: 0 });
    const restarts: number[] = [];
    const never = await trainFresh({
      kind: 'concrete-ae', inputShape: mice.inputShape, data: mice.train.x, epochs: 1, batchSize: 16, seed: 0,
      modelOptions: { k: 3, widths: [8] }, convergence: { threshold: 1.01, maxEpochs: 4 }, onRestart: (e) => restarts.push(e),
    });
    expect(never.tries).toEqual([1, 2, 4]);
    expect(restarts).toEqual([2, 4]);
    expect(never.epochs).toBe(4);
    expect(never.selectionConvergence).toBeGreaterThan(1 / mice.inputShape[0]! - 1e-6);
    expect(never.selectionConvergence).toBeLessThan(1);
    never.ae.dispose();
    const once = await trainFresh({
      kind: 'concrete-ae', inputShape: mice.inputShape, data: mice.train.x, epochs: 1, batchSize: 16, seed: 0,
      modelOptions: { k: 3, widths: [8] }, convergence: { threshold: 0, maxEpochs: 4 },
    });
    expect(once.tries).toEqual([1]);
    once.ae.dispose();
  });
});

describe('probes', () => {
  it('the ExtraTrees probe fits on the full training split and sits beside the MLP probe', async () => {
    const full = await loadDataset(`idx:${SLICE}`, { trainSamples: 24, testSamples: 64, seed: 1 });
    const flat = { ...full, inputShape: [784] };
    expect(flat.fullTrain!.n).toBeGreaterThan(24);
    const report = await runAugmentation(flat, { ...base, methods: ['repeat'], classifier: { epochs: 2 }, probe: 'both', probeTrainSamples: 200 });
    for (const m of [report.methods.original, report.methods.repeat!]) {
      expect(m.accuracy).toBeGreaterThanOrEqual(0);
      expect(m.accuracy_extratrees).toBeGreaterThan(0.2); // 10 classes: well above chance on 200 rows
      expect(m.accuracy_extratrees).toBeLessThanOrEqual(1);
    }
    expect(report.protocol.probes).toEqual(['mlp', 'extratrees']);
  });
});

describe('seeds and statistics', () => {
  it('--seeds 0,1 gives per-seed values, intervals and paired comparisons that match them', async () => {
    const { metrics, reports } = await runStudy(ds, { ...base, methods: ['mine', 'init-noise', 'repeat'] }, [0, 1]);
    expect(metrics.seeds).toEqual([0, 1]);
    expect(reports.map((r) => r.seed)).toEqual([0, 1]);
    const mine = metrics.methods.mine!;
    expect(mine.per_seed.test_recon_error).toHaveLength(2);
    expect(mine.test_recon_error).toBeCloseTo((mine.per_seed.test_recon_error![0]! + mine.per_seed.test_recon_error![1]!) / 2, 12);
    expect(mine.ci95.test_recon_error![0]).toBeLessThanOrEqual(mine.test_recon_error!);
    expect(mine.ci95.test_recon_error![1]).toBeGreaterThanOrEqual(mine.test_recon_error!);
    expect(mine.std.test_recon_error).toBeGreaterThan(0);
    const vsRepeat = metrics.comparisons.find((c) => c.arm === 'mine' && c.control === 'repeat' && c.metric === 'test_recon_error')!;
    const d = reports.map((r) => r.methods.mine!.test_recon_error - r.methods.repeat!.test_recon_error);
    expect(vsRepeat.diff).toBeCloseTo((d[0]! + d[1]!) / 2, 12);
    expect(vsRepeat.ci95).toHaveLength(2);
    expect(['better', 'worse', 'indistinguishable']).toContain(vsRepeat.verdict);
    expect(metrics.comparisons.map((c) => c.control)).toEqual(expect.arrayContaining(['original', 'init-noise', 'repeat']));
    // Seeds change the models, not the data.
    expect(Array.from(reports[0]!.trainX)).toEqual(Array.from(reports[1]!.trainX));
    expect(reports[0]!.methods.original.test_recon_error).not.toBe(reports[1]!.methods.original.test_recon_error);
  });

  it('aggregates known per-seed numbers into known means, intervals and verdicts', () => {
    const report = (seed: number, original: number, mine: number, repeat: number): AugmentationReport =>
      ({
        dataset: 't', model: 'dense-ae', backend: 'cpu', seed, train_samples: 1, validation_samples: 0, test_samples: 1,
        protocol: { validation: null, retrain_schedule: 'longer', convergence: null, probes: [] },
        methods: {
          original: { test_recon_error: original },
          mine: { test_recon_error: mine, improvement: 0, seconds_per_sample: 1 },
          repeat: { test_recon_error: repeat, improvement: 0, seconds_per_sample: 0 },
        },
        generated: {}, history: {}, trainX: new Float32Array(1), trainIndex: new Int32Array(1),
      }) as unknown as AugmentationReport;
    const m = aggregateStudy([report(0, 1.0, 0.5, 0.9), report(1, 2.0, 1.4, 1.9), report(2, 3.0, 2.6, 2.9)]);
    expect(m.methods.mine!.test_recon_error).toBeCloseTo(1.5, 12);
    expect(m.methods.mine!.std.test_recon_error).toBeCloseTo(Math.sqrt(((0.5 - 1.5) ** 2 + (1.4 - 1.5) ** 2 + (2.6 - 1.5) ** 2) / 2), 12);
    // mine − repeat: −0.4, −0.5, −0.3 → mean −0.4, s = 0.1, t(2) = 4.30265 → ±0.2484
    const c = m.comparisons.find((x) => x.control === 'repeat')!;
    expect(c.diff).toBeCloseTo(-0.4, 12);
    expect(c.ci95![0]).toBeCloseTo(-0.4 - (4.30265273 * 0.1) / Math.sqrt(3), 6);
    expect(c.verdict).toBe('better');
    expect(() => aggregateStudy([])).toThrow(/no reports/);
    // The Markdown summary (uae summarize) carries the same numbers.
    const md = studyMarkdown(m);
    expect(md).toContain('seeds 0, 1, 2');
    expect(md).toContain(`| mine | ${(1.5).toPrecision(4)} [`);
    expect(md).toContain('| mine vs repeat | test_recon_error | -4.00e-1 | [-6.48e-1, -1.52e-1] | **better** |');
  });
});

describe('δ update rules', () => {
  it('sign and adam run, stay in bounds and differ from the plain gradient step', async () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 2, hidden: 16 });
    try {
      await trainAutoencoder(ae, tf.tensor(ds.train.x, [40, 784]), { epochs: 1, batchSize: 20 });
      const x = ds.train.x.subarray(0, 784 * 2);
      const run = (update: 'gradient' | 'sign' | 'adam') =>
        runAttack(ae, { data: x, inputShape: [784] }, attackConfig({ iterations: 3, update, alpha: 0.05, similarity: { kind: 'l2' }, seed: 1 }));
      const [g, s, a] = await Promise.all([run('gradient'), run('sign'), run('adam')]);
      for (const r of [...s, ...a]) {
        expect(r.xAdv.every((v) => v >= 0 && v <= 1)).toBe(true);
        expect(Number.isFinite(r.f)).toBe(true);
      }
      const dist = (p: Float32Array, q: Float32Array) => p.reduce((acc, v, i) => acc + Math.abs(v - q[i]!), 0);
      expect(dist(g[0]!.xAdv, s[0]!.xAdv) + dist(g[1]!.xAdv, s[1]!.xAdv)).toBeGreaterThan(0);
      expect(dist(g[0]!.xAdv, a[0]!.xAdv) + dist(g[1]!.xAdv, a[1]!.xAdv)).toBeGreaterThan(0);
      expect(() => attackConfig({ update: 'rmsprop' as never })).toThrow();
    } finally {
      ae.dispose();
    }
  });
});
