/**
 * NumPy .npy files (format versions 1.0–3.0), so a Python user can load what we
 * write (x′ of an attack, datasets) and hand us arrays. Reads the dtypes numpy
 * writes for numeric arrays — float32/64, int8/16/32/64, uint8/16/32/64, bool —
 * in either byte order and in C or Fortran order; the result is always native
 * (little-endian) and C order. int64/uint64 come back as BigInt64Array /
 * BigUint64Array (exact); `npyFloat32` and `npyInt32` convert for the callers
 * that need numbers, the latter with a range and integrality check.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Kinded } from '../errors/index.js';

export type NpyDtype = 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';
export type NpyData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export interface NpyArray {
  dtype: NpyDtype;
  /** C order (a Fortran-order file is transposed on reading). */
  shape: number[];
  /** Native byte order; `bool` is a Uint8Array of 0 and 1. */
  data: NpyData;
}

export class NpyFormatError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'NpyFormatError';
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** numpy's type character and item size per dtype ('b1' is bool, 'i1' int8, …). */
const CODE: Record<NpyDtype, string> = {
  float32: 'f4',
  float64: 'f8',
  int8: 'i1',
  int16: 'i2',
  int32: 'i4',
  int64: 'i8',
  uint8: 'u1',
  uint16: 'u2',
  uint32: 'u4',
  uint64: 'u8',
  bool: 'b1',
};
const DTYPE_OF_CODE = new Map(Object.entries(CODE).map(([dtype, code]) => [code, dtype as NpyDtype]));
const SUPPORTED = 'float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64 or bool';

function bytesOf(dtype: NpyDtype): number {
  return Number(CODE[dtype].slice(1));
}

/** The typed array each dtype reads into (bool as bytes 0/1). */
const ARRAY_OF = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as const satisfies Record<NpyDtype, new (buffer: ArrayBuffer) => NpyData>;

/** A typed array of `dtype` over `buffer` (which must be a fresh, aligned copy). */
function typedArray(dtype: NpyDtype, buffer: ArrayBuffer): NpyData {
  return new ARRAY_OF[dtype](buffer);
}

/** The dtype a typed array is written as (Uint8Array as uint8; bool is asked for explicitly). */
function dtypeOf(data: NpyData): NpyDtype {
  for (const [dtype, ctor] of Object.entries(ARRAY_OF) as [NpyDtype, (typeof ARRAY_OF)[NpyDtype]][]) {
    if (data instanceof ctor) return dtype;
  }
  return 'uint8';
}

/** '<f4', '>i8', '|u1', '|b1', '=f8' → dtype and whether the data are big-endian. */
function parseDescr(descr: string, source: string): { dtype: NpyDtype; bigEndian: boolean } {
  const m = /^([<>|=])([a-zA-Z]\d+)$/.exec(descr);
  const dtype = m ? DTYPE_OF_CODE.get(m[2]!) : undefined;
  if (!m || !dtype) throw new NpyFormatError(source, `dtype '${descr}' is not supported (${SUPPORTED})`);
  if (m[1] === '|' && bytesOf(dtype) > 1) throw new NpyFormatError(source, `dtype '${descr}' has no byte order for a ${bytesOf(dtype)}-byte type`);
  return { dtype, bigEndian: m[1] === '>' };
}

/** Parses the header dict, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }. */
function parseHeader(text: string, source: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyFormatError(source, `unreadable header ${JSON.stringify(text.trim())}`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(v) || v < 0) throw new NpyFormatError(source, `bad dimension "${s}" in shape (${shapeText})`);
      return v;
    });
  return { descr, fortran: fortran === 'True', shape };
}

/** Reverses the bytes of each `size`-byte item in place (big-endian → little-endian). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** Same-size unsigned views for moving items of 1, 2, 4 or 8 bytes (bit patterns kept, NaN payloads too). */
function itemView(buffer: ArrayBuffer, size: number): Uint8Array | Uint16Array | Uint32Array | BigUint64Array {
  return size === 1 ? new Uint8Array(buffer) : size === 2 ? new Uint16Array(buffer) : size === 4 ? new Uint32Array(buffer) : new BigUint64Array(buffer);
}

