/** `uae train`: train one reference model and save it (tfjs layers format). */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { AUTOENCODER_KINDS, createAutoencoder, saveAutoencoder, trainAutoencoder } from '../../libs/models/index.js';
import { reconstructionError } from '../../libs/eval/index.js';
import { progressSink } from '../progress.js';
import { addDataOptions, addModelOptions, addOutputOptions, checkModelKind, int, loadDatasetFor, modelOptionsFrom } from '../options.js';

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a reference autoencoder on a dataset and save it to --out (model.json + weights.bin)')
    .requiredOption('--model <kind>', `one of ${AUTOENCODER_KINDS.join(', ')}`)
    .requiredOption('--out <dir>', 'model directory');
  addDataOptions(cmd);
  addModelOptions(cmd);
  cmd
    .option('--epochs <n>', 'training epochs', int('--epochs'), 20)
    .option('--batch <n>', 'batch size', int('--batch'), 100)
    .option('--patience <n>', 'early stopping: epochs without improvement (validation loss with --validation-split)', int('--patience'))
    .option('--validation-split <f>', 'fraction held out for validation', Number)
    .option('--seed <n>', 'seed', int('--seed'), 0);
  addOutputOptions(cmd);
  return cmd.action(async (o) => {
    const kind = checkModelKind(o.model);
    const progress = progressSink({ quiet: Boolean(o.quiet || o.json) });
    const info = await initBackend();
    const ds = await loadDatasetFor(o, kind);
    const ae = createAutoencoder(kind, ds.inputShape, { ...modelOptionsFrom(o), seed: o.seed });
    try {
      const x = tf.tensor(ds.train.x, [ds.train.n, ...ds.inputShape]);
      progress.start(`train ${kind}`, o.epochs);
      const started = performance.now();
      const result = await trainAutoencoder(ae, x, {
        epochs: o.epochs,
        batchSize: o.batch,
        seed: o.seed,
        ...(o.validationSplit !== undefined ? { validationSplit: o.validationSplit } : {}),
        ...(o.patience !== undefined ? { earlyStopping: { patience: o.patience } } : {}),
        onEpoch: (e) => progress.update(e.epoch + 1, `loss ${e.loss.toFixed(5)}${e.valLoss !== undefined ? ` val ${e.valLoss.toFixed(5)}` : ''}, ${e.samplesPerSec.toFixed(0)} samples/s`),
      }).finally(() => x.dispose());
      progress.stop();
      await saveAutoencoder(ae, o.out);
      const summary = {
        dataset: ds.name,
        model: kind,
        backend: info.name,
        seed: o.seed,
        train_samples: ds.train.n,
        test_samples: ds.test.n,
        epochs_run: result.history.length,
        stopped_early: result.stoppedEarly,
        seconds: (performance.now() - started) / 1000,
        final_loss: result.history.at(-1)?.loss ?? null,
        test_recon_error: reconstructionError(ae, ds.test.x, ds.inputShape),
        history: result.history,
      };
      await writeFile(join(o.out, 'train.json'), JSON.stringify(summary, null, 2) + '\n');
      if (o.json) {
        const { history: _h, ...brief } = summary;
        process.stdout.write(JSON.stringify(brief) + '\n');
      } else {
        console.log(`${kind}: ${summary.epochs_run} epochs, loss ${summary.final_loss?.toFixed(5)}, test recon error ${summary.test_recon_error.toFixed(5)}; saved to ${o.out}`);
      }
    } finally {
      ae.dispose();
    }
  });
}
