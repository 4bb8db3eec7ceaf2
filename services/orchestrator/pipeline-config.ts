/**
 * uae.v1.PipelineConfig → the libraries' AugmentationConfig (libs/augment),
 * validated at submit time with errors that name the proto field
 * (ProtoFieldError → INVALID_ARGUMENT). The same function runs again when a
 * driver (re)starts a job, so a stored spec always means the same study.
 *
 * The mapping is the one `uae pipeline` uses (cli/commands/pipeline.ts), so the
 * distributed pipeline and runAugmentation compute the same numbers:
 *   train.epochs (0 → 20), train.batch_size (0 → 100), retrain_epochs (0 → 20)
 *   model.hidden / selected_features → modelOptions (hidden, k); seed → everything
 *   attack → AttackConfigInput (similarity per arm; its seed ignored)
 *   downstream / skip_downstream → classifier ({ epochs, hidden, batchSize, seed } or false)
 *   seeds (empty → [seed]) → one run per seed (runStudy); augmentation.seed is the first
 *   protocol.validation → validation { fraction, patience, minDelta, restoreBest, seed (unset: the first seed) }
 *   protocol.retrain_schedule → retrainSchedule; protocol.convergence → convergence
 *     (concrete-ae only; threshold 0.998, max_epochs 16 × train.epochs unless set)
 *   protocol.probe / probe_train_samples → probe / probeTrainSamples
 *   rounds (unset → 1; 0 refused) → rounds (SuppMat 6.15; set only when > 1)
 *
 * With a budget (SubmitPipeline passes the service's, libs/limits), the sizes
 * the study will allocate are checked before any stage runs, by the same rules
 * the trainer and the attack workers apply later (checkPipelineBudget):
 * RESOURCE_EXHAUSTED naming the `config.…` field to change.
 */
import { ZodError } from 'zod';
import { attackConfig, type AttackConfigInput } from '../../libs/attack/index.js';
import { armSpec, CONVERGENCE_THRESHOLD, isAttackMethod, PIPELINE_DEFAULTS, pipelineAttackConfig, validationCount, type AugmentationConfig, type AugmentationMethod, type ProbeKind, type RetrainSchedule } from '../../libs/augment/index.js';
import type { DownstreamOptions } from '../../libs/eval/index.js';
import { attackConfigFromProto, augmentationMethodName, ProtoFieldError, v1 } from '../../libs/proto/index.js';
import { knownDatasetShape } from '../../libs/data/index.js';
import type { ResourceBudget } from '../../libs/limits/index.js';
import { retrainPlan } from '../../libs/augment/index.js';
import { autoencoderKind, classifierKindOf, classifierOptions, isClassifierKindName } from '../common/models.js';
import type { AutoencoderKind } from '../../libs/models/index.js';
import { checkAttackBudget } from '../common/budgets.js';
import { checkTrainingSize } from '../common/training.js';

export const DEFAULT_EPOCHS = 20;
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_SHARD_SIZE = 256;
export const MAX_SHARD_SIZE = 100_000;
/** Rounds of augmentation a job may ask for (round r retrains on (r + 1) · N samples). */
export const MAX_ROUNDS = 100;
const MAX_EPOCHS = 100_000;
const MAX_BATCH = 65_536;

/** Balın's convergence threshold: the run document's (libs/augment run-config.ts), the same locally and here. */
export { CONVERGENCE_THRESHOLD };

export interface ResolvedPipeline {
  /** What runStudy would be given (workers aside); its seed is the first of `seeds`. */
  augmentation: AugmentationConfig;
  /** The study's seeds, in order (at least one, no repeats). */
  seeds: number[];
  /** Samples per attack shard. */
  shardSize: number;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function zodToField(prefix: string, e: ZodError): ProtoFieldError {
  const issue = e.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : snake(String(p)))).join('.').replace(/\.\[/g, '[');
  return new ProtoFieldError(path ? `${prefix}.${path}` : prefix, issue.message);
}