/** The items of a Fortran-order (first axis fastest) buffer rearranged into C order. */
function fortranToC(bytes: Uint8Array<ArrayBuffer>, shape: readonly number[], size: number): Uint8Array<ArrayBuffer> {
  const rank = shape.length;
  const count = shape.reduce((a, b) => a * b, 1);
  if (rank < 2 || count === 0) return bytes;
  const stride = new Array<number>(rank);
  stride[0] = 1;
  for (let j = 1; j < rank; j++) stride[j] = stride[j - 1]! * shape[j - 1]!;
  const out = new Uint8Array(bytes.length);
  const src = itemView(bytes.buffer, size);
  const dst = itemView(out.buffer, size);
  const index = new Array<number>(rank).fill(0);
  let from = 0;
  for (let c = 0; c < count; c++) {
    dst[c] = src[from]!;
    // Advance the C-order multi-index (last axis fastest), keeping the Fortran offset.
    for (let j = rank - 1; j >= 0; j--) {
      index[j]!++;
      from += stride[j]!;
      if (index[j]! < shape[j]!) break;
      from -= index[j]! * stride[j]!;
      index[j] = 0;
    }
  }
  return out;
}

export function parseNpy(bytes: Uint8Array, source = 'npy'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new NpyFormatError(source, 'not a .npy file (bad magic)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new NpyFormatError(source, `unsupported .npy version ${major}.${bytes[7]}`);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) throw new NpyFormatError(source, `truncated header (${bytes.length} bytes; a version ${major} file needs at least ${headerStart})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) throw new NpyFormatError(source, `truncated header (${bytes.length} bytes, header ends at ${dataStart})`);
  const header = parseHeader(new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart)), source);
  const { dtype, bigEndian } = parseDescr(header.descr, source);
  const size = bytesOf(dtype);
  const count = header.shape.reduce((a, b) => a * b, 1);
  const byteLength = count * size;
  if (bytes.length - dataStart < byteLength) {
    throw new NpyFormatError(source, `truncated data: shape (${header.shape.join(', ')}) needs ${byteLength} bytes, file has ${bytes.length - dataStart}`);
  }
  // Copy into an aligned buffer of exactly the data (the header length need not keep alignment).
  let raw = bytes.slice(dataStart, dataStart + byteLength);
  if (bigEndian && size > 1) swapBytes(raw, size);
  if (header.fortran) raw = fortranToC(raw, header.shape, size);
  const data = typedArray(dtype, raw.buffer);
  if (dtype === 'bool') {
    const bad = (data as Uint8Array).findIndex((v) => v > 1);
    if (bad >= 0) throw new NpyFormatError(source, `bool element ${bad} is ${data[bad]}; numpy writes bools as 0 or 1`);
  }
  return { dtype, shape: header.shape, data };
}

/** The values as float32 (int64/uint64 through Number; bool as 0/1). */
export function npyFloat32(arr: Pick<NpyArray, 'data'>): Float32Array {
  const d = arr.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float32Array.from(d, (v) => Number(v));
  return Float32Array.from(d);
}

/**
 * The values as int32 for uses that need integers (labels, row indices):
 * any numeric dtype, but every value must be an integer within int32, else an
 * NpyFormatError naming `source` and what the values are (`what`).
 */
export function npyInt32(arr: Pick<NpyArray, 'data'>, source: string, what = 'values'): Int32Array {
  const d = arr.data;
  if (d instanceof Int32Array) return d.slice();
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    const n = typeof v === 'bigint' ? (v >= -(2n ** 31n) && v < 2n ** 31n ? Number(v) : NaN) : v;
    if (!Number.isInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) {
      throw new NpyFormatError(source, `${what} must be integers in the int32 range; element ${i} is ${String(v)}`);
    }
    out[i] = n;
  }
  return out;
}

/**
 * The .npy bytes of `data` in C order, little-endian, format 1.0 as numpy
 * writes it. `dtype: 'bool'` writes a Uint8Array of 0/1 as numpy's bool ('|b1').
 */
export function encodeNpy(shape: readonly number[], data: NpyData, opts: { dtype?: 'bool' } = {}): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`shape (${shape.join(', ')}) has ${count} elements, data has ${data.length}`);
  let dtype = dtypeOf(data);
  if (opts.dtype === 'bool') {
    if (dtype !== 'uint8') throw new Error(`a bool .npy takes a Uint8Array of 0 and 1, not ${data.constructor.name}`);
    const bad = (data as Uint8Array).findIndex((v) => v > 1);
    if (bad >= 0) throw new Error(`a bool .npy takes 0 and 1; element ${bad} is ${data[bad]}`);
    dtype = 'bool';
  }
  const order = bytesOf(dtype) === 1 ? '|' : '<';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${order}${CODE[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // numpy pads the header with spaces and a newline so the data starts on a 64-byte boundary.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new Error('npy header too long for format 1.0');
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(new Uint8Array(await readFile(path)), path);
}

export async function writeNpy(path: string, shape: readonly number[], data: NpyData, opts: { dtype?: 'bool' } = {}): Promise<void> {
  await writeFile(path, encodeNpy(shape, data, opts));
}
