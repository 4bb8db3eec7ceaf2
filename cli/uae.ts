/**
 * `uae` — the command-line front end of the in-process libraries.
 *
 *   uae pipeline --dataset NAME|idx:DIR|csv:FILE|npy:DIR --model dense-ae|conv-ae --methods mine,l2,ga-0.1,repeat,none --out DIR …
 *   uae mine estimate --x A.npy --y B.npy [--steps N]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { initBackend, tf } from '../libs/tensor/index.js';
import { loadDataset, readNpy, writeNpy } from '../libs/data/index.js';
import { AUTOENCODER_KINDS, type AutoencoderKind } from '../libs/models/index.js';
import { parseMethod, runAugmentation, type AugmentationConfig } from '../libs/augment/index.js';
import { estimateMutualInformation } from '../libs/mine/index.js';
import { progressSink } from './progress.js';

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

const program = new Command().name('uae').description('MINE-based unsupervised adversarial examples as data augmentation');

program
  .command('pipeline')
  .description('train → UAEs for every training sample → retrain on original ∪ UAEs → evaluate (ALGORITHMS.md §5)')
  .requiredOption('--dataset <spec>', 'fashion-mnist, mice-protein, idx:DIR, csv:FILE or npy:DIR')
  .requiredOption('--model <kind>', `one of ${AUTOENCODER_KINDS.join(', ')}`)
  .option('--methods <list>', 'comma-separated: mine, l2, ga-<sigma>, repeat, none', 'mine,l2,ga-0.05,ga-0.1,repeat')
  .requiredOption('--out <dir>', 'output directory')
  .option('--data-dir <dir>', 'where named image datasets live')
  .option('--train-samples <n>', 'training subset size', int('--train-samples'))
  .option('--test-samples <n>', 'test subset size', int('--test-samples'))
  .option('--epochs <n>', 'training epochs', int('--epochs'), 20)
  .option('--retrain-epochs <n>', 'retraining epochs on the augmented set', int('--retrain-epochs'), 20)
  .option('--batch <n>', 'training batch size', int('--batch'), 100)
  .option('--iterations <T>', 'MinMax iterations', int('--iterations'), 40)
  .option('--mine-steps <n>', 'MINE steps per iteration', int('--mine-steps'), 20)
  .option('--mine-draws <K>', 'random-sampler projections', int('--mine-draws'))
  .option('--workers <n>', 'worker threads for the attacks', int('--workers'))
  .option('--seed <n>', 'seed for everything', int('--seed'), 0)
  .option('--quiet', 'no progress output')
  .option('--json', 'print metrics.json to stdout (implies --quiet)')
  .action(async (o) => {
    const quiet = Boolean(o.quiet || o.json);
    const progress = progressSink({ quiet });
    if (!(AUTOENCODER_KINDS as readonly string[]).includes(o.model)) {
      throw new InvalidArgumentError(`--model must be one of ${AUTOENCODER_KINDS.join(', ')}; got "${o.model}"`);
    }
    const methods = String(o.methods).split(',').map((m) => parseMethod(m.trim()));
    const info = await initBackend();
    let ds = await loadDataset(o.dataset, { dataDir: o.dataDir, trainSamples: o.trainSamples, testSamples: o.testSamples, seed: o.seed });
    // The dense autoencoder works on flat vectors.
    if (o.model === 'dense-ae') ds = { ...ds, inputShape: [ds.inputShape.reduce((a, b) => a * b, 1)] };
    const config: AugmentationConfig = {
      model: o.model as AutoencoderKind,
      methods,
      epochs: o.epochs,
      retrainEpochs: o.retrainEpochs,
      batchSize: o.batch,
      seed: o.seed,
      workers: o.workers,
      attack: {
        iterations: o.iterations,
        mineSteps: o.mineSteps,
        ...(o.mineDraws ? { similarity: { kind: 'mine' as const, mine: { sampler: 'random' as const, draws: o.mineDraws } } } : {}),
      },
    };
    await mkdir(o.out, { recursive: true });
    await writeFile(join(o.out, 'config.json'), JSON.stringify({ command: 'pipeline', dataset: o.dataset, backend: info.name, ...config }, null, 2) + '\n');
    progress.log(`backend ${info.name} (${info.provider}); ${ds.name}: ${ds.train.n} train / ${ds.test.n} test samples of [${ds.inputShape.join('×')}]`);
    const report = await runAugmentation(ds, config, {
      onStage: (stage) => {
        progress.stop();
        progress.log(stage);
        if (stage.startsWith('train') || stage.startsWith('retrain')) progress.start(stage, stage.startsWith('train') ? config.epochs : config.retrainEpochs);
        if (stage === 'generate mine' || stage === 'generate l2') progress.start(stage.replace('generate', 'attack'), ds.train.n);
      },
      onEpoch: (_stage, e) => progress.update(e.epoch + 1, `loss ${e.loss.toFixed(5)}, ${e.samplesPerSec.toFixed(0)} samples/s`),
      onAttackProgress: (_method, p) => {
        progress.update(Math.floor(p.fraction * p.total), `${p.succeeded} succeeded, ${p.samplesPerSecond.toFixed(3)} samples/s`);
      },
    });
    progress.stop();
    const { generated, history, ...metrics } = report;
    await writeFile(join(o.out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
    await writeFile(join(o.out, 'history.json'), JSON.stringify(history, null, 2) + '\n');
    for (const [method, g] of Object.entries(generated)) {
      if (!g) continue;
      await writeNpy(join(o.out, `${method}-x.npy`), [ds.train.n, ...ds.inputShape], g.x);
      if (g.results) {
        await writeNpy(join(o.out, `${method}-success.npy`), [ds.train.n], Uint8Array.from(g.results, (r) => (r.success ? 1 : 0)));
        await writeNpy(join(o.out, `${method}-similarity.npy`), [ds.train.n], Float32Array.from(g.results, (r) => r.similarity));
      }
    }
    if (o.json) {
      process.stdout.write(JSON.stringify(metrics, null, 2) + '\n');
      return;
    }
    console.table(
      Object.entries(metrics.methods).flatMap(([method, m]) => (m ? [{
        method,
        'test recon error': m.test_recon_error.toFixed(5),
        improvement: 'improvement' in m ? `${(m.improvement * 100).toFixed(2)}%` : '',
        ASR: 'asr' in m && m.asr !== undefined ? `${(m.asr * 100).toFixed(1)}%` : '',
        's/sample': 'seconds_per_sample' in m ? m.seconds_per_sample.toFixed(3) : '',
      }] : [])),
    );
    console.log(`wrote ${o.out}/config.json, metrics.json, history.json and the generated samples (.npy)`);
  });

const mine = program.command('mine').description('mutual information estimation');
mine
  .command('estimate')
  .description('MI (nats) between paired rows of two .npy arrays, by MINE')
  .requiredOption('--x <file>', '.npy, first axis = pairs')
  .requiredOption('--y <file>', '.npy, same number of rows')
  .option('--steps <n>', 'training steps', int('--steps'), 1000)
  .option('--seed <n>', 'seed', int('--seed'), 0)
  .option('--json', 'machine-readable output')
  .action(async (o) => {
    await initBackend();
    const [a, b] = await Promise.all([readNpy(o.x), readNpy(o.y)]);
    const x = tf.tensor(Float32Array.from(a.data), a.shape);
    const y = tf.tensor(Float32Array.from(b.data), b.shape);
    const est = estimateMutualInformation(x, y, { steps: o.steps, seed: o.seed });
    tf.dispose([x, y]);
    console.log(o.json ? JSON.stringify({ mi: est.mi, steps: o.steps, pairs: a.shape[0] }) : `MI ≈ ${est.mi.toFixed(4)} nats (${a.shape[0]} pairs, ${o.steps} steps)`);
  });

try {
  await program.parseAsync();
} catch (e) {
  process.stderr.write(`uae: ${(e as Error).message}\n`);
  process.exitCode = 2;
}
