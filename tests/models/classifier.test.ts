import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { createClassifier, trainClassifier } from '../../libs/models/index.js';
import { attackConfig, runAttack } from '../../libs/attack/index.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Three Gaussian blobs in [0, 1]^4. */
function blobs(n: number, seed: number) {
  const rng = new Rng(seed);
  const centres = [[0.2, 0.2, 0.8, 0.5], [0.8, 0.3, 0.2, 0.5], [0.5, 0.8, 0.5, 0.2]];
  const x = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    for (let j = 0; j < 4; j++) x[i * 4 + j] = Math.min(1, Math.max(0, centres[c]![j]! + 0.07 * rng.normal()));
  }
  return { x, labels };
}

describe('MLP classifier', () => {
  it('learns separable classes and exposes logits for CW attacks', async () => {
    const train = blobs(300, 1);
    const test = blobs(90, 2);
    const clf = createClassifier([4], 3, { hidden: 16, seed: 1, learningRate: 0.01 });
    const x = tf.tensor2d(train.x, [300, 4]);
    const { history } = await trainClassifier(clf, x, train.labels, { epochs: 15, batchSize: 30, seed: 1 });
    expect(history.at(-1)!.loss).toBeLessThan(history[0]!.loss);
    const xt = tf.tensor2d(test.x, [90, 4]);
    expect(await clf.accuracy(xt, test.labels)).toBeGreaterThan(0.9);
    expect(clf.logits(xt).shape).toEqual([90, 3]);

    // A supervised untargeted attack with the classifier's own labels runs end to end.
    const res = await runAttack(clf, { data: test.x.slice(0, 8), inputShape: [4], labels: test.labels.slice(0, 2) }, attackConfig({
      criterion: { kind: 'cw', kappa: 0, targeted: false },
      similarity: { kind: 'l2' },
      iterations: 50,
      alpha: 0.5,
    }));
    expect(res).toHaveLength(2);
    tf.dispose([x, xt]);
    clf.dispose();
  });

  it('rejects labels outside the class range, naming the row', async () => {
    const clf = createClassifier([2], 2, { seed: 0 });
    const x = tf.zeros([3, 2]);
    await expect(trainClassifier(clf, x, Int32Array.from([0, 1, 2]), { epochs: 1 })).rejects.toThrow(/label 2 at row 2/);
    x.dispose();
    clf.dispose();
  });
});
