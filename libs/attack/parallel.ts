/**
 * Sample-parallel attacks on worker threads: each worker has its own backend
 * instance (and, on wasm, its own 4 GiB heap) and attacks a contiguous shard.
 * Results depend only on (seed, sample id), so any sharding gives the same
 * answers as one in-process run.
 */
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../runtime/spawn-worker.js';
import { BackendFaultError, backendInfo, isBackendFault, type BackendChoice } from '../tensor/index.js';
import type { AutoencoderArtifacts, ClassifierArtifacts, SimclrArtifacts } from '../models/index.js';
import type { AttackConfig } from './config.js';
import { type AttackInput, type AttackProgress, progressOf, validateAttackInput } from './engine.js';
import { AttackCancelledError } from './minmax.js';
import type { SampleResult } from './result.js';
import type { WorkerReply, WorkerRequest } from './worker-protocol.js';

/**
 * A model a worker can rebuild from plain data: an autoencoder, a classifier
 * (topology, weights, kind, classes), or a SimCLR model (topology, weights,
 * options and the per-sample loss's reference bank).
 */
export type PortableModel =
  | { kind: 'autoencoder'; artifacts: AutoencoderArtifacts }
  | { kind: 'classifier'; artifacts: ClassifierArtifacts }
  | { kind: 'simclr'; artifacts: SimclrArtifacts };

export interface ParallelAttackOptions {
  /** Worker threads; default: what the backend prefers (one per core on wasm). */
  workers?: number;
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: AttackProgress, chunk: SampleResult[]) => void;
  /** Backend each worker initialises; default: the caller's active backend. */
  backend?: BackendChoice;
  /** Called once every worker has its backend and model loaded (start-up excluded from timing). */
  onReady?: () => void;
  /**
   * Reuse the threads of this pool instead of starting (and stopping) fresh
   * ones: a long-lived caller (the attack service) pays the thread and
   * backend start-up once, not per call. At most `pool.size` shards run.
   */
  pool?: AttackPool;
  /**
   * Fault drill (tests only; the services' UAE_FAULT_DRILL): the first
   * thread hits a real wasm trap after start-up, so the call fails with a
   * BackendFaultError as a poisoned thread would.
   */
  faultDrill?: boolean;
}

/**
 * Long-lived attack threads. Each runs one shard at a time; a thread that
 * errors or exits is replaced on the next call. `close()` stops them all.
 */
export class AttackPool {
  private readonly idle: Worker[] = [];
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`pool size must be a positive integer, got ${size}`);
  }

  /** A thread for one shard (a reused idle one, else a new one). */
  acquire(): Worker {
    if (this.closed) throw new Error('the attack pool is closed');
    return this.idle.pop() ?? spawnModuleWorker(import.meta.url, './worker');
  }

  /** Gives a thread back after its shard finished cleanly; anything else terminates it. */
  release(worker: Worker, healthy: boolean): void {
    worker.removeAllListeners('message').removeAllListeners('error').removeAllListeners('exit');
    if (healthy && !this.closed && this.idle.length < this.size) {
      worker.unref();
      this.idle.push(worker);
    } else {
      void worker.terminate();
    }
  }

  /** Threads waiting for work. */
  get idleThreads(): number {
    return this.idle.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((w) => w.terminate()));
  }
}


function shardBounds(n: number, parts: number): [number, number][] {
  const bounds: [number, number][] = [];
  for (let p = 0; p < parts; p++) bounds.push([Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts)]);
  return bounds.filter(([a, b]) => b > a);
}

