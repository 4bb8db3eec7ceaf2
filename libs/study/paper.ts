/**
 * The paper's numbers that `uae study` compares against, one place for all
 * of them, each with the table and row it comes from (the paper's text,
 * /work/shared/paper/paper.txt; docs/algorithms.md). Where the extracted text
 * lost a number (the improvement percentages in parentheses, the GA σ
 * values), the entry says so instead of holding one.
 *
 * A row key names one paper row (one dataset × model, or one setting of an
 * ablation); a study cell picks one with `row`. Arms are this project's arm
 * names (libs/augment stages.ts): `original` is the model before
 * augmentation; the paper's L2-UAE is `l2`; its two GA columns are `ga:1`
 * and `ga:2`, matched to a cell's ga-<σ> arms in their order (the paper's σ
 * did not survive the text).
 */
import type { AutoencoderKind } from '../models/types.js';

/**
 * What a paper value measures. The STUDY_METRICS of libs/augment keep their
 * names; `mi` is the MINE arm's MI of its successful UAEs (pooled over
 * seeds); `fid` and `kid` are whatever an arm of the cell's metrics carries
 * under those names (not measured by this version).
 */
export type PaperMetric = 'test_recon_error' | 'asr' | 'accuracy_extratrees' | 'mi' | 'fid' | 'kid';

export interface PaperValue {
  arm: string;
  metric: PaperMetric;
  /** The number as printed (fractions for percentages: 99.86% → 0.9986). */
  value: number;
  /** The ± the paper prints next to it (GA: over its noise draws). */
  spread?: number;
  /** The paper's column heading, for the reader. */
  column: string;
}

/** The paper's section of a row, which study.md groups by. */
export const PAPER_TABLES = ['Table 4', 'Table 6', 'Table 8', 'Table 13', 'SuppMat 6.6', 'SuppMat 6.15'] as const;
export type PaperTable = (typeof PAPER_TABLES)[number];

/** A setting the cell's run document must have for the row to be the paper's (checked when the study file is read). */
export interface RowRequirement {
  /** Dotted path in the resolved run document, e.g. attack.similarity.mine.draws. */
  field: string;
  value: unknown;
}

export interface PaperRow {
  table: PaperTable;
  /** Where the numbers are: the table (or section) and the row. */
  source: string;
  /** The paper's dataset and model (the cell may run a stand-in, e.g. Fashion-MNIST for MNIST: study.md says so). */
  dataset: string;
  model: AutoencoderKind | 'classifier';
  values: PaperValue[];
  /** What the text lost or what differs in the setting, in a sentence. */
  note?: string;
  requires?: RowRequirement[];
}

const pct = (p: number) => p / 100;

/** Table 4's columns for one row: reconstruction error (test) of original, MINE-UAE, L2-UAE, GA ×2, then ASR (training) of the four generators. */
function table4(
  dataset: string,
  model: AutoencoderKind,
  rowName: string,
  err: { original: number; mine: number; l2: number; ga1: [number, number]; ga2: [number, number] },
  asr: { mine: number; l2: number; ga1: number; ga2: number },
): PaperRow {
  return {
    table: 'Table 4',
    source: `Table 4, ${dataset}, row "${rowName}"`,
    dataset,
    model,
    values: [
      { arm: 'original', metric: 'test_recon_error', value: err.original, column: 'Reconstruction Error (test set): Original' },
      { arm: 'mine', metric: 'test_recon_error', value: err.mine, column: 'Reconstruction Error (test set): MINE-UAE' },
      { arm: 'l2', metric: 'test_recon_error', value: err.l2, column: 'Reconstruction Error (test set): L2-UAE' },
      { arm: 'ga:1', metric: 'test_recon_error', value: err.ga1[0], spread: err.ga1[1], column: 'Reconstruction Error (test set): GA (first σ)' },
      { arm: 'ga:2', metric: 'test_recon_error', value: err.ga2[0], spread: err.ga2[1], column: 'Reconstruction Error (test set): GA (second σ)' },
      { arm: 'mine', metric: 'asr', value: pct(asr.mine), column: 'ASR (training set): MINE-UAE' },
      { arm: 'l2', metric: 'asr', value: pct(asr.l2), column: 'ASR (training set): L2-UAE' },
      { arm: 'ga:1', metric: 'asr', value: pct(asr.ga1), column: 'ASR (training set): GA (first σ)' },
      { arm: 'ga:2', metric: 'asr', value: pct(asr.ga2), column: 'ASR (training set): GA (second σ)' },
    ],
    note: 'the text lost the improvement percentages in parentheses and both GA σ values; GA columns are matched to the cell\'s ga-<σ> arms in order',
  };
}

