/**
 * NATS subjects, streams and object-store keys of the contracts
 * (proto/uae/v1/events.proto and work.proto; table in docs/proto.md).
 */
import type { JobEvent } from './gen/uae/v1/events.js';

/** Every subject of this API version starts with this. */
export const SUBJECT_PREFIX = 'uae.v1';

/** The last subject token of a job event: the JobEvent.payload case it carries. */
export const JOB_EVENT_KINDS = ['created', 'progress', 'stage', 'completed', 'failed', 'cancelled'] as const;
export type JobEventKind = (typeof JOB_EVENT_KINDS)[number];
/** Kinds after which a job never changes. */
export const TERMINAL_JOB_EVENT_KINDS: readonly JobEventKind[] = ['completed', 'failed', 'cancelled'];

/** JetStream stream of job events (limits retention, for replay by WatchJob). */
export const JOBS_STREAM = 'UAE_JOBS';
/** Subject filter of every job event. */
export const JOB_EVENTS_FILTER = `${SUBJECT_PREFIX}.jobs.>`;
/** JetStream work-queue stream of attack shards. */
export const WORK_STREAM = 'UAE_WORK';
/** Subject filter of every attack shard (the workers' consumer). */
export const ATTACK_WORK_FILTER = `${SUBJECT_PREFIX}.work.attack.>`;
/** Subject filter of every shard completion/failure notice. */
export const SHARD_EVENTS_FILTER = `${SUBJECT_PREFIX}.shards.>`;

/** Job ids are NATS-safe tokens: 1–64 characters of [A-Za-z0-9_-]. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function token(jobId: string): string {
  if (!JOB_ID_PATTERN.test(jobId)) throw new Error(`job_id: "${jobId}" is not 1–64 characters of [A-Za-z0-9_-]`);
  return jobId;
}

/** uae.v1.jobs.<job_id>.<kind> */
export function jobEventSubject(jobId: string, kind: JobEventKind): string {
  return `${SUBJECT_PREFIX}.jobs.${token(jobId)}.${kind}`;
}

/** uae.v1.jobs.<job_id>.* — every event of one job. */
export function jobEventsFilter(jobId: string): string {
  return `${SUBJECT_PREFIX}.jobs.${token(jobId)}.*`;
}

/** The job id and event kind of a job-event subject; undefined for any other subject. */
export function parseJobEventSubject(subject: string): { jobId: string; kind: JobEventKind } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 5 || `${parts[0]}.${parts[1]}` !== SUBJECT_PREFIX || parts[2] !== 'jobs') return undefined;
  const [jobId, kind] = [parts[3]!, parts[4]!];
  if (!JOB_ID_PATTERN.test(jobId) || !(JOB_EVENT_KINDS as readonly string[]).includes(kind)) return undefined;
  return { jobId, kind: kind as JobEventKind };
}

/** The kind of a JobEvent (its payload case), i.e. the subject token it is published under. */
export function jobEventKind(event: JobEvent): JobEventKind {
  if (!event.payload) throw new Error(`job event ${event.jobId}#${event.sequence} has no payload`);
  return event.payload.$case;
}

/** The subject a JobEvent is published on. */
export function subjectOf(event: JobEvent): string {
  return jobEventSubject(event.jobId, jobEventKind(event));
}

/** JetStream de-duplication id (Nats-Msg-Id header) of a job event. */
export function jobEventMsgId(event: JobEvent): string {
  return `${token(event.jobId)}.${event.sequence}`;
}

/** uae.v1.work.attack.<job_id>: the job's attack shards (purged on cancel). */
export function attackWorkSubject(jobId: string): string {
  return `${SUBJECT_PREFIX}.work.attack.${token(jobId)}`;
}

/** uae.v1.shards.<job_id>.completed|failed */
export function shardEventSubject(jobId: string, kind: 'completed' | 'failed'): string {
  return `${SUBJECT_PREFIX}.shards.${token(jobId)}.${kind}`;
}

/** Deterministic object-store key of a shard's AttackShardResult: jobs/<job_id>/<method or 'attack'>/shard-<index>. */
export function shardResultKey(jobId: string, method: string, shardIndex: number): string {
  if (!Number.isSafeInteger(shardIndex) || shardIndex < 0) throw new Error(`shard_index: ${shardIndex} is not a non-negative integer`);
  if (method !== '' && !/^[A-Za-z0-9_.-]+$/.test(method)) throw new Error(`method: "${method}" is not a plain token`);
  return `jobs/${token(jobId)}/${method || 'attack'}/shard-${shardIndex}`;
}
