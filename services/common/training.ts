/**
 * One training run from a TrainingJobSpec, transport-free: the same
 * operations as the in-process pipeline (libs/augment) and `uae train` —
 * createAutoencoder(kind, inputShape, { hidden, k, seed: model.seed }),
 * trainAutoencoder(ae, x, { epochs, batchSize, seed: train.seed, … }) on the
 * training split, then reconstructionError on the test split — so a model
 * trained here has exactly the weights and test error of one trained
 * in-process with the same configuration and seeds (on the same backend).
 *
 * A pipeline's protocol (libs/augment trainFresh): config.validation_samples
 * makes the last rows of the training split the validation data (early
 * stopping monitors their loss), config.max_steps caps the optimiser steps,
 * config.convergence runs the concrete AE's convergence loop (through trainFresh).
 */
import { tf } from '../../libs/tensor/index.js';
import {
  autoencoderSize,
  createAutoencoder,
  DEFAULT_BATCH_SIZE,
  DEFAULT_EPOCHS,
  trainAutoencoder,
  type Autoencoder,
  type AutoencoderKind,
  type CreateAutoencoderOptions,
  type EpochReport,
  type TrainOptions,
} from '../../libs/models/index.js';
import { reconstructionError } from '../../libs/eval/index.js';
import { trainFresh } from '../../libs/augment/index.js';
import {
  adversarialTrainingConfig,
  createClassifier,
  ModelInputError,
  trainClassifier,
  trainClassifierAdversarially,
  type AdversarialTrainingOptions,
  type Classifier,
  type ClassifierKind,
  type ClassifierOptions,
} from '../../libs/models/index.js';
import { adversarialTrainingFromProto, ProtoFieldError, trainOptionsFromProto, type v1 } from '../../libs/proto/index.js';
import { checkBudget, DEFAULT_BUDGET, type ResourceBudget } from '../../libs/limits/index.js';
import type { ResolvedDataset } from './datasets.js';
import { autoencoderKind, autoencoderOptions, classifierKindOf, classifierOptions } from './models.js';

export const MAX_EPOCHS = 100_000;
export const MAX_BATCH_SIZE = 65_536;
export const MAX_HIDDEN = 65_536;

export interface ParsedTrainingSpec {
  kind: AutoencoderKind;
  modelOptions: CreateAutoencoderOptions;
  /** ModelConfig.input_shape when given (must match the dataset's, flattened for all kinds but conv-ae). */
  inputShape?: number[];
  train: Omit<TrainOptions, 'signal' | 'onEpoch' | 'yieldMs'>;
  epochs: number;
  /** The last this many training samples are the validation data (config.validation_samples). */
  validationSamples?: number;
  /** Concrete AE: Balın's convergence loop (config.convergence). */
  convergence?: { threshold: number; maxEpochs: number };
}

export interface ConvergenceInput {
  enabled: boolean;
  maxEpochs: number;
  threshold?: number | undefined;
}

