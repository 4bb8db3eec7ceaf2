/**
 * The study file (libs/study): every cell resolved by the pipeline's run
 * document schema, errors naming the field where it was written, budget
 * overrides over every cell, YAML as JSON, the paper table's rows, and one
 * cell's metrics set against its paper row.
 */
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseRunConfig, PIPELINE_DEFAULTS } from '../../libs/augment/index.js';
import { compareCell, PAPER_ROWS, PAPER_ROW_KEYS, PAPER_TABLES, parseStudyFile, studyFileText, StudyFileError, type ComparisonLine } from '../../libs/study/index.js';
import type { ResultMetrics } from '../../libs/results/index.js';

const root = new URL('../../', import.meta.url).pathname;

const base = {
  name: 't',
  defaults: { dataset: 'mice-protein', trainSamples: 24, epochs: 3, attack: { iterations: 5, mineSteps: 2 } },
  cells: [
    { id: 'a', row: 'table4-conv-mnist', run: { model: 'conv-ae', dataset: 'fashion-mnist' } },
    { id: 'b', row: 'table6-mice-protein', run: { model: 'concrete-ae', k: 10, epochs: 7 } },
  ],
};

/** The problems of a study file that does not parse, as `field: message` lines. */
function problems(input: unknown, overrides = {}): string[] {
  try {
    parseStudyFile(input, { overrides });
  } catch (e) {
    if (!(e instanceof StudyFileError)) throw e;
    return e.problems.map((p) => `${p.field}: ${p.message}`);
  }
  throw new Error('parsed');
}

const withCell = (i: number, patch: Record<string, unknown>) => ({ ...base, cells: base.cells.map((c, j) => (j === i ? { ...c, ...patch } : c)) });

