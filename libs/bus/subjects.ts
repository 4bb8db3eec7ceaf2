/**
 * Subject, key and id conventions of the bus.
 *
 * Subjects (default root `uae.v1`):
 *   <root>.jobs.<jobId>.<event>              job events (events stream, limits retention)
 *   <root>.work.<kind>.<jobId>.<shardId>     work items (work-queue stream), kind e.g. `attack`
 *
 * Ids that become subject tokens or key segments are validated: 1–128 characters of
 * `[A-Za-z0-9_-]`, so no dots, wildcards (`*`, `>`), whitespace or slashes can change a
 * subject's shape.
 */
import { BusValidationError } from './types.js';

export const DEFAULT_SUBJECT_ROOT = 'uae.v1';

export const JOB_EVENTS = ['created', 'progress', 'stage', 'completed', 'failed', 'cancelled'] as const;
export type JobEvent = (typeof JOB_EVENTS)[number];

const ID_RE = /^[A-Za-z0-9_-]{1,128}$/;
const TOKEN_RE = /^[^\s.*>]+$/;

/** Throws a BusValidationError naming `field` unless `id` is a safe subject token / key segment. */
export function validateId(id: string, field = 'id'): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new BusValidationError(
      `${field} must be 1-128 characters of [A-Za-z0-9_-] (no dots, wildcards, slashes or whitespace), got ${JSON.stringify(id)}`,
      field,
    );
  }
  return id;
}

export function isValidId(id: string): boolean {
  return typeof id === 'string' && ID_RE.test(id);
}

/** A subject root such as `uae.v1`: dot-separated literal tokens. */
export function validateSubjectRoot(root: string): string {
  const tokens = root.split('.');
  if (root.length === 0 || tokens.some((t) => !TOKEN_RE.test(t))) {
    throw new BusValidationError(`subject root must be dot-separated literal tokens, got ${JSON.stringify(root)}`, 'subjectRoot');
  }
  return root;
}

/** A concrete (publishable) subject: non-empty tokens, no wildcards, no whitespace. */
export function validateSubject(subject: string, field = 'subject'): string {
  if (typeof subject !== 'string' || subject.length === 0 || subject.split('.').some((t) => !TOKEN_RE.test(t))) {
    throw new BusValidationError(
      `${field} must be dot-separated tokens without wildcards or whitespace, got ${JSON.stringify(subject)}`,
      field,
    );
  }
  return subject;
}

/** A subscription pattern: tokens may be `*`; `>` only as the last token. */
export function validatePattern(pattern: string, field = 'pattern'): string {
  const tokens = typeof pattern === 'string' && pattern.length > 0 ? pattern.split('.') : [''];
  const ok = tokens.every((t, i) => t === '*' || (t === '>' && i === tokens.length - 1) || TOKEN_RE.test(t));
  if (!ok) {
    throw new BusValidationError(
      `${field} must be dot-separated tokens, '*' or a final '>', got ${JSON.stringify(pattern)}`,
      field,
    );
  }
  return pattern;
}

/** NATS subject matching: `*` matches one token, a final `>` matches one or more tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === '>') return s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return p.length === s.length;
}

/** True when every subject matching `pattern` also matches `outer`. */
export function patternWithin(pattern: string, outer: string): boolean {
  const p = pattern.split('.');
  const o = outer.split('.');
  for (let i = 0; i < p.length; i++) {
    const ot = o[i];
    if (ot === undefined) return false;
    if (ot === '>') return true;
    const pt = p[i];
    if (pt === '>') return false;
    if (ot === '*') continue;
    if (pt === '*' || pt !== ot) return false;
  }
  return p.length === o.length;
}

export function isJobEvent(e: string): e is JobEvent {
  return (JOB_EVENTS as readonly string[]).includes(e);
}

/** Subject builders and parsers bound to one root (the bus exposes its own as `bus.subjects`). */
export interface Subjects {
  readonly root: string;
  /** `<root>.jobs.>`: every job event (the events stream's subject). */
  readonly allJobEvents: string;
  /** `<root>.work.>`: every work item (the work-queue stream's subject). */
  readonly allWork: string;
  jobEvent(jobId: string, event: JobEvent): string;
  /** `<root>.jobs.<jobId>.*`: every event of one job. */
  jobEvents(jobId: string): string;
  shard(jobId: string, shard: number | string, kind?: string): string;
  /** `<root>.work.<kind>.<jobId>.*`: every shard of one job (e.g. to purge a cancelled job). */
  jobShards(jobId: string, kind?: string): string;
  parseJobEvent(subject: string): { jobId: string; event: JobEvent } | null;
  parseShard(subject: string): { kind: string; jobId: string; shard: string } | null;
}

function shardToken(shard: number | string): string {
  if (typeof shard === 'number') {
    if (!Number.isSafeInteger(shard) || shard < 0) {
      throw new BusValidationError(`shard must be a non-negative integer, got ${shard}`, 'shard');
    }
    return String(shard);
  }
  return validateId(shard, 'shard');
}

