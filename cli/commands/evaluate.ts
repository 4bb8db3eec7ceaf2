/**
 * `uae evaluate`: a saved autoencoder's test reconstruction error and
 * downstream accuracy; a saved classifier's accuracy on the test split; a
 * saved SimCLR model's linear-probe accuracy on frozen features and its
 * contrastive test loss (at the batch size it was trained and scored with).
 */
import { Command } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { downstreamAccuracy, reconstructionError } from '../../libs/eval/index.js';
import { addDataOptions, int, loadDatasetFor } from '../options.js';
import { classifierAccuracy, loadModelDir, simclrScores } from '../model-dir.js';
import { DEFAULT_BATCH_SIZE, LINEAR_PROBE_DEFAULTS } from '../../libs/models/index.js';
import { InvalidArgumentError } from 'commander';
import { progressSink } from '../progress.js';

export function evaluateCommand(): Command {
  const cmd = new Command('evaluate')
    .description("a saved autoencoder's test reconstruction error (MSE per element) and, for labelled data, downstream accuracy; a saved classifier's test accuracy; a saved SimCLR model's linear-probe accuracy and contrastive test loss")
    .requiredOption('--model-dir <dir>', 'a model written by `uae train` (an autoencoder, a classifier or a SimCLR model) or `uae pipeline` (models/<name>)');
  addDataOptions(cmd);
  cmd
    .option('--classifier-epochs <n>', 'downstream classifier epochs (0 = skip)', int('--classifier-epochs'), 50)
    .option('--probe-epochs <n>', `SimCLR: linear-probe epochs on frozen features (default ${LINEAR_PROBE_DEFAULTS.epochs}; 0 = skip)`, int('--probe-epochs'))
    .option('--seed <n>', 'seed (subsets and the classifier)', int('--seed'), 0)
    .option('--quiet', 'no progress output')
    .option('--json', 'machine-readable output (implies --quiet)');
  return cmd.action(async (o) => {
    const progress = progressSink({ quiet: Boolean(o.quiet || o.json) });
    const info = await initBackend();
    const loaded = await loadModelDir(o.modelDir);
    if (o.probeEpochs !== undefined && loaded.family !== 'simclr') {
      loaded.model.dispose();
      throw new InvalidArgumentError(`--probe-epochs applies to SimCLR models; ${o.modelDir} is a ${loaded.model.kind} (autoencoders: --classifier-epochs)`);
    }
    if (loaded.family === 'simclr') {
      const model = loaded.model;
      try {
        if (cmd.getOptionValueSource('classifierEpochs') === 'cli') throw new InvalidArgumentError(`--classifier-epochs applies to autoencoders; ${o.modelDir} is a ${model.kind} (its linear probe: --probe-epochs)`);
        const ds = await loadDatasetFor(o, model.kind);
        if (ds.inputShape.join() !== model.inputShape.join()) throw new InvalidArgumentError(`--dataset ${o.dataset}: samples [${ds.inputShape.join(', ')}] are not the ${model.kind}'s [${model.inputShape.join(', ')}]`);
        const probeEpochs: number = o.probeEpochs ?? LINEAR_PROBE_DEFAULTS.epochs;
        const saved = loaded.info['loss_batch'];
        const lossBatch = typeof saved === 'number' ? saved : DEFAULT_BATCH_SIZE;
        progress.log(`backend ${info.name}; ${model.kind} on ${ds.name}: ${ds.test.n} test samples${probeEpochs > 0 && ds.train.labels ? `, linear probe ${probeEpochs} epochs on ${ds.train.n} training samples` : ''}`);
        const scores = await simclrScores(model, ds, { probeEpochs, lossBatch, seed: o.seed });
        const result = { dataset: ds.name, model: model.kind, backend: info.name, train_samples: ds.train.n, test_samples: ds.test.n, ...scores };
        if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
        else {
          console.log(`${model.kind} on ${ds.name} (${ds.test.n} test samples): contrastive test loss ${scores.test_loss.toFixed(5)} (batch ${lossBatch})` +
            (scores.accuracy !== null ? `, linear-probe accuracy ${(scores.accuracy * 100).toFixed(2)}%` : ''));
        }
      } finally {
        model.dispose();
      }
      return;
    }
    if (loaded.family === 'classifier') {
      const clf = loaded.model;
      try {
        const ds = await loadDatasetFor(o, clf.kind);
        if (!ds.test.labels) throw new InvalidArgumentError(`--dataset ${o.dataset} has no test labels to score the ${clf.kind} against`);
        if (ds.inputShape.join() !== clf.inputShape.join()) throw new InvalidArgumentError(`--dataset ${o.dataset}: samples [${ds.inputShape.join(', ')}] are not the ${clf.kind}'s [${clf.inputShape.join(', ')}]`);
        progress.log(`backend ${info.name}; ${clf.kind} on ${ds.name}: ${ds.test.n} test samples`);
        const accuracy = await classifierAccuracy(clf, ds.test.x, ds.test.labels);
        const result = { dataset: ds.name, model: clf.kind, backend: info.name, samples: ds.test.n, test_samples: ds.test.n, accuracy };
        if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
        else console.log(`${clf.kind} on ${ds.name} (${ds.test.n} test samples): accuracy ${(accuracy * 100).toFixed(2)}%`);
      } finally {
        clf.dispose();
      }
      return;
    }
    const ae = loaded.model;
    try {
      const ds = await loadDatasetFor(o, ae.kind);
      progress.log(`backend ${info.name}; ${ae.kind} on ${ds.name}: ${ds.test.n} test samples${o.classifierEpochs > 0 && ds.train.labels ? `, downstream classifier ${o.classifierEpochs} epochs on ${ds.train.n} training samples` : ''}`);
      const result: Record<string, unknown> = {
        dataset: ds.name,
        model: ae.kind,
        backend: info.name,
        test_samples: ds.test.n,
        test_recon_error: await reconstructionError(ae, ds.test.x, ds.inputShape),
      };
      if (o.classifierEpochs > 0 && ds.train.labels && ds.test.labels) {
        result.accuracy = await downstreamAccuracy(
          ae,
          { x: ds.train.x, labels: ds.train.labels },
          { x: ds.test.x, labels: ds.test.labels },
          { epochs: o.classifierEpochs, seed: o.seed },
        );
      }
      if (o.json) process.stdout.write(JSON.stringify(result) + '\n');
      else {
        console.log(`${ae.kind} on ${ds.name} (${ds.test.n} test samples): recon error ${(result.test_recon_error as number).toFixed(5)}` +
          (result.accuracy !== undefined ? `, downstream accuracy ${((result.accuracy as number) * 100).toFixed(2)}%` : ''));
      }
    } finally {
      ae.dispose();
    }
  });
}
