/**
 * Error rules every uae service adds to the service-kit's defaults
 * (`createService({ mapError: serviceErrorMappers })`).
 *
 * The libs' and the services' errors carry a kind (libs/errors), and the kit
 * maps every kind to its status in one place (libs/service-kit/errors.ts
 * KIND_STATUS), naming the error's field:
 *
 *   ProtoFieldError / TensorCodecError (libs/proto), …InputError, …FormatError   invalid      → INVALID_ARGUMENT, its field
 *   JobConflictError (request_id reused)                                        conflict     → ALREADY_EXISTS, field request_id
 *   JobNotFoundError, ModelNotFoundError, ArtifactRefNotFoundError, …           not-found    → NOT_FOUND, its field
 *   BusNotReadyError                                                            unavailable  → UNAVAILABLE
 *
 * So the services need no rule of their own for them; mapProtoFieldError stays
 * as the services' answer to a ProtoFieldError (through the same mapping), for
 * code that wants to know it.
 */
import { ProtoFieldError } from '../../libs/proto/index.js';
import { ServiceError, statusOfKindedError, type ErrorMapper } from '../../libs/service-kit/index.js';

/** A ProtoFieldError (or TensorCodecError) → INVALID_ARGUMENT naming its field (its kind's status). */
export const mapProtoFieldError: ErrorMapper = (err) => {
  if (!(err instanceof ProtoFieldError)) return undefined;
  const s = statusOfKindedError(err);
  return s ? new ServiceError(s.code, s.details, s.field) : undefined;
};

/** Pass as `mapError` to createService (startUaeService does). */
export const serviceErrorMappers: readonly ErrorMapper[] = [mapProtoFieldError];
