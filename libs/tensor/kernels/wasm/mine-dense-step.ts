/**
 * wasm kernel `UaeMineDenseStep`: one fused training pass over a large dense
 * weight of per-sample MINE (libs/tensor/simd/mine_dense.wat). For a layer
 * h = W·zᵀ with W [B,R,C], inputs z [B,n,C] and upstream gradient dh [B,R,n]
 * it returns [w', m', v', dz]: the Adam-updated weight and moments, and the
 * input gradient dz = dhᵀ·W taken with the old W. The weight gradient
 * g = dh·z (rank n) is formed on the fly and never stored, so the 24 MB
 * weights are read once and written once per step instead of being streamed
 * by a weight-gradient GEMM, a transpose, an input-gradient GEMM and Adam
 * (docs/compute-core.md, "The fused MINE step").
 *
 * The inputs w, m, v are consumed (updated in place when nothing else shares
 * their buffers; see below). Only registered for wasm; `mineDenseStepSupported` says whether it can run
 * (SIMD module instantiable, R and C multiples of 4). Callers fall back to
 * autograd + LeanAdam otherwise.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { type AdamUpdateAttrs } from '../adam-update-math.js';
import { MINE_DENSE_WASM_BASE64 } from '../../simd/mine_dense.wasm.js';
import { heapOffset, simdExport, type WasmHeapBackend } from '../../simd/instantiate.js';

export const UAE_MINE_DENSE_STEP = 'UaeMineDenseStep';

interface WasmBackendLike extends WasmHeapBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  refCount(dataId: unknown): number;
  incRef(dataId: unknown): void;
}

type SimdMineDense = (
  w: number, m: number, v: number, wo: number, mo: number, vo: number, z: number, dh: number, dz: number,
  R: number, C: number, n: number, cb: number, b1: number, b2: number, step: number, eps: number,
) => void;

/**
 * Column block: z and dz of one block (2·n·cb floats) should sit in L1 while
 * all R rows stream past: 32 KB for both (L1d here is 48 KB); n = 16 gives
 * cb = 256. Measured on [512,11664], n = 16: cb 192–256 best, 128 and ≥ 384
 * 10–20% slower (fewer, longer row streams against L1 misses on z and dz).
 */
export function columnBlock(n: number, C: number): number {
  const cb = Math.max(4, Math.floor(4096 / Math.max(1, n) / 4) * 4);
  return Math.min(cb, C);
}

function simd(backend: unknown): SimdMineDense | null {
  return simdExport<SimdMineDense>(backend as WasmHeapBackend, MINE_DENSE_WASM_BASE64, 'mine_dense');
}

/** True when the fused kernel can run on this backend for a [R, C] weight. */
export function mineDenseStepSupported(backend: unknown, R: number, C: number): boolean {
  return R % 4 === 0 && C % 4 === 0 && simd(backend) !== null;
}

const mineDenseStep = ({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo[] => {
  const b = backend as unknown as WasmBackendLike;
  const { w, m, v, z, dh } = inputs as Record<'w' | 'm' | 'v' | 'z' | 'dh', TensorInfo>;
  const a = attrs as unknown as AdamUpdateAttrs;
  const [B, R, C] = w.shape as [number, number, number];
  const n = z.shape[1]!;
  if (w.shape.length !== 3 || z.shape.length !== 3 || z.shape[0] !== B || z.shape[2] !== C || dh.shape[0] !== B || dh.shape[1] !== R || dh.shape[2] !== n) {
    throw new Error(`UaeMineDenseStep: shapes w [${w.shape}], z [${z.shape}], dh [${dh.shape}] do not fit W [B,R,C], z [B,n,C], dh [B,R,n]`);
  }
  const fn = simd(b);
  if (!fn || R % 4 !== 0 || C % 4 !== 0) throw new Error('UaeMineDenseStep: needs wasm SIMD and R, C multiples of 4 (check mineDenseStepSupported)');
  // w, m and v are consumed: when a tensor is the only one on its buffer
  // (refCount 1: no clone or reshape shares it), its update is written in
  // place and the output takes the buffer over; the caller disposes the input
  // and never reads it again. In place halves the pass's memory traffic: a
  // store into a fresh 24 MB buffer first reads each line in (write-allocate);
  // measured 2× faster on [512,11664]. The kernel reads every element before
  // it writes it, so aliasing is safe.
  const reuse = (t: TensorInfo): TensorInfo => {
    if (b.refCount(t.dataId) !== 1) return b.makeOutput(t.shape, 'float32');
    b.incRef(t.dataId);
    return { dataId: t.dataId, shape: t.shape, dtype: t.dtype };
  };
  const outs = [reuse(w), reuse(m), reuse(v), b.makeOutput(z.shape, 'float32')];
  const [wo, mo, vo, dz] = outs as [TensorInfo, TensorInfo, TensorInfo, TensorInfo];
  const at = (t: TensorInfo) => heapOffset(b, t);
  const cb = columnBlock(n, C);
  // One call per sample: each sample has its own weights (stacked on B).
  for (let s = 0; s < B; s++) {
    const wOff = s * R * C * 4;
    const zOff = s * n * C * 4;
    fn(
      at(w) + wOff, at(m) + wOff, at(v) + wOff, at(wo) + wOff, at(mo) + wOff, at(vo) + wOff,
      at(z) + zOff, at(dh) + s * R * n * 4, at(dz) + zOff,
      R, C, n, cb, a.beta1, a.beta2, a.lrT * a.direction, a.epsilon,
    );
  }
  return outs;
};

export const mineDenseStepWasmConfig: KernelConfig = {
  kernelName: UAE_MINE_DENSE_STEP,
  backendName: 'wasm',
  kernelFunc: mineDenseStep as unknown as KernelFunc,
};
