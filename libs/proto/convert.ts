/**
 * uae.v1 config messages ⇄ the libraries' typed configs, encoding the
 * contract's default rule in one place: a zero enum, a 0 count ("0/unset
 * means default") or an unset `optional` field becomes `undefined`, so the
 * library's own schema supplies its default. Ranges are left to the libraries'
 * schemas (zod), which services run next; an enum value this version does not
 * know is rejected here with a ProtoFieldError naming the field.
 */
import type { AttackConfig, AttackConfigInput, CriterionConfig, SimilarityConfig } from '../attack/config.js';
import type { SampleResult } from '../attack/result.js';
import type { MineConfig, MineConfigInput } from '../mine/config.js';
import type { EpochReport, TrainOptions } from '../models/types.js';
import type { Summary } from '../eval/metrics.js';
import type { Verdict } from '../eval/stats.js';
import type { ArmAggregate, Comparison, StudyMetrics } from '../augment/study.js';
import type { DiagnosticsSummary } from '../augment/diagnostics.js';
import { ProtoFieldError } from './errors.js';
import { fromProtoTensor, toProtoTensor } from './tensor.js';
import * as pb from './v1.js';

type Table<T> = Readonly<Partial<Record<number, T>>>;

/** The name for a non-zero enum value; undefined for 0 (unspecified: the default). */
function fromEnum<T>(field: string, value: number, table: Table<T>): T | undefined {
  if (value === 0) return undefined;
  const v = table[value];
  if (v === undefined) throw new ProtoFieldError(field, `unknown enum value ${value}`);
  return v;
}

function toEnum<T>(value: T | undefined, table: Table<T>): number {
  if (value === undefined) return 0;
  for (const [k, v] of Object.entries(table)) if (v === value) return Number(k);
  throw new Error(`no proto enum value for "${String(value)}"`);
}

/** "0/unset means default". */
const nonZero = (n: number): number | undefined => (n === 0 ? undefined : n);

/** Drops undefined properties (so spreading over defaults keeps them). */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const MINE_SAMPLERS: Table<MineConfig['sampler']> = { [pb.MineSampler.MINE_SAMPLER_CONV]: 'conv', [pb.MineSampler.MINE_SAMPLER_RANDOM]: 'random' };
const MINE_PROJECTIONS: Table<MineConfig['projection']> = {
  [pb.MineProjection.MINE_PROJECTION_REDRAW]: 'redraw',
  [pb.MineProjection.MINE_PROJECTION_REDRAW_EXPLICIT]: 'redraw-explicit',
  [pb.MineProjection.MINE_PROJECTION_FIXED]: 'fixed',
};
const ATTACK_METHODS: Table<AttackConfig['method']> = {
  [pb.AttackMethod.ATTACK_METHOD_MINMAX]: 'minmax',
  [pb.AttackMethod.ATTACK_METHOD_PENALTY]: 'penalty',
  [pb.AttackMethod.ATTACK_METHOD_PGD]: 'pgd',
  [pb.AttackMethod.ATTACK_METHOD_FGSM]: 'fgsm',
};
const DELTA_INITS: Table<AttackConfig['init']> = { [pb.DeltaInit.DELTA_INIT_GLOROT]: 'glorot', [pb.DeltaInit.DELTA_INIT_UNIFORM_EPS]: 'uniform-eps' };
const DELTA_UPDATES: Table<AttackConfig['update']> = {
  [pb.DeltaUpdate.DELTA_UPDATE_GRADIENT]: 'gradient',
  [pb.DeltaUpdate.DELTA_UPDATE_SIGN]: 'sign',
  [pb.DeltaUpdate.DELTA_UPDATE_ADAM]: 'adam',
};

export interface ConfigDefaults {
  /**
   * The MINE sampler for MINE_SAMPLER_UNSPECIFIED, chosen by the caller from
   * the model (conv when it has a first conv layer, else random). Unset: the
   * library default (conv).
   */
  sampler?: 'conv' | 'random';
}

