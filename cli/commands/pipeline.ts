/** `uae pipeline`: the whole §5 loop in this process, with progress, outputs and a report. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { writeNpy } from '../../libs/data/index.js';
import { AUTOENCODER_KINDS, saveAutoencoder } from '../../libs/models/index.js';
import { parseMethod, runAugmentation, type AugmentationConfig, type AugmentationReport } from '../../libs/augment/index.js';
import { progressSink } from '../progress.js';
import {
  addAttackOptions,
  addDataOptions,
  addModelOptions,
  addOutputOptions,
  attackInputFrom,
  checkModelKind,
  int,
  loadDatasetFor,
  modelOptionsFrom,
} from '../options.js';
import { writePipelineReport } from '../report.js';

export function pipelineCommand(): Command {
  const cmd = new Command('pipeline')
    .description('train → UAEs for every training sample → retrain on original ∪ UAEs → evaluate (ALGORITHMS.md §5)')
    .requiredOption('--model <kind>', `one of ${AUTOENCODER_KINDS.join(', ')}`)
    .option('--methods <list>', 'comma-separated: mine, l2, ga-<sigma>, repeat, none', 'mine,l2,ga-0.05,ga-0.1,repeat')
    .requiredOption('--out <dir>', 'output directory');
  addDataOptions(cmd);
  addModelOptions(cmd);
  cmd
    .option('--epochs <n>', 'training epochs', int('--epochs'), 20)
    .option('--retrain-epochs <n>', 'retraining epochs on the augmented set', int('--retrain-epochs'), 20)
    .option('--batch <n>', 'training batch size', int('--batch'), 100)
    .option('--classifier-epochs <n>', 'downstream classifier epochs (labelled datasets; 0 = skip)', int('--classifier-epochs'), 50);
  addAttackOptions(cmd);
  cmd.option('--seed <n>', 'seed for everything', int('--seed'), 0);
  addOutputOptions(cmd);
  return cmd.action(async (o) => {
    const quiet = Boolean(o.quiet || o.json);
    const progress = progressSink({ quiet });
    const model = checkModelKind(o.model);
    const methods = String(o.methods).split(',').map((m) => parseMethod(m.trim()));
    const info = await initBackend();
    const ds = await loadDatasetFor(o, model);
    const imageShape = ds.nativeShape ?? ds.inputShape;
    const config: AugmentationConfig = {
      model,
      methods,
      epochs: o.epochs,
      retrainEpochs: o.retrainEpochs,
      batchSize: o.batch,
      seed: o.seed,
      workers: o.workers,
      modelOptions: modelOptionsFrom(o),
      classifier: o.classifierEpochs > 0 ? { epochs: o.classifierEpochs } : false,
      attack: attackInputFrom(o),
    };
    await mkdir(o.out, { recursive: true });
    const rerun = { command: 'pipeline', dataset: o.dataset, dataDir: o.dataDir, trainSamples: o.trainSamples, testSamples: o.testSamples };
    await writeFile(join(o.out, 'config.json'), JSON.stringify({ ...rerun, backend: info.name, ...config }, null, 2) + '\n');
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
      onModel: (name, ae) => saveAutoencoder(ae, join(o.out, 'models', name)),
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
    await writePipelineReport(o.out, ds, imageShape, report, { ...rerun, backend: info.name, ...config });
    if (o.json) {
      process.stdout.write(JSON.stringify(metrics, null, 2) + '\n');
      return;
    }
    printTable(metrics.methods);
    console.log(`wrote ${join(o.out, 'report.html')} (open it in a browser), metrics.json, config.json, history.json, models/ and the generated samples (.npy)`);
  });
}

export function printTable(methods: AugmentationReport['methods']): void {
  const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(2)}%`);
  console.table(
    Object.entries(methods).flatMap(([method, m]) =>
      m
        ? [
            {
              method,
              'test recon error': m.test_recon_error.toFixed(5),
              improvement: 'improvement' in m ? pct(m.improvement) : '',
              ASR: 'asr' in m ? pct(m.asr) : '',
              accuracy: pct(m.accuracy),
              's/sample': 'seconds_per_sample' in m ? m.seconds_per_sample.toFixed(3) : '',
            },
          ]
        : [],
    ),
  );
}