function count(value: number, field: string, max: number, fallback: number): number {
  if (value === 0) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new ProtoFieldError(field, `must be 1–${max} (0 = default ${fallback}); got ${value}`);
  return value;
}

function seedOf(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new ProtoFieldError(field, `must be an integer in [0, 2^53 − 1]; got ${value}`);
  return value;
}

/** Structural checks of the dataset (the data themselves are loaded when the job runs). */
function checkDataset(d: v1.DatasetConfig | undefined, field: string): void {
  if (!d) throw new ProtoFieldError(field, 'required');
  switch (d.source?.$case) {
    case undefined:
      throw new ProtoFieldError(`${field}.source`, 'required: set name or npy');
    case 'name':
      if (d.source.value.trim() === '') throw new ProtoFieldError(`${field}.name`, 'must not be empty');
      break;
    case 'npy':
      if (!d.source.value.xTrain?.sha256) throw new ProtoFieldError(`${field}.npy.x_train`, 'required');
      if (!d.source.value.xTest?.sha256) throw new ProtoFieldError(`${field}.npy.x_test`, 'required');
      break;
  }
  seedOf(d.seed, `${field}.seed`);
}

function classifierOf(c: v1.PipelineConfig): DownstreamOptions | false {
  if (c.skipDownstream) return false;
  const d = c.downstream;
  const out: DownstreamOptions = {};
  if (!d) return out;
  if (d.epochs) out.epochs = count(d.epochs, 'config.downstream.epochs', MAX_EPOCHS, 50);
  if (d.hidden !== undefined) {
    if (!Number.isSafeInteger(d.hidden) || d.hidden < 0 || d.hidden > 65_536) throw new ProtoFieldError('config.downstream.hidden', `must be 0–65536; got ${d.hidden}`);
    out.hidden = d.hidden;
  }
  if (d.batchSize) out.batchSize = count(d.batchSize, 'config.downstream.batch_size', MAX_BATCH, 32);
  if (d.seed !== undefined) out.seed = seedOf(d.seed, 'config.downstream.seed');
  return out;
}

/**
 * A supervised study (a classifier model kind): train the classifier on the
 * labelled training split → attack every training sample with cw (true
 * labels, untargeted) or the classifier's loss → retrain from scratch on
 * original ∪ generated, each generated sample keeping its original's label →
 * score test accuracy. What the autoencoder study has beyond that (a
 * validation split, probes, the convergence loop) is refused, naming the field.
 */
function checkSupervised(c: v1.PipelineConfig, kind: string): void {
  classifierOptions(c.model!, kind as never, 'config.model');
  const crit = c.attack?.criterion?.kind;
  if (crit === undefined || crit.$case === 'reconstruction') {
    throw new ProtoFieldError(crit ? 'config.attack.criterion.reconstruction' : 'config.attack.criterion', `a ${kind} has no reconstruction (unset means reconstruction): set cw (or loss)`);
  }
  if (crit.$case === 'cw' && crit.value.targeted) throw new ProtoFieldError('config.attack.criterion.cw.targeted', 'a supervised study attacks with the true labels (untargeted)');
  const d = c.dataset;
  if (d?.source?.$case === 'npy') {
    if (!d.source.value.yTrain?.sha256) throw new ProtoFieldError('config.dataset.npy.y_train', `required: a ${kind} trains on labels`);
    if (!d.source.value.yTest?.sha256) throw new ProtoFieldError('config.dataset.npy.y_test', `required: a ${kind} is scored on test labels`);
  }
  const p = c.protocol;
  if (p?.validation) throw new ProtoFieldError('config.protocol.validation', 'is not supported in a supervised (classifier) study');
  if (p?.convergence?.enabled) throw new ProtoFieldError('config.protocol.convergence', 'applies to the concrete AE only');
  if (p?.probe === v1.ProbeKind.PROBE_KIND_EXTRATREES || p?.probe === v1.ProbeKind.PROBE_KIND_BOTH) throw new ProtoFieldError('config.protocol.probe', 'a classifier is scored by its own accuracy, not by a probe');
  if (p?.retrainSchedule === v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU) throw new ProtoFieldError('config.protocol.retrain_schedule', 'PLATEAU needs a validation split, which a supervised study does not have');
  if (c.train?.convergence?.enabled) throw new ProtoFieldError('config.train.convergence', 'applies to the concrete AE only');
  if (c.train?.adversarial) throw new ProtoFieldError('config.train.adversarial', 'is not supported in a pipeline (train adversarially through TrainingService)');
}