/** Validates a TrainingJobSpec's model and schedule (the dataset is resolved separately); errors name `field`.… */
export function parseTrainingSpec(spec: v1.TrainingJobSpec | undefined, field = 'spec'): ParsedTrainingSpec {
  if (!spec) throw new ProtoFieldError(field, 'required');
  if (!spec.model) throw new ProtoFieldError(`${field}.model`, 'required');
  if (!spec.dataset) throw new ProtoFieldError(`${field}.dataset`, 'required');
  const kind = autoencoderKind(spec.model.kind, `${field}.model.kind`);
  if (spec.model.hidden > MAX_HIDDEN) throw new ProtoFieldError(`${field}.model.hidden`, `must be at most ${MAX_HIDDEN}; got ${spec.model.hidden}`);
  spec.model.inputShape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 1) throw new ProtoFieldError(`${field}.model.input_shape[${i}]`, `must be a positive integer; got ${d}`);
  });
  const modelOptions = autoencoderOptions(spec.model, `${field}.model`);
  const c = spec.config;
  const f = `${field}.config`;
  const { train, epochs, validationSamples } = parseSchedule(c, f);
  let convergence: ParsedTrainingSpec['convergence'];
  if (c?.convergence?.enabled && kind === 'concrete-ae') {
    const threshold = c.convergence.threshold ?? 0.998;
    if (!(Number.isFinite(threshold) && threshold > 0 && threshold <= 1)) throw new ProtoFieldError(`${f}.convergence.threshold`, `must be in (0, 1]; got ${threshold}`);
    const maxEpochs = c.convergence.maxEpochs || 16 * epochs;
    if (maxEpochs < epochs) throw new ProtoFieldError(`${f}.convergence.max_epochs`, `must be at least epochs (${epochs}); got ${maxEpochs}`);
    convergence = { threshold, maxEpochs };
  }
  return {
    kind,
    modelOptions,
    ...(spec.model.inputShape.length > 0 ? { inputShape: [...spec.model.inputShape] } : {}),
    train,
    epochs,
    ...(validationSamples !== undefined ? { validationSamples } : {}),
    ...(convergence ? { convergence } : {}),
  };
}

/** A TrainConfig's schedule (epochs, batch, seed, validation, early stopping, step cap), checked; errors name `f` (`spec.config`). */
function parseSchedule(c: v1.TrainConfig | undefined, f: string): { train: ParsedTrainingSpec['train']; epochs: number; validationSamples?: number } {
  const train = trainOptionsFromProto(c);
  if (train.epochs !== undefined && train.epochs > MAX_EPOCHS) throw new ProtoFieldError(`${f}.epochs`, `must be in 1–${MAX_EPOCHS}; got ${train.epochs}`);
  if (train.batchSize !== undefined && train.batchSize > MAX_BATCH_SIZE) {
    throw new ProtoFieldError(`${f}.batch_size`, `must be in 1–${MAX_BATCH_SIZE}; got ${train.batchSize}`);
  }
  if (train.seed !== undefined && (!Number.isSafeInteger(train.seed) || train.seed < 0)) throw new ProtoFieldError(`${f}.seed`, `must be an integer in [0, 2^53 − 1]; got ${train.seed}`);
  if (train.validationSplit !== undefined && !(train.validationSplit > 0 && train.validationSplit < 1)) {
    throw new ProtoFieldError(`${f}.validation_split`, `must be in (0, 1); got ${train.validationSplit}`);
  }
  if (train.earlyStopping && !(Number.isFinite(train.earlyStopping.minDelta) && train.earlyStopping.minDelta! >= 0)) {
    throw new ProtoFieldError(`${f}.early_stopping.min_delta`, `must be ≥ 0; got ${train.earlyStopping.minDelta}`);
  }
  const epochs = train.epochs ?? DEFAULT_EPOCHS;
  const validationSamples = c?.validationSamples || undefined;
  if (validationSamples !== undefined && train.validationSplit !== undefined) throw new ProtoFieldError(`${f}.validation_samples`, 'give validation_split or validation_samples, not both');
  if (train.maxSteps !== undefined && !(Number.isSafeInteger(train.maxSteps) && train.maxSteps >= 1)) throw new ProtoFieldError(`${f}.max_steps`, `must be a positive integer; got ${train.maxSteps}`);
  return { train, epochs, ...(validationSamples !== undefined ? { validationSamples } : {}) };
}

/**
 * What a run would allocate, checked before anything is: k ≤ features
 * (concrete-ae), the model's parameters and widest batch activation, and the
 * optimiser steps (epochs × batches), against `budget`; `rows` = training
 * samples when known (0 = not yet). Errors name the field to change
 * (`fields` renames the schedule's, e.g. a pipeline's config.train.epochs).
 */