export function mineConfigFromProto(m: pb.MineConfig | undefined, field = 'mine', defaults: ConfigDefaults = {}): MineConfigInput {
  if (!m) return compact({ sampler: defaults.sampler });
  return compact({
    sampler: fromEnum(`${field}.sampler`, m.sampler, MINE_SAMPLERS) ?? defaults.sampler,
    draws: nonZero(m.draws),
    projectionDim: nonZero(m.projectionDim),
    projection: fromEnum(`${field}.projection`, m.projection, MINE_PROJECTIONS),
    convFilters: nonZero(m.convFilters),
    convKernel: nonZero(m.convKernel),
    hidden: nonZero(m.hidden),
    branchOut: nonZero(m.branchOut),
    learningRate: m.learningRate,
    beta1: m.beta1,
    beta2: m.beta2,
    epsilon: m.epsilon,
  });
}

/** Every field explicit (a parsed MineConfig has no unset fields). */
export function mineConfigToProto(m: MineConfig): pb.MineConfig {
  return {
    sampler: toEnum(m.sampler, MINE_SAMPLERS),
    draws: m.draws,
    projectionDim: m.projectionDim,
    projection: toEnum(m.projection, MINE_PROJECTIONS),
    convFilters: m.convFilters,
    convKernel: m.convKernel,
    hidden: m.hidden,
    branchOut: m.branchOut,
    learningRate: m.learningRate,
    beta1: m.beta1,
    beta2: m.beta2,
    epsilon: m.epsilon,
  };
}

function criterionFromProto(c: pb.CriterionConfig | undefined): AttackConfigInput['criterion'] {
  switch (c?.kind?.$case) {
    case undefined:
      return undefined;
    case 'reconstruction':
      return { kind: 'reconstruction', kappa: c.kind.value.kappa };
    case 'loss':
      return { kind: 'loss', kappa: c.kind.value.kappa };
    case 'cw':
      return { kind: 'cw', kappa: c.kind.value.kappa, targeted: c.kind.value.targeted };
  }
}

function criterionToProto(c: CriterionConfig): pb.CriterionConfig {
  switch (c.kind) {
    case 'reconstruction':
      return { kind: { $case: 'reconstruction', value: { kappa: c.kappa } } };
    case 'loss':
      return { kind: { $case: 'loss', value: { kappa: c.kappa } } };
    case 'cw':
      return { kind: { $case: 'cw', value: { kappa: c.kappa, targeted: c.targeted } } };
  }
}

function similarityFromProto(s: pb.SimilarityConfig | undefined, field: string, defaults: ConfigDefaults): AttackConfigInput['similarity'] {
  switch (s?.kind?.$case) {
    case undefined:
      return defaults.sampler ? { kind: 'mine', mine: { sampler: defaults.sampler } } : undefined;
    case 'mine':
      return { kind: 'mine', mine: mineConfigFromProto(s.kind.value, `${field}.mine`, defaults) };
    case 'l2':
      return { kind: 'l2' };
    case 'cosine':
      return { kind: 'cosine' };
  }
}

function similarityToProto(s: SimilarityConfig): pb.SimilarityConfig {
  switch (s.kind) {
    case 'mine':
      return { kind: { $case: 'mine', value: mineConfigToProto(s.mine) } };
    case 'l2':
      return { kind: { $case: 'l2', value: {} } };
    case 'cosine':
      return { kind: { $case: 'cosine', value: {} } };
  }
}

/** uae.v1.AttackConfig → input of attackConfig() (libs/attack/config.ts). */
export function attackConfigFromProto(a: pb.AttackConfig | undefined, field = 'config', defaults: ConfigDefaults = {}): AttackConfigInput {
  if (!a) return compact({ similarity: similarityFromProto(undefined, `${field}.similarity`, defaults) });
  return compact({
    method: fromEnum(`${field}.method`, a.method, ATTACK_METHODS),
    criterion: criterionFromProto(a.criterion),
    similarity: similarityFromProto(a.similarity, `${field}.similarity`, defaults),
    iterations: nonZero(a.iterations),
    epsilon: a.epsilon,
    alpha: a.alpha,
    beta: a.beta,
    c0: a.c0,
    mineSteps: a.mineSteps,
    init: fromEnum(`${field}.init`, a.init, DELTA_INITS),
    searchSteps: nonZero(a.searchSteps),
    trace: a.trace,
    seed: a.seed,
    update: fromEnum(`${field}.update`, a.update, DELTA_UPDATES),
    stepSize: a.stepSize,
  });
}

