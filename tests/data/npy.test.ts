import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, parseNpy, readNpy, writeNpy, NpyFormatError } from '../../libs/data/index.js';

// Written by numpy.save (np.arange(6, dtype='<f4').reshape(2, 3) and a 2×2 uint8 array).
const NUMPY_F4 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEA=';
const NUMPY_U1 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAgP6';
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('.npy', () => {
  it('reads what numpy writes', () => {
    const f = parseNpy(bytes(NUMPY_F4));
    expect(f.dtype).toBe('float32');
    expect(f.shape).toEqual([2, 3]);
    expect(Array.from(f.data)).toEqual([0, 1, 2, 3, 4, 5]);
    const u = parseNpy(bytes(NUMPY_U1));
    expect(u.dtype).toBe('uint8');
    expect(Array.from(u.data)).toEqual([1, 2, 3, 250]);
  });

  it('writes byte-for-byte what numpy writes', () => {
    expect(Buffer.from(encodeNpy([2, 3], Float32Array.from([0, 1, 2, 3, 4, 5]))).toString('base64')).toBe(NUMPY_F4);
    expect(Buffer.from(encodeNpy([2, 2], Uint8Array.from([1, 2, 3, 250]))).toString('base64')).toBe(NUMPY_U1);
  });

  it('round-trips every dtype and shape through a file, data 64-byte aligned', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-npy-'));
    const cases = [
      [[5], Float64Array.from([1.5, -2, 3e300, 0, -0])],
      [[2, 2, 2], Int32Array.from([1, -2, 3, -4, 2 ** 31 - 1, -(2 ** 31), 0, 7])],
      [[0, 3], new Float32Array(0)],
      [[], Float32Array.from([42])],
    ] as const;
    for (const [shape, data] of cases) {
      const enc = encodeNpy(shape, data);
      expect((enc.length - data.byteLength) % 64).toBe(0);
      const path = join(dir, `a${shape.length}.npy`);
      await writeNpy(path, shape, data);
      const back = await readNpy(path);
      expect(back.shape).toEqual([...shape]);
      expect(Array.from(back.data)).toEqual(Array.from(data));
    }
  });

  it('rejects malformed files with a clear reason', () => {
    const good = bytes(NUMPY_F4);
    expect(() => parseNpy(Uint8Array.from([1, 2, 3]), 'x.npy')).toThrow(/x.npy: not a .npy file/);
    expect(() => parseNpy(good.slice(0, good.length - 3))).toThrow(/truncated data: shape \(2, 3\) needs 24 bytes/);
    expect(() => parseNpy(good.slice(0, 40))).toThrow(/truncated header/);
    // found by npm run fuzz: a version 2/3 file cut inside its 4-byte header length (was a RangeError → INTERNAL)
    expect(() => parseNpy(Uint8Array.from([147, 78, 85, 77, 80, 89, 3, 0, 118, 0]), 'x.npy')).toThrow(/x.npy: truncated header \(10 bytes; a version 3 file needs at least 12\)/);
    const big = Buffer.from(good);
    big.write("'>f4'", 10 + "{'descr': ".length, 'latin1');
    expect(() => parseNpy(new Uint8Array(big))).toThrow(NpyFormatError);
    const fortran = Buffer.from(Buffer.from(good).toString('latin1').replace("'fortran_order': False", "'fortran_order': True "), 'latin1');
    expect(() => parseNpy(new Uint8Array(fortran))).toThrow(/Fortran-order/);
    expect(() => encodeNpy([2, 2], new Float32Array(3))).toThrow(/4 elements, data has 3/);
  });
});
