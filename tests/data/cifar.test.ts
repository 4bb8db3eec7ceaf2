import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CifarFormatError, DatasetNotFoundError, loadDataset, parseCifarBatch, sourceRows } from '../../libs/data/index.js';

const RECORD = 3073;
const TRAIN = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];

/** The byte of (record id, channel c, row h, column w): distinct per position, id-dependent. */
const value = (id: number, c: number, h: number, w: number) => (id * 7 + c * 50 + h * 3 + w) % 256;

/** Records in the official layout: label, then R, G, B planes, each row-major. */
function batch(ids: number[], labels: number[]): Uint8Array {
  const out = new Uint8Array(ids.length * RECORD);
  ids.forEach((id, r) => {
    out[r * RECORD] = labels[r]!;
    for (let c = 0; c < 3; c++) for (let h = 0; h < 32; h++) for (let w = 0; w < 32; w++) out[r * RECORD + 1 + c * 1024 + h * 32 + w] = value(id, c, h, w);
  });
  return out;
}

let root: string;
let bin: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'uae-cifar-'));
  bin = join(root, 'cifar-10-batches-bin');
  await mkdir(bin);
  // Three records per batch: batch b holds ids 3b, 3b+1, 3b+2 with labels (id mod 10).
  for (let b = 0; b < 5; b++) {
    const ids = [3 * b, 3 * b + 1, 3 * b + 2];
    await writeFile(join(bin, TRAIN[b]!), batch(ids, ids.map((i) => i % 10)));
  }
  await writeFile(join(bin, 'test_batch.bin'), batch([100, 101, 102], [9, 0, 5]));
  await writeFile(join(bin, 'batches.meta.txt'), 'plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('CIFAR-10 binary batches', () => {
  it('transposes CHW records to HWC in [0, 1], with labels and the class names of batches.meta.txt', async () => {
    for (const spec of [`cifar10:${bin}`, `cifar10:${root}`]) {
      const ds = await loadDataset(spec);
      expect(ds.inputShape).toEqual([32, 32, 3]);
      expect([ds.train.n, ds.test.n]).toEqual([15, 3]);
      expect(Array.from(ds.train.labels!)).toEqual(Array.from({ length: 15 }, (_, i) => i % 10));
      expect(Array.from(ds.test.labels!)).toEqual([9, 0, 5]);
      expect(ds.classes![0]).toBe('plane');
      expect(ds.classes).toHaveLength(10);
      // Sample k, row h, column w, channel c at k·3072 + (32h + w)·3 + c.
      const at = (k: number, h: number, w: number, c: number) => k * 3072 + (h * 32 + w) * 3 + c;
      for (const [k, id] of [[0, 0], [4, 4], [14, 14]] as const) {
        for (const [h, w] of [[0, 0], [0, 1], [1, 0], [31, 30], [17, 5]] as const) {
          for (let c = 0; c < 3; c++) expect(ds.train.x[at(k, h, w, c)]).toBe(Math.fround(value(id, c, h, w) / 255));
        }
      }
      expect(ds.test.x[at(2, 5, 17, 1)]).toBe(Math.fround(value(102, 1, 5, 17) / 255));
    }
  });

  it('finds cifar10 through --data-dir and UAE_DATA_DIR; subsets keep rows and labels', async () => {
    const saved = process.env.UAE_DATA_DIR;
    process.env.UAE_DATA_DIR = root;
    try {
      const env = await loadDataset('cifar10');
      expect(env.source).toBe(bin);
      const sub = await loadDataset('cifar10', { dataDir: bin, trainSamples: 4, testSamples: 2, seed: 3 });
      const rows = sourceRows(sub.train);
      expect(rows).toHaveLength(4);
      rows.forEach((r, k) => {
        expect(sub.train.labels![k]).toBe(r % 10);
        expect(Array.from(sub.train.x.subarray(k * 3072, (k + 1) * 3072))).toEqual(Array.from(env.train.x.subarray(r * 3072, (r + 1) * 3072)));
      });
      expect(Array.from(sub.train.x)).toEqual(Array.from((await loadDataset('cifar10', { dataDir: bin, trainSamples: 4, testSamples: 2, seed: 3 })).train.x));
      expect(sub.test.n).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.UAE_DATA_DIR;
      else process.env.UAE_DATA_DIR = saved;
    }
  });

  it('uses the standard names without batches.meta.txt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-cifar-nometa-'));
    for (const f of [...TRAIN, 'test_batch.bin']) await writeFile(join(dir, f), batch([1], [3]));
    const ds = await loadDataset(`cifar10:${dir}`);
    expect(ds.classes![3]).toBe('cat');
    expect(ds.classes![9]).toBe('truck');
  });

  it('rejects truncated files, wrong record sizes and bad labels, naming the file', async () => {
    const one = batch([1, 2], [1, 2]);
    expect(() => parseCifarBatch(one.subarray(0, RECORD + 100), 'b.bin')).toThrow(/b\.bin: truncated .*3173 bytes.*1 records and 100 bytes left over/);
    // CIFAR-100's records (two label bytes, 3074 bytes each) are refused as a wrong record size.
    expect(() => parseCifarBatch(new Uint8Array(3074 * 2), 'c100.bin')).toThrow(CifarFormatError);
    expect(() => parseCifarBatch(new Uint8Array(3074 * 2), 'c100.bin')).toThrow(/not a whole number of 3073-byte records/);
    const bad = batch([1], [12]);
    expect(() => parseCifarBatch(bad, 'x.bin')).toThrow(/x\.bin: record 0: label byte 12 is not 0–9/);
    expect(() => parseCifarBatch(new Uint8Array(0), 'e.bin')).toThrow(/e\.bin: empty file/);
    const dir = await mkdtemp(join(tmpdir(), 'uae-cifar-cut-'));
    for (const f of [...TRAIN, 'test_batch.bin']) await writeFile(join(dir, f), batch([1], [3]));
    await writeFile(join(dir, 'data_batch_3.bin'), batch([1, 2], [3, 4]).subarray(0, RECORD + 5));
    await expect(loadDataset(`cifar10:${dir}`)).rejects.toThrow(new RegExp(`${join(dir, 'data_batch_3.bin')}: truncated`));
  });

  it('names what is missing, and says what to do with the tarball and the python version', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'uae-cifar-empty-'));
    await expect(loadDataset(`cifar10:${empty}`)).rejects.toBeInstanceOf(DatasetNotFoundError);
    await expect(loadDataset(`cifar10:${empty}`)).rejects.toThrow(/data_batch_1\.bin … data_batch_5\.bin, test_batch\.bin.*cifar-10-batches-bin/);
    const saved = process.env.UAE_DATA_DIR;
    delete process.env.UAE_DATA_DIR;
    try {
      await expect(loadDataset('cifar10')).rejects.toThrow(/--data-dir/);
    } finally {
      if (saved !== undefined) process.env.UAE_DATA_DIR = saved;
    }
    const partial = await mkdtemp(join(tmpdir(), 'uae-cifar-partial-'));
    await writeFile(join(partial, 'data_batch_1.bin'), batch([1], [1]));
    await expect(loadDataset(`cifar10:${partial}`)).rejects.toThrow(/missing data_batch_2\.bin, data_batch_3\.bin, data_batch_4\.bin, data_batch_5\.bin, test_batch\.bin/);
    const tgz = await mkdtemp(join(tmpdir(), 'uae-cifar-tgz-'));
    await writeFile(join(tgz, 'cifar-10-binary.tar.gz'), new Uint8Array([0x1f, 0x8b]));
    await expect(loadDataset(`cifar10:${tgz}`)).rejects.toThrow(/cifar-10-binary\.tar\.gz: archives are not read; extract it first/);
    const py = await mkdtemp(join(tmpdir(), 'uae-cifar-py-'));
    await mkdir(join(py, 'cifar-10-batches-py'));
    await expect(loadDataset(`cifar10:${py}`)).rejects.toThrow(/python version \(pickles\).*use the binary version/);
  });
});
