/**
 * UAE data augmentation (the paper's Sections 3.5 and 4.1), one seed: train → generate an
 * adversarial example for every training sample → replicate failures (keeps
 * the data balanced) → retrain from scratch, same architecture, on
 * original ∪ UAEs → evaluate on the untouched test set. Baselines and
 * controls in the same run: L2-UAE, cosine, Gaussian augmentation, flip and
 * rotation (Table 5), `repeat` (original ∪ original: the same retraining with
 * no new samples), `none` (retrained on the originals alone, same schedule)
 * and `init-noise` (the MINE arm's initial δ0 kept under its success mask), so
 * that a gain can be credited to the UAEs rather than to training or to noise.
 *
 * The protocol options make the answer trustworthy (docs/study.md): a seeded
 * validation split with early stopping trains the original to a plateau; the
 * retraining schedule is explicit; the concrete AE runs Balın's convergence
 * loop; the paper's post-hoc ExtraTrees probe sits beside the MLP probe.
 * `runStudy` (study.ts) repeats this over seeds and compares the arms.
 * Several rounds (SuppMat 6.15, `rounds`): each arm chains — round r attacks
 * its round r − 1 retrained model and retrains on original ∪ its rounds 1..r.
 */
import { backendInfo } from '../tensor/index.js';
import { Rng, STREAM } from '../tensor/rng.js';
import type { Autoencoder, AutoencoderKind, CreateAutoencoderOptions, EpochReport } from '../models/index.js';
import { initialPerturbation, type AttackConfig, type AttackConfigInput, type AttackProgress, type SampleResult } from '../attack/index.js';
import { generateUaes } from './generate.js';
import { downstreamAccuracy, encodeAll, extraTreesAccuracy, reconstructionError, type DownstreamOptions } from '../eval/index.js';
import { subsetSplit, type Dataset, type DatasetSplit } from '../data/index.js';
import {
  armSpec,
  attackSummary,
  augmentedTrainSet,
  baselineSamples,
  initNoiseSamples,
  isAttackMethod,
  mergeAttackResults,
  methodMetrics,
  pipelineAttackConfig,
  roundLabel,
  roundSeed,
  sampleSize,
  trainFresh as trainStage,
  type AugmentationMethod,
  type MethodMetrics,
  type TrainedModel,
} from './stages.js';
import { sampleDiagnostics, summarizeDiagnostics, type SampleDiagnostics } from './diagnostics.js';
import { scoreGeneratedSets, type SetScoring } from './fid.js';

export { parseMethod, type AugmentationMethod, type MethodMetrics } from './stages.js';

/**
 * How the retrained models are trained (SuppMat Table 10 trains them longer):
 *   longer       `retrainEpochs` epochs (the library default; the paper's practice)
 *   same-epochs  as many epochs as the original ran (2N samples: twice its steps)
 *   same-steps   as many optimiser steps as the original took
 *   plateau      early stopping on the validation split, at most `retrainEpochs` epochs
 */
export type RetrainSchedule = 'longer' | 'same-epochs' | 'same-steps' | 'plateau';
export const RETRAIN_SCHEDULES: readonly RetrainSchedule[] = ['longer', 'same-epochs', 'same-steps', 'plateau'];

/** mlp: a small MLP on a subset (fast); extratrees: the paper's probe (Balın et al.) on the full training split; both. */
export type ProbeKind = 'mlp' | 'extratrees' | 'both';

export interface ValidationConfig {
  /** Fraction in (0, 1) of the training samples held out (never attacked, never trained on). */
  fraction: number;
  /** Early stopping: epochs without a validation-loss improvement before the original stops. */
  patience: number;
  minDelta?: number;
  /**
   * End every early-stopped training (the original, plateau retraining) with
   * the weights of its best validation epoch, not its last (Keras'
   * restore_best_weights). Default false: the last epoch's weights.
   */
  restoreBest?: boolean;
  /** Seed of the split (default: the study's seed; a multi-seed study fixes it to its first seed). */
  seed?: number;
}

