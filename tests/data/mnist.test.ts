/** The named dataset `mnist`: IDX files found in --data-dir (or DIR/mnist), then UAE_DATA_DIR/mnist — never UAE_DATA_DIR itself (Fashion-MNIST's folder). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatasetNotFoundError, knownDatasetShape, loadDataset, writeIdx } from '../../libs/data/index.js';

/** Writes MNIST's four IDX files (train: `train` images, test: `test`), pixel (i, j) of image k = (k·7 + j) mod 256, label k mod 10. */
async function writeMnist(dir: string, train: number, test: number, gz = false): Promise<void> {
  await mkdir(dir, { recursive: true });
  const images = (n: number) => Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (Math.floor(i / 784) * 7 + (i % 28)) % 256);
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, k) => k % 10);
  const ext = gz ? '.gz' : '';
  await writeIdx(join(dir, `train-images-idx3-ubyte${ext}`), { shape: [train, 28, 28], data: images(train) });
  await writeIdx(join(dir, `train-labels-idx1-ubyte${ext}`), { shape: [train], data: labels(train) });
  await writeIdx(join(dir, `t10k-images-idx3-ubyte${ext}`), { shape: [test, 28, 28], data: images(test) });
  await writeIdx(join(dir, `t10k-labels-idx1-ubyte${ext}`), { shape: [test], data: labels(test) });
}

let saved: string | undefined;
beforeEach(() => {
  saved = process.env.UAE_DATA_DIR;
  delete process.env.UAE_DATA_DIR;
});
afterEach(() => {
  if (saved === undefined) delete process.env.UAE_DATA_DIR;
  else process.env.UAE_DATA_DIR = saved;
});

describe('mnist', () => {
  it('reads the IDX files from --data-dir as [28, 28, 1] in [0, 1] with their labels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-mnist-'));
    await writeMnist(dir, 12, 5);
    const ds = await loadDataset('mnist', { dataDir: dir });
    expect(ds.name).toBe('mnist');
    expect(ds.inputShape).toEqual([28, 28, 1]);
    expect([ds.train.n, ds.test.n]).toEqual([12, 5]);
    // Image 3, row 0, column 5: (3·7 + 5) / 255.
    expect(ds.train.x[3 * 784 + 5]).toBeCloseTo(26 / 255, 6);
    expect(Array.from(ds.test.labels!)).toEqual([0, 1, 2, 3, 4]);
    expect(knownDatasetShape('mnist')).toEqual({ inputShape: [28, 28, 1], trainRows: 60_000 });
  });

  it('finds DIR/mnist (gzipped files too) and UAE_DATA_DIR/mnist, and subsets by seed', async () => {
    const root = await mkdtemp(join(tmpdir(), 'uae-mnist-root-'));
    await writeMnist(join(root, 'mnist'), 20, 4, true);
    const viaDir = await loadDataset('mnist', { dataDir: root, trainSamples: 6, seed: 3 });
    expect(viaDir.train.n).toBe(6);
    process.env.UAE_DATA_DIR = root;
    const viaEnv = await loadDataset('mnist', { trainSamples: 6, seed: 3 });
    expect(Array.from(viaEnv.train.labels!)).toEqual(Array.from(viaDir.train.labels!));
  });

  it('does not take the Fashion-MNIST folder UAE_DATA_DIR names for MNIST, and says where it looked', async () => {
    const fashion = await mkdtemp(join(tmpdir(), 'uae-fashion-'));
    await writeMnist(fashion, 2, 2);
    process.env.UAE_DATA_DIR = fashion;
    const missing = loadDataset('mnist');
    await expect(missing).rejects.toBeInstanceOf(DatasetNotFoundError);
    await expect(loadDataset('mnist')).rejects.toThrow(new RegExp(`mnist: no IDX files .*${join(fashion, 'mnist')}`));
    expect((await loadDataset('fashion-mnist')).train.n).toBe(2);
  });
});
