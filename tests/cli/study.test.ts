/**
 * `uae study` in real processes on examples/study-tiny.json (two cells, seeds
 * 0 and 1, the Fashion-MNIST slice): study.json and study.md with both cells;
 * SIGINT once the first cell finished → exit 130, the first cell kept;
 * `--resume` skips it (its files untouched) and ends with the uninterrupted
 * run's metrics. Plus --dry-run and an error naming the field.
 */
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BEGIN_MARKER, END_MARKER } from '../../cli/study-doc.js';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/uae.mjs');
// Generous limits: these run at nice 19 beside a long experiment (a tiny study takes 40 s on an idle core, minutes when starved).
const uae = (...args: string[]) => promisify(execFile)(process.execPath, [bin, ...args], { cwd: root, timeout: 900_000 });
const TINY = 'examples/study-tiny.json';
const json = async (path: string) => JSON.parse(await readFile(path, 'utf8'));

/** Runs `uae args` and sends SIGINT once stderr matches `when`; resolves with the exit code and stderr. */
function interruptWhen(args: string[], when: RegExp): Promise<{ code: number | null; stderr: string; sent: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, UAE_PROGRESS_INTERVAL_MS: '0' } });
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

/**
 * A study.json without what differs between two runs of the same study:
 * timings, timestamps, and the git commit (a checkout edited while the test
 * runs turns "-dirty" between the two runs).
 */
function untimed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(untimed);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !['seconds_per_sample', 'started_at', 'finished_at', 'commit'].includes(k))
      .map(([k, x]) => [k, untimed(x)]),
  );
}

