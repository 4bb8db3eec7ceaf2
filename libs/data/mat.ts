/**
 * MATLAB v5 .mat files, read for exactly what SVHN's cropped digits use: real
 * numeric matrices (miMATRIX of a numeric class) at the top level, stored
 * plain or zlib-compressed (miCOMPRESSED, as MATLAB and scipy's
 * do_compression write). Little- and big-endian files are read. Anything else
 * (cells, structs, sparse, complex, v7.3/HDF5 files) is refused by name.
 * Written here rather than taken from npm: mat-for-js, the one maintained
 * candidate, is GPL-3.0 (docs/file-formats.md).
 *
 * Layout: a 128-byte header (text, subsystem offset, version 0x0100, endian
 * "IM"), then data elements: an 8-byte tag (type, byte count) — or a 4-byte
 * "small element" tag with up to 4 bytes of data — and the data padded to 8.
 */
import { readFile } from 'node:fs/promises';
import { inflateSync } from 'node:zlib';
import type { Kinded } from '../errors/index.js';

export class MatFormatError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'MatFormatError';
  }
}

/** A real numeric matrix, elements in MATLAB's column-major order. */
export interface MatArray {
  /** MATLAB class: 'uint8', 'double', … */
  className: string;
  /** MATLAB dimensions, e.g. [32, 32, 3, N]. */
  dims: number[];
  /** Column-major (first dimension fastest), as numbers. */
  data: Float64Array | Uint8Array;
}

const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15 } as const;
const SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8 };
const CLASS_NAMES: Record<number, string> = {
  1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse', 6: 'double', 7: 'single',
  8: 'int8', 9: 'uint8', 10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64',
};
/** MATLAB array classes (mxCLASS) read as numbers: double … uint32. */
const MX_NUMERIC = { DOUBLE: 6, SINGLE: 7, INT8: 8, UINT8: 9, INT16: 10, UINT16: 11, INT32: 12, UINT32: 13 } as const;
const NUMERIC_CLASSES: ReadonlySet<number> = new Set(Object.values(MX_NUMERIC));

interface Element {
  type: number;
  data: Uint8Array;
  /** Offset just past the element (padding included). */
  end: number;
}

class Reader {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly little: boolean,
    readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u32(at: number): number {
    return this.view.getUint32(at, this.little);
  }

  /** The element whose tag starts at `at`; `what` names it (and where it is) in errors. */
  element(at: number, what: string): Element {
    if (at + 8 > this.bytes.length) throw new MatFormatError(this.source, `truncated: ${what}: its tag runs past the end (${this.bytes.length} bytes)`);
    const first = this.u32(at);
    const small = first >>> 16;
    if (small !== 0) {
      // Small data element: byte count in the upper half, data in the next 4 bytes.
      const type = first & 0xffff;
      if (small > 4) throw new MatFormatError(this.source, `corrupt ${what}: small element of ${small} bytes`);
      return { type, data: this.bytes.subarray(at + 4, at + 4 + small), end: at + 8 };
    }
    const n = this.u32(at + 4);
    const start = at + 8;
    if (start + n > this.bytes.length) {
      throw new MatFormatError(this.source, `truncated: ${what} declares ${n} bytes, ${this.bytes.length - start} remain`);
    }
    // Compressed elements are not padded; the others are, to 8 bytes.
    const end = first === MI.COMPRESSED ? start + n : Math.min(this.bytes.length, start + Math.ceil(n / 8) * 8);
    return { type: first, data: this.bytes.subarray(start, start + n), end };
  }

  /** A numeric element's values as numbers (the stored type may be narrower than the class). */
  numbers(el: Element, what: string): Float64Array | Uint8Array {
    if (el.type === MI.UINT8) return el.data;
    const size = SIZE[el.type];
    if (size === undefined) throw new MatFormatError(this.source, `${what}: data type ${el.type} is not a numeric type`);
    if (el.data.length % size !== 0) throw new MatFormatError(this.source, `${what}: ${el.data.length} bytes is not a whole number of ${size}-byte items`);
    const v = new DataView(el.data.buffer, el.data.byteOffset, el.data.byteLength);
    const out = new Float64Array(el.data.length / size);
    const get: (i: number) => number = {
      [MI.INT8]: (i: number) => v.getInt8(i),
      [MI.INT16]: (i: number) => v.getInt16(i * 2, this.little),
      [MI.UINT16]: (i: number) => v.getUint16(i * 2, this.little),
      [MI.INT32]: (i: number) => v.getInt32(i * 4, this.little),
      [MI.UINT32]: (i: number) => v.getUint32(i * 4, this.little),
      [MI.SINGLE]: (i: number) => v.getFloat32(i * 4, this.little),
      [MI.DOUBLE]: (i: number) => v.getFloat64(i * 8, this.little),
      [MI.INT64]: (i: number) => Number(v.getBigInt64(i * 8, this.little)),
      [MI.UINT64]: (i: number) => Number(v.getBigUint64(i * 8, this.little)),
    }[el.type]!;
    for (let i = 0; i < out.length; i++) out[i] = get(i);
    return out;
  }
}