export interface AugmentationConfig {
  model: AutoencoderKind;
  methods: AugmentationMethod[];
  /** Training of the original model (with validation: the cap on its epochs). */
  epochs: number;
  /** Retraining epochs for the `longer` schedule (and the cap of `plateau`). */
  retrainEpochs: number;
  batchSize: number;
  seed: number;
  /** MinMax settings for the attack arms (similarity, update rule and α can be set per arm). */
  attack: AttackConfigInput;
  /** Worker threads for the attacks (default: the backend's preference). */
  workers?: number;
  /** Architecture options (hidden width, concrete k, …); the same for the original and every retrained model. */
  modelOptions?: Omit<CreateAutoencoderOptions, 'seed'>;
  /**
   * Downstream-accuracy probes, run when the dataset has labels: the MLP's
   * options. `false` skips every probe.
   */
  classifier?: DownstreamOptions | false;
  /** Which probes (default mlp). */
  probe?: ProbeKind;
  /** The ExtraTrees probe's training rows: a seeded subset of the full training split (default: all of it). */
  probeTrainSamples?: number;
  /** A validation split and early stopping for the original (default: none, fixed epochs). */
  validation?: ValidationConfig;
  /** Default `longer`. */
  retrainSchedule?: RetrainSchedule;
  /** concrete-ae: Balın's loop (double the epochs until the selection converges). Default off. */
  convergence?: { threshold: number; maxEpochs: number };
  /** Native sample shape for the image arms (flip, rotate-…); default the dataset's. */
  imageShape?: number[];
  /** FID and KID of every generated set against the samples trained on, on this feature network (fid.ts). Default off. */
  fid?: SetScoring;
  /**
   * Rounds of augmentation (SuppMat 6.15; default 1). Round r of an arm
   * attacks (or augments for) that arm's round r − 1 retrained model (round
   * 1: the original) and retrains from scratch on original ∪ the arm's
   * generated sets of rounds 1..r; rounds after the first draw with roundSeed.
   */
  rounds?: number;
}

/** The resolved protocol, recorded with the metrics. */
export interface ProtocolRecord {
  /** The validation split as run (metrics.json is snake_case throughout: min_delta is ValidationConfig.minDelta). */
  validation: { fraction: number; patience: number; min_delta?: number; restore_best?: boolean; seed: number; samples: number } | null;
  retrain_schedule: RetrainSchedule;
  convergence: { threshold: number; max_epochs: number } | null;
  probes: Array<'mlp' | 'extratrees'>;
  probe_train_samples?: number;
}

export interface OriginalMetrics {
  test_recon_error: number;
  accuracy?: number;
  accuracy_extratrees?: number;
  train_steps?: number;
  train_epochs?: number;
  selection_convergence?: number;
  selected_features?: number[];
}

export interface GeneratedSet {
  /** N × d: the generated samples, failures replaced by originals (what the retraining used). */
  x: Float32Array;
  results?: SampleResult[];
  /** Attack arms: per-sample diagnostics. */
  diagnostics?: SampleDiagnostics[];
}

/** One round of a multi-round study: every arm's metrics (and 'original', the same in every round), its generated sets and retraining histories. */
export interface RoundReport {
  round: number;
  methods: { original: OriginalMetrics } & Partial<Record<AugmentationMethod, MethodMetrics>>;
  generated: Partial<Record<AugmentationMethod, GeneratedSet>>;
  history: Record<string, EpochReport[]>;
}

