/**
 * NumPy .npy files (format versions 1.0–3.0), so a Python user can load what we
 * write (x′ of an attack, datasets) and hand us arrays: little-endian float32,
 * float64, int32 and uint8, C order.
 */
import { readFile, writeFile } from 'node:fs/promises';

export type NpyDtype = 'float32' | 'float64' | 'int32' | 'uint8';
export type NpyData = Float32Array | Float64Array | Int32Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

export class NpyFormatError extends Error {
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'NpyFormatError';
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCR: Record<string, NpyDtype> = { '<f4': 'float32', '<f8': 'float64', '<i4': 'int32', '|u1': 'uint8', '<u1': 'uint8', '|i1': 'uint8' };
const DESCR_OF: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int32: '<i4', uint8: '|u1' };
const BYTES: Record<NpyDtype, number> = { float32: 4, float64: 8, int32: 4, uint8: 1 };

function dtypeOf(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return 'uint8';
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
  const dtype = DESCR[header.descr];
  if (!dtype) {
    throw new NpyFormatError(source, `dtype '${header.descr}' is not supported (little-endian float32, float64, int32 or uint8)`);
  }
  if (header.fortran) throw new NpyFormatError(source, 'Fortran-order arrays are not supported; save with C order (np.ascontiguousarray)');
  const count = header.shape.reduce((a, b) => a * b, 1);
  const byteLength = count * BYTES[dtype];
  if (bytes.length - dataStart < byteLength) {
    throw new NpyFormatError(source, `truncated data: shape (${header.shape.join(', ')}) needs ${byteLength} bytes, file has ${bytes.length - dataStart}`);
  }
  // Copy into an aligned buffer of exactly the data (the header length need not keep alignment).
  const raw = bytes.slice(dataStart, dataStart + byteLength).buffer;
  const data = dtype === 'float32' ? new Float32Array(raw) : dtype === 'float64' ? new Float64Array(raw) : dtype === 'int32' ? new Int32Array(raw) : new Uint8Array(raw);
  return { dtype, shape: header.shape, data };
}

export function encodeNpy(shape: readonly number[], data: NpyData): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`shape (${shape.join(', ')}) has ${count} elements, data has ${data.length}`);
  const dtype = dtypeOf(data);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${DESCR_OF[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
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

export async function writeNpy(path: string, shape: readonly number[], data: NpyData): Promise<void> {
  await writeFile(path, encodeNpy(shape, data));
}
