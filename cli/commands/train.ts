/**
 * `uae train`: train one reference model — an autoencoder, a classifier
 * (mlp-classifier, cnn-classifier; optionally Madry adversarial training) or
 * a SimCLR model (simclr-resnet18, simclr-small; scored by its contrastive
 * test loss and a linear probe on frozen features) — and save it (tfjs layers format).
 *
 * --out follows the policy of the other commands that write a run
 * (cli/out-dir.ts): a folder holding another run, a model written by `uae
 * train` included, is refused unless --force; status.json records the run.
 * Ctrl-C (or SIGTERM) stops training at the next batch: no model is written,
 * status.json says `interrupted`, and it exits 130 with one line. All model
 * families share that run (trainRun); they differ in how they build, train,
 * save and score the model.
 */
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend, tf } from '../../libs/tensor/index.js';
import {
  adversarialTrainingConfig,
  CLASSIFIER_KINDS,
  CNN_ARCHITECTURES,
  createAutoencoder,
  createClassifier,
  createSimclr,
  LINEAR_PROBE_DEFAULTS,
  saveAutoencoder,
  saveClassifier,
  saveSimclr,
  SIMCLR_DEFAULTS,
  SIMCLR_KINDS,
  trainAutoencoder,
  trainClassifier,
  trainClassifierAdversarially,
  trainSimclr,
  type AdversarialTrainingOptions,
  type AutoencoderKind,
  type ClassifierKind,
  type CnnArchitecture,
  type SimclrKind,
  type TrainOptions,
  type TrainResult,
} from '../../libs/models/index.js';
import { reconstructionError } from '../../libs/eval/index.js';
import type { ModelDataset } from '../../libs/augment/index.js';
import { progressSink } from '../progress.js';
import { writeAtomic } from '../atomic.js';
import { INTERRUPTED_EXIT_CODE, interruptScope } from '../interrupt.js';
import { prepareOutDir } from '../out-dir.js';
import { RunStatus } from '../run-status.js';
import { classifierAccuracy, simclrScores } from '../model-dir.js';
import { addDataOptions, addModelOptions, addOutputOptions, atLeastOne, checkTrainKind, int, loadDatasetFor, modelOptionsFrom, positive, TRAIN_KINDS, unitRadius } from '../options.js';

/** How often training yields to the event loop so Ctrl-C is noticed between batches (as the pipeline's). */
const ABORTABLE_YIELD_MS = 100;

/** What one model family does inside the shared run. */
interface Trainer {
  /** Trains in place on the training split. */
  train(x: tf.Tensor, opts: TrainOptions): Promise<TrainResult>;
  save(out: string): Promise<void>;
  /** train.json's family-specific fields (scores on the data). */
  score(): Promise<Record<string, unknown>>;
  /** The result line without --json. */
  line(summary: Record<string, unknown>): string;
  dispose(): void;
}

