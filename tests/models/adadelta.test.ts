import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { KerasAdadelta } from '../../libs/models/adadelta.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('KerasAdadelta', () => {
  it('takes Keras steps: the first uses the updated gradient accumulator', () => {
    const [rho, eps, lr] = [0.95, 1e-7, 1.0];
    const w = tf.variable(tf.tensor1d([1, -2, 3]));
    const opt = new KerasAdadelta(lr, rho, eps);
    const g = [0.5, -1, 2];
    let a = g.map(() => 0);
    let u = g.map(() => 0);
    let expected = [1, -2, 3];
    for (let step = 0; step < 3; step++) {
      opt.applyGradients({ [w.name]: tf.tensor1d(g) });
      a = a.map((ai, i) => rho * ai + (1 - rho) * g[i]! ** 2);
      const delta = g.map((gi, i) => (gi * Math.sqrt(u[i]! + eps)) / Math.sqrt(a[i]! + eps));
      u = u.map((ui, i) => rho * ui + (1 - rho) * delta[i]! ** 2);
      expected = expected.map((e, i) => e - lr * delta[i]!);
      const got = Array.from(w.dataSync());
      got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    }
    // The first step is tiny (≈ √ε/√(1−ρ)), unlike tfjs' built-in, whose first step is the raw gradient.
    expect(Math.abs(1 - expected[0]!)).toBeLessThan(0.01);
    opt.dispose();
    w.dispose();
  });
});
