/**
 * The conventions every `uae` command keeps (README "Conventions"): --version,
 * every error one line `uae: …` on stderr with exit code 2 (commander's usage
 * errors included), file errors naming their flag, --quiet accepted
 * everywhere it was missing, the result tables in each --format, and help
 * texts citing the paper rather than a file outside the repository.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLine } from '../../cli/conventions.js';
import { studyTables } from '../../cli/result-tables.js';
import { boxTable, csvTable, markdownTable } from '../../cli/tables.js';
import { writeNpy } from '../../libs/data/index.js';
import type { ResultMetrics } from '../../libs/results/index.js';
import { toolInfo } from '../../libs/runtime/package-info.js';

const exec = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;

/** Runs bin/uae.mjs; never rejects: { code, stdout, stderr }. */
async function uae(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await exec(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 120_000 });
    return { code: 0, ...r };
  } catch (e) {
    const f = e as { code: number; stdout: string; stderr: string };
    return { code: f.code, stdout: f.stdout, stderr: f.stderr };
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uae-conventions-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('uae conventions', () => {
  it('--version prints the package version', async () => {
    expect(await uae('--version')).toEqual({ code: 0, stdout: `${toolInfo().version}\n`, stderr: '' });
  });

  it('usage errors are one line on stderr with exit code 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['pipeline', '--model', 'dense-ae', '--dataset', 'mice-protein', '--out', dir, '--no-such-flag'], /^uae: unknown option '--no-such-flag'$/],
      [['train', '--dataset', 'mice-protein', '--out', dir], /^uae: required option '--model <kind>' not specified$/],
      [['train', '--model', 'dense-ae', '--dataset', 'mice-protein', '--out', dir, '--seed', 'x'], /^uae: option '--seed <n>' argument 'x' is invalid\. --seed must be a non-negative integer$/],
      [['pipeline', '--model', 'dense-ae', '--dataset', 'mice-protein', '--out', dir, '--format', 'xml'], /^uae: option '--format <format>' argument 'xml' is invalid\. Allowed choices are table, json, md, csv\.$/],
      [['frobnicate'], /^uae: unknown command 'frobnicate'$/],
      [[], /^uae: missing command, one of pipeline, train, .*, artifacts \(uae --help\)$/],
      [['mine'], /^uae: mine: missing command, one of estimate \(uae mine --help\)$/],
    ];
    for (const [args, re] of cases) {
      const r = await uae(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr.split('\n'), args.join(' ')).toHaveLength(2); // one line and its newline
      expect(r.stderr.trimEnd(), args.join(' ')).toMatch(re);
    }
  });

  it('--help exits 0 and cites the paper, not a file outside the repository', async () => {
    const r = await uae('pipeline', '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Sections 3\.5 and 4\.1/);
    expect(r.stdout).toMatch(/--format <format>/);
    expect(r.stdout).not.toMatch(/ALGORITHMS\.md/);
  });

  it('no tracked file points at the paper notes outside the repository (docs/algorithms.md has what they need)', async () => {
    const name = ['ALGORITHMS', 'md'].join('.');
    const found = await exec('git', ['-C', root, 'grep', '-l', '-F', name]).then((r) => r.stdout, (e: { code: number; stdout: string }) => (e.code === 1 ? '' : Promise.reject(e)));
    expect(found).toBe('');
  });

  it('file errors name their flag; evaluate and mine take --quiet', async () => {
    const missing = join(dir, 'nonexist');
    const evaluate = await uae('evaluate', '--model-dir', missing, '--dataset', 'mice-protein', '--quiet');
    expect(evaluate.code).toBe(2);
    expect(evaluate.stderr).toMatch(new RegExp(`^uae: --model-dir ${missing}: .*ENOENT.*\\n$`));

    const y = join(dir, 'y.npy');
    await writeNpy(y, [4, 2], new Float32Array(8));
    const mine = await uae('mine', 'estimate', '--x', `${missing}.npy`, '--y', y, '--quiet');
    expect(mine.code).toBe(2);
    expect(mine.stderr).toMatch(new RegExp(`^uae: --x ${missing}\\.npy: ENOENT: no such file or directory, open '${missing}\\.npy'\\n$`));

    const notNpy = join(dir, 'not.npy');
    await writeFile(notNpy, 'hello');
    const attack = await uae('attack', '--model-dir', missing, '--x', notNpy, '--out', join(dir, 'a'));
    expect(attack.stderr).toMatch(new RegExp(`^uae: --model-dir ${missing}: `));

    const dataset = await uae('train', '--model', 'dense-ae', '--dataset', `npy:${missing}`, '--out', join(dir, 'm'), '--quiet');
    expect(dataset.code).toBe(2);
    expect(dataset.stderr).toMatch(new RegExp(`^uae: --dataset npy:${missing}: `));
  });
});

