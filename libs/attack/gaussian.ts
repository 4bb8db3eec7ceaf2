/** Gaussian augmentation (GA, the paper's Table 4): x′ = clip(x + N(0, σ²I), 0, 1). */
import { Rng, STREAM } from '../tensor/rng.js';

export function gaussianAugment(data: Float32Array, sampleSize: number, sigma: number, seed: number, sampleIds?: readonly number[]): Float32Array {
  if (!(sigma >= 0)) throw new Error(`sigma must be ≥ 0; got ${sigma}`);
  if (data.length % sampleSize !== 0) throw new Error(`data length ${data.length} is not a multiple of ${sampleSize}`);
  const n = data.length / sampleSize;
  const out = new Float32Array(data.length);
  for (let i = 0; i < n; i++) {
    const rng = new Rng(seed, sampleIds?.[i] ?? i, STREAM.noise);
    for (let j = i * sampleSize; j < (i + 1) * sampleSize; j++) {
      out[j] = Math.min(1, Math.max(0, data[j]! + sigma * rng.normal()));
    }
  }
  return out;
}
