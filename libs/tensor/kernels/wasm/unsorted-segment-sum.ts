/**
 * wasm UnsortedSegmentSum (tfjs 4.22's wasm backend has none; it is the
 * gradient of tf.gather). out[s, …] = Σ_{i: ids[i] = s} x[i, …], for
 * segmentIds of any rank r (the leading r axes of x) and any trailing shape.
 *
 * It is wasm's ScatterNd (which sums duplicate indices) with indices =
 * ids as [n, 1] and updates = x as [n, …inner]. Ids outside [0, numSegments)
 * are dropped, as in TensorFlow (ScatterNd would write out of bounds).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BackendWasm, free, reshapeWasm, runWasm } from './util.js';

const unsortedSegmentSum: tf.KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as BackendWasm;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  if (segmentIds.dtype !== 'int32') throw new Error(`segmentIds must be int32, got ${segmentIds.dtype}`);
  const idRank = segmentIds.shape.length;
  if (segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`segmentIds shape ${segmentIds.shape} must be a prefix of x shape ${x.shape}`);
  }
  const inner = x.shape.slice(idRank);
  const innerSize = tf.util.sizeFromShape(inner);
  const n = tf.util.sizeFromShape(segmentIds.shape);
  const outShape = [numSegments, ...inner];

  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  let valid = 0;
  for (let i = 0; i < n; i++) if (ids[i]! >= 0 && ids[i]! < numSegments) valid++;

  if (valid === 0 || innerSize === 0 || numSegments === 0) {
    const out = backend.makeOutput(outShape, x.dtype);
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  let indices: tf.TensorInfo;
  let updates: tf.TensorInfo;
  if (valid === n) {
    indices = reshapeWasm(backend, segmentIds, [n, 1]);
    updates = reshapeWasm(backend, x, [n, ...inner]);
  } else {
    // Keep only in-range rows.
    indices = backend.makeOutput([valid, 1], 'int32');
    updates = backend.makeOutput([valid, ...inner], x.dtype);
    const idv = backend.typedArrayFromHeap(segmentIds) as Int32Array;
    const xv = backend.typedArrayFromHeap(x);
    const iv = backend.typedArrayFromHeap(indices) as Int32Array;
    const uv = backend.typedArrayFromHeap(updates);
    let j = 0;
    for (let i = 0; i < n; i++) {
      const s = idv[i]!;
      if (s < 0 || s >= numSegments) continue;
      iv[j] = s;
      uv.set(xv.subarray(i * innerSize, (i + 1) * innerSize), j * innerSize);
      j++;
    }
  }
  const out = runWasm('ScatterNd', backend, { indices, updates }, { shape: outShape });
  free(backend, indices, updates);
  return out;
};

export const unsortedSegmentSumWasm: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum,
};
