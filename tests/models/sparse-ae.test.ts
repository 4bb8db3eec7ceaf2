import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { tf, initBackend } from '../../libs/tensor/index.js';
import {
  createAutoencoder,
  trainAutoencoder,
  klSparsity,
  SPARSE_AE_DEFAULTS,
  type Autoencoder,
  type CreateAutoencoderOptions,
} from '../../libs/models/index.js';
import { autoencoderSuite } from './autoencoder-suite.js';
import { fixtureImages, maxAbsDiff, weightsOf } from './helpers.js';

autoencoderSuite({
  kind: 'sparse-ae',
  inputShape: [784],
  trainSamples: 256,
  trainEpochs: 3,
  trainBatch: 32,
  codeSize: 128,
  // A saved sparse AE is a plain dense AE without its metadata.
  inferable: false,
});

describe('sparse-ae', () => {
  let x: tf.Tensor2D;
  beforeAll(async () => {
    await initBackend('wasm');
    const img = await fixtureImages(256);
    x = img.reshape([256, 784]);
    img.dispose();
  });
  afterAll(() => x.dispose());

  it('is the dense AE (d → 128 sigmoid → d sigmoid) with MSE and Adam(1e-3)', () => {
    const ae = createAutoencoder('sparse-ae', [784], { seed: 1 });
    const dense = ae.model.layers.filter((l) => l.getClassName() === 'Dense');
    expect(dense.map((l) => l.outputShape)).toEqual([
      [null, 128],
      [null, 784],
    ]);
    expect(dense.map((l) => (l.getConfig() as { activation: string }).activation)).toEqual(['sigmoid', 'sigmoid']);
    expect(ae.model.loss).toBe('meanSquaredError');
    expect(ae.model.optimizer.getClassName()).toBe('Adam');
    expect((ae.model.optimizer.getConfig() as { learningRate: number }).learningRate).toBeCloseTo(1e-3, 10);
    expect(ae.options).toEqual({ seed: 1, sparsity: { target: 0.1, weight: 3, l1: 1e-7 }, learningRate: 1e-3 });
    expect(typeof ae.trainBatch).toBe('function');
    ae.dispose();
    expect(() => createAutoencoder('sparse-ae', [784], { sparsity: { target: 1 } })).toThrow(/target/);
  });

  it('klSparsity is Σⱼ KL(ρ ‖ mean of column j)', () => {
    const h = tf.tensor2d([
      [0.1, 0.5, 0.9],
      [0.3, 0.5, 0.7],
    ]);
    const got = klSparsity(h, 0.1);
    const kl = (p: number, q: number) => p * Math.log(p / q) + (1 - p) * Math.log((1 - p) / (1 - q));
    expect(got.dataSync()[0]).toBeCloseTo(kl(0.1, 0.2) + kl(0.1, 0.5) + kl(0.1, 0.8), 5);
    const zero = klSparsity(tf.fill([4, 2], 0.1) as tf.Tensor2D, 0.1);
    expect(zero.dataSync()[0]).toBeCloseTo(0, 6);
    tf.dispose([h, got, zero]);
  });

  it('reports the MSE as loss and the penalties as metrics', async () => {
    const ae = createAutoencoder('sparse-ae', [784], { seed: 3 });
    const res = await trainAutoencoder(ae, x, { epochs: 2, batchSize: 64, seed: 1 });
    for (const h of res.history) {
      const m = h.metrics!;
      expect(Object.keys(m).sort()).toEqual(['l1', 'sparsity', 'total']);
      expect(m.total).toBeCloseTo(h.loss + m.sparsity! + m.l1!, 4);
      expect(m.sparsity).toBeGreaterThan(0);
      expect(m.l1).toBeGreaterThan(0);
      expect(m.l1).toBeLessThan(1e-3); // 1e-7 × (‖h‖₁ + ‖x̂‖₁) per sample
    }
    // The sparsity term falls fast from its start (ρ̂ ≈ 0.5 for sigmoid units).
    expect(res.history[1]!.metrics!.sparsity).toBeLessThan(res.history[0]!.metrics!.sparsity!);
    ae.dispose();
  });

  it('the sparsity term lowers the mean hidden activation (vs. no penalty and vs. dense-ae)', async () => {
    const meanCode = async (kind: 'sparse-ae' | 'dense-ae', opts: CreateAutoencoderOptions) => {
      const ae: Autoencoder = createAutoencoder(kind, [784], { seed: 4, ...opts });
      await trainAutoencoder(ae, x, { epochs: 4, batchSize: 32, seed: 5 });
      const z = ae.encode(x);
      const m = tf.mean(z).dataSync()[0]!;
      z.dispose();
      ae.dispose();
      return m;
    };
    const sparse = await meanCode('sparse-ae', {});
    const unpenalised = await meanCode('sparse-ae', { sparsity: { weight: 0, l1: 0 } });
    const dense = await meanCode('dense-ae', {});
    console.log(`mean hidden activation: sparse ${sparse.toFixed(3)}, no penalty ${unpenalised.toFixed(3)}, dense-ae ${dense.toFixed(3)}`);
    expect(Math.abs(sparse - SPARSE_AE_DEFAULTS.target)).toBeLessThan(0.05);
    expect(sparse).toBeLessThan(unpenalised - 0.15);
    expect(sparse).toBeLessThan(dense - 0.15);
  });

  it('trains deterministically under fixed seeds', async () => {
    const xt = x.slice(0, 64);
    const run = async (seed: number) => {
      const m = createAutoencoder('sparse-ae', [784], { seed: 9 });
      const res = await trainAutoencoder(m, xt, { epochs: 2, batchSize: 16, seed });
      const w = weightsOf(m.model);
      m.dispose();
      return { w, loss: res.history.map((h) => h.loss) };
    };
    const a = await run(4);
    const b = await run(4);
    const c = await run(5);
    expect(a.loss).toEqual(b.loss);
    a.w.forEach((w, i) => expect(maxAbsDiff(w, b.w[i]!)).toBe(0));
    expect(maxAbsDiff(a.w[0]!, c.w[0]!)).toBeGreaterThan(0);
    xt.dispose();
  });

  it('leaks no tensors while training', async () => {
    const ae = createAutoencoder('sparse-ae', [784], { seed: 3 });
    const xt = x.slice(0, 64);
    await trainAutoencoder(ae, xt, { epochs: 1, batchSize: 32 }); // creates the optimizer slots
    const before = tf.memory().numTensors;
    await trainAutoencoder(ae, xt, { epochs: 2, batchSize: 32, validationSplit: 0.25 });
    expect(tf.memory().numTensors).toBe(before);
    xt.dispose();
    ae.dispose();
  });
});
