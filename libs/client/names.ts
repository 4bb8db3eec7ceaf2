/** Short names for job states and kinds (CLI flags, tables), and the terminal-state rule. */
import { v1 } from '../proto/index.js';

const { JobState, JobKind } = v1;

/** A message with every field optional, recursively (what the client's request parameters accept). */
type Builtin = Date | Function | Uint8Array | string | number | boolean | undefined;
export type DeepPartial<T> = T extends Builtin
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends ReadonlyArray<infer U>
      ? ReadonlyArray<DeepPartial<U>>
      : T extends { $case: string; value: unknown }
        ? { $case: T['$case']; value?: DeepPartial<T['value']> }
        : T extends {}
          ? { [K in keyof T]?: DeepPartial<T[K]> }
          : Partial<T>;

export type JobStateName = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobKindName = 'pipeline' | 'attack' | 'training';

const STATES: Record<JobStateName, v1.JobState> = {
  queued: JobState.JOB_STATE_QUEUED,
  running: JobState.JOB_STATE_RUNNING,
  succeeded: JobState.JOB_STATE_SUCCEEDED,
  failed: JobState.JOB_STATE_FAILED,
  cancelled: JobState.JOB_STATE_CANCELLED,
};
const KINDS: Record<JobKindName, v1.JobKind> = {
  pipeline: JobKind.JOB_KIND_PIPELINE,
  attack: JobKind.JOB_KIND_ATTACK,
  training: JobKind.JOB_KIND_TRAINING,
};

function lookup<T>(table: Record<string, T>, prefix: string, what: string, name: string): T {
  const key = name.trim().toLowerCase().replace(new RegExp(`^${prefix}`), '');
  const v = table[key];
  if (v === undefined) throw new Error(`unknown job ${what} "${name}"; expected one of ${Object.keys(table).join(', ')}`);
  return v;
}

/** "running", "RUNNING" or "JOB_STATE_RUNNING" → JobState.JOB_STATE_RUNNING. */
export function parseJobState(name: string): v1.JobState {
  return lookup(STATES, 'job_state_', 'state', name);
}

/** "pipeline", "PIPELINE" or "JOB_KIND_PIPELINE" → JobKind.JOB_KIND_PIPELINE. */
export function parseJobKind(name: string): v1.JobKind {
  return lookup(KINDS, 'job_kind_', 'kind', name);
}

/** JOB_STATE_RUNNING → "RUNNING" (unknown numbers: "STATE_<n>"). */
export function jobStateName(state: v1.JobState): string {
  const name = (JobState as unknown as Record<number, string>)[state];
  return name && state !== JobState.UNRECOGNIZED ? name.replace(/^JOB_STATE_/, '') : `STATE_${state}`;
}

/** JOB_KIND_PIPELINE → "PIPELINE". */
export function jobKindName(kind: v1.JobKind): string {
  const name = (JobKind as unknown as Record<number, string>)[kind];
  return name && kind !== JobKind.UNRECOGNIZED ? name.replace(/^JOB_KIND_/, '') : `KIND_${kind}`;
}

/** SUCCEEDED, FAILED and CANCELLED never change. */
export function isTerminal(state: v1.JobState): boolean {
  return state === JobState.JOB_STATE_SUCCEEDED || state === JobState.JOB_STATE_FAILED || state === JobState.JOB_STATE_CANCELLED;
}

/** The terminal event of a WatchJob stream, if this message is one. */
export function isTerminalEvent(msg: v1.WatchJobResponse): boolean {
  if (msg.kind?.$case !== 'event') return false;
  const c = msg.kind.value.payload?.$case;
  return c === 'completed' || c === 'failed' || c === 'cancelled';
}
