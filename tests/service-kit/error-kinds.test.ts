/**
 * One error vocabulary (libs/errors): every error class the libs export
 * either carries a kind — and then answers the status its kind maps to
 * through the kit's one mapping (KIND_STATUS), naming its field — or is
 * listed here as deliberately kindless (start-up errors, bus internals,
 * errors that carry a status of their own). A new error class under libs/
 * fails this test until it is given a kind or listed.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_KINDS, errorKindOf } from '../../libs/errors/index.js';
import { ResourceLimitError } from '../../libs/limits/index.js';
import { ConfigError, KIND_STATUS, RequestDecodeError, ServiceError, Status, TokenFileError, statusFromError, statusName } from '../../libs/service-kit/index.js';
import { ArtifactNotFoundError, BusClosedError, BusError, BusValidationError, KvConflictError } from '../../libs/bus/index.js';
import { JobConflictError, JobNotFoundError, JobTransitionError } from '../../libs/jobs/index.js';
import { ProtoFieldError, TensorCodecError } from '../../libs/proto/index.js';
import { RunConfigTransportError } from '../../libs/proto/run-config.js';
import { SupervisedConfigError, SupervisedDataError } from '../../libs/supervised/index.js';
import { RunConfigError } from '../../libs/augment/index.js';
import { ModelInputError } from '../../libs/models/index.js';
import { CifarFormatError, CsvFormatError, DatasetNotFoundError, IdxFormatError, MatFormatError, NpyFormatError } from '../../libs/data/index.js';
import { AttackCancelledError, AttackInputError } from '../../libs/attack/index.js';
import { StudyFileError } from '../../libs/study/index.js';
import { UaeClientError } from '../../libs/client/index.js';
import { BackendFaultError, BackendUnavailableError } from '../../libs/tensor/index.js';
import { DatasetConfigNotFoundError } from '../../services/common/datasets.js';
import { ModelNotFoundError } from '../../services/common/models.js';
import { ArtifactRefNotFoundError, ArtifactRefValidationError } from '../../services/common/artifacts.js';
import { BusNotReadyError } from '../../services/common/bus.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Expected = { error: Error; status: Status; field?: string };

/** Every kinded error class, one sample each, and what the kit must answer. */
const KINDED: Record<string, Expected> = {
  ResourceLimitError: { error: new ResourceLimitError('dataset.npy.x_train', 'maxTensorElements', 10, 5, '10 rows × 1'), status: Status.RESOURCE_EXHAUSTED, field: 'dataset.npy.x_train' },
  RequestDecodeError: { error: new RequestDecodeError('not a request', 'config'), status: Status.INVALID_ARGUMENT, field: 'config' },
  BusValidationError: { error: new BusValidationError('bad id', 'jobId'), status: Status.INVALID_ARGUMENT, field: 'jobId' },
  ArtifactNotFoundError: { error: new ArtifactNotFoundError('sha256/00'), status: Status.NOT_FOUND },
  JobNotFoundError: { error: new JobNotFoundError('j-1'), status: Status.NOT_FOUND, field: 'job_id' },
  JobConflictError: { error: new JobConflictError('request_id: "r" was already used'), status: Status.ALREADY_EXISTS, field: 'request_id' },
  SupervisedDataError: { error: new SupervisedDataError('dataset', 'has no labels'), status: Status.INVALID_ARGUMENT, field: 'dataset' },
  SupervisedConfigError: { error: new SupervisedConfigError('epochs', 'must be a positive integer'), status: Status.INVALID_ARGUMENT, field: 'epochs' },
  ProtoFieldError: { error: new ProtoFieldError('config.epsilon', 'must be > 0'), status: Status.INVALID_ARGUMENT, field: 'config.epsilon' },
  TensorCodecError: { error: new TensorCodecError('x.raw_data', 'too short'), status: Status.INVALID_ARGUMENT, field: 'x.raw_data' },
  RunConfigTransportError: { error: new RunConfigTransportError('dataDir', 'a directory on this machine'), status: Status.INVALID_ARGUMENT, field: 'dataDir' },
  RunConfigError: { error: new RunConfigError([{ field: 'epochs', message: 'expected a number' }]), status: Status.INVALID_ARGUMENT },
  StudyFileError: { error: new StudyFileError([{ field: 'cells[0].run', message: 'required' }]), status: Status.INVALID_ARGUMENT },
  ModelInputError: { error: new ModelInputError('k must be ≤ the input size', 'k'), status: Status.INVALID_ARGUMENT, field: 'k' },
  IdxFormatError: { error: new IdxFormatError('train-images', 'bad magic'), status: Status.INVALID_ARGUMENT },
  NpyFormatError: { error: new NpyFormatError('x.npy', 'bad magic'), status: Status.INVALID_ARGUMENT },
  CsvFormatError: { error: new CsvFormatError('data.csv', 'unterminated quote'), status: Status.INVALID_ARGUMENT },
  MatFormatError: { error: new MatFormatError('train.mat', 'truncated'), status: Status.INVALID_ARGUMENT },
  CifarFormatError: { error: new CifarFormatError('data_batch_1.bin', 'not whole records'), status: Status.INVALID_ARGUMENT },
  DatasetNotFoundError: { error: new DatasetNotFoundError('no dataset "foo"'), status: Status.NOT_FOUND },
  AttackCancelledError: { error: new AttackCancelledError('stop'), status: Status.CANCELLED },
  AttackInputError: { error: new AttackInputError('labels', 'one per sample'), status: Status.INVALID_ARGUMENT, field: 'labels' },
  // the services' own (services/common)
  DatasetConfigNotFoundError: { error: new DatasetConfigNotFoundError('dataset.name', 'no dataset "foo"'), status: Status.NOT_FOUND, field: 'dataset.name' },
  ModelNotFoundError: { error: new ModelNotFoundError('model_id', 'no model "m"'), status: Status.NOT_FOUND, field: 'model_id' },
  ArtifactRefValidationError: { error: new ArtifactRefValidationError('model.artifacts.weights', 'not a sha256'), status: Status.INVALID_ARGUMENT, field: 'model.artifacts.weights' },
  ArtifactRefNotFoundError: { error: new ArtifactRefNotFoundError('model.artifacts.weights', 'no artifact'), status: Status.NOT_FOUND, field: 'model.artifacts.weights' },
  BusNotReadyError: { error: new BusNotReadyError(), status: Status.UNAVAILABLE },
};

