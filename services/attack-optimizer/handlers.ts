/**
 * AttackService handlers: request → validated library inputs → libs/attack →
 * messages. No attack logic lives here.
 *
 *   Generate  a small inline batch attacked in this process (worker threads
 *             per UAE_ATTACK_THREADS), results streamed as samples finish.
 *   Submit    an ATTACK job over a dataset split: a JobStore record, then one
 *             AttackShard per `shard_size` samples on the work queue
 *             (msg id shardMsgId(job, i), result key shardResultKey(job, i)).
 *             The shard workers (worker.ts) do the rest, completion included.
 *
 * Validation errors are ProtoFieldErrors naming the proto field
 * (`x.shape[0]`, `config.similarity.mine.draws`, `spec.shard_size`), mapped to
 * INVALID_ARGUMENT by services/common/errors.ts; unknown models/datasets are
 * NOT_FOUND. Nothing is written before a request has passed validation.
 */
import { z } from 'zod';
import {
  attackConfig,
  runAttack,
  type AttackInput,
  type AttackPool,
  type AttackConfig,
  type AttackProgress,
  type SampleResult,
} from '../../libs/attack/index.js';
import { shardMsgId, shardResultKey, type Bus } from '../../libs/bus/index.js';
import { JobStore } from '../../libs/jobs/index.js';
import { generateUaes, type GenerateOptions } from '../../libs/augment/index.js';
import { isClassifier, serviceModelKindName, type AnyModel } from '../common/models.js';
import {
  attackConfigFromProto,
  attackConfigToProto,
  fromProtoTensor,
  MAX_GENERATE_BATCH,
  ProtoFieldError,
  sampleResultToProto,
  v1,
  type ConfigDefaults,
} from '../../libs/proto/index.js';
import { backendInfo, triggerBackendTrap } from '../../libs/tensor/index.js';
import type { ResourceBudget } from '../../libs/limits/index.js';
import { checkAttackBudget } from '../common/budgets.js';
import { Status, type CallContext, type Logger, type StreamingCallContext } from '../../libs/service-kit/index.js';
import type { ServiceDeps } from '../common/service.js';
import type { AttackMetrics } from './metrics.js';

export { checkAttackBudget };
import type { DatasetCache, ModelCache } from './resources.js';

/** Samples per shard when AttackJobSpec.shard_size is 0/unset (proto/uae/v1/job.proto). */
export const DEFAULT_SHARD_SIZE = 256;
export const MAX_SHARD_SIZE = 100_000;
/** Minimum interval between Progress messages of one Generate stream (≤ ~4/s). */
export const GENERATE_PROGRESS_INTERVAL_MS = 250;

const MAX_REQUEST_ID = 128;
const MAX_LABELS = 32;
const MAX_LABEL_KEY = 63;
const MAX_LABEL_VALUE = 256;

// ------------------------------------------------------------------ shared helpers

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * uae.v1.AttackConfig → a parsed AttackConfig. Unknown enum values and
 * out-of-range values are ProtoFieldErrors naming the proto field
 * (`config.iterations`, `config.similarity.mine.draws`).
 */
export function parseAttackConfig(proto: v1.AttackConfig | undefined, field: string, defaults: ConfigDefaults = {}): AttackConfig {
  const input = attackConfigFromProto(proto, field, defaults);
  try {
    return attackConfig(input);
  } catch (e) {
    if (e instanceof z.ZodError && e.issues.length > 0) {
      const issue = e.issues[0]!;
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${snake(String(p))}`)).join('');
      const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more)` : '';
      throw new ProtoFieldError(`${field}${path}`, `${issue.message}${more}`);
    }
    throw e;
  }
}

/** The MINE sampler a model gets when the request leaves it unspecified. */
export function samplerDefaults(model: AnyModel): ConfigDefaults {
  return { sampler: model.firstConv ? 'conv' : 'random' };
}

/**
 * The criterion must fit the model: cw needs a classifier's logits; a
 * classifier has no reconstruction (unset criterion = reconstruction), its
 * criteria are cw and loss (its cross-entropy against the labels).
 */
