/**
 * The report's charts: Vega-Lite specs compiled to Vega and rendered
 * headless to SVG strings that are inlined into the page (no script runs in
 * the browser). Field names are fixed; method and sample names only appear
 * as data values and titles, never as field names or expressions.
 */
import { createHash } from 'node:crypto';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EpochReport } from '../models/index.js';
import type { ReportMethods, ReportMethodMetrics, ReportTrace } from './types.js';

const FONT = 'Helvetica, Arial, sans-serif';

const BASE_CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const },
  title: { fontSize: 14, fontWeight: 'bold' as const, anchor: 'start' as const },
};

/**
 * Renders a Vega-Lite spec to an SVG string fit for inlining in HTML: no
 * namespace URLs, element ids made unique per chart (several charts share a
 * page, and clip paths or gradients are looked up by id).
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const quiet = vega.logger(vega.Error);
  const { spec: vgSpec } = compile({ config: BASE_CONFIG, ...spec } as TopLevelSpec, { logger: quiet });
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logLevel: vega.Error });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  // Deterministic prefix: identical charts may share ids harmlessly (same definitions).
  return inlineSvg(svg, `v${createHash('sha1').update(svg).digest('hex').slice(0, 10)}`);
}

/** Strips the namespace declarations and prefixes every id (and reference to it) with `prefix`. */
export function inlineSvg(svg: string, prefix: string): string {
  let out = svg.replace(/^<svg([^>]*)>/, (_m, attrs: string) => `<svg${attrs.replace(/\s+xmlns(:\w+)?="[^"]*"/g, '')}>`);
  const ids = new Set<string>();
  for (const m of out.matchAll(/\sid="([^"]+)"/g)) ids.add(m[1]!);
  if (ids.size > 0) {
    out = out
      .replace(/(\sid=")([^"]+)(")/g, (m, a: string, id: string, b: string) => (ids.has(id) ? `${a}${prefix}-${id}${b}` : m))
      .replace(/url\(#([^)]+)\)/g, (m, id: string) => (ids.has(id) ? `url(#${prefix}-${id})` : m))
      .replace(/(href=")#([^"]+)(")/g, (m, a: string, id: string, b: string) => (ids.has(id) ? `${a}#${prefix}-${id}${b}` : m));
  }
  return out;
}

type Row = Record<string, string | number>;

const finite = (v: number | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Colours of a nominal field in a fixed order. */
const nominalScale = (domain: string[]) => ({ domain, scheme: domain.length <= 10 ? 'category10' : 'tableau20' });

/**
 * MinMax traces of one method: similarity (MI for `mine`), f (with the
 * success threshold f = 0) and c over the iterations, one line per sample.
 * Null when there is nothing to draw.
 */
export async function traceChart(method: string, traces: readonly ReportTrace[], opts: { maxSamples?: number } = {}): Promise<string | null> {
  const shown = traces.slice(0, opts.maxSamples ?? 8);
  const samples = shown.map((t) => `#${t.sampleId}`);
  const rows = (key: 'similarity' | 'f' | 'c'): Row[] =>
    shown.flatMap((t, k) => t.trace[key].flatMap((value, i) => (finite(value) ? [{ sample: samples[k]!, iteration: i + 1, value }] : [])));
  const sim = rows('similarity');
  const f = rows('f');
  const c = rows('c');
  if (sim.length + f.length + c.length === 0) return null;
  const logC = c.length > 0 && c.every((r) => (r.value as number) > 0);
  // Log axis: label powers of ten only (every second one over many decades).
  const cTicks = logC ? decades(c.map((r) => r.value as number)) : [];
  const cAxis = cTicks.length >= 3 ? { axis: { values: cTicks, format: '.0e' } } : logC ? { axis: { format: '.2~g', tickCount: 4 } } : {};
  const color = { field: 'sample', type: 'nominal' as const, title: 'sample', scale: nominalScale(samples) };
  const x = { field: 'iteration', type: 'quantitative' as const, title: 'iteration', axis: { tickMinStep: 1 } };
  const panel = (values: Row[], title: string, yTitle: string, scale?: { type: 'log'; nice: boolean }, extra: object = {}) => ({
    title,
    width: 230,
    height: 160,
    data: { values },
    mark: { type: 'line' as const, strokeWidth: 1.5, interpolate: 'linear' as const },
    encoding: { x, y: { field: 'value', type: 'quantitative' as const, title: yTitle, scale: { zero: false, ...scale }, ...extra }, color },
  });
  const simLabel = method === 'mine' ? 'MI (nats)' : 'similarity';
  const fPanel = {
    title: 'f (≤ 0: success)',
    width: 230,
    height: 160,
    layer: [
      { data: { values: [{ zero: 0 }] }, mark: { type: 'rule' as const, color: '#999', strokeDash: [4, 3] }, encoding: { y: { field: 'zero', type: 'quantitative' as const } } },
      { data: { values: f }, mark: { type: 'line' as const, strokeWidth: 1.5 }, encoding: { x, y: { field: 'value', type: 'quantitative' as const, title: 'f' }, color } },
    ],
  };
  const spec: TopLevelSpec = {
    title: { text: `${method}: MinMax traces`, subtitle: `${shown.length} sample${shown.length === 1 ? '' : 's'}, per iteration` },
    hconcat: [
      ...(sim.length ? [panel(sim, simLabel, simLabel)] : []),
      ...(f.length ? [fPanel] : []),
      ...(c.length ? [panel(c, logC ? 'c (log scale)' : 'c', 'c', logC ? { type: 'log', nice: false } : undefined, cAxis)] : []),
    ],
    resolve: { scale: { color: 'shared' } },
  } as TopLevelSpec;
  return renderSvg(spec);
}

/** Powers of ten spanning the values (at most about 8 of them). */
function decades(values: readonly number[]): number[] {
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  const step = Math.max(1, Math.ceil((hi - lo + 1) / 8));
  const out: number[] = [];
  for (let e = lo; e <= hi; e += step) out.push(10 ** e);
  return out;
}

/** Training loss (and validation loss, dashed, where recorded) per stage over the epochs. Null when empty. */
export async function lossChart(history: Record<string, readonly EpochReport[]>): Promise<string | null> {
  const stages = Object.keys(history).filter((s) => (history[s] ?? []).length > 0);
  const rows: Row[] = stages.flatMap((stage) =>
    history[stage]!.flatMap((e) => [
      ...(finite(e.loss) ? [{ stage, epoch: e.epoch + 1, series: 'training', loss: e.loss }] : []),
      ...(finite(e.valLoss) ? [{ stage, epoch: e.epoch + 1, series: 'validation', loss: e.valLoss }] : []),
    ]),
  );
  if (rows.length === 0) return null;
  const log = rows.every((r) => (r.loss as number) > 0);
  const hasVal = rows.some((r) => r.series === 'validation');
  const longest = Math.max(...stages.map((s) => history[s]!.length));
  const spec: TopLevelSpec = {
    title: { text: 'Training loss', subtitle: `per stage: the original model and each retraining${log ? ' (log scale)' : ''}` },
    width: 560,
    height: 240,
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 1.75, point: longest <= 3 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'loss', type: 'quantitative', title: 'loss', scale: log ? { type: 'log' } : { zero: false } },
      color: { field: 'stage', type: 'nominal', title: 'stage', scale: nominalScale(stages) },
      ...(hasVal ? { strokeDash: { field: 'series', type: 'nominal', title: 'series' } } : {}),
    },
  } as TopLevelSpec;
  return renderSvg(spec);
}

const isMethodMetrics = (m: unknown): m is ReportMethodMetrics => typeof m === 'object' && m !== null && 'improvement' in m;

/** Attack success rate per attack method (bars, 0–100 %). Null when no method has one. */
export async function asrChart(methods: ReportMethods): Promise<string | null> {
  const rows: Row[] = Object.entries(methods).flatMap(([method, m]) => (isMethodMetrics(m) && finite(m.asr) ? [{ method, asr: m.asr }] : []));
  if (rows.length === 0) return null;
  const domain = rows.map((r) => r.method as string);
  const spec: TopLevelSpec = {
    title: { text: 'Attack success rate', subtitle: 'share of training samples with a UAE' },
    width: Math.max(120, 70 * rows.length),
    height: 200,
    data: { values: rows },
    encoding: {
      x: { field: 'method', type: 'nominal', title: null, sort: domain, axis: { labelAngle: 0 } },
      y: { field: 'asr', type: 'quantitative', title: 'ASR', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
    },
    layer: [
      { mark: { type: 'bar', color: '#4c78a8', width: { band: 0.6 } } },
      { mark: { type: 'text', dy: -6, fontSize: 11 }, encoding: { text: { field: 'asr', type: 'quantitative', format: '.1%' } } },
    ],
  } as TopLevelSpec;
  return renderSvg(spec);
}

/** Test reconstruction error per method (horizontal bars) against the original model's (dashed rule). */
export async function errorChart(methods: ReportMethods): Promise<string | null> {
  const base = methods.original.test_recon_error;
  const rows: Row[] = Object.entries(methods).flatMap(([method, m]) =>
    m && finite(m.test_recon_error)
      ? [{ method, error: m.test_recon_error, relation: method === 'original' ? 'original' : m.test_recon_error < base ? 'better' : m.test_recon_error > base ? 'worse' : 'equal' }]
      : [],
  );
  if (rows.length === 0) return null;
  const domain = rows.map((r) => r.method as string);
  const spec: TopLevelSpec = {
    title: { text: 'Test reconstruction error', subtitle: 'MSE per element; lower is better' },
    width: 360,
    height: Math.max(60, 24 * rows.length),
    layer: [
      {
        data: { values: rows },
        mark: { type: 'bar', height: { band: 0.7 } },
        encoding: {
          y: { field: 'method', type: 'nominal', title: null, sort: domain },
          x: { field: 'error', type: 'quantitative', title: 'test reconstruction error' },
          color: {
            field: 'relation',
            type: 'nominal',
            title: 'vs original',
            scale: { domain: ['original', 'better', 'equal', 'worse'], range: ['#9e9e9e', '#54a24b', '#bab0ac', '#e45756'] },
          },
        },
      },
      ...(finite(base)
        ? [{ data: { values: [{ base }] }, mark: { type: 'rule' as const, color: '#333', strokeDash: [4, 3] }, encoding: { x: { field: 'base', type: 'quantitative' as const } } }]
        : []),
    ],
  } as TopLevelSpec;
  return renderSvg(spec);
}

/**
 * Mean and 95% interval over seeds of one metric per arm (points with error
 * bars). Null when no arm has an interval.
 */
export async function intervalChart(
  title: string,
  metric: string,
  rows: ReadonlyArray<{ method: string; mean: number; ci95?: [number, number] }>,
): Promise<string | null> {
  const values: Row[] = rows.flatMap((r) =>
    finite(r.mean) ? [{ method: r.method, mean: r.mean, low: r.ci95?.[0] ?? r.mean, high: r.ci95?.[1] ?? r.mean }] : [],
  );
  if (!rows.some((r) => r.ci95) || values.length === 0) return null;
  const y = { field: 'method', type: 'nominal' as const, title: null, sort: null };
  const spec = {
    title: { text: title, subtitle: 'mean over seeds, 95% t-interval' },
    width: 320,
    height: Math.max(60, 22 * values.length),
    data: { values },
    layer: [
      { mark: { type: 'rule', color: '#555' }, encoding: { y, x: { field: 'low', type: 'quantitative', title: metric, scale: { zero: false } }, x2: { field: 'high' } } },
      { mark: { type: 'point', filled: true, size: 50, color: '#2f6fb0' }, encoding: { y, x: { field: 'mean', type: 'quantitative' } } },
    ],
  } as unknown as TopLevelSpec;
  return renderSvg(spec);
}

/** Per attack arm, the median (bar) and range (rule) of a diagnostic over successful UAEs. */
export async function diagnosticsChart(
  title: string,
  rows: ReadonlyArray<{ method: string; median: number; min: number; max: number }>,
): Promise<string | null> {
  const values: Row[] = rows.flatMap((r) => (finite(r.median) ? [{ method: r.method, median: r.median, min: r.min, max: r.max }] : []));
  if (values.length === 0) return null;
  const y = { field: 'method', type: 'nominal' as const, title: null, sort: null };
  const spec = {
    title: { text: title, subtitle: 'median (point) and range over successful UAEs' },
    width: 260,
    height: Math.max(50, 22 * values.length),
    data: { values },
    layer: [
      { mark: { type: 'rule', color: '#999' }, encoding: { y, x: { field: 'min', type: 'quantitative', title: title, scale: { zero: true } }, x2: { field: 'max' } } },
      { mark: { type: 'point', filled: true, size: 50, color: '#b3261e' }, encoding: { y, x: { field: 'median', type: 'quantitative' } } },
    ],
  } as unknown as TopLevelSpec;
  return renderSvg(spec);
}
