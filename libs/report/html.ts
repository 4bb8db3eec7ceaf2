/**
 * One self-contained HTML page: inline CSS, charts as inline SVG, image grids
 * as data: URIs, no script and no external URL (a Content-Security-Policy
 * with default-src 'none' enforces it in the browser). All text from the
 * input is escaped.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { asrChart, diagnosticsChart, errorChart, intervalChart, lossChart, traceChart } from './charts.js';
import { GRID_GAP, GRID_MARKER, GRID_PAD, renderImageGrid, sampleLayout, viridisCssGradient, type ImageGrid } from './image-grid.js';
import type { OriginalMetrics, RenderOptions, ReportInput, ReportMethodMetrics } from './types.js';
import type { Summary } from '../eval/index.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const MISSING = '<span class="muted">—</span>';

/** Test reconstruction error: 5 significant digits, exponent notation outside [1e-4, 1e4). */
export function formatError(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-4 || a >= 1e4) ? v.toExponential(4) : v.toPrecision(5);
}

/** A fraction as a percentage, e.g. 0.1234 → "12.34 %" (signed: "+12.34 %"). */
export function formatPercent(v: number, digits = 2, signed = false): string {
  if (!Number.isFinite(v)) return String(v);
  const s = (v * 100).toFixed(digits);
  return `${signed && v > 0 ? '+' : ''}${s} %`;
}

export function formatSeconds(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  return Math.abs(v) < 0.01 ? v.toExponential(2) : v.toPrecision(3);
}

const isMethodMetrics = (m: OriginalMetrics | ReportMethodMetrics): m is ReportMethodMetrics => 'improvement' in m;

