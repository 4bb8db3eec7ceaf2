/**
 * `npm run bench`: attack throughput and compute efficiency on this machine.
 *
 *   conv-ae/conv-sampler   MinMax with the paper's defaults (T and the sample
 *                          count reduced, printed) with 1 and 2 worker threads
 *   dense-ae/random        the random (compressive) sampler, fixed and redrawn
 *                          projections (redraw = the reference's faithful mode)
 *   conv-ae train step     one batch-64 training step, default backend vs cpu
 *   breakdown              ms and share per pass of a MINE step and an attack
 *                          step, unfused and fused (bench/breakdown.ts)
 *   --reference            the PyTorch reference port at the same settings,
 *                          back to back, and the ratio (bench/reference.ts)
 *   --backend webgpu       (or any GPU backend, or --device) the device
 *                          benchmark instead: batched chunks of B samples
 *                          (bench/device.ts; bench/device.sh on GPU hosts)
 *
 * Reports samples/s, s/sample (also projected to the paper's T = 40), achieved
 * GFLOPS from analytic FLOP counts, and the backend's matMul GFLOPS measured in
 * the same run. Writes bench/results/latest.json and prints a table.
 *
 * Data: Fashion-MNIST IDX files from --data-dir or UAE_DATA_DIR (the full
 * dataset), else the slice bundled in tests/fixtures.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { Command } from 'commander';
import { backendInfo, initBackend, switchBackend, tf } from '../libs/tensor/index.js';
import { loadIdxImages } from '../libs/data/index.js';
import { createAutoencoder, toArtifacts, trainAutoencoder, type Autoencoder } from '../libs/models/index.js';
import { AttackPool, attackConfig, runAttackParallel, type AttackConfigInput } from '../libs/attack/index.js';
import { mineConfig } from '../libs/mine/index.js';
import { attackRunFlops, attackStepFlops, convAeConvSamplerRunFlops, convAeForwardFlops, denseAeForwardFlops, mineStepFlops, PAPER_MINE_STEPS, PAPER_T } from './flops.js';
import { stepBreakdown, type StepBreakdown } from './breakdown.js';
import { runReference, type ReferenceRun } from './reference.js';
import { setFusedDenseStep } from '../libs/tensor/index.js';
import { boxTable } from '../cli/tables.js';
import { DEVICE_BATCHES, matmulGflopsAsync, runDeviceBench, type DeviceBenchResult } from './device.js';

const program = new Command()
  .option('--data-dir <dir>', 'Fashion-MNIST IDX directory (default: UAE_DATA_DIR or the bundled test slice)')
  .option('--samples <n>', 'samples per attack run', (v) => parseInt(v, 10), 4)
  .option('--iterations <T>', 'attack iterations (paper: 40)', (v) => parseInt(v, 10), 4)
  .option('--mine-steps <n>', 'MINE steps per iteration (paper: 20)', (v) => parseInt(v, 10), 20)
  .option('--skip-cpu', 'skip the (slow) cpu training step')
  .option('--reference', 'also run the PyTorch reference port (../shared/reference) at the same settings, back to back, and report the ratio')
  .option('--reference-script <file>', 'the reference port', '../shared/reference/uae_reference.py')
  .option('--reference-single', 'with --reference, also compare 1 worker against the reference on 1 thread (less sensitive to other load than 2 OpenMP threads)')
  .option('--only-conv', 'only the conv-AE runs, the breakdown and the reference (skip dense-AE, shards, training step)')
  .option('--out <file>', 'JSON output', 'bench/results/latest.json')
  .option('--backend <name>', 'tensor backend (as UAE_BACKEND): webgpu or a GPU runs the device benchmark')
  .option('--device', 'the device benchmark (batched chunks) on whatever backend runs')
  .option('--batches <list>', 'device benchmark: samples per stacked chunk', (v) => v.split(',').map((b) => parseCount(b, '--batches')), DEVICE_BATCHES)
  .option('--budget-s <s>', 'device benchmark: seconds for the attack runs; larger B that would not fit are skipped', (v) => parseCount(v, '--budget-s'), 180)
  .parse();
const opts = program.opts<{
  dataDir?: string;
  samples: number;
  iterations: number;
  mineSteps: number;
  skipCpu?: boolean;
  out: string;
  reference?: boolean;
  referenceSingle?: boolean;
  referenceScript: string;
  onlyConv?: boolean;
  backend?: string;
  device?: boolean;
  batches: number[];
  budgetS: number;
}>();

function parseCount(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: "${v}" is not a positive integer`);
  return n;
}

/** Stored figure (2026-11-25, another run): the PyTorch port at T = 40, 2 threads. Prefer --reference (same run). */
const REFERENCE_SECONDS_PER_SAMPLE_2_THREADS_STORED = 55;

