/**
 * FID/KID in the augmentation pipeline (libs/augment/fid.ts): with a feature
 * network given, every arm with a generated set gets `fid` and `kid`
 * (× 100) of that set against the samples trained on, and the study
 * summarises them over seeds like its other metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset, type Dataset } from '../../libs/data/index.js';
import { extractFeatures, frechetDistance, kernelInceptionDistance, trainFeatureModel, type FeatureModel } from '../../libs/eval/index.js';
import { aggregateStudy, KID_SCALE, runAugmentation, type AugmentationConfig } from '../../libs/augment/index.js';

const SLICE = new URL('../fixtures/fashion-mnist-slice', import.meta.url).pathname;
let ds: Dataset;
let model: FeatureModel;

beforeAll(async () => {
  await initBackend('wasm');
  const images = await loadDataset(`idx:${SLICE}`, { trainSamples: 40, testSamples: 32, seed: 1 });
  ds = { ...images, inputShape: [784] };
  model = await trainFeatureModel(ds, { epochs: 2, hidden: 16 });
}, 300_000);

afterAll(() => model?.classifier.dispose());

const config: AugmentationConfig = {
  model: 'dense-ae',
  methods: ['mine', 'ga-0.1', 'flip', 'repeat', 'none'],
  epochs: 2,
  retrainEpochs: 2,
  batchSize: 16,
  seed: 3,
  workers: 1,
  classifier: false,
  imageShape: [28, 28, 1],
  attack: {
    iterations: 2,
    mineSteps: 2,
    similarity: { kind: 'mine', mine: { sampler: 'random', draws: 16, projectionDim: 16, hidden: 32 } },
  },
};

describe('FID and KID of the generated sets', () => {
  it('scores every arm with a generated set against the samples trained on, and no other', async () => {
    const stages: string[] = [];
    const report = await runAugmentation(ds, { ...config, fid: { model } }, { onStage: (s) => stages.push(s) });
    expect(stages.at(-1)).toBe('FID and KID of the generated sets');
    const ref = await extractFeatures(model, report.trainX);
    for (const arm of ['mine', 'ga-0.1', 'flip'] as const) {
      const m = report.methods[arm]!;
      expect(Number.isFinite(m.fid)).toBe(true);
      expect(Number.isFinite(m.kid)).toBe(true);
      // The arm's generated set (what it retrained on) against trainX, row by row (paired), KID seeded by the run's seed.
      const f = await extractFeatures(model, report.generated[arm]!.x);
      expect(m.fid).toBe(frechetDistance(f, ref, 16));
      expect(m.kid).toBe(KID_SCALE * kernelInceptionDistance(f, ref, 16, { seed: config.seed, paired: true }).mean);
    }
    // Flipped images are further from the data than a little noise.
    expect(report.methods.flip!.fid).toBeGreaterThan(report.methods['ga-0.1']!.fid!);
    for (const arm of ['repeat', 'none'] as const) {
      expect(report.methods[arm]!.fid).toBeUndefined();
      expect(report.methods[arm]!.kid).toBeUndefined();
    }
    expect(report.methods.original).not.toHaveProperty('fid');

    // Off by default: no stage, no fields.
    const plain = await runAugmentation(ds, { ...config, methods: ['ga-0.1'] });
    expect(plain.methods['ga-0.1']!.fid).toBeUndefined();

    // The study summarises them per arm like its other metrics.
    const study = aggregateStudy([report]);
    expect(study.methods['ga-0.1']!.fid).toBe(report.methods['ga-0.1']!.fid);
    expect(study.methods['ga-0.1']!.per_seed.kid).toEqual([report.methods['ga-0.1']!.kid]);
    expect(study.methods.repeat!.fid).toBeUndefined();
  }, 600_000);
});
