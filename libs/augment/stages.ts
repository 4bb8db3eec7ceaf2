/**
 * The augmentation study (the paper's Sections 3.5 and 4.1) as separate, transport-free
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
import { Rng, STREAM } from '../tensor/rng.js';
import { createAutoencoder, trainAutoencoder, type Autoencoder, type AutoencoderKind, type ClassifierKind, type CreateAutoencoderOptions, type EpochReport } from '../models/index.js';
import { attackConfig, gaussianAugment, type AttackConfig, type AttackConfigInput, type SampleResult } from '../attack/index.js';
import { attackSuccessRate, improvement, summarize, type Summary } from '../eval/index.js';
import { horizontalFlip, randomRotation } from './conventional.js';
import type { DiagnosticsSummary } from './diagnostics.js';
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

/**
 * An arm's name, as `parseMethod` accepts and canonicalises it:
 *   attacks   mine | l2 | cosine, optionally -sign / -adam (the δ update rule)
 *             and @α (its step size), e.g. mine-adam@0.05
 *   controls  repeat | none | init-noise (the MINE arm's δ0 under its success mask)
 *             ga-<σ> (alias noise-<σ>) | flip | rotate-<degrees>
 */
export type AugmentationMethod = string;
/** An attack arm's name (see AugmentationMethod). */
export type AttackMethod = string;

export type ArmSpec =
  | { kind: 'attack'; base: 'mine' | 'l2' | 'cosine'; update?: 'gradient' | 'sign' | 'adam'; alpha?: number }
  | { kind: 'gaussian'; sigma: number }
  | { kind: 'repeat' }
  | { kind: 'none' }
  | { kind: 'init-noise' }
  | { kind: 'flip' }
  | { kind: 'rotate'; degrees: number };

export interface MethodMetrics {
  test_recon_error: number;
  improvement: number;
  /** Attack methods only. */
  asr?: number;
  /** Downstream test accuracy in [0, 1] of the MLP probe (datasets with labels). */
  accuracy?: number;
  /** Downstream test accuracy of the paper's post-hoc probe: ExtraTrees, 50 trees, on the full training split. */
  accuracy_extratrees?: number;
  /** Generation time per training sample. */
  seconds_per_sample: number;
  /** MINE arms: MI of the successful UAEs. */
  mi?: Summary;
  /** Optimiser steps and epochs the (re)training of this arm took. */
  train_steps?: number;
  train_epochs?: number;
  /** concrete-ae: mean over select nodes of the max softmax probability, and the selected feature indices. */
  selection_convergence?: number;
  selected_features?: number[];
  /** Attack arms: how far the UAEs moved from the attack's initial draw (libs/augment/diagnostics.ts). */
  diagnostics?: DiagnosticsSummary;
  /** Arms with a generated set, with FID on (fid.ts): FID and KID × 100 of the set against the samples trained on. */
  fid?: number;
  kid?: number;
}

const NUMBER = String.raw`(\d*\.?\d+(?:e-?\d+)?)`;
const ATTACK_RE = new RegExp(`^(mine|l2|cosine)(?:-(gradient|sign|adam))?(?:@${NUMBER})?$`);

/** The structure of an arm's name; throws on an unknown one. */
export function armSpec(name: string): ArmSpec {
  if (name === 'repeat' || name === 'none' || name === 'init-noise' || name === 'flip') return { kind: name };
  const attack = ATTACK_RE.exec(name);
  if (attack) {
    const alpha = attack[3] === undefined ? undefined : Number(attack[3]);
    if (alpha !== undefined && !(alpha > 0 && alpha <= 100)) throw new Error(`"${name}": the step size after @ must be in (0, 100]`);
    return {
      kind: 'attack',
      base: attack[1] as 'mine' | 'l2' | 'cosine',
      ...(attack[2] ? { update: attack[2] as 'gradient' | 'sign' | 'adam' } : {}),
      ...(alpha !== undefined ? { alpha } : {}),
    };
  }
  const ga = new RegExp(`^(?:ga|noise)-${NUMBER}$`).exec(name);
  if (ga) return { kind: 'gaussian', sigma: Number(ga[1]) };
  const rot = new RegExp(`^rotate-${NUMBER}$`).exec(name);
  if (rot) {
    const degrees = Number(rot[1]);
    if (!(degrees > 0 && degrees <= 180)) throw new Error(`"${name}": rotation must be in (0, 180] degrees`);
    return { kind: 'rotate', degrees };
  }
  throw new Error(
    `unknown method "${name}": use mine, l2, cosine (optionally -sign/-adam and @<step size>, e.g. mine-adam@0.05), init-noise, ga-<sigma> (or noise-<sigma>), flip, rotate-<degrees>, repeat or none`,
  );
}

