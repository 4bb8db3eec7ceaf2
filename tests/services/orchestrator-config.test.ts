/**
 * resolvePipelineConfig on the study's fields (seeds, protocol, the new arms):
 * the AugmentationConfig `uae pipeline` would build, or a ProtoFieldError naming the field.
 */
import { describe, expect, it } from 'vitest';
import { v1 } from '../../libs/proto/index.js';
import { resolvePipelineConfig } from '../../services/orchestrator/pipeline-config.js';
import { BUDGET_VARIABLES, DEFAULT_BUDGET, ResourceLimitError, type ResourceBudget } from '../../libs/limits/index.js';
import { knownDatasetShape, loadDataset } from '../../libs/data/index.js';
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
          validation: { fraction: 0.25, patience: 2, minDelta: 1e-4, restoreBest: true },
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
    expect(a.validation).toEqual({ fraction: 0.25, patience: 2, minDelta: 1e-4, restoreBest: true, seed: 3 });
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
      // rounds: an integer 1–100; an explicit 0 is not read as unset.
      [{ rounds: 0 }, /^config\.rounds: must be an integer 1–100 .*got 0/],
      [{ rounds: 1.5 }, /^config\.rounds: must be an integer 1–100 .*got 1\.5/],
      [{ rounds: 101 }, /^config\.rounds: /],
      [{ attack: { method: v1.AttackMethod.ATTACK_METHOD_PGD } }, /^config\.attack\.method: PGD and FGSM have no similarity term/],
      [{ attack: { method: v1.AttackMethod.ATTACK_METHOD_FGSM } }, /^config\.attack\.method: PGD and FGSM have no similarity term/],
    ];
    for (const [o, re] of cases) expect(fieldOf(o), JSON.stringify(o)).toMatch(re);
    // Unset and 1 are one round (the field left out, as the run document does); more are kept.
    expect(resolvePipelineConfig(tinyPipeline()).augmentation.rounds).toBeUndefined();
    expect(resolvePipelineConfig(tinyPipeline({ rounds: 1 })).augmentation.rounds).toBeUndefined();
    expect(resolvePipelineConfig(tinyPipeline({ rounds: 3 })).augmentation.rounds).toBe(3);
    // Image arms are fine where the data are images (or not known before loading).
    const img = { dataset: { source: { $case: 'name' as const, value: 'fashion-mnist' } }, methods: [M(K.AUGMENTATION_METHOD_KIND_FLIP), M(K.AUGMENTATION_METHOD_KIND_ROTATE, { degrees: 10 })] };
    expect(fieldOf(img)).toBe('accepted');
    expect(resolvePipelineConfig(tinyPipeline(img)).augmentation.methods).toEqual(['flip', 'rotate-10']);
  });
});