export function checkTrainingSize(
  parsed: Pick<ParsedTrainingSpec, 'kind' | 'modelOptions' | 'epochs'> & { train: Pick<ParsedTrainingSpec['train'], 'batchSize'> },
  inputShape: number[],
  rows: number,
  budget: ResourceBudget = DEFAULT_BUDGET,
  field = 'spec',
  fields: { batchSize?: string; epochs?: string } = {},
): void {
  const features = inputShape.reduce((a, b) => a * b, 1);
  const k = parsed.modelOptions.k;
  if (parsed.kind === 'concrete-ae' && k !== undefined && k > features) {
    throw new ProtoFieldError(`${field}.model.selected_features`, `${k} selected features, but the samples have only ${features}; must be at most the number of input features`);
  }
  const size = autoencoderSize(parsed.kind, inputShape, parsed.modelOptions);
  const sizeField = parsed.kind === 'concrete-ae' ? `${field}.model.selected_features` : parsed.modelOptions.hidden !== undefined ? `${field}.model.hidden` : `${field}.dataset`;
  checkBudget(budget, 'maxParameters', sizeField, size.parameters, `${parsed.kind} on samples of ${features} features`);
  if (rows > 0) {
    checkBudget(budget, 'maxTensorElements', `${field}.dataset.train_samples`, rows * features, `${rows} rows × ${features} features`);
    const batch = Math.min(rows, parsed.train.batchSize ?? DEFAULT_BATCH_SIZE);
    checkBudget(budget, 'maxTensorElements', fields.batchSize ?? `${field}.config.batch_size`, batch * size.widestActivation, `batch of ${batch} × widest layer of ${size.widestActivation}`);
    const steps = parsed.epochs * Math.ceil(rows / batch);
    checkBudget(budget, 'maxTrainSteps', fields.epochs ?? `${field}.config.epochs`, steps, `${parsed.epochs} epochs × ${Math.ceil(rows / batch)} batches`);
  }
}

export interface TrainRunResult {
  ae: Autoencoder;
  history: EpochReport[];
  stoppedEarly: boolean;
  testReconError: number;
  /** Optimiser steps of the run that produced `ae`. */
  steps: number;
}

