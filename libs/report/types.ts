/**
 * The data a report is rendered from. Everything is plain data (no tensors),
 * and the caller passes only the few samples it wants shown.
 */
import type { EpochReport } from '../models/index.js';
import type { IterationTrace } from '../attack/index.js';
import type { Summary } from '../eval/index.js';

/** The model trained on the originals. */
export interface OriginalMetrics {
  test_recon_error: number;
  /** Downstream classification accuracy in [0, 1], when measured (MLP probe). */
  accuracy?: number;
  /** The paper's ExtraTrees probe, when measured. */
  accuracy_extratrees?: number;
  /** Optimiser steps of its training. */
  train_steps?: number;
}

/** One augmentation method (same fields as `MethodMetrics` of libs/augment, plus `accuracy`). */
export interface ReportMethodMetrics {
  test_recon_error: number;
  /** (original − new) / original. */
  improvement: number;
  /** Attack methods only, in [0, 1]. */
  asr?: number;
  accuracy?: number;
  accuracy_extratrees?: number;
  train_steps?: number;
  seconds_per_sample: number;
  /** `mine`: MI of the successful UAEs. */
  mi?: Summary;
  /** With FID on: FID and KID × 100 of the arm's generated set against the training samples. */
  fid?: number;
  kid?: number;
}

/**
 * Metrics per method: `original` plus any of mine, l2, ga-σ, repeat, none.
 * `AugmentationReport['methods']` is assignable to it.
 */
export type ReportMethods = {
  original: OriginalMetrics;
  [method: string]: OriginalMetrics | ReportMethodMetrics | undefined;
};

/** The samples shown as image grids (or, for 1-D data, as heat-map strips). */
export interface ReportImages {
  /** Per-sample shape: [H, W, C] (C = 1 grayscale, 3 RGB), [H, W], or [d] for vectors. */
  inputShape: number[];
  /** n × d, row-major, values in [0, 1]: the shown originals. */
  originals: Float32Array;
  /** Per method, the same n rows after generation (failures: the original), and per-row success. */
  perMethod: Record<string, { x: Float32Array; success?: boolean[] }>;
  /** The rows' sample ids in the training set (labels only). */
  ids?: number[];
}

export interface ReportTrace {
  sampleId: number;
  trace: IterationTrace;
}

/** Several seeds: intervals, paired verdicts and the attacks' diagnostics (libs/augment study.ts). */
export interface ReportStudy {
  seeds: number[];
  /** Per arm (and original): the 95% intervals of its metrics over seeds. */
  intervals: Record<string, { test_recon_error?: [number, number]; accuracy?: [number, number]; accuracy_extratrees?: [number, number] }>;
  comparisons: Array<{ arm: string; control: string; metric: string; diff: number; ci95?: [number, number]; verdict: string; seeds: number }>;
  /** Attack arms: summaries over successful UAEs (‖δ‖∞, ‖δ‖₂, ‖δ − δ0‖/‖δ0‖, cos(δ, δ0)). */
  diagnostics: Record<string, { linf?: Summary; l2?: Summary; rel_move?: Summary; cos_delta0?: Summary; samples: number }>;
}

export interface ReportInput {
  /** Default: "UAE augmentation — <dataset>". */
  title?: string;
  dataset: string;
  model: string;
  backend: string;
  seed: number;
  train_samples: number;
  test_samples: number;
  /** Shown as pretty-printed JSON. */
  config: object;
  methods: ReportMethods;
  /** Training-loss curves per stage (original, mine, l2, …). */
  history: Record<string, EpochReport[]>;
  images?: ReportImages;
  /** Per attack method, the MinMax traces of a few samples. */
  traces?: Record<string, ReportTrace[]>;
  study?: ReportStudy;
}

export interface RenderOptions {
  /** Most sample rows shown per image grid (default 16). */
  maxImageRows?: number;
  /** Most samples drawn per trace chart (default 8). */
  maxTraceSamples?: number;
}
