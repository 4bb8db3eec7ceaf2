/**
 * Errors → gRPC status codes.
 *
 * Handlers throw; the kit turns what they throw into a status the client can
 * act on. Known shapes keep their message (it is meant for the caller and
 * names the field); anything unexpected becomes INTERNAL with a reference id
 * that is also logged with the stack, so nothing internal leaks to clients.
 *
 * The libs' errors carry a kind (libs/errors); KIND_STATUS below is the one
 * place a kind becomes a status. Nothing here sorts errors by class name.
 */
import { randomBytes } from 'node:crypto';
import { Metadata, status as Status } from '@grpc/grpc-js';
import { errorFieldOf, errorKindOf, type ErrorKind } from '../errors/index.js';

export { Status };

/** The status each error kind (libs/errors) answers: the one mapping. */
export const KIND_STATUS: Readonly<Record<ErrorKind, Status>> = {
  invalid: Status.INVALID_ARGUMENT,
  'not-found': Status.NOT_FOUND,
  conflict: Status.ALREADY_EXISTS,
  unavailable: Status.UNAVAILABLE,
  cancelled: Status.CANCELLED,
  deadline: Status.DEADLINE_EXCEEDED,
  'resource-exhausted': Status.RESOURCE_EXHAUSTED,
};

/** The status of an error kind. */
export function statusOfKind(kind: ErrorKind): Status {
  return KIND_STATUS[kind];
}

/** Trailer carrying the offending field's path when an error names one. */
export const FIELD_TRAILER = 'uae-field';
/** Trailer carrying the reference id of an INTERNAL error (also in the log). */
export const ERROR_REF_TRAILER = 'uae-error-ref';

/** The canonical name of a status code (OK, INVALID_ARGUMENT, …). */
export function statusName(code: number): string {
  return (Status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/**
 * An error with a deliberate gRPC status. `field` (a dotted path such as
 * `config.epsilon` or `samples[3]`) is prefixed to the message and sent in the
 * `uae-field` trailer.
 */
export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    readonly code: Status,
    message: string,
    readonly field?: string,
  ) {
    super(field !== undefined && !message.startsWith(`${field}:`) ? `${field}: ${message}` : message);
  }
}

export const invalidArgument = (field: string | undefined, message: string): ServiceError =>
  new ServiceError(Status.INVALID_ARGUMENT, message, field);
export const notFound = (message: string, field?: string): ServiceError =>
  new ServiceError(Status.NOT_FOUND, message, field);
export const failedPrecondition = (message: string, field?: string): ServiceError =>
  new ServiceError(Status.FAILED_PRECONDITION, message, field);
export const unavailable = (message: string): ServiceError => new ServiceError(Status.UNAVAILABLE, message);

/** A service-specific rule: return a ServiceError for errors it recognises. */
export type ErrorMapper = (err: unknown) => ServiceError | undefined;

export interface MappedStatus {
  code: Status;
  details: string;
  /** Field path the error names, when it names one. */
  field?: string;
  /** Set for INTERNAL errors nobody anticipated: log `cause` with this id. */
  ref?: string;
  cause?: unknown;
}

interface ZodLikeIssue {
  path: readonly PropertyKey[];
  message: string;
}

function isZodError(err: unknown): err is Error & { issues: ZodLikeIssue[] } {
  return (
    err instanceof Error &&
    (err.name === 'ZodError' || err.name === '$ZodError') &&
    Array.isArray((err as { issues?: unknown }).issues)
  );
}

/** `inner.size`, `samples[3].label`; the root is `(request)`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(request)' : out;
}

function errName(err: unknown): string {
  return err instanceof Error || (typeof err === 'object' && err !== null && 'name' in err)
    ? String((err as { name?: unknown }).name ?? '')
    : '';
}

function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

/**
 * The kind of the platform's own abort errors, which carry no kind: the
 * DOMExceptions an AbortSignal fires with (AbortError; TimeoutError at a
 * deadline) and Node's ABORT_ERR.
 */
