/**
 * SimCLR is CLI-only for now: every service entry that resolves a model kind
 * (the trainer's specs, model artifacts the evaluator and the attack service
 * load, the orchestrator's pipeline config) refuses MODEL_KIND_SIMCLR_* with a
 * ProtoFieldError (INVALID_ARGUMENT) naming the field and saying so.
 */
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { modelKindFromName, modelKindName, ProtoFieldError, v1 } from '../../libs/proto/index.js';
import { autoencoderKind, classifierKindOf, serviceModelKindName } from '../../services/common/models.js';
import { parseClassifierSpec, parseTrainingSpec } from '../../services/common/training.js';
import { mapProtoFieldError } from '../../services/common/errors.js';

const SIMCLR = [v1.ModelKind.MODEL_KIND_SIMCLR_RESNET18, v1.ModelKind.MODEL_KIND_SIMCLR_SMALL] as const;

function refusal(f: () => unknown): ProtoFieldError {
  try {
    f();
  } catch (e) {
    if (e instanceof ProtoFieldError) return e;
    throw e;
  }
  throw new Error('expected a ProtoFieldError');
}

describe('the SimCLR model kinds in the services', () => {
  it('convert both ways (the proto names the CLI kinds)', () => {
    expect(SIMCLR.map((k) => modelKindName(k))).toEqual(['simclr-resnet18', 'simclr-small']);
    expect(modelKindFromName('simclr-small')).toBe(v1.ModelKind.MODEL_KIND_SIMCLR_SMALL);
    expect(v1.ModelKind.MODEL_KIND_SIMCLR_RESNET18).toBe(8);
    expect(v1.ModelKind.MODEL_KIND_SIMCLR_SMALL).toBe(9);
  });

  it('are refused with INVALID_ARGUMENT naming model.kind: SimCLR is CLI-only for now', () => {
    for (const kind of SIMCLR) {
      const spec = { model: { kind, hidden: 0, inputShape: [], seed: 0 }, dataset: { name: 'mnist' } } as unknown as v1.TrainingJobSpec;
      for (const [f, field] of [
        [() => parseTrainingSpec(spec), 'spec.model.kind'],
        [() => parseClassifierSpec(spec), 'spec.model.kind'],
        [() => autoencoderKind(kind, 'model.artifacts.kind'), 'model.artifacts.kind'],
        [() => classifierKindOf(kind, 'model.artifacts.kind'), 'model.artifacts.kind'],
        [() => serviceModelKindName(kind), 'model.kind'],
      ] as const) {
        const e = refusal(f);
        expect(e.field).toBe(field);
        expect(e.message).toMatch(/SimCLR is CLI-only for now/);
        expect(mapProtoFieldError(e)?.code).toBe(grpc.status.INVALID_ARGUMENT);
      }
    }
  });
});
