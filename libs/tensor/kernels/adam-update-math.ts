/**
 * The fused Adam update shared by the JS kernels (wasm heap views, cpu arrays):
 * one pass over w, g, m, v instead of a dozen elementwise kernels, each of
 * which would stream the MINE's ~12 M parameters through memory again.
 * TF1 AdamOptimizer form (the reference's): lrT = lr·√(1−β2ᵗ)/(1−β1ᵗ),
 * w ← w − lrT·m/(√v + ε).
 */
export const UAE_ADAM_UPDATE = 'UaeAdamUpdate';

export interface AdamUpdateAttrs {
  lrT: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** +1 to descend (minimise), −1 to ascend (maximise). */
  direction: number;
}

export function adamUpdateInto(
  w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  wOut: Float32Array, mOut: Float32Array, vOut: Float32Array,
  { lrT, beta1, beta2, epsilon, direction }: AdamUpdateAttrs,
): void {
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const step = lrT * direction;
  const n = w.length;
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const mi = beta1 * m[i]! + c1 * gi;
    const vi = beta2 * v[i]! + c2 * gi * gi;
    mOut[i] = mi;
    vOut[i] = vi;
    wOut[i] = w[i]! - (step * mi) / (Math.sqrt(vi) + epsilon);
  }
}
