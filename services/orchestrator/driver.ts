/**
 * The distributed pipeline driver: runs JOB_KIND_PIPELINE jobs in the
 * orchestrator process, stage by stage (libs/augment/stages.ts planStages):
 *
 *   0 train original      TrainingService (or in-process), request id <job>.original.<attempt>
 *   1 evaluate original   EvaluationService (or in-process)
 *   per arm m, in order:
 *     generate m          mine/l2: AttackShards on the work queue, results
 *                         assembled from jobs/<job>/attack-<m>/<shard>;
 *                         ga-σ / repeat / none: computed here
 *     retrain m           TrainingService on original ∪ generated (.npy artifact)
 *     evaluate m          EvaluationService against the original's test error
 *   complete              JobResult.pipeline (metrics.json as PipelineMetrics)
 *
 * Durability: every stage's output is written to `pipelines.<job>` (state.ts)
 * before the next stage starts. A (re)started driver skips every stage whose
 * output is recorded and redoes the first one that is not: a training stage
 * re-submits the same request id (the trainer returns the job it already has,
 * running or finished), a generate stage re-publishes only the shards without
 * a result (msg-id de-duplication drops copies still queued).
 *
 * Failures: transient ones (NATS down, a service UNAVAILABLE) retry the job
 * from its last recorded stage with backoff; permanent ones (bad config,
 * missing data, a shard dead-lettered, a training job failed for good) fail
 * the job with the reason and the stage. Cancellation (CancelJob) aborts the
 * running stage, purges queued shards and cancels the training jobs started
 * for the pipeline.
 */
import { ZodError } from 'zod';
import {
  augmentedTrainSet,
  baselineSamples,
  isAttackMethod,
  mergeAttackResults,
  methodMetrics,
  pipelineAttackConfig,
  planStages,
  type AttackMethod,
  type AugmentationConfig,
  type AugmentationMethod,
  type MethodMetrics,
  type PlannedStage,
} from '../../libs/augment/index.js';
import { BusError, BusValidationError, isTransientNatsError, shardMsgId, shardResultKey, type Bus, type Stoppable } from '../../libs/bus/index.js';
import { encodeNpy, parseNpy, type Dataset } from '../../libs/data/index.js';
import type { Summary } from '../../libs/eval/index.js';
import { isTerminal, type JobStore } from '../../libs/jobs/index.js';
import { attackConfigToProto, epochReportFromProto, epochReportToProto, modelKindFromName, ProtoFieldError, v1 } from '../../libs/proto/index.js';
import type { Logger } from '../../libs/service-kit/index.js';
import { MEDIA_TYPES, getByRef, putContent } from '../common/artifacts.js';
import { resolveDataset } from '../common/datasets.js';
import type { DatasetAccess } from '../common/dataset-access.js';
import { assembleAttackResult } from '../attack-optimizer/assemble.js';
import { SubJobFailedError, abortableSleep, type EvalOutcome, type StageExecutor } from './executor.js';
import type { OrchestratorMetrics } from './metrics.js';
import { resolvePipelineConfig } from './pipeline-config.js';
import { PipelineStateConflictError, PipelineStateStore, type EvalOutput, type ModelOutput, type TrainProgress } from './state.js';

const { JobState, JobKind } = v1;

export interface DriverOptions {
  bus: Bus;
  jobs: JobStore;
  executor: StageExecutor;
  logger: Logger;
  metrics: OrchestratorMetrics;
  /** Pipelines driven at once; further ones wait QUEUED (default 4). */
  maxActive?: number;
  /** Poll interval while waiting for shard results (default 250 ms). */
  pollMs?: number;
  /** Re-publish missing shards this often while waiting (default 120 s; msg ids make it harmless). */
  republishMs?: number;
  /** Minimum interval between progress writes of one job (default 250 ms: ≤ 4/s). */
  progressIntervalMs?: number;
  /** Retry budget for transient failures of one job (default 60 attempts). */
  transientAttempts?: number;
  /** Directory for fashion-mnist's IDX files (UAE_DATA_DIR). */
  dataDir?: string;
  /** Server-side dataset paths allowed (default none; services/common/dataset-access.ts). */
  access?: DatasetAccess;
}

