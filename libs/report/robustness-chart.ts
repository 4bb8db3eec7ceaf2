/**
 * Charts of the supervised study (libs/supervised, docs/supervised.md):
 * robustness curves (PGD ASR against ε, one line per classifier; the paper's
 * Figures 9 and 10a) and Table 3's MI of the successful examples with its
 * 95% interval over samples. Vega-Lite, rendered to inline SVG as the other charts.
 */
import type { TopLevelSpec } from 'vega-lite';
import { renderSvg } from './charts.js';

export interface RobustnessSeries {
  /** The classifier (a data value, never a field name). */
  name: string;
  /** ASR per ε, aligned with `epsilons`; non-finite values are left out. */
  asr: readonly number[];
}

/** ASR (0–100 %) against the L∞ radius ε, one line with points per classifier. Null when there is nothing to draw. */
export async function robustnessChart(epsilons: readonly number[], series: readonly RobustnessSeries[], opts: { subtitle?: string } = {}): Promise<string | null> {
  const values = series.flatMap((s) =>
    epsilons.flatMap((epsilon, k) => {
      const asr = s.asr[k];
      return typeof asr === 'number' && Number.isFinite(asr) ? [{ classifier: s.name, epsilon, asr }] : [];
    }),
  );
  if (values.length === 0) return null;
  const domain = series.map((s) => s.name);
  const spec = {
    title: { text: 'Robustness: PGD attack success rate', subtitle: opts.subtitle ?? 'L∞ PGD with random start; lower is more robust' },
    width: 420,
    height: 260,
    data: { values },
    encoding: {
      x: { field: 'epsilon', type: 'quantitative', title: 'ε (L∞ radius)', scale: { domain: [0, Math.max(...epsilons)] } },
      y: { field: 'asr', type: 'quantitative', title: 'ASR', scale: { domain: [0, 1] }, axis: { format: '.0%' } },
      color: { field: 'classifier', type: 'nominal', title: 'classifier', scale: { domain, scheme: 'category10' } },
    },
    layer: [{ mark: { type: 'line', strokeWidth: 2 } }, { mark: { type: 'point', filled: true, size: 40 } }],
  } as unknown as TopLevelSpec;
  return renderSvg(spec);
}

export interface MiRow {
  method: string;
  /** Mean MI of the successful examples; undefined when none succeeded. */
  mean?: number;
  ci95?: readonly [number, number];
  n: number;
}

/** Mean MI per attack (points) with its 95% t-interval over samples (rules). Null when no attack has a successful example. */
export async function miChart(rows: readonly MiRow[]): Promise<string | null> {
  const values = rows.flatMap((r) =>
    typeof r.mean === 'number' && Number.isFinite(r.mean) ? [{ method: `${r.method} (n = ${r.n})`, mean: r.mean, low: r.ci95?.[0] ?? r.mean, high: r.ci95?.[1] ?? r.mean }] : [],
  );
  if (values.length === 0) return null;
  const y = { field: 'method', type: 'nominal' as const, title: null, sort: null };
  const spec = {
    title: { text: 'MI of the successful examples', subtitle: 'mean and 95% t-interval over samples; higher is more similar' },
    width: 320,
    height: Math.max(60, 28 * values.length),
    data: { values },
    layer: [
      { mark: { type: 'rule', color: '#555' }, encoding: { y, x: { field: 'low', type: 'quantitative', title: 'MI (MINE estimate)', scale: { zero: false } }, x2: { field: 'high' } } },
      { mark: { type: 'point', filled: true, size: 60, color: '#2f6fb0' }, encoding: { y, x: { field: 'mean', type: 'quantitative' } } },
    ],
  } as unknown as TopLevelSpec;
  return renderSvg(spec);
}