interface Run {
  name: string;
  batch: number;
  workers: number;
  samples: number;
  iterations: number;
  mine_steps: number;
  samples_per_s: number;
  seconds_per_sample: number;
  /** Projected to T = 40 and 20 MINE steps by FLOP ratio (the cost per step is uniform). */
  seconds_per_sample_at_paper?: number;
  gflops: number;
  note?: string;
}

function dataDir(): string {
  const dir = opts.dataDir ?? process.env.UAE_DATA_DIR;
  if (dir) return dir;
  return new URL('../tests/fixtures/fashion-mnist-slice', import.meta.url).pathname;
}

function trainImages(dir: string): string {
  for (const name of ['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte']) {
    if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(`no train-images-idx3-ubyte[.gz] in ${dir}`);
}

async function attackRun(
  name: string,
  ae: Autoencoder,
  data: Float32Array,
  inputShape: number[],
  workers: number,
  config: AttackConfigInput,
  flopsPerSample: number,
  /** FLOPs per sample at the paper's settings (T = 40, 20 MINE steps): s/sample is projected by the ratio. */
  paperFlopsPerSample: number,
  note?: string,
): Promise<Run> {
  const cfg = attackConfig(config);
  const samples = data.length / inputShape.reduce((a, b) => a * b, 1);
  const artifacts = await toArtifacts(ae);
  // Steady-state throughput: timed from the moment every worker has loaded
  // its backend and model (a service keeps its workers warm).
  let t0 = performance.now();
  await runAttackParallel({ kind: 'autoencoder', artifacts }, { data, inputShape }, cfg, { workers, onReady: () => (t0 = performance.now()) });
  const seconds = (performance.now() - t0) / 1000;
  const perSample = seconds / samples;
  return {
    name,
    batch: Math.min(backendInfo().preferredChunk, Math.ceil(samples / workers)),
    workers,
    samples,
    iterations: cfg.iterations,
    mine_steps: cfg.mineSteps ?? 20,
    samples_per_s: samples / seconds,
    seconds_per_sample: perSample,
    seconds_per_sample_at_paper: (perSample * paperFlopsPerSample) / flopsPerSample,
    gflops: (flopsPerSample * samples) / seconds / 1e9,
    ...(note ? { note } : {}),
  };
}

async function trainStepMs(ae: Autoencoder, x: tf.Tensor, reps: number): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < reps + 1; i++) {
    const t0 = performance.now();
    await ae.model.trainOnBatch(x, x);
    const ms = performance.now() - t0;
    if (i > 0) best = Math.min(best, ms); // first call builds the training function
  }
  return best;
}