describe('uae study', () => {
  it('writes study.json and study.md; SIGINT after the first cell keeps it, --resume skips it and gives the uninterrupted results', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-study-'));
    const whole = join(dir, 'whole');
    await uae('study', TINY, '--out', whole, '--quiet');
    const full = await json(join(whole, 'study.json'));
    expect(full).toMatchObject({ kind: 'uae.study-result', name: 'tiny', complete: true, backend: expect.any(String), tool: { name: 'uae' } });
    expect(full.cells.map((c: { id: string; status: string }) => [c.id, c.status])).toEqual([
      ['t4-conv', 'complete'],
      ['t6-concrete', 'complete'],
    ]);
    for (const c of full.cells) {
      // Each cell is a uae pipeline folder: its metrics.json is the cell's metrics in study.json, and its config.json the cell's run.
      expect(c.metrics).toEqual(await json(join(whole, 'cells', c.id, 'metrics.json')));
      expect(c.run).toEqual(await json(join(whole, 'cells', c.id, 'config.json')));
      expect(c.metrics.seeds).toEqual([0, 1]);
      expect(await json(join(whole, 'cells', c.id, 'status.json'))).toMatchObject({ status: 'complete', command: 'pipeline' });
    }
    expect(Object.keys(full.cells[0].metrics.methods)).toEqual(['original', 'mine', 'init-noise', 'l2', 'ga-0.05', 'repeat']);
    expect(await json(join(whole, 'status.json'))).toMatchObject({ status: 'complete', command: 'study' });
    const md = await readFile(join(whole, 'study.md'), 'utf8');
    expect(md).toMatch(/^# Study: tiny\n/);
    expect(md).toContain('2 of 2 cells finished');
    expect(md).toContain('## Table 4\n\n### `t4-conv`: Table 4, MNIST, row "Convolutional"');
    expect(md).toContain('## Table 6\n\n### `t6-concrete`: Table 6, row "Fashion MMIST" [sic]');
    expect(md).toContain('Budget: seeds 0, 1; 16 trained on and attacked, 0 validation, 32 test;');
    // The paper's value next to ours with its interval, and the verdict of mine against the original.
    const original = md.split('\n').find((l) => l.startsWith('| test recon error | original | 0.00294 |'));
    expect(original).toMatch(/^\| test recon error \| original \| 0\.00294 \| [\d.e-]+ \[[\d.e-]+, [\d.e-]+\] \| (\*\*better\*\*|\*\*worse\*\*|indistinguishable) \(/);
    expect(md).toMatch(/\| ASR \(training\) \| ga-0\.05 \(paper: ga:1\) \| 68\.71% \| not measured \|/);
    expect(md).toMatch(/\| accuracy \(ExtraTrees\) \| original \| 84\.92% \| [\d.]+% \[/);

    // --doc: the generated part above the end marker, the hand-written text kept below it, both times.
    const doc = join(dir, 'results.md');
    await writeFile(doc, 'Hand-written analysis.\n');
    await uae('study', TINY, '--out', whole, '--resume', '--quiet', '--doc', doc);
    const first = await readFile(doc, 'utf8');
    expect(first.startsWith(BEGIN_MARKER + '\n# Results\n')).toBe(true);
    expect(first).toContain(`\n\`\`\`sh\nnpx uae study ${TINY} --out ${whole} --doc ${doc}\n\`\`\`\n`);
    expect(first).toMatch(/\nMachine: \d+ × .+, \d+ GiB, .+, Node v\d+/);
    expect(first).toContain('\n## Study: tiny\n'); // study.md, one level down
    expect(first).toContain(md.split('\n').find((l) => l.startsWith('| test recon error | original | 0.00294 |'))!);
    expect(first.endsWith(`${END_MARKER}\n\nHand-written analysis.\n`)).toBe(true);
    await writeFile(doc, first.replace('Hand-written analysis.', 'Hand-written analysis, edited.'));
    await uae('study', TINY, '--out', whole, '--resume', '--quiet', '--doc', doc);
    const second = await readFile(doc, 'utf8');
    expect(second.split(END_MARKER)[0]!.replace(/load average [\d.]+|took \d+ s/g, '')).toBe(first.split(END_MARKER)[0]!.replace(/load average [\d.]+|took \d+ s/g, ''));
    expect(second.endsWith(`${END_MARKER}\n\nHand-written analysis, edited.\n`)).toBe(true);

    const cut = join(dir, 'cut');
    const r = await interruptWhen(['study', TINY, '--out', cut], /cell t4-conv \(1 of 2\): finished\n/);
    expect(r.sent).toBe(true);
    expect(r.code).toBe(130);
    const last = r.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^uae: interrupted \(SIGINT\) (in cell t6-concrete at "[^"]+"|between cells): kept cell t4-conv \(finished\)(; cell t6-concrete: .+)? in .*cut; rerun with --resume to continue$/);
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'interrupted', command: 'study', kept: [expect.stringMatching(/^cell t4-conv \(finished\)$/), ...(/in cell/.test(last) ? [expect.any(String)] : [])] });
    const partial = await json(join(cut, 'study.json'));
    expect(partial.complete).toBe(false);
    expect(partial.cells.map((c: { status: string }) => c.status)).toEqual(['complete', 'pending']);
    expect(await readFile(join(cut, 'study.md'), 'utf8')).toContain('Not run yet');
    const kept = ['metrics.json', 'config.json', 'seed-0/mine-x.npy', 'seed-1/metrics.json'].map((f) => join(cut, 'cells', 't4-conv', f));
    const before = await Promise.all(kept.map(async (f) => ({ mtime: (await stat(f)).mtimeMs, bytes: await readFile(f) })));

    // Without --resume the folder is not reused.
    const refused = await uae('study', TINY, '--out', cut, '--quiet').catch((e) => e);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/holds another run/);

    const resumed = await uae('study', TINY, '--out', cut, '--resume');
    expect(resumed.stderr).toContain('cell t4-conv (1 of 2): finished earlier, kept');
    expect(resumed.stderr).not.toContain('[t4-conv]');
    expect(resumed.stdout).toMatch(/^# Study: tiny\n/);
    for (const [i, f] of kept.entries()) {
      expect((await stat(f)).mtimeMs, f).toBe(before[i]!.mtime);
      expect((await readFile(f)).equals(before[i]!.bytes), f).toBe(true);
    }
    expect(await json(join(cut, 'status.json'))).toMatchObject({ status: 'complete' });
    const done = await json(join(cut, 'study.json'));
    expect(untimed(done)).toEqual(untimed(full));
  }, 1_800_000);

  it('--dry-run prints every cell resolved with the budget flags over it; a bad field is named', async () => {
    const r = await uae('study', TINY, '--dry-run', '--seeds', '4', '--iterations', '2');
    const doc = JSON.parse(r.stdout);
    expect(doc.overrides).toEqual({ seeds: [4], iterations: 2 });
    for (const c of doc.cells) {
      expect(c).toMatchObject({ status: 'pending', run: { kind: 'uae.pipeline', seeds: [4], dataSeed: 4, attack: { iterations: 2, mineSteps: 1 } } });
      // Resolved: the schema's defaults are there.
      expect(c.run.patience).toBeTypeOf('number');
    }
    const dir = await mkdtemp(join(tmpdir(), 'uae-study-bad-'));
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, ['name: bad', 'defaults: { dataset: mice-protein }', 'cells:', '  - { id: a, row: table4-conv-mnist, run: { model: conv-ae } }', '  - { id: b, row: table4-conv-mnist, run: { model: conv-ae, attack: { iterations: -3 } } }'].join('\n'));
    const e = await uae('study', bad, '--dry-run').catch((x) => x);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/^uae: .*bad\.yaml: cells\[1\]\.run\.attack\.iterations: /);
  }, 600_000);
});