export async function runAttackParallel(
  model: PortableModel,
  input: AttackInput,
  config: AttackConfig,
  opts: ParallelAttackOptions = {},
): Promise<SampleResult[]> {
  const n = validateAttackInput(input, config, model.kind === 'autoencoder' ? model.artifacts.inputShape : model.artifacts.meta.inputShape);
  const d = n === 0 ? 0 : input.data.length / n;
  const ids = input.sampleIds ?? Array.from({ length: n }, (_, i) => i);
  const pool = opts.pool;
  const workers = Math.max(1, Math.min(n, pool?.size ?? opts.workers ?? backendInfo().preferredWorkers));
  const backend = opts.backend ?? backendInfo().name;
  const results: SampleResult[][] = [];
  const bounds = shardBounds(n, workers);
  const shards = bounds.length;
  const started = performance.now();
  let done = 0;
  let succeeded = 0;
  const running: Worker[] = [];
  const healthy = new Set<Worker>();
  /** Threads that finished start-up (backend and model loaded) and can take a cancel between iterations. */
  const startedThreads = new Set<Worker>();
  /** Rejects the shard of a thread terminated while it was still starting. */
  const abortStartup = new Map<Worker, (err: Error) => void>();
  let ready = 0;
  const shardFraction = bounds.map(() => 0);
  const overallFraction = () => bounds.reduce((sum, [a, b], i) => sum + shardFraction[i]! * (b - a), 0) / n;

  const runShard = (index: number, [a, b]: [number, number]) =>
    new Promise<void>((resolve, reject) => {
      const worker = pool ? pool.acquire() : spawnModuleWorker(import.meta.url, './worker');
      worker.ref();
      running.push(worker);
      const shardResults: SampleResult[] = [];
      results[index] = shardResults;
      let finished = false;
      worker.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') {
          startedThreads.add(worker);
          abortStartup.delete(worker);
          ready += 1;
          if (ready === shards) opts.onReady?.();
        } else if (msg.type === 'progress') {
          shardFraction[index] = msg.fraction;
          opts.onProgress?.(progressOf(done, n, succeeded, overallFraction(), started), []);
        } else if (msg.type === 'chunk') {
          shardResults.push(...msg.results);
          done += msg.results.length;
          succeeded += msg.results.filter((r) => r.success).length;
          shardFraction[index] = shardResults.length / (b - a);
          opts.onProgress?.(progressOf(done, n, succeeded, overallFraction(), started), msg.results);
        } else if (msg.type === 'done') {
          finished = true;
          healthy.add(worker);
          resolve();
        } else if (msg.type === 'error') {
          finished = true;
          // A thread whose backend failed says so: the caller contains it (isBackendFault).
          const text = `attack worker ${index}: ${msg.message}`;
          reject(msg.cancelled ? new AttackCancelledError(msg.message) : msg.fault ? new BackendFaultError(text) : new Error(text));
        }
      });
      worker.on('error', (e) => {
        finished = true;
        reject(isBackendFault(e) ? new BackendFaultError(`attack worker ${index}: ${e.message}`) : e);
      });
      worker.on('exit', (code) => {
        if (!finished) reject(new Error(`attack worker ${index} exited with code ${code} before finishing`));
      });
      abortStartup.set(worker, (err) => {
        finished = true;
        reject(err);
      });
      const request: WorkerRequest = {
        type: 'start',
        backend,
        model,
        config,
        chunkSize: opts.chunkSize,
        ...(opts.faultDrill && index === 0 ? { faultDrill: true } : {}),
        input: {
          data: input.data.slice(a * d, b * d),
          inputShape: input.inputShape,
          sampleIds: ids.slice(a, b),
          labels: input.labels?.slice(a, b),
        },
      };
      worker.postMessage(request);
    });

  // A started thread stops between iterations on 'cancel'; one still starting
  // (loading its backend and model, up to seconds of CPU that no message can
  // interrupt) is terminated at once, so nothing keeps working after the deadline.
  const onAbort = () => {
    for (const w of running) {
      if (startedThreads.has(w)) {
        w.postMessage({ type: 'cancel' } satisfies WorkerRequest);
        continue;
      }
      const fail = abortStartup.get(w);
      abortStartup.delete(w);
      void w.terminate();
      fail?.(new AttackCancelledError(opts.signal?.reason));
    }
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (opts.signal?.aborted) throw new AttackCancelledError(opts.signal.reason);
    await Promise.all(bounds.map((b, i) => runShard(i, b)));
    return results.flat();
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (pool) for (const w of running) pool.release(w, healthy.has(w));
    else await Promise.all(running.map((w) => w.terminate()));
  }
}
