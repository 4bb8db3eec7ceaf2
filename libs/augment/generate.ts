/**
 * UAE generation for a whole dataset with an autoencoder, a classifier
 * (supervised attacks: the cw criterion, or loss with labels) or a SimCLR model
 * (the loss criterion: its contrastive per-sample loss): in this thread for
 * one worker, else sharded across worker threads (the model travels as
 * artifacts). Shared by the pipeline, `uae attack` and the services.
 */
import { backendInfo, triggerBackendTrap } from '../tensor/index.js';
import { Classifier, SimclrModel, classifierToArtifacts, simclrToArtifacts, toArtifacts, type Autoencoder } from '../models/index.js';
import {
  runAttack,
  runAttackParallel,
  type AttackPool,
  type AttackConfig,
  type AttackConfigInput,
  type AttackInput,
  type AttackModel,
  type AttackProgress,
  type PortableModel,
  type SampleResult,
} from '../attack/index.js';
import { similarityForKind } from './stages.js';

export interface GenerateOptions {
  /** Worker threads (default: the backend's preference; 1 = this thread). */
  workers?: number;
  /** Long-lived threads to run on instead of fresh ones (a service's AttackPool). */
  pool?: AttackPool;
  signal?: AbortSignal;
  /** Progress, with the samples finished since the last call (to stream them). */
  onProgress?: (p: AttackProgress, finished: SampleResult[]) => void;
  /**
   * Fault drill (tests only; the services' UAE_FAULT_DRILL): a real wasm trap
   * where the attack runs — in this thread, or in the first worker thread.
   */
  faultDrill?: boolean;
}

export async function generateUaes(ae: Autoencoder | Classifier | SimclrModel, input: AttackInput, config: AttackConfig, opts: GenerateOptions = {}): Promise<SampleResult[]> {
  // More threads than samples buys nothing; one sample runs in this thread.
  const n = input.data.length / Math.max(1, input.inputShape.reduce((a, b) => a * b, 1));
  const workers = Math.min(opts.workers ?? backendInfo().preferredWorkers, n);
  const run = { signal: opts.signal, onProgress: opts.onProgress };
  if (workers <= 1) {
    if (opts.faultDrill) triggerBackendTrap();
    return runAttack(ae, input, config, run);
  }
  const portable: PortableModel =
    ae instanceof Classifier
      ? { kind: 'classifier', artifacts: await classifierToArtifacts(ae) }
      : ae instanceof SimclrModel
        ? { kind: 'simclr', artifacts: await simclrToArtifacts(ae) }
        : { kind: 'autoencoder', artifacts: await toArtifacts(ae) };
  return runAttackParallel(portable, input, config, {
    ...run,
    workers,
    ...(opts.pool ? { pool: opts.pool } : {}),
    ...(opts.faultDrill ? { faultDrill: true } : {}),
  });
}

/**
 * The similarity term for an attack on `model`: L2-UAE swaps it for −‖δ‖²;
 * MINE keeps the caller's MINE settings, else uses the conv sampler on the
 * model's first conv layer when it has one (conv-ae, cnn-classifier) and
 * random projections otherwise (dense kinds, mlp-classifier) (§1).
 */
export function similarityFor(kind: 'mine' | 'l2' | 'cosine', ae: Pick<AttackModel, 'inputShape' | 'firstConv'>, requested?: AttackConfigInput['similarity']): AttackConfigInput['similarity'] {
  return similarityForKind(kind, Boolean(ae.firstConv), requested);
}
