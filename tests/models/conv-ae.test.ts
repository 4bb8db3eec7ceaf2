import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, initBackend } from '../../libs/tensor/index.js';
import { createAutoencoder, trainAutoencoder, CONV_AE_ADADELTA, type Autoencoder } from '../../libs/models/index.js';
import { autoencoderSuite } from './autoencoder-suite.js';
import { fixtureImages, maxAbsDiff, weightsOf } from './helpers.js';

autoencoderSuite({ kind: 'conv-ae', inputShape: [28, 28, 1], trainSamples: 256, trainEpochs: 2, trainBatch: 32, codeSize: 7 * 7 * 8 });

describe('conv-ae architecture and firstConv', () => {
  let ae: Autoencoder;
  let x: tf.Tensor4D;
  beforeAll(async () => {
    await initBackend('wasm');
    ae = createAutoencoder('conv-ae', [28, 28, 1], { seed: 3 });
    x = await fixtureImages(4);
  });
  afterAll(() => {
    ae.dispose();
    x.dispose();
  });

  it('has the reference layer stack, BCE loss and Adadelta(1.0, 0.95, 1e-7)', () => {
    const layers = ae.model.layers.map((l) => [l.getClassName(), l.outputShape]);
    expect(layers).toEqual([
      ['Conv2D', [null, 28, 28, 16]],
      ['MaxPooling2D', [null, 14, 14, 16]],
      ['Conv2D', [null, 14, 14, 8]],
      ['MaxPooling2D', [null, 7, 7, 8]],
      ['Conv2D', [null, 7, 7, 8]],
      ['UpSampling2D', [null, 14, 14, 8]],
      ['Conv2D', [null, 14, 14, 16]],
      ['UpSampling2D', [null, 28, 28, 16]],
      ['Conv2D', [null, 28, 28, 1]],
    ]);
    const convs = ae.model.layers
      .filter((l) => l.getClassName() === 'Conv2D')
      .map((l) => l.getConfig() as { kernelSize: number[]; padding: string; activation: string });
    expect(convs.map((c) => c.activation)).toEqual(['relu', 'relu', 'relu', 'relu', 'sigmoid']);
    expect(convs.every((c) => c.padding === 'same' && c.kernelSize.every((k) => k === 5))).toBe(true);
    expect(ae.model.loss).toBe('binaryCrossentropy');
    expect(ae.model.optimizer.getClassName()).toBe('KerasAdadelta');
    const cfg = ae.model.optimizer.getConfig() as { learningRate: number; rho: number; epsilon: number };
    expect(cfg.learningRate).toBe(CONV_AE_ADADELTA.learningRate);
    expect(cfg.learningRate).toBe(1);
    expect(cfg.rho).toBeCloseTo(0.95, 10);
    expect(cfg.epsilon).toBeCloseTo(1e-7, 12);
  });

  it('firstConv is [B, 28, 28, 16] and equals the first layer’s output (incl. relu)', () => {
    const f = ae.firstConv!(x);
    expect(f.shape).toEqual([4, 28, 28, 16]);
    const sub = tfl.model({ inputs: ae.model.inputs, outputs: ae.model.layers[0]!.output as tfl.SymbolicTensor });
    const ref = sub.predict(x) as tf.Tensor;
    expect(maxAbsDiff(f.dataSync(), ref.dataSync())).toBe(0);
    // By hand: relu(conv2d(x, k, 'same') + b).
    const [k, b] = ae.model.layers[0]!.getWeights();
    const hand = tf.tidy(() => tf.relu(tf.add(tf.conv2d(x, k as tf.Tensor4D, 1, 'same'), b!)));
    expect(maxAbsDiff(f.dataSync(), hand.dataSync())).toBeLessThan(1e-5);
    expect(Math.min(...f.dataSync())).toBe(0);
    tf.dispose([f, ref, hand]);
  });

  it('encode is the bottleneck (conv3, before the first upsampling) flattened', () => {
    const z = ae.encode(x);
    expect(z.shape).toEqual([4, 7 * 7 * 8]);
    const conv3 = ae.model.layers[4]!;
    expect(conv3.name).toBe('conv3');
    const sub = tfl.model({ inputs: ae.model.inputs, outputs: conv3.output as tfl.SymbolicTensor });
    const ref = sub.predict(x) as tf.Tensor;
    expect(ref.shape).toEqual([4, 7, 7, 8]);
    expect(maxAbsDiff(z.dataSync(), ref.dataSync())).toBe(0);
    tf.dispose([z, ref]);
  });

  it('generalises to H×W×C divisible by 4 and rejects other sizes', () => {
    const c = createAutoencoder('conv-ae', [32, 32, 3], { seed: 1 });
    const y = tf.tidy(() => c.reconstruct(tf.fill([2, 32, 32, 3], 0.5)));
    expect(y.shape).toEqual([2, 32, 32, 3]);
    const f = tf.tidy(() => c.firstConv!(tf.zeros([2, 32, 32, 3])));
    expect(f.shape).toEqual([2, 32, 32, 16]);
    tf.dispose([y, f]);
    c.dispose();
    expect(() => createAutoencoder('conv-ae', [30, 28, 1])).toThrow(/divisible by 4/);
    expect(() => createAutoencoder('conv-ae', [784])).toThrow(/\[H, W, C\]/);
  });

  it('trains deterministically under fixed seeds', async () => {
    const xt = await fixtureImages(32);
    const run = async () => {
      const m = createAutoencoder('conv-ae', [28, 28, 1], { seed: 9 });
      await trainAutoencoder(m, xt, { epochs: 1, batchSize: 16, seed: 4 });
      const w = weightsOf(m.model);
      m.dispose();
      return w;
    };
    const a = await run();
    const b = await run();
    a.forEach((w, i) => expect(maxAbsDiff(w, b[i]!)).toBe(0));
    xt.dispose();
  });
});
