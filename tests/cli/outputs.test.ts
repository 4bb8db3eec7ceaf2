/**
 * `uae attack` and `uae pipeline` write a self-describing .npz per method
 * (docs/file-formats.md): the clean x, labels and source rows beside x′, so
 * a numpy user can match every output to its input without our RNG.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadDataset, parseCsv, readNpy, readNpz, sourceRows, type NpyArray } from '../../libs/data/index.js';
import { bundledFile } from '../../libs/data/csv.js';
import { runNumpy } from '../helpers/numpy.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 300_000 });
const LOADER = join(root, 'examples/python/outputs.py');

const numbers = (a: NpyArray | undefined) => Array.from(a!.data as ArrayLike<number | bigint>, Number);

/** Mice Protein's class of each data row of the bundled CSV. */
async function csvClasses(): Promise<string[]> {
  const { header, rows } = parseCsv(await readFile(bundledFile('mice-protein/Data_Cortex_Nuclear.csv'), 'utf8'));
  const c = header.indexOf('class');
  return rows.map((r) => r[c]!.trim());
}

describe('uae outputs: .npz bundles', () => {
  it('attack: <similarity>.npz has the attacked rows, their labels and CSV rows, and the .npy values; numpy loads it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-out-attack-'));
    const model = join(dir, 'model');
    await uae('train', '--dataset', 'mice-protein', '--train-samples', '30', '--test-samples', '10', '--model', 'dense-ae', '--hidden', '8', '--epochs', '2', '--out', model, '--json');
    const out = join(dir, 'attack');
    await uae('attack', '--model-dir', model, '--dataset', 'mice-protein', '--train-samples', '6', '--out', out, '--iterations', '2', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1', '--json');
    const b = await readNpz(join(out, 'mine.npz'));
    expect(Object.keys(b).sort()).toEqual(['index', 'l2', 'linf', 'mi', 'similarity', 'success', 'x', 'x_adv', 'y']);
    const ds = await loadDataset('mice-protein', { trainSamples: 6, seed: 0 });
    expect(b.x!.shape).toEqual([6, 77]);
    expect(numbers(b.x)).toEqual(Array.from(ds.train.x));
    expect(numbers(b.y)).toEqual(Array.from(ds.train.labels!));
    expect(numbers(b.index)).toEqual(Array.from(sourceRows(ds.train)));
    // index is the row of the CSV: its class is the label's.
    const classes = await csvClasses();
    expect(numbers(b.index).map((row) => classes[row])).toEqual(numbers(b.y).map((k) => ds.classes![k]));
    expect(numbers(b.x_adv)).toEqual(numbers(await readNpy(join(out, 'x-adv.npy'))));
    expect(numbers(b.success)).toEqual(numbers(await readNpy(join(out, 'success.npy'))));
    expect(numbers(b.mi)).toEqual(numbers(await readNpy(join(out, 'similarity.npy'))));
    // The summary of examples/python/outputs.py, from numpy.load.
    const summary = runNumpy(`import runpy, sys; sys.argv = [${JSON.stringify(LOADER)}, sys.argv[1]]; runpy.run_path(sys.argv[0], run_name='__main__')`, [join(out, 'mine.npz')]);
    const ok = numbers(b.success).filter(Boolean).length;
    expect(summary).toContain(`6 samples of (77,), labels: yes`);
    expect(summary).toContain(`success: ${ok} of 6`);
  });

  it('pipeline: <arm>.npz per arm, rows = train-index.npy through the subset to the CSV rows; x_adv where success is <arm>-x.npy', async () => {
    const out = await mkdtemp(join(tmpdir(), 'uae-out-pipeline-'));
    await uae(
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '8', '--methods', 'l2,ga-0.05', '--out', out,
      '--train-samples', '20', '--test-samples', '10', '--epochs', '1', '--retrain-epochs', '1', '--classifier-epochs', '0',
      '--iterations', '2', '--workers', '1', '--json',
    );
    const ds = await loadDataset('mice-protein', { trainSamples: 20, seed: 0 });
    const trainIndex = numbers(await readNpy(join(out, 'train-index.npy')));
    expect(trainIndex).toHaveLength(18); // 10% validation
    const rows = sourceRows(ds.train);
    const l2 = await readNpz(join(out, 'l2.npz'));
    expect(Object.keys(l2).sort()).toEqual(['index', 'l2', 'linf', 'similarity', 'success', 'x', 'x_adv', 'y']);
    expect(numbers(l2.index)).toEqual(trainIndex.map((k) => rows[k]));
    expect(numbers(l2.y)).toEqual(trainIndex.map((k) => ds.train.labels![k]));
    expect(numbers(l2.x)).toEqual(trainIndex.flatMap((k) => Array.from(ds.train.x.subarray(k * 77, (k + 1) * 77))));
    // L2 similarity is −‖δ‖²: for the successes, minus the square of the bundle's l2.
    const success = numbers(l2.success);
    const sim = numbers(l2.similarity);
    const dist = numbers(l2.l2);
    success.forEach((s, i) => {
      if (s) expect(sim[i]).toBeCloseTo(-(dist[i]! ** 2), 4);
    });
    // What the retraining used: x_adv where the attack succeeded, x elsewhere.
    const used = numbers(await readNpy(join(out, 'l2-x.npy')));
    const x = numbers(l2.x);
    const xAdv = numbers(l2.x_adv);
    expect(used).toEqual(x.map((v, j) => (success[Math.floor(j / 77)] ? xAdv[j] : v)));
    const ga = await readNpz(join(out, 'ga-0.05.npz'));
    expect(Object.keys(ga).sort()).toEqual(['index', 'l2', 'linf', 'x', 'x_adv', 'y']);
    expect(numbers(ga.x_adv)).toEqual(numbers(await readNpy(join(out, 'ga-0.05-x.npy'))));
    expect(Math.max(...numbers(ga.linf))).toBeGreaterThan(0);
  });
});
