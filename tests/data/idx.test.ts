import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  parseIdx,
  encodeIdx,
  readIdx,
  writeIdx,
  loadIdxImages,
  loadIdxLabels,
  loadIdxDataset,
  IdxFormatError,
} from '../../libs/data/index.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'fashion-mnist-slice');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uae-idx-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sampleImages(n: number, h: number, w: number): Uint8Array {
  const d = new Uint8Array(n * h * w);
  for (let i = 0; i < d.length; i++) d[i] = (i * 37 + 11) % 256;
  return d;
}

describe('IDX encode/parse', () => {
  it('writes the documented header', () => {
    const bytes = encodeIdx({ shape: [2, 3, 4], data: sampleImages(2, 3, 4) });
    expect(Array.from(bytes.subarray(0, 16))).toEqual([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    expect(bytes.length).toBe(16 + 24);
    const labels = encodeIdx({ shape: [3], data: new Uint8Array([7, 8, 9]) });
    expect(Array.from(labels)).toEqual([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]);
  });

  it('round-trips in memory', () => {
    const arr = { shape: [5, 7, 3], data: sampleImages(5, 7, 3) };
    const back = parseIdx(encodeIdx(arr));
    expect(back.shape).toEqual([5, 7, 3]);
    expect(Array.from(back.data)).toEqual(Array.from(arr.data));
  });

  it('rejects a wrong magic', () => {
    const bytes = encodeIdx({ shape: [2], data: new Uint8Array([1, 2]) });
    bytes[0] = 0x12;
    expect(() => parseIdx(bytes, 'x.idx')).toThrow(IdxFormatError);
    expect(() => parseIdx(bytes, 'x.idx')).toThrow(/wrong magic 0x12000801/);
    const unknownType = encodeIdx({ shape: [2], data: new Uint8Array([1, 2]) });
    unknownType[2] = 0x42;
    expect(() => parseIdx(unknownType)).toThrow(/wrong magic.*unknown IDX element type 0x42/);
  });

  it('rejects unsupported element types by name', () => {
    const bytes = encodeIdx({ shape: [2], data: new Uint8Array([1, 2]) });
    bytes[2] = 0x0d;
    expect(() => parseIdx(bytes)).toThrow(/unsupported IDX element type 0x0d \(float32\)/);
  });

  it('rejects truncated headers and data, and trailing bytes', () => {
    const bytes = encodeIdx({ shape: [4, 2, 2], data: sampleImages(4, 2, 2) });
    expect(() => parseIdx(bytes.subarray(0, 3))).toThrow(/truncated/);
    expect(() => parseIdx(bytes.subarray(0, 10))).toThrow(/truncated header/);
    expect(() => parseIdx(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated: shape \[4, 2, 2\] needs 16 data bytes, file has 15/);
    const longer = new Uint8Array(bytes.length + 2);
    longer.set(bytes);
    expect(() => parseIdx(longer)).toThrow(/2 unexpected bytes/);
  });

  it('rejects data that does not match the shape when encoding', () => {
    expect(() => encodeIdx({ shape: [2, 2], data: new Uint8Array(3) })).toThrow(/needs 4/);
  });
});

describe('IDX files', () => {
  it('round-trips plain and gzip files', async () => {
    const arr = { shape: [3, 4, 5], data: sampleImages(3, 4, 5) };
    for (const name of ['a-idx3-ubyte', 'a-idx3-ubyte.gz']) {
      const p = join(dir, name);
      await writeIdx(p, arr);
      const raw = await readFile(p);
      expect(raw[0] === 0x1f && raw[1] === 0x8b).toBe(name.endsWith('.gz'));
      const back = await readIdx(p);
      expect(back.shape).toEqual(arr.shape);
      expect(Array.from(back.data)).toEqual(Array.from(arr.data));
    }
  });

  it('gunzips by content even without a .gz name', async () => {
    const p = join(dir, 'gz-without-suffix');
    await writeFile(p, gzipSync(encodeIdx({ shape: [2], data: new Uint8Array([3, 4]) })));
    expect(Array.from((await readIdx(p)).data)).toEqual([3, 4]);
  });

  it('reports truncated gzip files and non-gzip .gz files', async () => {
    const full = gzipSync(encodeIdx({ shape: [50, 10, 10], data: sampleImages(50, 10, 10) }));
    const p = join(dir, 'cut.gz');
    await writeFile(p, full.subarray(0, Math.floor(full.length / 2)));
    await expect(readIdx(p)).rejects.toThrow(/cut\.gz: corrupt or truncated gzip/);
    const q = join(dir, 'plain.gz');
    await writeFile(q, encodeIdx({ shape: [1], data: new Uint8Array([1]) }));
    await expect(readIdx(q)).rejects.toThrow(/not gzip-compressed/);
  });

  it('loadIdxImages scales to [0, 1] with shape [N, H, W, 1]', async () => {
    const data = new Uint8Array([0, 255, 51, 102, 0, 0, 0, 1]);
    const p = join(dir, 'img-idx3-ubyte.gz');
    await writeIdx(p, { shape: [2, 2, 2], data });
    const img = await loadIdxImages(p);
    expect(img.shape).toEqual([2, 2, 2, 1]);
    expect(img.data).toBeInstanceOf(Float32Array);
    expect(Array.from(img.data)).toEqual(Array.from(data).map((v) => Math.fround(v / 255)));
    const lim = await loadIdxImages(p, { limit: 1 });
    expect(lim.shape).toEqual([1, 2, 2, 1]);
    expect(lim.data.length).toBe(4);
  });

  it('loadIdxImages / loadIdxLabels reject files of the wrong rank', async () => {
    const labels = join(dir, 'lab-idx1-ubyte');
    await writeIdx(labels, { shape: [2], data: new Uint8Array([1, 2]) });
    const images = join(dir, 'im-idx3-ubyte');
    await writeIdx(images, { shape: [2, 1, 1], data: new Uint8Array([1, 2]) });
    await expect(loadIdxImages(labels)).rejects.toThrow(/expected an image file/);
    await expect(loadIdxLabels(images)).rejects.toThrow(/expected a label file/);
  });

  it('loadIdxDataset rejects mismatched image/label counts', async () => {
    const images = join(dir, 'three-idx3-ubyte.gz');
    const labels = join(dir, 'two-idx1-ubyte.gz');
    await writeIdx(images, { shape: [3, 2, 2], data: sampleImages(3, 2, 2) });
    await writeIdx(labels, { shape: [2], data: new Uint8Array([0, 1]) });
    await expect(loadIdxDataset(images, labels)).rejects.toThrow(/count mismatch: 3 images but 2 labels/);
    await writeIdx(labels, { shape: [3], data: new Uint8Array([0, 1, 2]) });
    const ds = await loadIdxDataset(images, labels, { limit: 2 });
    expect(ds.images.shape).toEqual([2, 2, 2, 1]);
    expect(Array.from(ds.labels.data)).toEqual([0, 1]);
  });
});

describe('Fashion-MNIST fixture slice', () => {
  it('holds 2000 train and 500 test samples of 28×28 with labels 0..9', async () => {
    const train = await loadIdxDataset(join(FIXTURE, 'train-images-idx3-ubyte.gz'), join(FIXTURE, 'train-labels-idx1-ubyte.gz'));
    const test = await loadIdxDataset(join(FIXTURE, 't10k-images-idx3-ubyte.gz'), join(FIXTURE, 't10k-labels-idx1-ubyte.gz'));
    expect(train.images.shape).toEqual([2000, 28, 28, 1]);
    expect(test.images.shape).toEqual([500, 28, 28, 1]);
    for (const l of [train.labels, test.labels]) {
      expect(Math.max(...l.data)).toBe(9);
      expect(Math.min(...l.data)).toBe(0);
    }
    // The first Fashion-MNIST training label is 9 (ankle boot), the first test label 9 as well.
    expect(train.labels.data[0]).toBe(9);
    expect(test.labels.data[0]).toBe(9);
    let max = 0;
    for (const v of train.images.data) max = Math.max(max, v);
    expect(max).toBe(1);
  });
});