/** A parsed AttackConfig → uae.v1.AttackConfig with every field explicit. */
export function attackConfigToProto(a: AttackConfig): pb.AttackConfig {
  return {
    method: toEnum(a.method, ATTACK_METHODS),
    criterion: criterionToProto(a.criterion),
    similarity: similarityToProto(a.similarity),
    iterations: a.iterations,
    epsilon: a.epsilon,
    alpha: a.alpha,
    beta: a.beta,
    c0: a.c0,
    mineSteps: a.mineSteps,
    init: toEnum(a.init, DELTA_INITS),
    searchSteps: a.searchSteps,
    trace: a.trace,
    seed: a.seed,
    update: toEnum(a.update, DELTA_UPDATES),
    stepSize: a.stepSize,
  };
}

/** uae.v1.TrainConfig → TrainOptions (libs/models/types.ts); library defaults for unset fields. */
export function trainOptionsFromProto(t: pb.TrainConfig | undefined): TrainOptions {
  if (!t) return {};
  return compact({
    epochs: nonZero(t.epochs),
    batchSize: nonZero(t.batchSize),
    seed: t.seed,
    validationSplit: t.validationSplit,
    earlyStopping: t.earlyStopping?.patience
      ? { patience: t.earlyStopping.patience, minDelta: t.earlyStopping.minDelta, ...(t.earlyStopping.restoreBest ? { restoreBest: true } : {}) }
      : undefined,
    maxSteps: nonZero(t.maxSteps),
  });
}

export function epochReportToProto(e: EpochReport): pb.EpochReport {
  return { epoch: e.epoch, loss: e.loss, valLoss: e.valLoss, samplesPerSec: e.samplesPerSec };
}

export function epochReportFromProto(e: pb.EpochReport): EpochReport {
  return compact({ epoch: e.epoch, loss: e.loss, valLoss: e.valLoss, samplesPerSec: e.samplesPerSec });
}

/**
 * A SampleResult as a message. With `sampleShape`, x′ goes along as a FLOAT32
 * tensor of that shape; without, x_adv stays unset (the sample-results artifact).
 */
export function sampleResultToProto(r: SampleResult, opts: { index?: number; sampleShape?: readonly number[] } = {}): pb.SampleResult {
  return {
    sampleId: r.sampleId,
    index: opts.index ?? 0,
    xAdv: opts.sampleShape ? toProtoTensor(r.xAdv, opts.sampleShape, 'x_adv') : undefined,
    success: r.success,
    similarity: r.similarity,
    f: r.f,
    finalC: r.finalC,
    iterations: r.iterations,
    bestIteration: r.bestIteration,
    trace: r.trace ? { similarity: [...r.trace.similarity], f: [...r.trace.f], c: [...r.trace.c] } : undefined,
  };
}

/** A SampleResult message → the library's (x_adv must be a FLOAT32 tensor; unset gives an empty array). */
export function sampleResultFromProto(r: pb.SampleResult, field = 'result'): SampleResult {
  return compact({
    sampleId: r.sampleId,
    xAdv: r.xAdv ? fromProtoTensor(r.xAdv, { field: `${field}.x_adv`, dtype: pb.DataType.DATA_TYPE_FLOAT32 }).data : new Float32Array(0),
    success: r.success,
    similarity: r.similarity,
    f: r.f,
    finalC: r.finalC,
    iterations: r.iterations,
    bestIteration: r.bestIteration,
    trace: r.trace ? { similarity: r.trace.similarity, f: r.trace.f, c: r.trace.c } : undefined,
  });
}

