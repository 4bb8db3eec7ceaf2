/**
 * Supervised attacks beyond the in-process MinMax/PGD tests: classifiers on
 * worker threads (classifier artifacts), the per-sample ‖x′ − x‖ norms of
 * every method, and the MINE measurement of PGD/FGSM's x′ (libs/attack/pgd.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { classifierFromArtifacts, classifierToArtifacts, createClassifier, type Classifier } from '../../libs/models/index.js';
import { attackConfig, measureMine, perturbationNorms, runAttack, runAttackParallel } from '../../libs/attack/index.js';
import { uniformSamples } from './helpers.js';

const shape = [16, 16, 1];
const D = 256;
let cnn: Classifier;
beforeAll(async () => {
  await initBackend('wasm');
  cnn = createClassifier(shape, 3, { kind: 'cnn-classifier', seed: 4 });
});
afterAll(() => cnn?.dispose());

describe('a cnn-classifier on worker threads', () => {
  it('round-trips through classifier artifacts with the same logits', async () => {
    const copy = await classifierFromArtifacts(await classifierToArtifacts(cnn));
    try {
      expect([copy.kind, copy.classes, copy.inputShape]).toEqual(['cnn-classifier', 3, shape]);
      const x = tf.tensor(uniformSamples(2, D, 1), [2, ...shape]);
      const [a, b] = [cnn.logits(x), copy.logits(x)];
      expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
      tf.dispose([x, a, b]);
      expect(copy.firstConv).toBeDefined();
    } finally {
      copy.dispose();
    }
  });

  it('a 2-worker cw MinMax attack (conv sampler) equals the 1-worker one, sample by sample', async () => {
    const n = 4;
    const data = uniformSamples(n, D, 3);
    const labels = Int32Array.from([0, 1, 2, 0]);
    const sampleIds = [5, 6, 7, 8];
    const config = attackConfig({
      iterations: 3,
      alpha: 0.5,
      criterion: { kind: 'cw', kappa: 0, targeted: false },
      similarity: { kind: 'mine', mine: { sampler: 'conv', hidden: 16, branchOut: 4, convFilters: 4 } },
      seed: 1,
    });
    const input = { data, inputShape: shape, sampleIds, labels };
    const one = await runAttack(cnn, input, config, { chunkSize: n });
    const two = await runAttackParallel({ kind: 'classifier', artifacts: await classifierToArtifacts(cnn) }, input, config, { workers: 2, chunkSize: 1 });
    expect(two.map((r) => r.sampleId)).toEqual(sampleIds);
    // Both outcomes occur, so the comparison covers a successful x′ and a failed one.
    expect(new Set(one.map((r) => r.success)).size, one.map((r) => r.success).join()).toBe(2);
    two.forEach((r, i) => {
      const l = one[i]!;
      expect(r.success).toBe(l.success);
      expect(r.bestIteration).toBe(l.bestIteration);
      // Chunks of 1 vs 4: the same per-sample answers up to float summation order.
      expect(Array.from(r.xAdv).map((v) => v.toFixed(4))).toEqual(Array.from(l.xAdv).map((v) => v.toFixed(4)));
      if (Number.isNaN(l.similarity)) expect(r.similarity).toBeNaN();
      else expect(r.similarity).toBeCloseTo(l.similarity, 3);
      expect(r.linf).toBeCloseTo(l.linf!, 4);
    });
  }, 120_000);
});

describe('per-sample norms', () => {
  it('runAttack sets linf and l2 of x′ − x for minmax, penalty, pgd and fgsm', async () => {
    const data = uniformSamples(3, D, 8);
    const labels = Int32Array.from([2, 1, 0]);
    for (const config of [
      attackConfig({ iterations: 2, criterion: { kind: 'cw' }, similarity: { kind: 'l2' } }),
      attackConfig({ method: 'penalty', iterations: 2, searchSteps: 2, criterion: { kind: 'cw' }, similarity: { kind: 'cosine' } }),
      attackConfig({ method: 'pgd', epsilon: 0.05, iterations: 3, criterion: { kind: 'cw' }, similarity: { kind: 'l2' } }),
      attackConfig({ method: 'fgsm', epsilon: 0.05, criterion: { kind: 'cw', targeted: true }, similarity: { kind: 'l2' } }),
    ]) {
      const res = await runAttack(cnn, { data, inputShape: shape, labels }, config);
      res.forEach((r, i) => {
        const want = perturbationNorms(data.subarray(i * D, (i + 1) * D), r.xAdv);
        expect(r.linf).toBe(want.linf);
        expect(r.l2).toBe(want.l2);
        if (config.method === 'pgd' || config.method === 'fgsm') expect(r.linf).toBeLessThanOrEqual(0.05 + 1e-6);
      });
    }
    expect(perturbationNorms([0, 0.5, 1], [0.3, 0.5, 0.6])).toEqual({ linf: expect.closeTo(0.4, 6), l2: expect.closeTo(0.5, 6) });
  }, 60_000);
});

describe('the MINE measurement of PGD/FGSM x′', () => {
  it('gives x′ = x a higher I(x, x′) than a heavily perturbed x′, for every sample', async () => {
    const n = 4;
    const data = uniformSamples(n, D, 1);
    const noise = uniformSamples(n, D, 3);
    const x = tf.tensor(data, [n, ...shape]);
    const config = attackConfig({
      method: 'pgd',
      epsilon: 0.1,
      similarity: { kind: 'mine', mine: { sampler: 'random', draws: 64, projectionDim: 16, hidden: 64, projection: 'fixed' } },
      mineMeasure: { steps: 100 },
    });
    const rows = (src: Float32Array) => Array.from({ length: n }, (_, b) => ({ sampleId: b, xAdv: src.slice(b * D, (b + 1) * D) }));
    try {
      const before = tf.memory().numTensors;
      const same = await measureMine(cnn, x, rows(data), config);
      // Mostly noise: 0.2·x + 0.8·U(0, 1).
      const far = await measureMine(cnn, x, rows(data.map((v, i) => 0.2 * v + 0.8 * noise[i]!)), config);
      expect(tf.memory().numTensors).toBe(before);
      for (let b = 0; b < n; b++) expect(same[b]!, `sample ${b}`).toBeGreaterThan(far[b]!);
    } finally {
      x.dispose();
    }
  }, 60_000);
});