/** Trains a fresh model on `ds` (already resolved for `parsed.kind`); the caller disposes `ae`. */
export async function trainFromSpec(
  ds: ResolvedDataset,
  parsed: ParsedTrainingSpec,
  hooks: {
    signal?: AbortSignal;
    onEpoch?: (e: EpochReport) => void;
    /** Event-loop yield interval (default 20 ms). */
    yieldMs?: number;
    /** Checked (checkTrainingSize) before the model or the data tensor is allocated. */
    budget?: ResourceBudget;
  } = {},
  field = 'spec',
): Promise<TrainRunResult> {
  if (parsed.inputShape && parsed.inputShape.join() !== ds.inputShape.join()) {
    throw new ProtoFieldError(`${field}.model.input_shape`, `[${parsed.inputShape.join(', ')}] does not match the dataset's samples [${ds.inputShape.join(', ')}]`);
  }
  checkTrainingSize(parsed, ds.inputShape, ds.train.n, hooks.budget, field);
  const d = ds.inputShape.reduce((a, b) => a * b, 1);
  const nVal = parsed.validationSamples ?? 0;
  if (nVal >= ds.train.n) throw new ProtoFieldError(`${field}.config.validation_samples`, `${nVal} of ${ds.train.n} training samples leaves none to train on`);
  const nFit = ds.train.n - nVal;
  const fitX = nVal > 0 ? ds.train.x.subarray(0, nFit * d) : ds.train.x;
  const valX = nVal > 0 ? ds.train.x.subarray(nFit * d) : undefined;
  if (parsed.convergence) {
    // The concrete AE's convergence loop: libs/augment's trainFresh, as runAugmentation runs it.
    const { seed: modelSeed, ...modelOptions } = parsed.modelOptions;
    const t = parsed.train;
    const run = await trainFresh({
      kind: parsed.kind,
      inputShape: ds.inputShape,
      data: fitX,
      epochs: parsed.epochs,
      batchSize: t.batchSize ?? 100,
      seed: t.seed ?? 0,
      ...(modelSeed !== undefined ? { modelSeed } : {}),
      modelOptions,
      yieldMs: hooks.yieldMs ?? 20,
      ...(valX ? { validation: valX } : {}),
      ...(t.earlyStopping
        ? { patience: t.earlyStopping.patience, minDelta: t.earlyStopping.minDelta, ...(t.earlyStopping.restoreBest ? { restoreBest: true } : {}) }
        : {}),
      ...(t.maxSteps !== undefined ? { maxSteps: t.maxSteps } : {}),
      convergence: parsed.convergence,
      signal: hooks.signal,
      onEpoch: hooks.onEpoch,
    });
    try {
      return { ae: run.ae, history: run.history, stoppedEarly: run.stoppedEarly, steps: run.steps, testReconError: await reconstructionError(run.ae, ds.test.x, ds.inputShape) };
    } catch (e) {
      run.ae.dispose();
      throw e;
    }
  }
  const ae = createAutoencoder(parsed.kind, ds.inputShape, parsed.modelOptions);
  try {
    const x = tf.tensor(fitX, [nFit, ...ds.inputShape]);
    const val = valX ? tf.tensor(valX, [nVal, ...ds.inputShape]) : undefined;
    let result;
    try {
      result = await trainAutoencoder(ae, x, { ...parsed.train, ...(val ? { validationData: val } : {}), signal: hooks.signal, onEpoch: hooks.onEpoch, yieldMs: hooks.yieldMs ?? 20 });
    } finally {
      x.dispose();
      val?.dispose();
    }
    const testReconError = await reconstructionError(ae, ds.test.x, ds.inputShape);
    return { ae, history: result.history, stoppedEarly: result.stoppedEarly, steps: result.steps, testReconError };
  } catch (e) {
    ae.dispose();
    throw e;
  }
}

// ------------------------------------------------------------------ classifiers

/** A TrainingJobSpec for a classifier (mlp-classifier, cnn-classifier), validated. */
export interface ParsedClassifierSpec {
  supervised: true;
  kind: ClassifierKind;
  classifierOptions: ClassifierOptions;
  /** ModelConfig.classes; unset: max label + 1 of the dataset. */
  classes?: number;
  inputShape?: number[];
  train: Omit<TrainOptions, 'signal' | 'onEpoch' | 'yieldMs'>;
  epochs: number;
  validationSamples?: number;
  /** TrainConfig.adversarial, defaults filled in. */
  adversarial?: Required<AdversarialTrainingOptions>;
}

/** Whether the spec trains a classifier (its model kind; an unset or unknown kind is left to the parser's error). */
export function isClassifierSpec(spec: v1.TrainingJobSpec | undefined): boolean {
  try {
    return spec?.model ? classifierKindOf(spec.model.kind) !== undefined : false;
  } catch {
    return false;
  }
}

