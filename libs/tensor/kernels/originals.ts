/**
 * The built-in kernels that register.ts replaced, kept so a replacement can
 * delegate to the original (e.g. our wasm BatchMatMul calls the built-in one on
 * its fast, no-transpose path). Filled by register.ts before it unregisters a
 * built-in kernel; read by kernels at call time.
 */
import type * as tf from '@tensorflow/tfjs-core';

const originals = new Map<string, tf.KernelConfig>();

function key(kernelName: string, backendName: string): string {
  return `${backendName}/${kernelName}`;
}

/** Called by register.ts with the built-in config it is about to unregister. */
export function saveOriginalKernel(config: tf.KernelConfig): void {
  const k = key(config.kernelName, config.backendName);
  if (!originals.has(k)) originals.set(k, config);
}

/** The built-in kernel that ours replaced; throws when there was none. */
export function originalKernel(kernelName: string, backendName: string): tf.KernelConfig {
  const config = originals.get(key(kernelName, backendName));
  if (!config) {
    throw new Error(`no original ${backendName} kernel ${kernelName} was saved (registerUaeKernels not run?)`);
  }
  return config;
}

/**
 * A setupFunc for a replacement kernel: re-runs the original's setupFunc when
 * tfjs (re)initialises the backend, so the original's cwrap'd wasm functions
 * always point at the live wasm module.
 */
export function setupOriginal(kernelName: string, backendName: string): (backend: object) => void {
  return (backend) => {
    const config = originals.get(key(kernelName, backendName));
    config?.setupFunc?.(backend as never);
  };
}