export interface AugmentationReport {
  dataset: string;
  model: AutoencoderKind;
  backend: string;
  seed: number;
  /** Samples trained on and attacked (the training split less the validation split). */
  train_samples: number;
  validation_samples: number;
  test_samples: number;
  protocol: ProtocolRecord;
  /** With several rounds: the last round's. */
  methods: { original: OriginalMetrics } & Partial<Record<AugmentationMethod, MethodMetrics>>;
  /** Several rounds (AugmentationConfig.rounds > 1) only: every round, in order; the top-level methods, generated and history are the last's. */
  rounds?: RoundReport[];
  /** Per arm with data: the generated samples and (attacks) results and diagnostics. */
  generated: Partial<Record<AugmentationMethod, GeneratedSet>>;
  history: Record<string, EpochReport[]>;
  /** The samples trained on and attacked, N × d (rows of `generated`), and their rows in the dataset's train split. */
  trainX: Float32Array;
  trainIndex: Int32Array;
}

export interface AugmentationHooks {
  signal?: AbortSignal;
  onStage?: (stage: string) => void;
  onEpoch?: (stage: string, e: EpochReport) => void;
  onAttackProgress?: (method: AugmentationMethod, p: AttackProgress) => void;
  /** Every trained model ('original' or the method it was retrained for, and the round), before it is disposed (e.g. to save it). */
  onModel?: (name: 'original' | AugmentationMethod, ae: Autoencoder, round?: number) => Promise<void> | void;
  /** Attack arms: the model a round attacks (round 1: the original; round r: the arm's round r − 1 retrained model), before the attack. */
  onAttackModel?: (method: AugmentationMethod, ae: Autoencoder, round: number) => Promise<void> | void;
  /** Attack arms: the samples as they finish (e.g. to keep them when the run is interrupted). */
  onAttackSamples?: (method: AugmentationMethod, finished: SampleResult[]) => void;
  /**
   * Resume: an attack arm's samples that an interrupted run finished, under
   * the arm's resolved config. They are kept and only the others attacked;
   * a sample's result depends only on (seed, sample id), so the arm's results
   * are those of an uninterrupted run.
   */
  finishedSamples?: (method: AugmentationMethod, config: AttackConfig, round: number) => Promise<SampleResult[] | undefined> | SampleResult[] | undefined;
}

/** Training yields to the event loop this often when a signal can stop it, so an abort is noticed between batches. */
const ABORTABLE_YIELD_MS = 100;

/**
 * An arm's results: the `earlier` ones (resume) and a fresh attack of the
 * other rows of `x` (sample ids = rows), in row order.
 */
async function attackRemaining(
  earlier: readonly SampleResult[],
  attack: (rows: Float32Array, sampleIds: number[]) => Promise<SampleResult[]>,
  x: Float32Array,
  d: number,
): Promise<SampleResult[]> {
  const n = x.length / d;
  const byId = new Map<number, SampleResult>();
  for (const r of earlier) {
    if (!Number.isInteger(r.sampleId) || r.sampleId < 0 || r.sampleId >= n) throw new Error(`resume: kept sample id ${r.sampleId} is not a row of the ${n} attacked samples`);
    if (byId.has(r.sampleId)) throw new Error(`resume: kept sample id ${r.sampleId} appears twice`);
    if (r.xAdv.length !== d) throw new Error(`resume: kept sample ${r.sampleId} has ${r.xAdv.length} values, not ${d}`);
    byId.set(r.sampleId, r);
  }
  const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !byId.has(i));
  if (rest.length > 0) {
    const rows = new Float32Array(rest.length * d);
    rest.forEach((row, k) => rows.set(x.subarray(row * d, (row + 1) * d), k * d));
    for (const r of await attack(rows, rest)) byId.set(r.sampleId, r);
  }
  return Array.from({ length: n }, (_, i) => byId.get(i)!);
}

/** How many of n training samples a validation fraction holds out (at least one). */
export function validationCount(n: number, fraction: number): number {
  return Math.max(1, Math.round(n * fraction));
}