/** Validates a classifier's TrainingJobSpec (model, schedule, adversarial training); errors name the field. */
export function parseClassifierSpec(spec: v1.TrainingJobSpec | undefined, field = 'spec'): ParsedClassifierSpec {
  if (!spec) throw new ProtoFieldError(field, 'required');
  if (!spec.model) throw new ProtoFieldError(`${field}.model`, 'required');
  if (!spec.dataset) throw new ProtoFieldError(`${field}.dataset`, 'required');
  const kind = classifierKindOf(spec.model.kind, `${field}.model.kind`);
  if (!kind) throw new ProtoFieldError(`${field}.model.kind`, 'expected a classifier kind');
  if (spec.model.hidden > MAX_HIDDEN) throw new ProtoFieldError(`${field}.model.hidden`, `must be at most ${MAX_HIDDEN}; got ${spec.model.hidden}`);
  spec.model.inputShape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 1) throw new ProtoFieldError(`${field}.model.input_shape[${i}]`, `must be a positive integer; got ${d}`);
  });
  const opts = classifierOptions(spec.model, kind, `${field}.model`);
  // The schedule: the same checks as an autoencoder's, then the classifier-only ones.
  const f = `${field}.config`;
  const base = parseSchedule(spec.config, f);
  if (spec.config?.convergence?.enabled) throw new ProtoFieldError(`${f}.convergence`, 'applies to the concrete AE only');
  let adversarial: ParsedClassifierSpec['adversarial'];
  const adv = adversarialTrainingFromProto(spec.config?.adversarial, `${f}.adversarial`);
  if (adv) {
    try {
      adversarial = adversarialTrainingConfig(adv);
    } catch (e) {
      if (e instanceof ModelInputError) {
        const sub = (e as ModelInputError & { field?: string }).field?.replace(/^adversarial\./, '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) ?? '';
        throw new ProtoFieldError(`${f}.adversarial${sub ? `.${sub}` : ''}`, e.message);
      }
      throw e;
    }
  }
  return {
    supervised: true,
    kind,
    classifierOptions: opts,
    ...(spec.model.classes ? { classes: spec.model.classes } : {}),
    ...(spec.model.inputShape.length > 0 ? { inputShape: [...spec.model.inputShape] } : {}),
    train: base.train,
    epochs: base.epochs,
    ...(base.validationSamples !== undefined ? { validationSamples: base.validationSamples } : {}),
    ...(adversarial ? { adversarial } : {}),
  };
}

/**
 * The labels a classifier trains and is scored on: both splits must have
 * them (else INVALID_ARGUMENT naming the dataset's label field); the class
 * count is `classes` or max label + 1 (≥ 2), and every label lies below it.
 */
export function classifierLabels(ds: ResolvedDataset, classes: number | undefined, field = 'spec.dataset', classesField = 'spec.model.classes'): { train: Int32Array; test: Int32Array; classes: number } {
  const npy = ds.name.startsWith('npy:');
  const train = ds.train.labels;
  const test = ds.test.labels;
  if (!train) throw new ProtoFieldError(npy ? `${field}.npy.y_train` : field, `a classifier needs labels: the dataset ${ds.name} has no training labels`);
  if (!test) throw new ProtoFieldError(npy ? `${field}.npy.y_test` : field, `a classifier needs labels: the dataset ${ds.name} has no test labels`);
  let max = -1;
  for (const l of train) max = Math.max(max, l);
  for (const l of test) max = Math.max(max, l);
  const k = classes ?? max + 1;
  if (k < 2) throw new ProtoFieldError(classes ? classesField : field, `a classifier needs at least 2 classes; the labels give ${k}`);
  if (max >= k) throw new ProtoFieldError(classesField, `${k} classes, but the dataset has label ${max}`);
  const neg = [...train, ...test].findIndex((l) => l < 0);
  if (neg >= 0) throw new ProtoFieldError(field, 'labels must be ≥ 0');
  return { train, test, classes: k };
}

export interface ClassifierRunResult {
  classifier: Classifier;
  classes: number;
  history: EpochReport[];
  stoppedEarly: boolean;
  steps: number;
  testAccuracy: number;
}

