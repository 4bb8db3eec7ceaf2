/**
 * `uae pipeline`: the augmentation study of §5 in this process, over one or
 * several seeds, with progress, outputs and a report (docs/study.md).
 *
 * Flags, `--config FILE` and the `config.json` a run writes are one document
 * (libs/augment run-config.ts, which owns every default): flags given with
 * --config override it, and config.json records it resolved, with the tool
 * version, git commit and backend, so `--config DIR/config.json` reruns the
 * study. Ctrl-C/SIGTERM stop it cleanly (status.json, the attack samples
 * finished, exit 130); `--resume` continues from what it kept.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { AUTOENCODER_KINDS } from '../../libs/models/index.js';
import { mergeRunConfig, parseRunConfig, PIPELINE_DEFAULTS, RETRAIN_SCHEDULES, type PipelineRun, type RecordedRun } from '../../libs/augment/index.js';
import { progressSink } from '../progress.js';
import { addAttackOptions, addDataOptions, addModelOptions, addOutputOptions, addRunOptions, attackInputFrom, checkModelKind, int } from '../options.js';
import { INTERRUPTED_EXIT_CODE, interruptScope } from '../interrupt.js';
import { runPipelineInto, type PipelineOutcome } from '../pipeline-run.js';
import { toolInfo } from '../tool-info.js';
import { studyTables } from '../result-tables.js';
import { formatOption } from '../tables.js';

export { CONVERGENCE_THRESHOLD } from '../../libs/augment/index.js';

export function seedList(v: string): number[] {
  const seeds = v.split(',').map((s) => Number(s.trim()));
  if (seeds.length === 0 || seeds.some((s) => !Number.isSafeInteger(s) || s < 0)) throw new InvalidArgumentError('--seeds must be a comma-separated list of non-negative integers, e.g. 0,1,2');
  if (new Set(seeds).size !== seeds.length) throw new InvalidArgumentError('--seeds lists a seed twice');
  return seeds;
}

function fraction(name: string) {
  return (v: string) => {
    const f = Number(v);
    if (!(f >= 0 && f < 1)) throw new InvalidArgumentError(`${name} must be in [0, 1) (0 = no validation split)`);
    return f;
  };
}

/** Run-document keys that are `uae pipeline` flags of the same name (camelCase). */
const DOCUMENT_FLAGS = [
  'dataset', 'dataDir', 'labelColumn', 'trainSamples', 'testSamples', 'dataSeed', 'model', 'hidden', 'k', 'latent', 'widths',
  'epochs', 'retrainEpochs', 'retrainSchedule', 'validation', 'patience', 'restoreBest', 'batch', 'converge', 'maxEpochs', 'probe', 'probeTrainSamples',
  'classifierEpochs', 'workers', 'fid', 'featureModel', 'rounds',
] as const;

/** The flags behind the document's attack fields, for messages. */
const ATTACK_FLAGS: Record<string, string> = {
  'attack.iterations': '--iterations',
  'attack.mineSteps': '--mine-steps',
  'attack.method': '--attack-method',
  'attack.criterion.kind': '--criterion',
  'attack.criterion.kappa': '--kappa',
  'attack.alpha': '--alpha',
  'attack.epsilon': '--epsilon',
  'attack.update': '--delta-update',
  'attack.similarity.mine.draws': '--mine-draws',
  'attack.similarity.mine.projection': '--mine-projection',
};