/** Table 13 (SuppMat 6.14): MinMax with MI replaced by L2 or cosine; conv AE. */
function table13(dataset: string, original: number, mine: [number, number], l2: [number, number], cosine: [number, number]): PaperRow {
  return {
    table: 'Table 13',
    source: `Table 13 (SuppMat 6.14), ${dataset} (original reconstruction error: ${original})`,
    dataset,
    model: 'conv-ae',
    values: [
      { arm: 'original', metric: 'test_recon_error', value: original, column: 'original reconstruction error (table heading)' },
      { arm: 'mine', metric: 'test_recon_error', value: mine[0], column: 'Reconstruction Error (test set): MINE-UAE' },
      { arm: 'l2', metric: 'test_recon_error', value: l2[0], column: 'Reconstruction Error (test set): L2 / cosine, first' },
      { arm: 'cosine', metric: 'test_recon_error', value: cosine[0], column: 'Reconstruction Error (test set): L2 / cosine, second' },
      { arm: 'mine', metric: 'asr', value: pct(mine[1]), column: 'ASR (training set): MINE-UAE' },
      { arm: 'l2', metric: 'asr', value: pct(l2[1]), column: 'ASR (training set): L2 / cosine, first' },
      { arm: 'cosine', metric: 'asr', value: pct(cosine[1]), column: 'ASR (training set): L2 / cosine, second' },
    ],
    note: 'the text lost the improvement percentages; the feature-scattering row has no arm here',
  };
}

/** Table 8 (SuppMat 6.3): CIFAR-10, the setting of Table 2, K random-sampling draws. */
const TABLE8: ReadonlyArray<[k: number, mi: number, fid: number, kid: number]> = [
  [50, 1.35, 226.63, 14.7],
  [100, 1.53, 213.01, 12.2],
  [200, 1.86, 207.81, 10.8],
  [300, 2.05, 205.94, 10.02],
  [400, 2.13, 203.73, 9.59],
  [500, 2.32, 200.12, 8.78],
  [600, 2.33, 200.02, 8.81],
  [700, 2.35, 198.75, 8.22],
  [800, 2.38, 196.57, 8.29],
];

function table8(k: number, mi: number, fid: number, kid: number): PaperRow {
  return {
    table: 'Table 8',
    source: `Table 8 (SuppMat 6.3), CIFAR-10, column K = ${k}`,
    dataset: 'CIFAR-10',
    model: 'classifier',
    values: [
      { arm: 'mine', metric: 'mi', value: mi, column: `MI, K = ${k}` },
      { arm: 'mine', metric: 'fid', value: fid, column: `FID, K = ${k}` },
      { arm: 'mine', metric: 'kid', value: kid, column: `KID, K = ${k} (scale as printed; the text does not state it)` },
    ],
    note: "the paper's setting is Table 2's (supervised adversarial examples on CIFAR-10, averaged over 1000 samples); K is the number of random-sampling draws, attack.similarity.mine.draws here",
    requires: [
      { field: 'attack.similarity.mine.sampler', value: 'random' },
      { field: 'attack.similarity.mine.draws', value: k },
    ],
  };
}

