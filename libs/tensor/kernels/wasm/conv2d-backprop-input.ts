/**
 * wasm Conv2DBackpropInput. The built-in kernel is a scalar C++ loop; this one
 * is a forward (XNNPACK) Conv2D, the textbook transposed convolution:
 *
 *   dx = conv(dy↑, W̃, stride 1, 'valid')
 *
 * where dy↑ is dy with (stride−1) zeros inserted between pixels and padded by
 * FH−1−padTop on top / FW−1−padLeft on the left (and whatever makes the output
 * H×W at the bottom/right; negative pads crop), and W̃[i,j,co,ci] =
 * W[FH−1−i, FW−1−j, ci, co] (spatially flipped, in/out channels swapped).
 * For stride 1 with non-negative pads dy is passed as is, with explicit
 * padding; otherwise dy↑ is built with a JS copy on the heap.
 *
 * With few input channels (≤ 4, e.g. the gradient w.r.t. an image) that conv
 * has ≤ 4 output channels, which XNNPACK handles poorly; there we use
 * col2im instead: cols = dy[N·OH·OW, Cout] @ Wᵀ[Cout, FH·FW·Cin] (the
 * built-in kernel's fast matMul path), then each column is added into dx with
 * a JS loop. NCHW goes to the built-in kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { originalKernel, setupOriginal } from '../originals.js';
import { type BackendWasm, f32, free, runWasm } from './util.js';

const conv2DBackpropInput: tf.KernelFunc = (args) => {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } =
    args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== 'channelsLast' || dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    return originalKernel(tf.Conv2DBackpropInput, 'wasm').kernelFunc(args);
  }
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    format,
  );
  const { batchSize: nb, inHeight: h, inWidth: w, inChannels: cin, outChannels: cout } = info;
  const { filterHeight: fh, filterWidth: fw, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  if (tf.util.sizeFromShape(dy.shape) === 0 || tf.util.sizeFromShape(inputShape) === 0 || cout === 0) {
    const out = backend.makeOutput(inputShape, 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  if (cin <= COL2IM_MAX_CIN && nb * oh * ow * fh * fw * cin <= COL2IM_MAX_COLS) {
    return viaCol2Im(backend, dy, filter, info);
  }
  // Geometry of dy↑ (before bottom/right padding): pads and full size.
  const padTop = fh - 1 - info.padInfo.top;
  const padLeft = fw - 1 - info.padInfo.left;
  const hp = h + fh - 1; // so that a 'valid' conv gives h rows
  const wp = w + fw - 1;
  const padBottom = hp - padTop - ((oh - 1) * sh + 1);
  const padRight = wp - padLeft - ((ow - 1) * sw + 1);

  // W̃ = flip(W) with in/out channels swapped: [FH, FW, Cout, Cin].
  const wt = backend.makeOutput([fh, fw, cout, cin], 'float32');
  let conv: tf.TensorInfo;
  const direct = sh === 1 && sw === 1 && padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0;
  if (direct) {
    flipFilter(f32(backend, filter), f32(backend, wt), fh, fw, cin, cout);
    conv = runWasm('Conv2D', backend, { x: dy, filter: wt }, {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [
        [0, 0],
        [padTop, padBottom],
        [padLeft, padRight],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    });
  } else {
    const up = backend.makeOutput([nb, hp, wp, cout], 'float32');
    // Views after both allocations.
    flipFilter(f32(backend, filter), f32(backend, wt), fh, fw, cin, cout);
    const upv = f32(backend, up);
    upv.fill(0);
    const dyv = f32(backend, dy);
    for (let n = 0; n < nb; n++) {
      for (let y = 0; y < oh; y++) {
        const r = padTop + y * sh;
        if (r < 0 || r >= hp) continue;
        for (let x = 0; x < ow; x++) {
          const c = padLeft + x * sw;
          if (c < 0 || c >= wp) continue;
          const src = ((n * oh + y) * ow + x) * cout;
          upv.set(dyv.subarray(src, src + cout), ((n * hp + r) * wp + c) * cout);
        }
      }
    }
    conv = runWasm('Conv2D', backend, { x: up, filter: wt }, {
      strides: [1, 1],
      dilations: [1, 1],
      pad: 'valid',
      dataFormat: 'NHWC',
    });
    free(backend, up);
  }
  free(backend, wt);
  return conv;
};

const COL2IM_MAX_CIN = 4;
const COL2IM_MAX_COLS = 1 << 24; // 64 MiB of columns at most

function viaCol2Im(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo {
  const { batchSize: nb, inHeight: h, inWidth: w, inChannels: cin, outChannels: cout } = info;
  const { filterHeight: fh, filterWidth: fw, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw } = info;
  const { top, left } = info.padInfo;
  const kk = fh * fw * cin;
  // Wᵀ: [1, Cout, FH·FW·Cin].
  const wt = backend.makeOutput([1, cout, kk], 'float32');
  {
    const wv = f32(backend, filter);
    const wtv = f32(backend, wt);
    for (let j = 0; j < kk; j++) for (let co = 0; co < cout; co++) wtv[co * kk + j] = wv[j * cout + co]!;
  }
  const dy3 = runWasm('Reshape', backend, { x: dy }, { shape: [1, nb * oh * ow, cout] });
  const cols = originalKernel(tf.BatchMatMul, 'wasm').kernelFunc({
    inputs: { a: dy3, b: wt },
    backend,
    attrs: { transposeA: false, transposeB: false },
  }) as tf.TensorInfo; // [1, N·OH·OW, FH·FW·Cin]
  free(backend, dy3, wt);
  const dx = backend.makeOutput(info.inShape, 'float32');
  const dxv = f32(backend, dx);
  dxv.fill(0);
  const cv = f32(backend, cols);
  let row = 0;
  for (let n = 0; n < nb; n++) {
    const dxBatch = n * h * w * cin;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, row++) {
        const colBase = row * kk;
        for (let i = 0; i < fh; i++) {
          const y = oy * sh + i - top;
          if (y < 0 || y >= h) continue;
          for (let j = 0; j < fw; j++) {
            const x = ox * sw + j - left;
            if (x < 0 || x >= w) continue;
            const d = dxBatch + (y * w + x) * cin;
            const c0 = colBase + (i * fw + j) * cin;
            for (let c = 0; c < cin; c++) dxv[d + c] += cv[c0 + c]!;
          }
        }
      }
    }
  }
  free(backend, cols);
  return dx;
}

/** out[i,j,co,ci] = W[fh−1−i, fw−1−j, ci, co]. */
function flipFilter(w: Float32Array, out: Float32Array, fh: number, fw: number, cin: number, cout: number): void {
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const src = ((fh - 1 - i) * fw + (fw - 1 - j)) * cin * cout;
      const dst = (i * fw + j) * cout * cin;
      for (let ci = 0; ci < cin; ci++) {
        for (let co = 0; co < cout; co++) out[dst + co * cin + ci] = w[src + ci * cout + co]!;
      }
    }
  }
}

export const conv2DBackpropInputWasm: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  setupFunc: setupOriginal(tf.Conv2DBackpropInput, 'wasm'),
  kernelFunc: conv2DBackpropInput,
};
