/**
 * UAE generation for a whole dataset with an autoencoder: in this thread for
 * one worker, else sharded across worker threads (the model travels as
 * artifacts). Shared by the pipeline, `uae attack` and the services.
 */
import { backendInfo } from '../tensor/index.js';
import { toArtifacts, type Autoencoder } from '../models/index.js';
import {
  runAttack,
  runAttackParallel,
  type AttackConfig,
  type AttackConfigInput,
  type AttackInput,
  type AttackProgress,
  type SampleResult,
} from '../attack/index.js';
import { similarityForKind } from './stages.js';

export interface GenerateOptions {
  /** Worker threads (default: the backend's preference; 1 = this thread). */
  workers?: number;
  signal?: AbortSignal;
  onProgress?: (p: AttackProgress) => void;
}

export async function generateUaes(ae: Autoencoder, input: AttackInput, config: AttackConfig, opts: GenerateOptions = {}): Promise<SampleResult[]> {
  const workers = opts.workers ?? backendInfo().preferredWorkers;
  const run = { signal: opts.signal, onProgress: opts.onProgress };
  if (workers <= 1) return runAttack(ae, input, config, run);
  return runAttackParallel({ kind: 'autoencoder', artifacts: await toArtifacts(ae) }, input, config, { ...run, workers });
}

/**
 * The similarity term for an attack on `ae`: L2-UAE swaps it for −‖δ‖²;
 * MINE keeps the caller's MINE settings, else uses the conv sampler on the
 * model's first conv layer when it has one and random projections otherwise (§1).
 */
export function similarityFor(kind: 'mine' | 'l2' | 'cosine', ae: Autoencoder, requested?: AttackConfigInput['similarity']): AttackConfigInput['similarity'] {
  return similarityForKind(kind, Boolean(ae.firstConv), requested);
}
