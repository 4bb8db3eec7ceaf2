/**
 * The fused dense-layer training step (custom op UaeMineDenseStep, wasm only;
 * kernels/wasm/mine-dense-step.ts) behind a backend-neutral front, so callers
 * outside libs/tensor do not name a backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { AdamStepAttrs } from './adam.js';
import { UAE_MINE_DENSE_STEP, mineDenseStepSupported } from './kernels/wasm/mine-dense-step.js';

/** Kill switch for A/B measurements (bench) and for comparing paths in tests. */
let enabled = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.UAE_MINE_FUSED !== '0';

export function setFusedDenseStep(on: boolean): void {
  enabled = on;
}

/** True when `fusedDenseStep` can run on the active backend for a weight [B, R, C]. */
export function fusedDenseStepAvailable(R: number, C: number): boolean {
  return enabled && tf.getKernel(UAE_MINE_DENSE_STEP, tf.getBackend()) !== undefined && mineDenseStepSupported(tf.backend(), R, C);
}

/**
 * For h = W·zᵀ (W [B,R,C], z [B,n,C], upstream dh [B,R,n]): Adam on W with the
 * gradient dh·z and the moments m, v, plus the input gradient dhᵀ·W (old W).
 * Returns [w′, m′, v′, dz]. Consumes w, m, v: they may be updated in place,
 * so the caller must dispose them and not read them afterwards.
 */
export function fusedDenseStep(w: tf.Tensor, m: tf.Tensor, v: tf.Tensor, z: tf.Tensor, dh: tf.Tensor, attrs: AdamStepAttrs): tf.Tensor[] {
  return tf.engine().runKernel(UAE_MINE_DENSE_STEP, { w, m, v, z, dh }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
}
