/**
 * The device benchmark (`npm run bench -- --backend webgpu`, `bench/device.sh`):
 * the conv-AE attack at the paper's settings — conv sampler, 20 MINE steps per
 * iteration — with B samples stacked in one chunk (per-sample δ, c and MINE
 * weights in one batched computation) for B = 1, 8, 32, 64, 128, on the
 * backend this process runs (a GPU through webgpu or tensorflow, or any other).
 *
 * T is measured short (default 2 iterations) and projected to the paper's
 * T = 40 by FLOP ratio, as `npm run bench` does: every iteration costs the
 * same. Each B is warmed first with one iteration of one MINE step at the same
 * shapes, so shader compilation (seconds on webgpu, once per shape) is not
 * timed. A time budget skips the larger B when the smaller ones show they
 * would not fit (a lent GPU machine is held for minutes, not hours).
 *
 * Reads stay asynchronous (webgpu has no synchronous download in Node).
 */
import { backendInfo, tf, type BackendInfo } from '../libs/tensor/index.js';
import { createAutoencoder, trainAutoencoder, type Autoencoder } from '../libs/models/index.js';
import { attackConfig, chunkSizeFor, runAttack } from '../libs/attack/index.js';
import { mineConfig } from '../libs/mine/index.js';
import { convAeConvSamplerRunFlops, PAPER_MINE_STEPS, PAPER_T } from './flops.js';

export const DEVICE_BATCHES = [1, 8, 32, 64, 128];

export interface DeviceBenchOptions {
  /** Samples per stacked chunk, one timed run each (default DEVICE_BATCHES). */
  batches?: number[];
  /** Attack iterations timed per run (projected to T = 40). */
  iterations?: number;
  mineSteps?: number;
  /** Wall-clock budget for the attack runs; a B whose projected time would exceed what is left is skipped. */
  budgetSeconds?: number;
  /** Images scaled to [0, 1], [N, 28, 28, 1] flattened; rows are reused when B exceeds N. */
  images: Float32Array;
  log?: (line: string) => void;
}

export interface DeviceMemory {
  /** Live tensors after the run (flat across runs when nothing leaks). */
  num_tensors: number;
  /** Bytes of live tensors as tfjs counts them. */
  num_bytes: number;
  /** webgpu: bytes of GPU buffers in use after the run. */
  gpu_bytes_in_use?: number;
  /** webgpu: bytes of GPU buffers allocated, the free pool included — what the run needed at its peak, as buffers are pooled, not freed. */
  gpu_bytes_allocated?: number;
}

export interface DeviceRow {
  name: string;
  batch: number;
  /** Samples per stacked chunk as run: B, or less where one sample's MINE weight times B exceeds the device's buffer binding limit. */
  chunk: number;
  samples: number;
  iterations: number;
  mine_steps: number;
  seconds?: number;
  warmup_seconds?: number;
  samples_per_s?: number;
  seconds_per_sample?: number;
  /** Projected to T = 40 and 20 MINE steps by FLOP ratio. */
  seconds_per_sample_at_paper?: number;
  gflops?: number;
  succeeded?: number;
  memory?: DeviceMemory;
  /** Why this B did not run (the budget). */
  skipped?: string;
}

export interface DeviceBenchResult {
  kind: 'uae.device-bench';
  backend: string;
  provider: string;
  gpu: boolean;
  adapter?: BackendInfo['adapter'];
  matmul: { n: number; gflops: number };
  budget_seconds: number;
  runs: DeviceRow[];
}

/** Best-of-several n×n matMul rate of the active backend, read back asynchronously. */
export async function matmulGflopsAsync(n: number, reps = 5): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  let best = Infinity;
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    const ms = performance.now() - t0;
    c.dispose();
    if (i > 0) best = Math.min(best, ms); // the first call compiles the kernel
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

function memoryNow(): DeviceMemory {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
  return {
    num_tensors: m.numTensors,
    num_bytes: m.numBytes,
    ...(m.numBytesInGPU !== undefined ? { gpu_bytes_in_use: m.numBytesInGPU } : {}),
    ...(m.numBytesAllocatedInGPU !== undefined ? { gpu_bytes_allocated: m.numBytesAllocatedInGPU } : {}),
  };
}

/** B samples from the images, cycling through them when B exceeds their count. */
function samplesOf(images: Float32Array, b: number): Float32Array {
  const d = 28 * 28;
  const n = Math.floor(images.length / d);
  if (n === 0) throw new Error('images: no 28×28 image given');
  const out = new Float32Array(b * d);
  for (let i = 0; i < b; i++) out.set(images.subarray((i % n) * d, (i % n + 1) * d), i * d);
  return out;
}

