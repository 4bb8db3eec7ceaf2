/**
 * Durable job records (proto `uae.v1.Job`) in the bus's KV bucket, with the
 * job state machine and its events:
 *
 *   QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELLED   (QUEUED may go straight to a terminal state)
 *
 * Every change is a compare-and-set on the KV revision (retried on conflict),
 * so concurrent writers — an orchestrator and attack workers, or a restarted
 * orchestrator — never lose an update. After each successful write the matching
 * `JobEvent` is published on `uae.v1.jobs.<id>.<event>` with the job's next
 * sequence number. An event can be lost if the writer dies between the two
 * steps; the KV record is the truth, which is why WatchJob starts with a snapshot.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Bus } from '../bus/index.js';
import { KvConflictError, jobStateKey } from '../bus/index.js';
import { status as Status } from '@grpc/grpc-js';
import { v1 } from '../proto/index.js';
import type { Kinded } from '../errors/index.js';

type Job = v1.Job;
type JobEvent = v1.JobEvent;
const { JobState } = v1;

export const TERMINAL_STATES: readonly v1.JobState[] = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];

export function isTerminal(state: v1.JobState): boolean {
  return TERMINAL_STATES.includes(state);
}

const ALLOWED: Record<number, readonly v1.JobState[]> = {
  [JobState.JOB_STATE_QUEUED]: [JobState.JOB_STATE_RUNNING, ...TERMINAL_STATES],
  [JobState.JOB_STATE_RUNNING]: TERMINAL_STATES,
};

export class JobNotFoundError extends Error implements Kinded {
  readonly kind = 'not-found' as const;
  readonly field = 'job_id';
  constructor(jobId: string) {
    super(`job_id: no job "${jobId}"`);
    this.name = 'JobNotFoundError';
  }
}

/** A request_id reused with a different payload. */
export class JobConflictError extends Error implements Kinded {
  readonly kind = 'conflict' as const;
  readonly field = 'request_id';
  constructor(message: string) {
    super(message);
    this.name = 'JobConflictError';
  }
}

export class JobTransitionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobTransitionError';
  }
}

export interface CreateJobInput {
  kind: v1.JobKind;
  spec: v1.JobSpec;
  requestId?: string;
  labels?: Record<string, string>;
  /** Override the generated id (tests). */
  jobId?: string;
}

export type EventPayload = NonNullable<JobEvent['payload']>;

export interface ListJobsFilter {
  states?: v1.JobState[];
  kind?: v1.JobKind;
  labels?: Record<string, string>;
  pageSize?: number;
  pageToken?: string;
  /** Newest first (descending job id, i.e. creation order reversed); default oldest first. */
  newestFirst?: boolean;
}

const MAX_CAS_RETRIES = 50;

