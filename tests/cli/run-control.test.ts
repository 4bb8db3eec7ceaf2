/** The pieces behind --out, status.json, Ctrl-C and partial attack results (cli/out-dir.ts, run-status.ts, interrupt.ts, sample-results.ts). */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareOutDir } from '../../cli/out-dir.js';
import { readRunStatus, RunStatus, runIsAlive } from '../../cli/run-status.js';
import { Interrupted, interruptScope } from '../../cli/interrupt.js';
import { readSampleResults, writeSampleResults } from '../../cli/sample-results.js';
import type { SampleResult } from '../../libs/attack/index.js';

const fresh = () => mkdtemp(join(tmpdir(), 'uae-runctl-'));

describe('--out policy', () => {
  it('takes a new or empty folder, refuses one holding a run unless --resume or --force, never clears foreign files', async () => {
    const dir = await fresh();
    expect(await prepareOutDir(join(dir, 'new', 'deep'), { command: 'attack' })).toEqual({ earlierRun: false });
    expect(existsSync(join(dir, 'new', 'deep'))).toBe(true);
    expect(await prepareOutDir(join(dir, 'new', 'deep'), { command: 'attack' })).toEqual({ earlierRun: false });

    const run = join(dir, 'run');
    await mkdir(run);
    const status = await RunStatus.start(run, 'pipeline');
    await writeFile(join(run, 'mine-x.npy'), 'old');
    await mkdir(join(run, 'models'));
    // This process is the live run writing it: refused even with --resume or --force, naming the pid.
    for (const p of [{}, { resume: true }, { force: true }]) {
      await expect(prepareOutDir(run, { command: 'pipeline', ...p })).rejects.toThrow(
        new RegExp(`is in use: a \`uae pipeline\` run \\(pid ${process.pid}\\) is writing it \\(status\\.json "running" at "start"\\); wait for it or stop it`),
      );
    }
    expect((await readdir(run)).sort()).toEqual(['mine-x.npy', 'models', 'status.json']);
    await status.finish('interrupted', { message: 'kept nothing' });
    await expect(prepareOutDir(run, { command: 'pipeline' })).rejects.toThrow(/holds another run \(interrupted at "start"\)/);
    await expect(prepareOutDir(run, { command: 'attack', resume: true })).rejects.toThrow(/holds a `uae pipeline` run, not a `uae attack` one/);
    await expect(prepareOutDir(run, { command: 'pipeline', resume: true, force: true })).rejects.toThrow(/exclude each other/);
    expect(await prepareOutDir(run, { command: 'pipeline', resume: true })).toEqual({ earlierRun: true });
    expect((await readdir(run)).sort()).toEqual(['mine-x.npy', 'models', 'status.json']);
    expect(await prepareOutDir(run, { command: 'pipeline', force: true })).toEqual({ earlierRun: false });
    expect(await readdir(run)).toEqual([]);

    // A run from before status.json: its config.json marks it.
    const legacy = join(dir, 'legacy');
    await mkdir(legacy);
    await writeFile(join(legacy, 'config.json'), '{}');
    await expect(prepareOutDir(legacy, { command: 'pipeline' })).rejects.toThrow(/holds another run;/);

    const foreign = join(dir, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'thesis.tex'), 'x');
    await expect(prepareOutDir(foreign, { command: 'pipeline', force: true })).rejects.toThrow(/is not empty and holds no uae run/);
    expect(await readdir(foreign)).toEqual(['thesis.tex']);
  });
});

describe('--out and a status.json that says running', () => {
  const exited = () =>
    new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.on('error', reject);
      child.on('exit', () => resolve(child.pid!));
    });
  const record = (pid: number, extra: object = {}) =>
    JSON.stringify({ status: 'running', command: 'attack', stage: 'attack', started_at: '2026-01-01T00:00:00.000Z', updated_at: '2026-01-01T00:00:00.000Z', pid, host: hostname(), ...extra });

  it('a live pid is refused even with --resume or --force; a dead one is an interrupted run; another host cannot be checked', async () => {
    const dir = await fresh();
    // A live process other than this one.
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'status.json'), record(sleeper.pid!));
      expect(runIsAlive((await readRunStatus(dir))!)).toBe(true);
      for (const p of [{}, { resume: true }, { force: true }]) {
        await expect(prepareOutDir(dir, { command: 'attack', ...p })).rejects.toThrow(`(pid ${sleeper.pid}) is writing it`);
      }
    } finally {
      sleeper.kill();
    }
    const dead = await exited();
    await writeFile(join(dir, 'status.json'), record(dead));
    await writeFile(join(dir, 'results.json'), '{}');
    expect(runIsAlive((await readRunStatus(dir))!)).toBe(false);
    await expect(prepareOutDir(dir, { command: 'attack' })).rejects.toThrow(
      `holds another run (interrupted at "attack": status.json says running, but its process ${dead} is gone); use --resume to continue it, --force to replace it, or another --out`,
    );
    await expect(prepareOutDir(dir, { command: 'train', resumable: false })).rejects.toThrow(/holds a `uae attack` run, not a `uae train` one/);
    expect(await prepareOutDir(dir, { command: 'attack', resume: true })).toEqual({ earlierRun: true });
    // Written on another machine: nothing to check, so it is shown as running and --resume/--force decide.
    await writeFile(join(dir, 'status.json'), record(process.pid, { host: `not-${hostname()}` }));
    expect(runIsAlive((await readRunStatus(dir))!)).toBeUndefined();
    await expect(prepareOutDir(dir, { command: 'attack' })).rejects.toThrow(/holds another run \(running\); use --resume/);
    expect(await prepareOutDir(dir, { command: 'attack', force: true })).toEqual({ earlierRun: false });
    expect(await readdir(dir)).toEqual([]);
  });

  it('a uae train model folder (train.json) is a run; train offers only --force', async () => {
    const dir = await fresh();
    await writeFile(join(dir, 'model.json'), '{}');
    await writeFile(join(dir, 'train.json'), '{}');
    await expect(prepareOutDir(dir, { command: 'train', resumable: false })).rejects.toThrow(/holds another run; use --force to replace it, or another --out$/);
  });
});