/** Model kinds as the libraries and metrics.json name them. */
export type ModelKindName = 'dense-ae' | 'conv-ae' | 'sparse-ae' | 'adversarial-ae' | 'concrete-ae' | 'mlp-classifier' | 'cnn-classifier' | 'simclr-resnet18' | 'simclr-small';
const MODEL_KINDS: Table<ModelKindName> = {
  [pb.ModelKind.MODEL_KIND_DENSE_AE]: 'dense-ae',
  [pb.ModelKind.MODEL_KIND_CONV_AE]: 'conv-ae',
  [pb.ModelKind.MODEL_KIND_SPARSE_AE]: 'sparse-ae',
  [pb.ModelKind.MODEL_KIND_ADVERSARIAL_AE]: 'adversarial-ae',
  [pb.ModelKind.MODEL_KIND_CONCRETE_AE]: 'concrete-ae',
  [pb.ModelKind.MODEL_KIND_MLP_CLASSIFIER]: 'mlp-classifier',
  [pb.ModelKind.MODEL_KIND_CNN_CLASSIFIER]: 'cnn-classifier',
  [pb.ModelKind.MODEL_KIND_SIMCLR_RESNET18]: 'simclr-resnet18',
  [pb.ModelKind.MODEL_KIND_SIMCLR_SMALL]: 'simclr-small',
};

/** MODEL_KIND_CONV_AE → "conv-ae"; unspecified or unknown values are rejected (the kind is required). */
export function modelKindName(kind: pb.ModelKind, field = 'model.kind'): ModelKindName {
  const name = fromEnum(field, kind, MODEL_KINDS);
  if (name === undefined) throw new ProtoFieldError(field, 'required');
  return name;
}

export function modelKindFromName(name: ModelKindName): pb.ModelKind {
  return toEnum(name, MODEL_KINDS);
}

/**
 * Augmentation arms by their metrics.json key (libs/augment parseMethod's
 * canonical names): "mine", "l2", "cosine" (with "-gradient" / "-sign" /
 * "-adam" and "@<alpha>" for a per-arm δ update or step size), "init-noise",
 * "ga-<sigma>", "flip", "rotate-<degrees>", "repeat", "none".
 */
export type AugmentationMethodName = string;

const ATTACK_KINDS: Table<'mine' | 'l2' | 'cosine'> = {
  [pb.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_MINE]: 'mine',
  [pb.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_L2]: 'l2',
  [pb.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_COSINE]: 'cosine',
};
const PLAIN_KINDS: Table<'repeat' | 'none' | 'init-noise' | 'flip'> = {
  [pb.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_REPEAT]: 'repeat',
  [pb.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_NONE]: 'none',
  [pb.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_INIT_NOISE]: 'init-noise',
  [pb.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_FLIP]: 'flip',
};

export function augmentationMethodName(m: pb.AugmentationMethod, field = 'method'): AugmentationMethodName {
  const K = pb.AugmentationMethodKind;
  if (m.kind === K.AUGMENTATION_METHOD_KIND_UNSPECIFIED) throw new ProtoFieldError(`${field}.kind`, 'required');
  const base = ATTACK_KINDS[m.kind];
  if (base === undefined) {
    if (m.update !== pb.DeltaUpdate.DELTA_UPDATE_UNSPECIFIED) throw new ProtoFieldError(`${field}.update`, 'applies to attack arms (MINE, L2, COSINE) only');
    if (m.alpha !== undefined) throw new ProtoFieldError(`${field}.alpha`, 'applies to attack arms (MINE, L2, COSINE) only');
  }
  if (base !== undefined) {
    const update = fromEnum(`${field}.update`, m.update, DELTA_UPDATES);
    if (m.alpha !== undefined && !(Number.isFinite(m.alpha) && m.alpha > 0 && m.alpha <= 100)) throw new ProtoFieldError(`${field}.alpha`, `must be in (0, 100]; got ${m.alpha}`);
    return `${base}${update ? `-${update}` : ''}${m.alpha !== undefined ? `@${m.alpha}` : ''}`;
  }
  const plain = PLAIN_KINDS[m.kind];
  if (plain !== undefined) return plain;
  switch (m.kind) {
    case K.AUGMENTATION_METHOD_KIND_GAUSSIAN:
      if (!(Number.isFinite(m.sigma) && m.sigma > 0)) throw new ProtoFieldError(`${field}.sigma`, `must be a positive number for GAUSSIAN; got ${m.sigma}`);
      return `ga-${m.sigma}`;
    case K.AUGMENTATION_METHOD_KIND_ROTATE:
      if (!(Number.isFinite(m.degrees) && m.degrees > 0 && m.degrees <= 180)) throw new ProtoFieldError(`${field}.degrees`, `must be in (0, 180] for ROTATE; got ${m.degrees}`);
      return `rotate-${m.degrees}`;
    default:
      throw new ProtoFieldError(`${field}.kind`, `unknown enum value ${m.kind}`);
  }
}

