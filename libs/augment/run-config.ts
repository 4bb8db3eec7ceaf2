/**
 * The run document of the augmentation study (§5): one zod schema that is the
 * single source of its defaults. `uae pipeline`'s flags, a `--config FILE` and
 * the `config.json` a run writes all go through it, and `uae submit` turns the
 * same document into a cluster job, so a run is described (and rerun) the
 * same way everywhere.
 *
 * The keys are the `uae pipeline` flags in camelCase (`--retrain-epochs` →
 * `retrainEpochs`), except `attack`: the MinMax settings of Algorithm 1 as
 * libs/attack's AttackConfig (MINE learning rate, sampler, β, c0, …). The
 * parsed document is *resolved*: every default filled in (the attack's too,
 * its MINE sampler chosen for the model kind), so a recorded config.json
 * reruns the study without depending on later changes of a default.
 * `tool` and `backend` are recorded by the writer and ignored on input.
 */
import { z } from 'zod';
import { AttackConfigSchema, mineStepsOf, type AttackConfig } from '../attack/config.js';
import { AUTOENCODER_KINDS, type AutoencoderKind } from '../models/types.js';
import { parseMethods, similarityForKind } from './stages.js';
import { checkSeeds } from './study.js';
import { RETRAIN_SCHEDULES, type AugmentationConfig, type ProbeKind, type RetrainSchedule } from './pipeline.js';
import type { Kinded } from '../errors/index.js';

/** Marks the document (config.json, --config); optional on input. */
export const RUN_CONFIG_KIND = 'uae.pipeline';

/** Balın's convergence threshold for the concrete AE's selection. */
export const CONVERGENCE_THRESHOLD = 0.998;

/** The study's defaults (docs/study.md): a validation split with early stopping, plateau retraining, both probes. */
export const PIPELINE_DEFAULTS = {
  methods: ['mine', 'init-noise', 'l2', 'ga-0.05', 'ga-0.1', 'repeat'],
  epochs: 100,
  retrainEpochs: 100,
  retrainSchedule: 'plateau' as RetrainSchedule,
  validation: 0.1,
  patience: 10,
  /** Keras' default: early-stopped training keeps its last epoch's weights. */
  restoreBest: false,
  batch: 100,
  converge: true,
  /** The concrete AE's convergence loop stops at this multiple of `epochs` unless `maxEpochs` is given. */
  maxEpochsFactor: 16,
  probe: 'both' as ProbeKind,
  classifierEpochs: 50,
  seeds: [0],
  /** FID and KID of the generated sets (libs/augment/fid.ts). */
  fid: false,
  /** Rounds of augmentation (SuppMat 6.15: a second round); 1 = the single-round study. */
  rounds: 1,
} as const;

const count = z.number().int().min(0);
const positive = z.number().int().min(1);
const seed = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const PipelineRunObject = z.strictObject({
  kind: z.literal(RUN_CONFIG_KIND).optional(),
  /** fashion-mnist, mice-protein, cifar10, svhn, idx:DIR, csv:FILE, npy:DIR, cifar10:DIR or svhn:DIR (libs/data loadDataset). */
  dataset: z.string().min(1),
  dataDir: z.string().min(1).optional(),
  labelColumn: z.string().min(1).optional(),
  trainSamples: count.optional(),
  testSamples: count.optional(),
  /** Seed of the data subsets and the validation split (default: the first seed). */
  dataSeed: seed.optional(),
  model: z.enum(AUTOENCODER_KINDS),
  hidden: positive.optional(),
  k: positive.optional(),
  latent: positive.optional(),
  widths: z.array(positive).min(1).optional(),
  methods: z.array(z.string()).min(1).default([...PIPELINE_DEFAULTS.methods]),
  epochs: count.default(PIPELINE_DEFAULTS.epochs),
  retrainEpochs: count.default(PIPELINE_DEFAULTS.retrainEpochs),
  retrainSchedule: z.enum(RETRAIN_SCHEDULES as [RetrainSchedule, ...RetrainSchedule[]]).default(PIPELINE_DEFAULTS.retrainSchedule),
  /** Fraction of the training samples held out for early stopping; 0 = none (fixed epochs). */
  validation: z.number().min(0).lt(1).default(PIPELINE_DEFAULTS.validation),
  patience: count.default(PIPELINE_DEFAULTS.patience),
  /** Early-stopped training ends with its best validation epoch's weights. */
  restoreBest: z.boolean().default(PIPELINE_DEFAULTS.restoreBest),
  batch: positive.default(PIPELINE_DEFAULTS.batch),
  converge: z.boolean().default(PIPELINE_DEFAULTS.converge),
  maxEpochs: positive.optional(),
  probe: z.enum(['mlp', 'extratrees', 'both']).default(PIPELINE_DEFAULTS.probe),
  probeTrainSamples: positive.optional(),
  /** MLP probe epochs; 0 = no probes at all. */
  classifierEpochs: count.default(PIPELINE_DEFAULTS.classifierEpochs),
  seeds: z.array(seed).min(1).default([...PIPELINE_DEFAULTS.seeds]),
  /** FID and KID × 100 of every generated set against the training samples, on a feature network trained on the dataset (or `featureModel`). */
  fid: z.boolean().default(PIPELINE_DEFAULTS.fid),
  /** A feature network saved by an earlier run (its feature-model/ folder) instead of training one; needs fid. */
  featureModel: z.string().min(1).optional(),
  /** Rounds of augmentation: round r attacks round r − 1's retrained model of each arm (docs/study.md). */
  rounds: positive.default(PIPELINE_DEFAULTS.rounds),
  /** Attack worker threads (results do not depend on it). */
  workers: count.optional(),
  attack: z.record(z.string(), z.unknown()).default({}),
  tool: z.strictObject({ name: z.string(), version: z.string(), commit: z.string().optional() }).optional(),
  backend: z.string().optional(),
});

