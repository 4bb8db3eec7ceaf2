import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import {
  ConcreteAutoencoder,
  ConcreteSelect,
  concreteTemperature,
  createAutoencoder,
  fromArtifacts,
  loadAutoencoder,
  saveAutoencoder,
  toArtifacts,
  trainAutoencoder,
  type CreateAutoencoderOptions,
} from '../../libs/models/index.js';
import { autoencoderSuite } from './autoencoder-suite.js';
import { maxAbsDiff, weightsOf } from './helpers.js';

const SMALL: CreateAutoencoderOptions = { k: 10, widths: [64, 64] };

autoencoderSuite({
  kind: 'concrete-ae',
  inputShape: [784],
  trainSamples: 256,
  trainEpochs: 3,
  trainBatch: 32,
  codeSize: 10,
  create: SMALL,
  inferable: false,
});
autoencoderSuite({
  kind: 'concrete-ae',
  inputShape: [28, 28, 1],
  trainSamples: 128,
  trainEpochs: 2,
  trainBatch: 32,
  codeSize: 10,
  create: SMALL,
  inferable: false,
});

/**
 * n rows of d columns: columns 0..3 are independent uniforms (the information),
 * every other column is constant, so a perfect selection of k = 4 picks 0..3.
 */
function informativeData(n: number, d: number, seed: number): tf.Tensor2D {
  const rng = new Rng(seed);
  const v = new Float32Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) v[i * d + j] = j < 4 ? rng.uniform() : 0.2 + 0.6 * ((j * 7) % 11) / 11;
  return tf.tensor2d(v, [n, d]);
}

