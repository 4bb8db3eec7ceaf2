/**
 * The trainer's background work: runs TRAINING jobs in this process.
 *
 * - Who runs a job: a lease in the KV bucket, `leases.training.<job_id>` =
 *   {owner, expiresAt}, taken with create / compare-and-set and renewed every
 *   leaseMs/3 while the job runs. Only the holder trains; a replica that fails
 *   to renew (another took the lease after it expired) aborts its run. So with
 *   several trainer replicas on one NATS, each job runs on one of them, and a
 *   job whose trainer died is picked up by another (or by the restarted one)
 *   once its lease expired.
 * - What gets run: every scan (at start-up, after Train, when a slot frees, and
 *   every scanMs) lists the QUEUED/RUNNING training jobs and claims as many as
 *   there are free slots (`concurrency`). Training is deterministic, so a job
 *   that was RUNNING when its trainer died is re-run from scratch; the model
 *   id and record key are functions of the job id, so the re-run rewrites the
 *   same record.
 * - Cancellation: a KV watch on the job's record (plus a check at each lease
 *   renewal) aborts trainAutoencoder through its AbortSignal when the job
 *   turns CANCELLED (JobService.CancelJob) — or terminal by anyone else.
 * - Shutdown: running jobs are aborted, stay RUNNING and their leases are
 *   released, so the next trainer resumes them at once.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { jobStateKey, KvConflictError, type Stoppable } from '../../libs/bus/index.js';
import { isTerminal } from '../../libs/jobs/index.js';
import { epochReportToProto, v1 } from '../../libs/proto/index.js';
import { statusFromError, Status } from '../../libs/service-kit/index.js';
import type { EpochReport } from '../../libs/models/index.js';
import type { ResourceBudget } from '../../libs/limits/index.js';
import { resolveDataset } from '../common/datasets.js';
import { serviceErrorMappers } from '../common/errors.js';
import { backendFaultMessage, isBackendFault } from '../common/backend-fault.js';
import type { DatasetAccess } from '../common/dataset-access.js';
import { modelIdForJob, modelRecordKey, saveModel } from '../common/models.js';
import type { ServiceDeps } from '../common/service.js';
import { isClassifierSpec, parseClassifierSpec, parseTrainingSpec, trainClassifierFromSpec, trainFromSpec } from '../common/training.js';

export interface TrainingRunnerOptions {
  /** Jobs trained at once in this process (default 1). */
  concurrency?: number;
  /** Lease time-to-live (default 30 s); a dead trainer's job is taken over after this. */
  leaseMs?: number;
  /** Period of the scan for claimable jobs (default leaseMs). */
  scanMs?: number;
  /** This replica's lease owner id (default host-pid-random). */
  owner?: string;
  /** Minimum interval between progress updates of one job (default 250 ms; the last epoch is always reported). */
  progressIntervalMs?: number;
  /** Server-side dataset paths allowed (idx:/csv:/npy:DIR; default none, dataset-access.ts). */
  access?: DatasetAccess;
  /** Resource budget a job is checked against before it allocates (default libs/limits DEFAULT_BUDGET). */
  budget?: ResourceBudget;
}

interface Lease {
  owner: string;
  expiresAt: number;
}

type StopReason = 'cancelled' | 'shutdown' | 'lease-lost';

class RunAbort extends Error {
  constructor(readonly why: StopReason, message: string) {
    super(message);
    this.name = 'AbortError';
  }
}

export const TRAIN_STAGE: v1.Stage = { kind: v1.StageKind.STAGE_KIND_TRAIN, method: '', name: 'train', index: 0, count: 1 };

export function leaseKey(jobId: string): string {
  return `leases.training.${jobId}`;
}

const enc = (l: Lease) => new TextEncoder().encode(JSON.stringify(l));
const dec = (b: Uint8Array): Lease | undefined => {
  try {
    return JSON.parse(new TextDecoder().decode(b)) as Lease;
  } catch {
    return undefined;
  }
};

export class TrainingRunner {
  readonly owner: string;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly scanMs: number;
  private readonly progressIntervalMs: number;
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private scanTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private stopped = false;
  private readonly m;

