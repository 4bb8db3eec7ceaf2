import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { linearBranch } from '../../libs/mine/linear-branch.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** The plain formulation autodiff differentiates: W₂·(W₁·zᵀ + b₁) + b₂. */
function plain(zT: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor): tf.Tensor {
  return tf.add(tf.matMul(w2 as tf.Tensor3D, tf.add(tf.matMul(w1 as tf.Tensor3D, zT as tf.Tensor3D), b1) as tf.Tensor3D), b2);
}

function maxRelErr(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! / Math.max(1e-6, tf.max(tf.abs(b)).dataSync()[0]!));
}

describe('linearBranch (custom gradient)', () => {
  it.each([
    [1, 37, 16, 5, 3],
    [3, 64, 12, 8, 10],
    [2, 200, 9, 33, 4],
  ])('matches autodiff of the plain form: B=%i P=%i n=%i H=%i O=%i', (B, P, n, H, O) => {
    tf.tidy(() => {
      const zT = tf.randomNormal([B, P, n], 0, 1, 'float32', 1);
      const w1 = tf.randomNormal([B, H, P], 0, 0.2, 'float32', 2);
      const b1 = tf.randomNormal([B, H, 1], 0, 0.2, 'float32', 3);
      const w2 = tf.randomNormal([B, O, H], 0, 0.2, 'float32', 4);
      const b2 = tf.randomNormal([B, O, 1], 0, 0.2, 'float32', 5);
      const weight = tf.randomNormal([B, O, n], 0, 1, 'float32', 6); // a non-trivial upstream gradient
      const loss = (f: typeof plain) => (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!), weight)) as tf.Scalar;
      const ours = tf.valueAndGrads(loss(linearBranch as typeof plain))([zT, w1, b1, w2, b2]);
      const ref = tf.valueAndGrads(loss(plain))([zT, w1, b1, w2, b2]);
      expect(maxRelErr(ours.value, ref.value)).toBeLessThan(1e-4);
      ours.grads.forEach((g, i) => {
        expect(g.shape).toEqual(ref.grads[i]!.shape);
        expect(maxRelErr(g, ref.grads[i]!)).toBeLessThan(1e-4);
      });
    });
  });
});
