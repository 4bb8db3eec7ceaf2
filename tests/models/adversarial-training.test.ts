/**
 * Madry adversarial training: the PGD examples stay in the ε-ball and in
 * [0, 1], raise the loss they maximise, are seeded; training on them is
 * deterministic and leaves no tensors; bad options name their field.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { adversarialTrainingConfig, createClassifier, pgdExamples, trainClassifierAdversarially, ModelInputError } from '../../libs/models/index.js';

beforeAll(async () => {
  await initBackend();
});

function data(n: number, d: number, seed: number): { x: tf.Tensor2D; labels: Int32Array; y: tf.Tensor } {
  const rng = new Rng(seed);
  const v = new Float32Array(n * d).map(() => rng.uniform());
  const labels = new Int32Array(n).map((_, i) => (v[i * d]! + v[i * d + 1]! > 1 ? 1 : 0));
  return { x: tf.tensor2d(v, [n, d]), labels, y: tf.oneHot(tf.tensor1d(labels, 'int32'), 2).toFloat() };
}

describe('adversarial training (PGD, Madry)', () => {
  it('makes PGD examples inside the ε-ball and [0, 1] that raise the cross-entropy, the same for the same seed', async () => {
    const clf = createClassifier([6], 2, { hidden: 16, seed: 1 });
    const { x, labels, y } = data(32, 6, 2);
    const o = adversarialTrainingConfig({ method: 'pgd', epsilon: 0.1, steps: 5 });
    expect(o.stepSize).toBeCloseTo(0.05, 10);
    const a = pgdExamples(clf, x, y, o, 7);
    const b = pgdExamples(clf, x, y, o, 7);
    const va = await a.data();
    const vx = await x.data();
    expect(Array.from(await b.data())).toEqual(Array.from(va));
    va.forEach((v, i) => {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
      expect(Math.abs(v - vx[i]!)).toBeLessThanOrEqual(0.1 + 1e-6);
    });
    const ce = (t: tf.Tensor) => tf.tidy(() => tf.losses.softmaxCrossEntropy(y, clf.logits(t)).dataSync()[0]!);
    expect(ce(a)).toBeGreaterThan(ce(x));
    expect(labels.length).toBe(32);
    tf.dispose([a, b, x, y]);
    clf.dispose();
  });

  it('trains deterministically under a seed and leaves no tensors behind', async () => {
    const { x, labels, y } = data(64, 6, 3);
    const run = async () => {
      const clf = createClassifier([6], 2, { hidden: 16, seed: 4 });
      // The optimiser's state appears with its first step; after that, no batch keeps anything.
      await trainClassifierAdversarially(clf, x, labels, { method: 'pgd', epsilon: 0.05, steps: 3 }, { epochs: 1, batchSize: 64, maxSteps: 1, seed: 5 });
      const before = tf.memory().numTensors;
      const r = await trainClassifierAdversarially(clf, x, labels, { method: 'pgd', epsilon: 0.05, steps: 3 }, { epochs: 3, batchSize: 16, seed: 5 });
      expect(tf.memory().numTensors).toBe(before);
      const logits = clf.logits(x);
      const w = await logits.data();
      logits.dispose();
      clf.dispose();
      return { losses: r.history.map((h) => h.loss), w: Array.from(w) };
    };
    const first = await run();
    const second = await run();
    expect(second).toEqual(first);
    expect(first.losses.every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
  });

  it('names the field of a bad option', () => {
    const fieldOf = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(ModelInputError);
        return (e as ModelInputError).field;
      }
      return undefined;
    };
    expect(fieldOf(() => adversarialTrainingConfig({ method: 'pgd', epsilon: 0 }))).toBe('adversarial.epsilon');
    expect(fieldOf(() => adversarialTrainingConfig({ method: 'pgd', epsilon: 0.1, steps: 0 }))).toBe('adversarial.steps');
    expect(fieldOf(() => adversarialTrainingConfig({ method: 'fgsm' as 'pgd', epsilon: 0.1 }))).toBe('adversarial.method');
  });
});