/** The canonical name of an arm (e.g. noise-0.10 → ga-0.1, mine-adam@0.050 → mine-adam@0.05). */
export function parseMethod(name: string): AugmentationMethod {
  const a = armSpec(name);
  switch (a.kind) {
    case 'attack':
      return `${a.base}${a.update ? `-${a.update}` : ''}${a.alpha !== undefined ? `@${a.alpha}` : ''}`;
    case 'gaussian':
      return `ga-${a.sigma}`;
    case 'rotate':
      return `rotate-${a.degrees}`;
    default:
      return a.kind;
  }
}

/**
 * Checks a list of arms for a study: canonical names, no duplicates,
 * `init-noise` only after the plain `mine` arm whose δ0 and success mask it reuses.
 */
export function parseMethods(names: readonly string[]): AugmentationMethod[] {
  const out: AugmentationMethod[] = [];
  for (const raw of names) {
    const m = parseMethod(raw.trim());
    if (out.includes(m)) throw new Error(`method "${m}" is listed twice`);
    if (m === 'init-noise' && !out.includes('mine')) throw new Error('method "init-noise" needs the "mine" arm listed before it (it reuses that arm\'s δ0 and success mask)');
    out.push(m);
  }
  return out;
}

export type StageKind = 'train' | 'generate' | 'retrain' | 'evaluate';

export interface PlannedStage {
  kind: StageKind;
  /** 'original' for the first model, else the arm. */
  method: 'original' | AugmentationMethod;
  /** Display name, e.g. "train original", "generate mine", "retrain mine", "evaluate mine"; with several rounds "round 2 of 3: generate mine". */
  name: string;
  /** An arm's stages: its round (1-based; always 1 with one round). */
  round?: number;
}

/** The arm's structure, or undefined for a name that is no arm ('original', typos). */
function tryArmSpec(method: string): ArmSpec | undefined {
  try {
    return armSpec(method);
  } catch {
    return undefined;
  }
}

export function isAttackMethod(method: string): method is AttackMethod {
  return tryArmSpec(method)?.kind === 'attack';
}

/** An attack arm whose similarity is per-sample MINE (mine, mine-adam, mine@0.1, …). */
export function isMineMethod(method: string): boolean {
  const a = tryArmSpec(method);
  return a?.kind === 'attack' && a.base === 'mine';
}

/** The prefix of a stage of round `round` (runAugmentation's stage names): none with one round. */
export function roundLabel(round: number, rounds: number): string {
  return rounds > 1 ? `round ${round} of ${rounds}: ` : '';
}

/**
 * The stages of a study over `methods`, in order: per arm, every round's
 * generate → retrain → evaluate before the next arm (runAugmentation's
 * order, which `init-noise` needs: the `mine` arm's round r comes first).
 * Arm k's round r starts at index 2 + 3 · (k · rounds + r − 1).
 */
