import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetNotFoundError, loadDataset, sourceRows, subsetSplit, writeNpy } from '../../libs/data/index.js';

const SLICE = new URL('../fixtures/fashion-mnist-slice', import.meta.url).pathname;

describe('loadDataset', () => {
  it('finds fashion-mnist through --data-dir and reads idx:DIR alike', async () => {
    const named = await loadDataset('fashion-mnist', { dataDir: SLICE });
    const byPath = await loadDataset(`idx:${SLICE}`);
    expect(named.inputShape).toEqual([28, 28, 1]);
    expect([named.train.n, named.test.n]).toEqual([2000, 500]);
    expect(Array.from(named.train.x.subarray(0, 784))).toEqual(Array.from(byPath.train.x.subarray(0, 784)));
    expect(named.train.labels!.length).toBe(2000);
  });

  it('subsets deterministically by seed, keeping images and labels together', async () => {
    const full = await loadDataset(`idx:${SLICE}`);
    const a = await loadDataset(`idx:${SLICE}`, { trainSamples: 50, testSamples: 20, seed: 4 });
    const b = await loadDataset(`idx:${SLICE}`, { trainSamples: 50, testSamples: 20, seed: 4 });
    const c = await loadDataset(`idx:${SLICE}`, { trainSamples: 50, seed: 5 });
    expect([a.train.n, a.test.n]).toEqual([50, 20]);
    expect(Array.from(a.train.x)).toEqual(Array.from(b.train.x));
    expect(Array.from(a.train.x)).not.toEqual(Array.from(c.train.x));
    // Each chosen image appears in the full set with the same label.
    const img0 = Array.from(a.train.x.subarray(0, 784)).join();
    const j = Array.from({ length: full.train.n }, (_, i) => i).find((i) => Array.from(full.train.x.subarray(i * 784, (i + 1) * 784)).join() === img0)!;
    expect(full.train.labels![j]).toBe(a.train.labels![0]);
  });

  it('says where it looked when fashion-mnist is missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'uae-empty-'));
    const saved = process.env.UAE_DATA_DIR;
    delete process.env.UAE_DATA_DIR;
    try {
      await expect(loadDataset('fashion-mnist', { dataDir: empty })).rejects.toThrow(new RegExp(`no IDX files in ${empty}.*--data-dir`));
    } finally {
      if (saved !== undefined) process.env.UAE_DATA_DIR = saved;
    }
    await expect(loadDataset('cifar-10')).rejects.toBeInstanceOf(DatasetNotFoundError);
  });

  it('reads npy:DIR (uint8 scaled, labels optional) and csv:FILE (last column as label)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-npy-'));
    await writeNpy(join(dir, 'x_train.npy'), [3, 2, 2], Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8]));
    await writeNpy(join(dir, 'x_test.npy'), [1, 2, 2], Float32Array.from([0.5, 0.25, 1, 0]));
    await writeNpy(join(dir, 'y_train.npy'), [3], Int32Array.from([1, 0, 1]));
    const npy = await loadDataset(`npy:${dir}`);
    expect(npy.inputShape).toEqual([2, 2]);
    expect(npy.train.x[1]).toBe(1);
    expect(npy.train.x[2]).toBeCloseTo(0.2, 6);
    expect(Array.from(npy.train.labels!)).toEqual([1, 0, 1]);
    expect(npy.test.labels).toBeUndefined();

    const file = join(dir, 't.csv');
    await writeFile(file, ['a,b,kind', ...Array.from({ length: 10 }, (_, i) => `${i},${10 - i},${i < 5 ? 'lo' : 'hi'}`)].join('\n'));
    const csv = await loadDataset(`csv:${file}`, { seed: 1 });
    expect(csv.inputShape).toEqual([2]);
    expect(csv.classes).toEqual(['hi', 'lo']);
    expect(csv.train.n + csv.test.n).toBe(10);
  });

  it('loads the bundled mice-protein by name', async () => {
    const ds = await loadDataset('mice-protein', { trainSamples: 100 });
    expect(ds.inputShape).toEqual([77]);
    expect([ds.train.n, ds.test.n]).toEqual([100, 216]);
  });

  it("keeps each sample's row in its source through subsets (sourceRows)", async () => {
    const full = await loadDataset(`idx:${SLICE}`);
    const sub = await loadDataset(`idx:${SLICE}`, { trainSamples: 30, seed: 4 });
    const rows = sourceRows(sub.train);
    expect(rows).toHaveLength(30);
    rows.forEach((r, k) => expect(Array.from(sub.train.x.subarray(k * 784, (k + 1) * 784))).toEqual(Array.from(full.train.x.subarray(r * 784, (r + 1) * 784))));
    expect(Array.from(rows, (r) => full.train.labels![r])).toEqual(Array.from(sub.train.labels!));
    // A subset of a subset maps to the first source; without rows, sample i is row i.
    const again = subsetSplit(sub.train, 784, 5, 1, 1);
    expect(Array.from(sourceRows(again)).every((r) => rows.includes(r))).toBe(true);
    expect(Array.from(sourceRows(again))).not.toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(sourceRows({ n: 3 }))).toEqual([0, 1, 2]);
    // CSV: the data rows of the file; train and test rows partition them.
    const mice = await loadDataset('mice-protein');
    const all = [...sourceRows(mice.train), ...sourceRows(mice.test)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 1080 }, (_, i) => i));
  });
});
