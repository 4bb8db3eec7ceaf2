/**
 * wasm kernel for the fused Adam update. Runs the hand-written SIMD module
 * (libs/tensor/simd/adam.wat) directly on the tfjs wasm heap, which it imports
 * as its memory; falls back to a JS loop over heap views if the module cannot
 * be instantiated.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { UAE_ADAM_UPDATE, adamUpdateInto, type AdamUpdateAttrs } from '../adam-update-math.js';
import { ADAM_WASM_BASE64 } from '../../simd/adam.wasm.js';

/** The few WebAssembly JS-API members used here (the project's TS libs carry no DOM/wasm types). */
interface WasmJsApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmJs = (globalThis as unknown as { WebAssembly: WasmJsApi }).WebAssembly;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  dataIdMap: { get(id: unknown): { memoryOffset: number } };
  /** The Emscripten module; `asm.memory` is the WebAssembly.Memory holding every tensor. */
  wasm: { asm?: { memory?: object } };
}

type SimdAdam = (
  w: number, g: number, m: number, v: number, wo: number, mo: number, vo: number, n: number,
  b1: number, b2: number, step: number, eps: number,
) => void;

const simdByMemory = new WeakMap<object, SimdAdam | null>();

function simdAdam(backend: WasmBackendLike): SimdAdam | null {
  const memory = backend.wasm.asm?.memory;
  if (!memory) return null;
  let fn = simdByMemory.get(memory);
  if (fn === undefined) {
    try {
      const module = new wasmJs.Module(Buffer.from(ADAM_WASM_BASE64, 'base64'));
      const instance = new wasmJs.Instance(module, { env: { memory } });
      fn = instance.exports.adam as SimdAdam;
    } catch {
      fn = null; // e.g. a runtime without wasm SIMD
    }
    simdByMemory.set(memory, fn);
  }
  return fn;
}

const adamUpdate = ({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo[] => {
  const b = backend as unknown as WasmBackendLike;
  const { w, g, m, v } = inputs as Record<'w' | 'g' | 'm' | 'v', TensorInfo>;
  const a = attrs as unknown as AdamUpdateAttrs;
  const outs = [b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32'), b.makeOutput(w.shape, 'float32')];
  const [wo, mo, vo] = outs as [TensorInfo, TensorInfo, TensorInfo];
  const simd = simdAdam(b);
  if (simd) {
    const at = (t: TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset;
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