const NUMBER = String.raw`(\d*\.?\d+(?:e-?\d+)?)`;

/** The message for an arm's name (aliases such as noise-<σ> included); throws on an unknown name. */
export function augmentationMethodFromName(name: AugmentationMethodName): pb.AugmentationMethod {
  const K = pb.AugmentationMethodKind;
  const m = (kind: pb.AugmentationMethodKind, o: Partial<pb.AugmentationMethod> = {}): pb.AugmentationMethod => ({ kind, sigma: 0, degrees: 0, update: 0, ...o });
  const attack = new RegExp(`^(mine|l2|cosine)(?:-(gradient|sign|adam))?(?:@${NUMBER})?$`).exec(name);
  if (attack) {
    return m(toEnum(attack[1] as 'mine' | 'l2' | 'cosine', ATTACK_KINDS), {
      update: toEnum(attack[2] as AttackConfig['update'] | undefined, DELTA_UPDATES),
      ...(attack[3] !== undefined ? { alpha: Number(attack[3]) } : {}),
    });
  }
  const ga = new RegExp(`^(?:ga|noise)-${NUMBER}$`).exec(name);
  if (ga) return m(K.AUGMENTATION_METHOD_KIND_GAUSSIAN, { sigma: Number(ga[1]) });
  const rot = new RegExp(`^rotate-${NUMBER}$`).exec(name);
  if (rot) return m(K.AUGMENTATION_METHOD_KIND_ROTATE, { degrees: Number(rot[1]) });
  for (const [k, v] of Object.entries(PLAIN_KINDS)) if (v === name) return m(Number(k));
  throw new Error(`unknown augmentation method "${name}"`);
}

/** A libs/eval Summary as a message (undefined stays unset). */
export function summaryToProto(s: Summary | undefined): pb.Summary | undefined {
  return s ? { mean: s.mean, median: s.median, min: s.min, max: s.max, count: s.count } : undefined;
}

export function summaryFromProto(s: pb.Summary | undefined): Summary | undefined {
  return s ? { mean: s.mean, median: s.median, min: s.min, max: s.max, count: s.count } : undefined;
}

const VERDICTS: Table<Verdict> = {
  [pb.ComparisonVerdict.COMPARISON_VERDICT_BETTER]: 'better',
  [pb.ComparisonVerdict.COMPARISON_VERDICT_WORSE]: 'worse',
  [pb.ComparisonVerdict.COMPARISON_VERDICT_INDISTINGUISHABLE]: 'indistinguishable',
};

export function verdictFromProto(v: pb.ComparisonVerdict, field = 'verdict'): Verdict | undefined {
  return fromEnum(field, v, VERDICTS);
}

function diagnosticsToProto(d: DiagnosticsSummary): pb.DiagnosticsSummary {
  return { linf: summaryToProto(d.linf), l2: summaryToProto(d.l2), relMove: summaryToProto(d.rel_move), cosDelta0: summaryToProto(d.cos_delta0), samples: d.samples };
}

const interval = (v: readonly [number, number]): pb.Interval => ({ low: v[0], high: v[1] });

/**
 * One arm of the study's metrics (metrics.json's study form) as a message:
 * the means in the scalar fields, per_seed / std / ci95 keyed by the metric's
 * snake_case name, the pooled MI and diagnostics, one FeatureSelection per seed.
 */