describe('orchestrator: budgets at submit (libs/limits, before any stage runs)', () => {
  const small: ResourceBudget = { maxParameters: 100_000, maxTensorElements: 1_000_000, maxTrainSteps: 100 };
  const refused = (o: PipelineOverrides, budget: ResourceBudget = small): ResourceLimitError | string => {
    try {
      resolvePipelineConfig(tinyPipeline(o), { budget });
    } catch (e) {
      return e instanceof ResourceLimitError ? e : `not a ResourceLimitError: ${(e as Error).message}`;
    }
    return 'accepted';
  };
  const mine = (hidden: number, projectionDim = 64) => ({
    iterations: 2,
    mineSteps: 1,
    similarity: { kind: { $case: 'mine' as const, value: v1.MineConfig.fromPartial({ sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 8, projectionDim, hidden }) } },
  });

  it('accepts the tiny study within the budget and checks nothing without one (a driver restarting a stored job)', () => {
    expect(refused({})).toBe('accepted');
    expect(refused({ retrainEpochs: 10 })).toBe('accepted');
    expect(resolvePipelineConfig(tinyPipeline({ attack: mine(4096) })).augmentation.methods).toContain('mine');
  });

  it('refuses what the study would allocate, naming the config field and the variable that raises the limit', () => {
    const cases: Array<[PipelineOverrides, string, keyof ResourceBudget, ResourceBudget?]> = [
      // B × statistics-network parameters (B = 1: every backend batches at least one sample)
      [{ attack: mine(1024) }, 'config.attack.similarity.mine.hidden', 'maxParameters'],
      // the model on the named dataset's 77 features
      [{ model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE, hidden: 1024 } }, 'config.model.hidden', 'maxParameters'],
      // epochs × batches: 50 × ⌈24 / 8⌉ = 150 steps
      [{ train: { epochs: 50, batchSize: 8 } }, 'config.train.epochs', 'maxTrainSteps'],
      // retraining on originals + one new sample each: 20 × ⌈48 / 8⌉ = 120 steps
      [{ retrainEpochs: 20 }, 'config.retrain_epochs', 'maxTrainSteps'],
      // the last of 3 rounds retrains on originals + 3 sets: 10 × ⌈96 / 8⌉ = 120 steps (one round: 60, accepted below)
      [{ retrainEpochs: 10, rounds: 3 }, 'config.retrain_epochs', 'maxTrainSteps'],
      // the concrete AE's convergence loop: up to 40 × 3 steps
      [{ model: { kind: v1.ModelKind.MODEL_KIND_CONCRETE_AE, selectedFeatures: 5 }, protocol: { convergence: { enabled: true, maxEpochs: 40 } } }, 'config.protocol.convergence.max_epochs', 'maxTrainSteps', { ...small, maxParameters: 10_000_000 }],
    ];
    for (const [o, field, limit, budget] of cases) {
      const e = refused(o, budget);
      expect(e, JSON.stringify(o)).toBeInstanceOf(ResourceLimitError);
      expect([(e as ResourceLimitError).field, (e as ResourceLimitError).limit]).toEqual([field, limit]);
      expect((e as ResourceLimitError).message).toContain(BUDGET_VARIABLES[limit]);
    }
    // rows × features of the named dataset: 600 × 77 (all of mice-protein's 864 training rows when train_samples is 0)
    const rows = refused({ dataset: { source: { $case: 'name', value: 'mice-protein' }, trainSamples: 0, testSamples: 16, seed: 1 } }, { ...small, maxTensorElements: 50_000, maxTrainSteps: 10_000 });
    expect((rows as ResourceLimitError).field).toBe('config.dataset.train_samples');
    // the default budget: 2 × 4096 × 65536 ≈ 5.4e8 parameters for one sample
    expect((refused({ attack: mine(65_536, 4096) }, DEFAULT_BUDGET) as ResourceLimitError).field).toBe('config.attack.similarity.mine.hidden');
    // k > features is INVALID_ARGUMENT (ProtoFieldError), as in the trainer
    expect(refused({ model: { kind: v1.ModelKind.MODEL_KIND_CONCRETE_AE, selectedFeatures: 1_000_000 } })).toMatch(/^not a ResourceLimitError: config\.model\.selected_features: 1000000 selected features, but the samples have only 77/);
  });

  it("knows the named datasets' shapes without loading them (as loadDataset reads them)", async () => {
    const ds = await loadDataset('mice-protein', { seed: 1 });
    expect(knownDatasetShape('mice-protein')).toEqual({ inputShape: ds.inputShape, trainRows: ds.train.n });
    expect(knownDatasetShape('fashion-mnist')?.inputShape).toEqual([28, 28, 1]);
    expect(knownDatasetShape('csv:/data/x.csv')).toBeUndefined();
  });

  it('a classifier kind makes a supervised study: cw (untargeted) or loss, labelled data, no autoencoder-only protocol', () => {
    const cw = { kind: { $case: 'cw' as const, value: { kappa: 0, targeted: false } } };
    const sup = (o: PipelineOverrides = {}): PipelineOverrides => ({ model: { kind: v1.ModelKind.MODEL_KIND_MLP_CLASSIFIER, hidden: 16 }, attack: { iterations: 2, criterion: cw }, ...o });
    const r = resolvePipelineConfig(tinyPipeline(sup()));
    expect(r.augmentation.model).toBe('mlp-classifier');
    expect(r.augmentation.attack.criterion).toEqual({ kind: 'cw', kappa: 0, targeted: false });
    // No downstream probe: a classifier is scored by its own accuracy.
    expect(r.augmentation.classifier).toBe(false);
    expect(fieldOf(sup({ attack: { iterations: 2, criterion: { kind: { $case: 'loss', value: { kappa: 0 } } } } }))).toBe('accepted');
    const cnn = { kind: v1.ModelKind.MODEL_KIND_CNN_CLASSIFIER };
    const npy = (o: Partial<v1.NpyDataset>) => ({ source: { $case: 'npy' as const, value: { xTrain: { sha256: 'a'.repeat(64), size: 1, mediaType: '', name: '' }, xTest: { sha256: 'b'.repeat(64), size: 1, mediaType: '', name: '' }, ...o } } });
    const cases: Array<[PipelineOverrides, RegExp]> = [
      [sup({ attack: { iterations: 2 } }), /^config\.attack\.criterion: /],
      [sup({ attack: { criterion: { kind: { $case: 'reconstruction', value: { kappa: 0 } } } } }), /^config\.attack\.criterion\.reconstruction: /],
      [sup({ attack: { criterion: { kind: { $case: 'cw', value: { kappa: 0, targeted: true } } } } }), /^config\.attack\.criterion\.cw\.targeted: /],
      [sup({ dataset: npy({}) }), /^config\.dataset\.npy\.y_train: /],
      [sup({ protocol: { validation: { fraction: 0.2, patience: 1 } } }), /^config\.protocol\.validation: /],
      [sup({ protocol: { probe: v1.ProbeKind.PROBE_KIND_EXTRATREES } }), /^config\.protocol\.probe: /],
      [sup({ model: { ...cnn, hidden: 8 } }), /^config\.model\.hidden: /],
      [sup({ model: { kind: v1.ModelKind.MODEL_KIND_MLP_CLASSIFIER, architecture: v1.CnnArchitecture.CNN_ARCHITECTURE_CIFAR } }), /^config\.model\.architecture: /],
      // cw on an autoencoder.
      [{ attack: { criterion: cw } }, /^config\.attack\.criterion\.cw: .*needs a classifier/],
    ];
    for (const [o, re] of cases) expect(fieldOf(o)).toMatch(re);
  });
});