export function planStages(methods: readonly AugmentationMethod[], rounds = 1): PlannedStage[] {
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be an integer ≥ 1; got ${rounds}`);
  const stages: PlannedStage[] = [
    { kind: 'train', method: 'original', name: 'train original' },
    { kind: 'evaluate', method: 'original', name: 'evaluate original' },
  ];
  for (const m of methods) {
    for (let round = 1; round <= rounds; round++) {
      const label = roundLabel(round, rounds);
      stages.push({ kind: 'generate', method: m, name: `${label}generate ${m}`, round });
      stages.push({ kind: 'retrain', method: m, name: `${label}retrain ${m}`, round });
      stages.push({ kind: 'evaluate', method: m, name: `${label}evaluate ${m}`, round });
    }
  }
  return stages;
}

/**
 * The similarity term for an attack on a model of `kind`: L2-UAE swaps it for
 * −‖δ‖²; MINE keeps the caller's MINE settings, else uses the conv sampler on
 * the model's first conv layer when it has one (conv-ae, cnn-classifier) and random
 * projections otherwise (§1).
 */
export function similarityForKind(
  method: 'mine' | 'l2' | 'cosine',
  hasFirstConv: boolean,
  requested?: AttackConfigInput['similarity'],
): AttackConfigInput['similarity'] {
  if (method !== 'mine') return { kind: method };
  if (requested?.kind === 'mine') return requested;
  return { kind: 'mine', mine: { sampler: hasFirstConv ? 'conv' : 'random' } };
}

/**
 * The fully resolved attack of an arm: traces on unless disabled, the arm's
 * similarity, update rule and step size (from its name, else the study's), the study's seed.
 */
export function pipelineAttackConfig(method: AttackMethod, kind: AutoencoderKind | ClassifierKind, attack: AttackConfigInput, seed: number): AttackConfig {
  const a = armSpec(method);
  if (a.kind !== 'attack') throw new Error(`pipelineAttackConfig: "${method}" is not an attack arm`);
  // Traces are a few numbers per iteration; the report plots them.
  return attackConfig({
    trace: true,
    ...attack,
    ...(a.update ? { update: a.update } : {}),
    ...(a.alpha !== undefined ? { alpha: a.alpha } : {}),
    similarity: similarityForKind(a.base, kind === 'conv-ae' || kind === 'cnn-classifier', attack.similarity),
    seed,
  });
}

/** Per-sample size of a flattened sample of `inputShape`. */
export function sampleSize(inputShape: readonly number[]): number {
  return inputShape.reduce((a, b) => a * b, 1);
}

/**
 * What a non-attack arm adds to the originals: Gaussian noise (`ga-σ`), a
 * copy (`repeat`), nothing (`none`: undefined), flipped or rotated images
 * (`flip`, `rotate-<deg>`; `imageShape` is the native sample shape).
 * `init-noise` needs the MINE arm's results: initNoiseSamples.
 */
export function baselineSamples(
  method: AugmentationMethod,
  trainX: Float32Array,
  d: number,
  seed: number,
  imageShape?: readonly number[],
): Float32Array | undefined {
  const a = armSpec(method);
  switch (a.kind) {
    case 'gaussian':
      return gaussianAugment(trainX, d, a.sigma, seed);
    case 'repeat':
      return trainX.slice();
    case 'none':
      return undefined;
    case 'flip':
      return horizontalFlip(trainX, imageShape ?? [d]);
    case 'rotate':
      return randomRotation(trainX, imageShape ?? [d], a.degrees, seed);
    case 'init-noise':
      throw new Error('baselineSamples: "init-noise" is built from the MINE arm (initNoiseSamples)');
    case 'attack':
      throw new Error(`baselineSamples: "${method}" is an attack method`);
  }
}

/**
 * The `init-noise` control: clip(x + δ0) with exactly the δ0 the MINE arm
 * started from, where that arm succeeded; the original where it failed (as
 * for MINE). It isolates what the MinMax iterations add to the initial draw.
 */
export function initNoiseSamples(trainX: Float32Array, delta0: Float32Array, success: ArrayLike<boolean | number>): Float32Array {
  const n = success.length;
  if (delta0.length !== trainX.length || n === 0 || trainX.length % n !== 0) {
    throw new Error(`init-noise: ${trainX.length} values of x, ${delta0.length} of δ0, ${n} success flags`);
  }
  const d = trainX.length / n;
  const out = trainX.slice();
  for (let i = 0; i < n; i++) {
    if (!success[i]) continue;
    // δ0 is already projected (x + δ0 ∈ [0, 1]); the sum is computed in float32 as the attack does.
    for (let j = i * d; j < (i + 1) * d; j++) out[j] = Math.fround(trainX[j]! + delta0[j]!);
  }
  return out;
}

/** An attack arm's generated set: x′ where the attack succeeded, the original where it failed (§5). */
export function mergeAttackResults(trainX: Float32Array, d: number, results: ReadonlyArray<Pick<SampleResult, 'success' | 'xAdv'>>): Float32Array {
  const n = trainX.length / d;
  if (results.length !== n) throw new Error(`${results.length} attack results for ${n} training samples`);
  const generated = new Float32Array(n * d);
  results.forEach((r, i) => generated.set(r.success ? r.xAdv : trainX.subarray(i * d, (i + 1) * d), i * d));
  return generated;
}

/**
 * The retraining set: original ∪ generated (the originals alone for `none`);
 * with several rounds, original ∪ every round's generated set so far.
 */
export function augmentedTrainSet(trainX: Float32Array, generated: Float32Array | undefined | ReadonlyArray<Float32Array | undefined>): Float32Array {
  const sets = (Array.isArray(generated) ? generated : [generated]).filter((g): g is Float32Array => g !== undefined);
  if (sets.length === 0) return trainX;
  const out = new Float32Array(trainX.length + sets.reduce((a, g) => a + g.length, 0));
  out.set(trainX, 0);
  let at = trainX.length;
  for (const g of sets) {
    out.set(g, at);
    at += g.length;
  }
  return out;
}

/**
 * The seed of round `round` (1-based) of a multi-round study: the study's
 * seed for round 1 (so one round is the single-round study), a derived one
 * after, so each round's attacks start from fresh δ0 and MINE draws and the
 * noise arms draw fresh noise. Models are always initialised and shuffled
 * with the study's seed (every retraining starts from the same init).
 */
export function roundSeed(seed: number, round: number): number {
  if (!Number.isInteger(round) || round < 1) throw new Error(`round must be an integer ≥ 1; got ${round}`);
  return round === 1 ? seed : new Rng(seed, STREAM.round, round).nextU32();
}

/** ASR and (MINE arms) the MI summary of the successful samples. */
export function attackSummary(method: AttackMethod, results: readonly SampleResult[]): { asr: number; mi?: Summary } {
  return {
    asr: attackSuccessRate(results),
    ...(isMineMethod(method) ? { mi: summarize(results.filter((r) => r.success).map((r) => r.similarity)) } : {}),
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
  /** Epochs (with early stopping or the convergence loop: the cap / the first try). */
  epochs: number;
  batchSize: number;
  seed: number;
  /** Seed of the model's initialisers when it differs from the shuffle's `seed` (TrainingService: model.seed vs config.seed). */
  modelSeed?: number;
  modelOptions?: Omit<CreateAutoencoderOptions, 'seed'>;
  /** Event-loop yield interval of the training loop (TrainOptions.yieldMs). */
  yieldMs?: number;
  /** Held-out samples (m × inputShape) for the validation loss. */
  validation?: Float32Array;
  /** Early stopping on the validation loss after `patience` epochs without improvement (needs `validation`). */
  patience?: number;
  minDelta?: number;
  /** With `patience`: end with the weights of the best validation epoch instead of the last one. */
  restoreBest?: boolean;
  /** Stop after this many optimiser steps (the `same-steps` retraining schedule). */
  maxSteps?: number;
  /**
   * concrete-ae: Balın's loop — if the selection's convergence measure is below
   * `threshold` after training, double the epochs and train again from scratch,
   * up to `maxEpochs`. Early stopping does not apply (it would cut the temperature schedule short).
   */
  convergence?: { threshold: number; maxEpochs: number };
  signal?: AbortSignal;
  onEpoch?: (e: EpochReport) => void;
  /** The convergence loop restarts with `epochs` after reaching `reached`. */
  onRestart?: (epochs: number, reached: number) => void;
}

export interface TrainedModel {
  ae: Autoencoder;
  history: EpochReport[];
  /** Optimiser steps and epochs of the run that produced `ae`. */
  steps: number;
  epochs: number;
  stoppedEarly: boolean;
  /** With restoreBest: the epoch (0-based) whose weights `ae` has. */
  restoredEpoch?: number;
  /** concrete-ae: the convergence measure reached and the epochs of each try. */
  selectionConvergence?: number;
  tries?: number[];
}

/** A new model of the study's architecture, seeded with the study's seed, trained on `data`. */
export async function trainFresh(o: TrainFreshOptions): Promise<TrainedModel> {
  const converge = o.convergence && o.kind === 'concrete-ae' ? o.convergence : undefined;
  if (o.patience !== undefined && !o.validation) throw new Error('early stopping (patience) needs a validation split');
  const tries: number[] = [];
  let epochs = o.epochs;
  for (;;) {
    tries.push(epochs);
    const run = await trainOnce(o, epochs, converge ? undefined : o.patience);
    if (!converge || o.maxSteps !== undefined) return run;
    const reached = await run.ae.selectionConvergence!();
    if (reached >= converge.threshold || epochs * 2 > converge.maxEpochs) return { ...run, selectionConvergence: reached, tries };
    o.onRestart?.(epochs * 2, reached);
    run.ae.dispose();
    epochs *= 2;
  }
}

async function trainOnce(o: TrainFreshOptions, epochs: number, patience: number | undefined): Promise<TrainedModel> {
  const ae: Autoencoder = createAutoencoder(o.kind, o.inputShape, { ...o.modelOptions, seed: o.modelSeed ?? o.seed });
  const size = sampleSize(o.inputShape);
  const x = tf.tensor(o.data, [o.data.length / size, ...o.inputShape]);
  const val = o.validation ? tf.tensor(o.validation, [o.validation.length / size, ...o.inputShape]) : undefined;
  try {
    const r = await trainAutoencoder(ae, x, {
      epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      signal: o.signal,
      onEpoch: o.onEpoch,
      ...(o.yieldMs !== undefined ? { yieldMs: o.yieldMs } : {}),
      ...(val ? { validationData: val } : {}),
      ...(patience !== undefined
        ? { earlyStopping: { patience, ...(o.minDelta !== undefined ? { minDelta: o.minDelta } : {}), ...(o.restoreBest ? { restoreBest: true } : {}) } }
        : {}),
      ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}),
    });
    const out: TrainedModel = { ae, history: r.history, steps: r.steps, epochs: r.history.length, stoppedEarly: r.stoppedEarly };
    if (r.restoredEpoch !== undefined) out.restoredEpoch = r.restoredEpoch;
    if (ae.selectionConvergence) out.selectionConvergence = await ae.selectionConvergence();
    return out;
  } catch (e) {
    ae.dispose();
    throw e;
  } finally {
    x.dispose();
    val?.dispose();
  }
}
