/**
 * Our wasm Transpose (SIMD batched matrix transpose, delegating every other
 * perm to the built-in kernel) against a naive JS reference, bit for bit:
 * 2-D and batched shapes around the 4×4 block and cache-tile edges, squeezed
 * and merged axes, NHWC↔NCHW, delegated rank-4 perms, int32, the JS fallback,
 * and matMul with transposes (our BatchMatMul materialises them with it).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { leakCheck, rand, setupWasm, size, tf, wasmVsCpu } from './kernel-helpers.js';
import { originalKernel } from '../../libs/tensor/kernels/register.js';
import {
  batchedMatrixTranspose,
  forceTransposeJsFallback,
  reduceTranspose,
  transposeWasmConfig,
} from '../../libs/tensor/kernels/wasm/transpose.js';
import { type BackendWasm, transposeWasm } from '../../libs/tensor/kernels/wasm/util.js';

beforeAll(async () => {
  await setupWasm();
});

afterEach(() => {
  forceTransposeJsFallback(false);
});

/** Naive out[perm-index] = x[index] over all elements. */
function refTranspose<T extends Float32Array | Int32Array>(x: T, shape: number[], perm: number[]): T {
  const out = new (x.constructor as new (n: number) => T)(x.length);
  const outShape = perm.map((p) => shape[p]!);
  const outStrides = [...tf.util.computeStrides(outShape), 1];
  // Stride in the output of each input axis.
  const strideOf = shape.map((_, axis) => outStrides[perm.indexOf(axis)]!);
  const idx = shape.map(() => 0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    for (let d = 0; d < shape.length; d++) o += idx[d]! * strideOf[d]!;
    out[o] = x[i]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Float data with a few special values (−0, ±∞, NaN) to check bits are moved, not computed. */
function floats(n: number, seed: number): Float32Array {
  const v = rand(n, seed);
  const special = [-0, Infinity, -Infinity, NaN];
  for (let i = 0; i < Math.min(n, special.length); i++) v[(i * 7919) % n] = special[i]!;
  return v;
}

function ints(n: number, seed: number): Int32Array {
  const v = rand(n, seed);
  return Int32Array.from(v, (f) => Math.round(f * 2 ** 31 * 0.999));
}

/** The bits of a float32 array (so −0/NaN compare exactly). */
const bitsOf = (a: Float32Array | Int32Array) => new Int32Array(a.buffer, a.byteOffset, a.length);

/** tf.transpose on wasm vs the reference; returns a failure message or null. */
function check(shape: number[], perm: number[], dtype: 'float32' | 'int32', seed: number): string | null {
  const n = size(shape);
  const values = dtype === 'float32' ? floats(n, seed) : ints(n, seed);
  const x = tf.tensor(values, shape, dtype);
  const y = tf.transpose(x, perm);
  const got = y.dataSync() as Float32Array | Int32Array;
  const want = refTranspose(values, shape, perm);
  const outShape = perm.map((p) => shape[p]!);
  tf.dispose([x, y]);
  const label = `${dtype} [${shape}] perm [${perm}]`;
  if (y.shape.join() !== outShape.join()) return `${label}: shape ${y.shape} vs ${outShape}`;
  if (y.dtype !== dtype) return `${label}: dtype ${y.dtype}`;
  const g = bitsOf(got);
  const w = bitsOf(want);
  for (let i = 0; i < n; i++) if (g[i] !== w[i]) return `${label}: element ${i} is ${got[i]}, want ${want[i]}`;
  return null;
}

const MATRICES: [number, number][] = [
  [1, 1], [1, 7], [1, 300], [7, 1], [300, 1],
  [2, 2], [3, 5], [4, 4], [5, 7], [4, 9], [9, 4], [8, 8], [17, 33], [33, 17],
  [64, 64], [64, 3], [3, 64], [255, 13], [257, 9], [260, 12], [300, 301], [128, 1000],
];

/** Shapes and perms that reduce to a (batched) swap of the last two axes. */
const HANDLED: [number[], number[]][] = [
  [[3, 5, 7], [0, 2, 1]],
  [[2, 1, 9, 4], [0, 1, 3, 2]],
  [[2, 3, 4, 5], [0, 1, 3, 2]],
  [[4, 8, 12], [0, 2, 1]],
  [[5, 257, 6], [0, 2, 1]],
  [[2, 5, 6, 3], [0, 3, 1, 2]], // NHWC → NCHW: [2, 30, 3] → [2, 3, 30]
  [[2, 3, 5, 6], [0, 2, 3, 1]], // NCHW → NHWC
  [[2, 3, 4], [2, 0, 1]], // [6, 4] → [4, 6]
  [[2, 3, 4], [1, 2, 0]],
  [[1, 6, 1, 5], [3, 2, 1, 0]],
  [[3, 1, 4, 5, 1], [0, 1, 2, 4, 3]], // size-1 last axis: [3, 20, 1] → no swap at all
];

/** Perms that are not a batched matrix transpose: the built-in kernel runs them. */
const DELEGATED: [number[], number[]][] = [
  [[2, 3, 4, 5], [3, 1, 2, 0]],
  [[2, 3, 4, 5], [0, 2, 1, 3]],
  [[2, 3, 4, 5], [1, 0, 2, 3]],
  [[2, 3, 4, 5], [3, 2, 1, 0]],
  [[2, 3, 4, 5], [2, 0, 3, 1]],
  [[4, 6, 5], [1, 0, 2]],
  [[6, 5], [0, 1]],
];

describe('wasm Transpose', () => {
  it('is the registered wasm Transpose, so util.transposeWasm (and BatchMatMul) runs it', () => {
    expect(tf.getKernel('Transpose', 'wasm')?.kernelFunc).toBe(transposeWasmConfig.kernelFunc);
    expect(originalKernel('Transpose', 'wasm').kernelFunc).not.toBe(transposeWasmConfig.kernelFunc);
    const values = floats(35, 1);
    const x = tf.tensor(values, [5, 7]);
    const backend = tf.backend() as BackendWasm;
    const out = transposeWasm(backend, x, [1, 0]);
    const got = (backend.readSync(out.dataId) as Float32Array).slice();
    backend.disposeData(out.dataId);
    x.dispose();
    expect(bitsOf(got)).toEqual(bitsOf(refTranspose(values, [5, 7], [1, 0])));
  });

  it('classifies perms: squeezes size-1 axes, merges adjacent ones', () => {
    expect(reduceTranspose([2, 1, 9, 4], [0, 1, 3, 2])).toEqual({ shape: [2, 9, 4], perm: [0, 2, 1] });
    expect(reduceTranspose([64, 28, 28, 16], [0, 3, 1, 2])).toEqual({ shape: [64, 784, 16], perm: [0, 2, 1] });
    expect(reduceTranspose([2, 3, 4], [2, 0, 1])).toEqual({ shape: [6, 4], perm: [1, 0] });
    expect(reduceTranspose([2, 3, 4, 5], [3, 1, 2, 0])).toEqual({ shape: [2, 12, 5], perm: [2, 1, 0] });
    expect(reduceTranspose([1, 1], [1, 0])).toEqual({ shape: [], perm: [] });
    expect(batchedMatrixTranspose([512, 11664], [1, 0])).toEqual([1, 512, 11664]);
    expect(batchedMatrixTranspose([2, 3, 4, 5], [0, 1, 3, 2])).toEqual([6, 4, 5]);
    for (const [shape, perm] of HANDLED.slice(0, -1)) expect(batchedMatrixTranspose(shape, perm), `${shape} ${perm}`).not.toBeNull();
    for (const [shape, perm] of DELEGATED) expect(batchedMatrixTranspose(shape, perm), `${shape} ${perm}`).toBeNull();
    expect(batchedMatrixTranspose([3, 1, 4, 5, 1], [0, 1, 2, 4, 3])).toBeNull();
  });

  it(`matches a naive transpose bit for bit: ${MATRICES.length} matrices, float32 and int32`, () => {
    const failures: string[] = [];
    for (const [i, [r, c]] of MATRICES.entries()) {
      for (const dtype of ['float32', 'int32'] as const) {
        const f = check([r, c], [1, 0], dtype, 10 + i);
        if (f) failures.push(f);
      }
    }
    expect(failures).toEqual([]);
  });

  it(`matches on ${HANDLED.length} batched / merged-axis cases and ${DELEGATED.length} delegated perms`, () => {
    const failures: string[] = [];
    for (const [i, [shape, perm]] of [...HANDLED, ...DELEGATED].entries()) {
      for (const dtype of ['float32', 'int32'] as const) {
        const f = check(shape, perm, dtype, 50 + i);
        if (f) failures.push(f);
      }
    }
    expect(failures).toEqual([]);
  });

  it('handles the MINE-sized [512, 11664] matrix', () => {
    expect(check([512, 11664], [1, 0], 'float32', 99)).toBeNull();
  });

  it('the JS fallback (no wasm SIMD) matches too', () => {
    forceTransposeJsFallback(true);
    const failures: string[] = [];
    const cases: [number[], number[]][] = [
      ...MATRICES.map(([r, c]): [number[], number[]] => [[r, c], [1, 0]]),
      ...HANDLED,
    ];
    for (const [i, [shape, perm]] of cases.entries()) {
      for (const dtype of ['float32', 'int32'] as const) {
        const f = check(shape, perm, dtype, 200 + i);
        if (f) failures.push(f);
      }
    }
    expect(failures).toEqual([]);
  });

  it('empty and bool tensors go to the built-in kernel', () => {
    const e = tf.transpose(tf.zeros([0, 3]), [1, 0]);
    expect(e.shape).toEqual([3, 0]);
    const b = tf.transpose(tf.tensor([[true, false, true], [false, false, true]]), [1, 0]);
    expect(b.dtype).toBe('bool');
    expect(Array.from(b.dataSync())).toEqual([1, 0, 0, 0, 1, 1]);
    tf.dispose([e, b]);
  });

  it('matMul with transposeA / transposeB (through our BatchMatMul) matches cpu', async () => {
    const cases: [number[], number[]][] = [
      [[5, 7], [7, 3]],
      [[33, 17], [17, 65]],
      [[64, 300], [300, 200]], // thin × big weight: BatchMatMul may swap operands and transpose back
      [[3, 5, 7], [3, 7, 4]],
      [[2, 3, 6, 5], [2, 3, 5, 9]],
    ];
    const failures: string[] = [];
    for (const [i, [as, bs]] of cases.entries()) {
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          const r = as.length;
          const sA = ta ? [...as.slice(0, -2), as[r - 1]!, as[r - 2]!] : as;
          const sB = tb ? [...bs.slice(0, -2), bs[r - 1]!, bs[r - 2]!] : bs;
          const av = rand(size(sA), 300 + i);
          const bv = rand(size(sB), 400 + i);
          const { err } = await wasmVsCpu(() => tf.matMul(tf.tensor(av, sA), tf.tensor(bv, sB), ta, tb));
          if (!(err <= 1e-4)) failures.push(`[${sA}]@[${sB}] ta=${ta} tb=${tb}: err ${err}`);
        }
    }
    expect(failures).toEqual([]);
  });

  it('gradient of matMul (transposes inside) matches cpu', async () => {
    const av = rand(40 * 70, 7);
    const bv = rand(70 * 30, 8);
    const f = () => {
      const a = tf.tensor(av, [40, 70]);
      const b = tf.tensor(bv, [70, 30]);
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y).square().sum())([a, b]);
      return tf.concat([da!.flatten(), db!.flatten()]);
    };
    expect((await wasmVsCpu(f)).err).toBeLessThanOrEqual(1e-4);
  });

  it('leaks nothing: handled, delegated, fallback and matMul paths', () => {
    const x2 = tf.tensor(rand(300 * 301, 1), [300, 301]);
    const x4 = tf.tensor(rand(2 * 3 * 4 * 5, 2), [2, 3, 4, 5]);
    const xi = tf.tensor(ints(64 * 28, 3), [4, 16, 28], 'int32');
    const a = tf.tensor(rand(64 * 300, 4), [64, 300]);
    const w = tf.tensor(rand(300 * 200, 5), [300, 200]);
    const checks: Record<string, () => tf.Tensor> = {
      matrix: () => tf.transpose(x2),
      batched: () => tf.transpose(x4, [0, 1, 3, 2]),
      nchw: () => tf.transpose(x4, [0, 3, 1, 2]),
      delegated: () => tf.transpose(x4, [3, 1, 2, 0]),
      int32: () => tf.transpose(xi, [0, 2, 1]),
      noop: () => tf.transpose(x4, [0, 1, 2, 3]),
      matMulTA: () => tf.matMul(a, a, true, false),
      matMulTB: () => tf.matMul(a, w, false, false).matMul(w, false, true),
    };
    const leaks: string[] = [];
    for (const [name, f] of Object.entries(checks)) {
      for (const js of [false, true]) {
        forceTransposeJsFallback(js);
        const r = leakCheck(f);
        if (r.tensors || r.bytes || r.dataIds) leaks.push(`${name}${js ? ' (JS)' : ''}: ${JSON.stringify(r)}`);
      }
    }
    tf.dispose([x2, x4, xi, a, w]);
    expect(leaks).toEqual([]);
  });
});
