/**
 * cpu ResizeNearestNeighborGrad. The built-in one offsets dy by the *images*
 * batch stride, so every batch after the first reads the wrong dy (upSampling2d
 * gradients are wrong for batch > 1), and it ignores halfPixelCenters. This one
 * is the exact adjoint of the forward kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { resizeNearestNeighborGradLoop } from '../shared/resize-nearest-neighbor-grad.js';

const resizeNearestNeighborGrad: tf.KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as MathBackendCPU;
  const { images, dy } = inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
  const { alignCorners, halfPixelCenters } = attrs as unknown as tf.ResizeNearestNeighborGradAttrs;
  const dyValues = backend.data.get(dy.dataId).values as tf.TypedArray;
  const dx = new Float32Array(tf.util.sizeFromShape(images.shape));
  resizeNearestNeighborGradLoop(dyValues, dy.shape, images.shape, !!alignCorners, !!halfPixelCenters, dx);
  return backend.makeTensorInfo(images.shape, 'float32', dx);
};

export const resizeNearestNeighborGradCpu: tf.KernelConfig = {
  kernelName: tf.ResizeNearestNeighborGrad,
  backendName: 'cpu',
  kernelFunc: resizeNearestNeighborGrad,
};
