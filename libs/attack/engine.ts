/**
 * The attack engine's public API: N samples in, N results out, whatever the
 * backend. Samples are processed in stacked chunks whose size the backend
 * prefers (a GPU wants many per batched matMul; wasm a few), so the caller
 * never chooses an execution strategy.
 */
import { backendInfo, tf, throwIfDeviceFaulted, type BackendInfo } from '../tensor/index.js';
import { largestPerSampleBytes } from '../mine/index.js';
import { type AttackConfig, attackSteps, isSignBaseline, isSupervised, mineMeasureOf } from './config.js';
import { attackChunk, AttackCancelledError } from './minmax.js';
import { signAttackChunk } from './pgd.js';
import type { AttackModel } from './model.js';
import type { SampleResult } from './result.js';
import type { Kinded } from '../errors/index.js';

export interface AttackInput {
  /** N samples, each of `inputShape`, flattened in C order; values in [0, 1]. */
  data: Float32Array;
  inputShape: number[];
  /** Ids that seed each sample's random streams (default 0..N−1); unique. */
  sampleIds?: number[];
  /** One label per sample: true class (cw untargeted; a classifier's loss criterion) or target class (cw targeted). */
  labels?: Int32Array;
}

export interface AttackProgress {
  /** Samples finished. */
  done: number;
  total: number;
  succeeded: number;
  /** Share of all sample-iterations finished, 0..1; moves every iteration. */
  fraction: number;
  elapsedSeconds: number;
  /** fraction·total / elapsed. */
  samplesPerSecond: number;
  etaSeconds: number;
}

/** Minimum interval between iteration-level progress reports. */
export const PROGRESS_INTERVAL_MS = 250;

export function progressOf(done: number, total: number, succeeded: number, fraction: number, startedMs: number): AttackProgress {
  const elapsedSeconds = (performance.now() - startedMs) / 1000;
  const rate = elapsedSeconds > 0 ? (fraction * total) / elapsedSeconds : 0;
  return { done, total, succeeded, fraction, elapsedSeconds, samplesPerSecond: rate, etaSeconds: rate > 0 ? ((1 - fraction) * total) / rate : Infinity };
}

export interface RunAttackOptions {
  signal?: AbortSignal;
  /**
   * Progress: after every finished chunk with its results, and in between at
   * most every PROGRESS_INTERVAL_MS as iterations advance (with no results).
   */
  onProgress?: (progress: AttackProgress, finished: SampleResult[]) => void;
  /** Samples per stacked computation; default: what the backend prefers. Cut to what the device binds (chunkSizeFor). */
  chunkSize?: number;
}

export class AttackInputError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'AttackInputError';
  }
}

/**
 * Samples per stacked chunk: the caller's (or the backend's preferred) size,
 * cut so that the largest stacked per-sample tensor (libs/mine
 * largestPerSampleBytes: the statistics network's first dense weight, or
 * materialised projections) fits one buffer binding of the device
 * (BackendInfo.maxBindingBytes; webgpu only). Over it, the device drops the
 * command and returns zeros.
 */
export function chunkSizeFor(
  config: AttackConfig,
  inputShape: readonly number[],
  requested?: number,
  device: Pick<BackendInfo, 'preferredChunk' | 'maxBindingBytes'> = backendInfo(),
): number {
  const wanted = Math.max(1, Math.floor(requested ?? device.preferredChunk));
  const maxBindingBytes = device.maxBindingBytes;
  // PGD and FGSM build MINE networks only to measure their x′ (mineMeasure).
  if (maxBindingBytes === undefined || config.similarity.kind !== 'mine' || (isSignBaseline(config) && mineMeasureOf(config).steps === 0)) return wanted;
  const perSample = largestPerSampleBytes(config.similarity.mine, inputShape);
  const fits = Math.floor(maxBindingBytes / perSample);
  if (fits < 1) {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
    throw new AttackInputError('similarity.mine', `one sample's statistics network needs a ${mib(perSample)} tensor; this device binds at most ${mib(maxBindingBytes)} (lower hidden, or use projection "redraw")`);
  }
  return Math.min(wanted, fits);
}

