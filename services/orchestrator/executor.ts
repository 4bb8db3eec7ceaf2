/**
 * Where a pipeline's training and evaluation stages run.
 *
 *   GrpcStageExecutor       TrainingService.Train (a training job, followed in
 *                           the shared job store until it ends) and
 *                           EvaluationService.Evaluate, at UAE_TRAINER_ADDR /
 *                           UAE_EVALUATOR_ADDR
 *   InProcessStageExecutor  the same library calls in the orchestrator's own
 *                           process (when those addresses are not configured)
 *
 * Both compute exactly what libs/augment's runAugmentation computes for the
 * same inputs (trainFresh's model + shuffle seeding, reconstructionError,
 * downstreamAccuracy).
 */
import * as grpc from '@grpc/grpc-js';
import type { Bus } from '../../libs/bus/index.js';
import { isTerminal, type JobStore } from '../../libs/jobs/index.js';
import { epochReportToProto, v1 } from '../../libs/proto/index.js';
import { putClassifierArtifacts, putModelArtifacts } from '../common/models.js';
import { resolveDataset } from '../common/datasets.js';

export interface TrainOutcome {
  modelId: string;
  artifacts: v1.ModelArtifacts;
  history: v1.TrainHistory;
}

export interface EvalOutcome {
  /** Autoencoders; unset for a classifier (accuracy only). */
  testReconError?: number;
  accuracy?: number;
  accuracyExtratrees?: number;
  selectionConvergence?: number;
  selectedFeatures?: number[];
  backend: string;
}

function outcome(m: v1.EvalMetrics, backend: string): EvalOutcome {
  return {
    ...(m.testReconError !== undefined ? { testReconError: m.testReconError } : {}),
    ...(m.accuracy !== undefined ? { accuracy: m.accuracy } : {}),
    ...(m.accuracyExtratrees !== undefined ? { accuracyExtratrees: m.accuracyExtratrees } : {}),
    ...(m.selectionConvergence !== undefined ? { selectionConvergence: m.selectionConvergence, selectedFeatures: [...m.selectedFeatures] } : {}),
    backend,
  };
}

export interface TrainHooks {
  signal: AbortSignal;
  /** A training job was created (or found by its request id): record it before waiting. */
  onJob?(jobId: string): Promise<void>;
  onProgress?(p: v1.Progress): void;
}

export interface StageExecutor {
  readonly mode: 'grpc' | 'in-process';
  train(req: v1.TrainRequest, hooks: TrainHooks): Promise<TrainOutcome>;
  evaluate(req: v1.EvaluateRequest, signal: AbortSignal): Promise<EvalOutcome>;
  close(): void;
}

/** A training job that ended without a model. `code` is its gRPC status code. */
export class SubJobFailedError extends Error {
  constructor(
    readonly jobId: string,
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'SubJobFailedError';
  }
}

function abortError(signal: AbortSignal): Error {
  const r = signal.reason;
  return r instanceof Error ? r : Object.assign(new Error('aborted'), { name: 'AbortError' });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

type UnaryFn<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => grpc.ClientUnaryCall;

/** A unary call as a promise, cancelled when `signal` fires. */
function call<Req, Res>(fn: UnaryFn<Req, Res>, req: Req, md: grpc.Metadata, signal: AbortSignal, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    const onAbort = () => c.cancel();
    const c = fn(req, md, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) return reject(abortError(signal));
      if (err) return reject(err);
      resolve(res);
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface GrpcExecutorOptions {
  trainerAddr: string;
  evaluatorAddr: string;
  /** Bearer token for the calls (ServiceContext.callToken: read per call, so a rotated tokens file applies); none when auth is off. */
  token?: string | (() => string | undefined);
  jobs: JobStore;
  /** Job-record poll interval while waiting for a training job (default 1000 ms). */
  pollMs?: number;
  /** Deadline of one Evaluate call (default 30 min). */
  evaluateTimeoutMs?: number;
  /** Channel credentials (default plaintext); servicesCredentials() builds TLS from the kit's configuration. */
  credentials?: grpc.ChannelCredentials;
}

export class GrpcStageExecutor implements StageExecutor {
  readonly mode = 'grpc';
  private readonly trainer: v1.TrainingServiceClient;
  private readonly evaluator: v1.EvaluationServiceClient;
  private readonly channelOptions = {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  };

  constructor(private readonly o: GrpcExecutorOptions) {
    const creds = o.credentials ?? grpc.credentials.createInsecure();
    this.trainer = new v1.TrainingServiceClient(o.trainerAddr, creds, this.channelOptions);
    this.evaluator = new v1.EvaluationServiceClient(o.evaluatorAddr, creds, this.channelOptions);
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    const token = typeof this.o.token === 'function' ? this.o.token() : this.o.token;
    if (token) md.set('authorization', `Bearer ${token}`);
    return md;
  }

  async train(req: v1.TrainRequest, hooks: TrainHooks): Promise<TrainOutcome> {
    const res = await call<v1.TrainRequest, v1.TrainResponse>(this.trainer.train.bind(this.trainer) as UnaryFn<v1.TrainRequest, v1.TrainResponse>, req, this.metadata(), hooks.signal, 60_000);
    const jobId = res.job!.jobId;
    await hooks.onJob?.(jobId);
    const job = await this.waitForJob(jobId, hooks);
    if (job.state === v1.JobState.JOB_STATE_SUCCEEDED) {
      const r = job.result?.kind?.$case === 'training' ? job.result.kind.value : undefined;
      if (!r?.artifacts) throw new SubJobFailedError(jobId, grpc.status.INTERNAL, `training job ${jobId} succeeded without a model`);
      return { modelId: r.modelId || res.modelId, artifacts: r.artifacts, history: r.history ?? { epochs: [], stoppedEarly: false } };
    }
    const code = job.state === v1.JobState.JOB_STATE_CANCELLED ? grpc.status.CANCELLED : (job.error?.code ?? grpc.status.INTERNAL);
    throw new SubJobFailedError(jobId, code, `training job ${jobId} ${v1.jobStateToJSON(job.state).replace('JOB_STATE_', '').toLowerCase()}: ${job.error?.message ?? ''}`);
  }

  /** Follows a job's events (progress) and polls its record until it is terminal. */
  private async waitForJob(jobId: string, hooks: TrainHooks): Promise<v1.Job> {
    let wake: (() => void) | undefined;
    const sub = await this.o.jobs
      .watch(jobId, 0, (e) => {
        if (e.payload?.$case === 'progress' && e.payload.value.progress) hooks.onProgress?.(e.payload.value.progress);
        if (e.payload && ['completed', 'failed', 'cancelled'].includes(e.payload.$case)) wake?.();
      })
      .catch(() => undefined); // the poll below is enough without events
    try {
      for (;;) {
        hooks.signal.throwIfAborted();
        const job = await this.o.jobs.require(jobId);
        if (isTerminal(job.state)) return job;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(t);
            hooks.signal.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          const t = setTimeout(done, this.o.pollMs ?? 1000);
          wake = done;
          hooks.signal.addEventListener('abort', done, { once: true });
        });
      }
    } finally {
      await sub?.stop().catch(() => {});
    }
  }

  async evaluate(req: v1.EvaluateRequest, signal: AbortSignal): Promise<EvalOutcome> {
    const res = await call<v1.EvaluateRequest, v1.EvaluateResponse>(
      this.evaluator.evaluate.bind(this.evaluator) as UnaryFn<v1.EvaluateRequest, v1.EvaluateResponse>,
      req,
      this.metadata(),
      signal,
      this.o.evaluateTimeoutMs ?? 30 * 60_000,
    );
    const m = res.metrics;
    if (m?.testReconError === undefined && m?.accuracy === undefined) throw new SubJobFailedError('', 13, 'EvaluationService returned neither test_recon_error nor accuracy');
    return outcome(m, res.backend);
  }

  close(): void {
    this.trainer.close();
    this.evaluator.close();
  }
}

