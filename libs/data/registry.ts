/**
 * Datasets by name or by path, as the CLI and services name them:
 *   fashion-mnist   IDX files from --data-dir, UAE_DATA_DIR, then
 *                   /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
 *   mnist           MNIST's IDX files (the same four names) from --data-dir (the folder
 *                   or DIR/mnist), then UAE_DATA_DIR/mnist, then /usr/share/datasets/mnist;
 *                   not UAE_DATA_DIR itself, which names the Fashion-MNIST folder
 *   mice-protein    bundled CSV (CC BY 4.0), 80/20 split by seed
 *   idx:DIR         train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-…
 *   csv:FILE        numeric features, label column (default: the last), 80/20 by seed
 *   npy:DIR         x_train.npy, x_test.npy and optional y_train.npy, y_test.npy
 *   cifar10         CIFAR-10 binary version (cifar-10-batches-bin, cifar.ts) from
 *                   --data-dir, then UAE_DATA_DIR (the folder or its parent)
 *   cifar10:DIR     the same from DIR
 *   svhn            SVHN cropped digits (train_32x32.mat, test_32x32.mat, svhn.ts)
 *                   from --data-dir, then UAE_DATA_DIR (the folder or DIR/svhn)
 *   svhn:DIR        the same from DIR
 * with deterministic subsetting (trainSamples, testSamples, seed).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng, STREAM } from '../tensor/rng.js';
import { checkCounts, loadIdxImages, loadIdxLabels } from './idx.js';
import { npyFloat32, npyInt32, readNpy, type NpyArray } from './npy.js';
import { loadMiceProtein, parseCsv, tabularFromCsv } from './csv.js';
import { findCifar10Dir, loadCifar10 } from './cifar.js';
import { findSvhnDir, loadSvhn, SVHN_CLASSES } from './svhn.js';
import type { Kinded } from '../errors/index.js';

export interface DatasetSplit {
  /** n samples × inputShape, row-major, values in [0, 1]. */
  x: Float32Array;
  labels?: Int32Array;
  n: number;
  /**
   * Each sample's row in its source: the data row (0-based, header excluded)
   * of a CSV file, the row of the split's own file (IDX, .npy) otherwise.
   * Absent: sample i is row i. Subsets keep it (see `sourceRows`).
   */
  rows?: Int32Array;
}

/** The samples' rows in the split's source (`DatasetSplit.rows`, or 0…n−1). */
export function sourceRows(split: Pick<DatasetSplit, 'rows' | 'n'>): Int32Array {
  return split.rows ? split.rows.slice() : Int32Array.from({ length: split.n }, (_, i) => i);
}

export interface Dataset {
  name: string;
  /** Where it was read from. */
  source: string;
  /** Per sample, e.g. [28, 28, 1] or [77]. */
  inputShape: number[];
  train: DatasetSplit;
  test: DatasetSplit;
  /** The whole training split when `train` is a subset of it (the paper's post-hoc probe fits on all of it). */
  fullTrain?: DatasetSplit;
  classes?: string[];
}

export interface LoadDatasetOptions {
  dataDir?: string;
  trainSamples?: number;
  testSamples?: number;
  seed?: number;
  /** csv: the label column (default: the last column). */
  labelColumn?: string;
}

export class DatasetNotFoundError extends Error implements Kinded {
  readonly kind = 'not-found' as const;
  constructor(message: string) {
    super(message);
    this.name = 'DatasetNotFoundError';
  }
}

export const FASHION_MNIST_DIRS = ['/usr/share/datasets/fashion-mnist'];
export const MNIST_DIRS = ['/usr/share/datasets/mnist'];

/** Where `mnist` is looked for (see the module comment). */
export function mnistDirs(opts: Pick<LoadDatasetOptions, 'dataDir'>): string[] {
  const env = process.env.UAE_DATA_DIR;
  return [...(opts.dataDir ? [opts.dataDir, join(opts.dataDir, 'mnist')] : []), ...(env ? [join(env, 'mnist')] : []), ...MNIST_DIRS];
}

