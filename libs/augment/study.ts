/**
 * The augmentation study over several seeds (docs/study.md): runAugmentation
 * once per seed on the same data (the same training, validation and test
 * samples; the seed changes model initialisation, shuffles, attack draws and
 * probes), then per arm the mean, the per-seed values, the sample standard
 * deviation and the 95% t-interval of every metric, and a list of paired
 * comparisons — each MINE arm against every control, per metric, paired by
 * seed — with a verdict: `better`, `worse` or `indistinguishable` at 95%.
 *
 * A single seed gives the same fields (per_seed of length one, no std, no
 * interval, every verdict `indistinguishable`): one seed cannot tell a
 * difference from noise.
 */
import { meanInterval, pairedComparison, summarize, type FeatureModelRecord, type Summary, type Verdict } from '../eval/index.js';
import type { Dataset } from '../data/index.js';
import { runAugmentation, type AugmentationConfig, type AugmentationHooks, type AugmentationReport, type ProtocolRecord } from './pipeline.js';
import { isMineMethod } from './stages.js';
import { summarizeDiagnostics, type DiagnosticsSummary } from './diagnostics.js';

/** The per-seed numbers of an arm that get means, intervals and comparisons. */
export const STUDY_METRICS = [
  'test_recon_error',
  'improvement',
  'asr',
  'accuracy',
  'accuracy_extratrees',
  'seconds_per_sample',
  'train_steps',
  'train_epochs',
  'selection_convergence',
  'fid',
  'kid',
] as const;
export type StudyMetric = (typeof STUDY_METRICS)[number];

/** The metrics compared between arms, and which direction is better. */
export const COMPARED_METRICS: ReadonlyArray<{ metric: StudyMetric; lowerIsBetter: boolean }> = [
  { metric: 'test_recon_error', lowerIsBetter: true },
  { metric: 'accuracy', lowerIsBetter: false },
  { metric: 'accuracy_extratrees', lowerIsBetter: false },
];

export type ArmAggregate = Partial<Record<StudyMetric, number>> & {
  per_seed: Partial<Record<StudyMetric, number[]>>;
  std: Partial<Record<StudyMetric, number>>;
  ci95: Partial<Record<StudyMetric, [number, number]>>;
  /** MINE arms: MI of the successful UAEs, pooled over seeds. */
  mi?: Summary;
  /** Attack arms: diagnostics pooled over seeds (successful samples). */
  diagnostics?: DiagnosticsSummary;
  /** concrete-ae: the selected features of each seed's model. */
  selected_features?: number[][];
};

export interface Comparison {
  arm: string;
  control: string;
  metric: StudyMetric;
  /** Mean over seeds of arm − control. */
  diff: number;
  /** 95% t-interval of the paired difference; absent with one seed. */
  ci95?: [number, number];
  verdict: Verdict;
  seeds: number;
}

export interface StudyMetrics {
  dataset: string;
  model: string;
  backend: string;
  seeds: number[];
  /** The first seed (metrics.json of one seed keeps its `seed`). */
  seed: number;
  train_samples: number;
  validation_samples: number;
  test_samples: number;
  protocol: ProtocolRecord;
  /** With several rounds: the last round's (as `rounds`' last entry). */
  methods: Record<string, ArmAggregate>;
  comparisons: Comparison[];
  /** With FID on: the feature network of every arm's `fid` and `kid` (set by the caller that chose it). */
  feature_model?: FeatureModelRecord;
  /** Several rounds only: each round's arms and comparisons, aggregated over seeds as the top level is. */
  rounds?: Array<{ round: number; methods: Record<string, ArmAggregate>; comparisons: Comparison[] }>;
}

export interface StudyHooks extends AugmentationHooks {
  /** Before each seed's run (0-based index of `count`). */
  onSeed?: (seed: number, index: number, count: number) => void;
  /** Each seed's finished report (e.g. to write it out) before the next seed starts. */
  onSeedReport?: (seed: number, report: AugmentationReport) => Promise<void> | void;
  /** A seed finished earlier (resume): its report, or undefined to run it. */
  loadSeed?: (seed: number) => Promise<AugmentationReport | undefined>;
}

/** Checks a seed list: non-empty, safe non-negative integers, no repeats. */
export function checkSeeds(seeds: readonly number[]): number[] {
  if (seeds.length === 0) throw new Error('seeds: at least one seed is required');
  const seen = new Set<number>();
  for (const s of seeds) {
    if (!Number.isSafeInteger(s) || s < 0) throw new Error(`seeds: ${s} is not a non-negative integer`);
    if (seen.has(s)) throw new Error(`seeds: ${s} is listed twice`);
    seen.add(s);
  }
  return [...seeds];
}

/**
 * Runs the study once per seed. The validation split stays that of the first
 * seed (unless the config fixes its own), so every seed sees the same samples.
 */
