import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { estimateMutualInformation } from '../../libs/mine/index.js';

/** n draws of (x, y), x ~ N(0, I_d), y = ρx + √(1−ρ²)z: MI = −(d/2)·log(1−ρ²). */
function correlatedGaussians(n: number, d: number, rho: number, seed: number) {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  const y = new Float32Array(n * d);
  const s = Math.sqrt(1 - rho * rho);
  for (let i = 0; i < n * d; i++) {
    x[i] = rng.normal();
    y[i] = rho * x[i]! + s * rng.normal();
  }
  return { x: tf.tensor2d(x, [n, d]), y: tf.tensor2d(y, [n, d]) };
}

describe('MINE on correlated Gaussians (batch mode)', () => {
  beforeAll(async () => {
    await initBackend(process.env.UAE_TEST_BACKEND as 'wasm' ?? 'wasm');
  });

  it('estimates the analytic MI within 15%', () => {
    const d = 2;
    const rho = 0.8;
    const analytic = -(d / 2) * Math.log(1 - rho * rho);
    const { x, y } = correlatedGaussians(1024, d, rho, 1);
    const t0 = performance.now();
    const est = estimateMutualInformation(x, y, { steps: 1500, seed: 3, evaluations: 20 });
    console.log(`MI analytic ${analytic.toFixed(4)} MINE ${est.mi.toFixed(4)} in ${((performance.now() - t0) / 1000).toFixed(1)} s; trace tail`, est.trace.slice(-3));
    x.dispose();
    y.dispose();
    expect(Math.abs(est.mi - analytic) / analytic).toBeLessThan(0.15);
  });
});