/**
 * What a named dataset is without loading it: the sample shape and the size
 * of its full training split (for planning, e.g. budgets at submit time).
 * undefined for paths and uploads, whose shape is known once loaded.
 */
export function knownDatasetShape(spec: string): { inputShape: number[]; trainRows: number } | undefined {
  switch (spec.trim()) {
    case 'mice-protein':
      return { inputShape: [77], trainRows: 864 }; // 1080 rows, 80/20
    case 'fashion-mnist':
    case 'mnist':
      return { inputShape: [28, 28, 1], trainRows: 60_000 };
    case 'cifar10':
      return { inputShape: [32, 32, 3], trainRows: 50_000 };
    case 'svhn':
      return { inputShape: [32, 32, 3], trainRows: 73_257 };
    default:
      return undefined;
  }
}

function findIdx(dir: string, stem: string): string | undefined {
  for (const name of [`${stem}.gz`, stem]) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

async function idxDir(dir: string, name: string): Promise<Dataset> {
  const files = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].map((s) => findIdx(dir, s));
  const missing = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].filter((_, i) => !files[i]);
  if (missing.length > 0) throw new DatasetNotFoundError(`${dir}: missing ${missing.map((m) => `${m}[.gz]`).join(', ')}`);
  const [trImg, trLab, teImg, teLab] = await Promise.all([loadIdxImages(files[0]!), loadIdxLabels(files[1]!), loadIdxImages(files[2]!), loadIdxLabels(files[3]!)]);
  checkCounts(trImg.shape[0], trLab.shape[0], files[0], files[1]);
  checkCounts(teImg.shape[0], teLab.shape[0], files[2], files[3]);
  return {
    name,
    source: dir,
    inputShape: trImg.shape.slice(1),
    train: { x: trImg.data, labels: Int32Array.from(trLab.data), n: trImg.shape[0] },
    test: { x: teImg.data, labels: Int32Array.from(teLab.data), n: teImg.shape[0] },
  };
}

/** The arrays of the npy:DIR layout (files or artifacts): x_train, x_test and optional labels. */
export interface NpyDatasetArrays {
  xTrain: NpyArray;
  xTest: NpyArray;
  yTrain?: NpyArray;
  yTest?: NpyArray;
}

/**
 * A dataset from the npy:DIR layout's arrays, validated as npy:DIR is: features
 * float in [0, 1] or uint8 (scaled by 1/255), the same sample shape in both
 * splits, one label per sample. `sources` names each array in error messages.
 */
export function datasetFromNpyArrays(
  name: string,
  source: string,
  a: NpyDatasetArrays,
  sources: { xTrain: string; xTest: string; yTrain?: string; yTest?: string } = { xTrain: 'x_train.npy', xTest: 'x_test.npy', yTrain: 'y_train.npy', yTest: 'y_test.npy' },
): Dataset {
  const asFloat = (arr: NpyArray, path: string) => {
    if (arr.shape.length < 2) throw new Error(`${path}: shape [${arr.shape}] must be [N, ...sample_shape]`);
    const x = npyFloat32(arr);
    if (arr.dtype === 'uint8') for (let i = 0; i < x.length; i++) x[i] = x[i]! / 255;
    for (let i = 0; i < x.length; i++) {
      if (!(x[i]! >= 0 && x[i]! <= 1)) throw new Error(`${path}: element ${i} is ${x[i]}; features must be in [0, 1] (uint8 is scaled by 1/255)`);
    }
    return { x, shape: arr.shape };
  };
  const labels = (arr: NpyArray | undefined, path: string | undefined, n: number) => {
    if (!arr) return undefined;
    if (arr.shape[0] !== n) throw new Error(`${path}: ${arr.shape[0]} labels for ${n} samples`);
    return npyInt32(arr, path ?? 'labels', 'labels');
  };
  const tr = asFloat(a.xTrain, sources.xTrain);
  const te = asFloat(a.xTest, sources.xTest);
  if (tr.shape.slice(1).join() !== te.shape.slice(1).join()) {
    throw new Error(`${source}: x_train sample shape [${tr.shape.slice(1)}] differs from x_test's [${te.shape.slice(1)}]`);
  }
  return {
    name,
    source,
    inputShape: tr.shape.slice(1),
    train: { x: tr.x, labels: labels(a.yTrain, sources.yTrain, tr.shape[0]!), n: tr.shape[0]! },
    test: { x: te.x, labels: labels(a.yTest, sources.yTest, te.shape[0]!), n: te.shape[0]! },
  };
}