  constructor(
    private readonly deps: ServiceDeps,
    private readonly opts: TrainingRunnerOptions = {},
  ) {
    this.owner = opts.owner ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.leaseMs = Math.max(500, opts.leaseMs ?? 30_000);
    this.scanMs = Math.max(100, opts.scanMs ?? this.leaseMs);
    this.progressIntervalMs = opts.progressIntervalMs ?? 250;
    const metrics = deps.metrics;
    this.m = {
      epochs: metrics.counter({ name: 'uae_training_epochs_total', help: 'Training epochs completed, by model kind', labelNames: ['model'] }),
      loss: metrics.gauge({ name: 'uae_training_loss', help: 'Training loss of the last completed epoch, by model kind', labelNames: ['model'] }),
      jobs: metrics.counter({ name: 'uae_jobs_total', help: 'Job state transitions made by this service, by kind and state', labelNames: ['kind', 'state'] }),
      active: metrics.gauge({ name: 'uae_training_jobs_running', help: 'Training jobs running in this process' }),
    };
    // Lower-case state labels, as the orchestrator writes them (one convention for alerts and dashboards).
    for (const state of ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED']) this.m.jobs.inc({ kind: 'training', state: state.toLowerCase() }, 0);
  }

  /** Counts a state transition (uae_jobs_total{kind="training",state}). */
  noteState(state: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED'): void {
    this.m.jobs.inc({ kind: 'training', state: state.toLowerCase() });
  }

  /** Jobs running here now. */
  get active(): string[] {
    return [...this.running.keys()];
  }

  /** First scan now, then every scanMs. */
  start(): void {
    if (this.stopped || this.scanTimer) return;
    this.scanTimer = setInterval(() => this.kick(), this.scanMs);
    this.scanTimer.unref();
    this.kick();
  }

  /** Scan for claimable jobs soon (coalesced). */
  kick(): void {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = this.scan()
      .catch((err: unknown) => this.deps.logger.warn({ err: errText(err) }, 'training job scan failed'))
      .finally(() => {
        this.scanning = undefined;
        if (this.rescan) {
          this.rescan = false;
          this.kick();
        }
      });
  }

  private async scan(): Promise<void> {
    if (this.running.size >= this.concurrency) return;
    const jobs = await this.deps.jobs.unfinished(v1.JobKind.JOB_KIND_TRAINING);
    for (const job of jobs) {
      if (this.stopped || this.running.size >= this.concurrency) return;
      if (this.running.has(job.jobId)) continue;
      const lease = await this.claim(job.jobId);
      if (lease === undefined) continue;
      // The job may have finished between the listing and the claim.
      const now = await this.deps.jobs.get(job.jobId);
      if (!now || isTerminal(now.state)) {
        await this.release(job.jobId, lease);
        continue;
      }
      this.launch(job.jobId, lease);
    }
  }

  /** Takes the job's lease (new, expired, or already ours); its KV revision, or undefined when another owner holds it. */
  private async claim(jobId: string): Promise<number | undefined> {
    const key = leaseKey(jobId);
    const value = enc({ owner: this.owner, expiresAt: Date.now() + this.leaseMs });
    try {
      const entry = await this.deps.bus.kv.get(key);
      if (!entry) return await this.deps.bus.kv.create(key, value);
      const held = dec(entry.value);
      if (held && held.owner !== this.owner && held.expiresAt > Date.now()) return undefined;
      return await this.deps.bus.kv.update(key, value, entry.revision);
    } catch (e) {
      if (e instanceof KvConflictError) return undefined;
      throw e;
    }
  }

  private async release(jobId: string, revision: number): Promise<void> {
    try {
      await this.deps.bus.kv.delete(leaseKey(jobId), { expectedRevision: revision });
    } catch {
      // taken over or gone: nothing to release
    }
  }

  private launch(jobId: string, leaseRevision: number): void {
    const abort = new AbortController();
    const done = this.run(jobId, leaseRevision, abort)
      .catch((err: unknown) => this.deps.logger.error({ jobId, err: errText(err) }, 'training job runner failed'))
      .finally(() => {
        this.running.delete(jobId);
        this.m.active.set(this.running.size);
        this.kick();
      });
    this.running.set(jobId, { abort, done });
    this.m.active.set(this.running.size);
  }

  private async run(jobId: string, leaseRevision: number, abort: AbortController): Promise<void> {
    const { jobs, bus, logger } = this.deps;
    const log = logger.child({ jobId });
    let revision = leaseRevision;
    let leaseLost = false;
    const stop = (why: StopReason, message: string) => {
      if (!abort.signal.aborted) abort.abort(new RunAbort(why, message));
    };

    // Keep the lease; notice terminal states written by others (CancelJob).
    const renew = setInterval(() => {
      void (async () => {
        try {
          revision = await bus.kv.update(leaseKey(jobId), enc({ owner: this.owner, expiresAt: Date.now() + this.leaseMs }), revision);
        } catch (e) {
          if (e instanceof KvConflictError) {
            leaseLost = true;
            stop('lease-lost', 'another trainer took over the job (lease lost)');
          }
        }
        const j = await jobs.get(jobId).catch(() => undefined);
        if (j && isTerminal(j.state)) stop('cancelled', `job is ${v1.jobStateToJSON(j.state)}`);
      })();
    }, Math.max(100, Math.floor(this.leaseMs / 3)));
    let watch: Stoppable | undefined;
    try {
      watch = await bus.kv.watch({ key: jobStateKey(jobId), updatesOnly: true }, (e) => {
        if (e.operation !== 'PUT') return;
        const j = v1.Job.decode(e.value);
        if (isTerminal(j.state) && j.state !== v1.JobState.JOB_STATE_SUCCEEDED) stop('cancelled', `job is ${v1.jobStateToJSON(j.state)}`);
      });

      let job = await jobs.require(jobId);
      if (isTerminal(job.state)) return;
      const resumed = job.state === v1.JobState.JOB_STATE_RUNNING;
      if (!resumed) {
        job = await jobs.start(jobId, TRAIN_STAGE);
        if (job.state === v1.JobState.JOB_STATE_RUNNING) this.noteState('RUNNING');
      }
      if (isTerminal(job.state)) return;
      log.info({ resumed, owner: this.owner }, resumed ? 'resuming training job (from scratch)' : 'training job started');
      await this.train(job, abort.signal, log);
    } catch (e) {
      const reason = abort.signal.aborted ? abort.signal.reason : undefined;
      if (reason instanceof RunAbort) {
        if (reason.why === 'cancelled') {
          log.info({ reason: reason.message }, 'training stopped: job cancelled');
          const j = await jobs.get(jobId).catch(() => undefined);
          if (j?.state === v1.JobState.JOB_STATE_CANCELLED) this.noteState('CANCELLED');
        } else log.warn({ reason: reason.message }, 'training interrupted; the job stays RUNNING for a trainer to resume');
        return;
      }
      // The same rules as a gRPC answer (and as the attack worker's): a
      // ProtoFieldError is INVALID_ARGUMENT with its message, not INTERNAL.
      if (isBackendFault(e)) {
        // Not the request's fault and the backend may be corrupt for every later job:
        // fail this one saying so, then let the process restart (ServiceDeps.backendFault).
        const message = backendFaultMessage('trainer', e, 'submit the job again');
        log.error({ err: errText(e) }, 'training failed: tfjs backend fault');
        const failed = await jobs.fail(jobId, { code: Status.UNAVAILABLE, message, stage: TRAIN_STAGE.name }).catch(() => undefined);
        if (failed?.state === v1.JobState.JOB_STATE_FAILED) this.noteState('FAILED');
        this.deps.backendFault?.(e, `training job ${jobId}`);
        return;
      }
      const st = statusFromError(e, { mappers: serviceErrorMappers });
      if (st.ref) log.error({ ref: st.ref, err: errText(st.cause) }, 'training failed (internal error)');
      else log.warn({ code: st.code, details: st.details }, 'training failed');
      const failed = await jobs.fail(jobId, { code: st.code, message: st.details, stage: TRAIN_STAGE.name });
      if (failed.state === v1.JobState.JOB_STATE_FAILED) this.noteState('FAILED');
    } finally {
      clearInterval(renew);
      await watch?.stop().catch(() => {});
      if (!leaseLost) await this.release(jobId, revision);
    }
  }

  private async train(job: v1.Job, signal: AbortSignal, log: ServiceDeps['logger']): Promise<void> {
    const { jobs, bus } = this.deps;
    const jobId = job.jobId;
    const spec = job.spec?.kind?.$case === 'training' ? job.spec.kind.value : undefined;
    const supervised = isClassifierSpec(spec);
    const parsed = supervised ? parseClassifierSpec(spec) : parseTrainingSpec(spec);
    const ds = await resolveDataset(bus.artifacts, spec!.dataset, { kind: parsed.kind, field: 'spec.dataset', ...(this.opts.access ? { access: this.opts.access } : {}), ...(this.opts.budget ? { budget: this.opts.budget } : {}) });
    signal.throwIfAborted();
    // UAE_FAULT_DRILL=trainer:wasm-trap (tests only): the first job hits a real wasm trap.
    this.deps.faultDrill?.trap(`training job ${jobId}`);
    const modelId = modelIdForJob(jobId);
    const started = performance.now();
    let lastSent = 0;
    let pending: Promise<unknown> = Promise.resolve();
    const onEpoch = (e: EpochReport) => {
      this.m.epochs.inc({ model: parsed.kind });
      this.m.loss.set({ model: parsed.kind }, e.loss);
      const now = performance.now();
      const last = e.epoch + 1 >= parsed.epochs;
      if (!last && now - lastSent < this.progressIntervalMs) return;
      lastSent = now;
      const elapsed = (now - started) / 1000;
      const done = e.epoch + 1;
      const progress: v1.Progress = {
        samplesDone: done * ds.train.n,
        samplesTotal: parsed.epochs * ds.train.n,
        samplesSucceeded: 0,
        asr: 0,
        fraction: done / parsed.epochs,
        samplesPerSecond: e.samplesPerSec,
        elapsedSeconds: elapsed,
        etaSeconds: (elapsed / done) * (parsed.epochs - done),
        epochsDone: done,
        epochsTotal: parsed.epochs,
        loss: e.loss,
      };
      pending = pending.then(() => jobs.progress(jobId, progress)).catch((err: unknown) => log.warn({ err: errText(err) }, 'progress update failed'));
    };
    const hooks = { signal, onEpoch, ...(this.opts.budget ? { budget: this.opts.budget } : {}) };
    const run =
      'supervised' in parsed
        ? await trainClassifierFromSpec(ds, parsed, hooks).then((r) => ({ ...r, ae: r.classifier, testReconError: undefined }))
        : await trainFromSpec(ds, parsed, hooks).then((r) => ({ ...r, testAccuracy: undefined }));
    try {
      await pending;
      signal.throwIfAborted();
      const record = await saveModel(bus.artifacts, {
        modelId,
        jobId,
        ae: run.ae,
        config: spec!.model,
        train: spec!.config,
        dataset: spec!.dataset,
        history: run.history,
        stoppedEarly: run.stoppedEarly,
        ...(run.testReconError !== undefined ? { testReconError: run.testReconError } : {}),
        ...(run.testAccuracy !== undefined ? { testAccuracy: run.testAccuracy } : {}),
      });
      const result: v1.TrainingResult = {
        modelId,
        artifacts: record.artifacts,
        history: record.history,
        ...(run.testReconError !== undefined ? { testReconError: run.testReconError } : {}),
        ...(run.testAccuracy !== undefined ? { testAccuracy: run.testAccuracy } : {}),
      };
      const done = await jobs.complete(jobId, { kind: { $case: 'training', value: result } });
      if (done.state === v1.JobState.JOB_STATE_SUCCEEDED) {
        this.noteState('SUCCEEDED');
        log.info({ modelId, epochs: run.history.length, testReconError: run.testReconError, testAccuracy: run.testAccuracy, seconds: (performance.now() - started) / 1000 }, 'training job succeeded');
      } else {
        // Cancelled (or failed) while we saved: the model must not look trained.
        await bus.artifacts.delete(modelRecordKey(modelId)).catch(() => false);
        if (done.state === v1.JobState.JOB_STATE_CANCELLED) this.noteState('CANCELLED');
      }
    } finally {
      run.ae.dispose();
    }
  }

  /** Stops scanning, aborts running jobs (they stay RUNNING, leases released) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.scanTimer) clearInterval(this.scanTimer);
    for (const r of this.running.values()) r.abort.abort(new RunAbort('shutdown', 'trainer shutting down'));
    await Promise.allSettled([this.scanning, ...[...this.running.values()].map((r) => r.done)]);
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** INVALID_ARGUMENT etc. as JobError codes (re-exported for tests). */
export { Status };
