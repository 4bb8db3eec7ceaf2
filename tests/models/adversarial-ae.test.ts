import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../libs/tensor/index.js';
import {
  AdversarialAutoencoder,
  createAutoencoder,
  fromArtifacts,
  loadAutoencoder,
  saveAutoencoder,
  toArtifacts,
  trainAutoencoder,
  type CreateAutoencoderOptions,
  type TrainStepContext,
} from '../../libs/models/index.js';
import { autoencoderSuite } from './autoencoder-suite.js';
import { fixtureImages, maxAbsDiff, weightsOf } from './helpers.js';

/** Small widths: the paper's 1000-wide layers are too slow for CPU unit tests. */
const SMALL: CreateAutoencoderOptions = { widths: [64, 64], discriminatorWidths: [32, 32], latent: 8 };

autoencoderSuite({
  kind: 'adversarial-ae',
  inputShape: [784],
  trainSamples: 256,
  trainEpochs: 3,
  trainBatch: 32,
  codeSize: 8,
  create: SMALL,
  // All-Dense: without its metadata it would pass for a dense AE.
  inferable: false,
});
autoencoderSuite({
  kind: 'adversarial-ae',
  inputShape: [28, 28, 1],
  trainSamples: 128,
  trainEpochs: 2,
  trainBatch: 32,
  codeSize: 8,
  create: SMALL,
  inferable: false,
});

const ctx = (epoch: number, batch: number, seed = 0): TrainStepContext => ({
  epoch,
  batch,
  step: epoch * 10 + batch,
  epochs: 1,
  batchesPerEpoch: 10,
  totalSteps: 10,
  seed,
});

