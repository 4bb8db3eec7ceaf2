/**
 * JobService handlers: SubmitPipeline, GetJob, WatchJob, CancelJob, ListJobs.
 * Job records live in the shared KV (libs/jobs JobStore), so jobs created by
 * AttackService.Submit and TrainingService.Train are visible here too.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Bus } from '../../libs/bus/index.js';
import { isTerminal, type JobStore } from '../../libs/jobs/index.js';
import { ProtoFieldError, v1 } from '../../libs/proto/index.js';

/** Job ids as the contract states them (job.proto): NATS-safe tokens of 1–64 characters. */
const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
import type { CallContext, HandlersFor, StreamingCallContext } from '../../libs/service-kit/index.js';
import { statRef } from '../common/artifacts.js';
import { DatasetConfigNotFoundError } from '../common/datasets.js';
import { checkDatasetPath, NO_DATASET_PATHS, type DatasetAccess } from '../common/dataset-access.js';
import type { PipelineDriver } from './driver.js';
import type { OrchestratorMetrics } from './metrics.js';
import { resolvePipelineConfig } from './pipeline-config.js';
import type { ResourceBudget } from '../../libs/limits/index.js';

const { JobKind, JobState } = v1;

const MAX_REQUEST_ID = 128;
const MAX_LABELS = 32;
const MAX_LABEL_KEY = 63;
const MAX_LABEL_VALUE = 256;
const MAX_PAGE_SIZE = 1000;
const DEFAULT_PAGE_SIZE = 50;
const MAX_REASON = 1024;
const TERMINAL_EVENTS = new Set(['completed', 'failed', 'cancelled']);

export interface JobHandlerDeps {
  bus: Bus;
  jobs: JobStore;
  driver: PipelineDriver;
  metrics: OrchestratorMetrics;
  /** WatchJob: how long to wait without events before re-reading the record (default 2000 ms). */
  watchIdleMs?: number;
  /** Server-side dataset paths allowed (default none; services/common/dataset-access.ts). */
  access?: DatasetAccess;
  /** The resource budget a submitted pipeline is checked against (resolvePipelineConfig; libs/limits). */
  budget?: ResourceBudget;
}

export function checkJobId(jobId: string, field = 'job_id'): string {
  if (!JOB_ID_PATTERN.test(jobId)) throw new ProtoFieldError(field, `must be 1–64 characters of [A-Za-z0-9_-]; got ${JSON.stringify(jobId.slice(0, 80))}`);
  return jobId;
}

export function checkRequestId(requestId: string): void {
  if (requestId.length > MAX_REQUEST_ID) throw new ProtoFieldError('request_id', `is ${requestId.length} characters; at most ${MAX_REQUEST_ID}`);
}

export function checkLabels(labels: Record<string, string>, field = 'labels'): void {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw new ProtoFieldError(field, `${entries.length} entries; at most ${MAX_LABELS}`);
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > MAX_LABEL_KEY) throw new ProtoFieldError(`${field}[${JSON.stringify(k.slice(0, 80))}]`, `key must be 1–${MAX_LABEL_KEY} characters`);
    if (v.length > MAX_LABEL_VALUE) throw new ProtoFieldError(`${field}[${JSON.stringify(k)}]`, `value is ${v.length} characters; at most ${MAX_LABEL_VALUE}`);
  }
}

const KNOWN_DATASETS = new Set(['fashion-mnist', 'mice-protein']);

