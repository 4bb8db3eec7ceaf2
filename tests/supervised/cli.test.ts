/**
 * `uae supervised` end to end on tiny generated images (npy:DIR): the files it
 * writes, metrics.json's sections, a --resume that keeps every classifier,
 * and a bad flag named in the one-line error.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../libs/data/index.js';
import { halves, SIDE } from './fixture.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 120_000 });

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uae-supervised-cli-'));
  const data = join(dir, 'data');
  await import('node:fs/promises').then((fs) => fs.mkdir(data));
  const train = halves(24, 1);
  const test = halves(12, 2);
  await writeNpy(join(data, 'x_train.npy'), [train.n, SIDE, SIDE, 1], train.x);
  await writeNpy(join(data, 'y_train.npy'), [train.n], train.labels);
  await writeNpy(join(data, 'x_test.npy'), [test.n, SIDE, SIDE, 1], test.x);
  await writeNpy(join(data, 'y_test.npy'), [test.n], test.labels);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const TINY = [
  '--model', 'mlp-classifier', '--hidden', '8', '--epochs', '3', '--batch-size', '8', '--learning-rate', '0.01',
  '--adv-epsilon', '0.1', '--adv-steps', '2', '--uae-samples', '4', '--ae-epochs', '1', '--uae-iterations', '2', '--uae-mine-steps', '1', '--uae-sampler', 'random',
  '--samples', '4', '--iterations', '4', '--search-steps', '2', '--mine-draws', '8', '--grid-samples', '2', '--grid-epsilons', '0.1,0.3',
  '--epsilons', '0,0.1,0.5', '--pgd-steps', '5', '--workers', '1',
];

/** Runs `uae args` and sends SIGINT once stderr matches `when`; resolves with the exit code and stderr. */
function interruptWhen(args: string[], when: RegExp): Promise<{ code: number | null; stderr: string; sent: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, UAE_PROGRESS_INTERVAL_MS: '0' } });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && when.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr, sent }));
  });
}

describe('uae supervised', () => {
  it('writes metrics.json, report.html, status.json and the models; --resume keeps them', async () => {
    const out = join(dir, 'run');
    const { stdout } = await uae('supervised', '--dataset', `npy:${join(dir, 'data')}`, '--out', out, ...TINY, '--json');
    const metrics = JSON.parse(stdout);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'))).toEqual(metrics);
    expect(metrics).toMatchObject({ kind: 'uae.supervised-result', backend: { name: 'wasm' }, dataset: { classes: 2, train_samples: 24, test_samples: 12 } });
    expect(metrics.machine.cpus).toBeGreaterThan(0);
    for (const k of ['classifiers', 'uae', 'table3', 'grid', 'curves', 'timings', 'config']) expect(metrics[k]).toBeDefined();
    expect(metrics.table3.sampler).toBe('random');
    expect(metrics.curves.series.std.asr[0]).toBe(0);
    expect((await readdir(out)).sort()).toEqual(expect.arrayContaining(['config.json', 'history.json', 'metrics.json', 'models', 'report.html', 'status.json']));
    expect((await readdir(join(out, 'models'))).sort()).toEqual(['adv', 'adv-uae', 'stages', 'std', 'std-uae', 'uae-mi.npy', 'uae-success.npy', 'uae-x.npy']);
    // Table 3's two attacks, Figure 3's two PGD columns, 4 classifiers × 2 radii > 0 of the curves.
    expect((await readdir(join(out, 'models', 'stages'))).length).toBe(2 + 2 + 4 * 2);
    expect(JSON.parse(await readFile(join(out, 'status.json'), 'utf8'))).toMatchObject({ status: 'complete', command: 'supervised' });
    const html = await readFile(join(out, 'report.html'), 'utf8');
    expect(html).toContain('id="robustness"');
    expect(html).toContain('data:image/png;base64,');

    const again = JSON.parse((await uae('supervised', '--dataset', `npy:${join(dir, 'data')}`, '--out', out, ...TINY, '--json', '--resume')).stdout);
    for (const name of ['std', 'adv', 'std-uae', 'adv-uae']) {
      expect(again.classifiers[name].resumed).toBe(true);
      expect(again.classifiers[name].accuracy).toBe(metrics.classifiers[name].accuracy);
    }
    // The attacks too: the same rows, down to their recorded seconds.
    expect(again.table3).toEqual(metrics.table3);
    expect(again.curves).toEqual(metrics.curves);
    // A resume with other training settings would mix models: refused, naming the flags.
    await expect(uae('supervised', '--dataset', `npy:${join(dir, 'data')}`, '--out', out, ...TINY, '--epochs', '4', '--resume')).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--epochs') });
  }, 120_000);

  it('SIGINT during Table 3 keeps the trained classifiers (exit 130); --resume finishes without training again', async () => {
    const out = join(dir, 'cut');
    const dataset = ['--dataset', `npy:${join(dir, 'data')}`, '--out', out];
    // A long Table 3, so the signal lands in it.
    const r = await interruptWhen(['supervised', ...dataset, ...TINY, '--iterations', '5000'], /Table 3 minmax/);
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^uae: interrupted \(SIGINT\) at "Table 3 minmax .*": kept models\/std, models\/std-uae, models\/adv, models\/adv-uae in .*cut; rerun with --resume to continue$/);
    expect(JSON.parse(await readFile(join(out, 'status.json'), 'utf8'))).toMatchObject({ status: 'interrupted', command: 'supervised', kept: ['models/std', 'models/std-uae', 'models/adv', 'models/adv-uae'] });
    const done = JSON.parse((await uae('supervised', ...dataset, ...TINY, '--resume', '--json')).stdout);
    for (const name of ['std', 'adv', 'std-uae', 'adv-uae']) expect(done.classifiers[name].resumed).toBe(true);
    expect(done.uae.resumed).toBe(true);
    expect(JSON.parse(await readFile(join(out, 'status.json'), 'utf8'))).toMatchObject({ status: 'complete' });
  }, 120_000);

  it('names the bad flag', async () => {
    const e = await uae('supervised', '--dataset', 'x', '--out', join(dir, 'bad'), '--epsilons', '0,2').catch((err: { code: number; stderr: string }) => err);
    expect(e).toMatchObject({ code: 2 });
    expect((e as { stderr: string }).stderr).toMatch(/^uae: --epsilons\[1\]: /);
    const m = await uae('supervised', '--dataset', 'x', '--out', join(dir, 'bad'), '--model', 'mlp-classifier', '--sampler', 'conv').catch((err: { stderr: string }) => err);
    expect((m as { stderr: string }).stderr).toMatch(/^uae: --sampler: conv needs a conv classifier/);
  });
});