export function armAggregateToProto(a: ArmAggregate): pb.MethodMetrics {
  const num = (k: keyof ArmAggregate) => (typeof a[k] === 'number' ? (a[k] as number) : undefined);
  return {
    testReconError: num('test_recon_error') ?? NaN,
    improvement: num('improvement'),
    asr: num('asr'),
    accuracy: num('accuracy'),
    secondsPerSample: num('seconds_per_sample'),
    mi: summaryToProto(a.mi),
    accuracyExtratrees: num('accuracy_extratrees'),
    trainSteps: num('train_steps'),
    trainEpochs: num('train_epochs'),
    selectionConvergence: num('selection_convergence'),
    selectedFeatures: (a.selected_features ?? []).map((indices) => ({ indices: [...indices] })),
    perSeed: Object.fromEntries(Object.entries(a.per_seed).map(([k, v]) => [k, { values: [...(v ?? [])] }])),
    std: Object.fromEntries(Object.entries(a.std).filter((e): e is [string, number] => e[1] !== undefined)),
    ci95: Object.fromEntries(Object.entries(a.ci95).filter((e): e is [string, [number, number]] => e[1] !== undefined).map(([k, v]) => [k, interval(v)])),
    diagnostics: a.diagnostics ? diagnosticsToProto(a.diagnostics) : undefined,
  };
}

export function comparisonToProto(c: Comparison): pb.Comparison {
  return { arm: c.arm, control: c.control, metric: c.metric, diff: c.diff, ci95: c.ci95 ? interval(c.ci95) : undefined, verdict: toEnum(c.verdict, VERDICTS), seeds: c.seeds };
}

/** metrics.json's study form (aggregateStudy) → PipelineMetrics. */
export function studyMetricsToProto(m: StudyMetrics): pb.PipelineMetrics {
  return {
    dataset: m.dataset,
    model: modelKindFromName(m.model as ModelKindName),
    backend: m.backend,
    seed: m.seed,
    trainSamples: m.train_samples,
    testSamples: m.test_samples,
    methods: Object.fromEntries(Object.entries(m.methods).map(([k, a]) => [k, armAggregateToProto(a)])),
    seeds: [...m.seeds],
    validationSamples: m.validation_samples,
    comparisons: m.comparisons.map(comparisonToProto),
    // Set by the orchestrator, which knows its own version.
    toolVersion: '',
    rounds: (m.rounds ?? []).map((r) => ({
      round: r.round,
      methods: Object.fromEntries(Object.entries(r.methods).map(([k, a]) => [k, armAggregateToProto(a)])),
      comparisons: r.comparisons.map(comparisonToProto),
    })),
  };
}

function diagnosticsFromProto(d: pb.DiagnosticsSummary): DiagnosticsSummary {
  const out: DiagnosticsSummary = { samples: d.samples };
  for (const [k, s] of [['linf', d.linf], ['l2', d.l2], ['rel_move', d.relMove], ['cos_delta0', d.cosDelta0]] as const) if (s) out[k] = summaryFromProto(s);
  return out;
}

/** The inverse of armAggregateToProto: unset optional fields and empty maps stay absent. */
export function armAggregateFromProto(m: pb.MethodMetrics): ArmAggregate {
  const a: ArmAggregate = { per_seed: {}, std: {}, ci95: {} };
  const scalars = {
    test_recon_error: m.testReconError,
    improvement: m.improvement,
    asr: m.asr,
    accuracy: m.accuracy,
    accuracy_extratrees: m.accuracyExtratrees,
    seconds_per_sample: m.secondsPerSample,
    train_steps: m.trainSteps,
    train_epochs: m.trainEpochs,
    selection_convergence: m.selectionConvergence,
  } as const;
  for (const [k, v] of Object.entries(scalars)) if (v !== undefined) a[k as keyof typeof scalars] = v;
  // test_recon_error is a plain double: armAggregateToProto writes NaN when the arm has none (a classifier's study).
  if (Number.isNaN(m.testReconError)) delete a.test_recon_error;
  a.per_seed = Object.fromEntries(Object.entries(m.perSeed).map(([k, v]) => [k, [...v.values]]));
  a.std = { ...m.std };
  a.ci95 = Object.fromEntries(Object.entries(m.ci95).map(([k, v]) => [k, [v.low, v.high] as [number, number]]));
  if (m.mi) a.mi = summaryFromProto(m.mi);
  if (m.diagnostics) a.diagnostics = diagnosticsFromProto(m.diagnostics);
  if (m.selectedFeatures.length > 0) a.selected_features = m.selectedFeatures.map((s) => [...s.indices]);
  return a;
}

