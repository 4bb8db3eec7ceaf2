/**
 * Evaluation metrics of the augmentation study (the paper's Section 4.4): test
 * reconstruction error (mean squared error per element), attack success rate,
 * relative improvement, MI statistics.
 */
import { tf } from '../tensor/index.js';
import type { Autoencoder } from '../models/index.js';
import type { SampleResult } from '../attack/index.js';

/** Mean squared error per element between x and AE(x), over all samples, in batches. */
export async function reconstructionError(ae: Autoencoder, data: Float32Array, inputShape: number[], batchSize = 256): Promise<number> {
  const d = inputShape.reduce((a, b) => a * b, 1);
  const n = data.length / d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`data length ${data.length} is not a positive multiple of ${d}`);
  let sum = 0;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const batchSum = tf.tidy(() => {
      const x = tf.tensor(data.subarray(start * d, end * d), [end - start, ...inputShape]);
      return tf.sum(ae.perSampleSquaredError(x));
    });
    sum += (await batchSum.data())[0]!;
    batchSum.dispose();
  }
  return sum / (n * d);
}

export function attackSuccessRate(results: readonly SampleResult[]): number {
  return results.length === 0 ? 0 : results.filter((r) => r.success).length / results.length;
}

/** (original − new) / original: positive when the new model is better. */
export function improvement(original: number, next: number): number {
  return (original - next) / original;
}

export interface Summary {
  mean: number;
  median: number;
  min: number;
  max: number;
  count: number;
}

export function summarize(values: readonly number[]): Summary | undefined {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return {
    mean: v.reduce((a, b) => a + b, 0) / v.length,
    median: v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2,
    min: v[0]!,
    max: v.at(-1)!,
    count: v.length,
  };
}