export function newJobId(): string {
  // Time-ordered (ListJobs pages in creation order) and unique.
  return `j${Date.now().toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
}

function requestKey(requestId: string): string {
  return `requests.${createHash('sha256').update(requestId).digest('hex').slice(0, 40)}`;
}

export class JobStore {
  constructor(private readonly bus: Pick<Bus, 'kv' | 'events' | 'subjects'>) {}

  /** Creates a QUEUED job (publishing `created`); with a known requestId returns the existing job instead. */
  async create(input: CreateJobInput): Promise<{ job: Job; deduplicated: boolean }> {
    const specBytes = v1.JobSpec.encode(input.spec).finish();
    const jobId = input.jobId ?? newJobId();
    if (input.requestId) {
      const key = requestKey(input.requestId);
      const fingerprint = createHash('sha256').update(specBytes).digest('hex');
      const claim = new TextEncoder().encode(JSON.stringify({ jobId, fingerprint }));
      try {
        await this.bus.kv.create(key, claim);
      } catch (e) {
        if (!(e instanceof KvConflictError)) throw e;
        const existing = await this.bus.kv.get(key);
        const prior = JSON.parse(new TextDecoder().decode(existing!.value)) as { jobId: string; fingerprint: string };
        if (prior.fingerprint !== fingerprint) {
          throw new JobConflictError(`request_id: "${input.requestId}" was already used for a different request (job ${prior.jobId})`);
        }
        const job = await this.waitFor(prior.jobId);
        return { job, deduplicated: true };
      }
    }
    const job: Job = v1.Job.fromPartial({
      jobId,
      kind: input.kind,
      state: JobState.JOB_STATE_QUEUED,
      spec: input.spec,
      createdAt: new Date(),
      requestId: input.requestId ?? '',
      labels: input.labels ?? {},
      lastEventSequence: 1,
    });
    const revision = await this.bus.kv.create(jobStateKey(jobId), v1.Job.encode(job).finish());
    job.revision = revision;
    await this.publish(job, { $case: 'created', value: { job } });
    return { job, deduplicated: false };
  }

  /** A job created under a request id by a concurrent caller may not be written yet: wait briefly. */
  private async waitFor(jobId: string): Promise<Job> {
    for (let i = 0; i < 50; i++) {
      const job = await this.get(jobId);
      if (job) return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new JobNotFoundError(jobId);
  }

  async get(jobId: string): Promise<Job | undefined> {
    const entry = await this.bus.kv.get(jobStateKey(jobId));
    if (!entry) return undefined;
    const job = v1.Job.decode(entry.value);
    job.revision = entry.revision;
    return job;
  }

  async require(jobId: string): Promise<Job> {
    const job = await this.get(jobId);
    if (!job) throw new JobNotFoundError(jobId);
    return job;
  }

  /**
   * Applies `change` to the current record with compare-and-set, retrying on
   * conflicts; `change` returns the event to publish, or undefined to write
   * nothing (e.g. the job is already terminal). Returns the job as stored.
   */
  async update(jobId: string, change: (job: Job) => EventPayload | undefined): Promise<Job> {
    for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
      const job = await this.require(jobId);
      const before = job.state;
      const event = change(job);
      if (!event) return job;
      if (job.state !== before && !(ALLOWED[before] ?? []).includes(job.state)) {
        throw new JobTransitionError(`job ${jobId}: ${v1.jobStateToJSON(before)} → ${v1.jobStateToJSON(job.state)} is not allowed`);
      }
      job.lastEventSequence += 1;
      const expected = job.revision;
      try {
        job.revision = await this.bus.kv.update(jobStateKey(jobId), v1.Job.encode({ ...job, revision: 0 }).finish(), expected);
      } catch (e) {
        if (e instanceof KvConflictError) continue;
        throw e;
      }
      await this.publish(job, event);
      return job;
    }
    throw new Error(`job ${jobId}: too many concurrent updates`);
  }

  start(jobId: string, stage?: v1.Stage): Promise<Job> {
    return this.update(jobId, (job) => {
      if (job.state !== JobState.JOB_STATE_QUEUED) return undefined;
      job.state = JobState.JOB_STATE_RUNNING;
      job.startedAt = new Date();
      const previous = job.stage;
      if (stage) job.stage = stage;
      return { $case: 'stage', value: { previous, current: job.stage } };
    });
  }

  /** Moves a running job to `stage` (no-op if terminal). */
  stage(jobId: string, stage: v1.Stage): Promise<Job> {
    return this.update(jobId, (job) => {
      if (isTerminal(job.state)) return undefined;
      const previous = job.stage;
      job.stage = stage;
      job.progress = undefined;
      return { $case: 'stage', value: { previous, current: stage } };
    });
  }

  progress(jobId: string, progress: v1.Progress): Promise<Job> {
    return this.update(jobId, (job) => {
      if (isTerminal(job.state)) return undefined;
      job.progress = progress;
      return { $case: 'progress', value: { stage: job.stage, progress } };
    });
  }

  complete(jobId: string, result: v1.JobResult): Promise<Job> {
    return this.update(jobId, (job) => {
      if (isTerminal(job.state)) return undefined;
      job.state = JobState.JOB_STATE_SUCCEEDED;
      job.result = result;
      job.finishedAt = new Date();
      const duration = (job.finishedAt.getTime() - (job.startedAt ?? job.createdAt ?? job.finishedAt).getTime()) / 1000;
      return { $case: 'completed', value: { result, durationSeconds: duration } };
    });
  }

  fail(jobId: string, error: v1.JobError): Promise<Job> {
    return this.update(jobId, (job) => {
      if (isTerminal(job.state)) return undefined;
      job.state = JobState.JOB_STATE_FAILED;
      job.error = error;
      job.finishedAt = new Date();
      return { $case: 'failed', value: { error } };
    });
  }

  /** Idempotent: a terminal job is returned unchanged. */
  cancel(jobId: string, reason: string): Promise<Job> {
    return this.update(jobId, (job) => {
      if (isTerminal(job.state)) return undefined;
      job.state = JobState.JOB_STATE_CANCELLED;
      job.error = { code: Status.CANCELLED, message: reason || 'cancelled by request', stage: job.stage?.name ?? '' };
      job.finishedAt = new Date();
      return { $case: 'cancelled', value: { reason, stage: job.stage } };
    });
  }

  /**
   * Jobs in creation order (or newest first), filtered, paged (the page token
   * is the last job id of the previous page). At most 1000 per page.
   */
  async list(filter: ListJobsFilter = {}): Promise<{ jobs: Job[]; nextPageToken: string }> {
    const pageSize = Math.min(Math.max(filter.pageSize || 50, 1), 1000);
    const keys = (await this.bus.kv.keys('jobs.*')).sort();
    if (filter.newestFirst) keys.reverse();
    const after = (id: string) => !filter.pageToken || (filter.newestFirst ? id < filter.pageToken : id > filter.pageToken);
    const ids = keys.map((k) => k.slice('jobs.'.length)).filter(after);
    const jobs: Job[] = [];
    for (const id of ids) {
      const job = await this.get(id);
      if (!job) continue;
      if (filter.states?.length && !filter.states.includes(job.state)) continue;
      if (filter.kind && job.kind !== filter.kind) continue;
      if (filter.labels && Object.entries(filter.labels).some(([k, v]) => job.labels[k] !== v)) continue;
      jobs.push(job);
      if (jobs.length === pageSize) break;
    }
    const last = jobs.at(-1);
    const more = last !== undefined && jobs.length === pageSize && ids.at(-1) !== last.jobId;
    return { jobs, nextPageToken: more ? last.jobId : '' };
  }

  /** Non-terminal jobs of a kind: what a restarted driver resumes. */
  async unfinished(kind: v1.JobKind): Promise<Job[]> {
    const out: Job[] = [];
    let pageToken = '';
    do {
      const page = await this.list({ kind, states: [JobState.JOB_STATE_QUEUED, JobState.JOB_STATE_RUNNING], pageSize: 500, pageToken });
      out.push(...page.jobs);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return out;
  }

  /**
   * Events of one job, replayed from the start (those with sequence >
   * `afterSequence`) and then live, until `stop()`.
   */
  async watch(jobId: string, afterSequence: number, handler: (e: JobEvent) => void | Promise<void>): Promise<{ stop(): Promise<void> }> {
    return this.bus.events.subscribe(
      this.bus.subjects.jobEvents(jobId),
      async (msg) => {
        const event = v1.JobEvent.decode(msg.data);
        if (event.sequence > afterSequence) await handler(event);
      },
      { deliver: 'all' },
    );
  }

  private async publish(job: Job, payload: EventPayload): Promise<void> {
    const event: JobEvent = v1.JobEvent.fromPartial({
      jobId: job.jobId,
      sequence: job.lastEventSequence,
      time: new Date(),
      kind: job.kind,
      state: job.state,
    });
    event.payload = payload as JobEvent['payload'];
    await this.bus.events.publish(this.bus.subjects.jobEvent(job.jobId, payload.$case), v1.JobEvent.encode(event).finish());
  }
}
