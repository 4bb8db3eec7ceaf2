/**
 * Client-side errors: every failed call surfaces as a UaeClientError carrying
 * the gRPC status (number and name), the server's message and the trailers the
 * service kit sends (`uae-field`: the offending request field's path;
 * `uae-error-ref`: the reference of an INTERNAL error in the server's log).
 */
import { Metadata, status as Status } from '@grpc/grpc-js';

export { Status };

/** Trailer with the offending request field's path (docs/service-kit.md). */
export const FIELD_TRAILER = 'uae-field';
/** Trailer with an INTERNAL error's reference id (also in the server's log). */
export const ERROR_REF_TRAILER = 'uae-error-ref';

/** Canonical gRPC status names. */
export type StatusName =
  | 'OK'
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

/** OK, INVALID_ARGUMENT, … for a status number (`CODE_<n>` for one gRPC does not define). */
export function statusName(code: number): StatusName {
  return ((Status as unknown as Record<number, string>)[code] ?? `CODE_${code}`) as StatusName;
}

/** Status number for a name ("NOT_FOUND" → 5); undefined if unknown. */
export function statusCode(name: string): number | undefined {
  const v = (Status as unknown as Record<string, number>)[name.toUpperCase()];
  return typeof v === 'number' ? v : undefined;
}

/**
 * A call that did not succeed. `code` is the numeric gRPC status (so a
 * service that forwards this error keeps the status), `codeName` its name,
 * `details` the server's message, `field` the `uae-field` trailer.
 *
 *   catch (e) { if (e instanceof UaeClientError && e.codeName === 'NOT_FOUND') … }
 */
export class UaeClientError extends Error {
  override name = 'UaeClientError';
  /** Numeric gRPC status code. */
  readonly code: number;
  /** Its name, e.g. "INVALID_ARGUMENT". */
  readonly codeName: StatusName;
  /** The server's message (for INVALID_ARGUMENT it starts with the field path). */
  readonly details: string;
  /** Offending request field path from the `uae-field` trailer, when the server named one. */
  readonly field?: string;
  /** INTERNAL errors: the reference id in the server's log (`uae-error-ref`). */
  readonly ref?: string;
  /** The full trailing metadata. */
  readonly metadata: Metadata;
  /** The RPC path, e.g. "/uae.v1.JobService/GetJob", when known. */
  readonly method?: string;

  constructor(init: { code: number; details: string; metadata?: Metadata; method?: string; cause?: unknown }) {
    const codeName = statusName(init.code);
    super(`${codeName}: ${init.details}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.codeName = codeName;
    this.details = init.details;
    this.metadata = init.metadata ?? new Metadata();
    this.method = init.method;
    const field = this.metadata.get(FIELD_TRAILER)[0];
    if (typeof field === 'string' && field !== '') this.field = field;
    const ref = this.metadata.get(ERROR_REF_TRAILER)[0];
    if (typeof ref === 'string' && ref !== '') this.ref = ref;
  }
}

interface GrpcErrorLike {
  code: number;
  details?: string;
  message?: string;
  metadata?: Metadata;
}

function isGrpcError(e: unknown): e is GrpcErrorLike {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number';
}

/** A grpc-js ServiceError (or anything else thrown during a call) as a UaeClientError. */
export function toClientError(e: unknown, method?: string): UaeClientError {
  if (e instanceof UaeClientError) return e;
  if (isGrpcError(e)) {
    const details = e.details ?? e.message ?? '';
    return new UaeClientError({ code: e.code, details, metadata: e.metadata, method, cause: e });
  }
  const message = e instanceof Error ? e.message : String(e);
  return new UaeClientError({ code: Status.UNKNOWN, details: message, method, cause: e });
}

/** The AbortError for a signal without a reason of its own. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
