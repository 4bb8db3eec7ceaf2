/** wasm kernel for the fused Adam update: a JS loop over views of the wasm heap. */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { UAE_ADAM_UPDATE, adamUpdateInto, type AdamUpdateAttrs } from '../adam-update-math.js';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

const adamUpdate = ({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo[] => {
  const b = backend as unknown as WasmBackendLike;
  const { w, g, m, v } = inputs as Record<'w' | 'g' | 'm' | 'v', TensorInfo>;
  // Allocate every output before taking heap views: an allocation may grow
  // the wasm memory and detach views taken earlier.
  const outs = [b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32')];
  const [wo, mo, vo] = outs as [TensorInfo, TensorInfo, TensorInfo];
  adamUpdateInto(
    b.typedArrayFromHeap(w), b.typedArrayFromHeap(g), b.typedArrayFromHeap(m), b.typedArrayFromHeap(v),
    b.typedArrayFromHeap(wo), b.typedArrayFromHeap(mo), b.typedArrayFromHeap(vo),
    attrs as unknown as AdamUpdateAttrs,
  );
  return outs;
};

export const adamUpdateWasmConfig: KernelConfig = {
  kernelName: UAE_ADAM_UPDATE,
  backendName: 'wasm',
  kernelFunc: adamUpdate as unknown as KernelFunc,
};
