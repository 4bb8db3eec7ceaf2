/** `uae attack --method pgd|fgsm`: the baselines from the CLI, and their flags' usage errors. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readNpz } from '../../libs/data/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 300_000 });

describe('uae attack --method pgd', () => {
  it('runs PGD within the ε-ball, records the config, and rejects bad values naming the flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-pgd-'));
    const model = join(dir, 'model');
    const data = ['--dataset', 'mice-protein', '--train-samples', '12', '--test-samples', '6'];
    await uae('train', ...data, '--model', 'dense-ae', '--hidden', '8', '--epochs', '2', '--batch', '6', '--out', model, '--json');

    const out = join(dir, 'pgd');
    const args = ['--model-dir', model, '--similarity', 'l2', '--workers', '1', '--kappa', '0.01'];
    const summary = JSON.parse((await uae('attack', ...data, '--train-samples', '6', '--out', out, ...args, '--method', 'pgd', '--epsilon', '0.05', '--steps', '4', '--step-size', '0.02', '--json')).stdout);
    expect(summary.samples).toBe(6);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.config).toMatchObject({ method: 'pgd', epsilon: 0.05, iterations: 4, stepSize: 0.02 });
    for (const r of results.results) expect(r.iterations).toBe(4);
    const bundle = await readNpz(join(out, 'l2.npz'));
    const linf = Array.from(bundle['linf']!.data as Float32Array);
    expect(linf).toHaveLength(6);
    for (const v of linf) expect(v).toBeLessThanOrEqual(0.05 + 1e-6);
    expect(Math.max(...linf)).toBeGreaterThan(0.04); // PGD moves to the ball's boundary

    const bad = async (flags: string[], message: RegExp) => {
      const e = await uae('attack', ...data, '--out', join(dir, `bad-${flags.join('')}`), ...args, ...flags).catch((err) => err);
      expect(e.code, flags.join(' ')).toBe(2);
      expect(e.stderr).toMatch(message);
    };
    await bad(['--method', 'pgd', '--epsilon', '0'], /--epsilon must be in \(0, 1\]/);
    await bad(['--method', 'pgd', '--epsilon', '1.5'], /--epsilon must be in \(0, 1\]/);
    await bad(['--method', 'pgd', '--steps', '0'], /--steps must be an integer ≥ 1/);
    await bad(['--method', 'pgd', '--step-size', '0'], /--step-size must be a positive number/);
    await bad(['--method', 'fgsm', '--step-size', '0.1'], /--step-size applies to --method pgd only/);
  }, 300_000);
});
