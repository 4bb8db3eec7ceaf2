import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { createAutoencoder } from '../../libs/models/index.js';
import { attackSuccessRate, improvement, reconstructionError, summarize } from '../../libs/eval/index.js';
import type { SampleResult } from '../../libs/attack/index.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('evaluation metrics', () => {
  it('reconstruction error is the mean squared error per element, whatever the batch size', async () => {
    const ae = createAutoencoder('dense-ae', [10], { seed: 1, hidden: 4 });
    const data = Float32Array.from({ length: 7 * 10 }, (_, i) => (i % 11) / 10);
    const expected = tf.tidy(() => {
      const x = tf.tensor2d(data, [7, 10]);
      return tf.mean(tf.squaredDifference(x, ae.reconstruct(x))).dataSync()[0]!;
    });
    expect(await reconstructionError(ae, data, [10])).toBeCloseTo(expected, 6);
    expect(await reconstructionError(ae, data, [10], 3)).toBeCloseTo(expected, 6);
    await expect(reconstructionError(ae, data.subarray(0, 15), [10])).rejects.toThrow(/multiple of 10/);
    ae.dispose();
  });

  it('ASR, improvement and summaries', () => {
    const r = (success: boolean) => ({ success }) as SampleResult;
    expect(attackSuccessRate([r(true), r(false), r(true), r(true)])).toBe(0.75);
    expect(attackSuccessRate([])).toBe(0);
    expect(improvement(0.02, 0.015)).toBeCloseTo(0.25, 12);
    expect(summarize([3, 1, Number.NaN, 2, 10])).toEqual({ mean: 4, median: 2.5, min: 1, max: 10, count: 4 });
    expect(summarize([])).toBeUndefined();
  });
});
