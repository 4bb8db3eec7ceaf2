/**
 * wasm MaxPoolGrad. The built-in one starts each window's running max at
 * +FLT_MIN instead of −∞, so a window whose values are all ≤ 0 sends its
 * gradient to the wrong place. This one matches the cpu kernel: the gradient of
 * each output goes to the first (row-major) maximum of its window, padding
 * excluded; a window with no value > −∞ (all −∞ or NaN) gets none.
 *
 * A JS loop over the heap: NHWC, per output pixel all channels at once, so the
 * inner loops walk contiguous memory.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, f32 } from './util.js';

const maxPoolGrad: tf.KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as tf.MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize,
    strides,
    1,
    pad,
    dimRoundingMode,
  );
  const dx = backend.makeOutput(input.shape, 'float32');
  // Views only after the last allocation (heap growth detaches them).
  const dxv = f32(backend, dx);
  dxv.fill(0);
  const xv = backend.typedArrayFromHeap(input);
  const dyv = backend.typedArrayFromHeap(dy);
  maxPoolGradLoop(xv, dyv, dxv, info);
  return dx;
};

/** dx += scatter of dy to each window's first maximum (dx must be zeroed). */
export function maxPoolGradLoop(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, dilationHeight, dilationWidth } = info;
  const { effectiveFilterHeight: efh, effectiveFilterWidth: efw } = info;
  const { top, left } = info.padInfo;
  const best = new Float64Array(ch);
  const at = new Int32Array(ch);
  for (let n = 0; n < batchSize; n++) {
    const xBatch = n * inHeight * inWidth * ch;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      let yMin = y0;
      while (yMin < 0) yMin += dilationHeight;
      const yMax = Math.min(inHeight, y0 + efh);
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        let xMin = x0;
        while (xMin < 0) xMin += dilationWidth;
        const xMax = Math.min(inWidth, x0 + efw);
        best.fill(-Infinity);
        at.fill(-1);
        for (let y = yMin; y < yMax; y += dilationHeight) {
          for (let xx = xMin; xx < xMax; xx += dilationWidth) {
            const base = xBatch + (y * inWidth + xx) * ch;
            for (let c = 0; c < ch; c++) {
              const v = x[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const dyBase = ((n * outHeight + oy) * outWidth + ox) * ch;
        for (let c = 0; c < ch; c++) {
          if (at[c] >= 0) dx[at[c]] += dy[dyBase + c];
        }
      }
    }
  }
}

export const maxPoolGradWasm: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad,
};
