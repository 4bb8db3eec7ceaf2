/**
 * A study's metrics.json as Markdown tables (docs/results.md is built from
 * them): per arm the mean and 95% interval of each metric over seeds, the
 * mechanism diagnostics, and the paired verdicts.
 */
import type { ArmAggregate, StudyMetric, StudyMetrics } from './study.js';

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const err = (v: number) => v.toPrecision(4);

function cell(m: ArmAggregate, metric: StudyMetric, fmt: (v: number) => string): string {
  const v = m[metric];
  if (v === undefined) return '';
  const ci = m.ci95[metric];
  return ci ? `${fmt(v)} [${fmt(ci[0])}, ${fmt(ci[1])}]` : fmt(v);
}

/** Results, diagnostics and verdicts (verdicts for the compared metrics present in the study). */
/** `s` may lack the protocol record: a cluster job's result document (libs/results) keeps it in the job's config. */
export function studyMarkdown(s: Omit<StudyMetrics, 'protocol'> & { protocol?: StudyMetrics['protocol'] }): string {
  const arms = Object.entries(s.methods);
  const has = (metric: StudyMetric) => arms.some(([, m]) => m[metric] !== undefined);
  const cols: Array<{ title: string; metric: StudyMetric; fmt: (v: number) => string }> = [
    { title: 'test recon error', metric: 'test_recon_error', fmt: err },
    { title: 'improvement', metric: 'improvement', fmt: pct },
    { title: 'ASR', metric: 'asr', fmt: pct },
    { title: 'accuracy (MLP)', metric: 'accuracy', fmt: pct },
    { title: 'accuracy (ExtraTrees)', metric: 'accuracy_extratrees', fmt: pct },
    { title: 'training steps', metric: 'train_steps', fmt: (v: number) => String(Math.round(v)) },
    { title: 'selection convergence', metric: 'selection_convergence', fmt: (v: number) => v.toFixed(3) },
    { title: 'FID', metric: 'fid', fmt: (v: number) => v.toPrecision(4) },
    { title: 'KID × 100', metric: 'kid', fmt: (v: number) => v.toPrecision(4) },
  ].filter((c) => has(c.metric as StudyMetric)) as typeof cols;
  const out: string[] = [];
  out.push(
    `${s.dataset}, ${s.model}, ${s.backend}; seeds ${s.seeds.join(', ')}; ${s.train_samples} samples trained on and attacked, ${s.validation_samples} validation, ${s.test_samples} test${s.protocol ? `; retraining ${s.protocol.retrain_schedule}` : ''}. Mean over seeds [95% t-interval].`,
    '',
    `| arm | ${cols.map((c) => c.title).join(' | ')} |`,
    `| --- | ${cols.map(() => '---:').join(' | ')} |`,
    ...arms.map(([arm, m]) => `| ${arm} | ${cols.map((c) => cell(m, c.metric, c.fmt)).join(' | ')} |`),
  );
  const fm = s.feature_model;
  if (fm) {
    const acc = fm.test_accuracy === null ? '' : `, test accuracy ${(fm.test_accuracy * 100).toFixed(2)}%`;
    out.push('', `FID and KID × 100 of each generated set against the samples trained on, on the features of ${fm.architecture} trained on ${fm.dataset} (${fm.epochs} epochs${acc})${fm.path ? `, ${fm.path}` : ''}.`);
  }
  const diag = arms.filter(([, m]) => m.diagnostics);
  if (diag.length) {
    const med = (v: { median: number } | undefined) => (v ? v.median.toPrecision(3) : '');
    out.push(
      '',
      'Diagnostics of the successful UAEs (median over seeds\' samples): δ = x′ − x, δ0 the initial draw.',
      '',
      '| arm | UAEs | ‖δ‖∞ | ‖δ‖₂ | ‖δ − δ0‖₂ / ‖δ0‖₂ | cos(δ, δ0) | MI (nats) |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...diag.map(([arm, m]) => {
        const d = m.diagnostics!;
        return `| ${arm} | ${d.samples} | ${med(d.linf)} | ${med(d.l2)} | ${med(d.rel_move)} | ${med(d.cos_delta0)} | ${med(m.mi)} |`;
      }),
    );
  }
  if (s.comparisons.length) {
    const fmtDiff = (metric: string, v: number) => (metric === 'test_recon_error' ? v.toExponential(2) : `${(v * 100).toFixed(2)} pt`);
    out.push(
      '',
      `Paired by seed (${s.seeds.length} seed${s.seeds.length === 1 ? '' : 's'}): arm − control, 95% t-interval, verdict.`,
      '',
      '| comparison | metric | mean difference | 95% CI | verdict |',
      '| --- | --- | ---: | ---: | --- |',
      ...s.comparisons.map(
        (c) =>
          `| ${c.arm} vs ${c.control} | ${c.metric} | ${fmtDiff(c.metric, c.diff)} | ${c.ci95 ? `[${fmtDiff(c.metric, c.ci95[0])}, ${fmtDiff(c.metric, c.ci95[1])}]` : ''} | ${c.verdict === 'indistinguishable' ? c.verdict : `**${c.verdict}**`} |`,
      ),
    );
  }
  return out.join('\n') + '\n';
}
