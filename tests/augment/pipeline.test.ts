import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset, type Dataset } from '../../libs/data/index.js';
import { aggregateStudy, parseMethod, runAugmentation, stepsTaken, type AugmentationConfig } from '../../libs/augment/index.js';
import type { Autoencoder } from '../../libs/models/index.js';

const SLICE = new URL('../fixtures/fashion-mnist-slice', import.meta.url).pathname;
let ds: Dataset;

beforeAll(async () => {
  await initBackend('wasm');
  const images = await loadDataset(`idx:${SLICE}`, { trainSamples: 48, testSamples: 32, seed: 1 });
  // Flattened for the dense AE.
  ds = { ...images, inputShape: [784] };
});

const config: AugmentationConfig = {
  model: 'dense-ae',
  methods: ['mine', 'l2', 'ga-0.1', 'repeat', 'none'],
  epochs: 2,
  retrainEpochs: 2,
  batchSize: 16,
  seed: 3,
  workers: 1,
  classifier: false,
  attack: {
    iterations: 2,
    mineSteps: 2,
    similarity: { kind: 'mine', mine: { sampler: 'random', draws: 16, projectionDim: 16, hidden: 32 } },
  },
};

describe('UAE augmentation pipeline (tiny config)', () => {
  it('trains, generates, replicates failures, retrains from scratch and evaluates every method', async () => {
    const stages: string[] = [];
    const report = await runAugmentation(ds, config, { onStage: (s) => stages.push(s) });
    expect(stages).toEqual([
      'train original',
      ...config.methods.flatMap((m) => [`generate ${m}`, `retrain ${m}`]),
    ]);
    const base = report.methods.original.test_recon_error;
    expect(base).toBeGreaterThan(0);
    for (const m of config.methods) {
      const r = report.methods[m]!;
      expect(Number.isFinite(r.test_recon_error)).toBe(true);
      expect(r.improvement).toBeCloseTo((base - r.test_recon_error) / base, 10);
    }
    expect(report.methods.mine!.asr).toBeGreaterThanOrEqual(0);
    expect(report.methods['ga-0.1']!.asr).toBeUndefined();
    // Failed attacks contribute their original sample.
    const { x, results } = report.generated.mine!;
    results!.forEach((r, i) => {
      const expected = r.success ? r.xAdv : ds.train.x.subarray(i * 784, (i + 1) * 784);
      expect(Array.from(x.subarray(i * 784, (i + 1) * 784))).toEqual(Array.from(expected));
    });
    expect(report.history.repeat).toHaveLength(2);
    // Attacks record MI / f / c per iteration for the report.
    expect(results![0]!.trace?.f).toHaveLength(config.attack.iterations!);
  });

  it('attacks with the criterion the attack config names (loss: the sparse AE\'s own objective)', async () => {
    const run = (kind: 'loss' | 'reconstruction') =>
      runAugmentation(ds, { ...config, model: 'sparse-ae', modelOptions: { hidden: 16 }, methods: ['mine'], attack: { ...config.attack, criterion: { kind, kappa: 0 } } });
    const [loss, reconstruction] = [await run('loss'), await run('reconstruction')];
    const f = (r: typeof loss) => r.generated.mine!.results!.map((s) => s.trace!.f[0]!);
    expect(f(loss).every(Number.isFinite)).toBe(true);
    // Same model, same δ: only the criterion differs (mean-over-features loss vs summed squared error).
    f(loss).forEach((v, i) => expect(v).not.toBeCloseTo(f(reconstruction)[i]!, 6));
    expect(Number.isFinite(loss.methods.mine!.test_recon_error)).toBe(true);
  });

  it('is deterministic under its seed', async () => {
    const small = { ...config, methods: ['mine', 'ga-0.1'] as AugmentationConfig['methods'] };
    const a = await runAugmentation(ds, small);
    const b = await runAugmentation(ds, small);
    expect(a.methods.mine!.test_recon_error).toBe(b.methods.mine!.test_recon_error);
    expect(a.methods['ga-0.1']!.test_recon_error).toBe(b.methods['ga-0.1']!.test_recon_error);
  });

  it('scores downstream accuracy on the latent codes when the dataset has labels, and hands every model over', async () => {
    const stages: string[] = [];
    const models: string[] = [];
    const report = await runAugmentation(ds, { ...config, methods: ['ga-0.1'], classifier: { epochs: 2 } }, {
      onStage: (s) => stages.push(s),
      onModel: (name, ae) => {
        models.push(name);
        expect(ae.inputShape).toEqual([784]);
      },
    });
    expect(stages).toEqual(['train original', 'downstream accuracy', 'generate ga-0.1', 'retrain ga-0.1', 'downstream accuracy']);
    expect(models).toEqual(['original', 'ga-0.1']);
    for (const m of [report.methods.original, report.methods['ga-0.1']!]) {
      expect(m.accuracy).toBeGreaterThanOrEqual(0);
      expect(m.accuracy).toBeLessThanOrEqual(1);
    }
  });

  it('parses method names and rejects unknown ones', () => {
    expect(parseMethod('ga-0.05')).toBe('ga-0.05');
    expect(parseMethod('repeat')).toBe('repeat');
    expect(() => parseMethod('pgd')).toThrow(/unknown method "pgd"/);
  });
});

