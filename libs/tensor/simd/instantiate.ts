/**
 * Instantiates a hand-written wasm kernel module against the tfjs wasm
 * backend's own memory (the module imports it as `env.memory`), once per
 * memory. Returns null when that is impossible (no exposed memory, or a
 * runtime without wasm SIMD), so callers fall back to JS.
 */

/** The few WebAssembly JS-API members used here (the project's TS libs carry no DOM/wasm types). */
interface WasmJsApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const wasmJs = (globalThis as unknown as { WebAssembly: WasmJsApi }).WebAssembly;

/** What a kernel needs from the tfjs wasm backend to run a module on its heap. */
export interface WasmHeapBackend {
  dataIdMap: { get(id: unknown): { memoryOffset: number } };
  /** The Emscripten module; `asm.memory` is the WebAssembly.Memory holding every tensor. */
  wasm: { asm?: { memory?: object } };
}

const cache = new Map<string, WeakMap<object, unknown>>();

export function simdExport<F>(backend: WasmHeapBackend, base64: string, exportName: string): F | null {
  const memory = backend.wasm.asm?.memory;
  if (!memory) return null;
  const key = `${exportName}:${base64.length}`;
  let byMemory = cache.get(key);
  if (!byMemory) cache.set(key, (byMemory = new WeakMap()));
  if (!byMemory.has(memory)) {
    let fn: unknown = null;
    try {
      const module = new wasmJs.Module(Buffer.from(base64, 'base64'));
      fn = new wasmJs.Instance(module, { env: { memory } }).exports[exportName] ?? null;
    } catch {
      fn = null;
    }
    byMemory.set(memory, fn);
  }
  return byMemory.get(memory) as F | null;
}

/** Byte offset of a tensor's data in the wasm heap (what the SIMD kernels take as pointers). */
export function heapOffset(backend: Pick<WasmHeapBackend, 'dataIdMap'>, t: { dataId: unknown }): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}
