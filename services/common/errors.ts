/**
 * Error rules every uae service adds to the service-kit's defaults
 * (`createService({ mapError: serviceErrorMappers })`):
 *
 *   ProtoFieldError / TensorCodecError (libs/proto)  → INVALID_ARGUMENT, its field
 *   JobConflictError (request_id reused)             → ALREADY_EXISTS, field request_id
 *   …NotFoundError with a `field`                    → NOT_FOUND, its field
 *   BusNotReadyError                                 → UNAVAILABLE
 *
 * The kit already maps …NotFoundError (JobNotFoundError, ArtifactNotFoundError,
 * DatasetNotFoundError, ModelNotFoundError) to NOT_FOUND and …ValidationError /
 * …InputError / …FormatError to INVALID_ARGUMENT.
 */
import { ProtoFieldError } from '../../libs/proto/index.js';
import { ServiceError, Status, type ErrorMapper } from '../../libs/service-kit/index.js';

/** Names the message's field when it starts with "field: " (as ProtoFieldError messages do). */
function stripField(field: string, message: string): string {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

export const mapProtoFieldError: ErrorMapper = (err) => {
  if (err instanceof ProtoFieldError) return new ServiceError(Status.INVALID_ARGUMENT, stripField(err.field, err.message), err.field);
  return undefined;
};

export const mapJobConflict: ErrorMapper = (err) => {
  if (err instanceof Error && err.name === 'JobConflictError') {
    const field = (err as { field?: unknown }).field;
    return new ServiceError(Status.ALREADY_EXISTS, err.message, typeof field === 'string' ? field : undefined);
  }
  return undefined;
};

/** …NotFoundError with a `field` (JobNotFoundError, ModelNotFoundError, ArtifactRefNotFoundError, …) → NOT_FOUND naming it. */
export const mapNotFoundWithField: ErrorMapper = (err) => {
  if (err instanceof Error && /NotFoundError$/.test(err.name)) {
    const field = (err as { field?: unknown }).field;
    if (typeof field === 'string') return new ServiceError(Status.NOT_FOUND, err.message, field);
  }
  return undefined;
};

export const mapBusNotReady: ErrorMapper = (err) => {
  if (err instanceof Error && err.name === 'BusNotReadyError') return new ServiceError(Status.UNAVAILABLE, err.message);
  return undefined;
};

/** Pass as `mapError` to createService (startUaeService does). */
export const serviceErrorMappers: readonly ErrorMapper[] = [mapProtoFieldError, mapJobConflict, mapNotFoundWithField, mapBusNotReady];
