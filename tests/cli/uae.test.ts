import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readNpy, writeNpy } from '../../libs/data/index.js';
import { Rng } from '../../libs/tensor/rng.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 300_000 });

describe('uae CLI', () => {
  it('pipeline writes config, metrics and the generated samples', async () => {
    const out = await mkdtemp(join(tmpdir(), 'uae-cli-'));
    const { stdout } = await uae(
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--methods', 'mine,ga-0.05,repeat', '--out', out,
      '--train-samples', '24', '--test-samples', '24', '--epochs', '2', '--retrain-epochs', '2',
      '--iterations', '2', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1', '--json',
    );
    const metrics = JSON.parse(stdout);
    expect(metrics.dataset).toBe('mice-protein');
    expect(Object.keys(metrics.methods).sort()).toEqual(['ga-0.05', 'mine', 'original', 'repeat']);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'))).toEqual(metrics);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.seed).toBe(0);
    expect(config.backend).toBe('wasm');
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['mine-x.npy', 'mine-success.npy', 'ga-0.05-x.npy', 'history.json']));
    expect((await readNpy(join(out, 'mine-x.npy'))).shape).toEqual([24, 77]);
  });

  it('rejects bad arguments with a message and exit code 2', async () => {
    const failure = await uae('pipeline', '--dataset', 'mice-protein', '--model', 'vae', '--out', tmpdir()).catch((e) => e);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/--model must be one of dense-ae, conv-ae; got "vae"/);
  });

  it('mine estimate reads two .npy files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-mi-'));
    const rng = new Rng(1);
    const x = new Float32Array(256 * 2).map(() => rng.normal());
    const y = x.map((v) => 0.9 * v + 0.3 * rng.normal());
    await writeNpy(join(dir, 'x.npy'), [256, 2], x);
    await writeNpy(join(dir, 'y.npy'), [256, 2], y);
    const { stdout } = await uae('mine', 'estimate', '--x', join(dir, 'x.npy'), '--y', join(dir, 'y.npy'), '--steps', '300', '--json');
    const { mi, pairs } = JSON.parse(stdout);
    expect(pairs).toBe(256);
    expect(mi).toBeGreaterThan(0.3); // analytic ≈ 1.5 nats; a short run only has to see the dependence
  });
});
