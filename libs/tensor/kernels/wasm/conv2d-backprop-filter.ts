/**
 * wasm Conv2DBackpropFilter (tfjs 4.22's wasm backend has none, so every conv
 * model failed to train on wasm).
 *
 * dW[fh,fw,ci,co] = Σ_{n,oy,ox} x[n, oy·sh+fh−padTop, ox·sw+fw−padLeft, ci] · dy[n,oy,ox,co]
 *
 * which is a forward convolution of x with its batch and channel axes swapped
 * (x' = [Cin,H,W,N]) by dy used as the filter (dy' = [OH,OW,N,Cout]) with
 * dilation = the original stride and stride 1: its output [Cin,FH',FW',Cout]
 * is dW with in-channels leading. We run wasm's own (XNNPACK) Conv2D, pad the
 * bottom/right so the output is at least FH×FW, slice when it is larger, and
 * transpose back to [FH,FW,Cin,Cout].
 *
 * XNNPACK is slow with few output channels, so when Cout < Cin, Cout < 8 and
 * the stride is 1 the roles swap: dy' = [Cout,OH,OW,N] is the input and
 * x' = [H,W,N,Cin] the filter, padded by FH−1−padTop on top; the output
 * [Cout,FH,FW,Cin] is dW flipped spatially, undone by a small JS loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, f32, free, runWasm, transposeWasm } from './util.js';

const conv2DBackpropFilter: tf.KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } =
    attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  if (format !== 'channelsLast') {
    throw new Error(`wasm Conv2DBackpropFilter supports only NHWC, got ${dataFormat}`);
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    format,
  );
  const { filterHeight: fh, filterWidth: fw, inHeight, inWidth, outHeight, outWidth } = info;
  const { strideHeight: sh, strideWidth: sw, inChannels, outChannels } = info;
  const { top, left } = info.padInfo;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error('wasm Conv2DBackpropFilter supports only float32');
  }
  if (tf.util.sizeFromShape(dy.shape) === 0 || tf.util.sizeFromShape(x.shape) === 0) {
    const out = backend.makeOutput(filterShape, 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  if (sh === 1 && sw === 1 && outChannels < inChannels && outChannels < 8) {
    const swapped = viaSwappedRoles(backend, x, dy, info);
    if (swapped) return swapped;
  }
  // Extra zero rows/cols after the input so the output covers the filter.
  const bottom = Math.max(0, fh + (outHeight - 1) * sh - inHeight - top);
  const right = Math.max(0, fw + (outWidth - 1) * sw - inWidth - left);
  const rows = inHeight + top + bottom - (outHeight - 1) * sh;
  const cols = inWidth + left + right - (outWidth - 1) * sw;

  const xT = transposeWasm(backend, x, [3, 1, 2, 0]); // [Cin, H, W, N]
  const dyT = transposeWasm(backend, dy, [1, 2, 0, 3]); // [OH, OW, N, Cout]
  const conv = runWasm(
    'Conv2D',
    backend,
    { x: xT, filter: dyT },
    {
      strides: [1, 1],
      dilations: [sh, sw],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  ); // [Cin, rows, cols, Cout]
  free(backend, xT, dyT);
  let cropped = conv;
  if (rows !== fh || cols !== fw) {
    cropped = runWasm('Slice', backend, { x: conv }, {
      begin: [0, 0, 0, 0],
      size: [inChannels, fh, fw, outChannels],
    });
    free(backend, conv);
  }
  const out = transposeWasm(backend, cropped, [1, 2, 0, 3]); // [FH, FW, Cin, Cout]
  free(backend, cropped);
  return out;
};

/** Stride-1 variant with dy as the input and x as the filter; null if a pad would be negative. */
function viaSwappedRoles(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): tf.TensorInfo | null {
  const { filterHeight: fh, filterWidth: fw, inHeight, inWidth, outHeight, outWidth } = info;
  const { inChannels: cin, outChannels: cout } = info;
  const { top, left } = info.padInfo;
  // out[co,a,b,ci] = Σ dyPadded[co,a+i,b+j,n]·x[n,i,j,ci] with a = FH−1−fh.
  const pt = fh - 1 - top;
  const pl = fw - 1 - left;
  const pb = inHeight - outHeight + top;
  const pr = inWidth - outWidth + left;
  if (pt < 0 || pl < 0 || pb < 0 || pr < 0) return null;
  const dyT = transposeWasm(backend, dy, [3, 1, 2, 0]); // [Cout, OH, OW, N]
  const xT = transposeWasm(backend, x, [1, 2, 0, 3]); // [H, W, N, Cin]
  const conv = runWasm('Conv2D', backend, { x: dyT, filter: xT }, {
    strides: [1, 1],
    dilations: [1, 1],
    pad: [
      [0, 0],
      [pt, pb],
      [pl, pr],
      [0, 0],
    ],
    dataFormat: 'NHWC',
  }); // [Cout, FH, FW, Cin], spatially flipped
  free(backend, dyT, xT);
  const out = backend.makeOutput([fh, fw, cin, cout], 'float32');
  const cv = f32(backend, conv);
  const ov = f32(backend, out);
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const dst = (i * fw + j) * cin * cout;
      for (let co = 0; co < cout; co++) {
        const src = ((co * fh + (fh - 1 - i)) * fw + (fw - 1 - j)) * cin;
        for (let ci = 0; ci < cin; ci++) ov[dst + ci * cout + co] = cv[src + ci]!;
      }
    }
  }
  free(backend, conv);
  return out;
}

export const conv2DBackpropFilterWasm: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter,
};
