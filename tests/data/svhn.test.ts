import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { deflateSync } from 'node:zlib';
import { DatasetNotFoundError, loadDataset, MatFormatError, parseMat, readSvhnMat, sourceRows } from '../../libs/data/index.js';

// A MATLAB v5 writer for the test files, written from the format's layout
// (header, tagged elements padded to 8, miMATRIX sub-elements).
const MI = { INT8: 1, UINT8: 2, INT32: 5, UINT32: 6, DOUBLE: 9, MATRIX: 14, COMPRESSED: 15 };
const CLASS = { double: 6, uint8: 9 } as const;

function element(type: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + Math.ceil(data.length / 8) * 8);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, data.length, true);
  out.set(data, 8);
  return out;
}
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let k = 0;
  for (const p of parts) out.set(p, k), (k += p.length);
  return out;
};
function matrix(name: string, cls: keyof typeof CLASS, dims: number[], data: Uint8Array | Float64Array): Uint8Array {
  const flags = new Uint8Array(8);
  new DataView(flags.buffer).setUint32(0, CLASS[cls], true);
  const body = cat(
    element(MI.UINT32, flags),
    element(MI.INT32, new Uint8Array(Int32Array.from(dims).buffer)),
    element(MI.INT8, new TextEncoder().encode(name)),
    element(data instanceof Uint8Array ? MI.UINT8 : MI.DOUBLE, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
  );
  return element(MI.MATRIX, body);
}
function matFile(vars: Uint8Array[], compress = false): Uint8Array {
  const header = new Uint8Array(128).fill(0x20);
  header.set(new TextEncoder().encode('MATLAB 5.0 MAT-file, written by tests/data/svhn.test.ts'));
  header.set([0, 1, 0x49, 0x4d], 124); // version 0x0100, "IM" little-endian
  const els = vars.map((v) => {
    if (!compress) return v;
    const z = deflateSync(v);
    const tag = new Uint8Array(8);
    new DataView(tag.buffer).setUint32(0, MI.COMPRESSED, true);
    new DataView(tag.buffer).setUint32(4, z.length, true);
    return cat(tag, z);
  });
  return cat(header, ...els);
}

/** The byte of image k at row h, column w, channel c: distinct per position. */
const value = (k: number, h: number, w: number, c: number) => (k * 11 + h * 5 + w * 2 + c * 70) % 256;

/** X [32, 32, 3, n] column-major (row fastest), as MATLAB stores it. */
function svhnX(n: number): Uint8Array {
  const x = new Uint8Array(32 * 32 * 3 * n);
  for (let k = 0; k < n; k++) for (let c = 0; c < 3; c++) for (let w = 0; w < 32; w++) for (let h = 0; h < 32; h++) x[h + 32 * w + 1024 * c + 3072 * k] = value(k, h, w, c);
  return x;
}
const svhnFile = (labels: number[], compress = false) =>
  matFile([matrix('X', 'uint8', [32, 32, 3, labels.length], svhnX(labels.length)), matrix('y', 'double', [labels.length, 1], Float64Array.from(labels))], compress);
const at = (k: number, h: number, w: number, c: number) => k * 3072 + (h * 32 + w) * 3 + c;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'uae-svhn-'));
  await writeFile(join(root, 'train_32x32.mat'), svhnFile([1, 10, 5, 3]));
  await writeFile(join(root, 'test_32x32.mat'), svhnFile([10, 2, 9], true));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('SVHN cropped digits (.mat)', () => {
  it('reads MATLAB column-major X as HWC in [0, 1], mapping label 10 to digit 0 (plain and compressed files)', async () => {
    const ds = await loadDataset(`svhn:${root}`);
    expect(ds.inputShape).toEqual([32, 32, 3]);
    expect([ds.train.n, ds.test.n]).toEqual([4, 3]);
    expect(Array.from(ds.train.labels!)).toEqual([1, 0, 5, 3]);
    expect(Array.from(ds.test.labels!)).toEqual([0, 2, 9]);
    expect(ds.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    for (const split of [ds.train, ds.test]) {
      for (const k of [0, 2]) for (const [h, w] of [[0, 0], [0, 1], [1, 0], [31, 2], [7, 29]] as const) for (let c = 0; c < 3; c++) {
        expect(split.x[at(k, h, w, c)]).toBe(Math.fround(value(k, h, w, c) / 255));
      }
    }
  });

  it('finds svhn through --data-dir (or DIR/svhn); subsets keep rows and labels', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'uae-svhn-parent-'));
    await mkdir(join(parent, 'svhn'));
    for (const f of ['train_32x32.mat', 'test_32x32.mat']) await writeFile(join(parent, 'svhn', f), await readFile(join(root, f)));
    const full = await loadDataset('svhn', { dataDir: parent });
    expect(full.source).toBe(join(parent, 'svhn'));
    const sub = await loadDataset('svhn', { dataDir: root, trainSamples: 2, seed: 1 });
    const rows = sourceRows(sub.train);
    rows.forEach((r, k) => {
      expect(sub.train.labels![k]).toBe(full.train.labels![r]);
      expect(sub.train.x[at(k, 3, 4, 2)]).toBe(Math.fround(value(r, 3, 4, 2) / 255));
    });
  });

  it('refuses wrong variable names, types, shapes and labels, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-svhn-bad-'));
    const write = async (name: string, bytes: Uint8Array) => (await writeFile(join(dir, name), bytes), join(dir, name));
    const X = matrix('X', 'uint8', [32, 32, 3, 2], svhnX(2));
    const y = matrix('y', 'double', [2, 1], Float64Array.from([1, 2]));
    const names = await write('names.mat', matFile([matrix('images', 'uint8', [32, 32, 3, 2], svhnX(2)), y]));
    await expect(readSvhnMat(names)).rejects.toThrow(/names\.mat: expected variables X and y .*found images, y/);
    const type = await write('type.mat', matFile([matrix('X', 'double', [32, 32, 3, 2], Float64Array.from(svhnX(2))), y]));
    await expect(readSvhnMat(type)).rejects.toThrow(/type\.mat: variable X is double; SVHN's X is uint8/);
    const shape = await write('shape.mat', matFile([matrix('X', 'uint8', [32, 32, 6], svhnX(2)), y]));
    await expect(readSvhnMat(shape)).rejects.toThrow(/variable X has dimensions \[32, 32, 6\]/);
    const count = await write('count.mat', matFile([X, matrix('y', 'double', [3, 1], Float64Array.from([1, 2, 3]))]));
    await expect(readSvhnMat(count)).rejects.toThrow(/variable y has dimensions \[3, 1\]; expected \[2, 1\]/);
    const label = await write('label.mat', matFile([X, matrix('y', 'double', [2, 1], Float64Array.from([1, 0]))]));
    await expect(readSvhnMat(label)).rejects.toThrow(/y\(2\) is 0; SVHN labels are 1–10/);
  });

  it('refuses truncated and corrupt files', async () => {
    const full = svhnFile([1, 2]);
    expect(() => parseMat(full.subarray(0, full.length - 100), 'cut.mat')).toThrow(/cut\.mat: truncated: element at byte 128 declares/);
    expect(() => parseMat(full.subarray(0, 60), 'short.mat')).toThrow(/short\.mat: truncated: 60 bytes/);
    const z = svhnFile([1, 2], true);
    expect(() => parseMat(z.subarray(0, z.length - 50), 'z.mat')).toThrow(/z\.mat: truncated/);
    const corrupt = z.slice();
    corrupt.fill(0x55, 140, 200);
    expect(() => parseMat(corrupt, 'bad.mat')).toThrow(/bad\.mat: compressed element at byte 128: corrupt or truncated zlib stream/);
    const notMat = new Uint8Array(200);
    expect(() => parseMat(notMat, 'n.mat')).toThrow(MatFormatError);
    const hdf = new Uint8Array(600);
    hdf.set([0x89, 0x48, 0x44, 0x46]);
    expect(() => parseMat(hdf, 'v73.mat')).toThrow(/v7\.3 \(HDF5\)/);
  });

  it('names the missing files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-svhn-missing-'));
    await expect(loadDataset(`svhn:${dir}`)).rejects.toBeInstanceOf(DatasetNotFoundError);
    await expect(loadDataset(`svhn:${dir}`)).rejects.toThrow(/missing train_32x32\.mat, test_32x32\.mat/);
    await writeFile(join(dir, 'train_32x32.mat'), svhnFile([1]));
    await expect(loadDataset(`svhn:${dir}`)).rejects.toThrow(/missing test_32x32\.mat \(SVHN/);
    await expect(loadDataset('svhn', { dataDir: dir })).rejects.toThrow(/no train_32x32\.mat and test_32x32\.mat in .*--data-dir/);
  });

  const scipy = spawnSync('/usr/bin/python3', ['-c', 'import scipy.io'], { encoding: 'utf8' });
  const hasScipy = scipy.status === 0;
  // Interop with files scipy writes (its own v5 writer, plain and zlib-compressed);
  // skipped without scipy for /usr/bin/python3 (Debian: python3-scipy).
  it.skipIf(!hasScipy)('reads what scipy.io.savemat writes, plain and compressed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-svhn-scipy-'));
    const py = `
import numpy as np, scipy.io, sys
n = 3
k, h, w, c = np.meshgrid(np.arange(n), np.arange(32), np.arange(32), np.arange(3), indexing='ij')
img = ((k * 11 + h * 5 + w * 2 + c * 70) % 256).astype(np.uint8)      # [n, 32, 32, 3]
X = np.ascontiguousarray(np.transpose(img, (1, 2, 3, 0)))            # [32, 32, 3, n], as SVHN
y = np.array([[10.0], [4.0], [1.0]])
scipy.io.savemat(sys.argv[1] + '/train_32x32.mat', {'X': X, 'y': y})
scipy.io.savemat(sys.argv[1] + '/test_32x32.mat', {'X': X, 'y': y.astype(np.uint8)}, do_compression=True)
`;
    const r = spawnSync('/usr/bin/python3', ['-c', py, dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const ds = await loadDataset(`svhn:${dir}`);
    for (const split of [ds.train, ds.test]) {
      expect(Array.from(split.labels!)).toEqual([0, 4, 1]);
      for (const k of [0, 2]) for (const [hh, ww] of [[0, 1], [1, 0], [30, 7]] as const) for (let cc = 0; cc < 3; cc++) {
        expect(split.x[at(k, hh, ww, cc)]).toBe(Math.fround(value(k, hh, ww, cc) / 255));
      }
    }
  });
});
