import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ERROR_REF_TRAILER,
  FIELD_TRAILER,
  ServiceError,
  Status,
  formatFieldPath,
  invalidArgument,
  statusFromError,
  toGrpcStatus,
} from '../../libs/service-kit/index.js';

// Stand-ins for the libs' errors: like them (libs/errors), they carry a kind.
class AttackInputError extends Error {
  readonly kind = 'invalid' as const;
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'AttackInputError';
  }
}
class AttackCancelledError extends Error {
  readonly kind = 'cancelled' as const;
  override name = 'AttackCancelledError';
}
class DatasetNotFoundError extends Error {
  readonly kind = 'not-found' as const;
  override name = 'DatasetNotFoundError';
}

describe('statusFromError', () => {
  it('keeps a ServiceError and prefixes its field', () => {
    const e = invalidArgument('config.epsilon', 'must be > 0');
    expect(e.message).toBe('config.epsilon: must be > 0');
    expect(statusFromError(e)).toEqual({ code: Status.INVALID_ARGUMENT, details: 'config.epsilon: must be > 0', field: 'config.epsilon' });
    expect(new ServiceError(Status.NOT_FOUND, 'model: none', 'model').message).toBe('model: none');
  });

  it('maps ZodError to INVALID_ARGUMENT naming every field path', () => {
    const r = z
      .object({ samples: z.array(z.object({ label: z.number().int() })), name: z.string() })
      .safeParse({ samples: [{ label: 1 }, { label: 1.5 }], name: 3 });
    const s = statusFromError(r.error);
    expect(s.code).toBe(Status.INVALID_ARGUMENT);
    expect(s.details).toMatch(/^samples\[1\]\.label: .*; name: /);
    expect(s.field).toBe('samples[1].label');
    expect(formatFieldPath([])).toBe('(request)');
  });

  it('maps cancellation by the signal reason, and abort-like errors', () => {
    const timedOut = new AbortController();
    timedOut.abort(new DOMException('deadline exceeded', 'TimeoutError'));
    expect(statusFromError(new Error('whatever'), { signal: timedOut.signal }).code).toBe(Status.DEADLINE_EXCEEDED);
    const cancelled = new AbortController();
    cancelled.abort();
    expect(statusFromError(new AttackCancelledError('x'), { signal: cancelled.signal }).code).toBe(Status.CANCELLED);
    expect(statusFromError(new AttackCancelledError('x')).code).toBe(Status.CANCELLED);
    expect(statusFromError(new DOMException('t', 'TimeoutError')).code).toBe(Status.DEADLINE_EXCEEDED);
    expect(statusFromError(new DOMException('a', 'AbortError')).code).toBe(Status.CANCELLED);
  });

  it('maps not-found and the libs input errors', () => {
    expect(statusFromError(new DatasetNotFoundError('no dataset "foo"'))).toEqual({
      code: Status.NOT_FOUND,
      details: 'no dataset "foo"',
    });
    expect(statusFromError(Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' })).code).toBe(Status.NOT_FOUND);
    expect(statusFromError(new AttackInputError('inputShape', 'must be positive'))).toEqual({
      code: Status.INVALID_ARGUMENT,
      details: 'inputShape: must be positive',
      field: 'inputShape',
    });
  });

  it('passes a downstream gRPC status through', () => {
    const downstream = Object.assign(new Error('14 UNAVAILABLE: no connection'), { code: 14, details: 'no connection' });
    expect(statusFromError(downstream)).toEqual({ code: Status.UNAVAILABLE, details: 'no connection' });
  });

  it('turns anything else into INTERNAL with a reference and no message', () => {
    const cause = new TypeError('cannot read properties of undefined (secret)');
    const s = statusFromError(cause);
    expect(s.code).toBe(Status.INTERNAL);
    expect(s.details).toMatch(/^internal error \(ref [0-9a-f]{12}\)$/);
    expect(s.details).not.toContain('secret');
    expect(s.cause).toBe(cause);
    expect(statusFromError('a string').code).toBe(Status.INTERNAL);
    const g = toGrpcStatus(s);
    expect(g.metadata.get(ERROR_REF_TRAILER)).toEqual([s.ref]);
  });

  it('tries the service mappers first', () => {
    const s = statusFromError(new TypeError('quota'), {
      mappers: [(e) => (e instanceof TypeError ? new ServiceError(Status.RESOURCE_EXHAUSTED, 'quota exceeded') : undefined)],
    });
    expect(s).toEqual({ code: Status.RESOURCE_EXHAUSTED, details: 'quota exceeded' });
    expect(toGrpcStatus({ code: Status.INVALID_ARGUMENT, details: 'x: bad', field: 'x' }).metadata.get(FIELD_TRAILER)).toEqual(['x']);
  });
});
