/**
 * wasm Transpose. The built-in kernel walks the output element by element:
 * 3–6 ns/element on a float32 [512,11664] matrix. Ours runs a cache-blocked
 * wasm-SIMD kernel (libs/tensor/simd/transpose.wat: 4×4 register blocks inside
 * 256×8 cache tiles) directly on the tfjs wasm heap, which it imports as its
 * memory: 0.7 ns/element there (docs/kernels.md).
 *
 * It handles float32 and int32 tensors whose perm, once size-1 axes are dropped
 * and axes that stay adjacent are merged, swaps the last two axes: [R,C]→[C,R]
 * or [B,R,C]→[B,C,R]. That covers BatchMatMul's transposeA/transposeB and
 * swapped-product transposes (not its [1,0,2] regrouping), and NHWC↔NCHW.
 * Everything else (other perms, other dtypes, no-ops, empty tensors) goes to
 * the built-in kernel. If the SIMD module cannot be instantiated, a blocked JS
 * loop over the heap runs instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import { originalKernel, setupOriginal } from '../originals.js';
import { TRANSPOSE_WASM_BASE64 } from '../../simd/transpose.wasm.js';
import { heapOffset, simdExport, type WasmHeapBackend } from '../../simd/instantiate.js';

/**
 * Smallest tensor we transpose ourselves. Measured: ours is faster even at 2×2
 * (1.6 vs 1.9 µs a call: the built-in copies shape and perm onto the wasm
 * stack), so only empty tensors go to the built-in kernel.
 */
export const MIN_ELEMENTS = 1;
/**
 * Cache tile (rows × columns of the input) the SIMD kernel walks; multiples of
 * 4. Tall and narrow is best on every shape measured: each of the tile's 8
 * output rows is written sequentially, and the 256 input rows' cache lines are
 * finished by the next tile to the right.
 */
const TILE_ROWS = 256;
const TILE_COLS = 8;

interface WasmBackendLike extends WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): tf.TypedArray;
}

type SimdTranspose = (src: number, dst: number, batch: number, rows: number, cols: number, tileRows: number, tileCols: number) => void;

let forceJs = false;

function simdTranspose(backend: WasmBackendLike): SimdTranspose | null {
  return forceJs ? null : simdExport<SimdTranspose>(backend, TRANSPOSE_WASM_BASE64, 'transpose');
}

/** For tests: run the JS fallback instead of the SIMD module. */
export function forceTransposeJsFallback(on: boolean): void {
  forceJs = on;
}

/**
 * `shape`/`perm` with size-1 axes dropped and runs of input axes that stay
 * adjacent (and in order) in the output merged into one axis.
 */
export function reduceTranspose(shape: readonly number[], perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const rank = new Map(kept.map((axis, r) => [axis, r]));
  const sq = kept.map((axis) => shape[axis]!);
  const sqPerm = perm.filter((p) => shape[p] !== 1).map((p) => rank.get(p)!);
  // Groups of output positions whose input axes are consecutive.
  const groups: number[][] = [];
  for (const p of sqPerm) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1]! + 1 === p) last.push(p);
    else groups.push([p]);
  }
  // Input order of the groups = order of their first axes.
  const byInput = groups.map((g, o) => ({ first: g[0]!, o, size: g.reduce((s, a) => s * sq[a]!, 1) }));
  byInput.sort((a, b) => a.first - b.first);
  const newIndex = new Map(byInput.map((g, i) => [g.o, i]));
  return { shape: byInput.map((g) => g.size), perm: groups.map((_, o) => newIndex.get(o)!) };
}

/** [batch, R, C] when the transpose is a (batched) swap of the last two axes, else null. */
export function batchedMatrixTranspose(shape: readonly number[], perm: readonly number[]): [number, number, number] | null {
  const r = reduceTranspose(shape, perm);
  if (r.perm.length === 2 && r.perm[0] === 1) return [1, r.shape[0]!, r.shape[1]!];
  if (r.perm.length === 3 && r.perm[0] === 0 && r.perm[1] === 2 && r.perm[2] === 1) {
    return [r.shape[0]!, r.shape[1]!, r.shape[2]!];
  }
  return null;
}

/** JS fallback: dst[b][j][i] = src[b][i][j] in cache tiles (32-bit elements as int32 bits). */
export function transposeJs(src: Int32Array, dst: Int32Array, batch: number, rows: number, cols: number): void {
  const T = 32;
  const mat = rows * cols;
  for (let b = 0; b < batch; b++) {
    const s0 = b * mat;
    for (let ib = 0; ib < rows; ib += T) {
      const ie = Math.min(ib + T, rows);
      for (let jb = 0; jb < cols; jb += T) {
        const je = Math.min(jb + T, cols);
        for (let i = ib; i < ie; i++) {
          let s = s0 + i * cols + jb;
          let d = s0 + jb * rows + i;
          for (let j = jb; j < je; j++, s++, d += rows) dst[d] = src[s]!;
        }
      }
    }
  }
}

function bits(a: tf.TypedArray): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

const transpose: tf.KernelFunc = (args) => {
  const x = (args.inputs as tf.TransposeInputs).x as tf.TensorInfo;
  const { perm } = args.attrs as unknown as tf.TransposeAttrs;
  const plan =
    (x.dtype === 'float32' || x.dtype === 'int32') && tf.util.sizeFromShape(x.shape) >= MIN_ELEMENTS
      ? batchedMatrixTranspose(x.shape, perm)
      : null;
  if (!plan) return originalKernel(tf.Transpose, 'wasm').kernelFunc(args);
  const [batch, rows, cols] = plan;
  const backend = args.backend as unknown as WasmBackendLike;
  const out = backend.makeOutput(
    perm.map((p) => x.shape[p]!),
    x.dtype,
  );
  const simd = simdTranspose(backend);
  if (simd) {
    const at = (t: tf.TensorInfo) => heapOffset(backend, t);
    simd(at(x), at(out), batch, rows, cols, TILE_ROWS, TILE_COLS);
  } else {
    // Heap views only after the allocation above (it may grow, and detach, the heap).
    transposeJs(bits(backend.typedArrayFromHeap(x)), bits(backend.typedArrayFromHeap(out)), batch, rows, cols);
  }
  return out;
};

export const transposeWasmConfig: tf.KernelConfig = {
  kernelName: tf.Transpose,
  backendName: 'wasm',
  setupFunc: setupOriginal(tf.Transpose, 'wasm'),
  kernelFunc: transpose,
};
