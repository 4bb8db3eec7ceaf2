import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpz, parseNpz, readNpz, writeNpz } from '../../libs/data/index.js';
import { sampleBundle } from '../../libs/augment/index.js';
import { PYTHON, runNumpy } from '../helpers/numpy.js';

const LOADER = new URL('../../examples/python/outputs.py', import.meta.url).pathname;

/** The arrays of a bundle as the example loader (numpy.load) sees them. */
function loadInNumpy(path: string): Record<string, { dtype: string; shape: number[]; values: Array<number | boolean | null> }> {
  return JSON.parse(runNumpy(`import runpy, sys; sys.argv = [${JSON.stringify(LOADER)}, sys.argv[1], '--json']; runpy.run_path(sys.argv[0], run_name='__main__')`, [path]));
}

describe('.npz', () => {
  it('round-trips arrays, and gives the same bytes for the same arrays', () => {
    const entries = { a: { shape: [2, 2], data: Float32Array.from([1, -2, 3.5, 0]) }, flag: { shape: [2], data: Uint8Array.from([1, 0]), dtype: 'bool' as const } };
    const bytes = encodeNpz(entries);
    expect(Buffer.from(encodeNpz(entries)).equals(Buffer.from(bytes))).toBe(true);
    const back = parseNpz(bytes, 'b.npz');
    expect(Object.keys(back).sort()).toEqual(['a', 'flag']);
    expect(back.a!.shape).toEqual([2, 2]);
    expect(Array.from(back.a!.data as Float32Array)).toEqual([1, -2, 3.5, 0]);
    expect(back.flag!.dtype).toBe('bool');
    expect(() => encodeNpz({ 'x-adv': entries.a })).toThrow(/"x-adv" must be a Python identifier/);
    expect(() => parseNpz(Uint8Array.from([1, 2, 3, 4]), 'bad.npz')).toThrow(/bad.npz: not a .npz \(zip\) file/);
  });

  it('reads what numpy.savez and savez_compressed write', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-npz-'));
    runNumpy(
      `import sys, numpy as np
d = sys.argv[1]
np.savez(d + '/plain.npz', x=np.arange(6, dtype=np.float32).reshape(2, 3), y=np.array([-1, 2**40]))
np.savez_compressed(d + '/packed.npz', m=np.array([[True, False], [False, True]]), z=np.zeros((3, 1), dtype='>f8'))`,
      [dir],
    );
    const plain = await readNpz(join(dir, 'plain.npz'));
    expect(plain.x!.shape).toEqual([2, 3]);
    expect(Array.from(plain.x!.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(plain.y!.data as BigInt64Array)).toEqual([-1n, 2n ** 40n]);
    const packed = await readNpz(join(dir, 'packed.npz'));
    expect(packed.m!.dtype).toBe('bool');
    expect(Array.from(packed.m!.data as Uint8Array)).toEqual([1, 0, 0, 1]);
    expect(packed.z!.shape).toEqual([3, 1]);
  });

  it(`an attack's bundle loads in numpy (${PYTHON}, examples/python/outputs.py) with the right arrays`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-bundle-'));
    // Three samples of [2, 2]: a success, a failure whose similarity was never measured (NaN), a failure with a negative MI.
    const x = Float32Array.from([0, 0.5, 1, 0.25, 0.1, 0.2, 0.3, 0.4, 1, 1, 1, 1]);
    const xAdv = Float32Array.from([0.5, 0.5, 0.5, 0.25, 0.1, 0.2, 0.3, 0.4, 0.75, 1, 1, 1]);
    const results = [
      { success: true, similarity: 0.75 },
      { success: false, similarity: NaN },
      { success: false, similarity: -0.5 },
    ];
    const path = join(dir, 'mine.npz');
    await writeNpz(path, sampleBundle({ x, xAdv, sampleShape: [2, 2], index: [7, 3, 900], labels: [2, 0, 1], attack: { results, similarity: 'mine' } }));
    const b = loadInNumpy(path);
    expect(Object.keys(b).sort()).toEqual(['index', 'l2', 'linf', 'mi', 'similarity', 'success', 'x', 'x_adv', 'y']);
    expect(b.x).toEqual({ dtype: 'float32', shape: [3, 2, 2], values: Array.from(x) });
    expect(b.x_adv).toEqual({ dtype: 'float32', shape: [3, 2, 2], values: Array.from(xAdv) });
    expect(b.y).toEqual({ dtype: 'int64', shape: [3], values: [2, 0, 1] });
    expect(b.index).toEqual({ dtype: 'int64', shape: [3], values: [7, 3, 900] });
    expect(b.success).toEqual({ dtype: 'bool', shape: [3], values: [true, false, false] });
    expect(b.mi).toEqual({ dtype: 'float32', shape: [3], values: [0.75, null, -0.5] });
    expect(b.similarity).toEqual(b.mi);
    expect(b.linf!.dtype).toBe('float32');
    expect(b.linf!.values).toEqual([0.5, 0, 0.25]);
    expect(b.l2!.values[0]).toBeCloseTo(Math.sqrt(0.25 + 0.25), 6);
    expect(b.l2!.values.slice(1)).toEqual([0, 0.25]);
    // Not a MINE attack: no "mi"; no labels: no "y"; a control arm: no success / similarity.
    await writeNpz(path, sampleBundle({ x, xAdv, sampleShape: [4], index: [0, 1, 2], attack: { results, similarity: 'l2' } }));
    expect(Object.keys(loadInNumpy(path)).sort()).toEqual(['index', 'l2', 'linf', 'similarity', 'success', 'x', 'x_adv']);
    await writeNpz(path, sampleBundle({ x, xAdv, sampleShape: [4], index: [0, 1, 2] }));
    expect(Object.keys(loadInNumpy(path)).sort()).toEqual(['index', 'l2', 'linf', 'x', 'x_adv']);
    expect(() => sampleBundle({ x, xAdv, sampleShape: [4], index: [0, 1], labels: [1, 2] })).toThrow(/bundle: x has 12 values; 2 samples of \[4\] need 8/);
  });

  it('the loader refuses a file that is not a bundle, naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-bundle-bad-'));
    const path = join(dir, 'other.npz');
    await writeNpz(path, { x: { shape: [1], data: Float32Array.from([1]) } });
    expect(() => loadInNumpy(path)).toThrow(`${path}: not a uae bundle (no x_adv, index, linf, l2)`);
  });
});