describe('--quiet on summarize', () => {
  it('silences the note that metrics.json predates the result schema; stdout is the same', async () => {
    const study = join(dir, 'old-study');
    await mkdir(study);
    const arm = (e: number) => ({ test_recon_error: e, per_seed: { test_recon_error: [e] }, std: {}, ci95: {} });
    // metrics.json as a uae before the result schema wrote it: no schema_version, tool or timestamps.
    await writeFile(join(study, 'metrics.json'), JSON.stringify({
      dataset: 'mice-protein', model: 'dense-ae', backend: 'wasm', seeds: [0], seed: 0, train_samples: 10, validation_samples: 0, test_samples: 8,
      methods: { original: arm(0.0123), mine: arm(0.0105) }, comparisons: [],
    }));
    const loud = await uae('summarize', study);
    expect(loud.code).toBe(0);
    expect(loud.stdout).toMatch(/^\| mine \| 0\.01050/m);
    expect(loud.stderr).toBe(`${join(study, 'metrics.json')}: no schema_version (written by a uae before the result schema); read as this version's fields\n`);
    expect(await uae('summarize', study, '--quiet')).toEqual({ code: 0, stdout: loud.stdout, stderr: '' });
  });
});

describe('errorLine', () => {
  it('folds a multi-line message into one line and drops commander\'s "error: "', () => {
    expect(errorLine(new Error('config.dataset: required\n  config.model: required\n'))).toEqual({ line: 'uae: config.dataset: required; config.model: required', exitCode: 2 });
    expect(errorLine(new Error("error: unknown option '--x'"))).toEqual({ line: "uae: unknown option '--x'", exitCode: 2 });
    expect(errorLine('thrown string')).toEqual({ line: 'uae: thrown string', exitCode: 2 });
  });
});

describe('result tables', () => {
  const rows = [
    { method: 'original', 'test recon error': '0.01230', improvement: '' },
    { method: 'ga-0.05, "wide"', 'test recon error': '0.01100', improvement: '10.57%' },
  ];

  it('a boxed table without an index column, numbers right-aligned', () => {
    const lines = boxTable(rows).trimEnd().split('\n');
    expect(lines).toHaveLength(6); // top, header, rule, two rows, bottom
    expect(lines[1]).toMatch(/^│ method\s+│ test recon error │ improvement │$/);
    expect(lines[2]).toMatch(/^├─+┼─+┼─+┤$/);
    expect(lines[3]).toMatch(/^│ original\s+│\s+0\.01230 │\s+│$/);
    expect(lines[4]).toMatch(/│\s+10\.57% │$/);
    expect(boxTable(rows)).not.toMatch(/\(index\)|'/);
  });

  it('Markdown and CSV (quoted where needed)', () => {
    expect(markdownTable(rows)).toBe('| method | test recon error | improvement |\n|---|---|---|\n| original | 0.01230 |  |\n| ga-0.05, "wide" | 0.01100 | 10.57% |\n');
    expect(csvTable(rows)).toBe('method,test recon error,improvement\noriginal,0.01230,\n"ga-0.05, ""wide""",0.01100,10.57%\n');
  });

  it('the study tables: arms in the configured order, verdicts with several seeds, CSV the results alone', () => {
    const arm = (e: number, extra: object = {}) => ({ test_recon_error: e, per_seed: { test_recon_error: [e, e] }, std: {}, ci95: { test_recon_error: [e - 0.001, e + 0.001] as [number, number] }, ...extra });
    const metrics: ResultMetrics = {
      dataset: 'mice-protein', model: 'dense-ae', backend: 'wasm', seeds: [0, 1], seed: 0, train_samples: 10, validation_samples: 0, test_samples: 8,
      methods: { repeat: arm(0.011, { improvement: 0.1 }), original: arm(0.0123), mine: arm(0.0105, { improvement: 0.15, asr: 0.8 }) },
      comparisons: [{ arm: 'mine', control: 'repeat', metric: 'test_recon_error', diff: -0.0005, ci95: [-0.001, -0.0001], verdict: 'better', seeds: 2 }],
    };
    const md = studyTables(metrics, 'md', ['mine', 'repeat']);
    expect(md.match(/^\| (original|mine|repeat) \|/gm)).toEqual(['| original |', '| mine |', '| repeat |']);
    expect(md).toMatch(/\| 95% CI \|/);
    expect(md).toMatch(/### Paired verdicts \(95%\)\n\n\| comparison \| metric \| mean diff \| 95% CI \| verdict \|\n\|---\|---\|---\|---\|---\|\n\| mine vs repeat \| test_recon_error \| -0\.000500 \| \[-0\.00100, -0\.000100\] \| better \|/);
    const csv = studyTables(metrics, 'csv', ['mine', 'repeat']).trimEnd().split('\n');
    expect(csv).toHaveLength(4);
    expect(csv[0]).toBe('method,test recon error,95% CI,improvement,ASR,acc (MLP),acc (ExtraTrees),steps,s/sample');
    expect(csv[2]).toBe('mine,0.01050,"[0.00950, 0.01150]",15.00%,80.00%,,,,');
  });
});
