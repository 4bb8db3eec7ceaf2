/**
 * report.html of `uae supervised` (libs/supervised, docs/supervised.md): the
 * classifiers' test accuracy, Table 3 (MinMax vs penalty, ASR and MI with
 * 95% intervals), the robustness curves (table and chart), Figure 3's grid,
 * the timings and the configuration. Self-contained like the augmentation
 * report (html.ts): inline CSS and SVG, images as data: URIs, no script.
 */
import type { GridImages, SupervisedMetrics } from '../supervised/index.js';
import { escapeHtml, formatPercent, formatSeconds, reportPage, writeReportHtml } from './html.js';
import { renderColumnGrid } from './column-grid.js';
import { miChart, robustnessChart } from './robustness-chart.js';

export interface SupervisedReportInput {
  title?: string;
  metrics: SupervisedMetrics;
  grid?: GridImages;
  /** Where it ran (shown as is). */
  machine?: object;
  tool?: object;
}

const LABELS: Record<string, string> = { std: 'Std', 'std-uae': 'Std-UAE', adv: 'Adv', 'adv-uae': 'Adv-UAE' };
const label = (name: string) => LABELS[name] ?? name;
const MISSING = '<span class="muted">—</span>';
const num = (v: number | undefined, digits = 4) => (typeof v === 'number' && Number.isFinite(v) ? escapeHtml(v.toPrecision(digits)) : MISSING);
const pct = (v: number | undefined) => (typeof v === 'number' && Number.isFinite(v) ? escapeHtml(formatPercent(v)) : MISSING);

function header(m: SupervisedMetrics, title: string): string {
  const meta: Array<[string, unknown]> = [
    ['dataset', m.dataset.name],
    ['classifier', m.config.model],
    ['backend', `${m.backend.name} (${m.backend.provider})`],
    ['seed', m.config.seed],
    ['training samples', m.dataset.train_samples],
    ['test samples', m.dataset.test_samples],
    ['attacked samples', m.table3.sample_ids.length],
    ['MINE sampler (Table 3)', m.table3.sampler],
  ];
  return `<header>
<h1>${escapeHtml(title)}</h1>
<div class="muted">Supervised MINE attacks (the paper's Section 4.3, Table 3, Figure 3) and adversarial training with UAEs (SuppMat 6.16–6.17).</div>
<dl class="meta">${meta.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd></div>`).join('')}</dl>
<nav><a href="#classifiers">Classifiers</a><a href="#table3">Table 3</a><a href="#robustness">Robustness</a><a href="#figure3">Figure 3</a><a href="#timings">Timings</a><a href="#config">Configuration</a></nav>
</header>`;
}

function classifiersSection(m: SupervisedMetrics): string {
  const rows = Object.entries(m.classifiers).map(
    ([name, c]) =>
      `<tr data-classifier="${escapeHtml(name)}"><td>${escapeHtml(label(name))}</td><td>${pct(c.accuracy)}</td><td>${escapeHtml(c.train_samples)}</td><td>${c.train_steps ?? MISSING}</td><td>${c.train_seconds !== undefined ? escapeHtml(formatSeconds(c.train_seconds)) : c.resumed ? 'kept' : MISSING}</td></tr>`,
  );
  const u = m.uae;
  return `<section id="classifiers">
<h2>Classifiers</h2>
<table class="results"><thead><tr><th>classifier</th><th>test accuracy</th><th>training samples</th><th>steps</th><th>training s</th></tr></thead>
<tbody>${rows.join('')}</tbody></table>
<p class="note">Std: standard training; Adv: Madry PGD adversarial training (ε = ${escapeHtml(m.config.advEpsilon)}, ${escapeHtml(m.config.advSteps)} steps); -UAE: the same on original ∪ UAEs.
UAEs: ${escapeHtml(u.samples)} training samples attacked on a conv autoencoder (${escapeHtml(u.ae_epochs)} epochs; MinMax + MINE, ${escapeHtml(u.sampler)} sampler, T = ${escapeHtml(u.iterations)}, ${escapeHtml(u.mine_steps)} MINE steps), ${escapeHtml(u.succeeded)} succeeded (ASR ${pct(u.asr)}); a failed attack adds its original.</p>
</section>`;
}

async function table3Section(m: SupervisedMetrics): Promise<string> {
  const t = m.table3;
  const rows = (['minmax', 'penalty'] as const).map((k) => {
    const r = t[k];
    const ci = r.mi.ci95 ? `[${num(r.mi.ci95[0])}, ${num(r.mi.ci95[1])}]` : MISSING;
    return `<tr data-method="${k}"><td>${k === 'minmax' ? 'MinMax' : `penalty (binary search, S = ${escapeHtml(t.search_steps)})`}</td><td>${pct(r.asr)}</td><td>${escapeHtml(r.succeeded)} / ${escapeHtml(r.attacked)}</td><td>${num(r.mi.mean)}</td><td>${ci}</td><td>${escapeHtml(formatSeconds(r.seconds))}</td></tr>`;
  });
  const chart = await miChart((['minmax', 'penalty'] as const).map((k) => ({ method: k === 'minmax' ? 'MinMax' : 'penalty', n: t[k].mi.n, ...(t[k].mi.mean !== undefined ? { mean: t[k].mi.mean } : {}), ...(t[k].mi.ci95 ? { ci95: t[k].mi.ci95 } : {}) })));
  return `<section id="table3">