/** Validates shapes, values and ids; returns N. */
export function validateAttackInput(input: AttackInput, config: AttackConfig, modelInputShape?: readonly number[]): number {
  const d = input.inputShape.reduce((a, b) => a * b, 1);
  if (input.inputShape.length === 0 || input.inputShape.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new AttackInputError('inputShape', `must be positive integers; got [${input.inputShape.join(',')}]`);
  }
  if (modelInputShape && modelInputShape.join(',') !== input.inputShape.join(',')) {
    throw new AttackInputError('inputShape', `[${input.inputShape.join(',')}] does not match the model's [${modelInputShape.join(',')}]`);
  }
  if (input.data.length % d !== 0) {
    throw new AttackInputError('data', `length ${input.data.length} is not a multiple of the sample size ${d}`);
  }
  const n = input.data.length / d;
  for (let i = 0; i < input.data.length; i++) {
    const v = input.data[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw new AttackInputError('data', `sample ${Math.floor(i / d)} element ${i % d} is ${v}; values must be finite and in [0, 1]`);
    }
  }
  if (input.sampleIds) {
    if (input.sampleIds.length !== n) throw new AttackInputError('sampleIds', `has ${input.sampleIds.length} ids for ${n} samples`);
    const seen = new Set<number>();
    for (const id of input.sampleIds) {
      if (!Number.isSafeInteger(id) || id < 0) throw new AttackInputError('sampleIds', `id ${id} is not a non-negative integer`);
      if (seen.has(id)) throw new AttackInputError('sampleIds', `id ${id} appears twice`);
      seen.add(id);
    }
  }
  if (isSupervised(config) && input.labels?.length !== n) {
    throw new AttackInputError('labels', `the cw criterion needs ${n} labels; got ${input.labels?.length ?? 0}`);
  }
  if (input.labels && input.labels.length !== n) throw new AttackInputError('labels', `has ${input.labels.length} labels for ${n} samples`);
  return n;
}

/** ‖x′ − x‖∞ and ‖x′ − x‖₂ of one sample (flat rows of equal length). */
export function perturbationNorms(x: ArrayLike<number>, xAdv: ArrayLike<number>): { linf: number; l2: number } {
  let linf = 0;
  let sq = 0;
  for (let i = 0; i < x.length; i++) {
    const v = xAdv[i]! - x[i]!;
    linf = Math.max(linf, Math.abs(v));
    sq += v * v;
  }
  return { linf, l2: Math.sqrt(sq) };
}

/**
 * Attacks every sample; results come back in input order. Cancelling through
 * `signal` stops between iterations with AttackCancelledError.
 */
export async function runAttack(model: AttackModel, input: AttackInput, config: AttackConfig, opts: RunAttackOptions = {}): Promise<SampleResult[]> {
  const n = validateAttackInput(input, config, model.inputShape);
  const d = input.data.length / Math.max(1, n);
  const ids = input.sampleIds ?? Array.from({ length: n }, (_, i) => i);
  const chunkSize = chunkSizeFor(config, input.inputShape, opts.chunkSize);
  const results: SampleResult[] = [];
  const started = performance.now();
  let succeeded = 0;
  let lastReport = 0;
  for (let start = 0; start < n; start += chunkSize) {
    if (opts.signal?.aborted) throw new AttackCancelledError(opts.signal.reason);
    const end = Math.min(n, start + chunkSize);
    const x = tf.tensor(input.data.subarray(start * d, end * d), [end - start, ...input.inputShape]);
    const onIteration = (iteration: number) => {
      const now = performance.now();
      if (!opts.onProgress || now - lastReport < PROGRESS_INTERVAL_MS) return;
      lastReport = now;
      const fraction = (start + ((end - start) * iteration) / attackSteps(config)) / n;
      opts.onProgress(progressOf(start, n, succeeded, fraction, started), []);
    };
    try {
      const chunk = await (isSignBaseline(config) ? signAttackChunk : attackChunk)(
        model,
        { x, sampleIds: ids.slice(start, end), labels: input.labels?.subarray(start, end) },
        config,
        { signal: opts.signal, onIteration },
      );
      // The chunk's results have been read: a command the device dropped on the way fails the chunk.
      throwIfDeviceFaulted();
      chunk.forEach((r, k) => Object.assign(r, perturbationNorms(input.data.subarray((start + k) * d, (start + k + 1) * d), r.xAdv)));
      results.push(...chunk);
      succeeded += chunk.filter((r) => r.success).length;
      lastReport = performance.now();
      opts.onProgress?.(progressOf(end, n, succeeded, end / n, started), chunk);
    } finally {
      x.dispose();
    }
  }
  return results;
}
