/**
 * The distributed pipeline driver: runs JOB_KIND_PIPELINE jobs in the
 * orchestrator process, stage by stage (libs/augment/stages.ts planStages):
 *
 *   0 train original      TrainingService (or in-process), request id <job>.original.<attempt>
 *   1 evaluate original   EvaluationService (or in-process)
 *   per arm m, in order, per round r (PipelineConfig.rounds; SuppMat 6.15):
 *     generate m          mine/l2: AttackShards on the work queue, results
 *                         assembled from jobs/<job>/attack-<m>/<shard>;
 *                         ga-σ / repeat / none: computed here; round r ≥ 2
 *                         attacks the arm's round r − 1 retrained model
 *     retrain m           TrainingService on original ∪ the arm's generated sets of rounds 1..r (.npy artifact)
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
  aggregateStudy,
  armSpec,
  attackSummary,
  augmentedTrainSet,
  baselineSamples,
  carveValidation,
  initNoiseSamples,
  isAttackMethod,
  mergeAttackResults,
  methodMetrics,
  pipelineAttackConfig,
  planStages,
  resolveProtocol,
  retrainPlan,
  roundSeed,
  sampleDiagnostics,
  stepsTaken,
  summarizeDiagnostics,
  type AttackMethod,
  type AugmentationConfig,
  type AugmentationMethod,
  type AugmentationReport,
  type MethodMetrics,
  type PlannedStage,
  type ProbeKind,
  type RoundReport,
  type SampleDiagnostics,
} from '../../libs/augment/index.js';
import { initialPerturbation, type SampleResult } from '../../libs/attack/index.js';
import { BusError, isTransientNatsError, shardMsgId, shardResultKey, type Bus, type Stoppable } from '../../libs/bus/index.js';
import { encodeNpy, parseNpy, type Dataset } from '../../libs/data/index.js';
import { isTerminal, type JobStore } from '../../libs/jobs/index.js';
import { attackConfigToProto, epochReportFromProto, epochReportToProto, modelKindFromName, ProtoFieldError, sampleResultFromProto, studyMetricsToProto, v1 } from '../../libs/proto/index.js';
import { isGrpcStatusCode, Status, statusOfKind, type Logger } from '../../libs/service-kit/index.js';
import { errorKindOf, type ErrorKind } from '../../libs/errors/index.js';
import { toolInfo } from '../../libs/runtime/package-info.js';
import { MEDIA_TYPES, getByRef, putContent } from '../common/artifacts.js';
import { resolveDataset } from '../common/datasets.js';
import { isClassifierKindName } from '../common/models.js';
import type { DatasetAccess } from '../common/dataset-access.js';
import { assembleAttackResult, decodeSampleResults } from '../common/attack-results.js';
import { SubJobFailedError, abortableSleep, type EvalOutcome, type StageExecutor } from './executor.js';
import type { OrchestratorMetrics } from './metrics.js';
import { resolvePipelineConfig } from './pipeline-config.js';
import { armState, PipelineStateConflictError, PipelineStateStore, type ArmState, type EvalOutput, type ModelOutput, type SeedRun, type TrainProgress } from './state.js';

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

const TRANSIENT_GRPC: ReadonlySet<number> = new Set([Status.DEADLINE_EXCEEDED, Status.RESOURCE_EXHAUSTED, Status.ABORTED, Status.UNAVAILABLE]);
const PERMANENT_GRPC: ReadonlySet<number> = new Set([
  Status.CANCELLED,
  Status.INVALID_ARGUMENT,
  Status.NOT_FOUND,
  Status.ALREADY_EXISTS,
  Status.PERMISSION_DENIED,
  Status.FAILED_PRECONDITION,
  Status.OUT_OF_RANGE,
  Status.UNIMPLEMENTED,
  Status.UNAUTHENTICATED,
]);
/** Error kinds (libs/errors) that decide a retry by themselves: bad input and a missing thing never heal; a dependency not there yet may. */
const RETRY_OF_KIND: Partial<Record<ErrorKind, Verdict['kind']>> = { invalid: 'permanent', 'not-found': 'permanent', unavailable: 'transient' };

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Is this failure worth retrying from the last recorded stage? */
export function classify(e: unknown): Verdict {
  const message = messageOf(e);
  if (e instanceof ZodError) return { kind: 'permanent', code: Status.INVALID_ARGUMENT, message };
  const kind = errorKindOf(e);
  const retry = kind !== undefined ? RETRY_OF_KIND[kind] : undefined;
  if (kind !== undefined && retry !== undefined) return { kind: retry, code: statusOfKind(kind), message };
  if (e instanceof ShardFailedError) return { kind: 'permanent', code: e.code || Status.INTERNAL, message };
  if (e instanceof SubJobFailedError) return { kind: PERMANENT_GRPC.has(e.code) ? 'permanent' : 'unknown', code: e.code || Status.INTERNAL, message };
  const code = (e as { code?: unknown })?.code;
  if (isGrpcStatusCode(code)) {
    const details = (e as { details?: string }).details || message;
    if (TRANSIENT_GRPC.has(code)) return { kind: 'transient', code, message: details };
    if (PERMANENT_GRPC.has(code)) return { kind: 'permanent', code, message: details };
    return { kind: 'unknown', code, message: details };
  }
  if (isTransientNatsError(e) || e instanceof BusError) return { kind: 'transient', code: Status.UNAVAILABLE, message };
  return { kind: 'unknown', code: Status.INTERNAL, message };
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
  /** The study's seeds, and the one whose stages run now. */
  seeds: number[];
  seed: number;
  /** Rounds of augmentation (cfg.rounds, default 1). */
  rounds: number;
  spec: v1.PipelineConfig;
  shardSize: number;
  plan: PlannedStage[];
  ds: Dataset;
  d: number;
  refs: DatasetRefs;
  /** The study's dataset as npy refs (what trainer, evaluator and workers read). */
  datasetConfig: v1.DatasetConfig;
  /** The samples trained on and attacked (the training split less the validation split), and their rows in it. */
  fit: Float32Array;
  fitIndex: Int32Array;
  /** `fit` as x_train (the attack shards' dataset). */
  fitConfig: v1.DatasetConfig;
  /** The validation split (carveValidation), when the protocol has one. */
  validation?: Float32Array;
  /** Native sample shape (flip, rotate). */
  imageShape: number[];
  /** The ExtraTrees probe's training data (the full training split), when it is not the subset's. */
  probeDataset?: v1.DatasetConfig;
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

const PROBE_KINDS: Record<ProbeKind, v1.ProbeKind> = {
  mlp: v1.ProbeKind.PROBE_KIND_MLP,
  extratrees: v1.ProbeKind.PROBE_KIND_EXTRATREES,
  both: v1.ProbeKind.PROBE_KIND_BOTH,
};

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
    const stage: v1.Stage = { kind: STAGE_KINDS[p.kind], method: p.method, name: p.name, index, count: ctx.plan.length, ...(ctx.rounds > 1 && p.round !== undefined ? { round: p.round } : {}) };
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
    const { augmentation: cfg, seeds, shardSize } = resolvePipelineConfig(spec);
    const st = await PipelineStateStore.open(this.o.bus.kv, jobId, seeds[0]);
    const artifacts = this.o.bus.artifacts;
    const treeProbe = cfg.classifier !== false && (cfg.probe === 'extratrees' || cfg.probe === 'both');

    // The data: resolved once and stored as .npy artifacts, so every stage
    // (and every service) reads exactly the same arrays.
    let ds: Dataset;
    let refs: DatasetRefs;
    if (!st.state.dataset) {
      onStage('load dataset');
      const loaded = await resolveDataset(artifacts, spec!.dataset, { kind: cfg.model, field: 'config.dataset', dataDir: this.o.dataDir, ...(this.o.access ? { access: this.o.access } : {}) });
      ds = loaded;
      const shape = [...ds.inputShape];
      refs = {
        xTrain: await putContent(artifacts, encodeNpy([ds.train.n, ...shape], ds.train.x), { mediaType: MEDIA_TYPES.npy, name: 'x_train.npy' }),
        xTest: await putContent(artifacts, encodeNpy([ds.test.n, ...shape], ds.test.x), { mediaType: MEDIA_TYPES.npy, name: 'x_test.npy' }),
        ...(ds.train.labels ? { yTrain: await putContent(artifacts, encodeNpy([ds.train.n], ds.train.labels), { mediaType: MEDIA_TYPES.npy, name: 'y_train.npy' }) } : {}),
        ...(ds.test.labels ? { yTest: await putContent(artifacts, encodeNpy([ds.test.n], ds.test.labels), { mediaType: MEDIA_TYPES.npy, name: 'y_test.npy' }) } : {}),
      };
      // The ExtraTrees probe fits on the full training split the subset came from (extraTreesProbe).
      const full = treeProbe && ds.fullTrain ? ds.fullTrain : undefined;
      const fullConfig = full
        ? npyConfig({
            xTrain: await putContent(artifacts, encodeNpy([full.n, ...shape], full.x), { mediaType: MEDIA_TYPES.npy, name: 'x_train_full.npy' }),
            xTest: refs.xTest,
            ...(full.labels ? { yTrain: await putContent(artifacts, encodeNpy([full.n], full.labels), { mediaType: MEDIA_TYPES.npy, name: 'y_train_full.npy' }) } : {}),
            ...(refs.yTest ? { yTest: refs.yTest } : {}),
          })
        : undefined;
      const datasetConfig = npyConfig(refs);
      await st.save((s) => {
        s.dataset = {
          name: ds.name,
          inputShape: shape,
          trainSamples: ds.train.n,
          testSamples: ds.test.n,
          config: v1.DatasetConfig.toJSON(datasetConfig),
          ...(loaded.nativeShape ? { nativeShape: [...loaded.nativeShape] } : {}),
          ...(fullConfig ? { fullTrain: v1.DatasetConfig.toJSON(fullConfig) } : {}),
        };
      });
    } else {
      const saved = v1.DatasetConfig.fromJSON(st.state.dataset.config);
      const npy = saved.source?.$case === 'npy' ? saved.source.value : undefined;
      refs = { xTrain: npy!.xTrain!, xTest: npy!.xTest!, ...(npy?.yTrain ? { yTrain: npy.yTrain } : {}), ...(npy?.yTest ? { yTest: npy.yTest } : {}) };
      const loaded = await resolveDataset(artifacts, saved, { kind: cfg.model, field: 'dataset' });
      ds = { ...loaded, name: st.state.dataset.name };
    }
    const d = ds.inputShape.reduce((a, b) => a * b, 1);
    const imageShape = st.state.dataset!.nativeShape ?? ds.inputShape;
    // A supervised study (classifier kind): labels on both splits; generated samples keep their originals' labels.
    const supervised = isClassifierKindName(cfg.model);
    if (supervised && (!ds.train.labels || !ds.test.labels)) {
      throw new ProtoFieldError('config.dataset', `a ${cfg.model} study needs labels on both splits; ${ds.name} has ${ds.train.labels ? 'no test' : 'no training'} labels`);
    }
    cfg.methods.forEach((m, i) => {
      const a = armSpec(m);
      if ((a.kind === 'flip' || a.kind === 'rotate') && imageShape.length < 2) {
        throw new ProtoFieldError(`config.methods[${i}]`, `the "${m}" arm needs image data; this dataset's samples are [${imageShape.join(', ')}]`);
      }
    });

    // The validation carve (the same for every seed): the fit subset is trained on and attacked.
    let split: ReturnType<typeof carveValidation>;
    try {
      split = carveValidation(ds.train, d, cfg.validation?.fraction, cfg.validation?.seed ?? seeds[0]!);
    } catch (e) {
      throw new ProtoFieldError('config.protocol.validation.fraction', messageOf(e));
    }
    const validation = split.validation;
    const nVal = validation ? validation.length / d : 0;
    const fitConfig = validation
      ? npyConfig({ xTrain: await putContent(artifacts, encodeNpy([split.fit.n, ...ds.inputShape], split.fit.x), { mediaType: MEDIA_TYPES.npy, name: 'x_fit.npy' }), xTest: refs.xTest })
      : npyConfig(refs);
    const rounds = cfg.rounds ?? 1;
    const perSeed = planStages(cfg.methods, rounds);
    const ctx: RunCtx = {
      jobId,
      signal,
      st,
      cfg,
      seeds,
      seed: seeds[0]!,
      rounds,
      spec: spec!,
      shardSize,
      plan: seeds.flatMap((seed) => perSeed.map((p) => (seeds.length > 1 ? { ...p, name: `seed ${seed}: ${p.name}` } : p))),
      ds,
      d,
      refs,
      datasetConfig: npyConfig(refs),
      fit: split.fit.x,
      fitIndex: split.fitIndex,
      fitConfig,
      ...(validation ? { validation } : {}),
      imageShape,
      ...(st.state.dataset!.fullTrain ? { probeDataset: v1.DatasetConfig.fromJSON(st.state.dataset!.fullTrain) } : {}),
      progress: new Progressor((p) => this.o.jobs.progress(jobId, p), this.o.progressIntervalMs ?? 250),
      stage: '',
    };
    // Training data with the validation rows last (TrainConfig.validation_samples).
    const withValidation = async (x: Float32Array, name: string): Promise<v1.DatasetConfig> => {
      if (!validation) {
        if (x === ds.train.x) return ctx.datasetConfig;
        return npyConfig({ xTrain: await putContent(artifacts, encodeNpy([x.length / d, ...ds.inputShape], x), { mediaType: MEDIA_TYPES.npy, name }), xTest: refs.xTest });
      }
      const all = new Float32Array(x.length + validation.length);
      all.set(x, 0);
      all.set(validation, x.length);
      return npyConfig({ xTrain: await putContent(artifacts, encodeNpy([all.length / d, ...ds.inputShape], all), { mediaType: MEDIA_TYPES.npy, name }), xTest: refs.xTest });
    };
    const schedule = cfg.retrainSchedule ?? 'longer';

    for (const [si, seed] of seeds.entries()) {
      ctx.seed = seed;
      const run = st.run(seed);
      const at = si * perSeed.length;
      const setStage = (i: number) => onStage(ctx.plan[at + i]!.name);
      const key = (k: string) => (seeds.length > 1 ? `s${seed}.${k}` : k);

      // 0, 1: the original model.
      run.original ??= {};
      setStage(0);
      if (!run.original.train?.model) {
        await this.enter(ctx, at);
        run.original.train ??= { attempt: 0 };
        const data = supervised ? ctx.datasetConfig : await withValidation(split.fit.x, 'x_train_val.npy');
        await this.train(ctx, key('original'), run.original.train, data, { epochs: cfg.epochs, ...(cfg.validation ? { patience: cfg.validation.patience } : {}) }, nVal, split.fit.n);
      }
      const original = run.original.train!.model!;
      const originalRecord = { epochs: original.history.length, steps: original.steps ?? stepsTaken(original.history.length, split.fit.n, cfg.batchSize) };
      setStage(1);
      if (!run.original.eval) {
        await this.enter(ctx, at + 1);
        const ev = await this.evaluate(ctx, original);
        await st.save(() => void (run.original!.eval = ev));
      }
      const base = supervised ? undefined : run.original.eval!.testReconError;

      // The arms, each round by round: round r builds on the arm's round r − 1 (its model, its training set).
      for (const [k, m] of cfg.methods.entries()) {
        for (let round = 1; round <= rounds; round++) {
          const arm = armState(run, m, round);
          const previous = round > 1 ? armState(run, m, round - 1) : undefined;
          const first = 2 + 3 * (k * rounds + round - 1); // planStages' order
          setStage(first);
          if (!arm.generated) {
            await this.enter(ctx, at + first);
            await this.generate(ctx, run, m, round, previous);
          }
          setStage(first + 1);
          if (!arm.retrain?.model) {
            await this.enter(ctx, at + first + 1);
            arm.retrain ??= { attempt: 0 };
            const trainSet = await this.loadFloat(arm.generated!.trainSet, 'train set');
            const trainN = trainSet.length / d;
            const plan = retrainPlan(cfg, schedule, originalRecord, trainN);
            const data = supervised
              ? await this.labelledTrainSet(ctx, arm.generated!.trainSet, trainN, `${armTag(ctx, m, round)}-train-y.npy`)
              : validation
                ? await withValidation(trainSet, `${armTag(ctx, m, round)}-train-val.npy`)
                : npyConfig({ xTrain: refFrom(arm.generated!.trainSet), xTest: refs.xTest });
            // Round 1 keeps a one-round job's request ids (a job resumed across an upgrade finds its training jobs).
            await this.train(ctx, key(round > 1 ? `r${round}.${m}` : m), arm.retrain, data, plan, nVal, trainN);
          }
          setStage(first + 2);
          if (!arm.eval) {
            await this.enter(ctx, at + first + 2);
            const ev = await this.evaluate(ctx, arm.retrain!.model!, base);
            await st.save(() => void (arm.eval = ev));
          }
        }
      }
    }

    // Done: the result mirrors metrics.json (the study form).
    onStage('complete');
    ctx.progress.reset();
    const result = await this.result(ctx);
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
    if (isClassifierKindName(ctx.cfg.model)) {
      return {
        kind: modelKindFromName(ctx.cfg.model),
        inputShape: [],
        hidden: m.hidden,
        selectedFeatures: 0,
        classes: m.classes,
        ...(m.learningRate !== undefined ? { learningRate: m.learningRate } : {}),
        seed: ctx.seed,
        architecture: m.architecture,
      };
    }
    return { kind: modelKindFromName(ctx.cfg.model), inputShape: [], hidden: m.hidden, selectedFeatures: m.selectedFeatures, classes: 0, seed: ctx.seed, architecture: v1.CnnArchitecture.CNN_ARCHITECTURE_UNSPECIFIED };
  }

  /**
   * A supervised retraining set with its labels: the set is the fit samples
   * followed by generated sets aligned with them (original ∪ generated, and
   * per round), so its labels are the fit labels repeated.
   */
  private async labelledTrainSet(ctx: RunCtx, trainSet: unknown, rows: number, name: string): Promise<v1.DatasetConfig> {
    const fitLabels = ctx.ds.train.labels!;
    const n = fitLabels.length;
    if (n === 0 || rows % n !== 0) throw new Error(`a retraining set of ${rows} rows is not a whole number of copies of the ${n} training samples`);
    const labels = new Int32Array(rows);
    for (let at = 0; at < rows; at += n) labels.set(fitLabels, at);
    const yTrain = await putContent(this.o.bus.artifacts, encodeNpy([rows], labels), { mediaType: MEDIA_TYPES.npy, name });
    return npyConfig({ xTrain: refFrom(trainSet), xTest: ctx.refs.xTest, yTrain, ...(ctx.refs.yTest ? { yTest: ctx.refs.yTest } : {}) });
  }

  private async loadFloat(ref: unknown, what: string): Promise<Float32Array> {
    return parseNpy(await getByRef(this.o.bus.artifacts, refFrom(ref), what), `${what}.npy`).data as Float32Array;
  }

  /**
   * A training stage: one training job per attempt; its model recorded before
   * returning. With a validation split its last `validationSamples` rows are
   * the validation data (libs/augment trainFresh's `validation`).
   */
  private async train(
    ctx: RunCtx,
    key: string,
    tp: TrainProgress,
    dataset: v1.DatasetConfig,
    plan: { epochs: number; patience?: number; maxSteps?: number },
    validationSamples: number,
    /** Samples trained on (the validation rows aside). */
    rows: number,
  ): Promise<ModelOutput> {
    const { st, jobId, signal, cfg } = ctx;
    const minDelta = cfg.validation?.minDelta;
    const spec: v1.TrainingJobSpec = {
      dataset,
      model: this.modelConfig(ctx),
      config: v1.TrainConfig.fromPartial({
        epochs: plan.epochs,
        batchSize: cfg.batchSize,
        seed: ctx.seed,
        ...(plan.patience !== undefined ? { earlyStopping: { patience: plan.patience, minDelta: minDelta ?? 0, restoreBest: cfg.validation?.restoreBest === true } } : {}),
        validationSamples,
        maxSteps: plan.maxSteps ?? 0,
        ...(cfg.convergence ? { convergence: { enabled: true, maxEpochs: cfg.convergence.maxEpochs, threshold: cfg.convergence.threshold } } : {}),
      }),
    };
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
        const history = out.history.epochs.map(epochReportFromProto);
        const model: ModelOutput = {
          modelId: out.modelId,
          artifacts: v1.ModelArtifacts.toJSON(out.artifacts),
          history,
          stoppedEarly: out.history.stoppedEarly,
          steps: stepsTaken(history.length, rows, cfg.batchSize, plan.maxSteps),
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
    if (isClassifierKindName(ctx.cfg.model)) {
      // A classifier's own test accuracy (EvaluationService scores classifiers directly).
      const out = await this.o.executor.evaluate(
        {
          model: { source: { $case: 'artifacts', value: v1.ModelArtifacts.fromJSON(model.artifacts) } },
          dataset: ctx.datasetConfig,
          config: v1.EvalConfig.fromPartial({ split: v1.DatasetSplit.DATASET_SPLIT_TEST, skipDownstream: true }),
        },
        ctx.signal,
      );
      if (out.accuracy === undefined) throw new SubJobFailedError('', 13, 'EvaluationService returned no accuracy for a classifier');
      return { accuracy: out.accuracy, backend: out.backend };
    }
    const c = ctx.cfg.classifier ?? {};
    const probe = ctx.cfg.probe ?? 'mlp';
    const req: v1.EvaluateRequest = {
      model: { source: { $case: 'artifacts', value: v1.ModelArtifacts.fromJSON(model.artifacts) } },
      dataset: ctx.datasetConfig,
      config: v1.EvalConfig.fromPartial({
        split: v1.DatasetSplit.DATASET_SPLIT_TEST,
        batchSize: 0,
        // Explicit values: the same probe runAugmentation trains (downstreamOptions).
        downstream: c === false ? undefined : { epochs: c.epochs ?? 50, hidden: c.hidden ?? 64, batchSize: c.batchSize ?? 32, seed: c.seed ?? ctx.seed },
        skipDownstream: c === false,
        probe: PROBE_KINDS[probe],
        probeTrainSamples: ctx.cfg.probeTrainSamples ?? 0,
        probeSeed: ctx.seed,
      }),
      ...(ctx.probeDataset ? { probeDataset: ctx.probeDataset } : {}),
      ...(baseline !== undefined ? { baselineReconError: baseline } : {}),
    };
    const out: EvalOutcome = await this.o.executor.evaluate(req, ctx.signal);
    const labelled = c !== false && ctx.ds.train.labels !== undefined && ctx.ds.test.labels !== undefined;
    if (out.testReconError === undefined) throw new SubJobFailedError('', 13, 'EvaluationService returned no test_recon_error');
    return {
      testReconError: out.testReconError,
      ...(labelled && out.accuracy !== undefined ? { accuracy: out.accuracy } : {}),
      ...(out.accuracyExtratrees !== undefined ? { accuracyExtratrees: out.accuracyExtratrees } : {}),
      ...(out.selectionConvergence !== undefined ? { selectionConvergence: out.selectionConvergence, selectedFeatures: out.selectedFeatures ?? [] } : {}),
      backend: out.backend,
    };
  }

  /** An attack arm's per-sample results (x′ included) from its assembled AttackResult. */
  private async attackResults(attack: v1.AttackResult): Promise<SampleResult[]> {
    const artifacts = this.o.bus.artifacts;
    const xAdv = parseNpy(await getByRef(artifacts, attack.xAdv, 'x_adv'), 'x_adv.npy').data as Float32Array;
    const rows = decodeSampleResults(await getByRef(artifacts, attack.results, 'results'));
    const d = rows.length > 0 ? xAdv.length / rows.length : 0;
    return rows.map((r, i) => ({ ...sampleResultFromProto(r, `results[${i}]`), xAdv: xAdv.subarray(i * d, (i + 1) * d) }));
  }

  /**
   * A generate stage of arm `m` in `round`: the attack (or augmentation) with
   * the round's seed (roundSeed), against the original in round 1 and the
   * arm's `previous` round's retrained model after; the retraining set is the
   * previous round's plus this round's set (original ∪ rounds 1..r).
   */
  private async generate(ctx: RunCtx, run: SeedRun, m: AugmentationMethod, round: number, previous: ArmState | undefined): Promise<void> {
    const { st, d, cfg, fit } = ctx;
    const n = fit.length / d;
    const arm = armState(run, m, round);
    const seed = roundSeed(ctx.seed, round);
    if (arm.generateStartedAt === undefined) await st.save(() => void (arm.generateStartedAt = Date.now()));
    const artifacts = this.o.bus.artifacts;
    let generated: Float32Array | undefined;
    let attack: v1.AttackResult | undefined;
    let attackedModel: v1.ModelArtifacts | undefined;
    if (isAttackMethod(m)) {
      const target = previous ? previous.retrain!.model! : run.original!.train!.model!;
      attackedModel = v1.ModelArtifacts.fromJSON(target.artifacts);
      attack = await this.attack(ctx, arm, m, round, attackedModel);
      // Failures are replaced by their originals (the paper's Section 4.1).
      generated = mergeAttackResults(fit, d, await this.attackResults(attack));
    } else if (m === 'init-noise') {
      // Exactly the δ0 the MINE arm of this seed and round started from, under its success mask.
      const mine = armState(run, 'mine', round).generated?.attack;
      if (!mine) throw new ProtoFieldError('config.methods', '"init-noise" needs the "mine" arm before it');
      const results = await this.attackResults(v1.AttackResult.fromJSON(mine));
      const delta0 = initialPerturbation(pipelineAttackConfig('mine', cfg.model, cfg.attack, seed), ctx.ds.inputShape, fit, results.map((r) => r.sampleId));
      generated = initNoiseSamples(fit, delta0, Uint8Array.from(results, (r) => (r.success ? 1 : 0)));
    } else {
      generated = baselineSamples(m, fit, d, seed, ctx.imageShape);
    }
    const secondsPerSample = attack ? attack.secondsPerSample : (Date.now() - arm.generateStartedAt!) / 1000 / n;
    // Original ∪ the arm's sets of rounds 1..r (SuppMat 6.15): the previous round's training set ∪ this round's.
    const base = previous ? await this.loadFloat(previous.generated!.trainSet, 'train set') : fit;
    const trainSet = augmentedTrainSet(base, generated);
    const shape = ctx.ds.inputShape;
    const name = armTag(ctx, m, round);
    const xRef = generated && m !== 'repeat' ? await putContent(artifacts, encodeNpy([n, ...shape], generated), { mediaType: MEDIA_TYPES.npy, name: `${name}-x.npy` }) : undefined;
    const trainRef = await putContent(artifacts, encodeNpy([trainSet.length / d, ...shape], trainSet), { mediaType: MEDIA_TYPES.npy, name: `${name}-train.npy` });
    await st.save(() => {
      arm.generated = {
        secondsPerSample,
        ...(xRef ? { x: refJson(xRef) } : {}),
        trainSet: refJson(trainRef),
        ...(attack ? { attack: v1.AttackResult.toJSON(attack), asr: attack.asr } : {}),
        ...(attackedModel ? { attackedModel: v1.ModelArtifacts.toJSON(attackedModel) } : {}),
      };
    });
  }

  /** An attack arm's round on the work queue: publish the missing shards, wait for every result, assemble. */
  private async attack(ctx: RunCtx, arm: ArmState, m: AttackMethod, round: number, model: v1.ModelArtifacts): Promise<v1.AttackResult> {
    const { st, jobId, signal, cfg } = ctx;
    const { bus } = this.o;
    const n = ctx.fit.length / ctx.d;
    // Unique per arm, seed and round, so shards of different rounds never share a key or a msg id.
    const tag = armTag(ctx, m, round);
    if (!arm.shards) await st.save(() => void (arm.shards = { count: Math.ceil(n / ctx.shardSize), size: ctx.shardSize, kind: `attack-${tag}` }));
    const { count, size, kind } = arm.shards!;
    const config = attackConfigToProto(pipelineAttackConfig(m, cfg.model, cfg.attack, roundSeed(ctx.seed, round)));
    const keys = Array.from({ length: count }, (_, i) => shardResultKey(jobId, i, kind));
    const token = (i: number) => `${tag}-${i}`;
    const shard = (i: number): v1.AttackShard => ({
      jobId,
      method: m,
      shardIndex: i,
      shardCount: count,
      sampleStart: i * size,
      sampleCount: Math.min(size, n - i * size),
      model: { source: { $case: 'artifacts', value: model } },
      // The fit subset (the training split less the validation split).
      dataset: ctx.fitConfig,
      split: v1.DatasetSplit.DATASET_SPLIT_TRAIN,
      config,
      resultKey: keys[i]!,
      // Classifiers: the workers read the true labels from the dataset's y_train (untargeted cw, loss).
      labels: [],
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
            // Only this arm's and seed's shards (a late copy from another seed has another key).
            if (c.method === m && keys[c.shardIndex] === c.resultKey) {
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

  /**
   * Per seed, the AugmentationReport runAugmentation would have returned (the
   * fields aggregateStudy reads), from the recorded stage outputs and the
   * assembled attack results; then the study's aggregate (metrics.json).
   */
  private async seedReport(ctx: RunCtx, seed: number): Promise<AugmentationReport> {
    const { st, cfg, d, fit } = ctx;
    const s = st.state;
    const run = s.runs[String(seed)]!;
    const orig = run.original!;
    const supervised = isClassifierKindName(cfg.model);
    const base = orig.eval!.testReconError;
    const nVal = ctx.validation ? ctx.validation.length / d : 0;
    // Version-1 states lack `steps`: their schedule was `longer` (no step cap).
    const record = (model: ModelOutput, ev: EvalOutput, n: number) => ({
      train_steps: model.steps ?? stepsTaken(model.history.length, n, cfg.batchSize),
      train_epochs: model.history.length,
      ...(ev.selectionConvergence !== undefined ? { selection_convergence: ev.selectionConvergence } : {}),
      ...(ev.selectedFeatures && ev.selectionConvergence !== undefined ? { selected_features: ev.selectedFeatures } : {}),
    });
    const probes = (ev: EvalOutput) => ({
      ...(ev.accuracy !== undefined ? { accuracy: ev.accuracy } : {}),
      ...(ev.accuracyExtratrees !== undefined ? { accuracy_extratrees: ev.accuracyExtratrees } : {}),
    });
    // Classifiers: accuracy is the metric (no reconstruction error, no improvement).
    const original = { ...(base !== undefined ? { test_recon_error: base } : {}), ...probes(orig.eval!), ...record(orig.train!.model!, orig.eval!, fit.length / d) };
    // Every round as runAugmentation records it ('original' in each); the top level is the last.
    const roundRecords: RoundReport[] = [];
    for (let round = 1; round <= ctx.rounds; round++) {
      const methods: Record<string, unknown> = { original };
      const generated: AugmentationReport['generated'] = {};
      for (const m of cfg.methods) {
        const arm = armState(run, m, round);
        const g = arm.generated!;
        let results: SampleResult[] | undefined;
        let diagnostics: SampleDiagnostics[] | undefined;
        if (g.attack !== undefined) {
          results = await this.attackResults(v1.AttackResult.fromJSON(g.attack));
          const config = pipelineAttackConfig(m, cfg.model, cfg.attack, roundSeed(seed, round));
          diagnostics = sampleDiagnostics(fit, initialPerturbation(config, ctx.ds.inputShape, fit, results.map((r) => r.sampleId)), results);
          generated[m] = { x: new Float32Array(0), results, diagnostics };
        }
        const ev = arm.eval!;
        // Round r retrains on the originals and one set per round (`none`: the originals alone).
        const trainRows = (m === 'none' ? 1 : round + 1) * (fit.length / d);
        const summary = results ? attackSummary(m, results) : undefined;
        const mm: MethodMetrics = {
          ...(supervised || base === undefined || ev.testReconError === undefined
            ? ({
                ...(ev.accuracy !== undefined ? { accuracy: ev.accuracy } : {}),
                seconds_per_sample: g.secondsPerSample,
                ...(summary ? { asr: summary.asr, ...('mi' in summary ? { mi: summary.mi } : {}) } : {}),
              } as MethodMetrics)
            : methodMetrics(base, ev.testReconError, { accuracy: ev.accuracy }, g.secondsPerSample, summary)),
          ...(ev.accuracyExtratrees !== undefined ? { accuracy_extratrees: ev.accuracyExtratrees } : {}),
          ...record(arm.retrain!.model!, ev, trainRows),
          ...(diagnostics ? { diagnostics: summarizeDiagnostics(diagnostics) } : {}),
        };
        methods[m] = mm;
      }
      roundRecords.push({ round, methods: methods as RoundReport['methods'], generated, history: {} });
    }
    const last = roundRecords.at(-1)!;
    return {
      dataset: s.dataset!.name,
      model: cfg.model,
      backend: orig.eval!.backend ?? '',
      seed,
      train_samples: fit.length / d,
      validation_samples: nVal,
      test_samples: s.dataset!.testSamples,
      protocol: resolveProtocol({ ...cfg, seed }, nVal),
      methods: last.methods,
      ...(ctx.rounds > 1 ? { rounds: roundRecords } : {}),
      generated: last.generated,
      history: {},
      trainX: fit,
      trainIndex: ctx.fitIndex,
    };
  }

  private async result(ctx: RunCtx): Promise<v1.PipelineResult> {
    const { st, cfg, seeds } = ctx;
    const reports: AugmentationReport[] = [];
    for (const seed of seeds) reports.push(await this.seedReport(ctx, seed));
    const outputs = seeds.map((seed): v1.SeedOutputs => {
      const run = st.state.runs[String(seed)]!;
      const orig = run.original!.train!.model!;
      const rounds = Array.from({ length: ctx.rounds }, (_, i) => roundOutputs(run, cfg.methods, i + 1));
      const last = rounds.at(-1)!;
      return {
        seed,
        generated: last.generated,
        models: { original: v1.ModelArtifacts.fromJSON(orig.artifacts), ...last.models },
        history: { original: historyToProto(orig), ...last.history },
        rounds: ctx.rounds > 1 ? rounds : [],
      };
    });
    const first = outputs[0]!;
    // tool_version: the result document's tool.version (libs/results).
    const metrics = { ...studyMetricsToProto(aggregateStudy(reports)), toolVersion: toolInfo().version };
    return { metrics, generated: first.generated, models: first.models, history: first.history, seedOutputs: outputs };
  }
}

/** One round's generated sets, retrained models and histories of one seed's run. */
function roundOutputs(run: SeedRun, methods: readonly AugmentationMethod[], round: number): v1.RoundOutputs {
  const generated: Record<string, v1.GeneratedSet> = {};
  const models: Record<string, v1.ModelArtifacts> = {};
  const history: Record<string, v1.TrainHistory> = {};
  for (const m of methods) {
    const arm = armState(run, m, round);
    const g = arm.generated!;
    if (g.x !== undefined) {
      generated[m] = {
        x: refFrom(g.x),
        ...(g.attack !== undefined ? { attack: v1.AttackResult.fromJSON(g.attack) } : {}),
        ...(g.attackedModel !== undefined ? { attackedModel: v1.ModelArtifacts.fromJSON(g.attackedModel) } : {}),
      };
    }
    models[m] = v1.ModelArtifacts.fromJSON(arm.retrain!.model!.artifacts);
    history[m] = historyToProto(arm.retrain!.model!);
  }
  return { round, generated, models, history };
}

/**
 * An arm's token in subjects, result keys and artifact names: the arm
 * (safeToken), `-s<seed>` with several seeds, `-r<round>` from round 2 (round
 * 1 keeps a one-round job's names, so its stored shards are found on resume).
 */
function armTag(ctx: Pick<RunCtx, 'seeds' | 'seed'>, m: string, round: number): string {
  return safeToken(m) + (ctx.seeds.length > 1 ? `-s${ctx.seed}` : '') + (round > 1 ? `-r${round}` : '');
}

/** An arm's name as a NATS subject token / key segment ([A-Za-z0-9_-]): "mine@0.05" → "mine_at_0p05". */
export function safeToken(method: string): string {
  return method.replace(/@/g, '_at_').replace(/\./g, 'p').replace(/[^A-Za-z0-9_-]/g, '_');
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