/** Kindless on purpose: nothing a caller did (INTERNAL when a handler throws one), or a status of their own. */
const KINDLESS: Record<string, { error: Error; status: Status }> = {
  TokenFileError: { error: new TokenFileError('tokens file line 2: unknown role'), status: Status.INTERNAL },
  ConfigError: { error: new ConfigError([{ variable: 'UAE_GRPC_PORT', reason: 'not a port' }]), status: Status.INTERNAL },
  BusError: { error: new BusError('publish failed'), status: Status.INTERNAL },
  KvConflictError: { error: new KvConflictError('jobs.j-1', 'stale revision'), status: Status.INTERNAL },
  BusClosedError: { error: new BusClosedError('the bus is closed'), status: Status.INTERNAL },
  JobTransitionError: { error: new JobTransitionError('SUCCEEDED → RUNNING'), status: Status.INTERNAL },
  BackendUnavailableError: { error: new BackendUnavailableError('webgpu', 'no adapter'), status: Status.INTERNAL },
  BackendFaultError: { error: new BackendFaultError('device lost'), status: Status.INTERNAL },
  // carry a gRPC status themselves
  ServiceError: { error: new ServiceError(Status.FAILED_PRECONDITION, 'not yet'), status: Status.FAILED_PRECONDITION },
  UaeClientError: { error: new UaeClientError({ code: Status.UNAVAILABLE, details: 'no connection' }), status: Status.UNAVAILABLE },
};

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (relative(ROOT, p) !== join('libs', 'proto', 'gen')) out.push(...(await tsFiles(p)));
    } else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('error kinds → gRPC status (the one mapping)', () => {
  it('every kind has a status', () => {
    expect(Object.keys(KIND_STATUS).sort()).toEqual([...ERROR_KINDS].sort());
  });

  for (const [name, want] of Object.entries(KINDED)) {
    it(`${name} → ${statusName(want.status)}${want.field ? ` naming ${want.field}` : ''}`, () => {
      const { error } = want;
      expect(error.name).toBe(name);
      const kind = errorKindOf(error);
      expect(kind).toBeDefined();
      expect(KIND_STATUS[kind!]).toBe(want.status);
      const s = statusFromError(error);
      expect(s.code).toBe(want.status);
      expect(s.field).toBe(want.field);
      expect(s.ref).toBeUndefined();
      if (want.status !== Status.CANCELLED) expect(s.details).toBe(error.message);
    });
  }

  for (const [name, want] of Object.entries(KINDLESS)) {
    it(`${name} has no kind → ${statusName(want.status)}`, () => {
      expect(want.error.name).toBe(name);
      expect(errorKindOf(want.error)).toBeUndefined();
      expect(statusFromError(want.error).code).toBe(want.status);
    });
  }

  it('an unknown error is INTERNAL, whatever its class is called', () => {
    class LooksNotFoundError extends Error {
      override name = 'LooksNotFoundError';
    }
    for (const e of [new Error('boom'), new LooksNotFoundError('x'), Object.assign(new Error('y'), { name: 'SomeInputError', field: 'f' }), Object.assign(new Error('z'), { kind: 'no-such-kind' })]) {
      const s = statusFromError(e);
      expect(s.code).toBe(Status.INTERNAL);
      expect(s.details).toMatch(/^internal error \(ref [0-9a-f]{12}\)$/);
    }
  });

  it('every error class exported under libs/ is either kinded or listed as kindless', async () => {
    const found = new Set<string>();
    for (const f of await tsFiles(join(ROOT, 'libs'))) {
      for (const m of (await readFile(f, 'utf8')).matchAll(/^export class (\w+Error) extends \w+/gm)) found.add(m[1]!);
    }
    const listed = new Set([...Object.keys(KINDED), ...Object.keys(KINDLESS)]);
    expect([...found].filter((n) => !listed.has(n)).sort()).toEqual([]);
    expect(found.size).toBeGreaterThan(25);
  });
});
