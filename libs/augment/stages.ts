/**
 * The augmentation study (ALGORITHMS.md §5) as separate, transport-free
 * stages, so the in-process pipeline (`runAugmentation`) and the distributed
 * one (services/orchestrator: training and evaluation over gRPC, attacks as
 * shards on the work queue) compute exactly the same things:
 *
 *   train original → evaluate original →
 *   for each method: generate → retrain (original ∪ generated) → evaluate
 *
 * Every function here is deterministic under the pipeline's seed; none of them
 * knows about gRPC, NATS or where a model lives.
 */
import { tf } from '../tensor/index.js';
import { createAutoencoder, trainAutoencoder, type Autoencoder, type AutoencoderKind, type CreateAutoencoderOptions, type EpochReport } from '../models/index.js';
import { attackConfig, gaussianAugment, type AttackConfig, type AttackConfigInput, type SampleResult } from '../attack/index.js';
import { attackSuccessRate, improvement, summarize, type Summary } from '../eval/index.js';
import type { Dataset } from '../data/index.js';

/** A dataset as a model of some kind sees it; `nativeShape` keeps the per-sample shape before flattening. */
export type ModelDataset = Dataset & { nativeShape?: number[] };

/**
 * Every model kind but conv-ae works on flat vectors: images are flattened
 * (row-major, nothing else changes) and their shape is kept in `nativeShape`
 * (image grids in the report). Shared by the CLI and the services.
 */
export function flattenFor(ds: Dataset, kind: string | undefined): ModelDataset {
  if (!kind || kind === 'conv-ae' || ds.inputShape.length <= 1) return ds;
  return { ...ds, inputShape: [sampleSize(ds.inputShape)], nativeShape: ds.inputShape };
}

export type AugmentationMethod = 'mine' | 'l2' | 'repeat' | 'none' | `ga-${number}`;
export type AttackMethod = 'mine' | 'l2';

export interface MethodMetrics {
  test_recon_error: number;
  improvement: number;
  /** Attack methods only. */
  asr?: number;
  /** Downstream test accuracy in [0, 1] (datasets with labels). */
  accuracy?: number;
  /** Generation time per training sample. */
  seconds_per_sample: number;
  /** `mine`: MI of the successful UAEs. */
  mi?: Summary;
}

export type StageKind = 'train' | 'generate' | 'retrain' | 'evaluate';

export interface PlannedStage {
  kind: StageKind;
  /** 'original' for the first model, else the arm. */
  method: 'original' | AugmentationMethod;
  /** Display name, e.g. "train original", "generate mine", "retrain mine", "evaluate mine". */
  name: string;
}

export function parseMethod(name: string): AugmentationMethod {
  if (name === 'mine' || name === 'l2' || name === 'repeat' || name === 'none') return name;
  const ga = /^ga-(\d*\.?\d+)$/.exec(name);
  if (ga) return `ga-${Number(ga[1])}`;
  throw new Error(`unknown method "${name}": use mine, l2, ga-<sigma> (e.g. ga-0.1), repeat or none`);
}

export function isAttackMethod(method: string): method is AttackMethod {
  return method === 'mine' || method === 'l2';
}

/** The stages of a study over `methods`, in order. */
export function planStages(methods: readonly AugmentationMethod[]): PlannedStage[] {
  const stages: PlannedStage[] = [
    { kind: 'train', method: 'original', name: 'train original' },
    { kind: 'evaluate', method: 'original', name: 'evaluate original' },
  ];
  for (const m of methods) {
    stages.push({ kind: 'generate', method: m, name: `generate ${m}` });
    stages.push({ kind: 'retrain', method: m, name: `retrain ${m}` });
    stages.push({ kind: 'evaluate', method: m, name: `evaluate ${m}` });
  }
  return stages;
}

/**
 * The similarity term for an attack on a model of `kind`: L2-UAE swaps it for
 * −‖δ‖²; MINE keeps the caller's MINE settings, else uses the conv sampler on
 * the model's first conv layer when it has one (conv-ae) and random
 * projections otherwise (§1).
 */
export function similarityForKind(
  method: AttackMethod | 'cosine',
  hasFirstConv: boolean,
  requested?: AttackConfigInput['similarity'],
): AttackConfigInput['similarity'] {
  if (method !== 'mine') return { kind: method };
  if (requested?.kind === 'mine') return requested;
  return { kind: 'mine', mine: { sampler: hasFirstConv ? 'conv' : 'random' } };
}

