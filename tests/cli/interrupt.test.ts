/**
 * Ctrl-C in a real `uae` process: SIGINT during `uae attack`, during the
 * MINE arm of `uae pipeline` (of its only seed, and of the second of two
 * seeds) → exit 130, status.json "interrupted" with the stage, the finished
 * seeds and samples kept (samples marked partial), and `--resume` completes
 * with the results of an uninterrupted run. SIGINT during `uae train` writes
 * no model; while a run works, another one into its --out is refused.
 */
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readNpy } from '../../libs/data/index.js';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/uae.mjs');
const uae = (...args: string[]) => promisify(execFile)(process.execPath, [bin, ...args], { cwd: root, timeout: 300_000 });

/**
 * Runs `uae args`, sends SIGINT once stderr matches `when` (after `before`,
 * given the child's pid, has run), and resolves with the exit code and stderr.
 */
function interruptWhen(args: string[], when: RegExp, before?: (pid: number) => Promise<void>): Promise<{ code: number | null; stderr: string; sent: boolean }> {
  return new Promise((resolve, reject) => {
    // Every progress line (not one per 5 s), so the trigger shows up however fast this machine attacks.
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, UAE_PROGRESS_INTERVAL_MS: '0' } });
    let stderr = '';
    let sent = false;
    let failed: unknown;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && when.test(stderr)) {
        sent = true;
        (before ? before(child.pid!) : Promise.resolve()).catch((e) => (failed = e)).finally(() => child.kill('SIGINT'));
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => (failed ? reject(failed) : resolve({ code, stderr, sent })));
  });
}

const json = async (path: string) => JSON.parse(await readFile(path, 'utf8'));
const bytes = (path: string) => readFile(path);