describe('study file', () => {
  it("resolves every cell as defaults ← cell.run through the run document's schema (the one source of defaults)", () => {
    const s = parseStudyFile(base);
    expect(s.cells.map((c) => c.id)).toEqual(['a', 'b']);
    const [a, b] = s.cells;
    expect(a!.run).toEqual(parseRunConfig({ dataset: 'fashion-mnist', trainSamples: 24, epochs: 3, model: 'conv-ae', attack: { iterations: 5, mineSteps: 2 } }));
    expect(a!.run.retrainEpochs).toBe(PIPELINE_DEFAULTS.retrainEpochs);
    expect(b!.run.epochs).toBe(7);
    expect(b!.run.dataset).toBe('mice-protein');
    // The concrete AE's convergence cap follows the cell's own epochs (the schema's rule, not ours).
    expect(b!.run).toMatchObject({ k: 10, maxEpochs: PIPELINE_DEFAULTS.maxEpochsFactor * 7 });
  });

  it('names the field at fault where it was written: the cell, the defaults or the flag', () => {
    expect(problems(withCell(1, { run: { model: 'concrete-ae', k: 10, attack: { iterations: -1 } } }))).toEqual([
      expect.stringMatching(/^cells\[1\]\.run\.attack\.iterations: /),
    ]);
    // Cell b sets its own epochs, so only cell a takes the bad default.
    expect(problems({ ...base, defaults: { ...base.defaults, epochs: 'many' } })).toEqual([expect.stringMatching(/^defaults\.epochs \(cells\[0\]\): expected number/)]);
    // A bad default that every cell takes is said once.
    expect(problems({ ...base, defaults: { ...base.defaults, batch: 0 } })).toEqual([expect.stringMatching(/^defaults\.batch \(cells\[0\], cells\[1\]\): /)]);
    expect(problems(base, { iterations: 0, seeds: [1, 1] })).toEqual(['--seeds (cells[0], cells[1]): 1 is listed twice', expect.stringMatching(/^--iterations \(cells\[0\], cells\[1\]\): .*>=1; got 0$/)]);
    expect(problems(withCell(0, { run: {} }))).toEqual([expect.stringMatching(/^cells\[0\]\.run\.model: must be one of dense-ae, .*; got undefined$/)]);
    expect(problems(withCell(0, { colour: 'red' }))).toEqual(['cells[0].colour: unknown field']);
    expect(problems(withCell(1, { run: { model: 'concrete-ae', k: 10, roundz: 2 } }))).toEqual(['cells[1].run.roundz: unknown field']);
    // Fields of the run document (rounds, fid) pass through to the cell, checked there.
    expect(problems(withCell(1, { run: { model: 'concrete-ae', k: 10, rounds: 0 } }))).toEqual([expect.stringMatching(/^cells\[1\]\.run\.rounds: /)]);
    expect(problems(withCell(0, { row: 'table99' }))[0]).toMatch(/^cells\[0\]\.row: not a paper row; one of table4-conv-mnist, /);
    expect(problems(withCell(1, { id: 'a' }))).toEqual(['cells[1].id: "a" is also cells[0].id']);
    expect(problems(withCell(0, { id: '../x' }))[0]).toMatch(/^cells\[0\]\.id: must be letters/);
    expect(problems({ ...base, cells: [] })[0]).toMatch(/^cells: /);
    expect(problems({ cells: base.cells })[0]).toMatch(/^name: /);
  });

  it("refuses a cell whose settings are not its paper row's (model, the row's own settings)", () => {
    expect(problems(withCell(0, { run: { model: 'dense-ae' } }))).toEqual([expect.stringMatching(/^cells\[0\]\.run\.model: row table4-conv-mnist .* is the paper's conv-ae; got "dense-ae"$/)]);
    expect(problems(withCell(1, { run: { model: 'concrete-ae', k: 5 } }))).toEqual([expect.stringMatching(/^cells\[1\]\.run\.k: row table6-mice-protein .* needs 10; got 5$/)]);
    const penalty = { ...base, cells: [{ id: 'p', row: 'suppmat6.6-penalty-2x20', run: { model: 'conv-ae', attack: { method: 'penalty', searchSteps: 4 } } }] };
    expect(problems(penalty)).toEqual([expect.stringMatching(/^cells\[0\]\.run\.attack\.searchSteps: .* needs 2; got 4$/), expect.stringMatching(/^defaults\.attack\.iterations \(cells\[0\]\): .* needs 40; got 5$/)]);
  });

  it('budget overrides replace those settings in every cell and leave the rest', () => {
    const s = parseStudyFile(base, { overrides: { seeds: [3, 4], epochs: 1, trainSamples: 8, iterations: 2 } });
    for (const c of s.cells) {
      expect(c.run).toMatchObject({ seeds: [3, 4], epochs: 1, trainSamples: 8, dataSeed: 3 });
      expect(c.run.attack).toMatchObject({ iterations: 2, mineSteps: 2 });
    }
    expect(s.overrides).toEqual({ seeds: [3, 4], epochs: 1, trainSamples: 8, iterations: 2 });
    const plain = parseStudyFile(base);
    expect(plain.cells[1]!.run.epochs).toBe(7);
    expect(plain.cells[0]!.run.seeds).toEqual([...PIPELINE_DEFAULTS.seeds]);
  });

  it('reads YAML as the same document as JSON, and names a syntax error', () => {
    const yaml = ['name: t', 'defaults:', '  dataset: mice-protein', '  attack: { iterations: 5 }', 'cells:', '  - id: a', '    row: table4-conv-mnist', '    run:', '      model: conv-ae'].join('\n');
    const json = JSON.stringify({ name: 't', defaults: { dataset: 'mice-protein', attack: { iterations: 5 } }, cells: [{ id: 'a', row: 'table4-conv-mnist', run: { model: 'conv-ae' } }] });
    expect(studyFileText(yaml, 's.yaml')).toEqual(studyFileText(json, 's.json'));
    expect(() => studyFileText('{ "name": ', 's.json')).toThrow(/^s\.json: \(document\): not JSON: /);
    expect(() => studyFileText('a: [1,', 's.yml')).toThrow(/^s\.yml: \(document\): not YAML: /);
  });

  it('the examples parse: the tiny one with two seeds, the CPU one with three covering Table 4 and Table 6', async () => {
    const read = async (f: string) => parseStudyFile(studyFileText(await readFile(join(root, 'examples', f), 'utf8'), f));
    const tiny = await read('study-tiny.json');
    expect(tiny.cells.length).toBe(2);
    for (const c of tiny.cells) expect(c.run.seeds).toEqual([0, 1]);
    const cpu = await read('study-cpu.json');
    for (const c of cpu.cells) expect(c.run.seeds).toEqual([0, 1, 2]);
    const tables = new Set(cpu.cells.map((c) => PAPER_ROWS[c.row].table));
    expect(tables).toEqual(new Set(['Table 4', 'Table 6']));
    expect(new Set(cpu.cells.map((c) => c.run.model))).toEqual(new Set(['conv-ae', 'sparse-ae', 'concrete-ae']));
  });
});

describe("the paper's values", () => {
  it('every row cites its table and lies in one of the sections study.md groups by; the headline numbers are those of the text', () => {
    for (const key of PAPER_ROW_KEYS) {
      const row = PAPER_ROWS[key];
      expect(PAPER_TABLES).toContain(row.table);
      expect(row.source.startsWith(row.table)).toBe(true);
      expect(row.values.length).toBeGreaterThan(0);
    }
    const v = (key: keyof typeof PAPER_ROWS, arm: string, metric: string) => PAPER_ROWS[key].values.find((x) => x.arm === arm && x.metric === metric)?.value;
    expect(v('table4-conv-mnist', 'original', 'test_recon_error')).toBe(0.00294);
    expect(v('table4-conv-mnist', 'mine', 'asr')).toBeCloseTo(0.9986, 12);
    expect(v('table6-mice-protein', 'original', 'accuracy_extratrees')).toBeCloseTo(0.8981, 12);
    expect(v('table8-k500', 'mine', 'fid')).toBe(200.12);
    expect(v('suppmat6.6-penalty-4x10', 'mine', 'asr')).toBeCloseTo(0.9354, 12);
    expect(v('suppmat6.15-round2', 'mine', 'test_recon_error')).toBe(0.00199);
  });
});

describe('a cell against its paper row', () => {
  const arm = (err: number, extra: Record<string, unknown> = {}) => ({ test_recon_error: err, per_seed: { test_recon_error: [err, err] }, std: {}, ci95: { test_recon_error: [err * 0.9, err * 1.1] as [number, number] }, ...extra });
  const metrics = {
    dataset: 'fashion-mnist',
    model: 'conv-ae',
    backend: 'cpu',
    seeds: [0, 1],
    seed: 0,
    train_samples: 10,
    validation_samples: 0,
    test_samples: 10,
    methods: {
      original: arm(0.003),
      mine: arm(0.0025, { asr: 0.5, mi: { mean: 1.2, median: 1.1, min: 0, max: 2, count: 4 } }),
      'init-noise': arm(0.0026),
      'ga-0.1': arm(0.0031),
    },
    comparisons: [
      { arm: 'mine', control: 'original', metric: 'test_recon_error', diff: -0.0005, ci95: [-0.0007, -0.0003], verdict: 'better', seeds: 2 },
      { arm: 'mine', control: 'init-noise', metric: 'test_recon_error', diff: -0.0001, ci95: [-0.001, 0.0008], verdict: 'indistinguishable', seeds: 2 },
      { arm: 'mine', control: 'ga-0.1', metric: 'test_recon_error', diff: -0.0006, ci95: [-0.0009, -0.0003], verdict: 'better', seeds: 2 },
    ],
  } as unknown as ResultMetrics;
  const cellOf = (row: string) => parseStudyFile({ name: 't', cells: [{ id: 'c', row, run: { dataset: 'fashion-mnist', model: 'conv-ae', ...(row.startsWith('table8') ? { attack: { similarity: { kind: 'mine', mine: { sampler: 'random', draws: 500 } } } } : {}) } }] }).cells[0]!;
  const find = (lines: ComparisonLine[], arm: string, metric: string) => lines.find((l) => l.arm === arm && l.metric === metric);

  it("pairs the paper's arms with ours (GA by order), carries our verdicts, and lists our other arms as controls", () => {
    const { lines } = compareCell(cellOf('table4-conv-mnist'), metrics);
    expect(find(lines, 'original', 'test_recon_error')).toMatchObject({ paper: { value: 0.00294 }, ours: { mean: 0.003, ci95: [0.003 * 0.9, 0.003 * 1.1], seeds: 2 }, verdict: { verdict: 'better' }, paperDirection: 'better', control: false });
    expect(find(lines, 'ga-0.1', 'test_recon_error')).toMatchObject({ paperArm: 'ga:1', paper: { value: 0.00301, spread: 0.00011 }, verdict: { verdict: 'better' } });
    expect(find(lines, 'ga:2', 'test_recon_error')).toMatchObject({ ours: 'arm not run' });
    expect(find(lines, 'l2', 'test_recon_error')).toMatchObject({ ours: 'arm not run', paperDirection: 'better' });
    expect(find(lines, 'init-noise', 'test_recon_error')).toMatchObject({ control: true, verdict: { verdict: 'indistinguishable' } });
    expect(find(lines, 'ga-0.1', 'asr')).toMatchObject({ ours: 'not measured' });
    expect(find(lines, 'mine', 'asr')).toMatchObject({ ours: { mean: 0.5 } });
    // Controls appear only for metrics they carry: no init-noise ASR line.
    expect(find(lines, 'init-noise', 'asr')).toBeUndefined();
  });

  it('a metric no arm carries yet (FID, KID) is "not measured"; MI is the pooled mean', () => {
    const { lines } = compareCell(cellOf('table8-k500'), metrics);
    expect(find(lines, 'mine', 'mi')).toMatchObject({ paper: { value: 2.32 }, ours: { mean: 1.2, pooled: true } });
    expect(find(lines, 'mine', 'fid')).toMatchObject({ paper: { value: 200.12 }, ours: 'not measured' });
    expect(find(lines, 'mine', 'kid')).toMatchObject({ ours: 'not measured' });
    expect(compareCell(cellOf('table8-k500'), undefined).lines).toEqual([]);
    // Once an arm carries one (a number with its interval, or a summary over the UAEs), it is shown.
    const withFid = { ...metrics, methods: { ...metrics.methods, mine: { ...metrics.methods['mine']!, fid: 180.5, ci95: { fid: [170, 191] }, kid: { mean: 9.5, median: 9, min: 1, max: 20, count: 4 } } } } as unknown as ResultMetrics;
    const measured = compareCell(cellOf('table8-k500'), withFid).lines;
    expect(find(measured, 'mine', 'fid')).toMatchObject({ ours: { mean: 180.5, ci95: [170, 191], seeds: 2 } });
    expect(find(measured, 'mine', 'kid')).toMatchObject({ ours: { mean: 9.5, pooled: true } });
  });
});