/** The job reached a terminal state elsewhere (cancelled, failed by a worker). */
class JobEndedError extends Error {
  constructor(jobId: string, state: v1.JobState) {
    super(`job ${jobId} is ${v1.jobStateToJSON(state)}`);
    this.name = 'JobEndedError';
  }
}

/** A shard failed for good (AttackShardFailed). */
class ShardFailedError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'ShardFailedError';
  }
}

type Verdict = { kind: 'transient' | 'permanent' | 'unknown'; code: number; message: string };

const TRANSIENT_GRPC = new Set([4, 8, 10, 14]); // DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE
const PERMANENT_GRPC = new Set([1, 3, 5, 6, 7, 9, 11, 12, 16]);

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Is this failure worth retrying from the last recorded stage? */
export function classify(e: unknown): Verdict {
  const message = messageOf(e);
  if (e instanceof ProtoFieldError || e instanceof BusValidationError || e instanceof ZodError) return { kind: 'permanent', code: 3, message };
  if (e instanceof ShardFailedError) return { kind: 'permanent', code: e.code || 13, message };
  if (e instanceof SubJobFailedError) return { kind: PERMANENT_GRPC.has(e.code) ? 'permanent' : 'unknown', code: e.code || 13, message };
  const name = e instanceof Error ? e.name : '';
  if (/(ValidationError|InputError|FormatError|TensorCodecError)$/.test(name)) return { kind: 'permanent', code: 3, message };
  if (/NotFoundError$/.test(name)) return { kind: 'permanent', code: 5, message };
  if (name === 'BusNotReadyError' || name === 'BusClosedError') return { kind: 'transient', code: 14, message };
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'number' && code > 0 && code <= 16) {
    const details = (e as { details?: string }).details || message;
    if (TRANSIENT_GRPC.has(code)) return { kind: 'transient', code, message: details };
    if (PERMANENT_GRPC.has(code)) return { kind: 'permanent', code, message: details };
    return { kind: 'unknown', code, message: details };
  }
  if (isTransientNatsError(e) || e instanceof BusError) return { kind: 'transient', code: 14, message };
  return { kind: 'unknown', code: 13, message };
}

/** Rate-limited progress writes (≤ 1 per interval, the last value always lands). */
class Progressor {
  private last = 0;
  private pending: v1.Progress | undefined;
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly write: (p: v1.Progress) => Promise<unknown>,
    private readonly intervalMs: number,
  ) {}
  report(p: v1.Progress): void {
    this.pending = p;
    const wait = this.last + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait);
  }
  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    this.last = Date.now();
    void this.write(p).catch(() => {});
  }
  /** Drops a pending write (the stage changed). */
  reset(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}

interface DatasetRefs {
  xTrain: v1.ArtifactRef;
  xTest: v1.ArtifactRef;
  yTrain?: v1.ArtifactRef;
  yTest?: v1.ArtifactRef;
}

interface RunCtx {
  jobId: string;
  signal: AbortSignal;
  st: PipelineStateStore;
  cfg: AugmentationConfig;
  spec: v1.PipelineConfig;
  shardSize: number;
  plan: PlannedStage[];
  ds: Dataset;
  d: number;
  refs: DatasetRefs;
  /** The study's dataset as npy refs (what trainer, evaluator and workers read). */
  datasetConfig: v1.DatasetConfig;
  progress: Progressor;
  /** Display name of the stage running (for JobError.stage). */
  stage: string;
}

const STAGE_KINDS: Record<PlannedStage['kind'], v1.StageKind> = {
  train: v1.StageKind.STAGE_KIND_TRAIN,
  generate: v1.StageKind.STAGE_KIND_GENERATE,
  retrain: v1.StageKind.STAGE_KIND_RETRAIN,
  evaluate: v1.StageKind.STAGE_KIND_EVALUATE,
};

const refJson = (r: v1.ArtifactRef) => v1.ArtifactRef.toJSON(r);
const refFrom = (j: unknown) => v1.ArtifactRef.fromJSON(j);

function summaryToProto(s: Summary | undefined | null): v1.Summary | undefined {
  return s ? { mean: s.mean, median: s.median, min: s.min, max: s.max, count: s.count } : undefined;
}

