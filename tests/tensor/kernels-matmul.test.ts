/**
 * Our wasm BatchMatMul against the cpu backend: every transpose combination,
 * batch 1, batched, broadcast either way, several batch dims; matMul
 * gradients (which always transpose) and the dense layer's fused matMul.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { leakCheck, on, rand, relErr, setupWasm, size, tf, wasmVsCpu } from './kernel-helpers.js';
import { originalKernel } from '../../libs/tensor/kernels/register.js';

const TOL = 1e-4;

beforeAll(async () => {
  await setupWasm();
});

interface Case {
  outerA: number[];
  outerB: number[];
  n: number;
  k: number;
  m: number;
}

const CASES: Case[] = [
  { outerA: [], outerB: [], n: 5, k: 7, m: 3 },
  { outerA: [], outerB: [], n: 1, k: 9, m: 1 },
  { outerA: [], outerB: [], n: 33, k: 17, m: 65 },
  { outerA: [1], outerB: [1], n: 4, k: 6, m: 8 },
  { outerA: [3], outerB: [3], n: 4, k: 6, m: 5 },
  { outerA: [4], outerB: [1], n: 3, k: 5, m: 2 },
  { outerA: [1], outerB: [4], n: 3, k: 5, m: 2 },
  { outerA: [4], outerB: [], n: 3, k: 5, m: 6 },
  { outerA: [], outerB: [4], n: 3, k: 5, m: 6 },
  { outerA: [2, 3], outerB: [2, 3], n: 2, k: 3, m: 4 },
  { outerA: [2, 3], outerB: [1, 3], n: 2, k: 3, m: 4 },
  { outerA: [2, 3], outerB: [], n: 5, k: 1, m: 4 },
];

const shapeOf = (outer: number[], r: number, c: number, t: boolean) => [...outer, ...(t ? [c, r] : [r, c])];

describe('wasm BatchMatMul', () => {
  it(`matches cpu: ${CASES.length} shapes × 4 transpose combinations`, async () => {
    const failures: string[] = [];
    for (const [i, c] of CASES.entries()) {
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          const as = shapeOf(c.outerA, c.n, c.k, ta);
          const bs = shapeOf(c.outerB, c.k, c.m, tb);
          const av = rand(size(as), 100 + i);
          const bv = rand(size(bs), 200 + i);
          let res: { err: number; shape: number[] };
          try {
            res = await wasmVsCpu(() => tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb));
          } catch (e) {
            failures.push(`${as} @ ${bs} ta=${ta} tb=${tb}: ${(e as Error).message}`);
            continue;
          }
          if (!(res.err <= TOL)) failures.push(`${as} @ ${bs} ta=${ta} tb=${tb}: err ${res.err}`);
        }
    }
    expect(failures).toEqual([]);
  });

  it('broadcasts batch dims both ways (cpu cannot: naive reference)', async () => {
    // [2,1,n,k] @ [1,3,k,m] → [2,3,n,m]; tfjs' cpu kernel returns too few values here.
    const [n, k, m] = [2, 3, 4];
    for (const [ta, tb] of [
      [false, false],
      [true, true],
    ] as const) {
      const as = shapeOf([2, 1], n, k, ta);
      const bs = shapeOf([1, 3], k, m, tb);
      const av = rand(size(as), 11);
      const bv = rand(size(bs), 12);
      const got = await on('wasm', () => tf.matMul(tf.tensor(av, as), tf.tensor(bv, bs), ta, tb));
      expect(got.shape).toEqual([2, 3, n, m]);
      const ref = new Float32Array(2 * 3 * n * m);
      for (let i = 0; i < 2; i++)
        for (let j = 0; j < 3; j++)
          for (let r = 0; r < n; r++)
            for (let c = 0; c < m; c++) {
              let s = 0;
              for (let q = 0; q < k; q++) {
                const aval = av[i * n * k + (ta ? q * n + r : r * k + q)]!;
                const bval = bv[j * k * m + (tb ? c * k + q : q * m + c)]!;
                s += aval * bval;
              }
              ref[((i * 3 + j) * n + r) * m + c] = s;
            }
      expect(relErr(got.values, ref)).toBeLessThanOrEqual(TOL);
    }
  });

  it('replaces the built-in kernel and keeps it reachable', () => {
    expect(tf.getKernel('BatchMatMul', 'wasm')).not.toBe(originalKernel('BatchMatMul', 'wasm'));
  });

  it('gradients of matMul with every transpose combination match cpu', async () => {
    for (const [ta, tb] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      for (const [outerA, outerB] of [
        [[], []],
        [[3], [3]],
        // (tfjs-core's BatchMatMul gradient cannot reduce a broadcast batch.)
      ] as const) {
        const as = shapeOf([...outerA], 6, 4, ta);
        const bs = shapeOf([...outerB], 4, 5, tb);
        const av = rand(size(as), 1);
        const bv = rand(size(bs), 2);
        for (const which of [0, 1] as const) {
          const { err } = await wasmVsCpu(
            () =>
              tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b, ta, tb))))([
                tf.tensor(av, as),
                tf.tensor(bv, bs),
              ])[which]!,
          );
          expect(err, `grad ${which} ta=${ta} tb=${tb} ${as}@${bs}`).toBeLessThanOrEqual(TOL);
        }
      }
    }
  });

  it('fused matMul (dense layer forward) and its gradient match cpu', async () => {
    const xv = rand(16 * 10, 3);
    const wv = rand(10 * 7, 4);
    const bv = rand(7, 5);
    for (const which of [0, 1, 2] as const) {
      const { err } = await wasmVsCpu(
        () =>
          tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.square(tf.fused.matMul({ a: x as tf.Tensor2D, b: w as tf.Tensor2D, bias: b, activation: 'relu' }))),
          )([tf.tensor2d(xv, [16, 10]), tf.tensor2d(wv, [10, 7]), tf.tensor1d(bv)])[which]!,
      );
      expect(err).toBeLessThanOrEqual(TOL);
    }
  });

  it('frees every intermediate on each path', () => {
    for (const [as, bs, ta, tb] of [
      [[8, 6], [5, 6], false, true],
      [[3, 8, 6], [6, 5], false, false],
      [[6, 8], [3, 6, 5], true, false],
      [[3, 6, 8], [3, 5, 6], true, true],
      [[2, 1, 4, 6], [1, 3, 6, 5], false, false],
    ] as [number[], number[], boolean, boolean][]) {
      const a = tf.tensor(rand(size(as), 1), as);
      const b = tf.tensor(rand(size(bs), 2), bs);
      const leak = leakCheck(() => tf.matMul(a, b, ta, tb));
      expect(leak, `${as}@${bs}`).toEqual({ tensors: 0, bytes: 0, dataIds: 0 });
      a.dispose();
      b.dispose();
    }
  });
});