/** The study's attack, resolved: every AttackConfig field but the seed (each seed of the study seeds its attacks). */
export type StudyAttack = Omit<AttackConfig, 'seed'> & { mineSteps: number };

export const PipelineRunSchema = PipelineRunObject.transform((c, ctx) => {
  const fail = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  let methods: string[] = [];
  try {
    methods = parseMethods(c.methods);
  } catch (e) {
    fail(['methods'], (e as Error).message);
  }
  try {
    checkSeeds(c.seeds);
  } catch (e) {
    fail(['seeds'], (e as Error).message.replace(/^seeds: /, ''));
  }
  if (c.featureModel !== undefined && !c.fid) fail(['featureModel'], 'needs fid on (--fid)');
  if (c.retrainSchedule === 'plateau' && !(c.validation > 0)) fail(['retrainSchedule'], '"plateau" needs a validation split (validation > 0)');
  if (c.restoreBest && !(c.validation > 0)) fail(['restoreBest'], 'needs a validation split (validation > 0)');
  const converges = c.model === 'concrete-ae' && c.converge;
  if (c.maxEpochs !== undefined && !converges) fail(['maxEpochs'], "applies to the concrete AE's convergence loop only (model concrete-ae, converge true)");
  const attack = resolveStudyAttack(c.model, c.attack, (path, message) => fail(['attack', ...path], message));
  if (!attack) return z.NEVER;
  const { tool: _t, backend: _b, kind: _k, ...rest } = c;
  // Keys in the schema's order (methods, attack in place).
  return {
    kind: RUN_CONFIG_KIND,
    ...rest,
    methods,
    dataSeed: c.dataSeed ?? c.seeds[0]!,
    ...(converges ? { maxEpochs: c.maxEpochs ?? PIPELINE_DEFAULTS.maxEpochsFactor * c.epochs } : {}),
    attack,
  };
});

/** A run document as written by hand or by a run (defaults may be missing). */
export type PipelineRunInput = z.input<typeof PipelineRunSchema>;
/** The resolved run document. */
export type PipelineRun = z.output<typeof PipelineRunSchema>;
/** What a run records in config.json: the resolved document, the tool that ran it and the backend. */
export type RecordedRun = PipelineRun & { tool?: { name: string; version: string; commit?: string }; backend?: string };

/**
 * The study-level attack (what `uae pipeline` gives every attack arm without
 * its own -sign/-adam or @α) resolved through AttackConfigSchema: traces on,
 * MINE's sampler chosen for the model (conv on conv-ae, random projections
 * otherwise; §1), n_mine explicit. Unknown keys are reported, not dropped.
 */
function resolveStudyAttack(model: AutoencoderKind, input: Record<string, unknown>, fail: (path: (string | number)[], message: string) => void): StudyAttack | undefined {
  if ('seed' in input) {
    fail(['seed'], "the study's seeds seed every attack; set seeds instead");
    return undefined;
  }
  if (input['method'] === 'pgd' || input['method'] === 'fgsm') {
    fail(['method'], 'PGD and FGSM have no similarity term; the arms (mine, l2, cosine) need minmax or penalty (use `uae attack --method pgd`)');
    return undefined;
  }
  const similarity = input['similarity'] as { kind?: unknown } | undefined;
  if (similarity !== undefined && similarity?.kind !== 'mine') {
    fail(['similarity', 'kind'], 'must be "mine": the arms (methods) choose L2 or cosine; only the MINE settings belong here');
    return undefined;
  }
  const parsed = AttackConfigSchema.safeParse({
    trace: true,
    ...input,
    similarity: similarity ?? similarityForKind('mine', model === 'conv-ae'),
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) fail(issue.path as (string | number)[], describeIssue(issue, input));
    return undefined;
  }
  const unknown = unknownKeys(input, parsed.data);
  if (unknown.length > 0) {
    for (const path of unknown) fail(path, 'unknown field');
    return undefined;
  }
  const { seed: _s, ...attack } = parsed.data;
  return { ...attack, mineSteps: mineStepsOf(parsed.data) };
}