/**
 * Validates a submitted PipelineConfig; ProtoFieldError naming the field
 * (`config.…`) when it is not acceptable; with `opts.budget`, also
 * checkPipelineBudget (ResourceLimitError naming the field).
 */
export function resolvePipelineConfig(c: v1.PipelineConfig | undefined, opts: { budget?: ResourceBudget } = {}): ResolvedPipeline {
  if (!c) throw new ProtoFieldError('config', 'required');
  checkDataset(c.dataset, 'config.dataset');
  if (!c.model) throw new ProtoFieldError('config.model', 'required');
  // A classifier kind makes a supervised study (see checkSupervised); AugmentationConfig.model
  // carries its name (libs/augment reads it only to pick the conv sampler for conv-ae).
  const supervisedKind = classifierKindOf(c.model.kind, 'config.model.kind');
  const model = (supervisedKind ?? autoencoderKind(c.model.kind, 'config.model.kind')) as AutoencoderKind;
  if (supervisedKind) checkSupervised(c, supervisedKind);
  if (c.model.inputShape.length > 0) throw new ProtoFieldError('config.model.input_shape', "must be empty in a pipeline (the dataset's sample shape is used)");
  if (c.methods.length === 0) throw new ProtoFieldError('config.methods', 'at least one augmentation method is required');
  const methods: AugmentationMethod[] = [];
  const dataKind = knownDataKind(c.dataset!);
  c.methods.forEach((m, i) => {
    const field = `config.methods[${i}]`;
    const name = augmentationMethodName(m, field) as AugmentationMethod;
    if (methods.includes(name)) throw new ProtoFieldError(field, `"${name}" is listed twice`);
    if (name === 'init-noise' && !methods.includes('mine')) throw new ProtoFieldError(field, '"init-noise" needs the "mine" arm listed before it (it reuses that arm\'s δ0 and success mask)');
    const a = armSpec(name);
    if ((a.kind === 'flip' || a.kind === 'rotate') && dataKind === 'tabular') throw new ProtoFieldError(field, `"${name}" needs image data; ${datasetLabel(c.dataset!)} is tabular`);
    methods.push(name);
  });
  const seeds = seedsOf(c);
  const seed = seeds[0]!;
  const train = c.train;
  if (train?.validationSplit !== undefined) throw new ProtoFieldError('config.train.validation_split', 'is not supported in a pipeline');
  if (train?.earlyStopping?.patience) throw new ProtoFieldError('config.train.early_stopping', 'is not supported in a pipeline');
  const epochs = count(train?.epochs ?? 0, 'config.train.epochs', MAX_EPOCHS, DEFAULT_EPOCHS);
  const batchSize = count(train?.batchSize ?? 0, 'config.train.batch_size', MAX_BATCH, DEFAULT_BATCH_SIZE);
  const retrainEpochs = count(c.retrainEpochs, 'config.retrain_epochs', MAX_EPOCHS, DEFAULT_EPOCHS);
  const shardSize = count(c.shardSize, 'config.shard_size', MAX_SHARD_SIZE, DEFAULT_SHARD_SIZE);
  const rounds = roundsOf(c.rounds);
  if (c.model.hidden && c.model.hidden > 65_536) throw new ProtoFieldError('config.model.hidden', `must be ≤ 65536; got ${c.model.hidden}`);

  // The attack: library input (the seed and, per arm, the similarity are the pipeline's).
  const { seed: _ignored, ...attack } = attackConfigFromProto(c.attack, 'config.attack') as AttackConfigInput & { seed?: number };
  if (attack.method === 'pgd' || attack.method === 'fgsm') {
    throw new ProtoFieldError('config.attack.method', 'PGD and FGSM have no similarity term; the arms (mine, l2, cosine) need minmax or penalty');
  }
  if (!supervisedKind && c.attack?.criterion?.kind?.$case === 'cw') {
    throw new ProtoFieldError('config.attack.criterion.cw', 'the Carlini–Wagner criterion needs a classifier: use MODEL_KIND_MLP_CLASSIFIER or MODEL_KIND_CNN_CLASSIFIER, or an unsupervised criterion (reconstruction, loss)');
  }
  try {
    attackConfig({ ...attack, seed });
    for (const m of methods) if (isAttackMethod(m)) pipelineAttackConfig(m, model, attack, seed);
  } catch (e) {
    if (e instanceof ZodError) throw zodToField('config.attack', e);
    throw e;
  }

  const augmentation: AugmentationConfig = {
    model,
    methods,
    epochs,
    retrainEpochs,
    batchSize,
    seed,
    attack,
    modelOptions: { ...(c.model.hidden ? { hidden: c.model.hidden } : {}), ...(c.model.selectedFeatures ? { k: c.model.selectedFeatures } : {}) },
    classifier: supervisedKind ? false : classifierOf(c),
    ...protocolOf(c, { model, epochs, seed, trainSamples: c.dataset!.trainSamples }),
    // As the run document's augmentationConfigOf: one round leaves the field unset.
    ...(rounds > 1 ? { rounds } : {}),
  };
  const resolved = { augmentation, seeds, shardSize };
  if (opts.budget) checkPipelineBudget(c.dataset!, resolved, opts.budget);
  return resolved;
}