export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a reference autoencoder, classifier or SimCLR model on a dataset and save it to --out (model.json + weights.bin, train.json, status.json)')
    .requiredOption('--model <kind>', `one of ${TRAIN_KINDS.join(', ')}`)
    .requiredOption('--out <dir>', 'model directory: new or empty (see --force)');
  addDataOptions(cmd);
  addModelOptions(cmd);
  cmd
    .addOption(new Option('--architecture <layout>', 'cnn-classifier: the Carlini–Wagner layout (default cifar for 3-channel images, else mnist; docs/models.md)').choices(Object.keys(CNN_ARCHITECTURES)))
    .addOption(new Option('--adversarial <method>', 'classifiers: Madry adversarial training on PGD examples (needs --epsilon)').choices(['pgd']))
    .option('--epsilon <ε>', '--adversarial pgd: the L∞ radius, in (0, 1]', unitRadius('--epsilon'))
    .option('--pgd-steps <N>', `--adversarial pgd: PGD steps per batch (default 7)`, atLeastOne('--pgd-steps'))
    .option('--pgd-step-size <α>', '--adversarial pgd: step size (default 2.5·ε/steps)', positive('--pgd-step-size'))
    .option('--width-multiplier <m>', `SimCLR: scales every encoder width (default ${SIMCLR_DEFAULTS.widthMultiplier})`, positive('--width-multiplier'))
    .option('--temperature <τ>', `SimCLR: the NT-Xent temperature (default ${SIMCLR_DEFAULTS.temperature})`, positive('--temperature'))
    .option('--probe-epochs <n>', `SimCLR: epochs of the linear probe on frozen features that scores it (default ${LINEAR_PROBE_DEFAULTS.epochs}; 0 = no probe)`, int('--probe-epochs'))
    .option('--epochs <n>', 'training epochs', int('--epochs'), 20)
    .option('--batch <n>', 'batch size', int('--batch'), 100)
    .option('--patience <n>', 'early stopping: epochs without improvement (validation loss with --validation-split)', int('--patience'))
    .option('--validation-split <f>', 'fraction held out for validation', Number)
    .option('--seed <n>', 'seed', int('--seed'), 0)
    .option('--force', 'clear an --out that holds another run first (a model written by `uae train` is one)');
  addOutputOptions(cmd);
  return cmd.action(async (o) => {
    const kind = checkTrainKind(o.model);
    const classifier = (CLASSIFIER_KINDS as readonly string[]).includes(kind);
    const simclr = (SIMCLR_KINDS as readonly string[]).includes(kind);
    const adversarial = adversarialFrom(o, classifier);
    if (o.architecture !== undefined && kind !== 'cnn-classifier') throw new InvalidArgumentError(`--architecture applies to --model cnn-classifier only (this is ${kind})`);
    if (o.hidden !== undefined && kind === 'cnn-classifier') throw new InvalidArgumentError('--hidden does not apply to --model cnn-classifier (its layout is --architecture)');
    for (const [flag, v] of [['--width-multiplier', o.widthMultiplier], ['--temperature', o.temperature], ['--probe-epochs', o.probeEpochs]] as const) {
      if (v !== undefined && !simclr) throw new InvalidArgumentError(`${flag} applies to the SimCLR models (${SIMCLR_KINDS.join(', ')}), not ${kind}`);
    }
    if (simclr) {
      for (const [flag, v] of [['--hidden', o.hidden], ['--k', o.k], ['--latent', o.latent], ['--widths', o.widths]] as const) {
        if (v !== undefined) throw new InvalidArgumentError(`${flag} does not apply to --model ${kind} (its widths scale with --width-multiplier)`);
      }
    }
    await trainRun(o, kind, (ds) =>
      simclr
        ? simclrTrainer(ds, kind as SimclrKind, o)
        : classifier
          ? classifierTrainer(ds, kind as ClassifierKind, o, adversarial)
          : autoencoderTrainer(ds, kind as AutoencoderKind, o),
    );
  });
}

/** --adversarial and its flags, checked: the PGD settings, or undefined. */
function adversarialFrom(o: { adversarial?: 'pgd'; epsilon?: number; pgdSteps?: number; pgdStepSize?: number; model: string }, classifier: boolean): AdversarialTrainingOptions | undefined {
  if (o.adversarial === undefined) {
    for (const [flag, v] of [['--epsilon', o.epsilon], ['--pgd-steps', o.pgdSteps], ['--pgd-step-size', o.pgdStepSize]] as const) {
      if (v !== undefined) throw new InvalidArgumentError(`${flag} needs --adversarial pgd`);
    }
    return undefined;
  }
  if (!classifier) throw new InvalidArgumentError(`--adversarial applies to the classifiers (${CLASSIFIER_KINDS.join(', ')}), not ${o.model}`);
  if (o.epsilon === undefined) throw new InvalidArgumentError('--adversarial pgd needs --epsilon');
  return adversarialTrainingConfig({
    method: o.adversarial,
    epsilon: o.epsilon,
    ...(o.pgdSteps !== undefined ? { steps: o.pgdSteps } : {}),
    ...(o.pgdStepSize !== undefined ? { stepSize: o.pgdStepSize } : {}),
  });
}

