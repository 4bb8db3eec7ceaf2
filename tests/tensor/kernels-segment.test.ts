/**
 * Our wasm UnsortedSegmentSum against cpu: x of rank 1–4, segment ids of
 * rank 1–2, duplicates, empty segments, out-of-range ids, int32 x; and the
 * gradient of tf.gather (which is what calls it in training).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { leakCheck, on, rand, relErr, setupWasm, size, tf, wasmVsCpu } from './kernel-helpers.js';

const TOL = 1e-4;

beforeAll(async () => {
  await setupWasm();
});

function ids(n: number, seed: number, numSegments: number, lo = 0): Int32Array {
  return Int32Array.from(rand(n, seed, lo, numSegments), (v) => Math.floor(v));
}

describe('wasm UnsortedSegmentSum', () => {
  const cases: { xs: number[]; idShape: number[]; numSegments: number; lo?: number }[] = [
    { xs: [10], idShape: [10], numSegments: 4 },
    { xs: [12, 5], idShape: [12], numSegments: 7 },
    { xs: [12, 5], idShape: [12], numSegments: 30 }, // many empty segments
    { xs: [9, 3, 4], idShape: [9], numSegments: 3 },
    { xs: [6, 2, 3, 4], idShape: [6], numSegments: 5 },
    { xs: [4, 3, 5], idShape: [4, 3], numSegments: 6 },
    { xs: [40, 8], idShape: [40], numSegments: 2 }, // heavy duplication
    { xs: [10, 3], idShape: [10], numSegments: 4, lo: -2 }, // out-of-range ids dropped
  ];
  for (const [k, c] of cases.entries()) {
    it(`matches cpu: x ${JSON.stringify(c.xs)}, ids ${JSON.stringify(c.idShape)}, ${c.numSegments} segments${c.lo ? ', negative ids' : ''}`, async () => {
      const xv = rand(size(c.xs), 30 + k);
      const iv = ids(size(c.idShape), 40 + k, c.lo ? c.numSegments + 2 : c.numSegments, c.lo ?? 0);
      const f = () =>
        tf.unsortedSegmentSum(tf.tensor(xv, c.xs), (tf.tensor(iv, c.idShape, 'int32') as tf.Tensor) as tf.Tensor1D, c.numSegments);
      if (c.idShape.length > 1) {
        // tfjs' cpu kernel only handles 1-D ids: compare with flattened ids.
        const inner = c.xs.slice(c.idShape.length);
        const w = await on('wasm', f);
        const cp = await on('cpu', () =>
          tf.unsortedSegmentSum(tf.tensor(xv, [iv.length, ...inner]), tf.tensor1d(iv, 'int32'), c.numSegments),
        );
        expect(w.shape).toEqual(cp.shape);
        expect(relErr(w.values, cp.values)).toBeLessThanOrEqual(TOL);
      } else if (c.lo) {
        // cpu drops out-of-range ids too (its mask matches no segment).
        const w = await on('wasm', f);
        const cp = await on('cpu', f);
        expect(w.shape).toEqual(cp.shape);
        expect(Array.from(w.values).map((v, i) => Math.abs(v - cp.values[i]!) < 1e-5).every(Boolean)).toBe(true);
      } else {
        expect((await wasmVsCpu(f)).err).toBeLessThanOrEqual(TOL);
      }
    });
  }

  it('sums int32 values exactly', async () => {
    const xv = Int32Array.from({ length: 20 }, (_, i) => i * 7 - 30);
    const iv = ids(20, 5, 3);
    const f = () => tf.unsortedSegmentSum(tf.tensor(xv, [20], 'int32'), tf.tensor(iv, [20], 'int32'), 3);
    expect((await on('wasm', f)).values).toEqual((await on('cpu', f)).values);
  });

  it('tf.grad of gather (axis 0 and 1, repeated indices) matches cpu', async () => {
    const xv = rand(6 * 5 * 3, 1);
    const iv = Int32Array.from([0, 2, 2, 5, 1, 2, 0]);
    for (const axis of [0, 1]) {
      const rShape = axis === 0 ? [7, 5, 3] : [6, 7, 3];
      const rv = rand(size(rShape), 2);
      const idx = axis === 0 ? iv : iv.map((v) => v % 5);
      const { err } = await wasmVsCpu(() =>
        tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.gather(x, tf.tensor1d(idx, 'int32'), axis), tf.tensor(rv, rShape))))(
          tf.tensor(xv, [6, 5, 3]),
        ),
      );
      expect(err).toBeLessThanOrEqual(TOL);
    }
  });

  it('frees every intermediate', () => {
    const x = tf.tensor(rand(10 * 4, 3), [10, 4]);
    const i = tf.tensor1d([0, 1, 1, 3, 9, 2, 2], 'int32');
    const neg = tf.tensor1d([0, -1, 1, 3, 12, 2, 2], 'int32');
    expect(leakCheck(() => tf.grad((a: tf.Tensor) => tf.sum(tf.gather(a, i)))(x))).toEqual({ tensors: 0, bytes: 0, dataIds: 0 });
    expect(leakCheck(() => tf.unsortedSegmentSum(tf.slice(x, 0, 7), neg, 10))).toEqual({ tensors: 0, bytes: 0, dataIds: 0 });
    tf.dispose([x, i, neg]);
  });
});
