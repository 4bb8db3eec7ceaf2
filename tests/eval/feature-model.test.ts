/**
 * The feature network of FID/KID (libs/eval/feature-model.ts) on the bundled
 * Fashion-MNIST slice: it learns the classes, its features are the hidden
 * layer's, a saved network gives the same features back, and the distances
 * it gives order noise levels as they should.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { loadDataset, type Dataset } from '../../libs/data/index.js';
import { extractFeatures, loadFeatureModel, saveFeatureModel, trainFeatureModel, type FeatureModel } from '../../libs/eval/index.js';
import { createAutoencoder, loadAutoencoder, saveAutoencoder } from '../../libs/models/index.js';
import { setDistances } from '../../libs/augment/index.js';

const SLICE = new URL('../fixtures/fashion-mnist-slice', import.meta.url).pathname;
let ds: Dataset;
let model: FeatureModel;
let dir: string;

beforeAll(async () => {
  await initBackend('wasm');
  ds = await loadDataset(`idx:${SLICE}`, { trainSamples: 1000, testSamples: 200, seed: 1 });
  model = await trainFeatureModel(ds, { epochs: 5, hidden: 32 });
  dir = await mkdtemp(join(tmpdir(), 'uae-feature-model-'));
}, 300_000);

afterAll(async () => {
  model?.classifier.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe('the feature network', () => {
  it('is a classifier trained on the full training split that beats chance on the test split, and says so in its record', () => {
    expect(model.record).toMatchObject({ input_size: 784, features: 32, classes: 10, dataset: ds.name, train_samples: ds.fullTrain!.n, epochs: 5, seed: 0 });
    expect(model.record.architecture).toMatch(/^mlp 784-32-10 .*the 32 ReLU units/);
    expect(model.record.test_accuracy).toBeGreaterThan(0.5);
  });

  it('gives the hidden ReLU layer as features, the same in batches as in one go', async () => {
    const x = ds.test.x.subarray(0, 70 * 784);
    const f = await extractFeatures(model, x, 16);
    expect(f.length).toBe(70 * 32);
    expect(f.every((v) => v >= 0)).toBe(true);
    expect(Array.from(await extractFeatures(model, x, 1000))).toEqual(Array.from(f));
    // Row 0 by hand: relu(x W + b) with the first dense layer's weights.
    const [w, b] = model.classifier.model.layers[0]!.getWeights() as [tf.Tensor2D, tf.Tensor1D];
    const h = tf.tidy(() => tf.relu(tf.add(tf.matMul(tf.tensor2d(x.subarray(0, 784), [1, 784]), w), b)).dataSync());
    Array.from(h).forEach((v, j) => expect(f[j]).toBeCloseTo(v, 4));
    await expect(extractFeatures(model, new Float32Array(100))).rejects.toThrow(/100 values are not rows of the feature network's 784 inputs/);
  });

  it('is saved and loaded with its record, giving the same features', async () => {
    const path = join(dir, 'fm');
    await saveFeatureModel(model, path);
    expect(model.record.path).toBe(path);
    const loaded = await loadFeatureModel(path);
    try {
      expect(loaded.record).toEqual(model.record);
      const x = ds.test.x.subarray(0, 10 * 784);
      expect(Array.from(await extractFeatures(loaded, x))).toEqual(Array.from(await extractFeatures(model, x)));
    } finally {
      loaded.classifier.dispose();
    }
  });

  it('is not taken for an autoencoder, nor an autoencoder for it', async () => {
    const aeDir = join(dir, 'ae');
    const ae = createAutoencoder('dense-ae', [784], { hidden: 8, seed: 0 });
    await saveAutoencoder(ae, aeDir);
    ae.dispose();
    await expect(loadFeatureModel(aeDir)).rejects.toThrow(/not a saved classifier \(userDefinedMetadata\.uae\.kind is "dense-ae"/);
    await saveFeatureModel(model, join(dir, 'fm2'));
    await expect(loadAutoencoder(join(dir, 'fm2'))).rejects.toThrow(/unknown autoencoder kind "mlp-classifier"/);
  });

  it('needs labels to be trained', async () => {
    const { labels: _l, ...unlabelled } = ds.train;
    await expect(trainFeatureModel({ ...ds, train: unlabelled, fullTrain: undefined }, { epochs: 1 })).rejects.toThrow(/has no training labels; give a saved feature network instead/);
  });

  it('orders Gaussian-noise sets by their σ in FID and KID; a disjoint sample of the same data scores ≈ 0 KID', async () => {
    // Reference: one half of the training subset; the sets: the other half, clean and noisy.
    const half = (ds.train.n / 2) * 784;
    const ref = ds.train.x.subarray(0, half);
    const other = ds.train.x.slice(half);
    const noisy = (sigma: number) => {
      const rng = new Rng(7, 1, Math.round(sigma * 100));
      return other.map((v) => Math.min(1, Math.max(0, v + sigma * rng.normal())));
    };
    const d = await setDistances({ model, kid: { subsets: 50 } }, ref, { same: other, low: noisy(0.1), mid: noisy(0.25), high: noisy(0.5) });
    expect((await setDistances({ model }, ref, { identical: ref.slice() }))['identical']!.fid).toBeLessThan(1e-3);
    expect(Math.abs(d['same']!.kid)).toBeLessThan(0.1 * d['low']!.kid);
    expect(d['same']!.fid).toBeLessThan(d['low']!.fid);
    expect(d['low']!.fid).toBeLessThan(d['mid']!.fid);
    expect(d['mid']!.fid).toBeLessThan(d['high']!.fid);
    expect(d['low']!.kid).toBeLessThan(d['mid']!.kid);
    expect(d['mid']!.kid).toBeLessThan(d['high']!.kid);
  });
});