interface TrainRunOptions {
  out: string;
  epochs: number;
  batch: number;
  seed: number;
  patience?: number;
  validationSplit?: number;
  force?: boolean;
  quiet?: boolean;
  json?: boolean;
  dataset: string;
  [flag: string]: unknown;
}

/** The run every family shares: data, --out, status, progress, Ctrl-C, train.json and the output line. */
async function trainRun(
  o: TrainRunOptions,
  kind: AutoencoderKind | ClassifierKind | SimclrKind,
  makeTrainer: (ds: ModelDataset) => Trainer,
): Promise<void> {
  const out = o.out;
  const progress = progressSink({ quiet: Boolean(o.quiet || o.json) });
  const info = await initBackend();
  const ds = await loadDatasetFor(o, kind);
  const trainer = makeTrainer(ds);
  let status: RunStatus | undefined;
  const interrupt = interruptScope();
  let epochsRun = 0;
  try {
    await prepareOutDir(out, { command: 'train', force: o.force, resumable: false });
    status = await RunStatus.start(out, 'train', 'train');
    const x = tf.tensor(ds.train.x, [ds.train.n, ...ds.inputShape]);
    progress.start(`train ${kind}`, o.epochs);
    const started = performance.now();
    const result = await trainer
      .train(x, {
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
      })
      .finally(() => x.dispose());
    progress.stop();
    // A signal after the last batch: still nothing written, so the run stops here too.
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    const seconds = (performance.now() - started) / 1000;
    const scores = await trainer.score();
    status.enter('save');
    await trainer.save(out);
    const summary = {
      dataset: ds.name,
      model: kind,
      backend: info.name,
      seed: o.seed,
      train_samples: ds.train.n,
      test_samples: ds.test.n,
      epochs_run: result.history.length,
      stopped_early: result.stoppedEarly,
      seconds,
      final_loss: result.history.at(-1)?.loss ?? null,
      ...scores,
      history: result.history,
    };
    await writeAtomic(join(out, 'train.json'), JSON.stringify(summary, null, 2) + '\n');
    await status.finish('complete');
    if (o.json) {
      const { history: _h, ...brief } = summary;
      process.stdout.write(JSON.stringify(brief) + '\n');
    } else {
      console.log(`${kind}: ${summary.epochs_run} epochs, loss ${summary.final_loss?.toFixed(5)}, ${trainer.line(summary)}; saved to ${out}`);
    }
  } catch (e) {
    progress.stop();
    if (!interrupt.interrupted) {
      await status?.finish('failed', { message: (e as Error).message });
      throw e;
    }
    const when = `after ${epochsRun} of ${o.epochs} epochs`;
    await status?.finish('interrupted', { message: `nothing kept (training stopped ${when}; no model written)`, kept: [] });
    process.stderr.write(`uae: interrupted (${interrupt.interrupted}) during training, ${when}: no model written to ${out} (status.json "interrupted"); rerun with --force to train again\n`);
    process.exitCode = INTERRUPTED_EXIT_CODE;
  } finally {
    interrupt.dispose();
    trainer.dispose();
  }
}

function autoencoderTrainer(ds: ModelDataset, kind: AutoencoderKind, o: TrainRunOptions): Trainer {
  const ae = createAutoencoder(kind, ds.inputShape, { ...modelOptionsFrom(o as Parameters<typeof modelOptionsFrom>[0]), seed: o.seed });
  return {
    train: (x, opts) => trainAutoencoder(ae, x, opts),
    save: (out) => saveAutoencoder(ae, out),
    score: async () => ({ test_recon_error: await reconstructionError(ae, ds.test.x, ds.inputShape) }),
    line: (s) => `test recon error ${(s['test_recon_error'] as number).toFixed(5)}`,
    dispose: () => ae.dispose(),
  };
}

/**
 * A classifier on the dataset's labels: classes from the dataset's class
 * names, else the largest label + 1. Saved with saveClassifier; its info and
 * train.json carry train and test accuracy and the adversarial-training config.
 */
