import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, loadDataset, npyFloat32, npyInt32, parseNpy, readNpy, writeNpy, NpyFormatError, type NpyDtype } from '../../libs/data/index.js';
import { runNumpy } from '../helpers/numpy.js';

// Written by numpy.save (np.arange(6, dtype='<f4').reshape(2, 3) and a 2×2 uint8 array).
const NUMPY_F4 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEA=';
const NUMPY_U1 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnfHUxJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDIpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoBAgP6';
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));

describe('.npy', () => {
  it('reads what numpy writes', () => {
    const f = parseNpy(bytes(NUMPY_F4));
    expect(f.dtype).toBe('float32');
    expect(f.shape).toEqual([2, 3]);
    expect(Array.from(f.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    const u = parseNpy(bytes(NUMPY_U1));
    expect(u.dtype).toBe('uint8');
    expect(Array.from(u.data as Uint8Array)).toEqual([1, 2, 3, 250]);
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
      expect(Array.from(back.data as ArrayLike<number>)).toEqual(Array.from(data));
    }
  });

  it('rejects malformed files with a clear reason', () => {
    const good = bytes(NUMPY_F4);
    expect(() => parseNpy(Uint8Array.from([1, 2, 3]), 'x.npy')).toThrow(/x.npy: not a .npy file/);
    expect(() => parseNpy(good.slice(0, good.length - 3))).toThrow(/truncated data: shape \(2, 3\) needs 24 bytes/);
    expect(() => parseNpy(good.slice(0, 40))).toThrow(/truncated header/);
    // found by npm run fuzz: a version 2/3 file cut inside its 4-byte header length (was a RangeError → INTERNAL)
    expect(() => parseNpy(Uint8Array.from([147, 78, 85, 77, 80, 89, 3, 0, 118, 0]), 'x.npy')).toThrow(/x.npy: truncated header \(10 bytes; a version 3 file needs at least 12\)/);
    const descr = (d: string) => new Uint8Array(Buffer.from(Buffer.from(good).toString('latin1').replace("'<f4'", d), 'latin1'));
    expect(() => parseNpy(descr("'<c8'"), 'x.npy')).toThrow(/x.npy: dtype '<c8' is not supported \(float32, .* or bool\)/);
    expect(() => parseNpy(descr("'|f4'"), 'x.npy')).toThrow(NpyFormatError);
    expect(() => parseNpy(descr("'<U1'"), 'x.npy')).toThrow(/dtype '<U1' is not supported/);
    const notBool = Uint8Array.from(bytes(NUMPY_U1));
    notBool.set(new TextEncoder().encode("'|b1'"), 10 + "{'descr': ".length);
    expect(() => parseNpy(notBool, 'm.npy')).toThrow(/m.npy: bool element 1 is 2; numpy writes bools as 0 or 1/);
    expect(() => encodeNpy([2, 2], new Float32Array(3))).toThrow(/4 elements, data has 3/);
  });
});

// Every dtype numpy writes for our uses, both byte orders, C and Fortran order: numpy writes the files, we read them.
const NUMPY_WRITER = `
import json, sys, numpy as np
out = sys.argv[1]
values = {
    'f4': [0.5, -1.25, 3.0e38, -0.0, 1e-30, 7.0], 'f8': [1.5, -2.0, 1e300, -1e-300, 0.1, 2.0**60],
    'i1': [-1, -128, 127, 0, 5, -7], 'i2': [-1, -32768, 32767, 0, 300, -300],
    'i4': [-1, -2**31, 2**31 - 1, 0, 70000, -70000], 'i8': [-1, -2**63, 2**63 - 1, 0, 2**40, -(2**53) - 1],
    'u1': [0, 255, 1, 128, 7, 200], 'u2': [0, 65535, 1, 256, 7, 40000], 'u4': [0, 2**32 - 1, 1, 2**31, 7, 123456789],
    'b1': [True, False, True, True, False, False],
}
manifest = []
for code, vals in values.items():
    base = np.array(vals * 4, dtype=code).reshape(2, 3, 4)
    for order in '<>':
        for layout in 'CF':
            a = base.astype(base.dtype.newbyteorder(order))
            a = np.asfortranarray(a) if layout == 'F' else np.ascontiguousarray(a)
            name = f'{code}-{"le" if order == "<" else "be"}-{layout}.npy'
            np.save(f'{out}/{name}', a)
            manifest.append({'file': name, 'code': code, 'descr': np.lib.format.dtype_to_descr(a.dtype), 'fortran': layout == 'F',
                             'shape': list(a.shape), 'values': [v if code[0] in 'fb' else str(v) for v in base.ravel(order='C').tolist()]})
json.dump(manifest, sys.stdout)
`;
const DTYPE_OF: Record<string, NpyDtype> = { f4: 'float32', f8: 'float64', i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64', u1: 'uint8', u2: 'uint16', u4: 'uint32', b1: 'bool' };

describe('.npy files written by numpy', () => {
  it('reads every dtype, little and big endian, C and Fortran order, as C-order native values', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-numpy-'));
    const manifest = JSON.parse(runNumpy(NUMPY_WRITER, [dir])) as Array<{ file: string; code: string; descr: string; fortran: boolean; shape: number[]; values: Array<number | string | boolean> }>;
    expect(manifest).toHaveLength(40);
    // The files really are big-endian and Fortran-ordered where they say so.
    expect(manifest.filter((m) => m.descr.startsWith('>')).length).toBe(14);
    for (const m of manifest) {
      const header = (await readFile(join(dir, m.file))).subarray(0, 128).toString('latin1');
      expect(header).toContain(`'fortran_order': ${m.fortran ? 'True' : 'False'}`);
      const a = await readNpy(join(dir, m.file));
      expect(a.dtype, m.file).toBe(DTYPE_OF[m.code]);
      expect(a.shape, m.file).toEqual(m.shape);
      // Floats and bools as JSON has them (exact), integers as decimal strings (int64 exactly).
      const asJson = (v: number | bigint) => (m.code === 'b1' ? v === 1 : m.code.startsWith('f') ? v : String(v));
      expect(Array.from(a.data as ArrayLike<number | bigint>, asJson), m.file).toEqual(m.values);
    }
  });

  it('reads int64 labels (numpy\'s default integer) in an npy:DIR dataset; labels beyond int32 or not integral name the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-numpy-labels-'));
    runNumpy(
      `import sys, numpy as np
d = sys.argv[1]
np.save(d + '/x_train.npy', np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3))
np.save(d + '/x_test.npy', np.full((2, 3), 255, dtype=np.uint8))
np.save(d + '/y_train.npy', np.array([3, 0, 1, 2]))
np.save(d + '/y_test.npy', np.array([True, False]))
np.save(d + '/big.npy', np.array([1, 2**40]))
np.save(d + '/half.npy', np.array([1.0, 2.5]))
np.save(d + '/neg8.npy', np.array([-1, 2], dtype=np.int8))`,
      [dir],
    );
    expect((await readNpy(join(dir, 'y_train.npy'))).dtype).toBe('int64');
    const ds = await loadDataset(`npy:${dir}`);
    expect(Array.from(ds.train.labels!)).toEqual([3, 0, 1, 2]);
    expect(Array.from(ds.test.labels!)).toEqual([1, 0]);
    expect(Array.from(ds.test.x)).toEqual([1, 1, 1, 1, 1, 1]);
    // the int8 bug: −1 was read as 255
    expect(Array.from(npyInt32(await readNpy(join(dir, 'neg8.npy')), 'neg8.npy'))).toEqual([-1, 2]);
    expect(Array.from(npyFloat32(await readNpy(join(dir, 'big.npy'))))).toEqual([1, 2 ** 40]);
    const big = join(dir, 'big.npy');
    await expect(readNpy(big).then((a) => npyInt32(a, big, 'labels'))).rejects.toThrow(`${big}: labels must be integers in the int32 range; element 1 is 1099511627776`);
    const half = join(dir, 'half.npy');
    await expect(readNpy(half).then((a) => npyInt32(a, half, 'labels'))).rejects.toThrow(`${half}: labels must be integers in the int32 range; element 1 is 2.5`);
  });

  it('numpy reads what we write, bool included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-npy-out-'));
    await writeNpy(join(dir, 'i8.npy'), [3], BigInt64Array.from([-1n, 2n ** 62n, 0n]));
    await writeNpy(join(dir, 'i1.npy'), [2, 2], Int8Array.from([-1, -128, 127, 0]));
    await writeNpy(join(dir, 'u4.npy'), [2], Uint32Array.from([2 ** 32 - 1, 1]));
    await writeNpy(join(dir, 'b1.npy'), [3], Uint8Array.from([1, 0, 1]), { dtype: 'bool' });
    expect(() => encodeNpy([1], Uint8Array.from([2]), { dtype: 'bool' })).toThrow(/0 and 1; element 0 is 2/);
    const seen = JSON.parse(
      runNumpy(
        `import json, sys, numpy as np
d = sys.argv[1]
print(json.dumps({f: [str(np.load(f'{d}/{f}.npy').dtype), [str(v) for v in np.load(f'{d}/{f}.npy').ravel().tolist()]] for f in ['i8', 'i1', 'u4', 'b1']}))`,
        [dir],
      ),
    ) as Record<string, [string, string[]]>;
    expect(seen).toEqual({
      i8: ['int64', ['-1', String(2n ** 62n), '0']],
      i1: ['int8', ['-1', '-128', '127', '0']],
      u4: ['uint32', ['4294967295', '1']],
      b1: ['bool', ['True', 'False', 'True']],
    });
  });
});
