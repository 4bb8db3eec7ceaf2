/** Option parsers and option groups shared by the `uae` subcommands. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadDataset } from '../libs/data/index.js';
import { flattenFor, type ModelDataset } from '../libs/augment/index.js';
import { AUTOENCODER_KINDS, CLASSIFIER_KINDS, SIMCLR_KINDS, type AutoencoderKind, type ClassifierKind, type CreateAutoencoderOptions, type SimclrKind } from '../libs/models/index.js';
import { attackConfig, mineStepsOf, type AttackConfig, type AttackConfigInput } from '../libs/attack/index.js';
import { forFlag } from './conventions.js';

export const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

export const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

/** A positive integer (counts that must be ≥ 1). */
export const atLeastOne = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be an integer ≥ 1`);
  return n;
};

/** In (0, 1]: the L∞ radius of δ on [0, 1] data. */
export const unitRadius = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`${name} must be in (0, 1]`);
  return n;
};

export const nonNegative = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative number`);
  return n;
};

export function checkModelKind(kind: string): AutoencoderKind {
  if (!(AUTOENCODER_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidArgumentError(`--model must be one of ${AUTOENCODER_KINDS.join(', ')}; got "${kind}"`);
  }
  return kind as AutoencoderKind;
}

/** Every kind `uae train --model` takes. */
export const TRAIN_KINDS: readonly string[] = [...AUTOENCODER_KINDS, ...CLASSIFIER_KINDS, ...SIMCLR_KINDS];

/** `uae train --model`: an autoencoder, a classifier or a SimCLR kind. */
export function checkTrainKind(kind: string): AutoencoderKind | ClassifierKind | SimclrKind {
  if ((CLASSIFIER_KINDS as readonly string[]).includes(kind)) return kind as ClassifierKind;
  if ((SIMCLR_KINDS as readonly string[]).includes(kind)) return kind as SimclrKind;
  if (!(AUTOENCODER_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidArgumentError(`--model must be one of ${TRAIN_KINDS.join(', ')}; got "${kind}"`);
  }
  return kind as AutoencoderKind;
}

/** --dataset and the subset options. */
export function addDataOptions(cmd: Command, required = true): Command {
  const spec = '--dataset <spec>';
  const help = 'fashion-mnist, mnist, mice-protein, cifar10, svhn, idx:DIR, csv:FILE, npy:DIR, cifar10:DIR or svhn:DIR';
  (required ? cmd.requiredOption(spec, help) : cmd.option(spec, help));
  return cmd
    .option('--data-dir <dir>', 'where named image datasets live (else UAE_DATA_DIR, then /usr/share/datasets/…)')
    .option('--label-column <name>', 'csv: the label column (default: the last)')
    .option('--train-samples <n>', 'training subset size (seeded)', int('--train-samples'))
    .option('--test-samples <n>', 'test subset size (seeded)', int('--test-samples'));
}

export interface DataOptions {
  dataset: string;
  dataDir?: string;
  labelColumn?: string;
  trainSamples?: number;
  testSamples?: number;
  seed: number;
}

/** Loads the dataset as a model of `kind` sees it (flattenFor; a cnn-classifier and the SimCLR kinds, like conv-ae, keep images [H, W, C]). */
export async function loadDatasetFor(o: DataOptions, kind: AutoencoderKind | ClassifierKind | SimclrKind | undefined): Promise<ModelDataset> {
  const ds = await forFlag('--dataset', o.dataset, () => loadDataset(o.dataset, {
    dataDir: o.dataDir,
    labelColumn: o.labelColumn,
    trainSamples: o.trainSamples,
    testSamples: o.testSamples,
    seed: o.seed,
  }));
  return flattenFor(ds, kind === 'cnn-classifier' || (SIMCLR_KINDS as readonly string[]).includes(kind ?? '') ? undefined : kind);
}

/** Architecture options (--hidden, --latent, --k). */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('--hidden <n>', 'dense/sparse AE and mlp-classifier hidden width (default 128)', int('--hidden'))
    .option('--k <n>', 'concrete AE: features to select (default 50; Mice Protein 10)', int('--k'))
    .option('--latent <n>', 'adversarial AE: latent size (default 8)', int('--latent'))
    .option('--widths <list>', 'adversarial/concrete AE: hidden widths, e.g. 1000,1000', widthList);
}

function widthList(v: string): number[] {
  const widths = v.split(',').map((w) => Number(w.trim()));
  if (widths.length === 0 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new InvalidArgumentError('--widths must be a comma-separated list of positive integers');
  }
  return widths;
}

export function modelOptionsFrom(o: { hidden?: number; k?: number; latent?: number; widths?: number[] }): Omit<CreateAutoencoderOptions, 'seed'> {
  return {
    ...(o.hidden ? { hidden: o.hidden } : {}),
    ...(o.k ? { k: o.k } : {}),
    ...(o.latent ? { latent: o.latent } : {}),
    ...(o.widths ? { widths: o.widths } : {}),
  };
}

const ATTACK_METHODS = ['minmax', 'penalty', 'pgd', 'fgsm'] as const satisfies readonly AttackConfig['method'][];

/** The attack's defaults, from its schema (libs/attack/config.ts): the help texts quote them, the schema applies them. */
const ATTACK_DEFAULTS = attackConfig();

/**
 * The attack knobs shared by `uae attack` and `uae pipeline`. They have no
 * commander defaults: a flag not given stays undefined, so the attack schema
 * (or a --config document) supplies the value. `supervised` (`uae attack`,
 * whose --model-dir may be a classifier) adds the cw criterion and --target-class.
 */
export function addAttackOptions(cmd: Command, opts: { supervised?: boolean } = {}): Command {
  const d = ATTACK_DEFAULTS;
  const criteria = opts.supervised ? (['reconstruction', 'loss', 'cw'] as const) : (['reconstruction', 'loss'] as const);
  if (opts.supervised) {
    cmd.option('--target-class <N>', 'classifiers, cw criterion: a targeted attack, every sample to class N (samples of class N are skipped); default untargeted (away from the true label)', int('--target-class'));
  }
  return cmd
    .option('--iterations <T>', `MinMax iterations (default ${d.iterations}, the paper's)`, int('--iterations'))
    .option('--mine-steps <n>', `MINE Adam steps per iteration (default ${mineStepsOf(d)}, the paper's)`, int('--mine-steps'))
    .option('--mine-draws <K>', 'MINE with the random-projection sampler and K draws')
    .addOption(
      new Option('--mine-projection <mode>', 'random sampler: redraw the projections at every evaluation (the reference) or fix them per sample (much cheaper)').choices([
        'redraw',
        'fixed',
      ]),
    )
    .addOption(
      new Option('--attack-method <m>', `MinMax (Algorithm 1), the penalty baseline, or the similarity-free baselines L∞ PGD (Madry et al.) and FGSM (default ${d.method})`).choices([
        ...ATTACK_METHODS,
      ]),
    )
    .addOption(
      new Option(
        '--criterion <kind>',
        `success criterion f(x′) ≤ 0 (docs/algorithms.md, criteria): reconstruction (x′ reconstructs x as well as x does) or loss (the model's own training loss, L(x′) ≤ L(x); docs/models.md)` +
          (opts.supervised ? `; classifiers: cw (Carlini–Wagner margin on the logits) or loss (cross-entropy against the true labels) (default: ${d.criterion.kind} for autoencoders, cw for classifiers, loss — the contrastive per-sample loss — for SimCLR models)` : ` (default ${d.criterion.kind})`),
      ).choices([...criteria]),
    )
    .option('--kappa <κ>', `attack confidence margin κ ≥ 0 (default ${d.criterion.kappa})`, nonNegative('--kappa'))
    .option('--alpha <α>', `step size on δ (default ${d.alpha})`, positive('--alpha'))
    .option('--epsilon <ε>', `L∞ bound on δ, in (0, 1] (default ${d.epsilon} = none; pgd/fgsm: the ball's radius)`, unitRadius('--epsilon'))
    .option('--workers <n>', 'worker threads (default: one per core on CPU backends)', int('--workers'));
}

export interface AttackOptions {
  iterations?: number;
  mineSteps?: number;
  mineDraws?: string;
  mineProjection?: 'redraw' | 'fixed';
  attackMethod?: AttackConfig['method'];
  /** `uae attack`: PGD's α (pgd only). */
  stepSize?: number;
  criterion?: 'reconstruction' | 'loss' | 'cw';
  /** cw: a targeted attack to this class. */
  targetClass?: number;
  kappa?: number;
  alpha?: number;
  epsilon?: number;
  workers?: number;
}

/**
 * The attack flags given, as attack-config input (flags not given are left
 * out). `defaultCriterion` is the criterion when only --kappa or
 * --target-class is given (reconstruction unless the caller says; cw for classifiers).
 */
export function attackInputFrom(o: AttackOptions, defaultCriterion: 'reconstruction' | 'loss' | 'cw' = 'reconstruction'): AttackConfigInput {
  const draws = o.mineDraws === undefined ? undefined : int('--mine-draws')(o.mineDraws);
  const random = draws !== undefined || o.mineProjection !== undefined;
  return Object.fromEntries(
    Object.entries({
      method: o.attackMethod,
      iterations: o.iterations,
      mineSteps: o.mineSteps,
      alpha: o.alpha,
      epsilon: o.epsilon,
      stepSize: o.stepSize,
      criterion:
        o.criterion === undefined && o.kappa === undefined && o.targetClass === undefined
          ? undefined
          : {
              kind: o.criterion ?? defaultCriterion,
              ...(o.kappa === undefined ? {} : { kappa: o.kappa }),
              ...(o.targetClass === undefined ? {} : { targeted: true }),
            },
      similarity: random
        ? { kind: 'mine' as const, mine: { sampler: 'random' as const, ...(draws ? { draws } : {}), ...(o.mineProjection ? { projection: o.mineProjection } : {}) } }
        : undefined,
    }).filter(([, v]) => v !== undefined),
  ) as AttackConfigInput;
}

/** --resume / --force: what to do with an --out that holds a run (cli/out-dir.ts). */
export function addRunOptions(cmd: Command, resume: string): Command {
  return cmd.option('--resume', resume).option('--force', 'clear an --out that holds another run first');
}

/** --quiet / --json. */
export function addOutputOptions(cmd: Command): Command {
  return cmd.option('--quiet', 'no progress output').option('--json', 'machine-readable result on stdout (implies --quiet)');
}
