/**
 * wasm ResizeNearestNeighborGrad: the exact adjoint of the forward kernel (the
 * same loop as our cpu one, over the wasm heap). See
 * ../shared/resize-nearest-neighbor-grad.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { resizeNearestNeighborGradLoop } from '../shared/resize-nearest-neighbor-grad.js';
import { type BackendWasm, f32 } from './util.js';

const resizeNearestNeighborGrad: tf.KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { images, dy } = inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
  const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeNearestNeighborGradAttrs;
  const dx = backend.makeOutput(images.shape, 'float32');
  const dxv = f32(backend, dx);
  dxv.fill(0);
  const dyv = backend.typedArrayFromHeap(dy);
  resizeNearestNeighborGradLoop(dyv, dy.shape, images.shape, !!alignCorners, !!halfPixelCenters, dxv);
  return dx;
};

export const resizeNearestNeighborGradWasm: tf.KernelConfig = {
  kernelName: tf.ResizeNearestNeighborGrad,
  backendName: 'wasm',
  kernelFunc: resizeNearestNeighborGrad,
};
