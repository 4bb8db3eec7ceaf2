import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset, type Dataset } from '../../libs/data/index.js';
import { parseMethod, runAugmentation, type AugmentationConfig } from '../../libs/augment/index.js';

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
