/**
 * perSampleLoss of every model of the zoo (the `loss` attack criterion,
 * docs/algorithms.md, criteria): known answers against each model's own training step,
 * independence from the batch, gradients, no leaks, and the loaded models.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import {
  ConcreteAutoencoder,
  createAutoencoder,
  createClassifier,
  evaluateLoss,
  fromArtifacts,
  loadAutoencoder,
  loadClassifier,
  modelWeights,
  saveAutoencoder,
  saveClassifier,
  toArtifacts,
  trainAutoencoder,
  type Autoencoder,
  type AutoencoderKind,
  type CreateAutoencoderOptions,
  type TrainStepContext,
} from '../../libs/models/index.js';

const B = 4;
/** Small enough for CPU tests; the architectures are the reference ones. */
const CASES: { kind: AutoencoderKind; shape: number[]; opts: CreateAutoencoderOptions }[] = [
  { kind: 'dense-ae', shape: [24], opts: { hidden: 8 } },
  { kind: 'conv-ae', shape: [8, 8, 1], opts: {} },
  { kind: 'sparse-ae', shape: [24], opts: { hidden: 8 } },
  { kind: 'adversarial-ae', shape: [24], opts: { latent: 4, widths: [16], discriminatorWidths: [16] } },
  { kind: 'concrete-ae', shape: [24], opts: { k: 4, widths: [16, 16] } },
];

const CTX: TrainStepContext = { epoch: 0, batch: 0, step: 0, epochs: 1, batchesPerEpoch: 1, totalSteps: 1, seed: 3 };

function samples(n: number, shape: number[], seed: number): tf.Tensor {
  const d = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(new Rng(seed, 7).fillUniform(new Float32Array(n * d), 0, 1), [n, ...shape]);
}

function expectRelClose(a: number, b: number, tol = 1e-5): void {
  expect(Number.isFinite(a) && Number.isFinite(b)).toBe(true);
  expect(Math.abs(a - b)).toBeLessThanOrEqual(tol * Math.max(Math.abs(a), Math.abs(b), 1e-12));
}

function values(t: tf.Tensor): number[] {
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
}

function meanLoss(ae: { perSampleLoss(x: tf.Tensor, labels?: Int32Array): tf.Tensor1D }, x: tf.Tensor, labels?: Int32Array): number {
  const l = values(ae.perSampleLoss(x, labels));
  return l.reduce((a, b) => a + b, 0) / l.length;
}

let dir: string;
beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'uae-per-sample-loss-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(CASES)('$kind perSampleLoss', ({ kind, shape, opts }) => {
  let ae: Autoencoder;
  let x: tf.Tensor;
  beforeAll(() => {
    ae = createAutoencoder(kind, shape, { ...opts, seed: 11 });
    x = samples(B, shape, 1);
  });
  afterAll(() => {
    ae.dispose();
    x.dispose();
  });

  it('gives one finite value per sample, the same for a sample alone as in a batch of 4', () => {
    const batch = values(ae.perSampleLoss(x));
    expect(batch).toHaveLength(B);
    expect(batch.every((v) => Number.isFinite(v) && v > 0)).toBe(true);
    // Different samples, different losses (not a batch value broadcast).
    expect(new Set(batch).size).toBe(B);
    for (let i = 0; i < B; i++) {
      const alone = tf.slice(x, i, 1);
      const [v] = values(ae.perSampleLoss(alone));
      alone.dispose();
      expectRelClose(v!, batch[i]!);
    }
  });

  it('lets gradients reach x (finite, nonzero) and leaks no tensors', () => {
    const before = tf.memory().numTensors;
    const g = tf.grad((v: tf.Tensor) => tf.sum(ae.perSampleLoss(v)))(x);
    const gv = values(g);
    expect(gv.every(Number.isFinite)).toBe(true);
    expect(gv.some((v) => v !== 0)).toBe(true);
    values(ae.perSampleLoss(x));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('survives toArtifacts → fromArtifacts and save → load (what the workers and the CLI load)', async () => {
    const want = values(ae.perSampleLoss(x));
    const back = await fromArtifacts(structuredClone(await toArtifacts(ae)));
    const path = join(dir, kind);
    await saveAutoencoder(ae, path);
    const loaded = await loadAutoencoder(path);
    for (const m of [back, loaded]) {
      values(m.perSampleLoss(x)).forEach((v, i) => expectRelClose(v, want[i]!, 1e-6));
      m.dispose();
    }
  });
});

