/**
 * libs/errors: one error vocabulary for the libs and the services, free of
 * any transport. An error says what kind of failure it is (`kind`) and, when
 * the caller's input is at fault, which input (`field`: a proto path such as
 * `config.epsilon`, an option name, `samples[3]`). Nothing sorts errors by
 * their class name: code that has to tell failures apart reads the kind with
 * `errorKindOf`. The service kit maps each kind to a gRPC status in one place
 * (libs/service-kit/errors.ts, `KIND_STATUS`); see docs/service-kit.md.
 */

/** Every kind an error can carry (the ones the code needs; add one with its status in KIND_STATUS). */
export const ERROR_KINDS = [
  /** The caller's input is wrong (names the field): retrying it unchanged fails again. */
  'invalid',
  /** Something the request names does not exist (a model, a job, a dataset, an artifact). */
  'not-found',
  /** The request collides with an existing one (a request_id reused for a different request). */
  'conflict',
  /** A dependency is not there right now (the bus not connected yet): retrying later may work. */
  'unavailable',
  /** The work was cancelled (by its caller, or because its job ended). */
  'cancelled',
  /** The work ran out of time. */
  'deadline',
  /** The request needs more than a configured budget allows (names the field that drives the size). */
  'resource-exhausted',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

/** What a library error carries: its kind and, when the input is at fault, the offending field. */
export interface Kinded {
  readonly kind: ErrorKind;
  readonly field?: string;
}

const KINDS: ReadonlySet<string> = new Set(ERROR_KINDS);

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && KINDS.has(value);
}

/** The kind `err` carries (its `kind` property), or undefined for an error without one. */
export function errorKindOf(err: unknown): ErrorKind | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const kind = (err as { kind?: unknown }).kind;
  return isErrorKind(kind) ? kind : undefined;
}

/** The field a kinded error names, if any. */
export function errorFieldOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const field = (err as { field?: unknown }).field;
  return typeof field === 'string' ? field : undefined;
}
