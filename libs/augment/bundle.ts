/**
 * The self-describing outputs of one method (docs/file-formats.md): the
 * arrays of its .npz bundle, every one with a row per sample, so that a user
 * can match each generated x′ to its clean input, label and source row
 * without our RNG:
 *
 *   x        clean samples [n, ...sample shape], float32
 *   x_adv    generated samples (attacks: the x′ Algorithm 1 returns, for a
 *            failed sample the iterate closest to success), float32
 *   y        labels, int64 (when the dataset has them)
 *   index    each sample's row in the source dataset, int64
 *   linf     ‖x_adv − x‖∞, l2: ‖x_adv − x‖₂, float32
 * attack arms also
 *   success     bool: Algorithm 1 found an iterate with f(x′) ≤ 0 (libs/attack/criteria.ts)
 *   similarity  of the returned x′, float32: MI in nats (mine), −‖δ‖² (l2),
 *               cos (cosine); NaN where it was never measured
 *   mi          the same values, for MINE arms only
 */
import { sourceRows, type DatasetSplit, type NpzEntry } from '../data/index.js';
import type { SampleResult } from '../attack/index.js';
import type { AugmentationReport } from './pipeline.js';
import { armSpec, type AugmentationMethod } from './stages.js';

export interface BundleInput {
  /** Clean samples, n × d, row-major. */
  x: Float32Array;
  /** Generated samples, n × d. */
  xAdv: Float32Array;
  /** One sample's shape (its product is d). */
  sampleShape: readonly number[];
  /** Row of each sample in the source dataset. */
  index: ArrayLike<number>;
  labels?: ArrayLike<number>;
  /** Attack arms: per-sample results in the rows' order, and the similarity they measured. */
  attack?: { results: ReadonlyArray<Pick<SampleResult, 'success' | 'similarity'>>; similarity: 'mine' | 'l2' | 'cosine' };
}

/** The bundle's arrays, by name, for encodeNpz. */
export function sampleBundle(b: BundleInput): Record<string, NpzEntry> {
  const d = b.sampleShape.reduce((p, q) => p * q, 1);
  const n = b.index.length;
  const check = (what: string, length: number, expected: number) => {
    if (length !== expected) throw new Error(`bundle: ${what} has ${length} values; ${n} samples of [${b.sampleShape.join(', ')}] need ${expected}`);
  };
  check('x', b.x.length, n * d);
  check('x_adv', b.xAdv.length, n * d);
  if (b.labels) check('y', b.labels.length, n);
  if (b.attack) check('the attack results', b.attack.results.length, n);
  const linf = new Float32Array(n);
  const l2 = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let max = 0;
    let sum = 0;
    for (let j = i * d; j < (i + 1) * d; j++) {
      const delta = b.xAdv[j]! - b.x[j]!;
      max = Math.max(max, Math.abs(delta));
      sum += delta * delta;
    }
    linf[i] = max;
    l2[i] = Math.sqrt(sum);
  }
  const rows = [n, ...b.sampleShape];
  const int64 = (v: ArrayLike<number>) => BigInt64Array.from(Array.from(v, (k) => BigInt(k)));
  const out: Record<string, NpzEntry> = {
    x: { shape: rows, data: b.x },
    x_adv: { shape: rows, data: b.xAdv },
    ...(b.labels ? { y: { shape: [n], data: int64(b.labels) } } : {}),
    index: { shape: [n], data: int64(b.index) },
    linf: { shape: [n], data: linf },
    l2: { shape: [n], data: l2 },
  };
  if (b.attack) {
    const similarity = Float32Array.from(b.attack.results, (r) => r.similarity);
    out.success = { shape: [n], data: Uint8Array.from(b.attack.results, (r) => (r.success ? 1 : 0)), dtype: 'bool' };
    out.similarity = { shape: [n], data: similarity };
    if (b.attack.similarity === 'mine') out.mi = { shape: [n], data: similarity };
  }
  return out;
}

/**
 * The bundle of one arm of a pipeline report: its rows are the samples
 * trained on and attacked (`report.trainIndex` into `train`, the dataset's
 * training split the report was run on). undefined for an arm without samples.
 */
/** The attack's x′ of each result, one row after another ([results.length × d]), in the results' order. */
export function stackAdversarial(results: readonly SampleResult[], d: number): Float32Array {
  const xAdv = new Float32Array(results.length * d);
  results.forEach((r, i) => xAdv.set(r.xAdv, i * d));
  return xAdv;
}

export function methodBundle(report: AugmentationReport, method: AugmentationMethod, train: DatasetSplit, sampleShape: readonly number[]): Record<string, NpzEntry> | undefined {
  const g = report.generated[method];
  if (!g) return undefined;
  const d = sampleShape.reduce((p, q) => p * q, 1);
  const rows = sourceRows(train);
  const spec = armSpec(method);
  const xAdv = g.results ? stackAdversarial(g.results, d) : g.x;
  return sampleBundle({
    x: report.trainX,
    xAdv,
    sampleShape,
    index: Array.from(report.trainIndex, (k) => rows[k]!),
    ...(train.labels ? { labels: Array.from(report.trainIndex, (k) => train.labels![k]!) } : {}),
    ...(g.results && spec.kind === 'attack' ? { attack: { results: g.results, similarity: spec.base } } : {}),
  });
}
