/**
 * wasm BatchMatMul. The built-in kernel is fast (XNNPACK) only for a single
 * matrix product without transposes; with transposeA/transposeB or batch > 1
 * it falls back to a scalar loop, ~12× slower at 1024² — and backprop always
 * asks for a transpose. This one reduces every call to that fast path:
 *
 *  - transposes are materialised with the wasm Transpose kernel (O(n²));
 *  - batch 1 × batch 1: one fast call;
 *  - a batched, b broadcast: the batch folds into rows, [B·n,k]@[k,m];
 *  - a broadcast, b batched: b → [k,B·m] (transpose), one call, transpose back;
 *  - both batched (with broadcasting over several batch dims): one fast call
 *    per output batch slice, copied into the output.
 */
import * as tf from '@tensorflow/tfjs-core';
import { originalKernel, setupOriginal } from '../originals.js';
import { type BackendWasm, f32, free, freeView, reshapeWasm, transposeWasm, viewWasm } from './util.js';

/** The built-in kernel on [1,n,k]@[1,k,m], no transposes: its XNNPACK path. */
function fastMatMul(backend: BackendWasm, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const out = originalKernel(tf.BatchMatMul, 'wasm').kernelFunc({
    inputs: { a, b },
    backend,
    attrs: { transposeA: false, transposeB: false },
  });
  return out as tf.TensorInfo;
}

/**
 * Relative cost of computing C = op(A)·op(B) directly — transposes
 * materialised, then XNNPACK packing the right operand — versus computing
 * Cᵀ = op(B)ᵀ·op(A)ᵀ and transposing C back. Measured here per element:
 * packing a fresh right operand ≈ 7 ns (XNNPACK re-packs every new weight),
 * our SIMD transpose ≈ 0.7 ns. So the big operand should be the streamed left
 * one, and transposing it is cheap next to packing it: e.g. backprop's
 * Wᵀ·dY for a 512×11664 W costs 4 ms + 8 ms direct, ~45 ms swapped.
 */
const PACK_COST = 10;
const TRANSPOSE_COST = 1;

function preferSwapped(sizeA: number, sizeB: number, sizeC: number, tA: boolean, tB: boolean): boolean {
  const direct = (tA ? TRANSPOSE_COST * sizeA : 0) + (tB ? TRANSPOSE_COST * sizeB : 0) + PACK_COST * sizeB;
  const swapped = (tB ? 0 : TRANSPOSE_COST * sizeB) + (tA ? 0 : TRANSPOSE_COST * sizeA) + PACK_COST * sizeA + TRANSPOSE_COST * sizeC;
  return swapped < direct;
}

const batchMatMul: tf.KernelFunc = (args) => {
  const { inputs, backend: bk, attrs } = args;
  const backend = bk as BackendWasm;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as tf.BatchMatMulAttrs;
  const size = (t: tf.TensorInfo) => tf.util.sizeFromShape(t.shape);
  const rowsA = transposeA ? a.shape[a.shape.length - 1]! : a.shape[a.shape.length - 2]!;
  const colsB = transposeB ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!;
  const outBatch = tf.util.sizeFromShape(
    tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)),
  );
  if (preferSwapped(size(a), size(b), outBatch * rowsA * colsB, transposeA, transposeB)) {
    // Cᵀ = op(B)ᵀ·op(A)ᵀ, i.e. matMul(b, a) with flipped transpose flags.
    const ct = batchMatMulDirect(backend, b, a, !transposeB, !transposeA);
    const rank = ct.shape.length;
    const perm = [...Array(rank - 2).keys(), rank - 1, rank - 2];
    const c = transposeWasm(backend, ct, perm);
    free(backend, ct);
    return c;
  }
  return batchMatMulDirect(backend, a, b, transposeA, transposeB);
};