export async function runStudy(ds: Dataset, cfg: AugmentationConfig, seeds: readonly number[], hooks: StudyHooks = {}): Promise<{ metrics: StudyMetrics; reports: AugmentationReport[] }> {
  const list = checkSeeds(seeds);
  const reports: AugmentationReport[] = [];
  for (const [i, seed] of list.entries()) {
    hooks.signal?.throwIfAborted();
    const earlier = await hooks.loadSeed?.(seed);
    if (earlier) {
      if (earlier.seed !== seed) throw new Error(`the stored result for seed ${seed} is seed ${earlier.seed}'s`);
      reports.push(earlier);
      continue;
    }
    hooks.onSeed?.(seed, i, list.length);
    const validation = cfg.validation ? { ...cfg.validation, seed: cfg.validation.seed ?? list[0]! } : undefined;
    const report = await runAugmentation(ds, { ...cfg, seed, ...(validation ? { validation } : {}) }, hooks);
    await hooks.onSeedReport?.(seed, report);
    reports.push(report);
  }
  return { metrics: aggregateStudy(reports), reports };
}

/**
 * Means, intervals and paired comparisons over per-seed reports of the same
 * study; with several rounds, per round too (the top level is the last round).
 */
export function aggregateStudy(reports: readonly AugmentationReport[]): StudyMetrics {
  const first = reports[0];
  if (!first) throw new Error('aggregateStudy: no reports');
  const top = aggregateArms(reports);
  const count = first.rounds?.length ?? 1;
  for (const r of reports) {
    if ((r.rounds?.length ?? 1) !== count) throw new Error(`aggregateStudy: seed ${r.seed} has ${r.rounds?.length ?? 1} rounds, not ${count}`);
  }
  const rounds = first.rounds?.map((_, i) => {
    // A seed read back from its files (resume) keeps the last round's samples only.
    const perRound = reports.map((r) => ({ ...r, methods: r.rounds![i]!.methods, generated: r.rounds![i]!.generated ?? {} }));
    return { round: i + 1, ...aggregateArms(perRound) };
  });
  return {
    dataset: first.dataset,
    model: first.model,
    backend: first.backend,
    seeds: reports.map((r) => r.seed),
    seed: first.seed,
    train_samples: first.train_samples,
    validation_samples: first.validation_samples,
    test_samples: first.test_samples,
    protocol: first.protocol,
    ...top,
    ...(rounds ? { rounds } : {}),
  };
}

/** Per arm the aggregates over seeds, and the MINE arms' paired comparisons with every control. */
function aggregateArms(reports: ReadonlyArray<Pick<AugmentationReport, 'seed' | 'methods' | 'generated'>>): Pick<StudyMetrics, 'methods' | 'comparisons'> {
  const first = reports[0]!;
  const arms = Object.keys(first.methods);
  for (const r of reports) {
    const keys = Object.keys(r.methods);
    if (keys.length !== arms.length || keys.some((k, i) => k !== arms[i])) throw new Error(`aggregateStudy: seed ${r.seed} has arms ${keys.join(', ')}, not ${arms.join(', ')}`);
  }
  const valuesOf = (arm: string, metric: StudyMetric): number[] | undefined => {
    const v = reports.map((r) => (r.methods[arm] as Partial<Record<StudyMetric, number>> | undefined)?.[metric]);
    return v.every((x): x is number => typeof x === 'number' && Number.isFinite(x)) ? v : undefined;
  };

  const methods: Record<string, ArmAggregate> = {};
  for (const arm of arms) {
    const agg: ArmAggregate = { per_seed: {}, std: {}, ci95: {} };
    for (const metric of STUDY_METRICS) {
      const v = valuesOf(arm, metric);
      if (!v) continue;
      const mi = meanInterval(v);
      agg[metric] = mi.mean;
      agg.per_seed[metric] = v;
      if (mi.std !== undefined) agg.std[metric] = mi.std;
      if (mi.ci95) agg.ci95[metric] = mi.ci95;
    }
    const generated = reports.map((r) => r.generated[arm]);
    const results = generated.flatMap((g) => g?.results ?? []);
    if (isMineMethod(arm) && results.length > 0) {
      const mi = summarize(results.filter((r) => r.success).map((r) => r.similarity));
      if (mi) agg.mi = mi;
    }
    const rows = generated.flatMap((g) => g?.diagnostics ?? []);
    if (rows.length > 0) agg.diagnostics = summarizeDiagnostics(rows);
    const selected = reports.map((r) => (r.methods[arm] as { selected_features?: number[] } | undefined)?.selected_features);
    if (selected.every((s): s is number[] => Array.isArray(s))) agg.selected_features = selected;
    methods[arm] = agg;
  }

  const comparisons: Comparison[] = [];
  for (const arm of arms.filter(isMineMethod)) {
    for (const control of arms) {
      if (control === arm || isMineMethod(control)) continue;
      for (const { metric, lowerIsBetter } of COMPARED_METRICS) {
        const a = valuesOf(arm, metric);
        const c = valuesOf(control, metric);
        if (!a || !c) continue;
        const p = pairedComparison(a, c, lowerIsBetter);
        comparisons.push({ arm, control, metric, diff: p.diff, ...(p.ci95 ? { ci95: p.ci95 } : {}), verdict: p.verdict, seeds: p.n });
      }
    }
  }

  return { methods, comparisons };
}