/**
 * What the study will allocate, against `budget`, before any stage runs — the
 * trainer's and the attack workers' own checks (checkTrainingSize,
 * checkAttackBudget), applied to the plan:
 *   - the model's parameters and widest batch activation, the training rows ×
 *     features, epochs × batches (config.model.*, config.dataset.train_samples,
 *     config.train.batch_size, config.train.epochs), the convergence loop's
 *     max_epochs and the retraining on the augmented set (originals + one new
 *     sample each per round: (rounds + 1) × rows; config.retrain_epochs);
 *   - every attack arm's B × statistics-network parameters and B × draws ×
 *     hidden activations (config.attack.similarity.mine.hidden), with B = 1:
 *     the workers' backends are not known here, and every backend batches at
 *     least one sample (a GPU worker batching more still checks its B per shard).
 * Sizes that need the data (sample shape, rows) are checked where the dataset
 * is named (mice-protein, fashion-mnist: libs/data knownDatasetShape); for
 * paths and uploads the trainer and workers check them once loaded. A
 * random-sampler attack needs no shape and is always checked.
 */
export function checkPipelineBudget(dataset: v1.DatasetConfig, r: ResolvedPipeline, budget: ResourceBudget): void {
  const a = r.augmentation;
  const known = dataset.source?.$case === 'name' && !isClassifierKindName(a.model) ? knownDatasetShape(dataset.source.value) : undefined;
  const rows = known ? (dataset.trainSamples > 0 ? Math.min(dataset.trainSamples, known.trainRows) : known.trainRows) : dataset.trainSamples;
  if (known) {
    const features = known.inputShape.reduce((x, y) => x * y, 1);
    const shape = a.model === 'conv-ae' ? known.inputShape : [features];
    const plan = { kind: a.model, modelOptions: a.modelOptions ?? {}, epochs: a.epochs, train: { batchSize: a.batchSize } };
    const fields = { batchSize: 'config.train.batch_size', epochs: 'config.train.epochs' };
    checkTrainingSize(plan, shape, rows, budget, 'config', fields);
    if (a.convergence) checkTrainingSize({ ...plan, epochs: a.convergence.maxEpochs }, shape, rows, budget, 'config', { ...fields, epochs: 'config.protocol.convergence.max_epochs' });
    const schedule = a.retrainSchedule ?? 'longer';
    // The largest retraining set: the last round's, originals + one new sample each per round.
    const retrainRows = ((a.rounds ?? 1) + 1) * rows;
    if (schedule !== 'same-steps') {
      const retrain = retrainPlan(a, schedule, { epochs: a.epochs, steps: 0 }, retrainRows);
      checkTrainingSize({ ...plan, epochs: retrain.epochs }, shape, retrainRows, budget, 'config', {
        ...fields,
        epochs: schedule === 'same-epochs' ? 'config.train.epochs' : 'config.retrain_epochs',
      });
    }
  }
  const samples = Math.max(1, Math.min(r.shardSize, rows || r.shardSize));
  for (const m of a.methods) {
    if (!isAttackMethod(m)) continue;
    const config = pipelineAttackConfig(m, a.model, a.attack, a.seed);
    const conv = config.similarity.kind === 'mine' && config.similarity.mine.sampler === 'conv';
    if (conv && known?.inputShape.length !== 3) continue; // the draws' shape is the images'
    checkAttackBudget(config, known?.inputShape ?? [], samples, budget, 'config.attack', 1);
  }
}