describe('the batch mean of perSampleLoss is the training loss', () => {
  it('dense-ae and conv-ae: the compiled loss trainOnBatch minimises (MSE, binary cross-entropy)', async () => {
    for (const { kind, shape, opts } of CASES.slice(0, 2)) {
      const ae = createAutoencoder(kind, shape, { ...opts, seed: 2 });
      const x = samples(B, shape, 2);
      const mean = meanLoss(ae, x);
      // trainOnBatch reports the loss of the forward pass before its update.
      const trained = (await ae.model.trainOnBatch(x, x)) as number;
      expectRelClose(mean, trained);
      x.dispose();
      ae.dispose();
    }
  });

  it('sparse-ae: MSE + L1 activity shares exactly; the KL term as each sample\'s batch of one', async () => {
    const { shape, opts } = CASES[2]!;
    const x = samples(B, shape, 3);
    // β = 0: every remaining term is a batch mean, so the identity is exact.
    const noKl = createAutoencoder('sparse-ae', shape, { ...opts, seed: 3, sparsity: { weight: 0, l1: 1e-2 } });
    const mean0 = meanLoss(noKl, x);
    const step0 = await noKl.trainBatch!(x, CTX);
    expectRelClose(mean0, step0.metrics!['total']!);
    expect(step0.metrics!['l1']!).toBeGreaterThan(1e-4 * step0.metrics!['total']!); // the L1 share is tested, not negligible
    noKl.dispose();

    const ae = createAutoencoder('sparse-ae', shape, { ...opts, seed: 3, sparsity: { l1: 1e-2 } });
    const perSample = values(ae.perSampleLoss(x));
    const keeper = modelWeights(ae.model);
    for (let i = 0; i < B; i++) {
      const weights = keeper.snapshot();
      const xi = tf.slice(x, i, 1);
      const step = await ae.trainBatch!(xi, CTX);
      keeper.restore(weights);
      tf.dispose([xi, ...weights]);
      expectRelClose(perSample[i]!, step.metrics!['total']!);
    }
    // Jensen: the mean of the batch-of-one KL terms is above the batch's KL term.
    const batchStep = await ae.trainBatch!(x, CTX);
    const mean = perSample.reduce((a, b) => a + b, 0) / B;
    expect(mean).toBeGreaterThan(batchStep.metrics!['total']!);
    x.dispose();
    ae.dispose();
  });

  it('adversarial-ae: reconstruction (step 1) + generator (step 3) of its training step', async () => {
    const { shape, opts } = CASES[3]!;
    // Learning rate 0: the three steps see the same weights, so step 3's loss is that of these weights.
    const ae = createAutoencoder('adversarial-ae', shape, { ...opts, seed: 4, learningRate: 0 });
    const x = samples(B, shape, 4);
    const mean = meanLoss(ae, x);
    const step = await ae.trainBatch(x, CTX);
    expect(step.metrics!['generator']!).toBeGreaterThan(0.1 * step.loss); // both terms matter
    expectRelClose(mean, step.metrics!['reconstruction']! + step.metrics!['generator']!);
    x.dispose();
    ae.dispose();
  });

  it('concrete-ae: the relaxed MSE at the current temperature; the compiled (hard) loss once the selection is one-hot', async () => {
    const { shape, opts } = CASES[4]!;
    const ae = createAutoencoder('concrete-ae', shape, { ...opts, seed: 5, temperature: { start: 2, end: 0.1 } });
    const x = samples(B, shape, 5);
    // The relaxation by hand: x · softmax(logits / T)ᵀ, then the decoder without dropout.
    const hand = tf.tidy(() => {
      let h: tf.Tensor = tf.matMul(x as tf.Tensor2D, tf.softmax(tf.div(ae.select.logitsTensor(), ae.temperature)), false, true);
      for (const l of ae.model.layers.slice(1)) h = l.apply(h, { training: false }) as tf.Tensor;
      return tf.losses.meanSquaredError(x, h);
    });
    expect(ae.temperature).toBe(2);
    expectRelClose(meanLoss(ae, x), values(hand)[0]!);
    // A converged selection at a low temperature: softmax is exactly one-hot, so the relaxed
    // loss is the compiled loss of the hard selection (model.evaluate).
    const picks = [3, 0, 17, 9];
    ae.select.logits!.write(tf.mul(tf.oneHot(tf.tensor1d(picks, 'int32'), shape[0]!), 50) as tf.Tensor2D);
    ae.temperature = 0.1;
    expect(await ae.selectedFeatures()).toEqual(picks);
    expectRelClose(meanLoss(ae, x), await evaluateLoss(ae, x));
    x.dispose();
    ae.dispose();
  });

  it('concrete-ae: the temperature a training run ends at is saved and used by the loaded model', async () => {
    const { shape, opts } = CASES[4]!;
    // lr 0.05: the logits move far enough from their near-uniform start for the temperature to matter.
    const ae = createAutoencoder('concrete-ae', shape, { ...opts, seed: 6, temperature: { start: 5, end: 0.5 }, learningRate: 0.05 });
    const x = samples(32, shape, 6);
    await trainAutoencoder(ae, x, { epochs: 2, batchSize: 16 });
    expect(ae.temperature).toBeCloseTo(0.5, 10);
    const path = join(dir, 'concrete-trained');
    await saveAutoencoder(ae, path);
    const loaded = (await loadAutoencoder(path)) as ConcreteAutoencoder;
    expect(loaded.temperature).toBe(ae.temperature);
    expect(loaded.options.temperature).toEqual({ start: 5, end: 0.5, current: ae.temperature });
    const want = values(ae.perSampleLoss(x));
    values(loaded.perSampleLoss(x)).forEach((v, i) => expectRelClose(v, want[i]!, 1e-6));
    // At the start temperature the loss differs: the saved temperature is what made them equal.
    const fresh = createAutoencoder('concrete-ae', shape, { ...opts, seed: 6, temperature: { start: 5, end: 0.5 } });
    fresh.model.setWeights(ae.model.getWeights());
    const [a, b] = [meanLoss(fresh, x), meanLoss(ae, x)];
    expect(Math.abs(a - b) / b).toBeGreaterThan(1e-4); // 100× the tolerance the equality above allows
    for (const m of [ae, loaded, fresh]) m.dispose();
    x.dispose();
  });
});

