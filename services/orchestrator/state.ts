/**
 * A pipeline job's durable progress: KV key `pipelines.<job_id>` (JSON), next
 * to the job record `jobs.<job_id>` (libs/jobs). The driver writes it with
 * compare-and-set after every stage, before moving on; a restarted
 * orchestrator reads it and resumes from the first stage without an output.
 *
 *   dataset                  the resolved arrays as .npy artifacts (x_train, x_test, y_*;
 *                            the full training split for the ExtraTrees probe)
 *   runs[seed].original      training job id, model (id, artifacts, history), evaluation
 *   runs[seed].arms[method]  generate (start time, shard layout, outputs), retrain (job id, model), evaluation
 *   runs[seed].rounds[r][method]  the same for round r ≥ 2 of a multi-round job (armState)
 *
 * Version 1 (one seed) kept `original` and `arms` at the top; open() moves
 * them under runs[<the job's first seed>].
 *
 * Protobuf values are kept in their canonical JSON form (toJSON/fromJSON).
 */
import { KvConflictError, type KvStore } from '../../libs/bus/index.js';
import type { EpochReport } from '../../libs/models/index.js';
import type { Summary } from '../../libs/eval/index.js';

export const STATE_VERSION = 2;

/** JSON of a uae.v1 message (v1.X.toJSON). */
export type ProtoJson = unknown;

export interface ModelOutput {
  /** TrainingService model id; empty when trained in-process. */
  modelId: string;
  /** v1.ModelArtifacts JSON. */
  artifacts: ProtoJson;
  history: EpochReport[];
  stoppedEarly: boolean;
  /** Optimiser steps the run took (libs/augment stepsTaken). Absent in version-1 states. */
  steps?: number;
}

export interface EvalOutput {
  /** Autoencoders; unset for a classifier (its metric is accuracy). */
  testReconError?: number;
  accuracy?: number;
  /** The ExtraTrees probe's accuracy. */
  accuracyExtratrees?: number;
  /** Concrete AE: the selection's convergence and features. */
  selectionConvergence?: number;
  selectedFeatures?: number[];
  /** tfjs backend that evaluated. */
  backend?: string;
}

export interface TrainProgress {
  /** Attempts so far (a training job that failed for a transient reason is retried under a new request id). */
  attempt: number;
  /** The training job of the current attempt (gRPC mode). */
  jobId?: string;
  model?: ModelOutput;
}

export interface GenerateOutput {
  secondsPerSample: number;
  /** v1.ArtifactRef JSON: the generated samples (failures replaced by originals); unset for `none`. */
  x?: ProtoJson;
  /** v1.ArtifactRef JSON: the retraining set (original ∪ generated). */
  trainSet: ProtoJson;
  /** Attack arms: v1.AttackResult JSON. */
  attack?: ProtoJson;
  /** Attack arms: v1.ModelArtifacts JSON of the model attacked (the original, or the arm's previous round's retrained model). */
  attackedModel?: ProtoJson;
  asr?: number;
  /** `mine`: MI summary of the successful samples (present, maybe undefined, for mine). */
  mi?: Summary | null;
}

export interface ArmState {
  /** Epoch ms when generation started (seconds_per_sample spans restarts). */
  generateStartedAt?: number;
  /** Attack arms: the shard layout, fixed when first published. */
  shards?: { count: number; size: number; kind: string };
  generated?: GenerateOutput;
  retrain?: TrainProgress;
  eval?: EvalOutput;
}

export interface PipelineState {
  version: number;
  jobId: string;
  dataset?: {
    name: string;
    inputShape: number[];
    trainSamples: number;
    testSamples: number;
    /** v1.DatasetConfig JSON with npy refs (no subsetting: the arrays are the subset). */
    config: ProtoJson;
    /** The samples' shape before flattening (image arms). */
    nativeShape?: number[];
    /** v1.DatasetConfig JSON of the full training split (x_train, y_train) when the subset is not all of it: the ExtraTrees probe's rows. */
    fullTrain?: ProtoJson;
  };
  /** One run of the study per seed, keyed by the seed (decimal). */
  runs: Record<string, SeedRun>;
  /** Training jobs started for this pipeline (cancelled with it). */
  subJobs: string[];
  /** Epoch ms of the last write. */
  updatedAt: number;
}