export function comparisonFromProto(c: pb.Comparison, field = 'comparison'): Comparison {
  const verdict = verdictFromProto(c.verdict, `${field}.verdict`);
  if (!verdict) throw new ProtoFieldError(`${field}.verdict`, 'is unset');
  return { arm: c.arm, control: c.control, metric: c.metric as Comparison['metric'], diff: c.diff, ...(c.ci95 ? { ci95: [c.ci95.low, c.ci95.high] as [number, number] } : {}), verdict, seeds: c.seeds };
}

/**
 * PipelineMetrics → metrics.json's study form (the inverse of
 * studyMetricsToProto). The protocol record is not part of the message: the
 * job's PipelineConfig holds it.
 */
export function studyMetricsFromProto(m: pb.PipelineMetrics, field = 'metrics'): Omit<StudyMetrics, 'protocol'> {
  return {
    dataset: m.dataset,
    model: modelKindName(m.model, `${field}.model`),
    backend: m.backend,
    seeds: [...m.seeds],
    seed: m.seed,
    train_samples: m.trainSamples,
    validation_samples: m.validationSamples,
    test_samples: m.testSamples,
    methods: Object.fromEntries(Object.entries(m.methods).map(([k, a]) => [k, armAggregateFromProto(a)])),
    comparisons: m.comparisons.map((c, i) => comparisonFromProto(c, `${field}.comparisons[${i}]`)),
    // Several rounds only (metrics.json has no `rounds` key with one).
    ...(m.rounds.length > 0
      ? {
          rounds: m.rounds.map((r, i) => ({
            round: r.round,
            methods: Object.fromEntries(Object.entries(r.methods).map(([k, a]) => [k, armAggregateFromProto(a)])),
            comparisons: r.comparisons.map((c, j) => comparisonFromProto(c, `${field}.rounds[${i}].comparisons[${j}]`)),
          })),
        }
      : {}),
  };
}

const CNN_ARCHITECTURES: Table<'mnist' | 'cifar'> = {
  [pb.CnnArchitecture.CNN_ARCHITECTURE_MNIST]: 'mnist',
  [pb.CnnArchitecture.CNN_ARCHITECTURE_CIFAR]: 'cifar',
};

/** ModelConfig.architecture → the cnn-classifier layout (undefined: the library's choice by channels). */
export function cnnArchitectureFromProto(a: pb.CnnArchitecture, field = 'model.architecture'): 'mnist' | 'cifar' | undefined {
  return fromEnum(field, a, CNN_ARCHITECTURES);
}

export function cnnArchitectureToProto(a: 'mnist' | 'cifar' | undefined): pb.CnnArchitecture {
  return toEnum(a, CNN_ARCHITECTURES);
}

/** The options of libs/models trainClassifierAdversarially (AdversarialTrainingOptions), before its own validation. */
export interface AdversarialTrainingInput {
  method: 'pgd';
  epsilon: number;
  steps?: number;
  stepSize?: number;
}

const ADVERSARIAL_METHODS: Table<'pgd'> = { [pb.AdversarialTrainingMethod.ADVERSARIAL_TRAINING_METHOD_PGD]: 'pgd' };

/** TrainConfig.adversarial → AdversarialTrainingOptions (unset: undefined, plain training; 0 steps: the library default). */
export function adversarialTrainingFromProto(a: pb.AdversarialTraining | undefined, field = 'config.adversarial'): AdversarialTrainingInput | undefined {
  if (!a) return undefined;
  return compact({
    method: fromEnum(`${field}.method`, a.method, ADVERSARIAL_METHODS) ?? 'pgd',
    epsilon: a.epsilon,
    steps: nonZero(a.steps),
    stepSize: a.stepSize,
  });
}

export function adversarialTrainingToProto(a: AdversarialTrainingInput): pb.AdversarialTraining {
  return { method: toEnum(a.method, ADVERSARIAL_METHODS), epsilon: a.epsilon, steps: a.steps ?? 0, ...(a.stepSize !== undefined ? { stepSize: a.stepSize } : {}) };
}