/** What can be checked about the dataset without loading it: known name, existing path, stored arrays. */
async function checkDatasetExists(bus: Bus, d: v1.DatasetConfig, access: DatasetAccess): Promise<void> {
  const source = d.source;
  if (source?.$case === 'name') {
    const name = source.value.trim();
    const path = /^(idx|csv|npy):(.*)$/.exec(name)?.[2];
    // Refused before the path is looked at: no existence oracle for callers.
    checkDatasetPath(access, name, 'config.dataset.name');
    if (path !== undefined) {
      if (!existsSync(path)) throw new DatasetConfigNotFoundError('config.dataset.name', `"${name}": ${path} does not exist on the server`);
    } else if (!KNOWN_DATASETS.has(name)) {
      throw new DatasetConfigNotFoundError('config.dataset.name', `unknown dataset "${name}": use fashion-mnist, mice-protein, cifar10, svhn, idx:DIR, csv:FILE, npy:DIR, cifar10:DIR, svhn:DIR or upload .npy arrays`);
    }
  } else if (source?.$case === 'npy') {
    const npy = source.value;
    await statRef(bus.artifacts, npy.xTrain, 'config.dataset.npy.x_train');
    await statRef(bus.artifacts, npy.xTest, 'config.dataset.npy.x_test');
    if (npy.yTrain?.sha256) await statRef(bus.artifacts, npy.yTrain, 'config.dataset.npy.y_train');
    if (npy.yTest?.sha256) await statRef(bus.artifacts, npy.yTest, 'config.dataset.npy.y_test');
  }
}

/** The page token: the last job id of the page and a digest of the filters (which must not change between pages). */
function encodeToken(last: string, filterDigest: string): string {
  return Buffer.from(JSON.stringify({ a: last, f: filterDigest })).toString('base64url');
}

function decodeToken(token: string, filterDigest: string): string {
  let parsed: { a?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown; f?: unknown };
  } catch {
    throw new ProtoFieldError('page_token', 'is not a token from a previous ListJobs response');
  }
  if (typeof parsed.a !== 'string' || !JOB_ID_PATTERN.test(parsed.a) || typeof parsed.f !== 'string') {
    throw new ProtoFieldError('page_token', 'is not a token from a previous ListJobs response');
  }
  if (parsed.f !== filterDigest) throw new ProtoFieldError('page_token', 'was issued for other filters (states, kind, labels must stay the same across pages)');
  return parsed.a;
}

/** A small async queue whose `next` gives up at a timeout (undefined) or rejects when `signal` fires. */
class EventQueue<T> {
  private items: T[] = [];
  private waiter: (() => void) | undefined;
  push(item: T): void {
    this.items.push(item);
    this.waiter?.();
  }
  async next(signal: AbortSignal, timeoutMs: number): Promise<T | undefined> {
    if (this.items.length > 0) return this.items.shift();
    signal.throwIfAborted();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        this.waiter = undefined;
        resolve();
      };
      const t = setTimeout(done, timeoutMs);
      this.waiter = done;
      signal.addEventListener('abort', done, { once: true });
    });
    signal.throwIfAborted();
    return this.items.shift();
  }
}

