/**
 * resolveDataset keeps a dataset within the budget's maxTensorElements: an
 * .npy artifact too large to fit is refused from its stored size, before it
 * is downloaded; a loaded dataset is checked on rows × dims.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedBus, type ArtifactStore, type Bus } from '../../libs/bus/index.js';
import { encodeNpy } from '../../libs/data/index.js';
import { DEFAULT_BUDGET } from '../../libs/limits/index.js';
import { v1 } from '../../libs/proto/index.js';
import { MEDIA_TYPES, putContent } from '../../services/common/artifacts.js';
import { resolveDataset } from '../../services/common/datasets.js';

const dir = mkdtempSync(join(tmpdir(), 'uae-dsbudget-'));
let bus: Bus;
beforeAll(async () => {
  bus = await createEmbeddedBus({ dir });
});
afterAll(async () => {
  await bus?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('dataset budget', () => {
  it('refuses an .npy artifact from its size, before downloading it', async () => {
    const big = await putContent(bus.artifacts, encodeNpy([300, 1000], new Float32Array(300_000)), { mediaType: MEDIA_TYPES.npy });
    const small = await putContent(bus.artifacts, encodeNpy([4, 1000], new Float32Array(4000)), { mediaType: MEDIA_TYPES.npy });
    let gets = 0;
    const counting: ArtifactStore = new Proxy(bus.artifacts, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop === 'get') return (...args: unknown[]) => (gets++, (v as (...a: unknown[]) => unknown).apply(target, args));
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const cfg = v1.DatasetConfig.fromPartial({ source: { $case: 'npy', value: { xTrain: big, xTest: small } } });
    const budget = { ...DEFAULT_BUDGET, maxTensorElements: 100_000 };
    await expect(resolveDataset(counting, cfg, { budget })).rejects.toMatchObject({ name: 'ResourceLimitError', field: 'dataset.npy.x_train' });
    expect(gets).toBe(0);
    await expect(resolveDataset(counting, cfg)).resolves.toMatchObject({ inputShape: [1000] });
  });

  it('refuses a loaded dataset whose rows × dims exceed the budget, naming the split', async () => {
    const cfg = v1.DatasetConfig.fromPartial({ source: { $case: 'name', value: 'mice-protein' }, trainSamples: 100, testSamples: 10 });
    await expect(resolveDataset(bus.artifacts, cfg, { budget: { ...DEFAULT_BUDGET, maxTensorElements: 5000 } })).rejects.toThrow(
      /^dataset\.train_samples: needs 7,700 array elements \(100 train rows × 77 values\).*UAE_MAX_TENSOR_ELEMENTS/,
    );
    await expect(resolveDataset(bus.artifacts, cfg)).resolves.toMatchObject({ inputShape: [77] });
  });
});