export interface SeedRun {
  original?: { train?: TrainProgress; eval?: EvalOutput };
  /** Round 1 of every arm (all of a one-round job). */
  arms: Record<string, ArmState>;
  /** Rounds 2.. of a multi-round job, keyed by the round (decimal), then by arm. */
  rounds?: Record<string, Record<string, ArmState>>;
}

/**
 * An arm's state in one round (created empty when missing). Round 1 lives in
 * `arms`, where a one-round job (and a state written before rounds existed)
 * keeps it; later rounds under `rounds[<r>]`.
 */
export function armState(run: SeedRun, method: string, round: number): ArmState {
  if (round === 1) return (run.arms[method] ??= {});
  const arms = ((run.rounds ??= {})[String(round)] ??= {});
  return (arms[method] ??= {});
}

export function pipelineStateKey(jobId: string): string {
  return `pipelines.${jobId}`;
}

export function emptyState(jobId: string): PipelineState {
  return { version: STATE_VERSION, jobId, runs: {}, subJobs: [], updatedAt: Date.now() };
}

/** Another writer changed the state under us (a second driver for the same job). */
export class PipelineStateConflictError extends Error {
  constructor(jobId: string) {
    super(`pipeline ${jobId}: its state was changed by another driver`);
    this.name = 'PipelineStateConflictError';
  }
}

/** Load-modify-save with CAS on one job's state. */
export class PipelineStateStore {
  private revision = 0;
  state: PipelineState;

  private constructor(
    private readonly kv: KvStore,
    private readonly jobId: string,
    state: PipelineState,
    revision: number,
  ) {
    this.state = state;
    this.revision = revision;
  }

  /** `firstSeed`: the job's first seed, under which a version-1 state's stages are resumed. */
  static async open(kv: KvStore, jobId: string, firstSeed = 0): Promise<PipelineStateStore> {
    const entry = await kv.get(pipelineStateKey(jobId));
    if (!entry) return new PipelineStateStore(kv, jobId, emptyState(jobId), 0);
    const state = JSON.parse(new TextDecoder().decode(entry.value)) as PipelineState & { original?: SeedRun['original']; arms?: SeedRun['arms'] };
    if (state.version === 1) {
      state.runs = { [String(firstSeed)]: { ...(state.original ? { original: state.original } : {}), arms: state.arms ?? {} } };
      delete state.original;
      delete state.arms;
      state.version = STATE_VERSION;
    }
    if (state.version !== STATE_VERSION) throw new Error(`pipeline ${jobId}: state version ${state.version} is not ${STATE_VERSION}`);
    state.runs ??= {};
    state.subJobs ??= [];
    return new PipelineStateStore(kv, jobId, state, entry.revision);
  }

  /** The stages of one seed's run. */
  run(seed: number): SeedRun {
    const r = (this.state.runs[String(seed)] ??= { arms: {} });
    r.arms ??= {};
    return r;
  }

  /** Applies `change` and writes the state (CAS); throws PipelineStateConflictError if someone else wrote it. */
  async save(change?: (s: PipelineState) => void): Promise<void> {
    change?.(this.state);
    this.state.updatedAt = Date.now();
    const bytes = new TextEncoder().encode(JSON.stringify(this.state));
    const key = pipelineStateKey(this.jobId);
    try {
      this.revision = this.revision === 0 ? await this.kv.create(key, bytes) : await this.kv.update(key, bytes, this.revision);
    } catch (e) {
      if (e instanceof KvConflictError) throw new PipelineStateConflictError(this.jobId);
      throw e;
    }
  }
}
