/**
 * SimCLR's parts (libs/models/simclr): NT-Xent against a hand-computed batch
 * and its scale invariance, the seeded augmentations (deterministic, in
 * range, the differentiable crop equal to tf.image.cropAndResize), and the
 * encoders' size: FLOPs of a known conv and ResNet-18's known parameter count.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import {
  applyAugmentation,
  augmentRng,
  createSimclr,
  drawAugmentParams,
  layerFlops,
  modelFlops,
  ntXent,
  ntXentAgainstBank,
  ntXentPerView,
  resolveAugmentOptions,
  simclrAugment,
} from '../../libs/models/index.js';
import { maxAbsDiff } from './helpers.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function images(b: number, h: number, w: number, c: number, seed: number): tf.Tensor4D {
  return tf.tensor4d(new Rng(seed).fillUniform(new Float32Array(b * h * w * c), 0, 1), [b, h, w, c]);
}

describe('NT-Xent', () => {
  it('matches a hand-computed batch of N = 2', async () => {
    // Views [a₁, b₁, a₂, b₂] = [(1,0), (0,1), (2,0), (0,−1)]; τ = 0.5, so each logit is 2·cos:
    //   a₁: positive a₂ (cos 1 → 2), others b₁ 0, b₂ 0: ℓ = −2 + log(e² + 2)   = log(1 + 2e⁻²)
    //   b₁: positive b₂ (cos −1 → −2), others a₁ 0, a₂ 0: ℓ = 2 + log(2 + e⁻²)
    //   a₂ as a₁, b₂ as b₁ (b₂'s others: a₁ 0, a₂ 0).
    // Mean: (log(1 + 2e⁻²) + 2 + log(2 + e⁻²)) / 2 = (0.239545 + 2 + 0.758623) / 2 = 1.499084.
    const e2 = Math.exp(-2);
    const perView = [Math.log(1 + 2 * e2), 2 + Math.log(2 + e2), Math.log(1 + 2 * e2), 2 + Math.log(2 + e2)];
    const z = tf.tensor2d([1, 0, 0, 1, 2, 0, 0, -1], [4, 2]);
    const got = await ntXentPerView(z, 0.5).data();
    perView.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    expect((await ntXent(z, 0.5).data())[0]).toBeCloseTo(1.499084, 5);
    tf.dispose(z);
  });

  it('is invariant to scaling each embedding, and not to permuting a view', async () => {
    const z = tf.tensor2d(new Rng(3).fillUniform(new Float32Array(6 * 5), -1, 1), [6, 5]);
    const scales = tf.tensor2d([[0.01], [3], [7.5], [1], [100], [0.3]]);
    const base = (await ntXent(z).data())[0]!;
    expect((await ntXent(tf.mul(z, scales) as tf.Tensor2D).data())[0]).toBeCloseTo(base, 4);
    // Swapping two rows of the second view breaks two positive pairs: the loss changes.
    const swapped = tf.gather(z, tf.tensor1d([0, 1, 2, 4, 3, 5], 'int32')) as tf.Tensor2D;
    expect(Math.abs((await ntXent(swapped).data())[0]! - base)).toBeGreaterThan(1e-3);
    tf.dispose([z, scales, swapped]);
  });

  it('against a bank equals the batch loss\'s two anchor terms of that sample', async () => {
    // One sample (u, v) and a bank of M = 2 images (r₁, r₂ their first views, r₃, r₄ their second):
    // NT-Xent over the batch [u, r₁, r₂, v, r₃, r₄] has anchor terms ℓ(u), ℓ(v), which the bank form averages.
    const rows = new Rng(4).fillUniform(new Float32Array(6 * 3), -1, 1);
    const [u, v] = [tf.tensor2d(rows.slice(0, 3), [1, 3]), tf.tensor2d(rows.slice(3, 6), [1, 3])];
    const bank = tf.tensor2d(rows.slice(6), [4, 3]);
    const batch = tf.concat([u, tf.slice(bank, 0, 2), v, tf.slice(bank, 2, 2)]) as tf.Tensor2D;
    const perView = await ntXentPerView(batch).data();
    const got = (await ntXentAgainstBank(u, v, bank).data())[0]!;
    expect(got).toBeCloseTo((perView[0]! + perView[3]!) / 2, 5);
    tf.dispose([u, v, bank, batch]);
  });
});

describe('SimCLR augmentations', () => {
  it('are deterministic under a seed, differ across seeds, keep the shape and stay in [0, 1]', async () => {
    for (const c of [1, 3]) {
      const x = images(6, 12, 10, c, c);
      const a = simclrAugment(x, 7, [1, 2]);
      const b = simclrAugment(x, 7, [1, 2]);
      const other = simclrAugment(x, 8, [1, 2]);
      expect(a.shape).toEqual(x.shape);
      const [av, bv, ov] = await Promise.all([a.data(), b.data(), other.data()]);
      expect(maxAbsDiff(av, bv)).toBe(0);
      expect(maxAbsDiff(av, ov)).toBeGreaterThan(0.05);
      expect(Math.min(...av)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...av)).toBeLessThanOrEqual(1);
      // They change the images (a crop of scale ≥ 0.08 of random pixels is never the image).
      expect(maxAbsDiff(av, await x.data())).toBeGreaterThan(0.05);
      tf.dispose([x, a, b, other]);
    }
  });

  it('the differentiable crop equals tf.image.cropAndResize, flips included, and passes gradients', async () => {
    const x = images(8, 9, 11, 3, 5);
    const p = drawAugmentParams(8, 9, 11, augmentRng(1, 2), resolveAugmentOptions());
    // Some boxes are flipped (x₁ > x₂) with p 0.5 over 8 images.
    const flipped = [...Array(8).keys()].filter((i) => p.boxes[i * 4 + 1]! > p.boxes[i * 4 + 3]!).length;
    expect(flipped).toBeGreaterThan(0);
    const viaCrop = await applyAugmentation(x, p).data();
    const viaMatrices = await applyAugmentation(x, p, true).data();
    expect(maxAbsDiff(viaCrop, viaMatrices)).toBeLessThan(1e-4);
    const g = tf.grad((t: tf.Tensor) => tf.sum(applyAugmentation(t as tf.Tensor4D, p, true)))(x);
    const gv = await g.data();
    expect(gv.every(Number.isFinite)).toBe(true);
    expect(Math.max(...gv.map(Math.abs))).toBeGreaterThan(0);
    tf.dispose([x, g]);
  });

  it('identity options leave the images as they are', async () => {
    const x = images(3, 8, 8, 3, 9);
    const identity = { scale: [1, 1], ratio: [8 / 8, 8 / 8], flip: 0, jitter: 0, grayscale: 0 } as const;
    const y = simclrAugment(x, 1, [], identity);
    expect(maxAbsDiff(await y.data(), await x.data())).toBeLessThan(1e-5);
    // Greyscale with p 1 makes the three channels equal.
    const g = await simclrAugment(x, 1, [], { ...identity, grayscale: 1 }).data();
    for (let i = 0; i < g.length; i += 3) expect(Math.abs(g[i]! - g[i + 2]!)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
  });

  it('rejects bad options, naming the field', () => {
    expect(() => resolveAugmentOptions({ flip: 1.5 })).toThrow(expect.objectContaining({ field: 'augment.flip' }));
    expect(() => resolveAugmentOptions({ scale: [0.5, 0.2] })).toThrow(expect.objectContaining({ field: 'augment.scale' }));
  });
});

describe('SimCLR encoders: size', () => {
  it('counts a known conv and dense layer', () => {
    // 3×3 conv, 3 → 4 channels, on 8×8: 2·(3·3·3·4)·64 = 13 824 FLOPs ('same', stride 1, no bias);
    // stride 2 gives 4×4 outputs: 3 456; with bias + 4·16 = 3 520. Dense 10 → 5 with bias: 2·50 + 5 = 105.
    const conv = (strides: number, useBias: boolean) =>
      tfl.sequential({ layers: [tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, strides, padding: 'same', useBias })] });
    const models = [conv(1, false), conv(2, false), conv(2, true), tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [10], units: 5 })] })];
    expect(models.map(modelFlops)).toEqual([13824, 3456, 3520, 105]);
    expect(layerFlops(models[0]!.layers[0]!)).toBe(13824);
    models.forEach((m) => m.dispose());
  });

  it('ResNet-18 (CIFAR) has its known 11 168 832 encoder parameters and 0.555 G multiply–adds on 32×32×3', () => {
    // torchvision-style CIFAR ResNet-18: 11 173 962 parameters with its 512 → 10 classifier (5 130).
    // MACs: stem 3·64·9·1024 + stage 1 4·64·64·9·1024 + stages 2–4 134 217 728 each = 555 417 600.
    const m = createSimclr('simclr-resnet18', [32, 32, 3], { seed: 0 });
    const head = m.model.layers.filter((l) => l.name === 'head_hidden' || l.name === 'projection');
    const trainable = m.model.trainableWeights.reduce((s, w) => s + w.shape.reduce((a, b) => a! * b!, 1)!, 0);
    const headParams = head.reduce((s, l) => s + l.countParams(), 0);
    expect(headParams).toBe(512 * 512 + 512 + 512 * 128 + 128);
    expect(trainable - headParams).toBe(11_168_832);
    expect(modelFlops(m.model) - head.reduce((s, l) => s + layerFlops(l), 0)).toBe(2 * 555_417_600);
    expect(m.featureDim).toBe(512);
    m.dispose();
  });
});
