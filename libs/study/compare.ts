/**
 * One study cell against its paper row: per metric and arm the paper's value,
 * ours (mean and 95% t-interval over seeds, from the cell's metrics), our
 * paired verdict of MINE against that arm (libs/augment study.ts
 * `comparisons`) and the direction the paper's own numbers show. Arms the
 * paper's row does not have (init-noise, repeat, none, …) follow as the
 * controls. A metric the cell's metrics do not carry (FID before it is
 * measured, ASR of a noise arm) is "not measured", never an error.
 */
import type { ResultMetrics } from '../results/document.js';
import { paperRow, lowerIsBetter, type PaperMetric, type PaperRow, type PaperValue } from './paper.js';
import type { StudyCell } from './study-file.js';

/** The MINE arm a row's `mine` values are compared with. */
export const MINE_ARM = 'mine';

export interface Ours {
  mean: number;
  ci95?: [number, number];
  /** Seeds behind the mean (MI: pooled UAEs, no interval). */
  seeds: number;
  pooled?: boolean;
}

export interface ComparisonLine {
  metric: PaperMetric;
  /** Our arm (for ga:N, the cell's N-th ga-<σ> arm, if it has one). */
  arm: string;
  /** The paper's arm key, when the paper has this arm (original, mine, l2, ga:1, …). */
  paperArm?: string;
  paper?: PaperValue;
  /** Ours, or why not: the arm is not in the cell, or it carries no such metric. */
  ours: Ours | 'arm not run' | 'not measured';
  /** Our verdict of MINE against this arm on this metric (compared metrics only). */
  verdict?: { verdict: string; diff: number; ci95?: [number, number]; seeds: number };
  /** The paper's own numbers: MINE better or worse than this arm. */
  paperDirection?: 'better' | 'worse' | 'equal';
  control: boolean;
}

type Arm = ResultMetrics['methods'][string];

function oursOf(arm: Arm | undefined, metric: PaperMetric, seeds: number): ComparisonLine['ours'] {
  if (!arm) return 'arm not run';
  if (metric === 'mi') return arm.mi ? { mean: arm.mi.mean, seeds, pooled: true } : 'not measured';
  const v = (arm as Record<string, unknown>)[metric];
  // A summary over the UAEs (like `mi`) rather than a per-seed number: its mean, pooled.
  const pooledMean = (v as { mean?: unknown } | undefined)?.mean;
  if (typeof v === 'object' && v !== null && typeof pooledMean === 'number' && Number.isFinite(pooledMean)) return { mean: pooledMean, seeds, pooled: true };
  if (typeof v !== 'number' || !Number.isFinite(v)) return 'not measured';
  const ci = (arm.ci95 as Record<string, [number, number] | undefined>)[metric];
  return { mean: v, ...(ci ? { ci95: ci } : {}), seeds };
}

/** The cell's arm for a paper arm: ga:N → its N-th ga-<σ> arm (the paper's σ are lost); others by name. */
export function armFor(paperArm: string, arms: readonly string[]): string | undefined {
  const ga = /^ga:(\d+)$/.exec(paperArm);
  if (ga) return arms.filter((a) => a.startsWith('ga-'))[Number(ga[1]) - 1];
  return arms.includes(paperArm) ? paperArm : undefined;
}

function direction(metric: PaperMetric, mine: number, other: number): ComparisonLine['paperDirection'] {
  const lower = lowerIsBetter(metric);
  if (lower === undefined) return undefined;
  if (mine === other) return 'equal';
  return mine < other === lower ? 'better' : 'worse';
}

export interface CellComparison {
  cell: StudyCell;
  row: PaperRow;
  /** Absent: the cell has not finished. */
  metrics?: ResultMetrics;
  lines: ComparisonLine[];
}

/** The comparison lines of one cell (none while it has no metrics). */
export function compareCell(cell: StudyCell, metrics: ResultMetrics | undefined): CellComparison {
  const row = paperRow(cell.row)!;
  if (!metrics) return { cell, row, lines: [] };
  const arms = Object.keys(metrics.methods);
  const seeds = metrics.seeds.length;
  const lines: ComparisonLine[] = [];
  const metricsOfRow = [...new Set(row.values.map((v) => v.metric))];
  for (const metric of metricsOfRow) {
    const values = row.values.filter((v) => v.metric === metric);
    const mineValue = row.values.find((v) => v.arm === MINE_ARM && v.metric === metric)?.value;
    const used = new Set<string>();
    const line = (arm: string, paper: PaperValue | undefined, control: boolean): ComparisonLine => {
      const c = arm !== MINE_ARM ? metrics.comparisons.find((x) => x.arm === MINE_ARM && x.control === arm && x.metric === metric) : undefined;
      const dir = paper && mineValue !== undefined && paper.arm !== MINE_ARM ? direction(metric, mineValue, paper.value) : undefined;
      return {
        metric,
        arm,
        ...(paper ? { paperArm: paper.arm, paper } : {}),
        ours: oursOf(metrics.methods[arm], metric, seeds),
        ...(c ? { verdict: { verdict: c.verdict, diff: c.diff, ...(c.ci95 ? { ci95: c.ci95 } : {}), seeds: c.seeds } } : {}),
        ...(dir ? { paperDirection: dir } : {}),
        control,
      };
    };
    for (const v of values) {
      const arm = armFor(v.arm, arms);
      if (arm) used.add(arm);
      lines.push(line(arm ?? v.arm, v, false));
    }
    // Our controls on the same metric: what the paper's row has no column for.
    for (const arm of arms) {
      if (used.has(arm) || arm === MINE_ARM) continue;
      if (oursOf(metrics.methods[arm], metric, seeds) === 'not measured') continue;
      lines.push(line(arm, undefined, true));
    }
  }
  return { cell, row, metrics, lines };
}
