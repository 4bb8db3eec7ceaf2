/**
 * The conv classifier (model kind cnn-classifier, the MINE/CW literature's
 * MNIST and CIFAR layouts): its layer shapes, the first conv layer the conv
 * sampler reads, a save/load round trip with equal logits, that training
 * learns a separable task, and the inputs it refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { createClassifier, loadClassifier, saveClassifier, trainClassifier, ModelInputError } from '../../libs/models/index.js';

let dir: string;
beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'uae-cnn-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** Images whose class is which half (left or right) is brighter: learnable by any conv net. */
function halves(n: number, size: number, channels: number, seed: number): { x: tf.Tensor4D; labels: Int32Array } {
  const rng = new Rng(seed);
  const data = new Float32Array(n * size * size * channels);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let r = 0; r < size; r++)
      for (let c = 0; c < size; c++)
        for (let k = 0; k < channels; k++) {
          const bright = (c < size / 2) === (labels[i] === 0);
          data[((i * size + r) * size + c) * channels + k] = (bright ? 0.6 : 0.2) + 0.2 * rng.uniform();
        }
  }
  return { x: tf.tensor4d(data, [n, size, size, channels]), labels };
}

describe('cnn-classifier', () => {
  it('has the MNIST layout for one channel and the CIFAR layout for three, and exposes its first conv layer', () => {
    const mnist = createClassifier([28, 28, 1], 10, { kind: 'cnn-classifier', seed: 1 });
    expect(mnist.kind).toBe('cnn-classifier');
    expect(mnist.model.layers.map((l) => l.getClassName())).toEqual(['Conv2D', 'Conv2D', 'MaxPooling2D', 'Conv2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense', 'Dense']);
    expect(mnist.model.layers.map((l) => (l.outputShape as number[]).slice(1))).toEqual([[26, 26, 32], [24, 24, 32], [12, 12, 32], [10, 10, 64], [8, 8, 64], [4, 4, 64], [1024], [200], [200], [10]]);
    const cifar = createClassifier([32, 32, 3], 10, { kind: 'cnn-classifier', seed: 1 });
    expect(cifar.model.layers.map((l) => (l.outputShape as number[]).at(-1))).toEqual([64, 64, 64, 128, 128, 128, 3200, 256, 256, 10]);
    const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
    const maps = mnist.firstConv!(x);
    expect(maps.shape).toEqual([2, 26, 26, 32]);
    expect(mnist.logits(x).shape).toEqual([2, 10]);
    tf.dispose([x, maps]);
    mnist.dispose();
    cifar.dispose();
  });

  it('is seeded, learns a separable task, and reloads with equal logits', async () => {
    const a = createClassifier([16, 16, 1], 2, { kind: 'cnn-classifier', seed: 3 });
    const b = createClassifier([16, 16, 1], 2, { kind: 'cnn-classifier', seed: 3 });
    const { x, labels } = halves(64, 16, 1, 5);
    const la = await a.logits(x).data();
    expect(Array.from(await b.logits(x).data())).toEqual(Array.from(la));
    await trainClassifier(a, x, labels, { epochs: 8, batchSize: 16, seed: 3 });
    expect(await a.accuracy(x, labels)).toBeGreaterThanOrEqual(0.95);
    await saveClassifier(a, join(dir, 'cnn'), { note: 'kept' });
    const { classifier: loaded, info } = await loadClassifier(join(dir, 'cnn'));
    expect(loaded.kind).toBe('cnn-classifier');
    expect(info).toEqual({ note: 'kept' });
    expect(loaded.firstConv).toBeDefined();
    const before = await a.logits(x).data();
    const after = await loaded.logits(x).data();
    after.forEach((v, i) => expect(v).toBeCloseTo(before[i]!, 5));
    tf.dispose(x);
    for (const m of [a, b, loaded]) m.dispose();
  });

  it('refuses vector inputs and images too small for its two pooling stages, naming the field', () => {
    expect(() => createClassifier([784], 10, { kind: 'cnn-classifier' })).toThrow(ModelInputError);
    expect(() => createClassifier([784], 10, { kind: 'cnn-classifier' })).toThrow(/image inputs/);
    expect(() => createClassifier([12, 12, 1], 10, { kind: 'cnn-classifier' })).toThrow(/at least 16×16/);
    try {
      createClassifier([8, 8, 1], 10, { kind: 'cnn-classifier' });
    } catch (e) {
      expect((e as ModelInputError).field).toBe('inputShape');
    }
  });
});
