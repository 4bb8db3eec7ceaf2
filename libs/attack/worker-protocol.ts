/** Messages between runAttackParallel and its worker threads. */
import type { BackendChoice } from '../tensor/index.js';
import type { AttackConfig } from './config.js';
import type { AttackInput } from './engine.js';
import type { PortableModel } from './parallel.js';
import type { SampleResult } from './result.js';

export type WorkerRequest =
  /** faultDrill (tests only): hit a real wasm trap once the backend and model are loaded (libs/tensor triggerBackendTrap). */
  | { type: 'start'; backend: BackendChoice; model: PortableModel; config: AttackConfig; input: AttackInput; chunkSize?: number; faultDrill?: boolean }
  | { type: 'cancel' };

export type WorkerReply =
  | { type: 'ready'; backend: string }
  | { type: 'chunk'; results: SampleResult[] }
  /** Share of this shard's sample-iterations finished. */
  | { type: 'progress'; fraction: number }
  | { type: 'done' }
  /** fault: the thread's backend failed (libs/tensor isBackendFault), not the input. */
  | { type: 'error'; message: string; cancelled: boolean; fault: boolean };