const flagOf = (field: string) => ATTACK_FLAGS[field] ?? (field.includes('.') ? field : `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);

/** The part of the run document given as flags on this command line (flags not given stay out, so --config or the schema decide). */
function documentFromFlags(cmd: Command): Record<string, unknown> {
  const o = cmd.opts();
  const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
  const doc: Record<string, unknown> = {};
  for (const k of DOCUMENT_FLAGS) if (given(k)) doc[k] = o[k];
  if (given('model')) checkModelKind(String(o['model']));
  if (given('methods')) doc['methods'] = String(o['methods']).split(',').map((m) => m.trim());
  // --seeds wins over --seed (as it always has: the demo passes --seed 0 and takes --seeds after it).
  if (given('seeds')) doc['seeds'] = o['seeds'];
  else if (given('seed')) doc['seeds'] = [o['seed']];
  const attack: Record<string, unknown> = { ...attackInputFrom(Object.fromEntries(Object.entries(o).filter(([k]) => given(k)))) };
  if (given('deltaUpdate')) attack['update'] = o['deltaUpdate'];
  if (Object.keys(attack).length > 0) doc['attack'] = attack;
  return doc;
}

async function readDocument(path: string): Promise<Record<string, unknown>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`--config ${path}: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidArgumentError(`--config ${path}: expected a JSON object (a run document, e.g. a run's config.json)`);
  return raw as Record<string, unknown>;
}

/** The resolved run: --config FILE, then the flags given over it, through the schema. */
export async function resolvePipelineRun(cmd: Command): Promise<PipelineRun> {
  const o = cmd.opts();
  const flags = documentFromFlags(cmd);
  if (!o['config']) {
    if (flags['dataset'] === undefined) throw new InvalidArgumentError('--dataset is required (or --config FILE)');
    if (flags['model'] === undefined) throw new InvalidArgumentError('--model is required (or --config FILE)');
    return parseRunConfig(flags, { fieldName: flagOf });
  }
  const base = await readDocument(String(o['config']));
  // --kappa without --criterion keeps the document's criterion kind.
  const criterion = (flags['attack'] as { criterion?: Record<string, unknown> } | undefined)?.criterion;
  const baseCriterion = (base['attack'] as { criterion?: unknown } | undefined)?.criterion;
  if (criterion && baseCriterion !== undefined && cmd.getOptionValueSource('criterion') !== 'cli') delete criterion['kind'];
  return parseRunConfig(mergeRunConfig(base, flags), { source: `--config ${o['config']}` });
}

