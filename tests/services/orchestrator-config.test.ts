/**
 * resolvePipelineConfig on the study's fields (seeds, protocol, the new arms):
 * the AugmentationConfig `uae pipeline` would build, or a ProtoFieldError naming the field.
 */
import { describe, expect, it } from 'vitest';
import { v1 } from '../../libs/proto/index.js';
import { resolvePipelineConfig } from '../../services/orchestrator/pipeline-config.js';
import { tinyPipeline, type PipelineOverrides } from './orchestrator-helpers.js';

const K = v1.AugmentationMethodKind;
const M = (kind: v1.AugmentationMethodKind, o: Partial<v1.AugmentationMethod> = {}) => ({ kind, ...o });

function fieldOf(o: PipelineOverrides): string {
  try {
    resolvePipelineConfig(tinyPipeline(o));
  } catch (e) {
    return (e as Error).message;
  }
  return 'accepted';
}

describe('orchestrator: pipeline config (study fields)', () => {
  it('maps seeds, the protocol and the new arms to the library config', () => {
    const r = resolvePipelineConfig(
      tinyPipeline({
        seed: 0,
        seeds: [3, 1],
        methods: [
          M(K.AUGMENTATION_METHOD_KIND_MINE),
          M(K.AUGMENTATION_METHOD_KIND_INIT_NOISE),
          M(K.AUGMENTATION_METHOD_KIND_MINE, { update: v1.DeltaUpdate.DELTA_UPDATE_ADAM, alpha: 0.05 }),
          M(K.AUGMENTATION_METHOD_KIND_COSINE, { update: v1.DeltaUpdate.DELTA_UPDATE_SIGN }),
          M(K.AUGMENTATION_METHOD_KIND_REPEAT),
        ],
        attack: { iterations: 2, update: v1.DeltaUpdate.DELTA_UPDATE_SIGN },
        protocol: {
          validation: { fraction: 0.25, patience: 2, minDelta: 1e-4 },
          retrainSchedule: v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU,
          probe: v1.ProbeKind.PROBE_KIND_BOTH,
          probeTrainSamples: 100,
          convergence: { enabled: true },
        },
      }),
    );
    expect(r.seeds).toEqual([3, 1]);
    const a = r.augmentation;
    expect(a.seed).toBe(3);
    expect(a.methods).toEqual(['mine', 'init-noise', 'mine-adam@0.05', 'cosine-sign', 'repeat']);
    expect(a.attack.update).toBe('sign');
    expect(a.validation).toEqual({ fraction: 0.25, patience: 2, minDelta: 1e-4, seed: 3 });
    expect(a.retrainSchedule).toBe('plateau');
    expect(a.probe).toBe('both');
    expect(a.probeTrainSamples).toBe(100);
    // The convergence loop is the concrete AE's only.
    expect(a.convergence).toBeUndefined();
    const c = resolvePipelineConfig(
      tinyPipeline({ model: { kind: v1.ModelKind.MODEL_KIND_CONCRETE_AE, selectedFeatures: 5 }, train: { epochs: 4 }, protocol: { convergence: { enabled: true } } }),
    );
    expect(c.augmentation.convergence).toEqual({ threshold: 0.998, maxEpochs: 64 });
    // Nothing set: the old behaviour, one seed.
    const old = resolvePipelineConfig(tinyPipeline());
    expect(old.seeds).toEqual([5]);
    for (const k of ['validation', 'retrainSchedule', 'convergence', 'probe', 'probeTrainSamples'] as const) expect(old.augmentation[k]).toBeUndefined();
  });

  it('rejects bad study fields naming the field', () => {
    const cases: Array<[PipelineOverrides, RegExp]> = [
      [{ seed: 0, seeds: [0, 1, 1] }, /^config\.seeds\[2\]: .*listed twice/],
      [{ seed: 4, seeds: [0, 1] }, /^config\.seed: /],
      [{ protocol: { validation: { fraction: 1, patience: 1 } } }, /^config\.protocol\.validation\.fraction: /],
      [{ protocol: { validation: { fraction: 0, patience: 1 } } }, /^config\.protocol\.validation\.fraction: /],
      [{ protocol: { validation: { fraction: 0.99, patience: 1 } } }, /^config\.protocol\.validation\.fraction: .*leaves none/],
      [{ protocol: { validation: { fraction: 0.2, patience: 0 } } }, /^config\.protocol\.validation\.patience: /],
      [{ protocol: { validation: { fraction: 0.2, patience: 1, minDelta: -1 } } }, /^config\.protocol\.validation\.min_delta: /],
      [{ protocol: { retrainSchedule: v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU } }, /^config\.protocol\.retrain_schedule: PLATEAU needs a validation split/],
      [{ protocol: { retrainSchedule: 9 as v1.RetrainSchedule } }, /^config\.protocol\.retrain_schedule: unknown enum value 9/],
      [{ protocol: { probe: 7 as v1.ProbeKind } }, /^config\.protocol\.probe: /],
      [{ protocol: { probeTrainSamples: 1 } }, /^config\.protocol\.probe_train_samples: /],
      [{ protocol: { convergence: { enabled: true, threshold: 2 } } }, /^config\.protocol\.convergence\.threshold: /],
      [{ protocol: { convergence: { enabled: true, maxEpochs: 1 } } }, /^config\.protocol\.convergence\.max_epochs: /],
      [{ methods: [M(K.AUGMENTATION_METHOD_KIND_INIT_NOISE), M(K.AUGMENTATION_METHOD_KIND_MINE)] }, /^config\.methods\[0\]: .*needs the "mine" arm/],
      [{ methods: [M(K.AUGMENTATION_METHOD_KIND_FLIP)] }, /^config\.methods\[0\]: "flip" needs image data; "mice-protein" is tabular/],
      [{ methods: [M(K.AUGMENTATION_METHOD_KIND_ROTATE, { degrees: 15 })] }, /^config\.methods\[0\]: "rotate-15" needs image data/],
      [{ methods: [M(K.AUGMENTATION_METHOD_KIND_ROTATE, { degrees: 0 })] }, /^config\.methods\[0\]\.degrees: /],
      [{ methods: [M(K.AUGMENTATION_METHOD_KIND_MINE, { alpha: 0 })] }, /^config\.methods\[0\]\.alpha: /],
      [{ methods: [M(K.AUGMENTATION_METHOD_KIND_REPEAT, { update: v1.DeltaUpdate.DELTA_UPDATE_ADAM })] }, /^config\.methods\[0\]\.update: /],
      [{ methods: [M(K.AUGMENTATION_METHOD_KIND_MINE, { update: 9 as v1.DeltaUpdate })] }, /^config\.methods\[0\]\.update: unknown enum value 9/],
      [{ attack: { update: 9 as v1.DeltaUpdate } }, /^config\.attack\.update: /],
    ];
    for (const [o, re] of cases) expect(fieldOf(o), JSON.stringify(o)).toMatch(re);
    // Image arms are fine where the data are images (or not known before loading).
    const img = { dataset: { source: { $case: 'name' as const, value: 'fashion-mnist' } }, methods: [M(K.AUGMENTATION_METHOD_KIND_FLIP), M(K.AUGMENTATION_METHOD_KIND_ROTATE, { degrees: 10 })] };
    expect(fieldOf(img)).toBe('accepted');
    expect(resolvePipelineConfig(tinyPipeline(img)).augmentation.methods).toEqual(['flip', 'rotate-10']);
  });
});