/** `rounds` (unset → the run document's default, 1): an integer 1–MAX_ROUNDS; an explicit 0 is refused, not read as unset. */
function roundsOf(value: number | undefined): number {
  if (value === undefined) return PIPELINE_DEFAULTS.rounds;
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_ROUNDS) throw new ProtoFieldError('config.rounds', `must be an integer 1–${MAX_ROUNDS} (unset = ${PIPELINE_DEFAULTS.rounds}); got ${value}`);
  return value;
}

/** `seeds` (empty → [seed]): integers, no repeats; `seed` must then be unset or the first. */
function seedsOf(c: v1.PipelineConfig): number[] {
  const single = seedOf(c.seed, 'config.seed');
  if (c.seeds.length === 0) return [single];
  const out: number[] = [];
  c.seeds.forEach((s, i) => {
    seedOf(s, `config.seeds[${i}]`);
    if (out.includes(s)) throw new ProtoFieldError(`config.seeds[${i}]`, `seed ${s} is listed twice`);
    out.push(s);
  });
  if (single !== 0 && single !== out[0]) throw new ProtoFieldError('config.seed', `is ${single} but seeds starts with ${out[0]}; leave seed unset (0) or make it the first seed`);
  return out;
}

const RETRAIN_SCHEDULES: Partial<Record<number, RetrainSchedule>> = {
  [v1.RetrainSchedule.RETRAIN_SCHEDULE_LONGER]: 'longer',
  [v1.RetrainSchedule.RETRAIN_SCHEDULE_SAME_EPOCHS]: 'same-epochs',
  [v1.RetrainSchedule.RETRAIN_SCHEDULE_SAME_STEPS]: 'same-steps',
  [v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU]: 'plateau',
};
const PROBES: Partial<Record<number, ProbeKind>> = {
  [v1.ProbeKind.PROBE_KIND_MLP]: 'mlp',
  [v1.ProbeKind.PROBE_KIND_EXTRATREES]: 'extratrees',
  [v1.ProbeKind.PROBE_KIND_BOTH]: 'both',
};