describe('concrete-ae', () => {
  let data: tf.Tensor2D;
  let dir: string;
  beforeAll(async () => {
    await initBackend('wasm');
    data = informativeData(256, 24, 1);
    dir = await mkdtemp(join(tmpdir(), 'uae-concrete-'));
  });
  afterAll(async () => {
    data.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('has the reference architecture by default (k = 50, 320-320 decoder, LeakyReLU 0.2, dropout 0.1, MSE, Adam 1e-3)', () => {
    const ae = createAutoencoder('concrete-ae', [784], { seed: 1 });
    expect(ae.model.layers.map((l) => [l.getClassName(), l.outputShape])).toEqual([
      ['ConcreteSelect', [null, 50]],
      ['Dense', [null, 320]],
      ['LeakyReLU', [null, 320]],
      ['Dropout', [null, 320]],
      ['Dense', [null, 320]],
      ['LeakyReLU', [null, 320]],
      ['Dropout', [null, 320]],
      ['Dense', [null, 784]],
    ]);
    const cfg = ae.model.layers.map((l) => l.getConfig() as { alpha?: number; rate?: number; activation?: string });
    expect([cfg[2]!.alpha, cfg[5]!.alpha]).toEqual([0.2, 0.2]);
    expect([cfg[3]!.rate, cfg[6]!.rate]).toEqual([0.1, 0.1]);
    expect(cfg[7]!.activation).toBe('sigmoid');
    expect(ae.model.getWeights()[0]!.shape).toEqual([50, 784]); // the logits
    expect(ae.model.loss).toBe('meanSquaredError');
    expect(ae.model.optimizer.getClassName()).toBe('Adam');
    expect((ae.model.optimizer.getConfig() as { learningRate: number }).learningRate).toBeCloseTo(1e-3, 10);
    expect(ae.options).toEqual({ seed: 1, k: 50, widths: [320, 320], temperature: { start: 10, end: 0.1, current: 10 }, dropout: 0.1, learningRate: 1e-3 });
    const mice = createAutoencoder('concrete-ae', [77], { k: 10 });
    expect(mice.encode(tf.zeros([2, 77])).shape).toEqual([2, 10]);
    for (const m of [ae, mice]) m.dispose();
    expect(() => createAutoencoder('concrete-ae', [784], { k: 0 })).toThrow(/k must be/);
  });

  it('anneals the temperature exponentially from 10 to 0.1 over the planned steps', async () => {
    expect(concreteTemperature(0, 100)).toBe(10);
    expect(concreteTemperature(99, 100)).toBeCloseTo(0.1, 12);
    expect(concreteTemperature(49.5, 100)).toBeCloseTo(1, 10); // geometric midpoint
    expect(concreteTemperature(0, 1)).toBe(10);
    // In training: one batch per epoch, so each epoch reports one step's temperature.
    const ae = createAutoencoder('concrete-ae', [24], { k: 4, widths: [16, 16], seed: 1 });
    expect(ae.temperature).toBe(10);
    const res = await trainAutoencoder(ae, data, { epochs: 5, batchSize: 256 });
    const temps = res.history.map((h) => h.metrics!.temperature!);
    expect(temps[0]).toBe(10);
    expect(temps.at(-1)).toBeCloseTo(0.1, 10);
    for (let i = 1; i < temps.length; i++) expect(temps[i]! / temps[i - 1]!).toBeCloseTo(0.01 ** (1 / 4), 10);
    expect(ae.temperature).toBeCloseTo(0.1, 10);
    ae.dispose();
  });

  it('selects informative columns and reconstructs from exactly the selected ones', async () => {
    const d = 24;
    // lr 1e-2: the logits must move by several units in a few hundred steps (Balın trains ~10⁴–10⁵ steps at 1e-3).
    const ae = createAutoencoder('concrete-ae', [d], { k: 4, widths: [32, 32], seed: 2, learningRate: 1e-2 });
    const before = await ae.selectedFeatures();
    const res = await trainAutoencoder(ae, data, { epochs: 60, batchSize: 32, seed: 3 });
    const sel = await ae.selectedFeatures();
    console.log(
      `concrete-ae selected ${sel.join(', ')} (before training ${before.join(', ')}); loss ${res.history[0]!.loss.toFixed(4)} → ${res.history.at(-1)!.loss.toFixed(4)}`,
    );
    expect(sel).toHaveLength(4);
    expect(sel.every((j) => Number.isInteger(j) && j >= 0 && j < d)).toBe(true);
    // Every node settles on an informative column, and at least three distinct ones.
    expect(sel.every((j) => j < 4)).toBe(true);
    expect(new Set(sel).size).toBeGreaterThanOrEqual(3);

    // encode = x[:, selected].
    const x = data.slice(0, 8);
    const z = ae.encode(x);
    const hand = tf.gather(x, sel, 1);
    expect(maxAbsDiff(z.dataSync(), hand.dataSync())).toBe(0);

    // reconstruct reads only the selected columns.
    const unselected = Array.from({ length: d }, (_, j) => j).find((j) => !sel.includes(j))!;
    const poke = (j: number) => tf.tidy(() => tf.add(x, tf.mul(tf.oneHot(tf.fill([8], j, 'int32') as tf.Tensor1D, d), 0.5)));
    const r0 = ae.reconstruct(x);
    const xu = poke(unselected);
    const ru = ae.reconstruct(xu);
    expect(maxAbsDiff(r0.dataSync(), ru.dataSync())).toBe(0);
    const xs = poke(sel[0]!);
    const rs = ae.reconstruct(xs);
    expect(maxAbsDiff(r0.dataSync(), rs.dataSync())).toBeGreaterThan(0);
    // And the input gradient lives on the selected columns only.
    const g = tf.grad((xi: tf.Tensor) => tf.sum(ae.perSampleSquaredError(xi)))(x);
    const gAbs = tf.sum(tf.abs(g), 0).dataSync();
    const gradCols = Array.from(gAbs.keys()).filter((j) => gAbs[j]! !== 0);
    // Unselected columns get the gradient of ||x − x̂||² only: 2(x − x̂), zero only where x = x̂ exactly.
    const inputGradOnly = tf.tidy(() => tf.sum(tf.abs(tf.mul(tf.sub(x, r0), 2)), 0).dataSync());
    for (let j = 0; j < d; j++) if (!sel.includes(j)) expect(gAbs[j]).toBeCloseTo(inputGradOnly[j]!, 4);
    expect(gradCols.length).toBeGreaterThan(0);
    tf.dispose([x, z, hand, r0, xu, ru, xs, rs, g]);
    ae.dispose();
  });

  it('trains deterministically under fixed seeds (Gumbel noise and dropout masks seeded)', async () => {
    const run = async (seed: number) => {
      const m = createAutoencoder('concrete-ae', [24], { k: 4, widths: [16, 16], seed: 9 });
      const res = await trainAutoencoder(m, data, { epochs: 2, batchSize: 64, seed });
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
  });

  it('training uses dropout (a training step differs from the same step with dropout 0)', async () => {
    const step = async (dropout: number) => {
      const m = createAutoencoder('concrete-ae', [24], { k: 4, widths: [16, 16], seed: 9, dropout });
      await trainAutoencoder(m, data, { epochs: 1, batchSize: 256, seed: 1 });
      const w = weightsOf(m.model);
      m.dispose();
      return w;
    };
    const a = await step(0.1);
    const b = await step(0);
    expect(maxAbsDiff(a.at(-2)!, b.at(-2)!)).toBeGreaterThan(0);
  });

  it('the ConcreteSelect layer round-trips through save/load and artifacts after training', async () => {
    const ae = createAutoencoder('concrete-ae', [24], { k: 4, widths: [16, 16], seed: 5, temperature: { start: 5, end: 0.5 } });
    await trainAutoencoder(ae, data, { epochs: 3, batchSize: 64 });
    const d = join(dir, 'concrete');
    await saveAutoencoder(ae, d);
    const json = JSON.parse(await readFile(join(d, 'model.json'), 'utf8'));
    expect(JSON.stringify(json.modelTopology)).toContain('"ConcreteSelect"');
    const loaded = (await loadAutoencoder(d)) as ConcreteAutoencoder;
    expect(loaded).toBeInstanceOf(ConcreteAutoencoder);
    expect(loaded.select).toBeInstanceOf(ConcreteSelect);
    // The schedule, and the temperature training ended at (perSampleLoss relaxes at it).
    expect(loaded.options.temperature).toEqual({ start: 5, end: 0.5, current: ae.temperature });
    expect(loaded.temperature).toBeCloseTo(0.5, 10);
    expect(await loaded.selectedFeatures()).toEqual(await ae.selectedFeatures());
    const back = (await fromArtifacts(structuredClone(await toArtifacts(ae)))) as ConcreteAutoencoder;
    expect(await back.selectedFeatures()).toEqual(await ae.selectedFeatures());
    const x = data.slice(0, 16);
    const [r0, r1, r2] = [ae, loaded, back].map((m) => m.reconstruct(x));
    expect(maxAbsDiff(r0!.dataSync(), r1!.dataSync())).toBe(0);
    expect(maxAbsDiff(r0!.dataSync(), r2!.dataSync())).toBe(0);
    // Without uae metadata a ConcreteSelect model is refused (not mistaken for a dense AE).
    delete json.userDefinedMetadata;
    await writeFile(join(d, 'model.json'), JSON.stringify(json));
    await expect(loadAutoencoder(d)).rejects.toThrow(/ConcreteSelect layer but no uae metadata/);
    tf.dispose([x, r0!, r1!, r2!]);
    for (const m of [ae, loaded, back]) m.dispose();
  });

  it('leaks no tensors while training; selectedFeatures after dispose throws', async () => {
    const start = tf.memory().numTensors;
    const ae = createAutoencoder('concrete-ae', [24], { k: 4, widths: [16, 16], seed: 6 });
    await trainAutoencoder(ae, data, { epochs: 1, batchSize: 64 }); // creates the optimizer slots
    const before = tf.memory().numTensors;
    await trainAutoencoder(ae, data, { epochs: 2, batchSize: 64, validationSplit: 0.25 });
    expect(tf.memory().numTensors).toBe(before);
    const sel = await ae.selectedFeatures!();
    expect(await ae.selectionConvergence!()).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(sel).toHaveLength(4);
    ae.dispose();
    expect(tf.memory().numTensors).toBe(start);
    await expect(ae.selectedFeatures!()).rejects.toThrow(/disposed/);
    await expect(ae.selectionConvergence!()).rejects.toThrow(/disposed/);
  });
});