async function npyDir(dir: string): Promise<Dataset> {
  const need = (f: string) => {
    const p = join(dir, f);
    if (!existsSync(p)) throw new DatasetNotFoundError(`${dir}: missing ${f} (npy:DIR needs x_train.npy and x_test.npy; y_*.npy optional)`);
    return p;
  };
  const optional = async (f: string) => (existsSync(join(dir, f)) ? readNpy(join(dir, f)) : undefined);
  const paths = { xTrain: need('x_train.npy'), xTest: need('x_test.npy'), yTrain: join(dir, 'y_train.npy'), yTest: join(dir, 'y_test.npy') };
  const arrays: NpyDatasetArrays = { xTrain: await readNpy(paths.xTrain), xTest: await readNpy(paths.xTest) };
  const yTrain = await optional('y_train.npy');
  const yTest = await optional('y_test.npy');
  if (yTrain) arrays.yTrain = yTrain;
  if (yTest) arrays.yTest = yTest;
  return datasetFromNpyArrays(`npy:${dir}`, dir, arrays, paths);
}

/** --data-dir, then UAE_DATA_DIR: where the named image datasets without a system package are looked for. */
function dataDirs(opts: LoadDatasetOptions): string[] {
  return [opts.dataDir, process.env.UAE_DATA_DIR].filter((d): d is string => Boolean(d));
}

/** CIFAR-10 from the first of `dirs` that holds it (the batches folder or its parent). Rows: train = the five batches in order. */
async function cifar10(dirs: string[], name: string): Promise<Dataset> {
  const found = dirs.map((d) => findCifar10Dir(d)).find((d) => d !== undefined);
  if (!found) {
    throw new DatasetNotFoundError(
      `${name}: no CIFAR-10 binary batches (data_batch_1.bin … data_batch_5.bin, test_batch.bin) in ${dirs.map((d) => `${d} or ${join(d, 'cifar-10-batches-bin')}`).join(', ') || 'no folder'}; ` +
        'pass --data-dir DIR or set UAE_DATA_DIR, with cifar-10-binary.tar.gz extracted there',
    );
  }
  const c = await loadCifar10(found);
  return { name, source: found, inputShape: [32, 32, 3], train: c.train, test: c.test, classes: c.classes };
}

/** SVHN cropped digits from the first of `dirs` that holds both files. */
async function svhn(dirs: string[], name: string, explicit?: string): Promise<Dataset> {
  const found = dirs.map((d) => findSvhnDir(d)).find((d) => d !== undefined);
  if (!found) {
    // An explicit DIR with one file of the two: name what is missing there.
    if (explicit) await loadSvhn(explicit).catch((e: Error) => { throw new DatasetNotFoundError(e.message); });
    throw new DatasetNotFoundError(
      `${name}: no train_32x32.mat and test_32x32.mat in ${dirs.map((d) => `${d} or ${join(d, 'svhn')}`).join(', ') || 'no folder'}; pass --data-dir DIR or set UAE_DATA_DIR`,
    );
  }
  const s = await loadSvhn(found);
  return { name, source: found, inputShape: [32, 32, 3], train: s.train, test: s.test, classes: [...SVHN_CLASSES] };
}

/**
 * A seeded subset of `count` samples, kept in their original order; `stream`
 * keeps independent subsets apart (1 train, 2 test, 3 the ExtraTrees probe's rows).
 */
export function subsetSplit(split: DatasetSplit, sampleSize: number, count: number | undefined, seed: number, stream: number): DatasetSplit {
  if (count === undefined || count >= split.n) return split;
  if (!Number.isInteger(count) || count < 1) throw new Error(`sample count must be a positive integer; got ${count}`);
  const idx = Array.from(new Rng(seed, STREAM.shuffle, stream).permutation(split.n).subarray(0, count)).sort((a, b) => a - b);
  const x = new Float32Array(count * sampleSize);
  idx.forEach((i, k) => x.set(split.x.subarray(i * sampleSize, (i + 1) * sampleSize), k * sampleSize));
  return { x, labels: split.labels ? Int32Array.from(idx, (i) => split.labels![i]!) : undefined, n: count, rows: Int32Array.from(idx, (i) => split.rows?.[i] ?? i) };
}

