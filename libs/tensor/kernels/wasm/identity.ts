/**
 * wasm Identity without a copy. The built-in copies the data, and tfjs calls
 * Identity (via clone) for every tensor it saves for backprop: with per-sample
 * MINE that was a 24–200 MB memcpy per saved weight or projection matrix per
 * gradient. Tensors are immutable and no wasm kernel writes into its inputs,
 * so sharing the buffer by reference count is safe (the cpu backend does the
 * same).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from './util.js';

const identity: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  (backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export const identityWasm: tf.KernelConfig = {
  kernelName: tf.Identity,
  backendName: 'wasm',
  kernelFunc: identity,
};