describe('status.json', () => {
  it('goes running → stage changes → a final state, written atomically (no temporary file left)', async () => {
    const dir = await fresh();
    const s = await RunStatus.start(dir, 'pipeline');
    expect(await readRunStatus(dir)).toMatchObject({ status: 'running', command: 'pipeline', stage: 'start', pid: process.pid });
    s.enter('train original');
    s.enter('generate mine');
    await s.finish('failed', { message: 'boom' });
    const final = await readRunStatus(dir);
    expect(final).toMatchObject({ status: 'failed', stage: 'generate mine', message: 'boom' });
    expect(Date.parse(final!.updated_at)).toBeGreaterThanOrEqual(Date.parse(final!.started_at));
    s.enter('retrain mine'); // after the end: ignored
    expect(await readdir(dir)).toEqual(['status.json']);
    expect((await readRunStatus(dir))!.stage).toBe('generate mine');
    await writeFile(join(dir, 'status.json'), '{not json');
    await expect(readRunStatus(dir)).rejects.toThrow(/status\.json: not a status file/);
  });
});

describe('interruptScope', () => {
  it('turns SIGINT or SIGTERM into an abort with the signal, and lets go of the handlers', () => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const before = process.listenerCount(sig);
      const scope = interruptScope();
      expect(process.listenerCount(sig)).toBe(before + 1);
      expect(scope.signal.aborted).toBe(false);
      process.emit(sig, sig);
      expect(scope.signal.aborted).toBe(true);
      expect(scope.interrupted).toBe(sig);
      expect(scope.signal.reason).toBeInstanceOf(Interrupted);
      expect((scope.signal.reason as Interrupted).message).toBe(`interrupted by ${sig}`);
      scope.dispose();
      expect(process.listenerCount(sig)).toBe(before);
    }
  });
});

describe('attack results on disk', () => {
  it('round-trips results in sample-id order, NaN included, with traces when asked', async () => {
    const dir = await fresh();
    const r = (id: number, success: boolean, similarity: number): SampleResult => ({
      sampleId: id,
      xAdv: Float32Array.from([id / 10, 0.25, Math.fround(1 / 3)]),
      success,
      similarity,
      f: success ? -0.5 : 0.125,
      finalC: 0.001,
      iterations: 4,
      bestIteration: success ? 3 : 0,
      trace: { similarity: [NaN, similarity], f: [0.5, -0.5], c: [0.001, 0.001] },
    });
    const results = [r(5, true, 0.75), r(2, false, NaN)];
    await writeSampleResults(dir, results, [3], { partial: true, samples: 9, done: 2, config: { a: 1 } }, { traces: true });
    expect((await readdir(dir)).sort()).toEqual(['results.json', 'similarity.npy', 'success.npy', 'x-adv.npy']);
    const back = await readSampleResults(dir, 3);
    expect(back.header).toMatchObject({ partial: true, samples: 9, done: 2, config: { a: 1 } });
    expect(back.results).toEqual([results[1], results[0]]);
    // Without traces the records are those `uae attack` has always written.
    await writeSampleResults(dir, results, [3], { partial: false, samples: 2, done: 2 });
    const doc = JSON.parse(await readFile(join(dir, 'results.json'), 'utf8'));
    expect(Object.keys(doc.results[0]).sort()).toEqual(['bestIteration', 'f', 'finalC', 'iterations', 'sampleId', 'similarity', 'success']);
    await expect(readSampleResults(dir, 4)).rejects.toThrow(/x-adv\.npy: shape \[2, 3\] does not hold the 2 samples of results\.json \(4 values each\)/);
  });
});
