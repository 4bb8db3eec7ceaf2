/** cpu kernel for the fused Adam update. */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { UAE_ADAM_UPDATE, adamUpdateInto, type AdamUpdateAttrs } from '../adam-update-math.js';

interface CpuBackendLike {
  data: { get(id: unknown): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
}

const adamUpdate = ({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo[] => {
  const b = backend as unknown as CpuBackendLike;
  const { w, g, m, v } = inputs as Record<'w' | 'g' | 'm' | 'v', TensorInfo>;
  const n = b.data.get(w.dataId).values.length;
  const wo = new Float32Array(n);
  const mo = new Float32Array(n);
  const vo = new Float32Array(n);
  adamUpdateInto(
    b.data.get(w.dataId).values, b.data.get(g.dataId).values,
    b.data.get(m.dataId).values, b.data.get(v.dataId).values,
    wo, mo, vo, attrs as unknown as AdamUpdateAttrs,
  );
  return [b.makeTensorInfo(w.shape, 'float32', wo), b.makeTensorInfo(w.shape, 'float32', mo), b.makeTensorInfo(w.shape, 'float32', vo)];
};

export const adamUpdateCpuConfig: KernelConfig = {
  kernelName: UAE_ADAM_UPDATE,
  backendName: 'cpu',
  kernelFunc: adamUpdate as unknown as KernelFunc,
};