export function pipelineCommand(): Command {
  const D = PIPELINE_DEFAULTS;
  const cmd = new Command('pipeline')
    .description("train → UAEs for every training sample → retrain on original ∪ UAEs → evaluate, per seed, with controls and verdicts (the paper's Sections 3.5 and 4.1, docs/study.md)")
    .option('--config <file>', "a run document (a run's config.json, or written by hand: docs/study.md); flags given as well override it")
    .option('--model <kind>', `one of ${AUTOENCODER_KINDS.join(', ')} (required without --config)`)
    .option(
      '--methods <list>',
      `comma-separated arms: mine, l2, cosine (optionally -sign/-adam and @<step>, e.g. mine-adam@0.05), init-noise, ga-<σ> (or noise-<σ>), flip, rotate-<deg>, repeat, none (default ${D.methods.join(',')})`,
    )
    .option('--out <dir>', 'output directory: new or empty (see --resume, --force); required unless --dry-run')
    .option('--dry-run', 'print the resolved run document (every default filled in) and exit');
  addDataOptions(cmd, false);
  addModelOptions(cmd);
  cmd
    .option('--epochs <n>', `training epochs of the original (with a validation split: the cap; default ${D.epochs})`, int('--epochs'))
    .option('--retrain-epochs <n>', `retraining epochs (schedule "longer"; the cap of "plateau"; default ${D.retrainEpochs})`, int('--retrain-epochs'))
    .addOption(
      new Option('--retrain-schedule <s>', `longer: --retrain-epochs; same-epochs / same-steps: as the original; plateau: early stopping on the validation split (default ${D.retrainSchedule})`).choices([
        ...RETRAIN_SCHEDULES,
      ]),
    )
    .option('--validation <fraction>', `seeded validation split carved from training for early stopping (0 = none: fixed epochs; default ${D.validation})`, fraction('--validation'))
    .option('--patience <n>', `early stopping: epochs without a validation improvement (default ${D.patience})`, int('--patience'))
    .option('--restore-best', 'early-stopped training ends with the weights of its best validation epoch, not its last (Keras restore_best_weights)')
    .option('--batch <n>', `training batch size (default ${D.batch})`, int('--batch'))
    .option('--no-converge', 'concrete AE: do not double the epochs until the selection converges (Balın)')
    .option('--max-epochs <n>', `concrete AE: cap of the convergence loop (default ${D.maxEpochsFactor} × --epochs)`, int('--max-epochs'))
    .addOption(new Option('--probe <p>', `downstream probes (labelled data): mlp, extratrees (the paper's, on the full training split) or both (default ${D.probe})`).choices(['mlp', 'extratrees', 'both']))
    .option('--probe-train-samples <n>', 'ExtraTrees probe: a seeded subset of the full training split (default: all of it)', int('--probe-train-samples'))
    .option('--classifier-epochs <n>', `MLP probe epochs (0 = no probes at all; default ${D.classifierEpochs})`, int('--classifier-epochs'))
    .option('--fid', "FID and KID (× 100) of every generated set against the training samples, on a classifier's penultimate layer trained on the dataset (saved to OUT/feature-model; docs/algorithms.md)")
    .option('--feature-model <dir>', "with --fid: the feature network of an earlier run (its feature-model/ folder) instead of training one");
  addAttackOptions(cmd);
  cmd
    .addOption(new Option('--delta-update <rule>', 'δ update of every attack arm without its own: gradient (the paper; default), sign or adam').choices(['gradient', 'sign', 'adam']))
    .option('--seed <n>', `seed for everything (one seed; default ${D.seeds.join(',')})`, int('--seed'))
    .option('--seeds <list>', 'several seeds, e.g. 0,1,2: every arm per seed, with intervals and paired verdicts', seedList)
    .option('--data-seed <n>', 'seed of the data subsets and of the validation split (default: the first seed)', int('--data-seed'))
    .option(
      '--rounds <n>',
      `rounds of augmentation: round r of an arm attacks its round r−1 retrained model and retrains from scratch on original ∪ its sets of rounds 1..r; metrics per round (default ${D.rounds})`,
      int('--rounds'),
    );
  addRunOptions(cmd, 'continue the interrupted run in --out (same study): keep its finished seeds and attack samples, run the rest');
  addOutputOptions(cmd);
  cmd.addOption(formatOption());
  return cmd.action(async (o) => {
    const json = Boolean(o.json || o.format === 'json');
    const quiet = Boolean(o.quiet || json);
    const progress = progressSink({ quiet });
    const run = await resolvePipelineRun(cmd);
    const info = await initBackend();
    const recorded: RecordedRun = { ...run, tool: toolInfo(), backend: info.name };
    if (o.dryRun) {
      process.stdout.write(JSON.stringify(recorded, null, 2) + '\n');
      return;
    }
    if (!o.out) throw new InvalidArgumentError('--out is required (or --dry-run)');
    const out: string = o.out;
    const { seeds } = run;
    const interrupt = interruptScope();
    let outcome: PipelineOutcome;
    try {
      outcome = await runPipelineInto(recorded, { out, resume: o.resume, force: o.force, progress, backend: info, signal: interrupt.signal, interrupted: () => interrupt.interrupted });
    } finally {
      interrupt.dispose();
    }
    if (outcome.state === 'interrupted') {
      process.stderr.write(`uae: interrupted (${outcome.signal}) at "${outcome.stage}": kept ${outcome.summary} in ${out}; rerun with --resume to continue\n`);
      process.exitCode = INTERRUPTED_EXIT_CODE;
      return;
    }
    const { metrics, document } = outcome;
    if (json) {
      process.stdout.write(JSON.stringify(document, null, 2) + '\n');
      return;
    }
    process.stdout.write(studyTables(metrics, o.format));
    // Only the table on stdout for md and csv (so it can be redirected to a file).
    (o.format === 'table' ? console.log : progress.log)(
      `wrote ${join(out, 'report.html')} (open it in a browser), metrics.json, config.json, status.json, ${seeds.length > 1 ? 'seed-<s>/ (per seed: ' : ''}history.json, models/, the generated samples (.npy, and per arm an .npz bundle with x, x_adv, y, index, …) and per-sample diagnostics (.csv)${seeds.length > 1 ? ')' : ''}`,
    );
  });
}