/** A conv AE trained briefly on the images (the attack's cost does not depend on how well it reconstructs). */
async function benchAutoencoder(images: Float32Array): Promise<Autoencoder> {
  const n = Math.min(256, Math.floor(images.length / 784));
  const ae = createAutoencoder('conv-ae', [28, 28, 1], { seed: 1 });
  const x = tf.tensor4d(images.subarray(0, n * 784), [n, 28, 28, 1]);
  try {
    await trainAutoencoder(ae, x, { epochs: 1, batchSize: 64, seed: 1 });
  } finally {
    x.dispose();
  }
  return ae;
}

export async function runDeviceBench(opts: DeviceBenchOptions): Promise<DeviceBenchResult> {
  const log = opts.log ?? (() => {});
  const info = backendInfo();
  const batches = opts.batches ?? DEVICE_BATCHES;
  const iterations = opts.iterations ?? 2;
  const mineSteps = opts.mineSteps ?? PAPER_MINE_STEPS;
  const budget = opts.budgetSeconds ?? 180;
  const software = info.adapter?.software ?? !info.gpu;
  const n = software ? 1024 : 4096;
  const gflops = await matmulGflopsAsync(n);
  log(`matMul ${n}²: ${gflops.toFixed(1)} GFLOPS`);

  const ae = await benchAutoencoder(opts.images);
  const mine = mineConfig({ sampler: 'conv' });
  const flopsPerSample = convAeConvSamplerRunFlops(iterations, mineSteps, mine);
  const paperFlopsPerSample = convAeConvSamplerRunFlops(PAPER_T, PAPER_MINE_STEPS, mine);
  const config = attackConfig({ iterations, mineSteps, similarity: { kind: 'mine', mine } });
  const warmConfig = attackConfig({ iterations: 1, mineSteps: 1, similarity: { kind: 'mine', mine } });

  const rows: DeviceRow[] = [];
  const started = performance.now();
  let secondsPerSampleSeen: number | undefined;
  try {
    for (const b of batches) {
      const base: DeviceRow = { name: `conv-ae conv-sampler B=${b}`, batch: b, chunk: chunkSizeFor(config, [28, 28, 1], b), samples: b, iterations, mine_steps: mineSteps };
      const left = budget - (performance.now() - started) / 1000;
      // Stacked chunks cost at most linearly more than the smallest B measured per sample; the warm-up adds about one iteration.
      const projected = secondsPerSampleSeen !== undefined ? secondsPerSampleSeen * b * (1 + 1 / iterations) : 0;
      if (projected > left) {
        rows.push({ ...base, skipped: `projected ${projected.toFixed(0)} s > ${Math.max(0, left).toFixed(0)} s left of the ${budget} s budget` });
        log(`B=${b}: skipped (${rows.at(-1)!.skipped})`);
        continue;
      }
      const input = { data: samplesOf(opts.images, b), inputShape: [28, 28, 1] };
      const w0 = performance.now();
      await runAttack(ae, input, warmConfig, { chunkSize: b });
      const warmupSeconds = (performance.now() - w0) / 1000;
      const t0 = performance.now();
      const results = await runAttack(ae, input, config, { chunkSize: b });
      const seconds = (performance.now() - t0) / 1000;
      const perSample = seconds / b;
      secondsPerSampleSeen = Math.min(secondsPerSampleSeen ?? Infinity, perSample);
      rows.push({
        ...base,
        seconds,
        warmup_seconds: warmupSeconds,
        samples_per_s: b / seconds,
        seconds_per_sample: perSample,
        seconds_per_sample_at_paper: (perSample * paperFlopsPerSample) / flopsPerSample,
        gflops: (flopsPerSample * b) / seconds / 1e9,
        succeeded: results.filter((r) => r.success).length,
        memory: memoryNow(),
      });
      log(`B=${b}: ${seconds.toFixed(1)} s, ${(b / seconds).toFixed(2)} samples/s (warm-up ${warmupSeconds.toFixed(1)} s)`);
    }
  } finally {
    ae.dispose();
  }
  return {
    kind: 'uae.device-bench',
    backend: info.name,
    provider: info.provider,
    gpu: info.gpu,
    ...(info.adapter ? { adapter: info.adapter } : {}),
    matmul: { n, gflops },
    budget_seconds: budget,
    runs: rows,
  };
}
