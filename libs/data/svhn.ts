/**
 * SVHN, the cropped digits (format 2): train_32x32.mat and test_32x32.mat,
 * MATLAB v5 files with `X` uint8 [32, 32, 3, N] (MATLAB's column-major order:
 * row fastest, then column, channel, sample) and `y` [N, 1] (double in the
 * official files) with labels 1–10, where 10 is the digit 0. We return HWC
 * [32, 32, 3] in [0, 1] (byte / 255) and labels 0–9 (10 → 0), so a label is
 * the digit. extra_32x32.mat is not read (the paper's setting uses train/test).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MatFormatError, readMat } from './mat.js';

export const SVHN_FILES = { train: 'train_32x32.mat', test: 'test_32x32.mat' } as const;
export const SVHN_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const SIDE = 32;

export interface SvhnSplit {
  /** n × 32 × 32 × 3, HWC, in [0, 1]. */
  x: Float32Array;
  labels: Int32Array;
  n: number;
}

/** One cropped-digits .mat file. */
export async function readSvhnMat(path: string): Promise<SvhnSplit> {
  const vars = await readMat(path);
  const X = vars.get('X');
  const y = vars.get('y');
  if (!X || !y) {
    const names = [...vars.keys()].join(', ') || 'none';
    throw new MatFormatError(path, `expected variables X and y (SVHN cropped digits, *_32x32.mat); found ${names}`);
  }
  if (!X.array || X.className !== 'uint8') throw new MatFormatError(path, `variable X is ${X.className}; SVHN's X is uint8 [32, 32, 3, N]`);
  if (!y.array) throw new MatFormatError(path, `variable y is ${y.className}; SVHN's y is numeric [N, 1]`);
  const d = X.array.dims;
  if (d.length !== 4 || d[0] !== SIDE || d[1] !== SIDE || d[2] !== 3) {
    throw new MatFormatError(path, `variable X has dimensions [${d.join(', ')}]; SVHN's X is [32, 32, 3, N]`);
  }
  const n = d[3]!;
  const yd = y.array.dims;
  if (y.array.data.length !== n || yd.filter((k) => k !== 1).length > 1) {
    throw new MatFormatError(path, `variable y has dimensions [${yd.join(', ')}]; expected [${n}, 1], one label per image of X`);
  }
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = y.array.data[i]!;
    if (!Number.isInteger(v) || v < 1 || v > 10) throw new MatFormatError(path, `y(${i + 1}) is ${v}; SVHN labels are 1–10 (10 is the digit 0)`);
    labels[i] = v % 10;
  }
  const src = X.array.data;
  const plane = SIDE * SIDE;
  const x = new Float32Array(n * 3 * plane);
  // MATLAB X(h, w, c, k) sits at h + 32w + 1024c + 3072k (0-based); HWC puts it at 3072k + 3(32h + w) + c.
  for (let k = 0; k < n; k++) {
    for (let c = 0; c < 3; c++) {
      for (let w = 0; w < SIDE; w++) {
        const from = k * 3 * plane + c * plane + w * SIDE;
        for (let h = 0; h < SIDE; h++) x[k * 3 * plane + 3 * (h * SIDE + w) + c] = src[from + h]! / 255;
      }
    }
  }
  return { x, labels, n };
}

/** The folder holding both files: `dir` itself or `dir/svhn`; undefined when neither has them. */
export function findSvhnDir(dir: string): string | undefined {
  return [dir, join(dir, 'svhn')].find((d) => existsSync(join(d, SVHN_FILES.train)) && existsSync(join(d, SVHN_FILES.test)));
}

export async function loadSvhn(dir: string): Promise<{ train: SvhnSplit; test: SvhnSplit }> {
  const missing = Object.values(SVHN_FILES).filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) throw new MatFormatError(dir, `missing ${missing.join(', ')} (SVHN cropped digits: train_32x32.mat and test_32x32.mat)`);
  const [train, test] = await Promise.all([readSvhnMat(join(dir, SVHN_FILES.train)), readSvhnMat(join(dir, SVHN_FILES.test))]);
  return { train, test };
}