export function checkCriterion(config: AttackConfig, field: string, model: AnyModel): void {
  if (isClassifier(model)) {
    if (config.criterion.kind === 'reconstruction') {
      throw new ProtoFieldError(`${field}.criterion.reconstruction`, `a ${model.kind} has no reconstruction (an unset criterion means reconstruction): use cw or loss`);
    }
    return;
  }
  if (config.criterion.kind === 'cw') {
    throw new ProtoFieldError(`${field}.criterion.cw`, `the Carlini–Wagner criterion needs a classifier; ${model.kind} is an autoencoder (use reconstruction or loss)`);
  }
}

/** A targeted cw attack: the labels are target classes. */
export function isTargeted(config: AttackConfig): boolean {
  return config.criterion.kind === 'cw' && config.criterion.targeted;
}

/** A class id in [0, classes), or a ProtoFieldError naming `field`. */
export function checkClass(label: number, classes: number, field: string): number {
  if (!(Number.isInteger(label) && label >= 0 && label < classes)) throw new ProtoFieldError(field, `class ${label} is outside [0, ${classes})`);
  return label;
}

/**
 * The attack: autoencoders through generateUaes (worker threads per
 * `opts.workers`); classifiers in this thread (libs/attack runAttack; the
 * worker-thread pool rebuilds autoencoders only).
 */
export function attackModel(model: AnyModel, input: AttackInput, config: AttackConfig, opts: GenerateOptions): Promise<SampleResult[]> {
  if (!isClassifier(model)) return generateUaes(model, input, config, opts);
  return (async () => {
    if (opts.faultDrill) triggerBackendTrap();
    return runAttack(model, input, config, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  })();
}

/**
 * Generate's per-sample labels for a classifier: `target_class` for every
 * sample (targeted cw), else `labels` (true classes for untargeted cw and
 * loss, targets for targeted cw). Autoencoders: none (target_class refused).
 */
function generateLabels(req: v1.GenerateRequest, config: AttackConfig, model: AnyModel, batch: number): Int32Array | undefined {
  if (!isClassifier(model)) {
    if (req.targetClass !== undefined) throw new ProtoFieldError('target_class', `applies to classifiers (targeted cw) only, not ${model.kind}`);
    return undefined;
  }
  const targeted = isTargeted(config);
  if (req.targetClass !== undefined) {
    if (!targeted) throw new ProtoFieldError('target_class', 'applies to a targeted cw attack only (config.criterion.cw.targeted)');
    if (req.labels.length > 0) throw new ProtoFieldError('target_class', 'give target_class or per-sample labels, not both');
    return new Int32Array(batch).fill(checkClass(req.targetClass, model.classes, 'target_class'));
  }
  if (req.labels.length === 0) {
    throw new ProtoFieldError('labels', targeted ? `required: a target class per sample (or target_class) for a targeted cw attack on a ${model.kind}` : `required: the true class of every sample for a ${config.criterion.kind} attack on a ${model.kind}`);
  }
  req.labels.forEach((l, i) => checkClass(l, model.classes, `labels[${i}]`));
  return Int32Array.from(req.labels);
}

/**
 * Submit's labels for a classifier. Targeted cw: `target_class` or
 * `target_labels` (one per sample of the split), carried by the shards.
 * Untargeted cw and loss: the split's true labels, which the dataset must
 * have (the shard workers read them); undefined is returned.
 */
function submitLabels(spec: v1.AttackJobSpec, config: AttackConfig, model: AnyModel, part: { n: number; labels?: Int32Array | undefined }, split: string, npy: boolean): Int32Array | undefined {
  if (!isClassifier(model)) {
    if (spec.targetClass !== undefined) throw new ProtoFieldError('spec.target_class', `applies to classifiers (targeted cw) only, not ${model.kind}`);
    if (spec.targetLabels.length > 0) throw new ProtoFieldError('spec.target_labels', `applies to classifiers (targeted cw) only, not ${model.kind}`);
    return undefined;
  }
  if (isTargeted(config)) {
    if (spec.targetClass !== undefined && spec.targetLabels.length > 0) throw new ProtoFieldError('spec.target_class', 'give target_class or target_labels, not both');
    if (spec.targetClass !== undefined) return new Int32Array(part.n).fill(checkClass(spec.targetClass, model.classes, 'spec.target_class'));
    if (spec.targetLabels.length === 0) throw new ProtoFieldError('spec.target_class', 'required for a targeted cw attack: set target_class or target_labels');
    if (spec.targetLabels.length !== part.n) throw new ProtoFieldError('spec.target_labels', `has ${spec.targetLabels.length} targets for the ${split} split's ${part.n} samples`);
    spec.targetLabels.forEach((l, i) => checkClass(l, model.classes, `spec.target_labels[${i}]`));
    return Int32Array.from(spec.targetLabels);
  }
  if (spec.targetClass !== undefined) throw new ProtoFieldError('spec.target_class', 'applies to a targeted cw attack only (config.criterion.cw.targeted)');
  if (spec.targetLabels.length > 0) throw new ProtoFieldError('spec.target_labels', 'applies to a targeted cw attack only (config.criterion.cw.targeted)');
  const field = npy ? `spec.dataset.npy.y_${split}` : 'spec.dataset';
  if (!part.labels) throw new ProtoFieldError(field, `the ${split} split has no labels; a ${config.criterion.kind} attack on a ${model.kind} needs its true labels`);
  const bad = part.labels.findIndex((l) => !(l >= 0 && l < model.classes));
  if (bad >= 0) throw new ProtoFieldError(field, `label ${part.labels[bad]} of sample ${bad} is outside the model's [0, ${model.classes})`);
  return undefined;
}


export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function progressToProto(p: AttackProgress): v1.Progress {
  return {
    samplesDone: p.done,
    samplesTotal: p.total,
    samplesSucceeded: p.succeeded,
    asr: p.done > 0 ? p.succeeded / p.done : 0,
    fraction: p.fraction,
    samplesPerSecond: p.samplesPerSecond,
    elapsedSeconds: p.elapsedSeconds,
    ...(Number.isFinite(p.etaSeconds) ? { etaSeconds: p.etaSeconds } : {}),
    epochsDone: 0,
    epochsTotal: 0,
  };
}

/** A minimal single-consumer async queue: the attack pushes, the stream pulls. */
class Channel<T> {
  private items: T[] = [];
  private waiter: (() => void) | null = null;
  private done = false;
  private error: unknown = undefined;

  push(item: T): void {
    this.items.push(item);
    this.wake();
  }
  close(err?: unknown): void {
    this.done = true;
    this.error = err;
    this.wake();
  }
  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }
  async *drain(): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift()!;
        continue;
      }
      if (this.done) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }
}

