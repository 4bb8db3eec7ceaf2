/**
 * Small helpers shared by our wasm kernels: calling other wasm kernels by name,
 * freeing intermediates, and reading the heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapOffset } from '../../simd/instantiate.js';

export type { BackendWasm };

/** Runs the currently registered wasm kernel `name` and returns its output. */
export function runWasm(
  name: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
  const out = kernel.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${name} returned several outputs`);
  return out;
}

/** Frees intermediates (each made by a kernel call, so refCount 1). */
export function free(backend: BackendWasm, ...infos: (tf.TensorInfo | undefined)[]): void {
  for (const info of infos) if (info) backend.disposeData(info.dataId);
}

/** A reshaped view sharing the data (refCount incremented; free it like any output). */
export function reshapeWasm(backend: BackendWasm, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return runWasm('Reshape', backend, { x }, { shape });
}

export function transposeWasm(backend: BackendWasm, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  return runWasm('Transpose', backend, { x }, { perm });
}

/**
 * Float32 view of a tensor on the wasm heap. Any later allocation may grow
 * (and so detach) the heap: take views only after the last makeOutput.
 */
export function f32(backend: BackendWasm, x: tf.TensorInfo): Float32Array {
  if (x.dtype !== 'float32') throw new Error(`expected float32, got ${x.dtype}`);
  return backend.typedArrayFromHeap(x) as Float32Array;
}

interface WasmDataMap {
  dataIdMap: { get(id: unknown): { memoryOffset: number }; delete(id: unknown): boolean };
  wasm: { tfjs: { disposeData(id: number): void } };
}

/**
 * A zero-copy view of `x`'s elements [offset, offset + size(shape)) as a new
 * tensor: registered at the same heap address, owning no memory. Free it with
 * freeView, never with free (that would release the parent's memory).
 */
export function viewWasm(backend: BackendWasm, x: tf.TensorInfo, elementOffset: number, shape: number[]): tf.TensorInfo {
  const base = heapOffset(backend as unknown as WasmDataMap, x);
  const bytes = x.dtype === 'float32' || x.dtype === 'int32' ? 4 : 1;
  return backend.makeOutput(shape, x.dtype, base + elementOffset * bytes);
}

export function freeView(backend: BackendWasm, ...views: tf.TensorInfo[]): void {
  const b = backend as unknown as WasmDataMap;
  for (const v of views) {
    const id = (v.dataId as { id: number }).id;
    b.wasm.tfjs.disposeData(id);
    b.dataIdMap.delete(v.dataId);
  }
}