/** A model's weights, copied out (the model may be disposed after the hook). */
const weightsOf = (ae: Autoencoder) => ae.model.getWeights().map((w) => Float32Array.from(w.dataSync()));
/** Bit-identical weights (a boolean: a failing deep equality of 10⁵ numbers takes minutes to print). */
const sameWeights = (a: Float32Array[] | undefined, b: Float32Array[] | undefined) =>
  !!a && !!b && a.length === b.length && a.every((w, i) => w.length === b[i]!.length && w.every((v, j) => Object.is(v, b[i]![j])));

describe('multi-round augmentation (SuppMat 6.15)', () => {
  const methods = ['mine', 'init-noise', 'ga-0.1', 'repeat'];
  const twoRounds: AugmentationConfig = { ...config, methods, rounds: 2 };

  it('round 2 of each arm attacks its round-1 retrained model and retrains on original ∪ both rounds; metrics per round, the top level is the last', async () => {
    const stages: string[] = [];
    const trained = new Map<string, Float32Array[]>();
    const attacked = new Map<string, Float32Array[]>();
    const report = await runAugmentation(ds, twoRounds, {
      onStage: (s) => stages.push(s),
      onModel: (name, ae, round) => void trained.set(`${name}@${round ?? 0}`, weightsOf(ae)),
      onAttackModel: (method, ae, round) => void attacked.set(`${method}@${round}`, weightsOf(ae)),
    });
    expect(stages).toEqual([
      'train original',
      ...methods.flatMap((m) => [1, 2].flatMap((r) => [`round ${r} of 2: generate ${m}`, `round ${r} of 2: retrain ${m}`])),
    ]);
    // Round 1 attacks the original; round 2 the MINE arm's round-1 model, not the original.
    expect([...attacked.keys()]).toEqual(['mine@1', 'mine@2']);
    expect(sameWeights(attacked.get('mine@1'), trained.get('original@0'))).toBe(true);
    expect(sameWeights(attacked.get('mine@2'), trained.get('mine@1'))).toBe(true);
    expect(sameWeights(attacked.get('mine@2'), trained.get('original@0'))).toBe(false);

    const rounds = report.rounds!;
    expect(rounds.map((r) => r.round)).toEqual([1, 2]);
    const n = report.train_samples;
    const base = report.methods.original.test_recon_error;
    for (const r of rounds) {
      expect(Object.keys(r.methods)).toEqual(['original', ...methods]);
      expect(r.methods.original).toEqual(report.methods.original);
      for (const m of methods) {
        const metrics = r.methods[m]!;
        expect(metrics.improvement).toBeCloseTo((base - metrics.test_recon_error) / base, 10);
        // Round r retrains on the originals and one generated set per round so far: (1 + r)·n samples.
        expect(metrics.train_steps).toBe(stepsTaken(config.retrainEpochs, (1 + r.round) * n, config.batchSize));
      }
      expect(r.methods.mine!.asr).toBeGreaterThanOrEqual(0);
    }
    expect(report.methods).toEqual(rounds[1]!.methods);
    expect(report.generated.mine).toBe(rounds[1]!.generated.mine);
    // Later rounds draw afresh: other Gaussian noise, other attack starts (so init-noise differs too).
    expect(sameWeights([rounds[1]!.generated['ga-0.1']!.x], [rounds[0]!.generated['ga-0.1']!.x])).toBe(false);
    expect(rounds[1]!.generated.mine!.diagnostics!.map((d) => d.l2)).not.toEqual(rounds[0]!.generated.mine!.diagnostics!.map((d) => d.l2));

    // The study aggregates per round; its top level is the last round.
    const study = aggregateStudy([report]);
    expect(study.rounds!.map((r) => r.round)).toEqual([1, 2]);
    expect(study.rounds![1]!.methods).toEqual(study.methods);
    expect(study.rounds![1]!.comparisons).toEqual(study.comparisons);
    expect(study.rounds![0]!.methods.mine!.test_recon_error).toBe(rounds[0]!.methods.mine!.test_recon_error);
    expect(study.methods.mine!.test_recon_error).toBe(rounds[1]!.methods.mine!.test_recon_error);
  }, 600_000);

  it('round 1 of several is the single-round study; one round records no rounds', async () => {
    const small: AugmentationConfig = { ...config, methods: ['mine', 'ga-0.1'] };
    const single = await runAugmentation(ds, small);
    const multi = await runAugmentation(ds, { ...small, rounds: 2 });
    expect(single.rounds).toBeUndefined();
    expect(aggregateStudy([single]).rounds).toBeUndefined();
    const untimed = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, { ...(v as object), seconds_per_sample: 0 }]));
    expect(untimed(multi.rounds![0]!.methods)).toEqual(untimed(single.methods));
    await expect(runAugmentation(ds, { ...small, rounds: 0 })).rejects.toThrow(/rounds must be an integer ≥ 1; got 0/);
  }, 600_000);
});