export const PAPER_ROWS = {
  'table4-conv-mnist': table4(
    'MNIST',
    'conv-ae',
    'Convolutional',
    { original: 0.00294, mine: 0.00256, l2: 0.00364, ga1: [0.00301, 0.00011], ga2: [0.00304, 0.00015] },
    { mine: 99.86, l2: 99.61, ga1: 68.71, ga2: 99.61 },
  ),
  'table4-sparse-mnist': table4(
    'MNIST',
    'sparse-ae',
    'Sparse',
    { original: 0.00561, mine: 0.00243, l2: 0.00348, ga1: [0.0028, 2.6e-5], ga2: [0.0028, 3.71e-5] },
    { mine: 100, l2: 99.18, ga1: 54.1, ga2: 63.95 },
  ),
  'table4-conv-svhn': table4(
    'SVHN',
    'conv-ae',
    'Convolutional',
    { original: 0.00128, mine: 0.00095, l2: 0.00121, ga1: [0.00098, 3.77e-5], ga2: [0.00104, 7.41e-5] },
    { mine: 100, l2: 56, ga1: 96.4, ga2: 99.24 },
  ),
  'table4-sparse-svhn': table4(
    'SVHN',
    'sparse-ae',
    'Sparse',
    { original: 0.00887, mine: 0.00235, l2: 0.00315, ga1: [0.00301, 0.00137], ga2: [0.00293, 0.00078] },
    { mine: 100, l2: 72.16, ga1: 72.42, ga2: 79.92 },
  ),
  'table6-mice-protein': {
    table: 'Table 6',
    source: 'Table 6, row "Mice Protein"',
    dataset: 'Mice Protein',
    model: 'concrete-ae',
    values: [
      { arm: 'original', metric: 'test_recon_error', value: 0.00651, column: 'Reconstruction Error (test set): Original' },
      { arm: 'mine', metric: 'test_recon_error', value: 0.00611, column: 'Reconstruction Error (test set): MINE-UAE' },
      { arm: 'original', metric: 'accuracy_extratrees', value: pct(89.81), column: 'Accuracy (test set): Original' },
      { arm: 'mine', metric: 'accuracy_extratrees', value: pct(91.2), column: 'Accuracy (test set): MINE-UAE' },
      { arm: 'mine', metric: 'asr', value: pct(40.24), column: 'ASR: MINE-UAE' },
    ],
    note: "k = 10 selected features (Section 4.5's text lost the number; docs/algorithms.md, Models, restores it); accuracy is Balın's post-hoc ExtraTrees probe (accuracy_extratrees); the text lost the improvement percentage",
    requires: [{ field: 'k', value: 10 }],
  },
  'table6-fashion-mnist': {
    table: 'Table 6',
    source: 'Table 6, row "Fashion MMIST" [sic]',
    dataset: 'Fashion-MNIST',
    model: 'concrete-ae',
    values: [
      { arm: 'original', metric: 'test_recon_error', value: 0.01307, column: 'Reconstruction Error (test set): Original' },
      { arm: 'mine', metric: 'test_recon_error', value: 0.01254, column: 'Reconstruction Error (test set): MINE-UAE' },
      { arm: 'original', metric: 'accuracy_extratrees', value: pct(84.92), column: 'Accuracy (test set): Original' },
      { arm: 'mine', metric: 'accuracy_extratrees', value: pct(85.24), column: 'Accuracy (test set): MINE-UAE' },
      { arm: 'mine', metric: 'asr', value: pct(99.99), column: 'ASR: MINE-UAE' },
    ],
    note: "k = 50 selected features (Section 4.5's text lost the number; docs/algorithms.md, Models, restores it); the text lost the improvement percentage",
    requires: [{ field: 'k', value: 50 }],
  },
  'table8-k50': table8(...TABLE8[0]!),
  'table8-k100': table8(...TABLE8[1]!),
  'table8-k200': table8(...TABLE8[2]!),
  'table8-k300': table8(...TABLE8[3]!),
  'table8-k400': table8(...TABLE8[4]!),
  'table8-k500': table8(...TABLE8[5]!),
  'table8-k600': table8(...TABLE8[6]!),
  'table8-k700': table8(...TABLE8[7]!),
  'table8-k800': table8(...TABLE8[8]!),
  'table13-conv-mnist': table13('MNIST', 0.00294, [0.00256, 99.86], [0.002983, 96.5], [0.00295, 92]),
  'table13-conv-svhn': table13('SVHN', 0.00128, [0.00095, 100], [0.00096, 94.52], [0.001, 96.79]),
  'suppmat6.6-minmax': {
    table: 'SuppMat 6.6',
    source: 'SuppMat 6.6 (fixed-iteration analysis), "MinMax(ours)" of 9.0/93.54/99.86 %',
    dataset: 'MNIST',
    model: 'conv-ae',
    values: [{ arm: 'mine', metric: 'asr', value: pct(99.86), column: 'ASR, MinMax, T = 40' }],
    requires: [
      { field: 'attack.method', value: 'minmax' },
      { field: 'attack.iterations', value: 40 },
    ],
  },
  'suppmat6.6-penalty-2x20': {
    table: 'SuppMat 6.6',
    source: 'SuppMat 6.6 (fixed-iteration analysis), "(2,20)" of 9.0/93.54/99.86 %',
    dataset: 'MNIST',
    model: 'conv-ae',
    values: [{ arm: 'mine', metric: 'asr', value: pct(9.0), column: 'ASR, penalty, 2 binary-search steps × 20 iterations' }],
    requires: [
      { field: 'attack.method', value: 'penalty' },
      { field: 'attack.searchSteps', value: 2 },
      { field: 'attack.iterations', value: 40 },
    ],
  },
  'suppmat6.6-penalty-4x10': {
    table: 'SuppMat 6.6',
    source: 'SuppMat 6.6 (fixed-iteration analysis), "(4,10)" of 9.0/93.54/99.86 %',
    dataset: 'MNIST',
    model: 'conv-ae',
    values: [{ arm: 'mine', metric: 'asr', value: pct(93.54), column: 'ASR, penalty, 4 binary-search steps × 10 iterations' }],
    requires: [
      { field: 'attack.method', value: 'penalty' },
      { field: 'attack.searchSteps', value: 4 },
      { field: 'attack.iterations', value: 40 },
    ],
  },
  'suppmat6.15-round1': {
    table: 'SuppMat 6.15',
    source: 'SuppMat 6.15 (more data augmentation runs), "the 1st-run result (0.00235)" (= Table 4, SVHN, Sparse)',
    dataset: 'SVHN',
    model: 'sparse-ae',
    values: [{ arm: 'mine', metric: 'test_recon_error', value: 0.00235, column: 'reconstruction error (test set), one augmentation round' }],
  },
  'suppmat6.15-round2': {
    table: 'SuppMat 6.15',
    source: 'SuppMat 6.15 (more data augmentation runs), "the reconstruction error on the test set of 2-run data augmentation is 0.00199"',
    dataset: 'SVHN',
    model: 'sparse-ae',
    values: [{ arm: 'mine', metric: 'test_recon_error', value: 0.00199, column: 'reconstruction error (test set), two augmentation rounds' }],
    note: 'retrained on original ∪ round-1 UAEs ∪ round-2 UAEs (generated by the round-1 augmented model); needs the pipeline\'s rounds: 2',
    requires: [{ field: 'rounds', value: 2 }],
  },
} satisfies Record<string, PaperRow>;

export type PaperRowKey = keyof typeof PAPER_ROWS;
export const PAPER_ROW_KEYS = Object.keys(PAPER_ROWS) as [PaperRowKey, ...PaperRowKey[]];

export function paperRow(key: string): PaperRow | undefined {
  return (PAPER_ROWS as Record<string, PaperRow>)[key];
}

/** Whether a lower value of `metric` is better (for the paper's own direction MINE vs a control). */
export function lowerIsBetter(metric: PaperMetric): boolean | undefined {
  if (metric === 'test_recon_error' || metric === 'fid' || metric === 'kid') return true;
  if (metric === 'accuracy_extratrees') return false;
  return undefined;
}
