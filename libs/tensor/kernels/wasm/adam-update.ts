/**
 * wasm kernel for the fused Adam update. Runs the hand-written SIMD module
 * (libs/tensor/simd/adam.wat) directly on the tfjs wasm heap, which it imports
 * as its memory; falls back to a JS loop over heap views if the module cannot
 * be instantiated.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { UAE_ADAM_UPDATE, adamUpdateInto, type AdamUpdateAttrs } from '../adam-update-math.js';
import { ADAM_WASM_BASE64 } from '../../simd/adam.wasm.js';
import { heapOffset, simdExport, type WasmHeapBackend } from '../../simd/instantiate.js';

interface WasmBackendLike extends WasmHeapBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

type SimdAdam = (
  w: number, g: number, m: number, v: number, wo: number, mo: number, vo: number, n: number,
  b1: number, b2: number, step: number, eps: number,
) => void;

const adamUpdate = ({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo[] => {
  const b = backend as unknown as WasmBackendLike;
  const { w, g, m, v } = inputs as Record<'w' | 'g' | 'm' | 'v', TensorInfo>;
  const a = attrs as unknown as AdamUpdateAttrs;
  const outs = [b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32')];
  const [wo, mo, vo] = outs as [TensorInfo, TensorInfo, TensorInfo];
  const simd = simdExport<SimdAdam>(b, ADAM_WASM_BASE64, 'adam');
  if (simd) {
    const at = (t: TensorInfo) => heapOffset(b, t);
    const n = w.shape.reduce((x, y) => x * y, 1);
    simd(at(w), at(g), at(m), at(v), at(wo), at(mo), at(vo), n, a.beta1, a.beta2, a.lrT * a.direction, a.epsilon);
  } else {
    // Heap views only after every allocation: allocating may grow (and detach) the heap.
    adamUpdateInto(
      b.typedArrayFromHeap(w), b.typedArrayFromHeap(g), b.typedArrayFromHeap(m), b.typedArrayFromHeap(v),
      b.typedArrayFromHeap(wo), b.typedArrayFromHeap(mo), b.typedArrayFromHeap(vo), a,
    );
  }
  return outs;
};

export const adamUpdateWasmConfig: KernelConfig = {
  kernelName: UAE_ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as KernelFunc,
};