export async function loadDataset(spec: string, opts: LoadDatasetOptions = {}): Promise<Dataset> {
  const seed = opts.seed ?? 0;
  let ds: Dataset;
  if (spec === 'fashion-mnist') {
    const dirs = [opts.dataDir, process.env.UAE_DATA_DIR, ...FASHION_MNIST_DIRS].filter((d): d is string => Boolean(d));
    const dir = dirs.find((d) => findIdx(d, 'train-images-idx3-ubyte'));
    if (!dir) {
      throw new DatasetNotFoundError(
        `fashion-mnist: no IDX files in ${dirs.join(', ')}; pass --data-dir DIR, set UAE_DATA_DIR, or apt-get install dataset-fashion-mnist`,
      );
    }
    ds = await idxDir(dir, 'fashion-mnist');
  } else if (spec === 'mnist') {
    const dirs = mnistDirs(opts);
    const dir = dirs.find((d) => findIdx(d, 'train-images-idx3-ubyte'));
    if (!dir) throw new DatasetNotFoundError(`mnist: no IDX files (train-images-idx3-ubyte[.gz] …) in ${dirs.join(', ')}; pass --data-dir DIR or put them in $UAE_DATA_DIR/mnist`);
    ds = await idxDir(dir, 'mnist');
  } else if (spec === 'mice-protein') {
    const t = await loadMiceProtein(seed);
    ds = { name: 'mice-protein', source: 'bundled', inputShape: [t.d], train: t.train, test: t.test, classes: t.classes };
  } else if (spec.startsWith('idx:')) {
    ds = await idxDir(spec.slice(4), spec);
  } else if (spec.startsWith('npy:')) {
    ds = await npyDir(spec.slice(4));
  } else if (spec === 'cifar10') {
    ds = await cifar10(dataDirs(opts), 'cifar10');
  } else if (spec.startsWith('cifar10:')) {
    ds = await cifar10([spec.slice(8)], spec);
  } else if (spec === 'svhn') {
    ds = await svhn(dataDirs(opts), 'svhn');
  } else if (spec.startsWith('svhn:')) {
    ds = await svhn([spec.slice(5)], spec, spec.slice(5));
  } else if (spec.startsWith('csv:')) {
    const file = spec.slice(4);
    if (!existsSync(file)) throw new DatasetNotFoundError(`${file}: no such file`);
    const text = await readFile(file, 'utf8');
    const labelColumn = opts.labelColumn ?? parseCsv(text, file).header.at(-1)!;
    const t = tabularFromCsv(text, { labelColumn, seed }, file);
    ds = { name: spec, source: file, inputShape: [t.d], train: t.train, test: t.test, classes: t.classes };
  } else {
    throw new DatasetNotFoundError(`unknown dataset "${spec}": use fashion-mnist, mnist, mice-protein, cifar10, svhn, idx:DIR, csv:FILE, npy:DIR, cifar10:DIR or svhn:DIR`);
  }
  return subsetDataset(ds, opts);
}

/**
 * The deterministic subsets loadDataset applies (trainSamples / testSamples,
 * seeded, original order kept), for datasets built elsewhere (e.g. from artifacts).
 */
export function subsetDataset(ds: Dataset, opts: Pick<LoadDatasetOptions, 'trainSamples' | 'testSamples' | 'seed'> = {}): Dataset {
  const seed = opts.seed ?? 0;
  const size = ds.inputShape.reduce((a, b) => a * b, 1);
  const train = subsetSplit(ds.train, size, opts.trainSamples, seed, 1);
  return { ...ds, train, test: subsetSplit(ds.test, size, opts.testSamples, seed, 2), ...(train !== ds.train ? { fullTrain: ds.fullTrain ?? ds.train } : {}) };
}
