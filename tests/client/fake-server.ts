/**
 * A fake uae system for client tests: a real gRPC server built with the
 * service kit (so auth, health, error trailers and cancellation behave as in
 * the real services) over the generated service definitions, with canned
 * in-memory handlers for JobService, ArtifactService, AttackService and
 * MineService.
 *
 * Submitted pipelines run a scripted life chosen by the dataset name:
 *   "fail"   → RUNNING, then FAILED in "generate mine" (INTERNAL)
 *   "hang"   → RUNNING in "generate mine" until cancelled
 *   anything else → train → generate mine (progress) → retrain → evaluate → SUCCEEDED with metrics
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { createService, invalidArgument, loadServiceConfig, notFound, ServiceError, Status, type RunningService } from '../../libs/service-kit/index.js';
import { v1 } from '../../libs/proto/index.js';

export const FAKE_TOKEN = 'fake-token-0123456789abcdef';
const MiB = 1024 * 1024;

interface FakeJob {
  job: v1.Job;
  events: v1.JobEvent[];
  wake: Set<() => void>;
}

export interface UploadRecord {
  header?: v1.UploadHeader;
  chunkSizes: number[];
  authorization?: string;
}

const terminal = (s: v1.JobState) => s === v1.JobState.JOB_STATE_SUCCEEDED || s === v1.JobState.JOB_STATE_FAILED || s === v1.JobState.JOB_STATE_CANCELLED;
const clone = (j: v1.Job) => v1.Job.decode(v1.Job.encode(j).finish());

export const STAGES: v1.Stage[] = [
  { kind: v1.StageKind.STAGE_KIND_TRAIN, method: 'original', name: 'train original', index: 0, count: 4 },
  { kind: v1.StageKind.STAGE_KIND_GENERATE, method: 'mine', name: 'generate mine', index: 1, count: 4 },
  { kind: v1.StageKind.STAGE_KIND_RETRAIN, method: 'mine', name: 'retrain mine', index: 2, count: 4 },
  { kind: v1.StageKind.STAGE_KIND_EVALUATE, method: '', name: 'evaluate', index: 3, count: 4 },
];

export const METRICS: v1.PipelineMetrics = {
  dataset: 'mice-protein',
  model: v1.ModelKind.MODEL_KIND_DENSE_AE,
  backend: 'wasm',
  seed: 0,
  trainSamples: 10,
  testSamples: 8,
  seeds: [0],
  validationSamples: 0,
  comparisons: [],
  toolVersion: '0.1.0',
  rounds: [],
  methods: {
    original: v1.MethodMetrics.fromPartial({ testReconError: 0.0123, accuracy: 0.5 }),
    mine: v1.MethodMetrics.fromPartial({ testReconError: 0.011, improvement: 0.1057, asr: 0.8, accuracy: 0.625, secondsPerSample: 0.02, mi: { mean: 1, median: 1, min: 0.5, max: 1.5, count: 8 } }),
  },
};

export class FakeSystem {
  readonly jobs = new Map<string, FakeJob>();
  readonly artifacts = new Map<string, { bytes: Buffer; ref: v1.ArtifactRef; createdAt: Date }>();
  readonly uploads: UploadRecord[] = [];
  readonly submits: Array<{ request: v1.SubmitPipelineRequest; authorization?: string }> = [];
  readonly watches: v1.WatchJobRequest[] = [];
  /** WatchJob calls that ended because the client cancelled. */
  watchesCancelled = 0;
  /** Break the next watch streams with UNAVAILABLE after this many events (consumed per stream). */
  dropWatchesAfter: number[] = [];
  /** Flip a byte in downloads (DATA_LOSS on the client). */
  corruptDownloads = false;
  /** Delay between scripted events, ms. */
  stepMs = 15;
  /**
   * A submitted job starts its script once someone watches it (or after this
   * many ms), so a watcher sees every stage however slowly it starts.
   */
  holdMs = 3000;
  private readonly watched = new Set<string>();
  private readonly watchWaiters = new Map<string, () => void>();
  private next = 1;
  private clock = Date.parse('2024-05-01T12:00:00Z');

  private now(): Date {
    this.clock += 1000;
    return new Date(this.clock);
  }

  /** Adds a job (for ListJobs tests) without running it. */
  addJob(partial: Partial<v1.Job>): v1.Job {
    const id = partial.jobId ?? `job-${this.next++}`;
    const job = v1.Job.fromPartial({ kind: v1.JobKind.JOB_KIND_PIPELINE, state: v1.JobState.JOB_STATE_QUEUED, createdAt: this.now(), ...partial, jobId: id });
    this.jobs.set(id, { job, events: [], wake: new Set() });
    return job;
  }

  /** Publishes an event: updates the record and wakes watchers. */
  emit(jobId: string, state: v1.JobState, payload: v1.JobEvent['payload'], update: Partial<v1.Job> = {}): v1.JobEvent {
    const fj = this.jobs.get(jobId)!;
    const sequence = fj.job.lastEventSequence + 1;
    const ev: v1.JobEvent = { jobId, sequence, time: this.now(), kind: fj.job.kind, state, payload };
    Object.assign(fj.job, update, { state, lastEventSequence: sequence, revision: fj.job.revision + 1 });
    fj.events.push(ev);
    for (const w of [...fj.wake]) w();
    return ev;
  }

  private async run(jobId: string, dataset: string): Promise<void> {
    const S = v1.JobState;
    const step = () => sleep(this.stepMs);
    const live = () => !terminal(this.jobs.get(jobId)!.job.state);
    if (!this.watched.has(jobId)) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.holdMs);
        t.unref();
        this.watchWaiters.set(jobId, () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    await step();
    if (!live()) return;
    this.emit(jobId, S.JOB_STATE_RUNNING, { $case: 'stage', value: { current: STAGES[0] } }, { stage: STAGES[0], startedAt: this.now() });
    for (let e = 1; e <= 2; e++) {
      await step();
      if (!live()) return;
      const progress = v1.Progress.fromPartial({ epochsDone: e, epochsTotal: 2, loss: 0.1 / e, fraction: e / 2, elapsedSeconds: e, etaSeconds: 2 - e });
      this.emit(jobId, S.JOB_STATE_RUNNING, { $case: 'progress', value: { stage: STAGES[0], progress } }, { progress });
    }
    await step();
    if (!live()) return;
    this.emit(jobId, S.JOB_STATE_RUNNING, { $case: 'stage', value: { previous: STAGES[0], current: STAGES[1] } }, { stage: STAGES[1], progress: undefined });
    if (dataset === 'hang') return; // until CancelJob
    for (let d = 5; d <= 10; d += 5) {
      await step();
      if (!live()) return;
      const progress = v1.Progress.fromPartial({ samplesDone: d, samplesTotal: 10, samplesSucceeded: d - 1, asr: (d - 1) / d, fraction: d / 10, samplesPerSecond: 50, elapsedSeconds: d / 50, etaSeconds: (10 - d) / 50 });
      this.emit(jobId, S.JOB_STATE_RUNNING, { $case: 'progress', value: { stage: STAGES[1], progress } }, { progress });
    }
    await step();
    if (!live()) return;
    if (dataset === 'fail') {
      const error = { code: Status.INTERNAL, message: 'attack worker crashed (ref 0123abcd)', stage: 'generate mine' };
      this.emit(jobId, S.JOB_STATE_FAILED, { $case: 'failed', value: { error } }, { error, finishedAt: this.now() });
      return;
    }
    for (const i of [2, 3]) {
      this.emit(jobId, S.JOB_STATE_RUNNING, { $case: 'stage', value: { previous: STAGES[i - 1], current: STAGES[i] } }, { stage: STAGES[i] });
      await step();
      if (!live()) return;
    }
    const result: v1.JobResult = { kind: { $case: 'pipeline', value: { metrics: METRICS, generated: {}, models: {}, history: {}, seedOutputs: [] } } };
    this.emit(jobId, S.JOB_STATE_SUCCEEDED, { $case: 'completed', value: { result, durationSeconds: 7 } }, { result, finishedAt: this.now() });
  }

  private waitForEvent(fj: FakeJob, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = () => {
        fj.wake.delete(done);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        fj.wake.delete(done);
        reject(signal.reason);
      };
      fj.wake.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private find(jobId: string): FakeJob {
    const fj = this.jobs.get(jobId);
    if (!fj) throw notFound(`job "${jobId}" not found`, 'job_id');
    return fj;
  }

  handlers() {
    const sys = this;
    const jobs = {
      submitPipeline: (req: v1.SubmitPipelineRequest, call: { metadata: { get(k: string): unknown[] } }) => {
        sys.submits.push({ request: req, authorization: String(call.metadata.get('authorization')[0] ?? '') });
        const config = req.config;
        if (!config?.model || config.model.kind === v1.ModelKind.MODEL_KIND_UNSPECIFIED) throw invalidArgument('config.model.kind', 'required');
        if (config.methods.length === 0) throw invalidArgument('config.methods', 'at least one method is required');
        if (req.requestId) {
          for (const fj of sys.jobs.values()) {
            if (fj.job.requestId !== req.requestId) continue;
            const same = Buffer.from(v1.PipelineConfig.encode(config).finish()).equals(Buffer.from(v1.PipelineConfig.encode(fj.job.spec!.kind!.value as v1.PipelineConfig).finish()));
            if (!same) throw new ServiceError(Status.ALREADY_EXISTS, `request_id "${req.requestId}" was used for another pipeline (job ${fj.job.jobId})`, 'request_id');
            return { job: clone(fj.job), deduplicated: true };
          }
        }
        const job = sys.addJob({ requestId: req.requestId, labels: req.labels, spec: { kind: { $case: 'pipeline', value: config } } });
        sys.emit(job.jobId, v1.JobState.JOB_STATE_QUEUED, { $case: 'created', value: { job: clone(job) } });
        const dataset = config.dataset?.source?.$case === 'name' ? config.dataset.source.value : 'npy';
        void sys.run(job.jobId, dataset);
        return { job: clone(sys.jobs.get(job.jobId)!.job), deduplicated: false };
      },
      getJob: (req: v1.GetJobRequest) => ({ job: clone(sys.find(req.jobId).job) }),
      watchJob: async function* (req: v1.WatchJobRequest, call: { signal: AbortSignal }) {
        sys.watches.push(req);
        const fj = sys.find(req.jobId);
        sys.watched.add(req.jobId);
        sys.watchWaiters.get(req.jobId)?.();
        const dropAfter = sys.dropWatchesAfter.shift();
        call.signal.addEventListener('abort', () => sys.watchesCancelled++, { once: true });
        let after = req.afterSequence > 0 ? req.afterSequence : fj.job.lastEventSequence;
        yield { kind: { $case: 'snapshot' as const, value: clone(fj.job) } };
        if (req.afterSequence === 0 && terminal(fj.job.state)) return;
        let sent = 0;
        for (;;) {
          for (const ev of fj.events.filter((e) => e.sequence > after)) {
            after = ev.sequence;
            if (req.skipProgress && ev.payload?.$case === 'progress') continue;
            if (dropAfter !== undefined && sent >= dropAfter) throw new ServiceError(Status.UNAVAILABLE, 'orchestrator restarting');
            sent++;
            yield { kind: { $case: 'event' as const, value: ev } };
            if (terminal(ev.state)) return;
          }
          await sys.waitForEvent(fj, call.signal);
        }
      },
      cancelJob: (req: v1.CancelJobRequest) => {
        const fj = sys.find(req.jobId);
        if (!terminal(fj.job.state)) {
          const error = { code: Status.CANCELLED, message: req.reason || 'cancelled', stage: fj.job.stage?.name ?? '' };
          sys.emit(req.jobId, v1.JobState.JOB_STATE_CANCELLED, { $case: 'cancelled', value: { reason: error.message, stage: fj.job.stage } }, { error, finishedAt: sys.now() });
        }
        return { job: clone(fj.job) };
      },
      listJobs: (req: v1.ListJobsRequest) => {
        if (req.pageSize > 1000) throw invalidArgument('page_size', `must be ≤ 1000; got ${req.pageSize}`);
        const size = req.pageSize || 50;
        const start = req.pageToken ? Number(req.pageToken) : 0;
        if (!Number.isInteger(start) || start < 0) throw invalidArgument('page_token', 'not a token this server issued');
        const all = [...sys.jobs.values()]
          .map((f) => f.job)
          .filter((j) => req.states.length === 0 || req.states.includes(j.state))
          .filter((j) => !req.kind || j.kind === req.kind)
          .filter((j) => Object.entries(req.labels).every(([k, v]) => j.labels[k] === v))
          .sort((a, b) => b.createdAt!.getTime() - a.createdAt!.getTime() || b.jobId.localeCompare(a.jobId));
        const page = all.slice(start, start + size);
        return { jobs: page.map(clone), nextPageToken: start + size < all.length ? String(start + size) : '' };
      },
    };
    const artifacts = {
      upload: async (requests: AsyncIterable<v1.UploadRequest>, call: { metadata: { get(k: string): unknown[] } }) => {
        const rec: UploadRecord = { chunkSizes: [], authorization: String(call.metadata.get('authorization')[0] ?? '') };
        sys.uploads.push(rec);
        const parts: Buffer[] = [];
        for await (const r of requests) {
          if (r.part?.$case === 'header') {
            if (rec.header) throw invalidArgument('header', 'sent twice');
            rec.header = r.part.value;
          } else if (r.part?.$case === 'chunk') {
            if (!rec.header) throw invalidArgument('header', 'the first message must be the header');
            if (r.part.value.length > MiB) throw invalidArgument('chunk', `${r.part.value.length} bytes; at most 1 MiB`);
            rec.chunkSizes.push(r.part.value.length);
            parts.push(r.part.value);
          }
        }
        if (!rec.header) throw invalidArgument('header', 'missing');
        const bytes = Buffer.concat(parts);
        if (bytes.length !== rec.header.sizeBytes) throw invalidArgument('header.size_bytes', `declared ${rec.header.sizeBytes}, received ${bytes.length}`);
        const sha256 = createHash('sha256').update(bytes).digest('hex');
        if (rec.header.sha256 && rec.header.sha256 !== sha256) throw invalidArgument('header.sha256', `declared ${rec.header.sha256}, received bytes hash to ${sha256}`);
        const existing = sys.artifacts.get(sha256);
        if (existing) return { ref: existing.ref, alreadyExisted: true };
        const ref: v1.ArtifactRef = { sha256, sizeBytes: bytes.length, mediaType: rec.header.mediaType, name: rec.header.name };
        sys.artifacts.set(sha256, { bytes, ref, createdAt: sys.now() });
        return { ref, alreadyExisted: false };
      },
      download: async function* (req: v1.DownloadRequest) {
        const a = sys.artifacts.get(req.sha256);
        if (!a) throw notFound(`artifact ${req.sha256} not found`, 'sha256');
        if (req.offset > a.bytes.length) throw new ServiceError(Status.OUT_OF_RANGE, `offset ${req.offset} is past the end (${a.bytes.length} bytes)`, 'offset');
        const end = req.limit ? Math.min(a.bytes.length, req.offset + req.limit) : a.bytes.length;
        const size = req.chunkSize || MiB;
        let first = true;
        for (let at = req.offset; at < end || first; at += size) {
          let chunk = Buffer.from(a.bytes.subarray(at, Math.min(end, at + size)));
          if (sys.corruptDownloads && chunk.length > 0) {
            chunk = Buffer.from(chunk);
            chunk[0] = chunk[0]! ^ 0xff;
          }
          yield { ref: first ? a.ref : undefined, offset: at, chunk };
          first = false;
        }
      },
      stat: (req: v1.StatRequest) => {
        const a = sys.artifacts.get(req.sha256);
        if (!a) throw notFound(`artifact ${req.sha256} not found`, 'sha256');
        return { ref: a.ref, createdAt: a.createdAt };
      },
    };
    const attack = {
      generate: async function* (req: v1.GenerateRequest) {
        const n = req.x?.shape[0] ?? 0;
        if (!req.x || n < 1) throw invalidArgument('x', 'required: FLOAT32 [B, ...]');
        for (let i = 0; i < n; i++) {
          yield { kind: { $case: 'result' as const, value: v1.SampleResult.fromPartial({ sampleId: req.sampleIds[i] ?? i, index: i, success: i % 2 === 0, similarity: 1.5, iterations: 3 }) } };
          yield { kind: { $case: 'progress' as const, value: v1.Progress.fromPartial({ samplesDone: i + 1, samplesTotal: n, fraction: (i + 1) / n }) } };
        }
        yield { kind: { $case: 'summary' as const, value: { samples: n, succeeded: Math.ceil(n / 2), asr: Math.ceil(n / 2) / n, seconds: 0.1, backend: 'cpu' } } };
      },
      submit: (req: v1.SubmitRequest) => {
        const job = sys.addJob({ kind: v1.JobKind.JOB_KIND_ATTACK, requestId: req.requestId, labels: req.labels, spec: { kind: { $case: 'attack', value: req.spec! } } });
        return { job, deduplicated: false };
      },
    };
    const mine = {
      estimate: async (req: v1.EstimateRequest, call: { signal: AbortSignal }) => {
        if (req.steps > 50_000) await sleep(60_000, undefined, { signal: call.signal }); // a long estimate: deadline tests
        return { mi: 0.25, trace: [], seconds: 0.01, backend: 'cpu' };
      },
    };
    return { jobs, artifacts, attack, mine };
  }
}

export interface FakeServer {
  sys: FakeSystem;
  running: RunningService;
  address: string;
  stop(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  const sys = new FakeSystem();
  const config = loadServiceConfig(
    { UAE_GRPC_HOST: '127.0.0.1', UAE_METRICS_HOST: '127.0.0.1', UAE_AUTH_TOKEN: FAKE_TOKEN, UAE_LOG_LEVEL: 'silent', UAE_SHUTDOWN_TIMEOUT_MS: '500' },
    { name: 'fake-orchestrator', grpcPort: 0, metricsPort: 0 },
  );
  const h = sys.handlers();
  const running = await createService({
    config,
    manageProcess: false,
    logger: pino({ level: 'silent' }),
    register(server) {
      server.add(v1.JobServiceService, h.jobs as never);
      server.add(v1.ArtifactServiceService, h.artifacts as never);
      server.add(v1.AttackServiceService, h.attack as never);
      server.add(v1.MineServiceService, h.mine as never);
    },
  });
  // Wait until SERVING (no readiness checks: at once).
  for (let i = 0; i < 200 && !running.isReady; i++) await sleep(5);
  return { sys, running, address: running.addresses.grpc, stop: () => running.shutdown() };
}
