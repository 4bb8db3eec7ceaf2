/**
 * Registers the kernels uae adds to or fixes in tfjs backends. Each kernel lives
 * in its own file and exports a tfjs KernelConfig; this file only lists them.
 * A built-in kernel that one of ours replaces is saved first (see
 * originals.ts), so a replacement can still call it.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from '../backend.js';
import { saveOriginalKernel } from './originals.js';
import { resizeNearestNeighborGradCpu } from './cpu/resize-nearest-neighbor-grad.js';
import { batchMatMulWasm } from './wasm/batch-mat-mul.js';
import { conv2DBackpropFilterWasm } from './wasm/conv2d-backprop-filter.js';
import { conv2DBackpropInputWasm } from './wasm/conv2d-backprop-input.js';
import { maxPoolGradWasm } from './wasm/max-pool-grad.js';
import { resizeNearestNeighborGradWasm } from './wasm/resize-nearest-neighbor-grad.js';
import { unsortedSegmentSumWasm } from './wasm/unsorted-segment-sum.js';
import { adamUpdateWasmConfig } from './wasm/adam-update.js';
import { identityWasm } from './wasm/identity.js';
import { transposeWasmConfig } from './wasm/transpose.js';
import { mineDenseStepWasmConfig } from './wasm/mine-dense-step.js';
import { adamUpdateCpuConfig } from './cpu/adam-update.js';

export { originalKernel } from './originals.js';

const KERNELS: Record<string, tf.KernelConfig[]> = {
  wasm: [
    conv2DBackpropFilterWasm,
    maxPoolGradWasm,
    resizeNearestNeighborGradWasm,
    batchMatMulWasm,
    conv2DBackpropInputWasm,
    unsortedSegmentSumWasm,
    adamUpdateWasmConfig,
    transposeWasmConfig,
    identityWasm,
    mineDenseStepWasmConfig,
  ],
  cpu: [resizeNearestNeighborGradCpu, adamUpdateCpuConfig],
  tensorflow: [],
};

const registered = new Set<string>();

export function registerUaeKernels(backend: BackendName): void {
  for (const config of KERNELS[backend] ?? []) {
    const key = `${config.backendName}/${config.kernelName}`;
    if (registered.has(key)) continue;
    // Replacing a built-in kernel: keep it for delegation, then unregister it
    // so tfjs does not warn.
    const builtIn = tf.getKernel(config.kernelName, config.backendName);
    if (builtIn) {
      saveOriginalKernel(builtIn);
      tf.unregisterKernel(config.kernelName, config.backendName);
    }
    tf.registerKernel(config);
    registered.add(key);
  }
}

/** The uae kernels listed for a backend (for tests and docs). */
export function uaeKernelNames(backend: BackendName): string[] {
  return (KERNELS[backend] ?? []).map((c) => c.kernelName);
}