export function createSubjects(root: string = DEFAULT_SUBJECT_ROOT): Subjects {
  validateSubjectRoot(root);
  const rootTokens = root.split('.').length;
  return {
    root,
    allJobEvents: `${root}.jobs.>`,
    allWork: `${root}.work.>`,
    jobEvent(jobId, event) {
      validateId(jobId, 'jobId');
      if (!isJobEvent(event)) throw new BusValidationError(`unknown job event ${JSON.stringify(event)}`, 'event');
      return `${root}.jobs.${jobId}.${event}`;
    },
    jobEvents(jobId) {
      return `${root}.jobs.${validateId(jobId, 'jobId')}.*`;
    },
    shard(jobId, shard, kind = 'attack') {
      return `${root}.work.${validateId(kind, 'kind')}.${validateId(jobId, 'jobId')}.${shardToken(shard)}`;
    },
    jobShards(jobId, kind = 'attack') {
      return `${root}.work.${validateId(kind, 'kind')}.${validateId(jobId, 'jobId')}.*`;
    },
    parseJobEvent(subject) {
      if (!subject.startsWith(`${root}.jobs.`)) return null;
      const rest = subject.split('.').slice(rootTokens + 1);
      if (rest.length !== 2) return null;
      const [jobId, event] = rest as [string, string];
      if (!isValidId(jobId) || !isJobEvent(event)) return null;
      return { jobId, event };
    },
    parseShard(subject) {
      if (!subject.startsWith(`${root}.work.`)) return null;
      const rest = subject.split('.').slice(rootTokens + 1);
      if (rest.length !== 3) return null;
      const [kind, jobId, shard] = rest as [string, string, string];
      if (!isValidId(kind) || !isValidId(jobId) || !isValidId(shard)) return null;
      return { kind, jobId, shard };
    },
  };
}

const defaultSubjects = createSubjects();

/** `uae.v1.jobs.<id>.<event>` */
export function jobEventSubject(jobId: string, event: JobEvent): string {
  return defaultSubjects.jobEvent(jobId, event);
}

/** `uae.v1.work.<kind>.<jobId>.<shard>` */
export function shardSubject(jobId: string, shard: number | string, kind = 'attack'): string {
  return defaultSubjects.shard(jobId, shard, kind);
}

export function parseJobEventSubject(subject: string): { jobId: string; event: JobEvent } | null {
  return defaultSubjects.parseJobEvent(subject);
}

export function parseShardSubject(subject: string): { kind: string; jobId: string; shard: string } | null {
  return defaultSubjects.parseShard(subject);
}

/** Deterministic message id of a shard (publish dedup): `<kind>.<jobId>.<shard>`. */
export function shardMsgId(jobId: string, shard: number | string, kind = 'attack'): string {
  return `${validateId(kind, 'kind')}.${validateId(jobId, 'jobId')}.${shardToken(shard)}`;
}

/** KV key of a job's state: `jobs.<jobId>`. */
export function jobStateKey(jobId: string): string {
  return `jobs.${validateId(jobId, 'jobId')}`;
}

/**
 * Deterministic artifact key of a shard's result: `jobs/<jobId>/<kind>/<shard>`. A redelivered
 * shard recomputes the same key, so results are exactly-once however often work is delivered.
 * Numeric shards are zero-padded to 6 digits so `list()` returns them in order.
 */
export function shardResultKey(jobId: string, shard: number | string, kind = 'attack'): string {
  const token = typeof shard === 'number' ? shardToken(shard).padStart(6, '0') : shardToken(shard);
  return `jobs/${validateId(jobId, 'jobId')}/${validateId(kind, 'kind')}/${token}`;
}

const KEY_SEGMENT_RE = /^[A-Za-z0-9_=+-][A-Za-z0-9._=+-]*$/;

/**
 * Artifact keys: `/`-separated segments of `[A-Za-z0-9._=+-]`, no empty, `.` or `..` segments,
 * not starting with a dot, at most 512 characters. Safe as relative file paths and as object names.
 */
export function validateArtifactKey(key: string, field = 'key'): string {
  const ok =
    typeof key === 'string' &&
    key.length > 0 &&
    key.length <= 512 &&
    key.split('/').every((s) => KEY_SEGMENT_RE.test(s) && s !== '.' && s !== '..');
  if (!ok) {
    throw new BusValidationError(
      `${field} must be '/'-separated segments of [A-Za-z0-9._=+-] (no empty, '.' or '..' segments, no leading dot), got ${JSON.stringify(key)}`,
      field,
    );
  }
  return key;
}

const KV_KEY_RE = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

/** KV keys: dot-separated tokens of `[-/_=a-zA-Z0-9]` (the NATS KV key alphabet). */
export function validateKvKey(key: string, field = 'key'): string {
  if (typeof key !== 'string' || key.length > 1024 || !KV_KEY_RE.test(key)) {
    throw new BusValidationError(`${field} must be dot-separated tokens of [-/_=a-zA-Z0-9], got ${JSON.stringify(key)}`, field);
  }
  return key;
}

/** KV key filters: like keys, tokens may also be `*` or a final `>`. */
export function validateKvFilter(filter: string, field = 'filter'): string {
  const tokens = typeof filter === 'string' ? filter.split('.') : [''];
  const ok = tokens.every((t, i) => t === '*' || (t === '>' && i === tokens.length - 1) || /^[-/_=a-zA-Z0-9]+$/.test(t));
  if (!ok) throw new BusValidationError(`${field} must be a KV key pattern, got ${JSON.stringify(filter)}`, field);
  return filter;
}
