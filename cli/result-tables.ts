/**
 * The study's result tables, the same for a local `uae pipeline` and a
 * cluster job (both read the result document's metrics, libs/results): means
 * over seeds with the 95% interval of the test error when there are several,
 * and the paired verdicts.
 */
import type { ResultMetrics } from '../libs/results/index.js';
import { renderRows, type Row, type TableFormat } from './tables.js';

const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(2)}%`);

/** One row per arm ("original" first when `order` lists the arms). */
export function studyRows(metrics: ResultMetrics, order?: readonly string[]): Row[] {
  const several = metrics.seeds.length > 1;
  let entries = Object.entries(metrics.methods);
  if (order) {
    const rank = (k: string) => (k === 'original' ? -1 : order.includes(k) ? order.indexOf(k) : order.length);
    entries = entries.sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
  }
  const fid = entries.some(([, m]) => m.fid !== undefined);
  const num = (v: number | undefined) => (v === undefined ? '' : v.toPrecision(4));
  return entries.map(([method, m]) => ({
    method,
    'test recon error': m.test_recon_error?.toFixed(5) ?? '',
    ...(several ? { '95% CI': m.ci95.test_recon_error ? `[${m.ci95.test_recon_error[0].toFixed(5)}, ${m.ci95.test_recon_error[1].toFixed(5)}]` : '' } : {}),
    improvement: pct(m.improvement),
    ASR: pct(m.asr),
    'acc (MLP)': pct(m.accuracy),
    'acc (ExtraTrees)': pct(m.accuracy_extratrees),
    ...(fid ? { FID: num(m.fid), 'KID×100': num(m.kid) } : {}),
    steps: m.train_steps === undefined ? '' : String(Math.round(m.train_steps)),
    's/sample': m.seconds_per_sample === undefined || method === 'original' ? '' : m.seconds_per_sample.toFixed(3),
  }));
}

/** The paired comparisons shown: with one seed only the test error's (every verdict is "indistinguishable"). */
export function verdictRows(metrics: ResultMetrics): Row[] {
  return metrics.comparisons
    .filter((c) => c.metric === 'test_recon_error' || metrics.seeds.length > 1)
    .map((c) => ({
      comparison: `${c.arm} vs ${c.control}`,
      metric: c.metric,
      'mean diff': c.diff.toPrecision(3),
      '95% CI': c.ci95 ? `[${c.ci95[0].toPrecision(3)}, ${c.ci95[1].toPrecision(3)}]` : '',
      verdict: c.verdict,
    }));
}

/**
 * The results table and the verdicts in a table format. CSV carries the
 * results table alone (one table per file); Markdown heads each table.
 */
export function studyTables(metrics: ResultMetrics, format: Exclude<TableFormat, 'json'>, order?: readonly string[]): string {
  const results = renderRows(studyRows(metrics, order), format);
  if (format === 'csv') return results;
  // Several rounds: each earlier round's results first; the tables below are the last round's (the top level).
  const rounds = metrics.rounds ?? [];
  const earlier = rounds
    .slice(0, -1)
    .map((r) => {
      const title = `round ${r.round} of ${rounds.length}`;
      const table = renderRows(studyRows({ ...metrics, methods: r.methods }, order), format);
      return format === 'md' ? `### Results, ${title}\n\n${table}\n` : `${title}\n${table}`;
    })
    .join('');
  if (earlier) return earlier + (format === 'md' ? `### Last round (${rounds.length} of ${rounds.length})\n\n` : `round ${rounds.length} of ${rounds.length}\n`) + studyTables({ ...metrics, rounds: undefined }, format, order);
  const verdicts = verdictRows(metrics);
  let out = format === 'md' ? `### Results\n\n${results}` : results;
  if (verdicts.length === 0) return out;
  if (metrics.seeds.length < 2) return `${out}one seed: no intervals, every verdict is "indistinguishable" — run with --seeds 0,1,2 for verdicts\n`;
  out += format === 'md' ? `\n### Paired verdicts (95%)\n\n${renderRows(verdicts, 'md')}` : renderRows(verdicts, format);
  return out;
}
