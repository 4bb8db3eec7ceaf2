/**
 * `uae train`: train one reference model and save it (tfjs layers format).
 *
 * --out follows the policy of the other commands that write a run
 * (cli/out-dir.ts): a folder holding another run, a model written by `uae
 * train` included, is refused unless --force; status.json records the run.
 * Ctrl-C (or SIGTERM) stops training at the next batch: no model is written,
 * status.json says `interrupted`, and it exits 130 with one line.
 */
import { join } from 'node:path';
import { Command } from 'commander';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { AUTOENCODER_KINDS, createAutoencoder, saveAutoencoder, trainAutoencoder } from '../../libs/models/index.js';
import { reconstructionError } from '../../libs/eval/index.js';
import { progressSink } from '../progress.js';
import { writeAtomic } from '../atomic.js';
import { INTERRUPTED_EXIT_CODE, interruptScope } from '../interrupt.js';
import { prepareOutDir } from '../out-dir.js';
import { RunStatus } from '../run-status.js';
import { addDataOptions, addModelOptions, addOutputOptions, checkModelKind, int, loadDatasetFor, modelOptionsFrom } from '../options.js';

/** How often training yields to the event loop so Ctrl-C is noticed between batches (as the pipeline's). */
const ABORTABLE_YIELD_MS = 100;

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a reference autoencoder on a dataset and save it to --out (model.json + weights.bin, train.json, status.json)')
    .requiredOption('--model <kind>', `one of ${AUTOENCODER_KINDS.join(', ')}`)
    .requiredOption('--out <dir>', 'model directory: new or empty (see --force)');
  addDataOptions(cmd);
  addModelOptions(cmd);
  cmd
    .option('--epochs <n>', 'training epochs', int('--epochs'), 20)
    .option('--batch <n>', 'batch size', int('--batch'), 100)
    .option('--patience <n>', 'early stopping: epochs without improvement (validation loss with --validation-split)', int('--patience'))
    .option('--validation-split <f>', 'fraction held out for validation', Number)
    .option('--seed <n>', 'seed', int('--seed'), 0)
    .option('--force', 'clear an --out that holds another run first (a model written by `uae train` is one)');
  addOutputOptions(cmd);
  return cmd.action(async (o) => {
    const kind = checkModelKind(o.model);
    const out: string = o.out;
    const progress = progressSink({ quiet: Boolean(o.quiet || o.json) });
    const info = await initBackend();
    const ds = await loadDatasetFor(o, kind);
    await prepareOutDir(out, { command: 'train', force: o.force, resumable: false });
    const status = await RunStatus.start(out, 'train', 'train');
    const ae = createAutoencoder(kind, ds.inputShape, { ...modelOptionsFrom(o), seed: o.seed });
    const interrupt = interruptScope();
    let epochsRun = 0;
    try {
      const x = tf.tensor(ds.train.x, [ds.train.n, ...ds.inputShape]);
      progress.start(`train ${kind}`, o.epochs);
      const started = performance.now();
      const result = await trainAutoencoder(ae, x, {
        epochs: o.epochs,
        batchSize: o.batch,
        seed: o.seed,
        signal: interrupt.signal,
        yieldMs: ABORTABLE_YIELD_MS,
        ...(o.validationSplit !== undefined ? { validationSplit: o.validationSplit } : {}),
        ...(o.patience !== undefined ? { earlyStopping: { patience: o.patience } } : {}),
        onEpoch: (e) => {
          epochsRun = e.epoch + 1;
          progress.update(e.epoch + 1, `loss ${e.loss.toFixed(5)}${e.valLoss !== undefined ? ` val ${e.valLoss.toFixed(5)}` : ''}, ${e.samplesPerSec.toFixed(0)} samples/s`);
        },
      }).finally(() => x.dispose());
      progress.stop();
      // A signal after the last batch: still nothing written, so the run stops here too.
      if (interrupt.signal.aborted) throw interrupt.signal.reason;
      status.enter('save');
      await saveAutoencoder(ae, out);
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
        test_recon_error: await reconstructionError(ae, ds.test.x, ds.inputShape),
        history: result.history,
      };
      await writeAtomic(join(out, 'train.json'), JSON.stringify(summary, null, 2) + '\n');
      await status.finish('complete');
      if (o.json) {
        const { history: _h, ...brief } = summary;
        process.stdout.write(JSON.stringify(brief) + '\n');
      } else {
        console.log(`${kind}: ${summary.epochs_run} epochs, loss ${summary.final_loss?.toFixed(5)}, test recon error ${summary.test_recon_error.toFixed(5)}; saved to ${out}`);
      }
    } catch (e) {
      progress.stop();
      if (!interrupt.interrupted) {
        await status.finish('failed', { message: (e as Error).message });
        throw e;
      }
      const when = `after ${epochsRun} of ${o.epochs} epochs`;
      await status.finish('interrupted', { message: `nothing kept (training stopped ${when}; no model written)`, kept: [] });
      process.stderr.write(`uae: interrupted (${interrupt.interrupted}) during training, ${when}: no model written to ${out} (status.json "interrupted"); rerun with --force to train again\n`);
      process.exitCode = INTERRUPTED_EXIT_CODE;
    } finally {
      interrupt.dispose();
      ae.dispose();
    }
  });
}
