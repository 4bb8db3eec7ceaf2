import { describe, it, expect, beforeAll } from 'vitest';
import { tf, initBackend } from '../../libs/tensor/index.js';
import { createAutoencoder, DENSE_AE_LEARNING_RATE } from '../../libs/models/index.js';
import { autoencoderSuite } from './autoencoder-suite.js';
import { maxAbsDiff } from './helpers.js';

autoencoderSuite({ kind: 'dense-ae', inputShape: [784], trainSamples: 256, trainEpochs: 3, trainBatch: 32, codeSize: 128 });
autoencoderSuite({ kind: 'dense-ae', inputShape: [28, 28, 1], trainSamples: 256, trainEpochs: 2, trainBatch: 32, codeSize: 128 });

describe('dense-ae architecture', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('is d → 128 sigmoid → d sigmoid with MSE and RMSprop(0.0025)', () => {
    const ae = createAutoencoder('dense-ae', [784], { seed: 1 });
    const dense = ae.model.layers.filter((l) => l.getClassName() === 'Dense');
    expect(dense.map((l) => l.outputShape)).toEqual([
      [null, 128],
      [null, 784],
    ]);
    expect(dense.map((l) => (l.getConfig() as { activation: string }).activation)).toEqual(['sigmoid', 'sigmoid']);
    expect(ae.model.countParams()).toBe(784 * 128 + 128 + 128 * 784 + 784);
    expect(ae.model.loss).toBe('meanSquaredError');
    const opt = ae.model.optimizer.getConfig() as { learningRate: number; decay: number };
    expect(ae.model.optimizer.getClassName()).toBe('RMSProp');
    expect(opt.learningRate).toBeCloseTo(DENSE_AE_LEARNING_RATE, 10);
    expect(ae.firstConv).toBeUndefined();
    ae.dispose();
  });

  it('takes a hidden width (SVHN: 256) and image-shaped inputs', () => {
    const ae = createAutoencoder('dense-ae', [32, 32, 3], { seed: 1, hidden: 256 });
    expect(ae.model.countParams()).toBe(3072 * 256 + 256 + 256 * 3072 + 3072);
    const y = tf.tidy(() => ae.reconstruct(tf.zeros([2, 32, 32, 3])));
    expect(y.shape).toEqual([2, 32, 32, 3]);
    y.dispose();
    ae.dispose();
  });

  it('encode is the hidden layer, sigmoid(x·W + b), for flat and image inputs', () => {
    for (const shape of [[784], [28, 28, 1]]) {
      const ae = createAutoencoder('dense-ae', shape, { seed: 2, hidden: 16 });
      const x = tf.randomUniform([3, ...shape], 0, 1, 'float32', 1);
      const z = ae.encode(x);
      expect(z.shape).toEqual([3, 16]);
      const [w, b] = ae.model.layers.find((l) => l.name === 'encoder')!.getWeights();
      const hand = tf.tidy(() => tf.sigmoid(tf.add(tf.matMul(tf.reshape(x, [3, 784]), w as tf.Tensor2D), b!)));
      expect(maxAbsDiff(z.dataSync(), hand.dataSync())).toBeLessThan(1e-6);
      tf.dispose([x, z, hand]);
      ae.dispose();
    }
  });

  it('dispose frees all of the model’s tensors', () => {
    const before = tf.memory().numTensors;
    const ae = createAutoencoder('dense-ae', [784], { seed: 1 });
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    ae.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => ae.reconstruct(tf.zeros([1, 784]))).toThrow(/disposed/);
  });
});