describe('interrupting and resuming', () => {
  it('uae attack: SIGINT keeps the finished samples (partial), --resume attacks the rest and equals an uninterrupted run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-int-attack-'));
    const data = ['--dataset', 'mice-protein', '--train-samples', '12', '--test-samples', '10'];
    const model = join(dir, 'model');
    await uae('train', ...data, '--model', 'dense-ae', '--hidden', '8', '--epochs', '1', '--out', model, '--json');
    const attack = [...data, '--model-dir', model, '--iterations', '60', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1'];

    const whole = join(dir, 'whole');
    await uae('attack', ...attack, '--out', whole, '--quiet');

    const cut = join(dir, 'cut');
    const r = await interruptWhen(['attack', ...attack, '--out', cut], /attack: ([1-9]|1[01])\/12/);
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    const m = /^uae: interrupted \(SIGINT\) during the attack: kept (\d+) of 12 samples in .*cut \(results\.json "partial": true\); rerun with --resume to attack the rest$/.exec(last);
    expect(m, last).not.toBeNull();
    const k = Number(m![1]);
    expect(k).toBeGreaterThan(0);
    expect(k).toBeLessThan(12);
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'interrupted', command: 'attack', stage: 'attack' });
    const partial = await json(join(cut, 'results.json'));
    expect(partial).toMatchObject({ partial: true, samples: 12, done: k });
    expect((await readNpy(join(cut, 'x-adv.npy'))).shape).toEqual([k, 77]);
    // The kept samples are exactly the uninterrupted run's.
    const full = await json(join(whole, 'results.json'));
    const byId = new Map(full.results.map((s: { sampleId: number }) => [s.sampleId, s]));
    for (const s of partial.results) expect(s).toEqual(byId.get(s.sampleId));

    // Without --resume (or --force) the folder is not reused.
    const refused = await uae('attack', ...attack, '--out', cut, '--quiet').catch((e) => e);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds another run \(interrupted at "attack"\)/);

    const resumed = await uae('attack', ...attack, '--out', cut, '--resume');
    expect(resumed.stderr).toContain(`(${k} of 12 kept from the interrupted run)`);
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'complete' });
    const done = await json(join(cut, 'results.json'));
    const untimed = ({ seconds: _s, samples_per_s: _r, ...rest }: Record<string, unknown>) => rest;
    expect(untimed(done)).toEqual(untimed(full));
    expect(done.partial).toBe(false);
    for (const f of ['x-adv.npy', 'success.npy', 'similarity.npy']) expect((await bytes(join(cut, f))).equals(await bytes(join(whole, f))), f).toBe(true);
  }, 240_000);

  it('uae pipeline: SIGINT in the MINE arm keeps the original model and the finished samples, --resume completes the same study', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-int-pipeline-'));
    const args = [
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '8', '--methods', 'mine,init-noise,repeat',
      '--train-samples', '24', '--test-samples', '24', '--epochs', '2', '--retrain-epochs', '2', '--probe', 'mlp', '--classifier-epochs', '2',
      '--iterations', '40', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1',
    ];
    const whole = join(dir, 'whole');
    await uae(...args, '--out', whole, '--quiet');

    const cut = join(dir, 'cut');
    const r = await interruptWhen([...args, '--out', cut], /attack mine: ([1-9]|1\d|2[01])\/22/);
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    const m = /^uae: interrupted \(SIGINT\) at "generate mine": kept models\/original, (\d+) of 22 "mine" samples \(partial\) in .*cut; rerun with --resume to continue$/.exec(last);
    expect(m, last).not.toBeNull();
    const k = Number(m![1]);
    expect(k).toBeGreaterThan(0);
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'interrupted', command: 'pipeline', stage: 'generate mine' });
    expect(await json(join(cut, 'partial', 'mine', 'results.json'))).toMatchObject({ partial: true, samples: 22, done: k });
    expect(existsSync(join(cut, 'models', 'original', 'model.json'))).toBe(true);
    expect(existsSync(join(cut, 'metrics.json'))).toBe(false);

    const resumed = await uae(...args, '--out', cut, '--resume', '--quiet');
    expect(resumed.stderr).toBe('');
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'complete' });
    expect(existsSync(join(cut, 'partial'))).toBe(false);
    const untimed = (m: { methods: Record<string, Record<string, unknown>> }) =>
      JSON.stringify(Object.fromEntries(Object.entries(m.methods).map(([arm, v]) => [arm, { ...v, seconds_per_sample: 0, per_seed: { ...(v['per_seed'] as object), seconds_per_sample: 0 } }])));
    expect(untimed(await json(join(cut, 'metrics.json')))).toBe(untimed(await json(join(whole, 'metrics.json'))));
    for (const f of ['mine-x.npy', 'mine-success.npy', 'mine-similarity.npy', 'mine-diagnostics.csv', 'init-noise-x.npy']) {
      expect((await bytes(join(cut, f))).equals(await bytes(join(whole, f))), f).toBe(true);
    }
  }, 240_000);

  it('uae pipeline --rounds 2: SIGINT in round 2 keeps the models, no attack samples (seed granularity), --resume reruns the seed to the uninterrupted metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-int-rounds-'));
    const args = [
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '8', '--methods', 'mine,repeat', '--rounds', '2',
      '--train-samples', '24', '--test-samples', '24', '--epochs', '2', '--retrain-epochs', '2', '--probe', 'mlp', '--classifier-epochs', '2',
      '--iterations', '40', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1',
    ];
    const whole = join(dir, 'whole');
    await uae(...args, '--out', whole, '--quiet');

    const cut = join(dir, 'cut');
    const r = await interruptWhen([...args, '--out', cut], /round 2 of 2: attack mine: ([1-9]|1\d|2[01])\/22/);
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^uae: interrupted \(SIGINT\) at "round 2 of 2: generate mine": kept models\/original, models\/round-1\/mine in .*cut; rerun with --resume to continue$/);
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'interrupted', command: 'pipeline', stage: 'round 2 of 2: generate mine' });
    expect(existsSync(join(cut, 'partial'))).toBe(false);

    const resumed = await uae(...args, '--out', cut, '--resume', '--quiet');
    expect(resumed.stderr).toBe('');
    expect(untimedDocument(await json(join(cut, 'metrics.json')))).toEqual(untimedDocument(await json(join(whole, 'metrics.json'))));
    for (const f of ['mine-x.npy', 'round-1/mine-x.npy', 'mine-success.npy']) expect((await bytes(join(cut, f))).equals(await bytes(join(whole, f))), f).toBe(true);
  }, 480_000);
});

