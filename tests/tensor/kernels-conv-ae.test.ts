/**
 * End to end: one training step of the conv autoencoder (conv/maxPool/
 * upSampling, binary cross-entropy, adadelta) on wasm gives the same loss and
 * weights as on cpu. Exercises Conv2DBackpropFilter/Input, MaxPoolGrad and
 * ResizeNearestNeighborGrad exactly as training calls them.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { rand, relErr, setupWasm, tf } from './kernel-helpers.js';
import { buildConvAE } from '../../libs/models/index.js';
import { KerasAdadelta } from '../../libs/models/adadelta.js';

beforeAll(async () => {
  await setupWasm();
});

/** The reference conv AE (libs/models). */
function convAutoencoder(): tfl.Sequential {
  return buildConvAE([28, 28, 1], { seed: 1 });
}

async function trainSteps(backend: 'cpu' | 'wasm', steps: number): Promise<{ losses: number[]; weights: Float32Array[] }> {
  await tf.setBackend(backend);
  const model = convAutoencoder();
  // Same deterministic weights on both backends.
  model.setWeights(model.getWeights().map((w, i) => tf.tensor(rand(w.size, 900 + i, -0.2, 0.2), w.shape)));
  model.compile({ optimizer: new KerasAdadelta(1), loss: 'binaryCrossentropy' });
  const x = tf.tensor4d(rand(8 * 28 * 28, 77, 0, 1), [8, 28, 28, 1]);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(Number(await model.trainOnBatch(x, x)));
  const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
  x.dispose();
  model.dispose();
  return { losses, weights };
}

describe('conv autoencoder training step', () => {
  it('wasm matches cpu (losses and updated weights)', async () => {
    const w = await trainSteps('wasm', 3);
    const c = await trainSteps('cpu', 3);
    await tf.setBackend('wasm');
    for (let i = 0; i < 3; i++) expect(Math.abs(w.losses[i]! - c.losses[i]!)).toBeLessThan(1e-4 * Math.abs(c.losses[i]!));
    for (let i = 0; i < w.weights.length; i++) expect(relErr(w.weights[i]!, c.weights[i]!)).toBeLessThan(1e-4);
  });
});