/** Splits the training samples into the ones trained on and a seeded validation set. */
export function carveValidation(train: DatasetSplit, d: number, fraction: number | undefined, seed: number): { fit: DatasetSplit; fitIndex: Int32Array; validation?: Float32Array } {
  const all = Int32Array.from({ length: train.n }, (_, i) => i);
  if (fraction === undefined) return { fit: train, fitIndex: all };
  if (!(fraction > 0 && fraction < 1)) throw new Error(`validation fraction must be in (0, 1); got ${fraction}`);
  const nVal = validationCount(train.n, fraction);
  if (nVal >= train.n) throw new Error(`a validation fraction of ${fraction} leaves no training samples of ${train.n}`);
  const order = new Rng(seed, STREAM.validation, 0).permutation(train.n);
  const valIdx = Array.from(order.subarray(0, nVal)).sort((a, b) => a - b);
  const isVal = new Uint8Array(train.n);
  for (const i of valIdx) isVal[i] = 1;
  const fitIndex = all.filter((i) => !isVal[i]);
  const take = (idx: ArrayLike<number>) => {
    const out = new Float32Array(idx.length * d);
    for (let k = 0; k < idx.length; k++) out.set(train.x.subarray(idx[k]! * d, (idx[k]! + 1) * d), k * d);
    return out;
  };
  return {
    fit: { x: take(fitIndex), n: fitIndex.length, ...(train.labels ? { labels: Int32Array.from(fitIndex, (i) => train.labels![i]!) } : {}) },
    fitIndex,
    validation: take(valIdx),
  };
}

export function resolveProtocol(cfg: AugmentationConfig, validationSamples: number): ProtocolRecord {
  const probe = cfg.probe ?? 'mlp';
  const schedule = cfg.retrainSchedule ?? 'longer';
  if (!RETRAIN_SCHEDULES.includes(schedule)) throw new Error(`retrain schedule must be one of ${RETRAIN_SCHEDULES.join(', ')}; got "${schedule}"`);
  if (schedule === 'plateau' && !cfg.validation) throw new Error('the plateau retraining schedule needs a validation split');
  return {
    validation: cfg.validation
      ? {
          fraction: cfg.validation.fraction,
          patience: cfg.validation.patience,
          ...(cfg.validation.minDelta !== undefined ? { min_delta: cfg.validation.minDelta } : {}),
          ...(cfg.validation.restoreBest ? { restore_best: true } : {}),
          seed: cfg.validation.seed ?? cfg.seed,
          samples: validationSamples,
        }
      : null,
    retrain_schedule: schedule,
    convergence: cfg.convergence && cfg.model === 'concrete-ae' ? { threshold: cfg.convergence.threshold, max_epochs: cfg.convergence.maxEpochs } : null,
    probes: cfg.classifier === false ? [] : probe === 'both' ? ['mlp', 'extratrees'] : [probe],
    ...(cfg.probeTrainSamples !== undefined ? { probe_train_samples: cfg.probeTrainSamples } : {}),
  };
}

/** The ExtraTrees probe's training rows: the full training split, or a seeded subset of it. */
export function probeTrainSplit(ds: Pick<Dataset, 'train' | 'fullTrain' | 'inputShape'>, cap: number | undefined, seed: number): DatasetSplit {
  return subsetSplit(ds.fullTrain ?? ds.train, sampleSize(ds.inputShape), cap, seed, 3);
}

/**
 * How an arm is retrained on `trainN` samples under `schedule`, given what the
 * original's training took (its epochs run and optimiser steps).
 */
export function retrainPlan(
  cfg: Pick<AugmentationConfig, 'retrainEpochs' | 'batchSize' | 'validation'>,
  schedule: RetrainSchedule,
  original: { epochs: number; steps: number },
  trainN: number,
): { epochs: number; patience?: number; maxSteps?: number } {
  switch (schedule) {
    case 'same-epochs':
      return { epochs: original.epochs };
    case 'same-steps':
      return { epochs: Math.ceil(original.steps / Math.ceil(trainN / cfg.batchSize)), maxSteps: original.steps };
    case 'plateau':
      if (!cfg.validation) throw new Error('the plateau retraining schedule needs a validation split');
      return { epochs: cfg.retrainEpochs, patience: cfg.validation.patience };
    case 'longer':
      return { epochs: cfg.retrainEpochs };
  }
}

