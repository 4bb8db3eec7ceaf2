import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { lazyProjectPair } from '../../libs/mine/lazy-projection.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const d = 6;
const n = 64; // projected coordinates per evaluation (K·m)
const m = 8; // entries N(0, 1/m)
const x = Float32Array.from([0.9, 0.1, 0.4, 0.0, 0.7, 0.3]);
const xAdv = Float32Array.from([0.2, 0.8, 0.5, 0.6, 0.1, 0.9]);

/** The reference: materialise A ∈ R^{d×n}, Y = x′ᵀA, loss ½‖Y‖², gradient A·Y. */
function explicit(rng: Rng) {
  const A = tf.tensor2d(rng.fillNormal(new Float32Array(d * n), 0, 1 / Math.sqrt(m)), [d, n]);
  const xa = tf.tensor2d(xAdv, [1, d]);
  const X = tf.matMul(tf.tensor2d(x, [1, d]), A);
  const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => tf.mul(0.5, tf.sum(tf.square(tf.matMul(v as tf.Tensor2D, A)))) as tf.Scalar)(xa);
  return { X: X.dataSync(), Y: tf.matMul(xa, A).dataSync(), grad: grad.dataSync(), loss: value.dataSync()[0]! };
}

function lazy(rng: Rng) {
  const xa = tf.tensor2d(xAdv, [1, d]);
  const { X, Y } = lazyProjectPair(tf.tensor2d(x, [1, d]), xa, [rng], n, m);
  const { grad } = tf.valueAndGrad((v: tf.Tensor) => tf.mul(0.5, tf.sum(tf.square(lazyProjectPair(tf.tensor2d(x, [1, d]), v, [rng], n, m).Y))) as tf.Scalar)(xa);
  return { X: X.dataSync(), Y: Y.dataSync(), grad: grad.dataSync() };
}

/** Second moments of the draws and the mean gradient over many evaluations. */
function moments(draw: (rep: number) => { X: ArrayLike<number>; Y: ArrayLike<number>; grad: ArrayLike<number> }, reps: number) {
  let xx = 0, yy = 0, xy = 0;
  const g = new Float64Array(d);
  const gg = new Float64Array(d);
  for (let r = 0; r < reps; r++) {
    tf.tidy(() => {
      const { X, Y, grad } = draw(r);
      for (let k = 0; k < n; k++) {
        xx += X[k]! * X[k]!;
        yy += Y[k]! * Y[k]!;
        xy += X[k]! * Y[k]!;
      }
      for (let i = 0; i < d; i++) {
        g[i]! += grad[i]! / reps;
        gg[i]! += grad[i]! * grad[i]! / reps;
      }
    });
  }
  const cols = reps * n;
  return { xx: xx / cols, yy: yy / cols, xy: xy / cols, g: Array.from(g), gVar: Array.from(gg, (v, i) => v - g[i]! ** 2) };
}

describe('lazy random projections', () => {
  it('have the same joint law of (X, Y, A·g) as materialised matrices', () => {
    const reps = 1500;
    const ref = moments((r) => explicit(new Rng(1, 2, r)), reps);
    const ours = moments((r) => lazy(new Rng(4, 5, r)), reps);
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
    // Analytic second moments of one projected coordinate: (1/m)·Gram matrix of (x, x′).
    const analytic = { xx: dot(x, x) / m, yy: dot(xAdv, xAdv) / m, xy: dot(x, xAdv) / m };
    for (const key of ['xx', 'yy', 'xy'] as const) {
      expect(Math.abs(ref[key] - analytic[key]) / analytic[key]).toBeLessThan(0.03);
      expect(Math.abs(ours[key] - analytic[key]) / analytic[key]).toBeLessThan(0.03);
    }
    // Gradient of ½‖Y‖² is A·Aᵀx′, with mean (n/m)·x′: this couples the backward to the forward draws.
    xAdv.forEach((v, i) => {
      expect(ref.g[i]).toBeCloseTo((n / m) * v, 0);
      expect(ours.g[i]).toBeCloseTo((n / m) * v, 0);
      // And the spread matches too (same law, not just the same mean).
      expect(Math.abs(ours.gVar[i]! - ref.gVar[i]!) / ref.gVar[i]!).toBeLessThan(0.2);
    });
  });

  it('handles x = 0 and x′ ∥ x without NaN', () => {
    for (const [a, b] of [
      [new Float32Array(d), xAdv],
      [x, x.map((v) => 2 * v)],
      [new Float32Array(d), new Float32Array(d)],
    ] as const) {
      tf.tidy(() => {
        const rng = new Rng(9);
        const { X, Y } = lazyProjectPair(tf.tensor2d(a, [1, d]), tf.tensor2d(b, [1, d]), [rng], n, m);
        const g = tf.grad((v: tf.Tensor) => tf.sum(lazyProjectPair(tf.tensor2d(a, [1, d]), v, [rng], n, m).Y))(tf.tensor2d(b, [1, d]));
        for (const t of [X, Y, g]) expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
      });
    }
  });
});