/** StudyProtocol → the AugmentationConfig's protocol fields (none set: the old behaviour). */
function protocolOf(
  c: v1.PipelineConfig,
  o: { model: string; epochs: number; seed: number; trainSamples: number },
): Pick<AugmentationConfig, 'validation' | 'retrainSchedule' | 'convergence' | 'probe' | 'probeTrainSamples'> {
  const p = c.protocol;
  if (!p) return {};
  const f = 'config.protocol';
  const out: Pick<AugmentationConfig, 'validation' | 'retrainSchedule' | 'convergence' | 'probe' | 'probeTrainSamples'> = {};
  const v = p.validation;
  if (v) {
    if (!(Number.isFinite(v.fraction) && v.fraction > 0 && v.fraction < 1)) throw new ProtoFieldError(`${f}.validation.fraction`, `must be in (0, 1); got ${v.fraction}`);
    if (!(Number.isSafeInteger(v.patience) && v.patience >= 1 && v.patience <= MAX_EPOCHS)) throw new ProtoFieldError(`${f}.validation.patience`, `must be 1–${MAX_EPOCHS}; got ${v.patience}`);
    if (v.minDelta !== undefined && !(Number.isFinite(v.minDelta) && v.minDelta >= 0)) throw new ProtoFieldError(`${f}.validation.min_delta`, `must be ≥ 0; got ${v.minDelta}`);
    const splitSeed = v.seed !== undefined ? seedOf(v.seed, `${f}.validation.seed`) : o.seed;
    if (o.trainSamples > 0 && validationCount(o.trainSamples, v.fraction) >= o.trainSamples) {
      throw new ProtoFieldError(`${f}.validation.fraction`, `${v.fraction} of ${o.trainSamples} training samples leaves none to train on`);
    }
    out.validation = {
      fraction: v.fraction,
      patience: v.patience,
      ...(v.minDelta !== undefined ? { minDelta: v.minDelta } : {}),
      ...(v.restoreBest ? { restoreBest: true } : {}),
      seed: splitSeed,
    };
  }
  if (p.retrainSchedule !== v1.RetrainSchedule.RETRAIN_SCHEDULE_UNSPECIFIED) {
    const schedule = RETRAIN_SCHEDULES[p.retrainSchedule];
    if (!schedule) throw new ProtoFieldError(`${f}.retrain_schedule`, `unknown enum value ${p.retrainSchedule}`);
    if (schedule === 'plateau' && !out.validation) throw new ProtoFieldError(`${f}.retrain_schedule`, 'PLATEAU needs a validation split (protocol.validation)');
    out.retrainSchedule = schedule;
  }
  const conv = p.convergence;
  if (conv?.enabled) {
    const threshold = conv.threshold ?? CONVERGENCE_THRESHOLD;
    if (!(Number.isFinite(threshold) && threshold > 0 && threshold <= 1)) throw new ProtoFieldError(`${f}.convergence.threshold`, `must be in (0, 1]; got ${threshold}`);
    const maxEpochs = conv.maxEpochs === 0 ? 16 * o.epochs : conv.maxEpochs;
    if (!(Number.isSafeInteger(maxEpochs) && maxEpochs >= o.epochs && maxEpochs <= MAX_EPOCHS * 16)) {
      throw new ProtoFieldError(`${f}.convergence.max_epochs`, `must be at least train.epochs (${o.epochs}) and at most ${MAX_EPOCHS * 16}; got ${maxEpochs}`);
    }
    // The loop applies to the concrete AE only (as `uae pipeline`).
    if (o.model === 'concrete-ae') out.convergence = { threshold, maxEpochs };
  }
  if (p.probe !== v1.ProbeKind.PROBE_KIND_UNSPECIFIED) {
    const probe = PROBES[p.probe];
    if (!probe) throw new ProtoFieldError(`${f}.probe`, `unknown enum value ${p.probe}`);
    out.probe = probe;
  }
  if (p.probeTrainSamples !== 0) {
    if (!Number.isSafeInteger(p.probeTrainSamples) || p.probeTrainSamples < 2) throw new ProtoFieldError(`${f}.probe_train_samples`, `must be at least 2 (0 = the full training split); got ${p.probeTrainSamples}`);
    out.probeTrainSamples = p.probeTrainSamples;
  }
  return out;
}

/** What the submitted dataset is, where its name says so (uploaded arrays are checked when loaded). */
function knownDataKind(d: v1.DatasetConfig): 'image' | 'tabular' | undefined {
  if (d.source?.$case !== 'name') return undefined;
  const name = d.source.value.trim();
  if (name === 'mice-protein' || name.startsWith('csv:')) return 'tabular';
  if (name === 'fashion-mnist' || name.startsWith('idx:')) return 'image';
  return undefined;
}

function datasetLabel(d: v1.DatasetConfig): string {
  return d.source?.$case === 'name' ? `"${d.source.value}"` : 'this dataset';
}
