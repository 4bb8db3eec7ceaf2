import type { Kinded } from '../errors/index.js';

/**
 * A request field that does not satisfy its contract. `field` is the proto
 * field path ("x.raw_data", "config.similarity.mine.sampler"); services map
 * this error to INVALID_ARGUMENT with the message as details.
 */
export class ProtoFieldError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(
    /** The offending proto field path, snake_case as in the .proto files. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ProtoFieldError';
  }
}
