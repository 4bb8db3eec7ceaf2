/**
 * IDX files (the MNIST / Fashion-MNIST container format), read and written.
 *
 * Layout: a 4-byte big-endian magic `0x00 0x00 <type> <rank>`, then `rank`
 * big-endian uint32 dimensions, then the elements row-major. Only the unsigned
 * byte type (0x08) is supported: images are magic 0x00000803 ([N, H, W]),
 * labels 0x00000801 ([N]). Files whose first two bytes are the gzip magic
 * (0x1f 0x8b) are gunzipped transparently; a path ending in `.gz` must be gzip.
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { gunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { Kinded } from '../errors/index.js';

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

/** An IDX array of unsigned bytes. `data.length` is the product of `shape`. */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Images scaled to [0, 1], NHWC with one channel. */
export interface IdxImages {
  /** [N, H, W, 1] */
  shape: [number, number, number, number];
  data: Float32Array;
}

export interface IdxLabels {
  /** [N] */
  shape: [number];
  data: Uint8Array;
}

export class IdxFormatError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'IdxFormatError';
  }
}

const UBYTE = 0x08;
const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parse an (uncompressed) IDX buffer. `source` only names the data in errors.
 * The returned `data` is a view into `bytes` (no copy).
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  if (bytes.length < 4) {
    throw new IdxFormatError(source, `truncated: ${bytes.length} bytes, too short for the 4-byte IDX magic`);
  }
  const magic = ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxFormatError(
      source,
      `wrong magic 0x${magic.toString(16).padStart(8, '0')}: an IDX file starts with two zero bytes ` +
        `(0x00000803 for images, 0x00000801 for labels)`,
    );
  }
  const type = bytes[2]!;
  const rank = bytes[3]!;
  if (type !== UBYTE) {
    const name = TYPE_NAMES[type];
    throw new IdxFormatError(
      source,
      name
        ? `unsupported IDX element type 0x${type.toString(16).padStart(2, '0')} (${name}); only unsigned byte (0x08) is supported`
        : `wrong magic 0x${magic.toString(16).padStart(8, '0')}: unknown IDX element type 0x${type.toString(16).padStart(2, '0')}`,
    );
  }
  if (rank === 0) throw new IdxFormatError(source, 'IDX rank 0 is not supported');
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new IdxFormatError(
      source,
      `truncated header: rank ${rank} needs ${headerBytes} header bytes, file has ${bytes.length}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let size = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    shape.push(d);
    size *= d;
  }
  const expected = headerBytes + size;
  if (bytes.length < expected) {
    throw new IdxFormatError(
      source,
      `truncated: shape [${shape.join(', ')}] needs ${size} data bytes, file has ${bytes.length - headerBytes}`,
    );
  }
  if (bytes.length > expected) {
    throw new IdxFormatError(
      source,
      `${bytes.length - expected} unexpected bytes after the data of shape [${shape.join(', ')}]`,
    );
  }
  return { shape, data: bytes.subarray(headerBytes, expected) };
}

/** Encode an unsigned-byte IDX buffer (uncompressed). */
export function encodeIdx(arr: IdxArray): Uint8Array {
  const { shape, data } = arr;
  if (shape.length < 1 || shape.length > 255) throw new Error(`IDX rank must be 1..255, got ${shape.length}`);
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new Error(`invalid IDX dimension ${d}`);
    size *= d;
  }
  if (data.length !== size) {
    throw new Error(`IDX data has ${data.length} elements, shape [${shape.join(', ')}] needs ${size}`);
  }
  const headerBytes = 4 + 4 * shape.length;
  const out = new Uint8Array(headerBytes + size);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, headerBytes);
  return out;
}

/** Read an IDX file, gunzipping it when it is gzip-compressed. */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array = await readFile(path);
  if (isGzip(bytes)) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (e) {
      throw new IdxFormatError(path, `corrupt or truncated gzip stream (${(e as Error).message})`);
    }
  } else if (path.endsWith('.gz')) {
    throw new IdxFormatError(path, 'name ends in .gz but the file is not gzip-compressed');
  }
  return parseIdx(bytes, path);
}

/** Write an IDX file; gzip-compressed (level 9) when `path` ends in `.gz`. */
export async function writeIdx(path: string, arr: IdxArray): Promise<void> {
  let bytes = encodeIdx(arr);
  if (path.endsWith('.gz')) bytes = await gzipAsync(bytes, { level: 9 });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

function firstN(arr: IdxArray, limit: number | undefined): IdxArray {
  if (limit === undefined || limit >= arr.shape[0]!) return arr;
  if (!Number.isInteger(limit) || limit < 0) throw new Error(`limit must be a non-negative integer, got ${limit}`);
  const per = arr.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [limit, ...arr.shape.slice(1)], data: arr.data.subarray(0, limit * per) };
}

/** Read raw images: an IDX file of rank 3 ([N, H, W]). */
export async function readIdxImagesRaw(path: string, opts: { limit?: number } = {}): Promise<IdxArray> {
  const arr = await readIdx(path);
  if (arr.shape.length !== 3) {
    throw new IdxFormatError(
      path,
      `expected an image file (magic 0x00000803, rank 3 [N, H, W]); got rank ${arr.shape.length} [${arr.shape.join(', ')}]`,
    );
  }
  return firstN(arr, opts.limit);
}

/** Images as float32 in [0, 1] (byte / 255), shape [N, H, W, 1]. `limit` keeps the first rows. */
export async function loadIdxImages(path: string, opts: { limit?: number } = {}): Promise<IdxImages> {
  const raw = await readIdxImagesRaw(path, opts);
  const [n, h, w] = raw.shape as [number, number, number];
  const data = new Float32Array(raw.data.length);
  for (let i = 0; i < data.length; i++) data[i] = raw.data[i]! / 255;
  return { shape: [n, h, w, 1], data };
}

/** Labels: an IDX file of rank 1 ([N]). `limit` keeps the first rows. */
export async function loadIdxLabels(path: string, opts: { limit?: number } = {}): Promise<IdxLabels> {
  const arr = await readIdx(path);
  if (arr.shape.length !== 1) {
    throw new IdxFormatError(
      path,
      `expected a label file (magic 0x00000801, rank 1 [N]); got rank ${arr.shape.length} [${arr.shape.join(', ')}]`,
    );
  }
  const lim = firstN(arr, opts.limit);
  return { shape: [lim.shape[0]!], data: lim.data };
}

/** Images and their labels; an error when the two files hold different counts. */
export async function loadIdxDataset(
  imagesPath: string,
  labelsPath: string,
  opts: { limit?: number } = {},
): Promise<{ images: IdxImages; labels: IdxLabels }> {
  const [images, labels] = await Promise.all([loadIdxImages(imagesPath), loadIdxLabels(labelsPath)]);
  checkCounts(images.shape[0], labels.shape[0], imagesPath, labelsPath);
  if (opts.limit === undefined || opts.limit >= images.shape[0]) return { images, labels };
  const n = opts.limit;
  if (!Number.isInteger(n) || n < 0) throw new Error(`limit must be a non-negative integer, got ${n}`);
  const per = images.shape[1] * images.shape[2];
  return {
    images: { shape: [n, images.shape[1], images.shape[2], 1], data: images.data.subarray(0, n * per) },
    labels: { shape: [n], data: labels.data.subarray(0, n) },
  };
}

/** Throws when image and label counts differ. */
export function checkCounts(nImages: number, nLabels: number, imagesPath = 'images', labelsPath = 'labels'): void {
  if (nImages !== nLabels) {
    throw new IdxFormatError(
      `${imagesPath} / ${labelsPath}`,
      `image/label count mismatch: ${nImages} images but ${nLabels} labels`,
    );
  }
}