function batchMatMulDirect(
  backend: BackendWasm,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
): tf.TensorInfo {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error('BatchMatMul for non-float32 tensors is not supported on wasm');
  }
  const ar = a.shape.length;
  const br = b.shape.length;
  const n = transposeA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const ka = transposeA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const kb = transposeB ? b.shape[br - 1]! : b.shape[br - 2]!;
  const m = transposeB ? b.shape[br - 2]! : b.shape[br - 1]!;
  if (ka !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${ka}) and (${kb}) of Tensors with shapes ${a.shape} and ` +
        `${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const k = ka;
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outerOut = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const outShape = [...outerOut, n, m];
  const batchA = tf.util.sizeFromShape(outerA);
  const batchB = tf.util.sizeFromShape(outerB);
  const batch = tf.util.sizeFromShape(outerOut);

  if (batch * n * m === 0 || k === 0) {
    const out = backend.makeOutput(outShape, 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }

  // Operands as [batch, rows, cols] without transposes.
  const a3 = reshapeWasm(backend, a, transposeA ? [batchA, k, n] : [batchA, n, k]);
  const b3 = reshapeWasm(backend, b, transposeB ? [batchB, m, k] : [batchB, k, m]);
  const aN = transposeA ? transposeWasm(backend, a3, [0, 2, 1]) : a3;
  const bN = transposeB ? transposeWasm(backend, b3, [0, 2, 1]) : b3;
  if (aN !== a3) free(backend, a3);
  if (bN !== b3) free(backend, b3);

  let result: tf.TensorInfo;
  if (batchB === 1) {
    // Covers batch 1 × 1 too: [B·n, k] @ [k, m].
    const aF = reshapeWasm(backend, aN, [1, batchA * n, k]);
    result = fastMatMul(backend, aF, bN);
    free(backend, aF);
  } else if (batchA === 1) {
    // [n,k] @ [B,k,m]: b → [k, B, m] → [k, B·m]; out [n, B, m] → [B, n, m].
    const bT = transposeWasm(backend, bN, [1, 0, 2]);
    const bF = reshapeWasm(backend, bT, [1, k, batchB * m]);
    const prod = fastMatMul(backend, aN, bF);
    free(backend, bT, bF);
    const prod3 = reshapeWasm(backend, prod, [n, batchB, m]);
    result = transposeWasm(backend, prod3, [1, 0, 2]);
    free(backend, prod, prod3);
  } else {
    result = perSlice(backend, aN, bN, outerA, outerB, outerOut, n, k, m);
  }
  free(backend, aN, bN);
  const out = reshapeWasm(backend, result, outShape);
  free(backend, result);
  return out;
}

/** Index of the operand's batch slice for output batch slice `i` (broadcasting). */
function broadcastIndex(i: number, outer: number[], outerOut: number[]): number {
  if (outer.length === 0) return 0;
  const outStrides = tf.util.computeStrides(outerOut);
  const offset = outerOut.length - outer.length;
  let idx = 0;
  let stride = 1;
  for (let d = outer.length - 1; d >= 0; d--) {
    const od = d + offset;
    const coord = od < outStrides.length ? Math.floor(i / outStrides[od]!) % outerOut[od]! : i % outerOut[od]!;
    if (outer[d]! !== 1) idx += coord * stride;
    stride *= outer[d]!;
  }
  return idx;
}

function perSlice(
  backend: BackendWasm,
  aN: tf.TensorInfo,
  bN: tf.TensorInfo,
  outerA: number[],
  outerB: number[],
  outerOut: number[],
  n: number,
  k: number,
  m: number,
): tf.TensorInfo {
  const batch = tf.util.sizeFromShape(outerOut);
  const out = backend.makeOutput([batch, n, m], 'float32');
  for (let i = 0; i < batch; i++) {
    const ia = broadcastIndex(i, outerA, outerOut);
    const ib = broadcastIndex(i, outerB, outerOut);
    // Zero-copy views of the operands' slices (no Slice copies).
    const as = viewWasm(backend, aN, ia * n * k, [1, n, k]);
    const bs = viewWasm(backend, bN, ib * k * m, [1, k, m]);
    const prod = fastMatMul(backend, as, bs);
    freeView(backend, as, bs);
    // Heap views only after the allocations above.
    f32(backend, out).set(f32(backend, prod), i * n * m);
    free(backend, prod);
  }
  return out;
}

export const batchMatMulWasm: tf.KernelConfig = {
  kernelName: tf.BatchMatMul,
  backendName: 'wasm',
  setupFunc: setupOriginal(tf.BatchMatMul, 'wasm'),
  kernelFunc: batchMatMul,
};