/** Parses one miMATRIX element's contents into its name and (when numeric) array. */
function parseMatrix(r: Reader, body: Uint8Array, at: number): { name: string; array?: MatArray; className: string } {
  const m = new Reader(body, r.little, r.source);
  const flags = m.element(0, `variable at byte ${at}: array flags`);
  if (flags.type !== MI.UINT32 || flags.data.length < 8) throw new MatFormatError(r.source, `corrupt variable at byte ${at}: bad array flags`);
  const flagWord = new DataView(flags.data.buffer, flags.data.byteOffset, 8).getUint32(0, r.little);
  const cls = flagWord & 0xff;
  const className = CLASS_NAMES[cls] ?? `class ${cls}`;
  const dimsEl = m.element(flags.end, `variable at byte ${at}: dimensions`);
  const dims = Array.from(m.numbers(dimsEl, 'dimensions'));
  const nameEl = m.element(dimsEl.end, `variable at byte ${at}: name`);
  const name = new TextDecoder('latin1').decode(nameEl.data);
  if (!NUMERIC_CLASSES.has(cls)) return { name, className };
  if (flagWord & 0x0800) throw new MatFormatError(r.source, `variable ${name}: complex arrays are not read`);
  const real = m.element(nameEl.end, `variable ${name}: data`);
  const data = m.numbers(real, `variable ${name}`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new MatFormatError(r.source, `variable ${name}: dimensions [${dims.join(', ')}] need ${count} elements, the data hold ${data.length}`);
  return { name, className, array: { className, dims, data } };
}

/** The variables of a v5 .mat buffer, by name (non-numeric ones listed with their class and no array). */
export function parseMat(bytes: Uint8Array, source = 'mat'): Map<string, { className: string; array?: MatArray }> {
  if (bytes.length >= 8 && bytes[0] === 0x89 && String.fromCharCode(...bytes.subarray(1, 4)) === 'HDF') {
    throw new MatFormatError(source, 'a MATLAB v7.3 (HDF5) file; only v5/v7 .mat files are read (save with -v7)');
  }
  if (bytes.length < 128) throw new MatFormatError(source, `truncated: ${bytes.length} bytes, too short for the 128-byte MAT-file header`);
  const endian = String.fromCharCode(bytes[126]!, bytes[127]!);
  if (endian !== 'IM' && endian !== 'MI') throw new MatFormatError(source, `not a MATLAB v5 .mat file (endian indicator ${JSON.stringify(endian)}, expected "IM" or "MI")`);
  const r = new Reader(bytes, endian === 'IM', source);
  const vars = new Map<string, { className: string; array?: MatArray }>();
  for (let at = 128; at < bytes.length; ) {
    const el = r.element(at, `element at byte ${at}`);
    let body = el.data;
    let type = el.type;
    if (type === MI.COMPRESSED) {
      let inflated: Uint8Array;
      try {
        inflated = inflateSync(el.data);
      } catch (e) {
        throw new MatFormatError(source, `compressed element at byte ${at}: corrupt or truncated zlib stream (${(e as Error).message})`);
      }
      const inner = new Reader(inflated, r.little, source).element(0, `compressed element at byte ${at}`);
      body = inner.data;
      type = inner.type;
    }
    if (type === MI.MATRIX) {
      const v = parseMatrix(r, body, at);
      vars.set(v.name, { className: v.className, ...(v.array ? { array: v.array } : {}) });
    }
    at = el.end;
  }
  return vars;
}

export async function readMat(path: string): Promise<Map<string, { className: string; array?: MatArray }>> {
  return parseMat(new Uint8Array(await readFile(path)), path);
}
