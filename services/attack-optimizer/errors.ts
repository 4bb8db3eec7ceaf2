/**
 * Error rule of the attack-optimizer on top of services/common/errors.ts:
 * …NotFoundErrors that name a field (ModelNotFoundError, ArtifactRefNotFoundError,
 * DatasetConfigNotFoundError) become NOT_FOUND *with* the field, so clients get
 * the `uae-field` trailer as they do for INVALID_ARGUMENT (the kit's default
 * NOT_FOUND rule keeps only the message).
 */
import { ServiceError, Status, type ErrorMapper } from '../../libs/service-kit/index.js';

export const mapFieldNotFound: ErrorMapper = (err) => {
  if (!(err instanceof Error) || !/NotFoundError$/.test(err.name)) return undefined;
  const field = (err as { field?: unknown }).field;
  if (typeof field !== 'string') return undefined;
  const message = err.message.startsWith(`${field}: `) ? err.message.slice(field.length + 2) : err.message;
  return new ServiceError(Status.NOT_FOUND, message, field);
};