export function jobServiceHandlers(deps: JobHandlerDeps): HandlersFor<typeof v1.JobServiceService> {
  const { bus, jobs, driver, metrics } = deps;

  return {
    async submitPipeline(req: v1.SubmitPipelineRequest): Promise<v1.SubmitPipelineResponse> {
      checkRequestId(req.requestId);
      checkLabels(req.labels);
      resolvePipelineConfig(req.config, deps.budget ? { budget: deps.budget } : {});
      await checkDatasetExists(bus, req.config!.dataset!, deps.access ?? NO_DATASET_PATHS);
      const { job, deduplicated } = await jobs.create({
        kind: JobKind.JOB_KIND_PIPELINE,
        spec: { kind: { $case: 'pipeline', value: req.config! } },
        requestId: req.requestId || undefined,
        labels: req.labels,
      });
      if (!deduplicated) metrics.observeJob(job);
      if (!isTerminal(job.state)) driver.start(job.jobId);
      return { job, deduplicated };
    },

    async getJob(req: v1.GetJobRequest): Promise<v1.GetJobResponse> {
      return { job: await jobs.require(checkJobId(req.jobId)) };
    },

    async *watchJob(req: v1.WatchJobRequest, call: StreamingCallContext<v1.WatchJobResponse>): AsyncIterable<v1.WatchJobResponse> {
      const jobId = checkJobId(req.jobId);
      const snapshot = await jobs.require(jobId);
      yield { kind: { $case: 'snapshot', value: snapshot } };
      let last = req.afterSequence > 0 ? req.afterSequence : snapshot.lastEventSequence;
      if (isTerminal(snapshot.state) && last >= snapshot.lastEventSequence) return;
      const queue = new EventQueue<v1.JobEvent>();
      const sub = await jobs.watch(jobId, last, (e) => queue.push(e));
      let terminalSince: number | undefined;
      try {
        for (;;) {
          const e = await queue.next(call.signal, deps.watchIdleMs ?? 2000);
          if (e === undefined) {
            // Quiet: an event may have been lost (a writer died between its KV write and
            // the publish). The record is the truth: stop once it is terminal and settled.
            const job = await jobs.get(jobId);
            if (!job) return;
            if (isTerminal(job.state)) {
              if (job.lastEventSequence <= last) return;
              terminalSince ??= Date.now();
              if (Date.now() - terminalSince > 5000) return;
            }
            continue;
          }
          if (e.sequence <= last) continue; // duplicate or stale
          last = e.sequence;
          const kind = e.payload?.$case ?? '';
          if (!(req.skipProgress && kind === 'progress')) yield { kind: { $case: 'event', value: e } };
          if (TERMINAL_EVENTS.has(kind)) return;
        }
      } finally {
        await sub.stop().catch(() => {});
      }
    },

    async cancelJob(req: v1.CancelJobRequest, call: CallContext): Promise<v1.CancelJobResponse> {
      const jobId = checkJobId(req.jobId);
      if (req.reason.length > MAX_REASON) throw new ProtoFieldError('reason', `is ${req.reason.length} characters; at most ${MAX_REASON}`);
      const reason = req.reason || 'cancelled by request';
      const before = await jobs.require(jobId);
      if (isTerminal(before.state)) return { job: before };
      if (before.kind === JobKind.JOB_KIND_PIPELINE) return { job: await driver.cancel(jobId, reason) };
      const job = await jobs.cancel(jobId, reason);
      if (job.state === JobState.JOB_STATE_CANCELLED) {
        metrics.observeJob(job);
        await bus.work.purge(bus.subjects.jobShards(jobId)).catch((e: unknown) => call.log.warn({ jobId, err: String(e) }, 'could not purge shards'));
      }
      return { job };
    },

    async listJobs(req: v1.ListJobsRequest): Promise<v1.ListJobsResponse> {
      if (req.pageSize > MAX_PAGE_SIZE) throw new ProtoFieldError('page_size', `${req.pageSize} is above ${MAX_PAGE_SIZE}`);
      req.states.forEach((s, i) => {
        if (!(s in JobState) || s === JobState.UNRECOGNIZED || s === JobState.JOB_STATE_UNSPECIFIED) throw new ProtoFieldError(`states[${i}]`, `unknown or unspecified job state ${s}`);
      });
      if (!(req.kind in JobKind) || req.kind === JobKind.UNRECOGNIZED) throw new ProtoFieldError('kind', `unknown job kind ${req.kind}`);
      checkLabels(req.labels);
      const states = [...new Set(req.states)].sort((a, b) => a - b);
      const labels = Object.fromEntries(Object.entries(req.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const digest = createHash('sha256').update(JSON.stringify({ states, kind: req.kind, labels })).digest('hex').slice(0, 16);
      const pageToken = req.pageToken ? decodeToken(req.pageToken, digest) : undefined;
      const page = await jobs.list({
        newestFirst: true,
        pageSize: req.pageSize || DEFAULT_PAGE_SIZE,
        ...(pageToken ? { pageToken } : {}),
        ...(states.length > 0 ? { states } : {}),
        ...(req.kind ? { kind: req.kind } : {}),
        ...(Object.keys(labels).length > 0 ? { labels } : {}),
      });
      return { jobs: page.jobs, nextPageToken: page.nextPageToken ? encodeToken(page.nextPageToken, digest) : '' };
    },
  };
}
