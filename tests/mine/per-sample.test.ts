import { describe, expect, it } from 'vitest';
import { tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { PerSampleMine, RandomSampler, StatisticsNetwork, mineConfig } from '../../libs/mine/index.js';
// Runs on wasm, or on webgpu under UAE_BACKEND=webgpu (reads are asynchronous: webgpu has no synchronous one).
import { onBackend, SKIP_REASON } from '../tensor/backend-under-test.js';

function image(seed: number, d: number): Float32Array {
  const rng = new Rng(seed, 99);
  return rng.fillUniform(new Float32Array(d), 0, 1);
}

describe.skipIf(SKIP_REASON !== undefined)(onBackend('per-sample MINE'), () => {
  it('ranks MI(x, x) above MI(x, unrelated) with the random sampler', async () => {
    const d = 64;
    const x = tf.tensor2d([...image(1, d), ...image(1, d)], [2, d]);
    const other = tf.tensor2d([...image(1, d), ...image(2, d)], [2, d]);
    // Fixed projections and a fast learning rate so 200 steps suffice; the DV
    // bound is noisy per evaluation, so average 20 fresh permutations.
    const cfg = mineConfig({ sampler: 'random', draws: 200, projection: 'fixed', learningRate: 1e-4 });
    const keys = [{ seed: 0, sampleId: 0 }, { seed: 0, sampleId: 1 }];
    // Sample 0 pairs x with itself; sample 1 pairs x with an unrelated image.
    const xAdv = tf.concat([tf.slice(x, 0, 1), tf.slice(other, 1, 1)]);
    const mine = new PerSampleMine(keys, new RandomSampler(keys, [d], cfg), cfg);
    await mine.train(x, xAdv, 200);
    const mi = [0, 0];
    for (let e = 0; e < 20; e++) {
      const v = mine.estimate(x, xAdv);
      (await v.data()).forEach((m, i) => (mi[i]! += m / 20));
      v.dispose();
    }
    mine.dispose();
    tf.dispose([x, other, xAdv]);
    expect(mi[0]).toBeGreaterThan(mi[1]! + 0.3);
  }, 600_000); // 200 training steps: minutes on lavapipe beside a busy CPU

  it('computes the DV bound with a stable log-mean-exp', async () => {
    const cfg = mineConfig({ hidden: 4, branchOut: 3 });
    const net = StatisticsNetwork.init([{ seed: 1, sampleId: 0 }], [5], cfg);
    const n = 6;
    const X = tf.randomNormal([1, n, 5], 0, 1, 'float32', 1);
    const Y = tf.randomNormal([1, n, 5], 0, 1, 'float32', 2);
    const perm = tf.tensor1d([3, 0, 5, 1, 2, 4], 'int32');
    const dv = net.dv(X, Y, perm);
    const got = (await dv.data())[0]!;
    dv.dispose();
    // Reference: T(X_i, Y_j) written out row by row in plain JS.
    const P = await Promise.all(net.params.map(async (p) => Array.from(await p.data())));
    const [xw1, xb1, xw2, xb2, yw1, yb1, yw2, yb2, out] = P as number[][];
    const dense = (w: number[], b: number[], v: number[], rows: number, cols: number) =>
      Array.from({ length: rows }, (_, r) => b[r]! + v.reduce((s, vi, c) => s + w[r * cols + c]! * vi, 0));
    const branch = (v: number[], w1: number[], b1: number[], w2: number[], b2: number[]) => dense(w2!, b2!, dense(w1!, b1!, v, 4, 5), 3, 4);
    const xs = Array.from(await X.data());
    const ys = Array.from(await Y.data());
    const row = (a: number[], i: number) => a.slice(i * 5, i * 5 + 5);
    const T = (i: number, j: number) => {
      const hx = branch(row(xs, i), xw1!, xb1!, xw2!, xb2!);
      const hy = branch(row(ys, j), yw1!, yb1!, yw2!, yb2!);
      return hx.reduce((s, h, k) => s + out![k]! * Math.max(0, h + hy[k]!), 0);
    };
    const pi = [3, 0, 5, 1, 2, 4];
    const joint = pi.map((_, i) => T(i, i)).reduce((a, b) => a + b, 0) / n;
    const marg = Math.log(pi.map((p, i) => Math.exp(T(i, p))).reduce((a, b) => a + b, 0) / n);
    expect(got).toBeCloseTo(joint - marg, 4);
    net.dispose();
    tf.dispose([X, Y, perm]);
  });

  it('gives each sample the same network whatever batch it travels in', async () => {
    const cfg = mineConfig({ hidden: 8, branchOut: 4 });
    const pair = StatisticsNetwork.init([{ seed: 7, sampleId: 3 }, { seed: 7, sampleId: 9 }], [6], cfg);
    const single = StatisticsNetwork.init([{ seed: 7, sampleId: 9 }], [6], cfg);
    for (const [i, p] of pair.params.entries()) {
      const second = tf.slice(p, 1, 1);
      expect(Array.from(await second.data())).toEqual(Array.from(await single.params[i]!.data()));
      second.dispose();
    }
    pair.dispose();
    single.dispose();
  });
});