/** Trains a fresh classifier on `ds` (resolved for `parsed.kind`); scores it on the test split. The caller disposes `classifier`. */
export async function trainClassifierFromSpec(
  ds: ResolvedDataset,
  parsed: ParsedClassifierSpec,
  hooks: { signal?: AbortSignal; onEpoch?: (e: EpochReport) => void; yieldMs?: number; budget?: ResourceBudget } = {},
  field = 'spec',
): Promise<ClassifierRunResult> {
  if (parsed.inputShape && parsed.inputShape.join() !== ds.inputShape.join()) {
    throw new ProtoFieldError(`${field}.model.input_shape`, `[${parsed.inputShape.join(', ')}] does not match the dataset's samples [${ds.inputShape.join(', ')}]`);
  }
  const labels = classifierLabels(ds, parsed.classes, `${field}.dataset`, `${field}.model.classes`);
  const d = ds.inputShape.reduce((a, b) => a * b, 1);
  const budget = hooks.budget ?? DEFAULT_BUDGET;
  checkBudget(budget, 'maxTensorElements', `${field}.dataset.train_samples`, ds.train.n * d, `${ds.train.n} rows × ${d} features`);
  const batch = Math.min(ds.train.n, parsed.train.batchSize ?? DEFAULT_BATCH_SIZE);
  checkBudget(budget, 'maxTrainSteps', `${field}.config.epochs`, parsed.epochs * Math.ceil(ds.train.n / batch), `${parsed.epochs} epochs × ${Math.ceil(ds.train.n / batch)} batches`);
  const nVal = parsed.validationSamples ?? 0;
  if (nVal >= ds.train.n) throw new ProtoFieldError(`${field}.config.validation_samples`, `${nVal} of ${ds.train.n} training samples leaves none to train on`);
  const nFit = ds.train.n - nVal;
  let clf: Classifier;
  try {
    clf = createClassifier(ds.inputShape, labels.classes, parsed.classifierOptions);
  } catch (e) {
    // cnn-classifier: an unknown layout, or samples that are not images of at least 16×16.
    if (e instanceof ModelInputError) throw new ProtoFieldError(e.field === 'architecture' ? `${field}.model.architecture` : e.field === 'inputShape' ? `${field}.dataset` : `${field}.model`, e.message);
    throw e;
  }
  try {
    const x = tf.tensor(ds.train.x.subarray(0, nFit * d), [nFit, ...ds.inputShape]);
    const val = nVal > 0 ? tf.tensor(ds.train.x.subarray(nFit * d), [nVal, ...ds.inputShape]) : undefined;
    const valY = nVal > 0 ? tf.tidy(() => tf.oneHot(tf.tensor1d(labels.train.subarray(nFit), 'int32'), labels.classes).toFloat()) : undefined;
    const fitLabels = labels.train.subarray(0, nFit);
    const opts: TrainOptions = { ...parsed.train, ...(val && valY ? { validationData: val, validationLabels: valY } : {}), signal: hooks.signal, onEpoch: hooks.onEpoch, yieldMs: hooks.yieldMs ?? 20 };
    let result;
    try {
      result = parsed.adversarial ? await trainClassifierAdversarially(clf, x, fitLabels, parsed.adversarial, opts) : await trainClassifier(clf, x, fitLabels, opts);
    } finally {
      x.dispose();
      val?.dispose();
      valY?.dispose();
    }
    const testAccuracy = await classifierAccuracy(clf, ds.test.x, labels.test, ds.inputShape);
    return { classifier: clf, classes: labels.classes, history: result.history, stoppedEarly: result.stoppedEarly, steps: result.steps, testAccuracy };
  } catch (e) {
    clf.dispose();
    throw e;
  }
}

/** Accuracy of `clf` on (x, labels), in batches of `batchSize` (one read per batch). */
export async function classifierAccuracy(clf: Classifier, x: Float32Array, labels: Int32Array, inputShape: number[], batchSize = 256): Promise<number> {
  const d = inputShape.reduce((a, b) => a * b, 1);
  const n = labels.length;
  if (n === 0) return 0;
  let right = 0;
  for (let a = 0; a < n; a += batchSize) {
    const b = Math.min(n, a + batchSize);
    const xb = tf.tensor(x.subarray(a * d, b * d), [b - a, ...inputShape]);
    try {
      const predicted = await clf.predict(xb);
      predicted.forEach((p, i) => (right += p === labels[a + i] ? 1 : 0));
    } finally {
      xb.dispose();
    }
  }
  return right / n;
}
