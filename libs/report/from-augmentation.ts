/**
 * Builds a ReportInput from what `runAugmentation` returns: picks a few
 * training samples to show (those the attacks succeeded on first) and the
 * attack traces where they were recorded.
 */
import type { AugmentationReport, StudyMetrics } from '../augment/index.js';
import type { ReportImages, ReportInput, ReportMethods, ReportStudy, ReportTrace } from './types.js';

export interface FromAugmentationOptions {
  /** The training samples, n × d, that `report.generated` rows correspond to (the dataset's train.x). */
  trainX: Float32Array;
  /**
   * Per-sample shape to draw them in, e.g. [28, 28, 1]. Pass the dataset's
   * image shape even when the model saw flat vectors (dense-ae); [d] draws strips.
   */
  inputShape: number[];
  /** Shown in the report as JSON. */
  config: object;
  title?: string;
  /** Sample rows in the image grids (default 8). */
  samples?: number;
  /** Samples per trace chart (default 6). */
  traceSamples?: number;
  /** The study over seeds: its means replace the one seed's metrics; intervals, verdicts and diagnostics are shown. */
  study?: StudyMetrics;
}

/** The report's view of a study: intervals, comparisons and pooled diagnostics. */
export function reportStudy(study: StudyMetrics): ReportStudy {
  const intervals: ReportStudy['intervals'] = {};
  const diagnostics: ReportStudy['diagnostics'] = {};
  for (const [arm, m] of Object.entries(study.methods)) {
    intervals[arm] = {
      ...(m.ci95.test_recon_error ? { test_recon_error: m.ci95.test_recon_error } : {}),
      ...(m.ci95.accuracy ? { accuracy: m.ci95.accuracy } : {}),
      ...(m.ci95.accuracy_extratrees ? { accuracy_extratrees: m.ci95.accuracy_extratrees } : {}),
    };
    if (m.diagnostics) diagnostics[arm] = m.diagnostics;
  }
  return { seeds: study.seeds, intervals, comparisons: study.comparisons, diagnostics };
}

export function reportInputFromAugmentation(report: AugmentationReport, opts: FromAugmentationOptions): ReportInput {
  const d = opts.inputShape.reduce((a, b) => a * b, 1);
  const n = Math.floor(opts.trainX.length / d);
  const generated = Object.entries(report.generated).flatMap(([method, g]) => (g && g.x.length === n * d ? [[method, g] as const] : []));
  const ids = pickSamples(n, generated.map(([, g]) => g.results?.map((r) => r.success)), opts.samples ?? 8);

  let images: ReportImages | undefined;
  if (ids.length > 0 && generated.length > 0) {
    const rows = (x: Float32Array) => {
      const out = new Float32Array(ids.length * d);
      ids.forEach((id, k) => out.set(x.subarray(id * d, (id + 1) * d), k * d));
      return out;
    };
    images = {
      inputShape: opts.inputShape,
      originals: rows(opts.trainX),
      perMethod: Object.fromEntries(
        generated.map(([method, g]) => [method, { x: rows(g.x), ...(g.results ? { success: ids.map((id) => g.results![id]?.success ?? false) } : {}) }]),
      ),
      ids,
    };
  }

  const traces: Record<string, ReportTrace[]> = {};
  const perTrace = opts.traceSamples ?? 6;
  for (const [method, g] of generated) {
    const withTrace = (g.results ?? []).filter((r) => r.trace);
    if (withTrace.length === 0) continue;
    // The shown samples first, then the rest in order.
    const shown = new Set(ids);
    const ordered = [...withTrace.filter((r) => shown.has(r.sampleId)), ...withTrace.filter((r) => !shown.has(r.sampleId))];
    traces[method] = ordered.slice(0, perTrace).map((r) => ({ sampleId: r.sampleId, trace: r.trace! }));
  }

  return {
    ...(opts.title !== undefined ? { title: opts.title } : {}),
    dataset: report.dataset,
    model: report.model,
    backend: report.backend,
    seed: report.seed,
    train_samples: report.train_samples,
    test_samples: report.test_samples,
    config: opts.config,
    methods: opts.study ? (opts.study.methods as unknown as ReportMethods) : report.methods,
    ...(opts.study ? { study: reportStudy(opts.study) } : {}),
    history: report.history,
    ...(images ? { images } : {}),
    ...(Object.keys(traces).length ? { traces } : {}),
  };
}

/** Up to k sample ids: those most attack methods succeeded on first, then the rest, each in index order. */
export function pickSamples(n: number, successes: ReadonlyArray<readonly boolean[] | undefined>, k: number): number[] {
  const score = (i: number) => successes.reduce((s, v) => s + (v?.[i] ? 1 : 0), 0);
  const all = Array.from({ length: n }, (_, i) => i);
  return all.sort((a, b) => score(b) - score(a) || a - b).slice(0, Math.max(0, k));
}