// ------------------------------------------------------------------ handlers

export interface HandlerDeps {
  /** The bus (forwarding: usable once the service is ready). */
  bus: Bus;
  jobs: JobStore;
  models: ModelCache;
  datasets: DatasetCache;
  metrics: AttackMetrics;
  /** Worker threads per attack (UAE_ATTACK_THREADS; default: the backend's preference). */
  threads: () => number;
  /** The process's attack threads (undefined: one thread, or not started yet). */
  pool?: () => AttackPool | undefined;
  logger: Logger;
  /** Resource budget (default libs/limits DEFAULT_BUDGET). */
  budget?: ResourceBudget;
  /** A failed tfjs backend: NOT_SERVING, then a restart (services/common/backend-fault.ts). */
  backendFault?: ServiceDeps['backendFault'];
  /** UAE_FAULT_DRILL=attack-optimizer:wasm-trap (tests only). */
  faultDrill?: ServiceDeps['faultDrill'];
}

interface ParsedGenerate {
  data: Float32Array;
  batch: number;
  sampleShape: number[];
  sampleIds: number[];
}

/** Checks of the inline batch that do not need the model. */
function parseBatch(req: v1.GenerateRequest): ParsedGenerate {
  if (!req.x) throw new ProtoFieldError('x', 'required: a FLOAT32 tensor [B, ...sample_shape]');
  const x = fromProtoTensor(req.x, { field: 'x', dtype: v1.DataType.DATA_TYPE_FLOAT32, finite: true });
  if (x.shape.length < 2) throw new ProtoFieldError('x.shape', `expected [B, ...sample_shape] (rank ≥ 2), got [${x.shape.join(', ')}]`);
  const batch = x.shape[0]!;
  if (batch < 1 || batch > MAX_GENERATE_BATCH) {
    throw new ProtoFieldError('x.shape[0]', `batch size ${batch} is outside 1–${MAX_GENERATE_BATCH}; submit larger sets as a job (AttackService.Submit)`);
  }
  const sampleShape = x.shape.slice(1);
  sampleShape.forEach((d, i) => {
    if (d < 1) throw new ProtoFieldError(`x.shape[${i + 1}]`, `sample dimensions must be ≥ 1, got ${d}`);
  });
  const data = x.data;
  const d = data.length / batch;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw new ProtoFieldError('x.raw_data', `sample ${Math.floor(i / d)} element ${i % d} is ${v}; values must be in [0, 1]`);
    }
  }
  let sampleIds: number[];
  if (req.sampleIds.length === 0) sampleIds = Array.from({ length: batch }, (_, i) => i);
  else {
    if (req.sampleIds.length !== batch) throw new ProtoFieldError('sample_ids', `has ${req.sampleIds.length} ids for ${batch} samples (empty means 0…B−1)`);
    const seen = new Set<number>();
    req.sampleIds.forEach((id, i) => {
      if (!Number.isSafeInteger(id) || id < 0) throw new ProtoFieldError(`sample_ids[${i}]`, `${id} is not an integer in [0, 2^53 − 1]`);
      if (seen.has(id)) throw new ProtoFieldError(`sample_ids[${i}]`, `id ${id} appears twice; ids must be unique`);
      seen.add(id);
    });
    sampleIds = [...req.sampleIds];
  }
  if (req.labels.length > 0 && req.labels.length !== batch) {
    throw new ProtoFieldError('labels', `has ${req.labels.length} labels for ${batch} samples`);
  }
  return { data, batch, sampleShape, sampleIds };
}

