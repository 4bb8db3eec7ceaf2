/**
 * Stacked chunks are cut to what one device buffer binding holds: webgpu
 * drops a command whose tensor exceeds maxStorageBufferBindingSize (128 MiB
 * on lavapipe) and returns zeros, so the engine never builds one.
 */
import { describe, expect, it } from 'vitest';
import { attackConfig, AttackInputError, chunkSizeFor } from '../../libs/attack/index.js';
import { largestPerSampleBytes, mineConfig, statisticsNetworkSize } from '../../libs/mine/index.js';

const MiB = 2 ** 20;
const conv = attackConfig({ similarity: { kind: 'mine', mine: mineConfig({ sampler: 'conv' }) } });

describe('largestPerSampleBytes', () => {
  it('is the first dense weight for the conv sampler: hidden × (H−k+1)(W−k+1)F floats', () => {
    const mine = mineConfig({ sampler: 'conv' });
    const { features } = statisticsNetworkSize([28, 28, 1], mine);
    expect(features).toBe((28 - mine.convKernel + 1) ** 2 * mine.convFilters);
    expect(largestPerSampleBytes(mine, [28, 28, 1])).toBe(4 * mine.hidden * features);
  });

  it('is the materialised K·m × d projections for a fixed random sampler, and w1 when they are drawn lazily', () => {
    const fixed = mineConfig({ sampler: 'random', projection: 'fixed', draws: 500, projectionDim: 128 });
    expect(largestPerSampleBytes(fixed, [784])).toBe(4 * 500 * 128 * 784);
    const lazy = mineConfig({ sampler: 'random', projection: 'redraw', draws: 500, projectionDim: 128 });
    expect(largestPerSampleBytes(lazy, [784])).toBe(4 * lazy.hidden * 128);
  });
});

describe('chunkSizeFor', () => {
  it('keeps the requested size when the backend binds without a limit (wasm, cpu, tensorflow)', () => {
    expect(chunkSizeFor(conv, [28, 28, 1], 64, { preferredChunk: 1 })).toBe(64);
    expect(chunkSizeFor(attackConfig({ similarity: { kind: 'l2' } }), [28, 28, 1], 64, { preferredChunk: 1, maxBindingBytes: 1 })).toBe(64);
  });

  it('cuts a conv-sampler chunk to floor(limit / per-sample w1): 5 at lavapipe’s 128 MiB', () => {
    const perSample = largestPerSampleBytes(conv.similarity.kind === 'mine' ? conv.similarity.mine : mineConfig({}), [28, 28, 1]);
    expect(chunkSizeFor(conv, [28, 28, 1], 8, { preferredChunk: 1, maxBindingBytes: 128 * MiB })).toBe(Math.floor((128 * MiB) / perSample));
    expect(chunkSizeFor(conv, [28, 28, 1], 8, { preferredChunk: 1, maxBindingBytes: 128 * MiB })).toBe(5);
    expect(chunkSizeFor(conv, [28, 28, 1], 3, { preferredChunk: 1, maxBindingBytes: 128 * MiB })).toBe(3);
    expect(chunkSizeFor(conv, [28, 28, 1], undefined, { preferredChunk: 64, maxBindingBytes: 128 * MiB })).toBe(5);
    expect(chunkSizeFor(conv, [28, 28, 1], 128, { preferredChunk: 1, maxBindingBytes: 2 ** 32 - 1 })).toBe(Math.min(128, Math.floor((2 ** 32 - 1) / perSample)));
  });

  it('refuses, naming the field, a sample whose own tensor exceeds the limit', () => {
    const fixed = attackConfig({ similarity: { kind: 'mine', mine: mineConfig({ sampler: 'random', projection: 'fixed' }) } });
    expect(() => chunkSizeFor(fixed, [784], 1, { preferredChunk: 1, maxBindingBytes: 128 * MiB })).toThrow(AttackInputError);
    expect(() => chunkSizeFor(fixed, [784], 1, { preferredChunk: 1, maxBindingBytes: 128 * MiB })).toThrow(/^similarity\.mine: .*191 MiB tensor; this device binds at most 128 MiB/);
  });
});