/** Optimiser steps of a training run that ran `epochs` epochs (the last maybe cut by `maxSteps`) over `n` samples. */
export function stepsTaken(epochs: number, n: number, batchSize: number, maxSteps?: number): number {
  return Math.min(epochs * Math.ceil(n / batchSize), maxSteps ?? Infinity);
}

export async function runAugmentation(ds: Dataset, cfg: AugmentationConfig, hooks: AugmentationHooks = {}): Promise<AugmentationReport> {
  if (cfg.methods.length === 0) throw new Error('no augmentation methods given');
  const rounds = cfg.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be an integer ≥ 1; got ${rounds}`);
  const d = sampleSize(ds.inputShape);
  const imageShape = cfg.imageShape ?? (ds as { nativeShape?: number[] }).nativeShape ?? ds.inputShape;
  for (const m of cfg.methods) {
    // Fail before any training on an arm that cannot run on these data.
    if (m === 'init-noise' && !cfg.methods.slice(0, cfg.methods.indexOf(m)).includes('mine')) throw new Error('"init-noise" needs the "mine" arm before it');
    const a = armSpec(m);
    if ((a.kind === 'flip' || a.kind === 'rotate') && imageShape.length < 2) throw new Error(`the "${m}" arm needs image data; this dataset's samples are [${imageShape.join(', ')}]`);
  }
  const split = carveValidation(ds.train, d, cfg.validation?.fraction, cfg.validation?.seed ?? cfg.seed);
  const fit = split.fit;
  const n = fit.n;
  const protocol = resolveProtocol(cfg, split.validation ? split.validation.length / d : 0);
  const schedule = protocol.retrain_schedule;

  const train = (data: Float32Array, stage: string, o: { epochs: number; patience?: number; maxSteps?: number }) =>
    trainStage({
      kind: cfg.model,
      inputShape: ds.inputShape,
      data,
      epochs: o.epochs,
      batchSize: cfg.batchSize,
      seed: cfg.seed,
      modelOptions: cfg.modelOptions,
      ...(split.validation ? { validation: split.validation } : {}),
      ...(o.patience !== undefined
        ? {
            patience: o.patience,
            ...(cfg.validation?.minDelta !== undefined ? { minDelta: cfg.validation.minDelta } : {}),
            ...(cfg.validation?.restoreBest ? { restoreBest: true } : {}),
          }
        : {}),
      ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
      ...(cfg.convergence ? { convergence: cfg.convergence } : {}),
      signal: hooks.signal,
      ...(hooks.signal ? { yieldMs: ABORTABLE_YIELD_MS } : {}),
      onEpoch: (e) => hooks.onEpoch?.(stage, e),
      onRestart: (epochs, reached) => hooks.onStage?.(`${stage}: selection at ${reached.toFixed(3)}, retraining with ${epochs} epochs`),
    });

  hooks.onStage?.('train original');
  const original = await train(fit.x, 'original', { epochs: cfg.epochs, ...(cfg.validation ? { patience: cfg.validation.patience } : {}) });
  const { test } = ds;
  const mlpProbe = protocol.probes.includes('mlp') && fit.labels && ds.train.labels && test.labels;
  const treeProbe = protocol.probes.includes('extratrees') && test.labels;
  const probeTrain = treeProbe ? probeTrainSplit(ds, cfg.probeTrainSamples, cfg.seed) : undefined;
  if (treeProbe && !probeTrain?.labels) throw new Error('the ExtraTrees probe needs labels in the training split');
  const probesOf = async (ae: Autoencoder): Promise<{ accuracy?: number; accuracy_extratrees?: number }> => {
    const out: { accuracy?: number; accuracy_extratrees?: number } = {};
    if (mlpProbe) {
      hooks.onStage?.('downstream accuracy');
      out.accuracy = await downstreamAccuracy(ae, { x: ds.train.x, labels: ds.train.labels! }, { x: test.x, labels: test.labels! }, downstreamOptions(cfg));
    }
    if (treeProbe && probeTrain) {
      hooks.onStage?.('downstream accuracy (ExtraTrees probe)');
      out.accuracy_extratrees = await extraTreesProbe(ae, probeTrain, { x: test.x, labels: test.labels! }, cfg.seed);
    }
    return out;
  };
  const trainingRecord = async (t: TrainedModel) => ({
    train_steps: t.steps,
    train_epochs: t.epochs,
    ...(t.selectionConvergence !== undefined ? { selection_convergence: t.selectionConvergence } : {}),
    ...(t.ae.selectedFeatures ? { selected_features: await t.ae.selectedFeatures() } : {}),
  });

  const report: AugmentationReport = {
    dataset: ds.name,
    model: cfg.model,
    backend: backendInfo().name,
    seed: cfg.seed,
    train_samples: n,
    validation_samples: protocol.validation?.samples ?? 0,
    test_samples: ds.test.n,
    protocol,
    // 'original' has fewer fields than an arm; the intersection type cannot be built from a literal.
    methods: { original: { test_recon_error: NaN } } as AugmentationReport['methods'],
    generated: {},
    history: { original: original.history },
    trainX: fit.x,
    trainIndex: split.fitIndex,
  };
  try {
    report.methods.original = {
      test_recon_error: await reconstructionError(original.ae, ds.test.x, ds.inputShape),
      ...(await probesOf(original.ae)),
      ...(await trainingRecord(original)),
    };
    await hooks.onModel?.('original', original.ae);
    const base = report.methods.original.test_recon_error;
    const roundRecords: RoundReport[] = Array.from({ length: rounds }, (_, i) => ({ round: i + 1, methods: { original: report.methods.original } as AugmentationReport['methods'], generated: {}, history: {} }));
    if (rounds > 1) report.rounds = roundRecords;
    // Per round, the MINE arm's δ0 and success mask, for init-noise.
    const mineStarts: Array<{ delta0: Float32Array; success: Uint8Array } | undefined> = [];
    for (const method of cfg.methods) {
      // The arm's chain: its generated sets of the rounds so far, and the model round r attacks (round r − 1's retrained one).
      const chain: Array<Float32Array | undefined> = [];
      let previous: TrainedModel | undefined;
      try {
        for (let round = 1; round <= rounds; round++) {
          hooks.signal?.throwIfAborted();
          const label = roundLabel(round, rounds);
          const seed = roundSeed(cfg.seed, round);
          const target = previous?.ae ?? original.ae;
          hooks.onStage?.(`${label}generate ${method}`);
          const started = performance.now();
          let generated: Float32Array | undefined;
          let results: SampleResult[] | undefined;
          let diagnostics: SampleDiagnostics[] | undefined;
          if (isAttackMethod(method)) {
            const config = pipelineAttackConfig(method, cfg.model, cfg.attack, seed);
            await hooks.onAttackModel?.(method, target, round);
            const earlier = (await hooks.finishedSamples?.(method, config, round)) ?? [];
            results = await attackRemaining(
              earlier,
              (rows, sampleIds) =>
                generateUaes(target, { data: rows, inputShape: ds.inputShape, sampleIds }, config, {
                  workers: cfg.workers,
                  signal: hooks.signal,
                  onProgress: (p, finished) => {
                    if (finished.length > 0) hooks.onAttackSamples?.(method, finished);
                    hooks.onAttackProgress?.(method, p);
                  },
                }),
              fit.x,
              d,
            );
            const delta0 = initialPerturbation(config, ds.inputShape, fit.x, results.map((r) => r.sampleId));
            diagnostics = sampleDiagnostics(fit.x, delta0, results);
            if (method === 'mine') mineStarts[round] = { delta0, success: Uint8Array.from(results, (r) => (r.success ? 1 : 0)) };
            // Failures are replaced by their originals (the paper's Section 4.1).
            generated = mergeAttackResults(fit.x, d, results);
          } else if (method === 'init-noise') {
            const mineStart = mineStarts[round];
            if (!mineStart) throw new Error('"init-noise" needs the "mine" arm before it');
            generated = initNoiseSamples(fit.x, mineStart.delta0, mineStart.success);
          } else {
            generated = baselineSamples(method, fit.x, d, seed, imageShape);
          }
          const secondsPerSample = (performance.now() - started) / 1000 / n;
          chain.push(generated);
          // Retrained from scratch on original ∪ this arm's generated sets of rounds 1..round (SuppMat 6.15).
          const trainSet = augmentedTrainSet(fit.x, chain);
          const trainN = trainSet.length / d;
          hooks.onStage?.(`${label}retrain ${method}`);
          const retrained = await train(trainSet, method, retrainPlan(cfg, schedule, original, trainN));
          try {
            const err = await reconstructionError(retrained.ae, ds.test.x, ds.inputShape);
            await hooks.onModel?.(method, retrained.ae, round);
            const evaluated = await probesOf(retrained.ae);
            const metrics: MethodMetrics = {
              ...methodMetrics(base, err, evaluated, secondsPerSample, results && isAttackMethod(method) ? attackSummary(method, results) : undefined),
              ...(evaluated.accuracy_extratrees !== undefined ? { accuracy_extratrees: evaluated.accuracy_extratrees } : {}),
              ...(await trainingRecord(retrained)),
              ...(diagnostics ? { diagnostics: summarizeDiagnostics(diagnostics) } : {}),
            };
            const record = roundRecords[round - 1]!;
            record.methods[method] = metrics;
            record.history[method] = retrained.history;
            if (generated && method !== 'repeat') record.generated[method] = { x: generated, ...(results ? { results } : {}), ...(diagnostics ? { diagnostics } : {}) };
          } catch (e) {
            retrained.ae.dispose();
            throw e;
          }
          previous?.ae.dispose();
          previous = retrained;
        }
      } finally {
        previous?.ae.dispose();
      }
      // The top level is the last round (with one round: the study as it always was).
      const last = roundRecords[rounds - 1]!;
      report.methods[method] = last.methods[method]!;
      report.history[method] = last.history[method]!;
      if (last.generated[method]) report.generated[method] = last.generated[method];
    }
  } finally {
    original.ae.dispose();
  }
  if (cfg.fid) {
    hooks.onStage?.('FID and KID of the generated sets');
    await scoreGeneratedSets(report, cfg.fid);
  }
  return report;
}

/**
 * The paper's post-hoc probe (Balın et al.; the paper's Section 4.5): ExtraTrees with
 * 50 trees fitted on the features of the (full) training split — the latent
 * code, which for the concrete AE is its k selected features — scored on the test split.
 */
export async function extraTreesProbe(ae: Autoencoder, train: DatasetSplit, test: { x: Float32Array; labels: Int32Array }, seed: number): Promise<number> {
  const codesTrain = encodeAll(ae, train.x);
  const codesTest = encodeAll(ae, test.x);
  try {
    const m = codesTrain.shape[1];
    const [tr, te] = await Promise.all([codesTrain.data(), codesTest.data()]);
    return extraTreesAccuracy({ x: tr as Float32Array, labels: train.labels! }, { x: te as Float32Array, labels: test.labels }, m, { nTrees: 50, seed });
  } finally {
    codesTrain.dispose();
    codesTest.dispose();
  }
}

/** The downstream probe's options for a study: the study's seed unless the probe sets its own. */
export function downstreamOptions(cfg: Pick<AugmentationConfig, 'seed' | 'classifier'>): DownstreamOptions {
  return { seed: cfg.seed, ...(cfg.classifier || {}) };
}