function checkLabels(labels: Record<string, string>): void {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw new ProtoFieldError('labels', `${entries.length} entries; at most ${MAX_LABELS}`);
  for (const [k, v] of entries) {
    if (k.length < 1 || k.length > MAX_LABEL_KEY) throw new ProtoFieldError(`labels[${JSON.stringify(k.slice(0, 80))}]`, `keys must be 1–${MAX_LABEL_KEY} characters`);
    if (v.length > MAX_LABEL_VALUE) throw new ProtoFieldError(`labels[${JSON.stringify(k)}]`, `values must be at most ${MAX_LABEL_VALUE} characters`);
  }
}

export function splitName(split: v1.DatasetSplit): 'train' | 'test' {
  return split === v1.DatasetSplit.DATASET_SPLIT_TEST ? 'test' : 'train';
}

export function checkSplit(split: v1.DatasetSplit, field: string): v1.DatasetSplit {
  if (split === v1.DatasetSplit.DATASET_SPLIT_UNSPECIFIED) return v1.DatasetSplit.DATASET_SPLIT_TRAIN;
  if (split !== v1.DatasetSplit.DATASET_SPLIT_TRAIN && split !== v1.DatasetSplit.DATASET_SPLIT_TEST) {
    throw new ProtoFieldError(field, `unknown enum value ${split}`);
  }
  return split;
}