export const CSS = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #6b6b70; --line: #e2e2e6; --card: #fff; --bg: #f5f5f7; --accent: #2f6fb0; --good: #1e7b34; --bad: #b3261e; --best: #fff4c2; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 0 0 8px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
nav { margin: 8px 0 0; font-size: 13px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; }
.muted { color: var(--muted); }
.error { color: var(--bad); }
dl.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px 20px; margin: 14px 0 0; }
dl.meta div { min-width: 0; }
dl.meta dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
dl.meta dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
table.results { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.results th, table.results td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
table.results th:first-child, table.results td:first-child { text-align: left; }
table.results thead th { font-size: 12px; color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
table.results tr.best th, table.results tr.best td { background: var(--best); }
table.results td.best { font-weight: 700; }
td.pos { color: var(--good); }
td.neg { color: var(--bad); }
.note { font-size: 12px; color: var(--muted); margin: 8px 0 0; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.chart { max-width: 100%; overflow-x: auto; }
.chart svg { display: block; max-width: 100%; height: auto; }
.grids { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
figure { margin: 0; }
figure img { display: block; image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid var(--line); max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 6px; max-width: 520px; }
.cols { display: flex; font-size: 11px; color: var(--muted); margin-bottom: 2px; }
.cols span { display: inline-block; text-align: center; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
.ramp { display: flex; align-items: center; gap: 6px; font-size: 11px; color: var(--muted); margin-top: 4px; }
.ramp i { display: inline-block; width: 120px; height: 10px; border: 1px solid var(--line); }
.swatch { display: inline-block; width: 9px; height: 9px; vertical-align: baseline; margin: 0 3px 0 6px; }
pre { margin: 0; background: #fafafa; border: 1px solid var(--line); border-radius: 6px; padding: 12px; overflow: auto; font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; }
footer { font-size: 12px; color: var(--muted); text-align: center; margin-top: 24px; }
`;

function header(input: ReportInput, title: string): string {
  const meta: Array<[string, unknown]> = [
    ['dataset', input.dataset],
    ['model', input.model],
    ['backend', input.backend],
    [input.study && input.study.seeds.length > 1 ? 'seeds' : 'seed', input.study ? input.study.seeds.join(', ') : input.seed],
    ['training samples', input.train_samples],
    ['test samples', input.test_samples],
  ];
  return `<header>
<h1>${escapeHtml(title)}</h1>
<div class="muted">Unsupervised adversarial examples (MINE-based) as data augmentation: train, generate, retrain on original ∪ generated, evaluate on the test set.</div>
<dl class="meta">${meta.map(([k, v]) => `<div><dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd></div>`).join('')}</dl>
<nav><a href="#results">Results</a>${input.study ? '<a href="#study">Verdicts</a>' : ''}<a href="#charts">Charts</a><a href="#samples">Samples</a><a href="#config">Configuration</a></nav>
</header>`;
}

function resultsTable(input: ReportInput): string {
  const entries = Object.entries(input.methods).flatMap(([name, m]) => (m ? [[name, m] as const] : []));
  // original first, the rest in the caller's order
  entries.sort((a, b) => Number(b[0] === 'original') - Number(a[0] === 'original'));
  const errors = entries.map(([, m]) => m.test_recon_error).filter(Number.isFinite);
  const bestError = errors.length ? Math.min(...errors) : NaN;
  const accuracies = entries.map(([, m]) => m.accuracy).filter((a): a is number => typeof a === 'number' && Number.isFinite(a));
  const bestAccuracy = accuracies.length ? Math.max(...accuracies) : NaN;
  const hasAccuracy = entries.some(([, m]) => m.accuracy !== undefined);
  const hasAsr = entries.some(([, m]) => isMethodMetrics(m) && m.asr !== undefined);
  const hasMi = entries.some(([, m]) => isMethodMetrics(m) && m.mi !== undefined);
  const hasTrees = entries.some(([, m]) => m.accuracy_extratrees !== undefined);
  const hasSteps = entries.some(([, m]) => m.train_steps !== undefined);
  const hasFid = entries.some(([, m]) => isMethodMetrics(m) && m.fid !== undefined);
  const intervals = input.study?.intervals;
  const hasCi = intervals !== undefined && Object.values(intervals).some((i) => i.test_recon_error);
  const ci = (v: [number, number] | undefined, f: (x: number) => string) => (v ? `<td class="num">${escapeHtml(`[${f(v[0])}, ${f(v[1])}]`)}</td>` : `<td>${MISSING}</td>`);

  const head = [
    '<th scope="col">method</th>',
    '<th scope="col">test recon error</th>',
    ...(hasCi ? ['<th scope="col">95% CI</th>'] : []),
    '<th scope="col">improvement</th>',
    ...(hasAsr ? ['<th scope="col">ASR</th>'] : []),
    ...(hasAccuracy ? ['<th scope="col">accuracy (MLP)</th>'] : []),
    ...(hasTrees ? ['<th scope="col">accuracy (ExtraTrees)</th>'] : []),
    ...(hasSteps ? ['<th scope="col">training steps</th>'] : []),
    ...(hasFid ? ['<th scope="col">FID</th>', '<th scope="col">KID × 100</th>'] : []),
    ...(hasMi ? ['<th scope="col">MI of UAEs (median [min, max], n)</th>'] : []),
    '<th scope="col">s / sample</th>',
  ].join('');
  const body = entries
    .map(([name, m]) => {
      const best = m.test_recon_error === bestError;
      const mm = isMethodMetrics(m) ? m : undefined;
      const imp = mm ? mm.improvement : undefined;
      const cells = [
        `<th scope="row">${escapeHtml(name)}</th>`,
        `<td class="num${best ? ' best' : ''}">${escapeHtml(formatError(m.test_recon_error))}</td>`,
        ...(hasCi ? [ci(intervals![name]?.test_recon_error, formatError)] : []),
        imp === undefined ? `<td>${MISSING}</td>` : `<td class="num${imp > 0 ? ' pos' : imp < 0 ? ' neg' : ''}">${escapeHtml(formatPercent(imp, 2, true))}</td>`,
        ...(hasAsr ? [mm?.asr === undefined ? `<td>${MISSING}</td>` : `<td class="num">${escapeHtml(formatPercent(mm.asr, 1))}</td>`] : []),
        ...(hasAccuracy
          ? [m.accuracy === undefined ? `<td>${MISSING}</td>` : `<td class="num${m.accuracy === bestAccuracy ? ' best' : ''}">${escapeHtml(formatPercent(m.accuracy, 2))}</td>`]
          : []),
        ...(hasTrees ? [m.accuracy_extratrees === undefined ? `<td>${MISSING}</td>` : `<td class="num">${escapeHtml(formatPercent(m.accuracy_extratrees, 2))}</td>`] : []),
        ...(hasSteps ? [m.train_steps === undefined ? `<td>${MISSING}</td>` : `<td class="num">${escapeHtml(Math.round(m.train_steps))}</td>`] : []),
        ...(hasFid ? [mm?.fid, mm?.kid].map((v) => (v === undefined ? `<td>${MISSING}</td>` : `<td class="num">${escapeHtml(v.toPrecision(4))}</td>`)) : []),
        ...(hasMi
          ? [
              mm?.mi === undefined
                ? `<td>${MISSING}</td>`
                : `<td class="num">${escapeHtml(`${mm.mi.median.toFixed(3)} [${mm.mi.min.toFixed(3)}, ${mm.mi.max.toFixed(3)}], ${mm.mi.count}`)}</td>`,
            ]
          : []),
        mm === undefined ? `<td>${MISSING}</td>` : `<td class="num">${escapeHtml(formatSeconds(mm.seconds_per_sample))}</td>`,
      ];
      return `<tr data-method="${escapeHtml(name)}"${best ? ' class="best"' : ''}>${cells.join('')}</tr>`;
    })
    .join('\n');

  const winners = entries.filter(([, m]) => m.test_recon_error === bestError).map(([n]) => n);
  const summary = winners.length
    ? `Lowest test reconstruction error: <strong>${winners.map(escapeHtml).join(', ')}</strong> (${escapeHtml(formatError(bestError))}).`
    : 'No finite test reconstruction error.';
  return `<section id="results">
<h2>Results</h2>
<p>${summary}</p>
<table class="results">
<thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table>
<p class="note">Highlighted: the lowest test reconstruction error. Improvement: (original − method) / original error, positive is better. ASR: share of training samples for which the attack found an adversarial example. s / sample: generation time per training sample.</p>
</section>`;
}

const VERDICT_CLASS: Record<string, string> = { better: 'pos', worse: 'neg' };

/** The paired verdicts (each MINE arm against each control) and the attacks' diagnostics. */
async function studySection(input: ReportInput): Promise<string> {
  const study = input.study;
  if (!study) return '';
  const rows = study.comparisons
    .map((c) => {
      const fmt = c.metric === 'test_recon_error' ? formatError : (v: number) => formatPercent(v, 2, true);
      return `<tr data-arm="${escapeHtml(c.arm)}" data-control="${escapeHtml(c.control)}"><th scope="row">${escapeHtml(c.arm)} vs ${escapeHtml(c.control)}</th><td>${escapeHtml(c.metric)}</td><td class="num">${escapeHtml(fmt(c.diff))}</td><td class="num">${c.ci95 ? escapeHtml(`[${fmt(c.ci95[0])}, ${fmt(c.ci95[1])}]`) : MISSING}</td><td class="${VERDICT_CLASS[c.verdict] ?? ''}">${escapeHtml(c.verdict)}</td></tr>`;
    })
    .join('\n');
  const table = study.comparisons.length
    ? `<table class="results"><thead><tr><th scope="col">comparison</th><th scope="col">metric</th><th scope="col">mean difference</th><th scope="col">95% CI (paired by seed)</th><th scope="col">verdict</th></tr></thead><tbody>\n${rows}\n</tbody></table>`
    : '<p class="muted">No MINE arm with a control to compare against.</p>';
  const n = study.seeds.length;
  const note =
    n < 2
      ? 'One seed: no interval can be computed, so every verdict is "indistinguishable". Run with several seeds (--seeds 0,1,2) for verdicts.'
      : `Differences are arm − control, paired by seed (${n} seeds), with a 95% Student-t interval; "better" / "worse" when the whole interval is on one side of zero (lower error, higher accuracy is better).`;
  const methodsOrder = Object.keys(input.methods);
  const intervalRows = (metric: 'test_recon_error' | 'accuracy' | 'accuracy_extratrees') =>
    methodsOrder.flatMap((m) => {
      const v = (input.methods[m] as Record<string, unknown> | undefined)?.[metric];
      return typeof v === 'number' ? [{ method: m, mean: v, ...(study.intervals[m]?.[metric] ? { ci95: study.intervals[m]![metric]! } : {}) }] : [];
    });
  const charts = [
    await safeChart('Interval chart', () => intervalChart('Test reconstruction error', 'test recon error', intervalRows('test_recon_error'))),
    await safeChart('Accuracy interval chart', () => intervalChart('Downstream accuracy (MLP probe)', 'accuracy', intervalRows('accuracy'))),
    await safeChart('ExtraTrees interval chart', () => intervalChart('Downstream accuracy (ExtraTrees probe)', 'accuracy', intervalRows('accuracy_extratrees'))),
  ].filter(Boolean);
  const diag = Object.entries(study.diagnostics);
  const diagRows = diag
    .map(([arm, s]) => {
      const cell = (v: Summary | undefined) => (v ? `<td class="num">${escapeHtml(`${v.median.toPrecision(3)} [${v.min.toPrecision(3)}, ${v.max.toPrecision(3)}]`)}</td>` : `<td>${MISSING}</td>`);
      return `<tr data-method="${escapeHtml(arm)}"><th scope="row">${escapeHtml(arm)}</th>${cell(s.linf)}${cell(s.l2)}${cell(s.rel_move)}${cell(s.cos_delta0)}<td class="num">${escapeHtml(s.samples)}</td></tr>`;
    })
    .join('\n');
  const diagCharts = diag.length
    ? [
        await safeChart('rel_move chart', () => diagnosticsChart('‖δ − δ0‖ / ‖δ0‖', diag.flatMap(([method, s]) => (s.rel_move ? [{ method, ...s.rel_move }] : [])))),
        await safeChart('cos chart', () => diagnosticsChart('cos(δ, δ0)', diag.flatMap(([method, s]) => (s.cos_delta0 ? [{ method, ...s.cos_delta0 }] : [])))),
      ].filter(Boolean)
    : [];
  const diagBlock = diag.length
    ? `<h3>Did the attacks move?</h3>
<table class="results"><thead><tr><th scope="col">arm</th><th scope="col">‖δ‖∞</th><th scope="col">‖δ‖₂</th><th scope="col">‖δ − δ0‖₂ / ‖δ0‖₂</th><th scope="col">cos(δ, δ0)</th><th scope="col">UAEs</th></tr></thead><tbody>
${diagRows}
</tbody></table>
<div class="charts">${diagCharts.map((c) => `<div class="chart" data-chart="diagnostics">${c}</div>`).join('')}</div>
<p class="note">Median [min, max] over the successful UAEs of all seeds. δ = x′ − x; δ0 is the attack's initial draw. ‖δ − δ0‖/‖δ0‖ near 0 and cos(δ, δ0) near 1 mean the UAE is, to first order, its initial noise: compare with the init-noise control.</p>`
    : '';
  return `<section id="study">
<h2>Is it the UAEs? Paired verdicts</h2>
${table}
<p class="note">${escapeHtml(note)}</p>
<div class="charts">${charts.map((c) => `<div class="chart" data-chart="interval">${c}</div>`).join('')}</div>
${diagBlock}
</section>`;
}

/** A chart, or an escaped note when it could not be rendered (the report still renders). */
async function safeChart(what: string, render: () => Promise<string | null>): Promise<string | null> {
  try {
    return await render();
  } catch (e) {
    return `<p class="error">${escapeHtml(what)} not drawn: ${escapeHtml((e as Error).message)}</p>`;
  }
}

async function chartsSection(input: ReportInput, opts: RenderOptions): Promise<string> {
  const errors = await safeChart('Test reconstruction error chart', () => errorChart(input.methods));
  const asr = await safeChart('ASR chart', () => asrChart(input.methods));
  const loss = await safeChart('Training loss chart', () => lossChart(input.history));
  const traces: string[] = [];
  for (const [method, t] of Object.entries(input.traces ?? {})) {
    const svg = t.length ? await safeChart(`${method} traces`, () => traceChart(method, t, { maxSamples: opts.maxTraceSamples ?? 8 })) : null;
    if (svg) traces.push(`<div class="chart" data-chart="trace">${svg}</div>`);
  }
  const blocks = [
    `<div class="charts">${[errors && `<div class="chart" data-chart="error">${errors}</div>`, asr && `<div class="chart" data-chart="asr">${asr}</div>`].filter(Boolean).join('')}</div>`,
    loss ? `<div class="charts"><div class="chart" data-chart="loss">${loss}</div></div>` : '<p class="muted">No training history.</p>',
    traces.length
      ? `<h3>MinMax traces</h3><div class="charts">${traces.join('')}</div>`
      : '<p class="muted">No attack traces recorded (run the attack with trace enabled to see MI, f and c per iteration).</p>',
  ];
  return `<section id="charts">\n<h2>Charts</h2>\n${blocks.join('\n')}\n</section>`;
}

function gridFigure(method: string, grid: ImageGrid, success: readonly boolean[] | undefined, ids: readonly number[] | undefined, inputShape: readonly number[]): string {
  const l = sampleLayout(inputShape);
  const markerW = success ? GRID_MARKER + GRID_GAP : 0;
  let cols = '';
  if (grid.kind === 'image') {
    const cw = l.w * grid.scale;
    const labels = ['original', method, '|δ|'];
    cols = `<div class="cols" style="padding-left:${GRID_PAD + markerW + 1}px;width:${grid.width + 2}px">${labels
      .map((t, k) => `<span style="width:${cw}px;margin-right:${k < 2 ? GRID_GAP : 0}px">${escapeHtml(t)}</span>`)
      .join('')}</div>`;
  }
  const shownIds = ids?.slice(0, grid.rows);
  const ok = success?.slice(0, grid.rows).filter(Boolean).length;
  const layout =
    grid.kind === 'image'
      ? `Rows: samples; columns: original, ${escapeHtml(method)}, |δ|.`
      : `Per sample (${l.d} features, one cell each): original, ${escapeHtml(method)} and |δ| strips, top to bottom.`;
  const caption = [
    layout,
    shownIds?.length ? `Samples (top to bottom): ${shownIds.map((i) => `#${escapeHtml(i)}`).join(', ')}.` : '',
    success && ok !== undefined
      ? `<span class="swatch" style="background:rgb(44,160,44)"></span>success (${ok} of ${grid.rows})<span class="swatch" style="background:rgb(190,190,190)"></span>failure: the original is kept.`
      : '',
  ]
    .filter(Boolean)
    .join(' ');
  const alt = `${method}: original, generated and |δ| for ${grid.rows} samples`;
  return `<figure data-method="${escapeHtml(method)}">
<h3>${escapeHtml(method)}</h3>
${cols}<img src="${escapeHtml(grid.dataUri)}" width="${grid.width}" height="${grid.height}" alt="${escapeHtml(alt)}">
<div class="ramp"><span>|δ| 0</span><i style="background:${viridisCssGradient()}"></i><span>${escapeHtml(grid.deltaMax.toPrecision(3))}</span></div>
<figcaption>${caption}</figcaption>
</figure>`;
}

function samplesSection(input: ReportInput, opts: RenderOptions): string {
  const images = input.images;
  const methods = images ? Object.entries(images.perMethod) : [];
  if (!images || methods.length === 0) {
    return `<section id="samples">\n<h2>Samples</h2>\n<p class="muted">No samples included in this report.</p>\n</section>`;
  }
  const maxRows = opts.maxImageRows ?? 16;
  // A bad grid (wrong lengths or shape) is reported in place; the rest of the report still renders.
  const figures = methods.map(([method, g]) => {
    try {
      const grid = renderImageGrid(images.inputShape, images.originals, g.x, { success: g.success, maxRows });
      return gridFigure(method, grid, g.success, images.ids, images.inputShape);
    } catch (e) {
      return `<figure data-method="${escapeHtml(method)}"><h3>${escapeHtml(method)}</h3><p class="error">Samples not drawn: ${escapeHtml((e as Error).message)}</p></figure>`;
    }
  });
  let intro: string;
  try {
    const l = sampleLayout(images.inputShape);
    intro =
      l.kind === 'image'
        ? `Shown samples of shape [${images.inputShape.join(' × ')}], upscaled (nearest neighbour). |δ| is coloured per grid from 0 to the grid's largest |δ|.`
        : `Samples are vectors of ${l.d} features, drawn as strips (values in grayscale, |δ| coloured per grid from 0 to its largest value).`;
  } catch {
    intro = `Samples of shape [${images.inputShape.join(', ')}].`;
  }
  return `<section id="samples">\n<h2>Samples</h2>\n<p class="note">${escapeHtml(intro)}</p>\n<div class="grids">${figures.join('\n')}</div>\n</section>`;
}

function configJson(config: unknown): string {
  try {
    return JSON.stringify(
      config,
      (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : ArrayBuffer.isView(v) ? `[${v.constructor.name}, ${v.byteLength} bytes]` : v),
      2,
    ) ?? 'null';
  } catch (e) {
    return `(configuration not serialisable: ${(e as Error).message})`;
  }
}

/** The whole report page. */
export async function renderReport(input: ReportInput, opts: RenderOptions = {}): Promise<string> {
  const title = input.title ?? `UAE augmentation — ${input.dataset}`;
  const sections = [resultsTable(input), await studySection(input), await chartsSection(input, opts), samplesSection(input, opts)];
  return reportPage(title, header(input, title), sections, configJson(input.config));
}

/**
 * A self-contained report page: a CSP that allows only inline styles and
 * data: images, the header, the sections and the configuration as JSON.
 */
export function reportPage(title: string, headerHtml: string, sections: string[], config: string): string {
  const csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${headerHtml}
${sections.join('\n')}
<section id="config">
<h2>Configuration</h2>
<pre><code>${escapeHtml(config)}</code></pre>
</section>
<footer>Self-contained report: no scripts, no network.</footer>
</main>
</body>
</html>
`;
}

/** Renders the report and writes it to `dir/report.html` atomically (temporary file + rename). Returns the path. */
export async function writeReport(dir: string, input: ReportInput, opts: RenderOptions = {}): Promise<string> {
  return writeReportHtml(dir, await renderReport(input, opts));
}

/** Writes `html` to `dir/report.html` atomically (temporary file + rename). Returns the path. */
export async function writeReportHtml(dir: string, html: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'report.html');
  const tmp = join(dir, `.report.html.${process.pid}.${randomUUID()}.tmp`);
  try {
    await writeFile(tmp, html, 'utf8');
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  return path;
}