/** A result document without what differs between two runs of the same study: timings and timestamps. */
function untimedDocument(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(untimedDocument);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !['seconds_per_sample', 'seconds', 'started_at', 'finished_at'].includes(k))
      .map(([k, x]) => [k, untimedDocument(x)]),
  );
}

describe('interrupting a later seed, and uae train', () => {
  it('uae pipeline --seeds 0,1: SIGINT during seed 1 keeps seed 0, --resume runs only seed 1 and ends with the uninterrupted metrics', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-int-seeds-'));
    const args = [
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '8', '--methods', 'mine,repeat', '--seeds', '0,1',
      '--train-samples', '24', '--test-samples', '24', '--epochs', '2', '--retrain-epochs', '2', '--probe', 'mlp', '--classifier-epochs', '2',
      '--iterations', '40', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1',
    ];
    const whole = join(dir, 'whole');
    await uae(...args, '--out', whole, '--quiet');

    const cut = join(dir, 'cut');
    const r = await interruptWhen([...args, '--out', cut], /seed 1 \(2 of 2\)\n[\s\S]*attack mine: ([1-9]|1\d|2[01])\/22/);
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    const m = /^uae: interrupted \(SIGINT\) at "seed 1: generate mine": kept seed 0 \(finished\), seed-1\/models\/original, (\d+) of 22 "mine" samples \(partial\) in .*cut; rerun with --resume to continue$/.exec(last);
    expect(m, last).not.toBeNull();
    const k = Number(m![1]);
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'interrupted', command: 'pipeline', stage: 'seed 1: generate mine' });
    expect(existsSync(join(cut, 'seed-0', 'metrics.json'))).toBe(true);
    expect(existsSync(join(cut, 'seed-1', 'metrics.json'))).toBe(false);
    expect(existsSync(join(cut, 'metrics.json'))).toBe(false);
    expect(await json(join(cut, 'seed-1', 'partial', 'mine', 'results.json'))).toMatchObject({ partial: true, samples: 22, done: k });

    // Seed 0's files as the interruption left them: --resume must not write them again.
    const seed0 = (await readdir(join(cut, 'seed-0'))).filter((f) => f !== 'models');
    const written = new Map(await Promise.all(seed0.map(async (f) => [f, (await stat(join(cut, 'seed-0', f))).mtimeMs] as const)));

    const resumed = await uae(...args, '--out', cut, '--resume');
    expect(resumed.stderr).toContain('seed 0: finished earlier, kept');
    expect(resumed.stderr).toContain(`mine: ${k} of 22 samples finished earlier, kept`);
    expect(resumed.stderr).not.toMatch(/seed 0 \(1 of 2\)/);
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'complete' });
    for (const [f, mtime] of written) expect((await stat(join(cut, 'seed-0', f))).mtimeMs, `seed-0/${f}`).toBe(mtime);
    expect(existsSync(join(cut, 'seed-1', 'partial'))).toBe(false);
    expect(untimedDocument(await json(join(cut, 'metrics.json')))).toEqual(untimedDocument(await json(join(whole, 'metrics.json'))));
    for (const seed of ['seed-0', 'seed-1']) {
      for (const f of ['mine-x.npy', 'mine-success.npy', 'mine-similarity.npy', 'mine-diagnostics.csv', 'mine.npz', 'train-index.npy']) {
        expect((await bytes(join(cut, seed, f))).equals(await bytes(join(whole, seed, f))), `${seed}/${f}`).toBe(true);
      }
      expect(untimedDocument(await json(join(cut, seed, 'metrics.json')))).toEqual(untimedDocument(await json(join(whole, seed, 'metrics.json'))));
    }
  }, 480_000);

  it('uae train: while it trains another run into its --out is refused even with --force; SIGINT writes no model, exits 130 with one line; then --force', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-int-train-'));
    const data = ['--dataset', 'mice-protein', '--train-samples', '40', '--test-samples', '10'];
    const out = join(dir, 'model');
    const r = await interruptWhen(
      ['train', ...data, '--model', 'dense-ae', '--hidden', '8', '--epochs', '100000', '--batch', '10', '--out', out],
      /train dense-ae: [1-9]\d*\/100000/,
      async (pid) => {
        expect(await json(join(out, 'status.json'))).toMatchObject({ status: 'running', command: 'train', stage: 'train', pid });
        const other = await uae('train', ...data, '--model', 'dense-ae', '--epochs', '1', '--out', out, '--force').catch((e) => e);
        expect(other.code).toBe(2);
        expect(other.stderr).toMatch(new RegExp(`^uae: --out \\S+ is in use: a \`uae train\` run \\(pid ${pid}\\) is writing it \\(status\\.json "running" at "train"\\)`));
        expect(other.stderr.split('\n')).toHaveLength(2);
      },
    );
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const lines = r.stderr.trimEnd().split('\n').filter((l) => l.startsWith('uae:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^uae: interrupted \(SIGINT\) during training, after \d+ of 100000 epochs: no model written to .*model \(status\.json "interrupted"\); rerun with --force to train again$/);
    expect(await readdir(out)).toEqual(['status.json']);
    expect(await json(join(out, 'status.json'))).toMatchObject({ status: 'interrupted', command: 'train', stage: 'train', kept: [] });

    const refused = await uae('train', ...data, '--model', 'dense-ae', '--epochs', '1', '--out', out, '--quiet').catch((e) => e);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds another run \(interrupted at "train"\); use --force to replace it, or another --out\n$/);
    const trained = JSON.parse((await uae('train', ...data, '--model', 'dense-ae', '--hidden', '8', '--epochs', '1', '--out', out, '--force', '--json')).stdout);
    expect(trained).toMatchObject({ epochs_run: 1, train_samples: 40 });
    expect((await readdir(out)).sort()).toEqual(['model.json', 'status.json', 'train.json', 'weights.bin']);
    expect(await json(join(out, 'status.json'))).toMatchObject({ status: 'complete', command: 'train', stage: 'save' });
    // A finished model is a run too: not replaced without --force.
    const again = await uae('train', ...data, '--model', 'dense-ae', '--epochs', '1', '--out', out).catch((e) => e);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/holds another run \(complete at "save"\); use --force/);
  }, 240_000);
});