export function createHandlers(deps: HandlerDeps) {
  const { models, datasets, jobs, metrics } = deps;

  async function* generate(req: v1.GenerateRequest, call: StreamingCallContext<v1.GenerateResponse>): AsyncGenerator<v1.GenerateResponse> {
    const started = performance.now();
    // Cheap checks first: model ref present, the tensor, the config's enums and ranges.
    if (!req.model?.source) throw new ProtoFieldError('model', 'required: set model.model_id or model.artifacts');
    if (req.model.source.$case === 'artifacts') serviceModelKindName(req.model.source.value.kind, 'model.artifacts.kind');
    const batch = parseBatch(req);
    parseAttackConfig(req.config, 'config', { sampler: 'random' });

    const lease = await models.acquire(req.model, 'model');
    // Stops the attack when the call ends early (client gone, write failed) as well as on cancel/deadline.
    const stop = new AbortController();
    const onAbort = () => stop.abort(call.signal.reason);
    call.signal.addEventListener('abort', onAbort, { once: true });
    // The deadline may have passed while the model loaded: then no attack (and no thread) starts.
    if (call.signal.aborted) onAbort();
    let attack: Promise<SampleResult[]> | undefined;
    try {
      stop.signal.throwIfAborted();
      const ae = lease.model;
      if (!sameShape(batch.sampleShape, ae.inputShape)) {
        throw new ProtoFieldError('x.shape', `sample shape [${batch.sampleShape.join(', ')}] does not match the model's input shape [${ae.inputShape.join(', ')}]`);
      }
      const config = parseAttackConfig(req.config, 'config', samplerDefaults(ae));
      checkCriterion(config, 'config', ae);
      const labels = generateLabels(req, config, ae, batch.batch);
      checkAttackBudget(config, ae.inputShape, batch.sampleIds.length, deps.budget);
      const indexOf = new Map(batch.sampleIds.map((id, i) => [id, i]));

      const channel = new Channel<v1.GenerateResponse>();
      let lastProgress = 0;
      attack = attackModel(ae, { data: batch.data, inputShape: [...ae.inputShape], sampleIds: batch.sampleIds, ...(labels ? { labels } : {}) }, config, {
        workers: deps.threads(),
        pool: deps.pool?.(),
        signal: stop.signal,
        // tests only: a real wasm trap where the attack runs (this thread or a worker thread)
        faultDrill: deps.faultDrill?.take('a Generate call') ?? false,
        onProgress: (p, finished) => {
          for (const r of finished) {
            channel.push({ kind: { $case: 'result', value: sampleResultToProto(r, { index: indexOf.get(r.sampleId) ?? 0, sampleShape: ae.inputShape }) } });
          }
          const now = performance.now();
          if (now - lastProgress >= GENERATE_PROGRESS_INTERVAL_MS && p.done < p.total) {
            lastProgress = now;
            channel.push({ kind: { $case: 'progress', value: progressToProto(p) } });
          }
        },
      });
      attack.then(
        () => channel.close(),
        (err: unknown) => channel.close(err ?? new Error('attack failed')),
      );
      yield* channel.drain();
      const results = await attack;
      const seconds = (performance.now() - started) / 1000;
      const succeeded = results.filter((r) => r.success).length;
      metrics.batch('generate', results, seconds, config.similarity.kind === 'mine');
      yield {
        kind: {
          $case: 'summary',
          value: { samples: results.length, succeeded, asr: succeeded / results.length, seconds, backend: backendInfo().name },
        },
      };
    } finally {
      call.signal.removeEventListener('abort', onAbort);
      if (attack) {
        stop.abort(new Error('the Generate call ended'));
        await attack.catch(() => {});
      }
      lease.release();
    }
  }

  async function submit(req: v1.SubmitRequest, call: CallContext): Promise<v1.SubmitResponse> {
    if (req.requestId.length > MAX_REQUEST_ID) throw new ProtoFieldError('request_id', `${req.requestId.length} characters; at most ${MAX_REQUEST_ID}`);
    checkLabels(req.labels);
    const spec = req.spec;
    if (!spec) throw new ProtoFieldError('spec', 'required');
    if (!spec.model?.source) throw new ProtoFieldError('spec.model', 'required: set model_id or artifacts');
    if (spec.model.source.$case === 'artifacts') serviceModelKindName(spec.model.source.value.kind, 'spec.model.artifacts.kind');
    if (!spec.dataset?.source) throw new ProtoFieldError('spec.dataset.source', 'required: set name or npy');
    const split = checkSplit(spec.split, 'spec.split');
    if (spec.shardSize > MAX_SHARD_SIZE) throw new ProtoFieldError('spec.shard_size', `${spec.shardSize} is above ${MAX_SHARD_SIZE}`);
    const shardSize = spec.shardSize || DEFAULT_SHARD_SIZE;
    parseAttackConfig(spec.config, 'spec.config', { sampler: 'random' });

    const lease = await models.acquire(spec.model, 'spec.model');
    let plan: { total: number; shards: v1.AttackShard[] };
    try {
      const ae = lease.model;
      const config = parseAttackConfig(spec.config, 'spec.config', samplerDefaults(ae));
      checkCriterion(config, 'spec.config', ae);
      const ds = await datasets.get(spec.dataset, ae.kind, 'spec.dataset');
      if (!sameShape(ds.inputShape, ae.inputShape)) {
        throw new ProtoFieldError('spec.dataset', `sample shape [${ds.inputShape.join(', ')}] does not match the model's input shape [${ae.inputShape.join(', ')}]`);
      }
      const part = splitName(split) === 'test' ? ds.test : ds.train;
      const total = part.n;
      if (total < 1) throw new ProtoFieldError('spec.dataset', `the ${splitName(split)} split has no samples`);
      const labels = submitLabels(spec, config, ae, part, splitName(split), spec.dataset.source.$case === 'npy');
      const count = Math.ceil(total / shardSize);
      const resolved = attackConfigToProto(config);
      plan = {
        total,
        shards: Array.from({ length: count }, (_, i) => ({
          jobId: '',
          method: '',
          shardIndex: i,
          shardCount: count,
          sampleStart: i * shardSize,
          sampleCount: Math.min(shardSize, total - i * shardSize),
          model: spec.model,
          dataset: spec.dataset,
          split,
          config: resolved,
          resultKey: '',
          labels: labels ? [...labels.subarray(i * shardSize, i * shardSize + Math.min(shardSize, total - i * shardSize))] : [],
        })),
      };
    } finally {
      lease.release();
    }

    const { job, deduplicated } = await jobs.create({
      kind: v1.JobKind.JOB_KIND_ATTACK,
      spec: { kind: { $case: 'attack', value: spec } },
      requestId: req.requestId || undefined,
      labels: req.labels,
    });
    if (deduplicated && (job.state === v1.JobState.JOB_STATE_SUCCEEDED || job.state === v1.JobState.JOB_STATE_FAILED || job.state === v1.JobState.JOB_STATE_CANCELLED)) {
      return { job, deduplicated };
    }
    let current = job;
    if (!deduplicated) {
      current = await jobs.progress(job.jobId, {
        samplesDone: 0,
        samplesTotal: plan.total,
        samplesSucceeded: 0,
        asr: 0,
        fraction: 0,
        samplesPerSecond: 0,
        elapsedSeconds: 0,
        epochsDone: 0,
        epochsTotal: 0,
      });
    }
    // Publish every shard (again, for a retried request: msg ids and result keys make that harmless).
    try {
      for (const shard of plan.shards) {
        shard.jobId = job.jobId;
        shard.resultKey = shardResultKey(job.jobId, shard.shardIndex);
        await deps.bus.work.publish(deps.bus.subjects.shard(job.jobId, shard.shardIndex), v1.AttackShard.encode(shard).finish(), {
          msgId: shardMsgId(job.jobId, shard.shardIndex),
        });
      }
    } catch (err) {
      const reason = `could not queue the job's shards: ${err instanceof Error ? err.message : String(err)}`;
      call.log.error({ jobId: job.jobId, err: reason }, 'submit failed');
      await deps.bus.work.purge(deps.bus.subjects.jobShards(job.jobId)).catch(() => 0);
      await jobs.fail(job.jobId, { code: Status.UNAVAILABLE, message: reason, stage: '' }).catch(() => undefined);
      throw Object.assign(new Error(reason), { code: Status.UNAVAILABLE, details: reason });
    }
    call.log.info({ jobId: job.jobId, samples: plan.total, shards: plan.shards.length, shardSize, deduplicated }, 'attack job queued');
    return { job: current, deduplicated };
  }

  return { generate, submit };
}
