/**
 * CIFAR-10, the "binary version" (cifar-10-binary.tar.gz, extracted):
 * `cifar-10-batches-bin/` holds data_batch_1.bin … data_batch_5.bin (train,
 * 10 000 records each) and test_batch.bin. A record is 3073 bytes: one label
 * byte 0–9, then 1024 red, 1024 green and 1024 blue bytes, each plane 32×32
 * row-major (CHW). We return HWC ([32, 32, 3]), as the conv AE reads images,
 * scaled to [0, 1] by 1/255. Class names come from batches.meta.txt.
 *
 * The tarball itself is not read (no tar reader in the dependencies; one
 * `tar xzf` is cheaper than another dependency), nor the "python version"
 * (pickles): both are detected and named in the error, with what to do.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Kinded } from '../errors/index.js';

export const CIFAR10_SIDE = 32;
const PLANE = CIFAR10_SIDE * CIFAR10_SIDE;
export const CIFAR10_RECORD = 1 + 3 * PLANE;
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILE = 'test_batch.bin';
/**
 * The official names in label order, as batches.meta.txt lists them; used
 * only when that file is absent (it is in every official archive).
 */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export class CifarFormatError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'CifarFormatError';
  }
}

export interface CifarSplit {
  /** n × 32 × 32 × 3, HWC, in [0, 1]. */
  x: Float32Array;
  labels: Int32Array;
  n: number;
}

/** Parses whole records of one batch file; `source` names it in errors. */
export function parseCifarBatch(bytes: Uint8Array, source = 'CIFAR-10 batch'): CifarSplit {
  if (bytes.length === 0) throw new CifarFormatError(source, 'empty file; a CIFAR-10 batch holds 3073-byte records');
  if (bytes.length % CIFAR10_RECORD !== 0) {
    const whole = Math.floor(bytes.length / CIFAR10_RECORD);
    throw new CifarFormatError(
      source,
      `truncated or not a CIFAR-10 binary batch: ${bytes.length} bytes is not a whole number of ${CIFAR10_RECORD}-byte records ` +
        `(${whole} records and ${bytes.length - whole * CIFAR10_RECORD} bytes left over)`,
    );
  }
  const n = bytes.length / CIFAR10_RECORD;
  const x = new Float32Array(n * 3 * PLANE);
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    const at = r * CIFAR10_RECORD;
    const label = bytes[at]!;
    if (label > 9) throw new CifarFormatError(source, `record ${r}: label byte ${label} is not 0–9 (CIFAR-100's layout has two label bytes)`);
    labels[r] = label;
    const out = r * 3 * PLANE;
    // CHW planes → HWC: pixel p of channel c goes to out + 3p + c.
    for (let c = 0; c < 3; c++) {
      const plane = at + 1 + c * PLANE;
      for (let p = 0; p < PLANE; p++) x[out + 3 * p + c] = bytes[plane + p]! / 255;
    }
  }
  return { x, labels, n };
}

export async function readCifarBatch(path: string): Promise<CifarSplit> {
  return parseCifarBatch(new Uint8Array(await readFile(path)), path);
}

function concat(parts: CifarSplit[]): CifarSplit {
  const n = parts.reduce((a, p) => a + p.n, 0);
  const x = new Float32Array(n * 3 * PLANE);
  const labels = new Int32Array(n);
  let k = 0;
  for (const p of parts) {
    x.set(p.x, k * 3 * PLANE);
    labels.set(p.labels, k);
    k += p.n;
  }
  return { x, labels, n };
}

/**
 * The folder holding the batches: `dir` itself or `dir/cifar-10-batches-bin`;
 * undefined when neither has data_batch_1.bin. Throws for the layouts we
 * recognise but do not read (tarball, python pickles), so the user learns why.
 */
export function findCifar10Dir(dir: string): string | undefined {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) if (existsSync(join(d, CIFAR10_TRAIN_FILES[0]!))) return d;
  if (existsSync(join(dir, 'cifar-10-batches-py')) || existsSync(join(dir, 'data_batch_1'))) {
    throw new CifarFormatError(dir, 'holds the CIFAR-10 python version (pickles), which is not read; use the binary version, cifar-10-binary.tar.gz (extract it, giving cifar-10-batches-bin/)');
  }
  for (const tgz of ['cifar-10-binary.tar.gz', 'cifar-10-python.tar.gz']) {
    if (existsSync(join(dir, tgz))) {
      throw new CifarFormatError(join(dir, tgz), `archives are not read; extract it first (tar xzf ${tgz} -C ${dir})${tgz.includes('python') ? ' — and use the binary version, cifar-10-binary.tar.gz' : ''}`);
    }
  }
  return undefined;
}

export interface Cifar10 {
  dir: string;
  train: CifarSplit;
  test: CifarSplit;
  classes: string[];
  /** 'batches.meta.txt', or 'builtin' when it was absent. */
  classesFrom: string;
}

/** Reads cifar-10-batches-bin (`dir` found by findCifar10Dir); every file must be there. */
export async function loadCifar10(dir: string): Promise<Cifar10> {
  const missing = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) throw new CifarFormatError(dir, `missing ${missing.join(', ')} (cifar-10-batches-bin has data_batch_1.bin … data_batch_5.bin and test_batch.bin)`);
  const train = concat(await Promise.all(CIFAR10_TRAIN_FILES.map((f) => readCifarBatch(join(dir, f)))));
  const test = await readCifarBatch(join(dir, CIFAR10_TEST_FILE));
  const meta = join(dir, 'batches.meta.txt');
  if (!existsSync(meta)) return { dir, train, test, classes: [...CIFAR10_CLASSES], classesFrom: 'builtin' };
  const names = (await readFile(meta, 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== 10) throw new CifarFormatError(meta, `${names.length} class names; CIFAR-10 has 10 (one per line)`);
  return { dir, train, test, classes: names, classesFrom: basename(meta) };
}