async function main(): Promise<void> {
  // Through the environment, so worker threads pick the same backend.
  if (opts.backend) process.env.UAE_BACKEND = opts.backend;
  const info = await initBackend();
  const dir = dataDir();
  console.log(`backend ${info.name} (${info.provider}); data ${dir}`);
  const imgs = await loadIdxImages(trainImages(dir), { limit: 2000 });
  if (opts.device || info.name === 'webgpu' || info.gpu) return deviceMain(imgs.data, dir);
  const gflopsPeak = await matmulGflopsAsync(1024);
  console.log(`matMul 1024²: ${gflopsPeak.toFixed(1)} GFLOPS`);

  const runs: Run[] = [];
  const x = tf.tensor4d(imgs.data, imgs.shape);
  const conv = createAutoencoder('conv-ae', [28, 28, 1], { seed: 1 });
  await trainAutoencoder(conv, x, { epochs: 2, batchSize: 100, seed: 1 });
  const dense = createAutoencoder('dense-ae', [784], { seed: 1 });
  await trainAutoencoder(dense, tf.reshape(x, [-1, 784]), { epochs: 2, batchSize: 100, seed: 1 });

  const { samples, iterations, mineSteps } = opts;
  const convData = imgs.data.slice(0, samples * 784);

  // Conv AE, conv sampler, paper defaults (T reduced).
  const mineConv = mineConfig({ sampler: 'conv' });
  const convFlops = convAeConvSamplerRunFlops(iterations, mineSteps, mineConv);
  const convPaperFlops = convAeConvSamplerRunFlops(PAPER_T, PAPER_MINE_STEPS, mineConv);
  for (const workers of [1, 2]) {
    const run = await attackRun(`conv-ae conv-sampler`, conv, convData, [28, 28, 1], workers, { iterations, mineSteps }, convFlops, convPaperFlops);
    runs.push(run);
    console.log(`${run.name} workers=${workers}: ${run.seconds_per_sample.toFixed(2)} s/sample`);
  }
  // The same at 2 workers without the fused MINE step (UAE_MINE_FUSED=0 reaches the
  // worker threads through their environment): before/after in one run.
  process.env.UAE_MINE_FUSED = '0';
  const unfused = await attackRun(`conv-ae conv-sampler, unfused MINE step`, conv, convData, [28, 28, 1], 2, { iterations, mineSteps }, convFlops, convPaperFlops);
  delete process.env.UAE_MINE_FUSED;
  runs.push(unfused);
  console.log(`${unfused.name} workers=2: ${unfused.seconds_per_sample.toFixed(2)} s/sample`);

  // The PyTorch reference port, same samples, T and MINE steps, 2 threads, right
  // after ours; ours at 2 workers again right after it, and the mean of the two
  // runs of ours is compared (the machine's load drifts). Both sides exclude
  // start-up: ours is timed from the moment every worker is ready, the
  // reference per sample inside its attack loop.
  let reference: (ReferenceRun & { ours_seconds_per_sample: number; ratio: number }) | undefined;
  if (opts.reference) {
    const ref = await runReference(opts.referenceScript, { samples, iterations, mineSteps, threads: 2 });
    const again = await attackRun(`conv-ae conv-sampler (after the reference)`, conv, convData, [28, 28, 1], 2, { iterations, mineSteps }, convFlops, convPaperFlops);
    runs.push(again);
    const before = runs.find((r) => r.name === 'conv-ae conv-sampler' && r.workers === 2)!;
    const ours = (before.seconds_per_sample + again.seconds_per_sample) / 2;
    reference = { ...ref, ours_seconds_per_sample: ours, ratio: ref.seconds_per_sample / ours };
    runs.push({ name: 'reference (PyTorch port)', batch: 1, workers: 2, samples, iterations, mine_steps: mineSteps, samples_per_s: 1 / ref.seconds_per_sample, seconds_per_sample: ref.seconds_per_sample, gflops: 0, note: '2 threads, start-up excluded' });
    console.log(`reference: ${ref.seconds_per_sample.toFixed(2)} s/sample; ours ${ours.toFixed(2)} (mean of 2 runs) → ${reference.ratio.toFixed(2)}×`);
  }
  let referenceSingle: (ReferenceRun & { ours_seconds_per_sample: number; ratio: number }) | undefined;
  if (opts.reference && opts.referenceSingle) {
    const ref = await runReference(opts.referenceScript, { samples, iterations, mineSteps, threads: 1 });
    const again = await attackRun(`conv-ae conv-sampler (after the 1-thread reference)`, conv, convData, [28, 28, 1], 1, { iterations, mineSteps }, convFlops, convPaperFlops);
    runs.push(again);
    const before = runs.find((r) => r.name === 'conv-ae conv-sampler' && r.workers === 1)!;
    const ours = (before.seconds_per_sample + again.seconds_per_sample) / 2;
    referenceSingle = { ...ref, ours_seconds_per_sample: ours, ratio: ref.seconds_per_sample / ours };
    runs.push({ name: 'reference (PyTorch port), 1 thread', batch: 1, workers: 1, samples, iterations, mine_steps: mineSteps, samples_per_s: 1 / ref.seconds_per_sample, seconds_per_sample: ref.seconds_per_sample, gflops: 0, note: '1 thread, start-up excluded' });
    console.log(`reference, 1 thread: ${ref.seconds_per_sample.toFixed(2)} s/sample; ours, 1 worker ${ours.toFixed(2)} (mean of 2 runs) → ${referenceSingle.ratio.toFixed(2)}×`);
  }

  // Per-pass split of a MINE step and an attack step, unfused (before) and
  // fused (after), on the main thread, one sample.
  const breakdown: Record<'unfused' | 'fused', StepBreakdown> = {} as Record<'unfused' | 'fused', StepBreakdown>;
  for (const variant of ['unfused', 'fused'] as const) {
    setFusedDenseStep(variant === 'fused');
    breakdown[variant] = await stepBreakdown(conv, convData.slice(0, 784), [28, 28, 1], 3, Math.min(mineSteps, 5));
  }
  setFusedDenseStep(true);

  let freshSeconds = NaN;
  let pooledSeconds = NaN;
  let cpuMs: number | undefined;
  let defaultMs = NaN;
  let batch: tf.Tensor | undefined;
  if (!opts.onlyConv) {
    // Dense AE, random sampler (K = 500 → 128): fixed projections, redrawn ones
    // (exact lazy sampling, the default) and redrawn materialised matrices.
    const denseSamples = Math.min(samples, 2);
    const denseData = imgs.data.slice(0, denseSamples * 784);
    for (const projection of ['fixed', 'redraw', 'redraw-explicit'] as const) {
      const mine = mineConfig({ sampler: 'random', projection });
      const projectFlops = 2 * 784 * mine.draws * mine.projectionDim;
      const explicit = projection === 'redraw-explicit';
      const step = mineStepFlops([mine.projectionDim], mine.draws, mine) + (explicit ? 2 * projectFlops : 0);
      const iters = explicit ? Math.min(iterations, 1) : iterations;
      const nMine = explicit ? Math.min(mineSteps, 2) : mineSteps;
      // Lazy redraw samples the projections in O(K·m) (no d×K·m product); fixed and explicit multiply.
      const attackStep = attackStepFlops([mine.projectionDim], mine.draws, mine, denseAeForwardFlops(784, 128), projection === 'redraw' ? 0 : projectFlops);
      const flops = attackRunFlops(iters, nMine, step, attackStep);
      const paperFlops = attackRunFlops(PAPER_T, PAPER_MINE_STEPS, step, attackStep);
      const run = await attackRun(
        `dense-ae random-${projection}`,
        dense,
        denseData,
        [784],
        1,
        { iterations: iters, mineSteps: nMine, similarity: { kind: 'mine', mine } },
        flops,
        paperFlops,
        explicit ? '500×784×128 fresh normals per evaluation, as the reference; T and MINE steps cut further' : undefined,
      );
      runs.push(run);
      console.log(`${run.name}: ${run.seconds_per_sample.toFixed(2)} s/sample`);
    }

    // Many small shards (what the attack service gets from the work queue):
    // 6 calls of 4 samples each on 2 threads, whole calls timed (thread and
    // backend start-up included) — fresh threads per call vs one AttackPool.
    const shardCalls = 6;
    const shardData = imgs.data.slice(0, 4 * 784);
    const shardCfg = attackConfig({ iterations: 2, mineSteps: 1, similarity: { kind: 'mine', mine: mineConfig({ sampler: 'random', projection: 'fixed' }) } });
    const denseArtifacts = await toArtifacts(dense);
    const timeCalls = async (pool?: AttackPool) => {
      const t0 = performance.now();
      for (let i = 0; i < shardCalls; i++) {
        await runAttackParallel({ kind: 'autoencoder', artifacts: denseArtifacts }, { data: shardData, inputShape: [784] }, shardCfg, { workers: 2, ...(pool ? { pool } : {}) });
      }
      return (performance.now() - t0) / 1000;
    };
    freshSeconds = await timeCalls();
    const pool = new AttackPool(2);
    pooledSeconds = await timeCalls(pool).finally(() => pool.close());
    for (const [label, secs] of [['fresh threads per call', freshSeconds], ['AttackPool', pooledSeconds]] as const) {
      const n = shardCalls * 4;
      runs.push({ name: `dense-ae 4-sample shards, ${label}`, batch: 1, workers: 2, samples: n, iterations: 2, mine_steps: 1, samples_per_s: n / secs, seconds_per_sample: secs / n, gflops: 0, note: `${shardCalls} calls, start-up included` });
    }
    console.log(`small shards: fresh threads ${freshSeconds.toFixed(1)} s, pool ${pooledSeconds.toFixed(1)} s`);

    // Conv AE training step, batch 64: default backend vs cpu.
    batch = tf.slice(x, 0, 64);
    const stepFlops = 3 * 64 * convAeForwardFlops(28, 28, 1);
    defaultMs = await trainStepMs(conv, batch, 5);
    runs.push({ name: `conv-ae train step (${info.name})`, batch: 64, workers: 1, samples: 64, iterations: 1, mine_steps: 0, samples_per_s: 64 / (defaultMs / 1000), seconds_per_sample: defaultMs / 1000 / 64, gflops: stepFlops / (defaultMs / 1000) / 1e9 });
    if (!opts.skipCpu && info.name !== 'cpu') {
      await switchBackend('cpu');
      const convCpu = createAutoencoder('conv-ae', [28, 28, 1], { seed: 1 });
      cpuMs = await trainStepMs(convCpu, batch, 1);
      runs.push({ name: 'conv-ae train step (cpu)', batch: 64, workers: 1, samples: 64, iterations: 1, mine_steps: 0, samples_per_s: 64 / (cpuMs / 1000), seconds_per_sample: cpuMs / 1000 / 64, gflops: stepFlops / (cpuMs / 1000) / 1e9 });
      await switchBackend(info.name);
    }
  }

  const one = runs.find((r) => r.name === 'conv-ae conv-sampler' && r.workers === 1)!;
  const two = runs.find((r) => r.name === 'conv-ae conv-sampler' && r.workers === 2)!;
  const ratios = {
    workers_2_vs_1: two.samples_per_s / one.samples_per_s,
    attack_fraction_of_matmul_peak: one.gflops / gflopsPeak,
    train_step_default_vs_cpu: cpuMs ? cpuMs / defaultMs : undefined,
    fused_vs_unfused_2_workers: two.samples_per_s / unfused.samples_per_s,
    vs_reference_same_run: reference?.ratio,
    vs_reference_same_run_1_thread: referenceSingle?.ratio,
    vs_reference_stored_figure: REFERENCE_SECONDS_PER_SAMPLE_2_THREADS_STORED / (two.seconds_per_sample_at_paper ?? Infinity),
    small_shards_pool_vs_fresh_threads: freshSeconds / pooledSeconds,
  };
  const result = { backend: info.name, provider: info.provider, matmul_gflops: gflopsPeak, date: new Date().toISOString(), data: dir, load_average: loadavg(), ratios, runs, breakdown, ...(reference ? { reference } : {}), ...(referenceSingle ? { reference_1_thread: referenceSingle } : {}) };
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(opts.out, JSON.stringify(result, null, 2) + '\n');

  console.log();
  process.stdout.write(boxTable(
    runs.map((r) => ({
      run: r.name,
      workers: String(r.workers),
      samples: String(r.samples),
      T: String(r.iterations),
      'MINE steps': String(r.mine_steps),
      'samples/s': r.samples_per_s.toFixed(3),
      's/sample': r.seconds_per_sample < 0.1 ? r.seconds_per_sample.toExponential(2) : r.seconds_per_sample.toFixed(2),
      's/sample @paper': r.seconds_per_sample_at_paper?.toFixed(1) ?? '',
      GFLOPS: r.gflops.toFixed(1),
    })),
  ));
  console.log(`matMul peak ${gflopsPeak.toFixed(1)} GFLOPS`);
  console.log(`2 workers vs 1: ${ratios.workers_2_vs_1.toFixed(2)}×  (goal ≥ 1.8×)`);
  console.log(`attack GFLOPS / matMul GFLOPS: ${(ratios.attack_fraction_of_matmul_peak * 100).toFixed(1)}%  (goal ≥ 50%)`);
  printBreakdown(breakdown);
  console.log(`fused vs unfused MINE step, 2 workers, whole attack: ${ratios.fused_vs_unfused_2_workers.toFixed(2)}×`);
  if (ratios.train_step_default_vs_cpu) console.log(`conv-AE train step ${info.name} vs cpu: ${ratios.train_step_default_vs_cpu.toFixed(0)}×  (goal ≥ 50×)`);
  if (!opts.onlyConv) console.log(`small shards, AttackPool vs fresh threads per call: ${ratios.small_shards_pool_vs_fresh_threads.toFixed(2)}×`);
  if (reference) {
    console.log(`vs reference, same run (T=${iterations}, ${mineSteps} MINE steps, ${samples} samples; 2 workers vs 2 threads; start-up excluded): ${reference.ratio.toFixed(2)}×  (goal ≥ 2×)`);
    if (referenceSingle) console.log(`vs reference, same run, 1 worker vs 1 thread: ${referenceSingle.ratio.toFixed(2)}×`);
  } else {
    console.log(`vs reference, stored figure (55 s/sample, another day; run with --reference for a same-run ratio): ${ratios.vs_reference_stored_figure.toFixed(2)}×`);
  }
  console.log(`load average during the run: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (on ${availableParallelism()} cores; absolute figures move with it, same-run ratios less)`);
  console.log(`wrote ${opts.out}`);
  tf.dispose([x, ...(batch ? [batch] : [])]);
  conv.dispose();
  dense.dispose();
}