/** Runs the stages with the libraries in this process (tfjs must be initialised). */
export class InProcessStageExecutor implements StageExecutor {
  readonly mode = 'in-process';
  constructor(private readonly bus: Pick<Bus, 'artifacts'>) {}

  async train(req: v1.TrainRequest, hooks: TrainHooks): Promise<TrainOutcome> {
    // The trainer's code (services/common/training.ts, shared with the trainer service): validation rows, step cap, convergence loop.
    const { isClassifierSpec, parseTrainingSpec, trainFromSpec } = await import('../common/training.js');
    if (isClassifierSpec(req.spec)) return this.trainClassifier(req, hooks);
    const parsed = parseTrainingSpec(req.spec, 'spec');
    const ds = await resolveDataset(this.bus.artifacts, req.spec!.dataset, { kind: parsed.kind, field: 'spec.dataset' });
    const started = Date.now();
    const epochs = parsed.epochs;
    const run = await trainFromSpec(ds, parsed, {
      signal: hooks.signal,
      onEpoch: (e) =>
        hooks.onProgress?.({
          samplesDone: 0,
          samplesTotal: 0,
          samplesSucceeded: 0,
          asr: 0,
          fraction: (e.epoch + 1) / epochs,
          samplesPerSecond: e.samplesPerSec,
          elapsedSeconds: (Date.now() - started) / 1000,
          epochsDone: e.epoch + 1,
          epochsTotal: epochs,
          loss: e.loss,
        }),
    });
    try {
      const artifacts = await putModelArtifacts(this.bus.artifacts, run.ae);
      return { modelId: '', artifacts, history: { epochs: run.history.map(epochReportToProto), stoppedEarly: run.stoppedEarly } };
    } finally {
      run.ae.dispose();
    }
  }

  /** A classifier, as the trainer trains it (services/common/training.ts trainClassifierFromSpec). */
  private async trainClassifier(req: v1.TrainRequest, hooks: TrainHooks): Promise<TrainOutcome> {
    const { parseClassifierSpec, trainClassifierFromSpec } = await import('../common/training.js');
    const parsed = parseClassifierSpec(req.spec, 'spec');
    const ds = await resolveDataset(this.bus.artifacts, req.spec!.dataset, { kind: parsed.kind, field: 'spec.dataset' });
    const run = await trainClassifierFromSpec(ds, parsed, { signal: hooks.signal });
    try {
      const artifacts = await putClassifierArtifacts(this.bus.artifacts, run.classifier, { test_accuracy: run.testAccuracy });
      return { modelId: '', artifacts, history: { epochs: run.history.map(epochReportToProto), stoppedEarly: run.stoppedEarly } };
    } finally {
      run.classifier.dispose();
    }
  }

  async evaluate(req: v1.EvaluateRequest, signal: AbortSignal): Promise<EvalOutcome> {
    // The evaluator's handler (services/common/evaluation.ts, shared with the evaluator service), in this process.
    const { evaluationHandlers } = await import('../common/evaluation.js');
    // Its metrics are the evaluator process's, not ours: a no-op registry here.
    const noop = { inc() {}, set() {}, observe() {} };
    const metrics = { counter: () => noop, gauge: () => noop, histogram: () => noop } as unknown as Parameters<typeof evaluationHandlers>[0]['metrics'];
    const handlers = evaluationHandlers({ bus: this.bus as Bus, metrics, logger: undefined as never });
    const res = await handlers.evaluate(req, { signal });
    return outcome(res.metrics!, res.backend);
  }

  close(): void {}
}

export { sleep as abortableSleep };