function classifierTrainer(ds: ModelDataset, kind: ClassifierKind, o: TrainRunOptions, adversarial: AdversarialTrainingOptions | undefined): Trainer {
  const trainLabels = ds.train.labels;
  const testLabels = ds.test.labels;
  if (!trainLabels || !testLabels) throw new InvalidArgumentError(`--dataset ${o.dataset} has no labels (a ${kind} trains on the dataset's labels); use a labelled dataset`);
  let top = 0;
  for (const l of trainLabels) top = Math.max(top, l);
  for (const l of testLabels) top = Math.max(top, l);
  const classes = Math.max(ds.classes?.length ?? 0, top + 1, 2);
  const clf = createClassifier(ds.inputShape, classes, {
    kind,
    seed: o.seed,
    ...(typeof o['hidden'] === 'number' ? { hidden: o['hidden'] } : {}),
    ...(o['architecture'] !== undefined ? { architecture: o['architecture'] as CnnArchitecture } : {}),
  });
  let scores: Record<string, unknown> = {};
  return {
    train: (x, opts) => (adversarial ? trainClassifierAdversarially(clf, x, trainLabels, adversarial, opts) : trainClassifier(clf, x, trainLabels, opts)),
    score: async () => {
      scores = {
        classes,
        adversarial: adversarial ?? null,
        train_accuracy: await classifierAccuracy(clf, ds.train.x, trainLabels),
        test_accuracy: await classifierAccuracy(clf, ds.test.x, testLabels),
      };
      return scores;
    },
    save: (out) => saveClassifier(clf, out, { dataset: ds.name, seed: o.seed, ...scores }),
    line: (s) => `train accuracy ${((s['train_accuracy'] as number) * 100).toFixed(2)}%, test accuracy ${((s['test_accuracy'] as number) * 100).toFixed(2)}%${adversarial ? ` (PGD adversarial training, ε=${adversarial.epsilon})` : ''}`,
    dispose: () => clf.dispose(),
  };
}

/**
 * A SimCLR model (createSimclr, seeded by --seed) trained with trainSimclr on
 * the training split's images (its per-sample loss's reference bank comes
 * from them). Scored by simclrScores: the contrastive test loss at --batch
 * and the linear probe's test accuracy (--probe-epochs); saved with
 * saveSimclr, its info carrying the scores (so `uae evaluate` reuses the loss batch).
 */
function simclrTrainer(ds: ModelDataset, kind: SimclrKind, o: TrainRunOptions): Trainer {
  if (ds.inputShape.length !== 3) throw new InvalidArgumentError(`--dataset ${o.dataset}: a ${kind} needs images [H, W, C], got samples [${ds.inputShape.join(', ')}]`);
  const model = createSimclr(kind, ds.inputShape, {
    seed: o.seed,
    ...(typeof o['widthMultiplier'] === 'number' ? { widthMultiplier: o['widthMultiplier'] } : {}),
    ...(typeof o['temperature'] === 'number' ? { temperature: o['temperature'] } : {}),
  });
  const probeEpochs = typeof o['probeEpochs'] === 'number' ? o['probeEpochs'] : LINEAR_PROBE_DEFAULTS.epochs;
  let scores: Record<string, unknown> = {};
  return {
    train: (x, opts) => trainSimclr(model, x, { ...opts, referenceSource: `${ds.name} train` }),
    score: async () => {
      scores = {
        ...(await simclrScores(model, ds, { probeEpochs, lossBatch: o.batch, seed: o.seed })),
        width_multiplier: model.options.widthMultiplier,
        temperature: model.options.temperature,
        feature_dim: model.featureDim,
      };
      return scores;
    },
    save: (out) => saveSimclr(model, out, { dataset: ds.name, seed: o.seed, ...scores }),
    line: (s) =>
      `test contrastive loss ${(s['test_loss'] as number).toFixed(5)}` +
      (s['accuracy'] !== null ? `, linear-probe test accuracy ${((s['accuracy'] as number) * 100).toFixed(2)}%` : ' (no linear probe: no labels or --probe-epochs 0)'),
    dispose: () => model.dispose(),
  };
}