<h2>Table 3: MinMax vs penalty (untargeted Carlini–Wagner with MINE)</h2>
<table class="results"><thead><tr><th>attack</th><th>ASR</th><th>successful / attacked</th><th>MI (mean)</th><th>MI 95% interval</th><th>seconds</th></tr></thead>
<tbody>${rows.join('')}</tbody></table>
<p class="note">${escapeHtml(t.sample_ids.length)} test samples classified correctly by Std (of ${escapeHtml(t.correct_available)}); both attacks run T = ${escapeHtml(t.iterations)} iterations in total, ${escapeHtml(t.mine_steps)} MINE step(s) each, α = ${escapeHtml(t.alpha)}, κ = ${escapeHtml(t.kappa)}.
MINE sampler: ${t.sampler === 'random' ? `random projections of the flattened image (K = ${escapeHtml(t.mine_draws ?? '')}; the default, for cost)` : "the classifier's first conv layer"}. MI: mean over the successful examples, Student-t 95% interval over samples.</p>
${chart ? `<div class="charts"><div class="chart">${chart}</div></div>` : ''}
</section>`;
}

async function robustnessSection(m: SupervisedMetrics): Promise<string> {
  const c = m.curves;
  const names = Object.keys(c.series);
  const head = c.epsilons.map((e) => `<th>ε = ${escapeHtml(e)}</th>`).join('');
  const rows = names.map((name) => `<tr data-classifier="${escapeHtml(name)}"><td>${escapeHtml(label(name))}</td>${c.series[name as keyof typeof c.series].asr.map((a) => `<td>${pct(a)}</td>`).join('')}</tr>`);
  const chart = await robustnessChart(
    c.epsilons,
    names.map((name) => ({ name: label(name), asr: c.series[name as keyof typeof c.series].asr })),
    { subtitle: `L∞ PGD, random start, ${c.steps} steps, on ${c.samples} test samples; lower is more robust` },
  );
  return `<section id="robustness">
<h2>Robustness curves (PGD ASR against ε)</h2>
<table class="results"><thead><tr><th>classifier</th>${head}</tr></thead><tbody>${rows.join('')}</tbody></table>
<p class="note">The attacked samples are Table 3's (classified correctly by Std). ε = 0 runs no attack: its ASR is the classifier's error on them. PGD minimises the CW margin, step size 2.5·ε/steps.</p>
${chart ? `<div class="charts"><div class="chart">${chart}</div></div>` : ''}
</section>`;
}

function gridSection(grid: GridImages | undefined): string {
  if (!grid || grid.sampleIds.length === 0) return `<section id="figure3">\n<h2>Figure 3</h2>\n<p class="muted">No samples drawn.</p>\n</section>`;
  let body: string;
  try {
    const g = renderColumnGrid(grid.inputShape, grid.columns);
    const labels = grid.columns.map((c) => `<span style="width:${g.cellWidth + 2}px">${escapeHtml(c.label)}</span>`).join('');
    body = `<figure data-grid="figure3"><div class="cols" style="padding-left:2px">${labels}</div><img src="${escapeHtml(g.dataUri)}" width="${g.width}" height="${g.height}" alt="Figure 3: ${escapeHtml(grid.columns.map((c) => c.label).join(' | '))}">
<figcaption>Test samples ${escapeHtml(grid.sampleIds.join(', '))}, one per row, attacked on Std. The strip above a cell is green where the attack succeeded, grey where it failed.</figcaption></figure>`;
  } catch (e) {
    body = `<p class="error">Samples not drawn: ${escapeHtml((e as Error).message)}</p>`;
  }
  return `<section id="figure3">\n<h2>Figure 3: clean | MinMax | PGD at several ε</h2>\n${body}\n</section>`;
}

function timingsSection(m: SupervisedMetrics): string {
  const rows = Object.entries(m.timings).map(([stage, s]) => `<tr><td>${escapeHtml(stage)}</td><td>${escapeHtml(formatSeconds(s))}</td></tr>`);
  return `<section id="timings">\n<h2>Timings</h2>\n<table class="results"><thead><tr><th>stage</th><th>seconds</th></tr></thead><tbody>${rows.join('')}</tbody></table>\n</section>`;
}

export async function renderSupervisedReport(input: SupervisedReportInput): Promise<string> {
  const m = input.metrics;
  const title = input.title ?? `Supervised MINE attacks — ${m.dataset.name}`;
  const config = { config: m.config, ...(input.machine ? { machine: input.machine } : {}), ...(input.tool ? { tool: input.tool } : {}) };
  const sections = [classifiersSection(m), await table3Section(m), await robustnessSection(m), gridSection(input.grid), timingsSection(m)];
  return reportPage(title, header(m, title), sections, JSON.stringify(config, null, 2));
}

/** Renders and writes `dir/report.html` atomically. Returns the path. */
export async function writeSupervisedReport(dir: string, input: SupervisedReportInput): Promise<string> {
  return writeReportHtml(dir, await renderSupervisedReport(input));
}
