/**
 * The run document of `uae pipeline` (libs/augment run-config.ts) as a
 * uae.v1.PipelineConfig, so `uae submit --config run/config.json` sends the
 * cluster exactly the study a local run recorded: every field explicit, none
 * left to the server's defaults (which differ from the local ones). Types
 * only from libs/augment: the remote commands load no tfjs. A setting
 * the contract cannot carry is refused with its field named, never dropped.
 */
import type { PipelineRun } from '../augment/run-config.js';
import { attackConfigToProto, augmentationMethodFromName, modelKindFromName } from './convert.js';
import * as pb from './v1.js';
import type { Kinded } from '../errors/index.js';

const SCHEDULES: Record<PipelineRun['retrainSchedule'], pb.RetrainSchedule> = {
  longer: pb.RetrainSchedule.RETRAIN_SCHEDULE_LONGER,
  'same-epochs': pb.RetrainSchedule.RETRAIN_SCHEDULE_SAME_EPOCHS,
  'same-steps': pb.RetrainSchedule.RETRAIN_SCHEDULE_SAME_STEPS,
  plateau: pb.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU,
};
const PROBES = { mlp: pb.ProbeKind.PROBE_KIND_MLP, extratrees: pb.ProbeKind.PROBE_KIND_EXTRATREES, both: pb.ProbeKind.PROBE_KIND_BOTH } as const;

/** A run document field a cluster job cannot take. */
export class RunConfigTransportError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  override name = 'RunConfigTransportError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export function pipelineRunToProto(run: PipelineRun): pb.PipelineConfig {
  if (run.dataDir !== undefined) throw new RunConfigTransportError('dataDir', "a directory on this machine; a cluster job reads the server's datasets (remove the field)");
  if (run.latent !== undefined) throw new RunConfigTransportError('latent', "the cluster's ModelConfig has no latent size (adversarial AE); remove the field or run locally");
  if (run.widths !== undefined) throw new RunConfigTransportError('widths', "the cluster's ModelConfig has no hidden widths; remove the field or run locally");
  if (run.fid) throw new RunConfigTransportError('fid', 'a cluster job computes no FID/KID (PipelineMetrics has no field for them); remove the field or run locally');
  // 0 reads as "unset: the server's default" in the contract.
  for (const f of ['epochs', 'retrainEpochs'] as const) if (run[f] === 0) throw new RunConfigTransportError(f, 'must be at least 1 for a cluster job (0 means the server default there)');
  const seed = run.seeds[0]!;
  return pb.PipelineConfig.fromPartial({
    dataset: {
      source: { $case: 'name', value: run.dataset },
      trainSamples: run.trainSamples ?? 0,
      testSamples: run.testSamples ?? 0,
      seed: run.dataSeed,
      labelColumn: run.labelColumn ?? '',
    },
    model: { kind: modelKindFromName(run.model), hidden: run.hidden ?? 0, selectedFeatures: run.k ?? 0 },
    methods: run.methods.map(augmentationMethodFromName),
    train: { epochs: run.epochs, batchSize: run.batch },
    retrainEpochs: run.retrainEpochs,
    attack: attackConfigToProto({ ...run.attack, seed }),
    ...(run.classifierEpochs > 0 ? { downstream: { epochs: run.classifierEpochs } } : {}),
    skipDownstream: run.classifierEpochs === 0,
    seed,
    seeds: run.seeds,
    protocol: {
      ...(run.validation > 0 ? { validation: { fraction: run.validation, patience: run.patience, restoreBest: run.restoreBest, seed: run.dataSeed } } : {}),
      retrainSchedule: SCHEDULES[run.retrainSchedule],
      ...(run.maxEpochs !== undefined ? { convergence: { enabled: true, maxEpochs: run.maxEpochs } } : {}),
      probe: PROBES[run.probe],
      probeTrainSamples: run.probeTrainSamples ?? 0,
    },
    rounds: run.rounds,
  });
}