/**
 * The device benchmark: one process, one device, stacked chunks of B samples
 * (worker threads would each open the device; the CPU runs above need them).
 */
async function deviceMain(images: Float32Array, dir: string): Promise<void> {
  const info = backendInfo();
  if (info.adapter) console.log(`adapter: ${info.adapter.vendor} ${info.adapter.architecture} "${info.adapter.description || info.adapter.device}"${info.adapter.software ? ' (software)' : ''}`);
  const result: DeviceBenchResult = await runDeviceBench({
    images,
    batches: opts.batches,
    iterations: opts.iterations,
    mineSteps: opts.mineSteps,
    budgetSeconds: opts.budgetS,
    log: (line) => console.log(line),
  });
  await mkdir(new URL('./results/', import.meta.url), { recursive: true });
  await writeFile(opts.out, JSON.stringify({ ...result, date: new Date().toISOString(), data: dir, load_average: loadavg() }, null, 2) + '\n');
  console.log();
  process.stdout.write(boxTable(
    result.runs.map((r) => ({
      run: r.name,
      chunk: String(r.chunk),
      T: String(r.iterations),
      'MINE steps': String(r.mine_steps),
      'samples/s': r.samples_per_s?.toFixed(3) ?? 'skipped',
      's/sample': r.seconds_per_sample?.toFixed(3) ?? '',
      's/sample @paper': r.seconds_per_sample_at_paper?.toFixed(1) ?? '',
      GFLOPS: r.gflops?.toFixed(1) ?? '',
      'GPU MiB': r.memory?.gpu_bytes_allocated !== undefined ? (r.memory.gpu_bytes_allocated / 2 ** 20).toFixed(0) : '',
      tensors: r.memory ? String(r.memory.num_tensors) : '',
    })),
  ));
  console.log(`matMul ${result.matmul.n}² on ${result.backend} (${result.provider}): ${result.matmul.gflops.toFixed(1)} GFLOPS`);
  for (const r of result.runs) if (r.skipped) console.log(`${r.name}: ${r.skipped}`);
  console.log(`wrote ${opts.out}`);
}

function printBreakdown(b: Record<'unfused' | 'fused', StepBreakdown>): void {
  for (const [label, key, totalKey] of [['MINE step', 'mine_step', 'mine_step_ms'], ['attack step', 'attack_step', 'attack_step_ms']] as const) {
    const passes = [...new Set([...b.unfused[key], ...b.fused[key]].map((p) => p.pass))];
    const cell = (v: 'unfused' | 'fused', pass: string) => b[v][key].find((p) => p.pass === pass);
    console.log(`\n${label}: unfused ${b.unfused[totalKey].toFixed(1)} ms, fused ${b.fused[totalKey].toFixed(1)} ms (one sample, main thread)`);
    process.stdout.write(boxTable(
      passes.map((pass) => ({
        pass,
        'unfused ms': cell('unfused', pass)?.ms.toFixed(1) ?? '',
        'unfused %': cell('unfused', pass) ? (cell('unfused', pass)!.share * 100).toFixed(1) : '',
        'fused ms': cell('fused', pass)?.ms.toFixed(1) ?? '',
        'fused %': cell('fused', pass) ? (cell('fused', pass)!.share * 100).toFixed(1) : '',
      })),
    ));
  }
}

await main();