const script = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));

describe('the terminal after Ctrl-C', () => {
  // util-linux `script` gives the command a terminal, so cli-progress draws its bar (and hides the cursor).
  it.skipIf(!script)('shows the cursor again after a progress bar was interrupted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-int-tty-'));
    const data = ['--dataset', 'mice-protein', '--train-samples', '12', '--test-samples', '10'];
    const model = join(dir, 'model');
    await uae('train', ...data, '--model', 'dense-ae', '--hidden', '8', '--epochs', '1', '--out', model, '--json');
    const command = [
      'timeout', '-s', 'INT', '6', process.execPath, bin, 'attack', ...data, '--model-dir', model, '--iterations', '200', '--mine-steps', '1', '--mine-draws', '20',
      '--workers', '1', '--out', join(dir, 'out'),
    ].join(' ');
    // timeout(1) exits 124 once it has sent the signal; `script -e` passes that on.
    const { stdout } = await promisify(execFile)(script!, ['-qfec', command, '/dev/null'], { cwd: root, timeout: 120_000, encoding: 'latin1' }).catch(
      (e: { code: number; stdout: string }) => {
        expect(e.code).toBe(124);
        return e;
      },
    );
    const hidden = stdout.lastIndexOf('\x1b[?25l');
    expect(hidden).toBeGreaterThanOrEqual(0);
    expect(stdout.lastIndexOf('\x1b[?25h')).toBeGreaterThan(hidden);
    expect(stdout).toMatch(/uae: interrupted \(SIGINT\) during the attack: kept \d+ of 12 samples/);
    expect(await json(join(dir, 'out', 'status.json'))).toMatchObject({ status: 'interrupted' });
  }, 120_000);
});