function abortKind(err: unknown): 'cancelled' | 'deadline' | undefined {
  const name = errName(err);
  if (name === 'TimeoutError') return 'deadline';
  if (name === 'AbortError' || (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ABORT_ERR')) return 'cancelled';
  return undefined;
}

function abortStatus(kind: 'cancelled' | 'deadline'): MappedStatus {
  return kind === 'deadline'
    ? { code: KIND_STATUS.deadline, details: 'deadline exceeded' }
    : { code: KIND_STATUS.cancelled, details: 'call cancelled by the client' };
}

/** Status for an aborted call from the signal's reason (TimeoutError = deadline). */
export function statusFromAbort(reason: unknown): MappedStatus {
  return abortStatus(errName(reason) === 'TimeoutError' ? 'deadline' : 'cancelled');
}

/**
 * The status of an error that carries a kind (libs/errors), through
 * KIND_STATUS: its message and its `field`; cancelled/deadline answer the
 * same fixed details as an aborted call. Undefined for an error without a kind.
 */
export function statusOfKindedError(err: unknown): MappedStatus | undefined {
  const kind = errorKindOf(err);
  if (kind === undefined) return undefined;
  if (kind === 'cancelled' || kind === 'deadline') return abortStatus(kind);
  const field = errorFieldOf(err);
  return { code: KIND_STATUS[kind], details: errMessage(err), ...(field !== undefined ? { field } : {}) };
}

function newRef(): string {
  return randomBytes(6).toString('hex');
}

/**
 * Map anything a handler threw to a status.
 *
 * Order: a `signal` that already fired wins (the handler failed because the
 * call was cancelled or timed out); then the service's `mappers`; then
 * ServiceError; then an error with a kind (libs/errors: the libs' errors,
 * RequestDecodeError, ResourceLimitError, …) → KIND_STATUS[kind] with its
 * message and `field`; ZodError → INVALID_ARGUMENT naming every field path;
 * AbortError → CANCELLED, TimeoutError → DEADLINE_EXCEEDED; ENOENT →
 * NOT_FOUND; an error already carrying a numeric gRPC `code` (a downstream
 * call's) keeps it; anything else → INTERNAL "internal error (ref …)".
 */
export function statusFromError(
  err: unknown,
  opts: { signal?: AbortSignal; mappers?: readonly ErrorMapper[] } = {},
): MappedStatus {
  if (opts.signal?.aborted) return statusFromAbort(opts.signal.reason);
  for (const mapper of opts.mappers ?? []) {
    const mapped = mapper(err);
    if (mapped) return fromServiceError(mapped);
  }
  if (err instanceof ServiceError) return fromServiceError(err);
  const kinded = statusOfKindedError(err);
  if (kinded) return kinded;
  if (isZodError(err)) {
    const fields = err.issues.map((i) => formatFieldPath(i.path));
    return {
      code: Status.INVALID_ARGUMENT,
      details: err.issues.map((i, k) => `${fields[k]}: ${i.message}`).join('; '),
      field: fields[0],
    };
  }
  const aborted = abortKind(err);
  if (aborted) return abortStatus(aborted);
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 'ENOENT') return { code: KIND_STATUS['not-found'], details: errMessage(err) };
  if (isGrpcStatusCode(code)) {
    const details = (err as { details?: unknown }).details;
    return { code: code as Status, details: typeof details === 'string' ? details : errMessage(err) };
  }
  const ref = newRef();
  return { code: Status.INTERNAL, details: `internal error (ref ${ref})`, ref, cause: err };
}

/** A gRPC status number other than OK (what a downstream call's error carries in `code`). */
export function isGrpcStatusCode(code: unknown): code is Status {
  return typeof code === 'number' && Number.isInteger(code) && code > Status.OK && code <= Status.UNAUTHENTICATED;
}

function fromServiceError(err: ServiceError): MappedStatus {
  return { code: err.code, details: err.message, ...(err.field !== undefined ? { field: err.field } : {}) };
}

/** The object grpc-js callbacks and `emit('error')` accept, with trailers. */
export function toGrpcStatus(mapped: MappedStatus): { code: Status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  if (mapped.field !== undefined) metadata.set(FIELD_TRAILER, mapped.field);
  if (mapped.ref !== undefined) metadata.set(ERROR_REF_TRAILER, mapped.ref);
  return { code: mapped.code, details: mapped.details, metadata };
}