/** Paths of `input` that `parsed` (the schema's output, defaults included) does not have: keys a non-strict schema dropped. */
function unknownKeys(input: unknown, parsed: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return [];
  const out: (string | number)[][] = [];
  const p = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(input)) {
    if (!(k in p)) out.push([...path, k]);
    else out.push(...unknownKeys(v, p[k], [...path, k]));
  }
  return out;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const k of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** One zod issue as a sentence about its field's value. */
function describeIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const got = valueAt(input, issue.path);
  if (issue.code === 'invalid_type' && got === undefined) return 'required';
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map(String).join(', ')}; got ${JSON.stringify(got)}`;
  return `${issue.message.replace(/^Invalid input: /, '')}${got !== undefined && typeof got !== 'object' ? `; got ${JSON.stringify(got)}` : ''}`;
}

/** A run document that does not parse; `fields` are the offending paths (dotted). */
export class RunConfigError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  override name = 'RunConfigError';
  constructor(
    readonly problems: Array<{ field: string; message: string }>,
    source?: string,
  ) {
    super(`${source ? `${source}: ` : ''}${problems.map((p) => `${p.field || '(document)'}: ${p.message}`).join('; ')}`);
  }
}

/**
 * Parses and resolves a run document. `fieldName` renames a field in messages
 * (the CLI shows flags); `source` prefixes them (e.g. "--config run/config.json").
 */
export function parseRunConfig(input: unknown, opts: { source?: string; fieldName?: (path: string) => string } = {}): PipelineRun {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new RunConfigError([{ field: '', message: 'expected a JSON object (a uae pipeline run document)' }], opts.source);
  if (Object.keys(input).length === 0) throw new RunConfigError([{ field: '', message: 'empty document: dataset and model are required' }], opts.source);
  const r = PipelineRunSchema.safeParse(input);
  if (r.success) return r.data;
  const name = opts.fieldName ?? ((p: string) => p);
  throw new RunConfigError(
    r.error.issues.flatMap((issue) =>
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((k) => ({ field: name([...issue.path, k].join('.')), message: 'unknown field' }))
        : [{ field: name(issue.path.join('.')), message: issue.code === 'custom' ? issue.message : describeIssue(issue, input) }],
    ),
    opts.source,
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `overrides` over `base`, objects merged key by key (arrays and scalars replaced); undefined values are no override. */
export function mergeRunConfig(base: Record<string, unknown>, overrides: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeRunConfig(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

/**
 * The settings in which two resolved runs differ, except what does not change
 * a seed's results (the seed list, the worker count, the tool that ran it):
 * `--resume` keeps earlier results only for the same study.
 */
export function runConfigDifferences(a: RecordedRun, b: RecordedRun): string[] {
  const strip = ({ seeds: _s, workers: _w, tool: _t, ...rest }: RecordedRun) => rest as Record<string, unknown>;
  const x = strip(a);
  const y = strip(b);
  return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
}

/** The library's AugmentationConfig of a resolved run (seeded with its first seed; runStudy sets the others). */
export function augmentationConfigOf(run: PipelineRun, imageShape?: number[]): AugmentationConfig {
  const modelOptions = Object.fromEntries(
    (['hidden', 'k', 'latent', 'widths'] as const).filter((k) => run[k] !== undefined).map((k) => [k, run[k]]),
  ) as AugmentationConfig['modelOptions'];
  return {
    model: run.model,
    methods: run.methods,
    epochs: run.epochs,
    retrainEpochs: run.retrainEpochs,
    batchSize: run.batch,
    seed: run.seeds[0]!,
    ...(run.workers !== undefined ? { workers: run.workers } : {}),
    modelOptions,
    classifier: run.classifierEpochs > 0 ? { epochs: run.classifierEpochs } : false,
    probe: run.probe,
    ...(run.probeTrainSamples !== undefined ? { probeTrainSamples: run.probeTrainSamples } : {}),
    ...(run.validation > 0
      ? { validation: { fraction: run.validation, patience: run.patience, ...(run.restoreBest ? { restoreBest: true } : {}), seed: run.dataSeed } }
      : {}),
    retrainSchedule: run.retrainSchedule,
    ...('maxEpochs' in run && run.maxEpochs !== undefined ? { convergence: { threshold: CONVERGENCE_THRESHOLD, maxEpochs: run.maxEpochs } } : {}),
    ...(imageShape ? { imageShape } : {}),
    ...(run.rounds > 1 ? { rounds: run.rounds } : {}),
    attack: run.attack,
  };
}
