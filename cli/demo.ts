/**
 * `npm run demo`: the compute core end to end on the bundled Fashion-MNIST
 * slice — train the reference conv AE, generate MINE-based UAEs (MinMax,
 * conv sampler, the paper's defaults: T = 40, 20 MINE steps) on all cores, and print
 * per-sample results and throughput. The full augmentation pipeline
 * (retraining, evaluation, report) builds on this.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { initBackend, tf } from '../libs/tensor/index.js';
import { loadIdxImages, writeNpy } from '../libs/data/index.js';
import { createAutoencoder, toArtifacts, trainAutoencoder } from '../libs/models/index.js';
import { attackConfig, runAttackParallel } from '../libs/attack/index.js';

const opts = new Command()
  .option('--samples <n>', 'training samples to attack', (v) => parseInt(v, 10), 4)
  .option('--iterations <T>', 'MinMax iterations (paper: 40)', (v) => parseInt(v, 10), 40)
  .option('--mine-steps <n>', 'MINE steps per iteration (paper: 20)', (v) => parseInt(v, 10), 20)
  .option('--workers <n>', 'worker threads (default: one per core)', (v) => parseInt(v, 10))
  .option('--out <dir>', 'where to write summary.json and the UAEs (.npy)', '.uae/demo')
  .parse()
  .opts<{ samples: number; iterations: number; mineSteps: number; workers?: number; out: string }>();

const info = await initBackend();
console.log(`backend: ${info.name} (${info.provider}), ${opts.workers ?? info.preferredWorkers} worker(s)`);
const fixture = new URL('../tests/fixtures/fashion-mnist-slice/train-images-idx3-ubyte.gz', import.meta.url).pathname;
const imgs = await loadIdxImages(fixture, { limit: 2000 });
const x = tf.tensor4d(imgs.data, imgs.shape);

console.log(`training the conv AE on ${imgs.shape[0]} Fashion-MNIST images (3 epochs)…`);
const ae = createAutoencoder('conv-ae', [28, 28, 1], { seed: 0 });
await trainAutoencoder(ae, x, {
  epochs: 3,
  batchSize: 100,
  seed: 0,
  onEpoch: (e) => console.log(`  epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)} (${e.samplesPerSec.toFixed(0)} samples/s)`),
});
x.dispose();

const config = attackConfig({ iterations: opts.iterations, mineSteps: opts.mineSteps, seed: 0 });
const data = imgs.data.slice(0, opts.samples * 784);
console.log(`attacking ${opts.samples} samples: MinMax, MINE conv sampler, T=${config.iterations}, ${opts.mineSteps} MINE steps/iteration…`);
const started = performance.now();
let lastLine = 0;
const results = await runAttackParallel({ kind: 'autoencoder', artifacts: await toArtifacts(ae) }, { data, inputShape: [28, 28, 1] }, config, {
  workers: opts.workers,
  onProgress: (p, finished) => {
    const now = performance.now();
    if (finished.length === 0 && now - lastLine < 5000) return;
    lastLine = now;
    console.log(
      `  ${(p.fraction * 100).toFixed(0)}%: ${p.done}/${p.total} samples done, ${p.succeeded} succeeded, ` +
        `${p.samplesPerSecond.toFixed(3)} samples/s, ETA ${Number.isFinite(p.etaSeconds) ? p.etaSeconds.toFixed(0) : '?'} s`,
    );
  },
});
const seconds = (performance.now() - started) / 1000;
ae.dispose();

console.table(
  results.map((r) => {
    let linf = 0;
    let l2 = 0;
    r.xAdv.forEach((v, j) => {
      const d = v - data[r.sampleId * 784 + j]!;
      linf = Math.max(linf, Math.abs(d));
      l2 += d * d;
    });
    return { sample: r.sampleId, success: r.success, MI: r.similarity.toFixed(4), f: r.f.toFixed(3), 'best iteration': r.bestIteration, 'L∞(δ)': linf.toFixed(3), 'L2(δ)': Math.sqrt(l2).toFixed(3) };
  }),
);
const asr = results.filter((r) => r.success).length / results.length;
const summary = { backend: info.name, samples: results.length, seconds, samples_per_s: results.length / seconds, asr, config };
console.log(`ASR ${(asr * 100).toFixed(1)}%, ${summary.samples_per_s.toFixed(3)} samples/s (${(seconds / results.length).toFixed(1)} s/sample incl. start-up)`);
await mkdir(opts.out, { recursive: true });
await writeFile(`${opts.out}/summary.json`, JSON.stringify(summary, null, 2) + '\n');
const uaes = new Float32Array(results.length * 784);
results.forEach((r, i) => uaes.set(r.xAdv, i * 784));
await writeNpy(`${opts.out}/uaes.npy`, [results.length, 28, 28, 1], uaes);
await writeNpy(`${opts.out}/success.npy`, [results.length], Uint8Array.from(results, (r) => (r.success ? 1 : 0)));
await writeNpy(`${opts.out}/mi.npy`, [results.length], Float32Array.from(results, (r) => r.similarity));
console.log(`wrote ${opts.out}/summary.json and uaes.npy, success.npy, mi.npy (numpy.load reads them)`);
