/**
 * Helpers for the kernel tests: deterministic data, running the same
 * computation on two backends, relative error, leak checks.
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers all gradients (tfjs-core alone registers none).
import '@tensorflow/tfjs-layers';
import { initBackend } from '../../libs/tensor/index.js';
import { registerUaeKernels } from '../../libs/tensor/kernels/register.js';

export { tf };

/** wasm with our kernels active; our cpu kernels registered too. */
export async function setupWasm(): Promise<void> {
  await initBackend('wasm');
  registerUaeKernels('cpu');
  await tf.setBackend('wasm');
}

/** Deterministic uniform values in [lo, hi). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (seed * 2654435761 + 12345) >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** max|a−b| / max(1e-6, max|b|). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= diff)) diff = d; // NaN propagates
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / Math.max(1e-6, scale);
}

/** Runs `f` on `backend` and returns its result's values (and shape). */
export async function on(
  backend: 'cpu' | 'wasm',
  f: () => tf.Tensor,
): Promise<{ values: Float32Array; shape: number[] }> {
  const prev = tf.getBackend();
  if (prev !== backend) await tf.setBackend(backend);
  try {
    const t = tf.tidy(f);
    const values = Float32Array.from(t.dataSync());
    const shape = t.shape;
    t.dispose();
    return { values, shape };
  } finally {
    if (prev !== backend) await tf.setBackend(prev);
  }
}

/** wasm result vs cpu result of the same function. */
export async function wasmVsCpu(f: () => tf.Tensor): Promise<{ err: number; shape: number[] }> {
  const w = await on('wasm', f);
  const c = await on('cpu', f);
  if (w.shape.join() !== c.shape.join()) throw new Error(`shape ${w.shape} vs ${c.shape}`);
  return { err: relErr(w.values, c.values), shape: w.shape };
}

/**
 * Runs `f` several times in tidy; asserts the tensor count is unchanged and
 * the backend's byte count stays flat (wasm heap data freed).
 */
export function leakCheck(
  f: () => tf.Tensor | tf.Tensor[],
  repeats = 3,
): { tensors: number; bytes: number; dataIds: number } {
  tf.tidy(() => {
    f();
  }); // warm up (first-call allocations such as cached constants)
  const before = tf.memory();
  const ids = wasmDataIds();
  for (let i = 0; i < repeats; i++) {
    tf.tidy(() => {
      const r = f();
      // Force the computation.
      for (const t of Array.isArray(r) ? r : [r]) t.dataSync();
    });
  }
  const after = tf.memory();
  return {
    tensors: after.numTensors - before.numTensors,
    bytes: after.numBytes - before.numBytes,
    dataIds: wasmDataIds() - ids,
  };
}

/** The active backend's count of live data buffers (catches leaked intermediates). */
export function wasmDataIds(): number {
  return tf.backend().numDataIds();
}

/** tf.grad for a function of one rank-4 tensor. */
export function grad4(f: (x: tf.Tensor4D) => tf.Tensor): (x: tf.Tensor4D) => tf.Tensor4D {
  return tf.grad((x: tf.Tensor) => f(x as tf.Tensor4D)) as (x: tf.Tensor4D) => tf.Tensor4D;
}