function summaryFromProto(s: v1.Summary | undefined): Summary | undefined {
  return s ? { mean: s.mean, median: s.median, min: s.min, max: s.max, count: s.count } : undefined;
}

function historyToProto(m: ModelOutput): v1.TrainHistory {
  return { epochs: m.history.map(epochReportToProto), stoppedEarly: m.stoppedEarly };
}

export class PipelineDriver {
  private readonly runs = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly waiting: string[] = [];
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly o: DriverOptions) {
    this.log = o.logger.child({ component: 'pipeline-driver' });
  }

  get active(): number {
    return this.runs.size;
  }

  /** Drives the job (no-op if it already runs here); waits QUEUED while maxActive pipelines run. */
  start(jobId: string): void {
    if (this.stopped || this.runs.has(jobId) || this.waiting.includes(jobId)) return;
    this.waiting.push(jobId);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.waiting.length > 0 && this.runs.size < (this.o.maxActive ?? 4)) {
      const jobId = this.waiting.shift()!;
      const controller = new AbortController();
      this.o.metrics.jobsActive.inc({ kind: 'pipeline' });
      const done = this.run(jobId, controller.signal)
        .catch((e: unknown) => this.log.error({ jobId, err: messageOf(e) }, 'pipeline driver crashed'))
        .finally(() => {
          this.o.metrics.jobsActive.dec({ kind: 'pipeline' });
          this.runs.delete(jobId);
          this.pump();
        });
      this.runs.set(jobId, { controller, done });
    }
  }

  /** Resumes every QUEUED or RUNNING pipeline job (start-up). */
  async resumeAll(): Promise<string[]> {
    const jobs = await this.o.jobs.unfinished(JobKind.JOB_KIND_PIPELINE);
    for (const job of jobs) this.start(job.jobId);
    if (jobs.length > 0) this.log.info({ jobs: jobs.map((j) => j.jobId) }, 'resuming pipeline jobs');
    return jobs.map((j) => j.jobId);
  }

  /**
   * Cancels a job: CANCELLED in the store (idempotent), its queued shards
   * purged, its driver stopped, the training jobs it started cancelled.
   */
  async cancel(jobId: string, reason: string): Promise<v1.Job> {
    const before = await this.o.jobs.require(jobId);
    const job = await this.o.jobs.cancel(jobId, reason);
    if (!isTerminal(before.state) && job.state === JobState.JOB_STATE_CANCELLED) this.o.metrics.observeJob(job);
    const i = this.waiting.indexOf(jobId);
    if (i >= 0) this.waiting.splice(i, 1);
    const run = this.runs.get(jobId);
    if (run) {
      run.controller.abort(Object.assign(new Error(`cancelled: ${reason}`), { name: 'AbortError' }));
      // Let the stage stop (no shard is published after this) before purging the queue.
      await Promise.race([run.done, new Promise((r) => setTimeout(r, 5000))]);
    }
    if (job.state === JobState.JOB_STATE_CANCELLED) {
      await this.o.bus.work.purge(this.o.bus.subjects.jobShards(jobId)).catch((e: unknown) => this.log.warn({ jobId, err: messageOf(e) }, 'could not purge shards'));
      const st = await PipelineStateStore.open(this.o.bus.kv, jobId).catch(() => undefined);
      for (const sub of st?.state.subJobs ?? []) {
        await this.o.jobs.cancel(sub, `pipeline ${jobId} cancelled`).catch(() => undefined);
      }
    }
    return job;
  }

  /** Stops driving (shutdown): the jobs stay as they are and resume on the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.waiting.length = 0;
    const runs = [...this.runs.values()];
    for (const r of runs) r.controller.abort(Object.assign(new Error('orchestrator shutting down'), { name: 'AbortError' }));
    await Promise.all(runs.map((r) => r.done));
  }

  // ------------------------------------------------------------------ one job

  private async run(jobId: string, signal: AbortSignal): Promise<void> {
    let attempts = 0;
    let stage = '';
    for (;;) {
      try {
        await this.execute(jobId, signal, (s) => (stage = s));
        return;
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof JobEndedError) {
          // Ended elsewhere: a worker failed it (dead letter); a cancel was counted by cancel().
          const job = await this.o.jobs.get(jobId).catch(() => undefined);
          if (job?.state === JobState.JOB_STATE_FAILED) this.o.metrics.observeJob(job);
          return;
        }
        if (e instanceof PipelineStateConflictError) {
          this.log.warn({ jobId }, e.message);
          return;
        }
        const v = classify(e);
        attempts++;
        const budget = v.kind === 'transient' ? (this.o.transientAttempts ?? 60) : v.kind === 'unknown' ? 3 : 0;
        if (attempts < budget) {
          const delay = Math.min(1000 * 2 ** Math.min(attempts - 1, 4), 15_000);
          this.log.warn({ jobId, stage, attempt: attempts, err: v.message, retryMs: delay }, 'pipeline stage failed; retrying from the last recorded stage');
          try {
            await abortableSleep(delay, signal);
          } catch {
            return;
          }
          continue;
        }
        this.log.error({ jobId, stage, code: v.code, err: v.message, stack: e instanceof Error ? e.stack : undefined }, 'pipeline failed');
        try {
          const job = await this.o.jobs.fail(jobId, { code: v.code, message: v.message, stage });
          if (job.state === JobState.JOB_STATE_FAILED) this.o.metrics.observeJob(job);
          await this.o.bus.work.purge(this.o.bus.subjects.jobShards(jobId)).catch(() => 0);
        } catch (err) {
          this.log.error({ jobId, err: messageOf(err) }, 'could not record the failure');
        }
        return;
      }
    }
  }

  private async ensureActive(jobId: string): Promise<v1.Job> {
    const job = await this.o.jobs.require(jobId);
    if (isTerminal(job.state)) throw new JobEndedError(jobId, job.state);
    return job;
  }

  private async enter(ctx: RunCtx, index: number): Promise<void> {
    ctx.signal.throwIfAborted();
    ctx.progress.reset();
    const p = ctx.plan[index]!;
    const stage: v1.Stage = { kind: STAGE_KINDS[p.kind], method: p.method, name: p.name, index, count: ctx.plan.length };
    ctx.stage = p.name;
    const job = await this.ensureActive(ctx.jobId);
    const after = job.state === JobState.JOB_STATE_QUEUED ? await this.o.jobs.start(ctx.jobId, stage) : await this.o.jobs.stage(ctx.jobId, stage);
    if (isTerminal(after.state)) throw new JobEndedError(ctx.jobId, after.state);
    if (job.state === JobState.JOB_STATE_QUEUED) this.o.metrics.observeJob(after);
    this.log.info({ jobId: ctx.jobId, stage: p.name, index, count: ctx.plan.length }, 'stage');
  }

  private async execute(jobId: string, signal: AbortSignal, onStage: (s: string) => void): Promise<void> {
    const job = await this.ensureActive(jobId);
    const spec = job.spec?.kind?.$case === 'pipeline' ? job.spec.kind.value : undefined;
    const { augmentation: cfg, shardSize } = resolvePipelineConfig(spec);
    const st = await PipelineStateStore.open(this.o.bus.kv, jobId);
    const artifacts = this.o.bus.artifacts;

    // The data: resolved once and stored as .npy artifacts, so every stage
    // (and every service) reads exactly the same arrays.
    let ds: Dataset;
    let refs: DatasetRefs;
    if (!st.state.dataset) {
      onStage('load dataset');
      ds = await resolveDataset(artifacts, spec!.dataset, { kind: cfg.model, field: 'config.dataset', dataDir: this.o.dataDir, ...(this.o.access ? { access: this.o.access } : {}) });
      const shape = [...ds.inputShape];
      refs = {
        xTrain: await putContent(artifacts, encodeNpy([ds.train.n, ...shape], ds.train.x), { mediaType: MEDIA_TYPES.npy, name: 'x_train.npy' }),
        xTest: await putContent(artifacts, encodeNpy([ds.test.n, ...shape], ds.test.x), { mediaType: MEDIA_TYPES.npy, name: 'x_test.npy' }),
        ...(ds.train.labels ? { yTrain: await putContent(artifacts, encodeNpy([ds.train.n], ds.train.labels), { mediaType: MEDIA_TYPES.npy, name: 'y_train.npy' }) } : {}),
        ...(ds.test.labels ? { yTest: await putContent(artifacts, encodeNpy([ds.test.n], ds.test.labels), { mediaType: MEDIA_TYPES.npy, name: 'y_test.npy' }) } : {}),
      };
      const datasetConfig = npyConfig(refs);
      await st.save((s) => {
        s.dataset = { name: ds.name, inputShape: shape, trainSamples: ds.train.n, testSamples: ds.test.n, config: v1.DatasetConfig.toJSON(datasetConfig) };
      });
    } else {
      const saved = v1.DatasetConfig.fromJSON(st.state.dataset.config);
      const npy = saved.source?.$case === 'npy' ? saved.source.value : undefined;
      refs = { xTrain: npy!.xTrain!, xTest: npy!.xTest!, ...(npy?.yTrain ? { yTrain: npy.yTrain } : {}), ...(npy?.yTest ? { yTest: npy.yTest } : {}) };
      const loaded = await resolveDataset(artifacts, saved, { kind: cfg.model, field: 'dataset' });
      ds = { ...loaded, name: st.state.dataset.name };
    }
    const ctx: RunCtx = {
      jobId,
      signal,
      st,
      cfg,
      spec: spec!,
      shardSize,
      plan: planStages(cfg.methods),
      ds,
      d: ds.inputShape.reduce((a, b) => a * b, 1),
      refs,
      datasetConfig: npyConfig(refs),
      progress: new Progressor((p) => this.o.jobs.progress(jobId, p), this.o.progressIntervalMs ?? 250),
      stage: '',
    };
    const setStage = (i: number) => onStage(ctx.plan[i]!.name);

    // 0, 1: the original model.
    st.state.original ??= {};
    setStage(0);
    if (!st.state.original.train?.model) {
      await this.enter(ctx, 0);
      st.state.original.train ??= { attempt: 0 };
      await this.train(ctx, 'original', st.state.original.train, ctx.datasetConfig, cfg.epochs);
    }
    const original = st.state.original.train!.model!;
    setStage(1);
    if (!st.state.original.eval) {
      await this.enter(ctx, 1);
      const ev = await this.evaluate(ctx, original);
      await st.save((s) => void (s.original!.eval = ev));
    }
    const base = st.state.original.eval!.testReconError;

    // The arms.
    for (const [k, m] of cfg.methods.entries()) {
      const arm = st.arm(m);
      setStage(2 + 3 * k);
      if (!arm.generated) {
        await this.enter(ctx, 2 + 3 * k);
        await this.generate(ctx, m, original);
      }
      setStage(3 + 3 * k);
      if (!arm.retrain?.model) {
        await this.enter(ctx, 3 + 3 * k);
        arm.retrain ??= { attempt: 0 };
        const trainSet = refFrom(arm.generated!.trainSet);
        await this.train(ctx, m, arm.retrain, npyConfig({ xTrain: trainSet, xTest: refs.xTest }), cfg.retrainEpochs);
      }
      setStage(4 + 3 * k);
      if (!arm.eval) {
        await this.enter(ctx, 4 + 3 * k);
        const ev = await this.evaluate(ctx, arm.retrain!.model!, base);
        await st.save(() => void (arm.eval = ev));
      }
    }

    // Done: the result mirrors metrics.json.
    onStage('complete');
    ctx.progress.reset();
    const result = this.result(ctx);
    const done = await this.o.jobs.complete(jobId, { kind: { $case: 'pipeline', value: result } });
    if (done.state === JobState.JOB_STATE_SUCCEEDED) {
      this.o.metrics.observeJob(done);
      this.log.info({ jobId, seconds: done.finishedAt && done.startedAt ? (done.finishedAt.getTime() - done.startedAt.getTime()) / 1000 : undefined }, 'pipeline succeeded');
    } else if (isTerminal(done.state)) {
      throw new JobEndedError(jobId, done.state);
    }
  }

  // ------------------------------------------------------------------ stages

  private modelConfig(ctx: RunCtx): v1.ModelConfig {
    const m = ctx.spec.model!;
    return { kind: modelKindFromName(ctx.cfg.model), inputShape: [], hidden: m.hidden, selectedFeatures: m.selectedFeatures, classes: 0, seed: ctx.cfg.seed };
  }

  /** A training stage: one training job per attempt; its model recorded before returning. */
  private async train(ctx: RunCtx, key: string, tp: TrainProgress, dataset: v1.DatasetConfig, epochs: number): Promise<ModelOutput> {
    const { st, jobId, signal, cfg } = ctx;
    const spec: v1.TrainingJobSpec = { dataset, model: this.modelConfig(ctx), config: { epochs, batchSize: cfg.batchSize, seed: cfg.seed } };
    for (;;) {
      const requestId = `${jobId}.${key}.${tp.attempt}`;
      try {
        const out = await this.o.executor.train(
          { requestId, spec, labels: { 'uae-pipeline': jobId, 'uae-arm': key } },
          {
            signal,
            onJob: async (id) => {
              if (tp.jobId === id) return;
              tp.jobId = id;
              await st.save((s) => void (s.subJobs.includes(id) || s.subJobs.push(id)));
            },
            onProgress: (p) => ctx.progress.report(p),
          },
        );
        const model: ModelOutput = {
          modelId: out.modelId,
          artifacts: v1.ModelArtifacts.toJSON(out.artifacts),
          history: out.history.epochs.map(epochReportFromProto),
          stoppedEarly: out.history.stoppedEarly,
        };
        await st.save(() => void (tp.model = model));
        return model;
      } catch (e) {
        // A training job that failed for a reason that may pass (INTERNAL, UNAVAILABLE, …): a new attempt.
        if (e instanceof SubJobFailedError && e.jobId && !PERMANENT_GRPC.has(e.code) && tp.attempt < 3 && !signal.aborted) {
          this.log.warn({ jobId, stage: key, trainingJob: e.jobId, err: e.message }, 'training job failed; trying again');
          await st.save(() => {
            tp.attempt += 1;
            tp.jobId = undefined;
          });
          continue;
        }
        throw e;
      }
    }
  }

  private async evaluate(ctx: RunCtx, model: ModelOutput, baseline?: number): Promise<EvalOutput> {
    const c = ctx.cfg.classifier ?? {};
    const req: v1.EvaluateRequest = {
      model: { source: { $case: 'artifacts', value: v1.ModelArtifacts.fromJSON(model.artifacts) } },
      dataset: ctx.datasetConfig,
      config: {
        split: v1.DatasetSplit.DATASET_SPLIT_TEST,
        batchSize: 0,
        // Explicit values: the same probe runAugmentation trains (downstreamOptions).
        downstream: c === false ? undefined : { epochs: c.epochs ?? 50, hidden: c.hidden ?? 64, batchSize: c.batchSize ?? 32, seed: c.seed ?? ctx.cfg.seed },
        skipDownstream: c === false,
      },
      ...(baseline !== undefined ? { baselineReconError: baseline } : {}),
    };
    const out: EvalOutcome = await this.o.executor.evaluate(req, ctx.signal);
    const labelled = c !== false && ctx.ds.train.labels !== undefined && ctx.ds.test.labels !== undefined;
    return { testReconError: out.testReconError, ...(labelled && out.accuracy !== undefined ? { accuracy: out.accuracy } : {}), backend: out.backend };
  }

  private async generate(ctx: RunCtx, m: AugmentationMethod, original: ModelOutput): Promise<void> {
    const { st, ds, d, cfg } = ctx;
    const arm = st.arm(m);
    if (arm.generateStartedAt === undefined) await st.save(() => void (arm.generateStartedAt = Date.now()));
    const artifacts = this.o.bus.artifacts;
    let generated: Float32Array | undefined;
    let attack: v1.AttackResult | undefined;
    if (isAttackMethod(m)) {
      attack = await this.attack(ctx, m, v1.ModelArtifacts.fromJSON(original.artifacts));
      const xAdv = parseNpy(await getByRef(artifacts, attack.xAdv, 'x_adv'), 'x_adv.npy').data as Float32Array;
      const success = parseNpy(await getByRef(artifacts, attack.success, 'success'), 'success.npy').data;
      // Failures are replaced by their originals (ALGORITHMS.md §5).
      generated = mergeAttackResults(
        ds.train.x,
        d,
        Array.from(success, (s, i) => ({ success: s === 1, xAdv: xAdv.subarray(i * d, (i + 1) * d) })),
      );
    } else {
      generated = baselineSamples(m, ds.train.x, d, cfg.seed);
    }
    const secondsPerSample = attack ? attack.secondsPerSample : (Date.now() - arm.generateStartedAt!) / 1000 / ds.train.n;
    const trainSet = augmentedTrainSet(ds.train.x, generated);
    const shape = ds.inputShape;
    const xRef = generated && m !== 'repeat' ? await putContent(artifacts, encodeNpy([ds.train.n, ...shape], generated), { mediaType: MEDIA_TYPES.npy, name: `${m}-x.npy` }) : undefined;
    const trainRef = await putContent(artifacts, encodeNpy([trainSet.length / d, ...shape], trainSet), { mediaType: MEDIA_TYPES.npy, name: `${m}-train.npy` });
    await st.save(() => {
      arm.generated = {
        secondsPerSample,
        ...(xRef ? { x: refJson(xRef) } : {}),
        trainSet: refJson(trainRef),
        ...(attack ? { attack: v1.AttackResult.toJSON(attack), asr: attack.asr } : {}),
        ...(attack && m === 'mine' ? { mi: summaryFromProto(attack.similaritySummary) ?? null } : {}),
      };
    });
  }

  /** An attack arm on the work queue: publish the missing shards, wait for every result, assemble. */
  private async attack(ctx: RunCtx, m: AttackMethod, model: v1.ModelArtifacts): Promise<v1.AttackResult> {
    const { st, jobId, signal, ds, cfg } = ctx;
    const { bus } = this.o;
    const arm = st.arm(m);
    const n = ds.train.n;
    if (!arm.shards) await st.save(() => void (arm.shards = { count: Math.ceil(n / ctx.shardSize), size: ctx.shardSize, kind: `attack-${m}` }));
    const { count, size, kind } = arm.shards!;
    const config = attackConfigToProto(pipelineAttackConfig(m, cfg.model, cfg.attack, cfg.seed));
    const keys = Array.from({ length: count }, (_, i) => shardResultKey(jobId, i, kind));
    const token = (i: number) => `${m}-${i}`;
    const shard = (i: number): v1.AttackShard => ({
      jobId,
      method: m,
      shardIndex: i,
      shardCount: count,
      sampleStart: i * size,
      sampleCount: Math.min(size, n - i * size),
      model: { source: { $case: 'artifacts', value: model } },
      dataset: ctx.datasetConfig,
      split: v1.DatasetSplit.DATASET_SPLIT_TRAIN,
      config,
      resultKey: keys[i]!,
    });

    const done = new Set<number>();
    let failure: ShardFailedError | undefined;
    let wake: (() => void) | undefined;
    const refresh = async () => {
      for (const info of await bus.artifacts.list(`jobs/${jobId}/${kind}/`)) {
        const i = keys.indexOf(info.key);
        if (i >= 0) done.add(i);
      }
    };
    const publishMissing = async () => {
      await refresh();
      let published = 0;
      for (let i = 0; i < count; i++) {
        signal.throwIfAborted();
        if (done.has(i)) continue;
        const r = await bus.work.publish(bus.subjects.shard(jobId, token(i)), v1.AttackShard.encode(shard(i)).finish(), { msgId: shardMsgId(jobId, token(i)) });
        if (!r.duplicate) published++;
      }
      return published;
    };

    let sub: Stoppable | undefined;
    try {
      sub = await bus.events.subscribe(`${bus.subjects.root}.shards.${jobId}.*`, (e) => {
        try {
          if (e.subject.endsWith('.completed')) {
            const c = v1.AttackShardCompleted.decode(e.data);
            if (c.method === m) {
              done.add(c.shardIndex);
            }
          } else if (e.subject.endsWith('.failed')) {
            const f = v1.AttackShardFailed.decode(e.data);
            if (f.method === m) failure = new ShardFailedError(f.code, `shard ${f.shardIndex} of ${m} failed after ${f.deliveries} deliveries: ${f.message}`);
          }
        } catch {
          // not ours
        }
        wake?.();
      });
    } catch (e) {
      this.log.warn({ jobId, err: messageOf(e) }, 'no shard event subscription; polling only');
    }
    try {
      const published = await publishMissing();
      this.log.info({ jobId, method: m, shards: count, published, done: done.size }, 'attack shards queued');
      // Progress during the attack is the workers' (they add each finished shard to the
      // job's progress while its stage is this arm); a resumed stage starts from what is stored.
      if (done.size > 0) {
        const samplesDone = [...done].reduce((a, i) => a + Math.min(size, n - i * size), 0);
        await this.o.jobs.progress(jobId, v1.Progress.fromPartial({ samplesDone, samplesTotal: n, fraction: samplesDone / n }));
      }
      let lastPublish = Date.now();
      let lastCheck = 0;
      for (;;) {
        signal.throwIfAborted();
        if (failure) throw failure;
        await refresh();
        if (done.size === count) break;
        if (Date.now() - lastCheck > 1000) {
          lastCheck = Date.now();
          await this.ensureActive(jobId);
        }
        if (Date.now() - lastPublish > (this.o.republishMs ?? 120_000)) {
          lastPublish = Date.now();
          await publishMissing();
        }
        await new Promise<void>((resolve) => {
          const fin = () => {
            clearTimeout(t);
            signal.removeEventListener('abort', fin);
            wake = undefined;
            resolve();
          };
          const t = setTimeout(fin, this.o.pollMs ?? 250);
          wake = fin;
          signal.addEventListener('abort', fin, { once: true });
        });
      }
    } finally {
      await sub?.stop().catch(() => {});
    }
    ctx.progress.reset();
    return assembleAttackResult(bus.artifacts, keys, { startedAt: new Date(arm.generateStartedAt ?? Date.now()) });
  }

  // ------------------------------------------------------------------ result

  private result(ctx: RunCtx): v1.PipelineResult {
    const { st, cfg } = ctx;
    const s = st.state;
    const orig = s.original!;
    const base = orig.eval!.testReconError;
    const methods: Record<string, v1.MethodMetrics> = {
      original: { testReconError: base, ...(orig.eval!.accuracy !== undefined ? { accuracy: orig.eval!.accuracy } : {}) },
    };
    const generated: Record<string, v1.GeneratedSet> = {};
    const models: Record<string, v1.ModelArtifacts> = { original: v1.ModelArtifacts.fromJSON(orig.train!.model!.artifacts) };
    const history: Record<string, v1.TrainHistory> = { original: historyToProto(orig.train!.model!) };
    for (const m of cfg.methods) {
      const arm = s.arms[m]!;
      const g = arm.generated!;
      const attack = g.attack !== undefined ? { asr: g.asr!, ...(m === 'mine' ? { mi: g.mi ?? undefined } : {}) } : undefined;
      const mm: MethodMetrics = methodMetrics(base, arm.eval!.testReconError, { accuracy: arm.eval!.accuracy }, g.secondsPerSample, attack);
      methods[m] = {
        testReconError: mm.test_recon_error,
        improvement: mm.improvement,
        ...(mm.asr !== undefined ? { asr: mm.asr } : {}),
        ...(mm.accuracy !== undefined ? { accuracy: mm.accuracy } : {}),
        secondsPerSample: mm.seconds_per_sample,
        mi: summaryToProto(mm.mi),
      };
      if (g.x !== undefined) generated[m] = { x: refFrom(g.x), ...(g.attack !== undefined ? { attack: v1.AttackResult.fromJSON(g.attack) } : {}) };
      models[m] = v1.ModelArtifacts.fromJSON(arm.retrain!.model!.artifacts);
      history[m] = historyToProto(arm.retrain!.model!);
    }
    return {
      metrics: {
        dataset: s.dataset!.name,
        model: modelKindFromName(cfg.model),
        backend: orig.eval!.backend ?? '',
        seed: cfg.seed,
        trainSamples: s.dataset!.trainSamples,
        testSamples: s.dataset!.testSamples,
        methods,
      },
      generated,
      models,
      history,
    };
  }
}

/** A DatasetConfig of uploaded arrays (no subsetting: they are the study's data). */
function npyConfig(refs: DatasetRefs): v1.DatasetConfig {
  return {
    source: { $case: 'npy', value: { xTrain: refs.xTrain, xTest: refs.xTest, ...(refs.yTrain ? { yTrain: refs.yTrain } : {}), ...(refs.yTest ? { yTest: refs.yTest } : {}) } },
    trainSamples: 0,
    testSamples: 0,
    seed: 0,
    labelColumn: '',
  };
}
