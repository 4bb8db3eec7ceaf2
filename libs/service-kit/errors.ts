/**
 * Errors → gRPC status codes.
 *
 * Handlers throw; the kit turns what they throw into a status the client can
 * act on. Known shapes keep their message (it is meant for the caller and
 * names the field); anything unexpected becomes INTERNAL with a reference id
 * that is also logged with the stack, so nothing internal leaks to clients.
 */
import { randomBytes } from 'node:crypto';
import { Metadata, status as Status } from '@grpc/grpc-js';

export { Status };

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

function isCancellation(err: unknown): boolean {
  const name = errName(err);
  return (
    name === 'AbortError' ||
    name === 'TimeoutError' ||
    /CancelledError$/.test(name) ||
    (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ABORT_ERR')
  );
}

/** Status for an aborted call from the signal's reason (TimeoutError = deadline). */
export function statusFromAbort(reason: unknown): MappedStatus {
  const deadline = errName(reason) === 'TimeoutError';
  return deadline
    ? { code: Status.DEADLINE_EXCEEDED, details: 'deadline exceeded' }
    : { code: Status.CANCELLED, details: 'call cancelled by the client' };
}

function newRef(): string {
  return randomBytes(6).toString('hex');
}

/**
 * Map anything a handler threw to a status.
 *
 * Order: a `signal` that already fired wins (the handler failed because the
 * call was cancelled or timed out); then the service's `mappers`; then
 * ServiceError; RequestDecodeError (bytes that are not the method's request,
 * decode.ts) → INVALID_ARGUMENT with its field; ResourceLimitError (a request
 * over a budget, libs/limits) → RESOURCE_EXHAUSTED with its field; ZodError → INVALID_ARGUMENT naming every field path;
 * AbortError/…CancelledError → CANCELLED, TimeoutError → DEADLINE_EXCEEDED;
 * …NotFoundError or ENOENT → NOT_FOUND; …InputError/…ValidationError/
 * …FormatError (the libs' input errors) → INVALID_ARGUMENT with their `field`;
 * an error already carrying a numeric gRPC `code` (a downstream call's) keeps
 * it; anything else → INTERNAL "internal error (ref …)".
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
  if (errName(err) === 'RequestDecodeError') {
    const field = (err as { field?: unknown }).field;
    return { code: Status.INVALID_ARGUMENT, details: errMessage(err), ...(typeof field === 'string' ? { field } : {}) };
  }
  if (errName(err) === 'ResourceLimitError') {
    const field = (err as { field?: unknown }).field;
    return { code: Status.RESOURCE_EXHAUSTED, details: errMessage(err), ...(typeof field === 'string' ? { field } : {}) };
  }
  if (isZodError(err)) {
    const fields = err.issues.map((i) => formatFieldPath(i.path));
    return {
      code: Status.INVALID_ARGUMENT,
      details: err.issues.map((i, k) => `${fields[k]}: ${i.message}`).join('; '),
      field: fields[0],
    };
  }
  if (isCancellation(err)) return statusFromAbort(errName(err) === 'TimeoutError' ? err : undefined);
  const name = errName(err);
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (/NotFoundError$/.test(name) || code === 'ENOENT') {
    return { code: Status.NOT_FOUND, details: errMessage(err) };
  }
  if (/(Input|Validation|Format)Error$/.test(name)) {
    const field = (err as { field?: unknown }).field;
    return {
      code: Status.INVALID_ARGUMENT,
      details: errMessage(err),
      ...(typeof field === 'string' ? { field } : {}),
    };
  }
  if (typeof code === 'number' && Number.isInteger(code) && code > 0 && code <= 16) {
    const details = (err as { details?: unknown }).details;
    return { code: code as Status, details: typeof details === 'string' ? details : errMessage(err) };
  }
  const ref = newRef();
  return { code: Status.INTERNAL, details: `internal error (ref ${ref})`, ref, cause: err };
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