describe('mlp-classifier perSampleLoss', () => {
  const d = 6;
  const classes = 3;
  const labels = new Int32Array([0, 2, 1, 2]);

  it('is the cross-entropy per sample: batch mean = the compiled loss, batch-independent, gradients, no leak, reloads', async () => {
    const clf = createClassifier([d], classes, { hidden: 8, seed: 7 });
    const x = samples(B, [d], 7);
    const perSample = values(clf.perSampleLoss(x, labels));
    expect(new Set(perSample).size).toBe(B);
    for (let i = 0; i < B; i++) {
      const xi = tf.slice(x, i, 1);
      expectRelClose(values(clf.perSampleLoss(xi, labels.subarray(i, i + 1)))[0]!, perSample[i]!);
      xi.dispose();
    }
    const before = tf.memory().numTensors;
    const g = values(tf.grad((v: tf.Tensor) => tf.sum(clf.perSampleLoss(v, labels)))(x));
    expect(g.every(Number.isFinite) && g.some((v) => v !== 0)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);

    const path = join(dir, 'classifier');
    await saveClassifier(clf, path);
    const { classifier: loaded } = await loadClassifier(path);
    values(loaded.perSampleLoss(x, labels)).forEach((v, i) => expectRelClose(v, perSample[i]!, 1e-6));
    loaded.dispose();

    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat();
    const trained = (await clf.model.trainOnBatch(x, y)) as number;
    expectRelClose(perSample.reduce((a, b) => a + b, 0) / B, trained);
    tf.dispose([x, y]);
    clf.dispose();
  });

  it('needs one label in range per sample (field labels)', () => {
    const clf = createClassifier([d], classes, { hidden: 0, seed: 8 });
    const x = samples(2, [d], 8);
    expect(() => clf.perSampleLoss(x)).toThrow(expect.objectContaining({ name: 'ModelInputError', field: 'labels' }));
    expect(() => clf.perSampleLoss(x, new Int32Array([0]))).toThrow(/one label per sample/);
    expect(() => clf.perSampleLoss(x, new Int32Array([0, 3]))).toThrow(/label 3 of sample 1/);
    x.dispose();
    clf.dispose();
  });
});
