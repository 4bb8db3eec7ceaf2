/**
 * Standalone MINE estimate: MI between paired batches of vectors (rows of X
 * and Y are joint draws), after `steps` Adam steps on a fresh network. This is
 * classic (batch-mode) MINE with the same statistics network as the attack's;
 * the MineService exposes it.
 */
import { tf } from '../tensor/index.js';
import { mineConfig, type MineConfigInput } from './config.js';
import { PerSampleMine } from './per-sample-mine.js';
import type { PairDraws, PairSampler } from './samplers.js';

export interface MineEstimateOptions {
  steps: number;
  seed?: number;
  /** Evaluations (fresh permutations) averaged for the reported value. */
  evaluations?: number;
  mine?: MineConfigInput;
}

export interface MineEstimate {
  /** DV lower bound in nats, averaged over the final evaluations. */
  mi: number;
  /** The bound measured at each training step (for plots and convergence checks). */
  trace: number[];
}

/** Presents fixed draws (already paired) to the estimator. */
class FixedDraws implements PairSampler {
  readonly kind = 'random' as const;
  readonly deterministic = true;
  readonly draws: number;
  readonly drawShape: number[];
  constructor(private readonly X: tf.Tensor, private readonly Y: tf.Tensor) {
    this.draws = X.shape[1]!;
    this.drawShape = X.shape.slice(2);
  }
  pairs(): PairDraws {
    return { X: tf.clone(this.X), Y: tf.clone(this.Y) };
  }
  dispose(): void {}
}

/**
 * The estimate as steps: yields after each training step (and once more
 * before the final evaluations) so a caller can pause between them; returns
 * the estimate. Both entry points below run exactly these operations.
 */
function* estimateSteps(x: tf.Tensor, y: tf.Tensor, opts: MineEstimateOptions): Generator<void, MineEstimate, void> {
  const n = x.shape[0]!;
  if (y.shape[0] !== n) throw new Error(`x and y must have the same number of rows; got ${n} and ${y.shape[0]}`);
  if (n < 2) throw new Error('MINE needs at least 2 paired rows');
  if (x.size / n !== y.size / n) throw new Error(`x and y rows must have the same number of elements; got ${x.size / n} and ${y.size / n}`);
  const cfg = mineConfig({ learningRate: 1e-3, ...opts.mine });
  const X = tf.reshape(x, [1, n, x.size / n]);
  const Y = tf.reshape(y, [1, n, y.size / n]);
  const mine = new PerSampleMine([{ seed: opts.seed ?? 0, sampleId: 0 }], new FixedDraws(X, Y), cfg);
  const trace: number[] = [];
  try {
    for (let s = 0; s < opts.steps; s++) {
      // Synchronous read: this generator also serves the synchronous entry point.
      const v = mine.fit(X, Y, 1)!;
      trace.push(v.dataSync()[0]!);
      v.dispose();
      yield;
    }
    const evals = Math.max(1, opts.evaluations ?? 10);
    let sum = 0;
    for (let e = 0; e < evals; e++) {
      const v = mine.estimate(X, Y);
      sum += v.dataSync()[0]!;
      v.dispose();
    }
    return { mi: sum / evals, trace };
  } finally {
    mine.dispose();
    X.dispose();
    Y.dispose();
  }
}

/**
 * x, y: [N, ...] paired rows (N ≥ 2, the same number of elements per row);
 * everything after the first axis is flattened into the feature vector.
 */
export function estimateMutualInformation(x: tf.Tensor, y: tf.Tensor, opts: MineEstimateOptions): MineEstimate {
  const steps = estimateSteps(x, y, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

export interface MineEstimateAsyncOptions extends MineEstimateOptions {
  /** Checked between steps; aborting rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Yield to the event loop after this many milliseconds of work (default 50). */
  sliceMs?: number;
}

/**
 * The same estimate (the same numbers) as estimateMutualInformation, but
 * yielding to the event loop every `sliceMs` so a server stays responsive,
 * and stopping between steps when `signal` fires (deadline, cancel).
 */
export async function estimateMutualInformationAsync(x: tf.Tensor, y: tf.Tensor, opts: MineEstimateAsyncOptions): Promise<MineEstimate> {
  opts.signal?.throwIfAborted();
  const sliceMs = opts.sliceMs ?? 50;
  const steps = estimateSteps(x, y, opts);
  let sliceStart = performance.now();
  try {
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() - sliceStart >= sliceMs) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
      opts.signal?.throwIfAborted();
    }
  } finally {
    steps.return(undefined as never); // disposes the network when stopped early
  }
}
