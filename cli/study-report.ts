/**
 * study.md of `uae study`: per paper row (grouped by the paper's table) the
 * paper's value with its table and row, ours as mean [95% t-interval] over
 * seeds, the budget the cell ran with, the controls and the verdicts
 * (libs/study compareCell). Tables through cli/tables.ts.
 */
import { compareCell, PAPER_TABLES, type CellComparison, type ComparisonLine, type PaperMetric, type Study } from '../libs/study/index.js';
import type { ResultMetrics } from '../libs/results/index.js';
import type { PipelineRun } from '../libs/augment/index.js';
import { markdownTable, type Row } from './tables.js';

const METRIC_TITLES: Record<PaperMetric, string> = {
  test_recon_error: 'test recon error',
  asr: 'ASR (training)',
  accuracy_extratrees: 'accuracy (ExtraTrees)',
  mi: 'MI of the UAEs (nats)',
  fid: 'FID',
  kid: 'KID',
};

function fmt(metric: PaperMetric, v: number): string {
  if (metric === 'asr' || metric === 'accuracy_extratrees') return `${(v * 100).toFixed(2)}%`;
  if (metric === 'test_recon_error') return v.toPrecision(3);
  if (metric === 'mi') return v.toFixed(3);
  return v.toFixed(2);
}

function fmtDiff(metric: PaperMetric, v: number): string {
  return metric === 'test_recon_error' ? v.toExponential(2) : metric === 'accuracy_extratrees' ? `${(v * 100).toFixed(2)} pt` : v.toPrecision(3);
}

function oursCell(l: ComparisonLine): string {
  if (typeof l.ours === 'string') return l.ours;
  const { mean, ci95, seeds, pooled } = l.ours;
  if (pooled) return `${fmt(l.metric, mean)} (mean of the UAEs of ${seeds} seed${seeds === 1 ? '' : 's'}, pooled)`;
  return ci95 ? `${fmt(l.metric, mean)} [${fmt(l.metric, ci95[0])}, ${fmt(l.metric, ci95[1])}]` : `${fmt(l.metric, mean)} (1 seed)`;
}

function verdictCell(l: ComparisonLine): string {
  if (l.arm === 'mine') return '';
  const v = l.verdict;
  if (!v) return '';
  const ci = v.ci95 ? ` [${fmtDiff(l.metric, v.ci95[0])}, ${fmtDiff(l.metric, v.ci95[1])}]` : '';
  const word = v.verdict === 'indistinguishable' ? v.verdict : `**${v.verdict}**`;
  return `${word} (${fmtDiff(l.metric, v.diff)}${ci})`;
}

/** The cell's budget, in a line: what decides how far its numbers are from the paper's. */
export function budgetLine(run: PipelineRun, m: ResultMetrics | undefined): string {
  const a = run.attack;
  const samples = m
    ? `${m.train_samples} trained on and attacked, ${m.validation_samples} validation, ${m.test_samples} test`
    : `train samples ${run.trainSamples ?? 'all'}, test samples ${run.testSamples ?? 'all'}`;
  const schedule = run.validation > 0 ? `${run.retrainSchedule}, patience ${run.patience}` : run.retrainSchedule;
  const mine = a.similarity.kind === 'mine' ? `, MINE ${a.similarity.mine.sampler} sampler${a.similarity.mine.sampler === 'random' ? ` (K = ${a.similarity.mine.draws})` : ''}` : '';
  const attack = `${a.method} T = ${a.iterations}${a.method === 'penalty' ? ` (${a.searchSteps} search steps)` : ''}, ${a.mineSteps} MINE step${a.mineSteps === 1 ? '' : 's'}${mine}`;
  return `seeds ${run.seeds.join(', ')}; ${samples}; epochs ${run.epochs}, retraining ${schedule} (cap ${run.retrainEpochs}), batch ${run.batch}; attack ${attack}; arms ${run.methods.join(', ')}`;
}

function cellSection(c: CellComparison): string {
  const { cell, row, metrics } = c;
  const out: string[] = [`### \`${cell.id}\`: ${row.source}`, ''];
  if (cell.description) out.push(cell.description, '');
  out.push(`Paper: ${row.dataset}, ${row.model}. Ours: ${metrics?.dataset ?? cell.run.dataset}, ${cell.run.model}${metrics ? `, ${metrics.backend}` : ''}.`, '');
  out.push(`Budget: ${budgetLine(cell.run, metrics)}.`, '');
  if (row.note) out.push(`Note: ${row.note}.`, '');
  if (!metrics) {
    out.push('Not run yet (the study was interrupted before this cell finished; `uae study --resume` runs it).', '');
    return out.join('\n');
  }
  const rows: Row[] = c.lines.map((l) => ({
    metric: METRIC_TITLES[l.metric],
    arm: l.paperArm && l.paperArm !== l.arm ? `${l.arm} (paper: ${l.paperArm})` : l.control ? `${l.arm} (control)` : l.arm,
    paper: l.paper ? `${fmt(l.metric, l.paper.value)}${l.paper.spread !== undefined ? ` ± ${l.paper.spread.toPrecision(3)}` : ''}` : '',
    ours: oursCell(l),
    'ours: mine vs arm': verdictCell(l),
    'paper: mine vs arm': l.paperDirection ?? '',
  }));
  out.push(markdownTable(rows));
  if (metrics.seeds.length < 2) out.push('One seed: no intervals, and every verdict is "indistinguishable".', '');
  return out.join('\n');
}

export interface StudyReportInfo {
  source: string;
  tool: { name: string; version: string; commit?: string };
  backend: string;
}

/** The whole study.md; cells without metrics are listed as not run. */
export function studyReport(study: Study, metrics: ReadonlyMap<string, ResultMetrics>, info: StudyReportInfo): string {
  const comparisons = study.cells.map((cell) => compareCell(cell, metrics.get(cell.id)));
  const done = comparisons.filter((c) => c.metrics).length;
  const overrides = Object.entries(study.overrides).filter(([, v]) => v !== undefined);
  const out: string[] = [`# Study: ${study.name}`, ''];
  if (study.description) out.push(study.description, '');
  out.push(
    `Written by \`uae study ${info.source}\`${overrides.length ? ` with ${overrides.map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') : v}`).join(', ')}` : ''} (${info.tool.name} ${info.tool.version}${info.tool.commit ? `, ${info.tool.commit}` : ''}; backend ${info.backend}); ${done} of ${study.cells.length} cells finished.`,
    'Per cell: the paper\'s value (its table and row), ours as the mean over seeds [95% t-interval], and our paired verdict of the MINE arm against each arm ' +
      '(arm − control, 95% interval; lower error and higher accuracy are better); "paper: mine vs arm" is the direction the paper\'s own numbers show. ' +
      '`uae summarize <out>/cells/<id>` prints a cell\'s full tables.',
    '',
  );
  for (const table of PAPER_TABLES) {
    const cells = comparisons.filter((c) => c.row.table === table);
    if (cells.length === 0) continue;
    out.push(`## ${table}`, '');
    for (const c of cells) out.push(cellSection(c));
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n';
}