/** The fully resolved attack of an arm: traces on unless disabled, the arm's similarity, the study's seed. */
export function pipelineAttackConfig(method: AttackMethod, kind: AutoencoderKind, attack: AttackConfigInput, seed: number): AttackConfig {
  // Traces are a few numbers per iteration; the report plots them.
  return attackConfig({ trace: true, ...attack, similarity: similarityForKind(method, kind === 'conv-ae', attack.similarity), seed });
}

/** Per-sample size of a flattened sample of `inputShape`. */
export function sampleSize(inputShape: readonly number[]): number {
  return inputShape.reduce((a, b) => a * b, 1);
}

/**
 * What a non-attack arm adds to the originals: Gaussian noise (`ga-σ`), a
 * copy (`repeat`), nothing (`none`: undefined).
 */
export function baselineSamples(method: AugmentationMethod, trainX: Float32Array, d: number, seed: number): Float32Array | undefined {
  if (method.startsWith('ga-')) return gaussianAugment(trainX, d, Number(method.slice(3)), seed);
  if (method === 'repeat') return trainX.slice();
  if (method === 'none') return undefined;
  throw new Error(`baselineSamples: "${method}" is an attack method`);
}

/** An attack arm's generated set: x′ where the attack succeeded, the original where it failed (§5). */
export function mergeAttackResults(trainX: Float32Array, d: number, results: ReadonlyArray<Pick<SampleResult, 'success' | 'xAdv'>>): Float32Array {
  const n = trainX.length / d;
  if (results.length !== n) throw new Error(`${results.length} attack results for ${n} training samples`);
  const generated = new Float32Array(n * d);
  results.forEach((r, i) => generated.set(r.success ? r.xAdv : trainX.subarray(i * d, (i + 1) * d), i * d));
  return generated;
}

/** The retraining set: original ∪ generated (the originals alone for `none`). */
export function augmentedTrainSet(trainX: Float32Array, generated: Float32Array | undefined): Float32Array {
  if (!generated) return trainX;
  const out = new Float32Array(trainX.length + generated.length);
  out.set(trainX, 0);
  out.set(generated, trainX.length);
  return out;
}

/** ASR and (MINE) the MI summary of the successful samples. */
export function attackSummary(method: AttackMethod, results: readonly SampleResult[]): { asr: number; mi?: Summary } {
  return {
    asr: attackSuccessRate(results),
    ...(method === 'mine' ? { mi: summarize(results.filter((r) => r.success).map((r) => r.similarity)) } : {}),
  };
}

/** One arm's metrics (metrics.json's entry), from the evaluated numbers. */
export function methodMetrics(
  base: number,
  testReconError: number,
  evaluated: { accuracy?: number },
  secondsPerSample: number,
  attack?: { asr: number; mi?: Summary },
): MethodMetrics {
  return {
    test_recon_error: testReconError,
    improvement: improvement(base, testReconError),
    ...('accuracy' in evaluated && evaluated.accuracy !== undefined ? { accuracy: evaluated.accuracy } : {}),
    seconds_per_sample: secondsPerSample,
    ...(attack ? { asr: attack.asr } : {}),
    ...(attack && 'mi' in attack ? { mi: attack.mi } : {}),
  };
}

export interface TrainFreshOptions {
  kind: AutoencoderKind;
  inputShape: number[];
  /** n samples × inputShape, flattened. */
  data: Float32Array;
  epochs: number;
  batchSize: number;
  seed: number;
  modelOptions?: Omit<CreateAutoencoderOptions, 'seed'>;
  signal?: AbortSignal;
  onEpoch?: (e: EpochReport) => void;
}

/** A new model of the study's architecture, seeded with the study's seed, trained on `data`. */
export async function trainFresh(o: TrainFreshOptions): Promise<{ ae: Autoencoder; history: EpochReport[] }> {
  const ae = createAutoencoder(o.kind, o.inputShape, { ...o.modelOptions, seed: o.seed });
  const x = tf.tensor(o.data, [o.data.length / sampleSize(o.inputShape), ...o.inputShape]);
  try {
    const { history } = await trainAutoencoder(ae, x, { epochs: o.epochs, batchSize: o.batchSize, seed: o.seed, signal: o.signal, onEpoch: o.onEpoch });
    return { ae, history };
  } catch (e) {
    ae.dispose();
    throw e;
  } finally {
    x.dispose();
  }
}