describe('adversarial-ae', () => {
  let x: tf.Tensor2D;
  let dir: string;
  beforeAll(async () => {
    await initBackend('wasm');
    const img = await fixtureImages(128);
    x = img.reshape([128, 784]);
    img.dispose();
    dir = await mkdtemp(join(tmpdir(), 'uae-aae-'));
  });
  afterAll(async () => {
    x.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('has the reference architecture by default (1000-1000-latent, mirror, discriminator 1000-1000-1, Adam 1e-4)', () => {
    const ae = createAutoencoder('adversarial-ae', [784], { seed: 1 });
    const dense = ae.model.layers.map((l) => [l.name, l.outputShape, (l.getConfig() as { activation: string }).activation]);
    expect(dense).toEqual([
      ['encoder_1', [null, 1000], 'relu'],
      ['encoder_2', [null, 1000], 'relu'],
      ['latent', [null, 8], 'sigmoid'],
      ['decoder_1', [null, 1000], 'relu'],
      ['decoder_2', [null, 1000], 'relu'],
      ['output', [null, 784], 'sigmoid'],
    ]);
    expect(ae.discriminator.layers.map((l) => l.outputShape)).toEqual([
      [null, 1000],
      [null, 1000],
      [null, 1],
    ]);
    expect(ae.model.loss).toBe('meanSquaredError');
    expect(ae.model.optimizer.getClassName()).toBe('Adam');
    expect((ae.model.optimizer.getConfig() as { learningRate: number }).learningRate).toBeCloseTo(1e-4, 10);
    expect(ae.options).toEqual({ seed: 1, latent: 8, widths: [1000, 1000], discriminatorWidths: [1000, 1000], learningRate: 1e-4 });
    ae.dispose();
    expect(() => createAutoencoder('adversarial-ae', [784], { widths: [0] })).toThrow(/widths/);
  });

  it('the latent is in [0, 1]', () => {
    const ae = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 2 });
    const z = ae.encode(x);
    expect(z.shape).toEqual([128, 8]);
    const v = z.dataSync();
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    z.dispose();
    ae.dispose();
  });

  it('prior samples are uniform on [0, 1]^latent and seeded per (seed, epoch, batch)', () => {
    const ae = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 2 });
    const a = ae.priorSample(500, ctx(0, 0, 7));
    const b = ae.priorSample(500, ctx(0, 0, 7));
    const c = ae.priorSample(500, ctx(0, 1, 7));
    expect(a.shape).toEqual([500, 8]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    expect(maxAbsDiff(a.dataSync(), c.dataSync())).toBeGreaterThan(0);
    const v = a.dataSync() as Float32Array;
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThan(1);
    expect(v.reduce((s, t) => s + t, 0) / v.length).toBeCloseTo(0.5, 1);
    tf.dispose([a, b, c]);
    ae.dispose();
  });

  it('one step runs reconstruction, discriminator and generator updates', async () => {
    // Twin models: `a` takes a full AAE step, `b` only the reconstruction step.
    const a = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 3 });
    const b = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 3 });
    const xb = x.slice(0, 32);
    const disc0 = weightsOf(a.discriminator);
    const res = await a.trainBatch(xb, ctx(0, 0));
    await b.model.trainOnBatch(xb, xb);
    expect(Object.keys(res.metrics!).sort()).toEqual(['discriminator', 'generator', 'reconstruction']);
    expect(res.metrics!.reconstruction).toBe(res.loss);
    // Sigmoid cross-entropy of an untrained discriminator ≈ ln 2.
    expect(res.metrics!.discriminator).toBeGreaterThan(0.3);
    expect(res.metrics!.discriminator).toBeLessThan(1.5);
    expect(res.metrics!.generator).toBeGreaterThan(0.3);
    expect(res.metrics!.generator).toBeLessThan(1.5);
    // Discriminator step: its weights moved.
    weightsOf(a.discriminator).forEach((w, i) => expect(maxAbsDiff(w, disc0[i]!)).toBeGreaterThan(0));
    // Generator step: the encoder moved beyond the reconstruction step, the decoder did not.
    const wa = a.model.layers.map((l) => l.getWeights().map((t) => t.dataSync()));
    const wb = b.model.layers.map((l) => l.getWeights().map((t) => t.dataSync()));
    a.model.layers.forEach((l, i) => {
      const d = Math.max(...wa[i]!.map((w, j) => maxAbsDiff(w, wb[i]![j]!)));
      if (l.name.startsWith('encoder') || l.name === 'latent') expect(d, l.name).toBeGreaterThan(0);
      else expect(d, l.name).toBe(0);
    });
    xb.dispose();
    a.dispose();
    b.dispose();
  });

  it('reports all three losses per epoch (EpochReport.metrics)', async () => {
    const ae = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 4 });
    const seen: number[] = [];
    const res = await trainAutoencoder(ae, x, { epochs: 4, batchSize: 32, seed: 1, validationSplit: 0.25, onEpoch: (e) => seen.push(e.epoch) });
    expect(seen).toEqual([0, 1, 2, 3]);
    for (const h of res.history) {
      expect(Object.keys(h.metrics!).sort()).toEqual(['discriminator', 'generator', 'reconstruction']);
      expect(h.metrics!.discriminator).toBeGreaterThan(0);
      expect(h.metrics!.generator).toBeGreaterThan(0);
      expect(h.metrics!.reconstruction).toBeCloseTo(h.loss, 10);
      expect(h.valLoss).toBeGreaterThan(0);
      expect(h.samplesPerSec).toBeGreaterThan(0);
    }
    expect(res.history.at(-1)!.loss).toBeLessThan(res.history[0]!.loss);
    ae.dispose();
  });

  it('trains deterministically under fixed seeds (prior samples included)', async () => {
    const xt = x.slice(0, 64);
    const run = async (seed: number) => {
      const m = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 9 });
      await trainAutoencoder(m, xt, { epochs: 2, batchSize: 16, seed });
      const w = [...weightsOf(m.model), ...weightsOf(m.discriminator)];
      m.dispose();
      return w;
    };
    const a = await run(4);
    const b = await run(4);
    const c = await run(5);
    a.forEach((w, i) => expect(maxAbsDiff(w, b[i]!)).toBe(0));
    expect(Math.max(...a.map((w, i) => maxAbsDiff(w, c[i]!)))).toBeGreaterThan(0);
    xt.dispose();
  });

  it('saves and restores the discriminator (files and artifacts); without it, a fresh one is built', async () => {
    const ae = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 5 });
    const x32 = x.slice(0, 32);
    const x16 = x.slice(0, 16);
    await trainAutoencoder(ae, x32, { epochs: 1, batchSize: 16 });
    const z = ae.encode(x16);
    const dOut = (m: AdversarialAutoencoder) => tf.tidy(() => (m.discriminator.predict(z) as tf.Tensor).dataSync());
    const ref = dOut(ae);

    const d = join(dir, 'aae');
    await saveAutoencoder(ae, d);
    const json = JSON.parse(await readFile(join(d, 'model.json'), 'utf8'));
    expect(json.userDefinedMetadata.uae.discriminator).toBe('discriminator');
    const loaded = (await loadAutoencoder(d)) as AdversarialAutoencoder;
    expect(loaded).toBeInstanceOf(AdversarialAutoencoder);
    expect(maxAbsDiff(dOut(loaded), ref)).toBe(0);

    const art = await toArtifacts(ae);
    expect(art.discriminator!.weightData.byteLength).toBe(ae.discriminator.countParams() * 4);
    const back = (await fromArtifacts(structuredClone(art))) as AdversarialAutoencoder;
    expect(maxAbsDiff(dOut(back), ref)).toBe(0);

    // Without the discriminator: rebuilt from the stored options (seeded), trains on.
    delete json.userDefinedMetadata.uae.discriminator;
    await writeFile(join(d, 'model.json'), JSON.stringify(json));
    const fresh = (await loadAutoencoder(d)) as AdversarialAutoencoder;
    const pristine = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 5 });
    expect(maxAbsDiff(dOut(fresh), dOut(pristine))).toBe(0);
    const r1 = loaded.reconstruct(x16);
    const r2 = fresh.reconstruct(x16);
    expect(maxAbsDiff(r1.dataSync(), r2.dataSync())).toBe(0);
    const res = await trainAutoencoder(fresh, x32, { epochs: 1, batchSize: 16 });
    expect(Number.isFinite(res.history[0]!.metrics!.discriminator)).toBe(true);

    const before = tf.memory().numTensors;
    for (const m of [loaded, back, fresh, pristine]) m.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
    tf.dispose([z, r1, r2, x32, x16]);
    ae.dispose();
  });

  it('leaks no tensors while training; dispose frees the discriminator and all optimizers', async () => {
    const start = tf.memory().numTensors;
    const ae = createAutoencoder('adversarial-ae', [784], { ...SMALL, seed: 6 });
    const xt = x.slice(0, 64);
    await trainAutoencoder(ae, xt, { epochs: 1, batchSize: 32 }); // creates the optimizer slots
    const before = tf.memory().numTensors;
    await trainAutoencoder(ae, xt, { epochs: 2, batchSize: 32, validationSplit: 0.25 });
    expect(tf.memory().numTensors).toBe(before);
    xt.dispose();
    ae.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
