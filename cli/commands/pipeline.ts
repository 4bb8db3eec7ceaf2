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
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { AUTOENCODER_KINDS, saveAutoencoder } from '../../libs/models/index.js';
import type { AttackConfig, SampleResult } from '../../libs/attack/index.js';
import {
  augmentationConfigOf,
  mergeRunConfig,
  parseRunConfig,
  PIPELINE_DEFAULTS,
  RETRAIN_SCHEDULES,
  runConfigDifferences,
  runStudy,
  validationCount,
  type PipelineRun,
  type RecordedRun,
  type StudyMetrics,
} from '../../libs/augment/index.js';
import { progressSink } from '../progress.js';
import { addAttackOptions, addDataOptions, addModelOptions, addOutputOptions, addRunOptions, attackInputFrom, checkModelKind, int, loadDatasetFor } from '../options.js';
import { writePipelineReport } from '../report.js';
import { clearPartials, readPartialAttack, readSeedOutputs, writeAtomic, writePartialAttack, writeSeedOutputs } from '../seed-outputs.js';
import { INTERRUPTED_EXIT_CODE, interruptScope } from '../interrupt.js';
import { prepareOutDir } from '../out-dir.js';
import { RunStatus } from '../run-status.js';
import { toolInfo } from '../tool-info.js';
import { resultDocument } from '../../libs/results/index.js';
import { studyTables } from '../result-tables.js';
import { formatOption } from '../tables.js';

export { CONVERGENCE_THRESHOLD } from '../../libs/augment/index.js';

function seedList(v: string): number[] {
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
  'epochs', 'retrainEpochs', 'retrainSchedule', 'validation', 'patience', 'batch', 'converge', 'maxEpochs', 'probe', 'probeTrainSamples',
  'classifierEpochs', 'workers', 'rounds',
] as const;

/** The flags behind the document's attack fields, for messages. */
const ATTACK_FLAGS: Record<string, string> = {
  'attack.iterations': '--iterations',
  'attack.mineSteps': '--mine-steps',
  'attack.method': '--attack-method',
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
    .option('--batch <n>', `training batch size (default ${D.batch})`, int('--batch'))
    .option('--no-converge', 'concrete AE: do not double the epochs until the selection converges (Balın)')
    .option('--max-epochs <n>', `concrete AE: cap of the convergence loop (default ${D.maxEpochsFactor} × --epochs)`, int('--max-epochs'))
    .addOption(new Option('--probe <p>', `downstream probes (labelled data): mlp, extratrees (the paper's, on the full training split) or both (default ${D.probe})`).choices(['mlp', 'extratrees', 'both']))
    .option('--probe-train-samples <n>', 'ExtraTrees probe: a seeded subset of the full training split (default: all of it)', int('--probe-train-samples'))
    .option('--classifier-epochs <n>', `MLP probe epochs (0 = no probes at all; default ${D.classifierEpochs})`, int('--classifier-epochs'));
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
    const { earlierRun } = await prepareOutDir(out, { command: 'pipeline', resume: o.resume, force: o.force });
    if (earlierRun) await checkResumable(join(out, 'config.json'), recorded);
    const { seeds } = run;
    const ds = await loadDatasetFor({ ...run, seed: run.dataSeed }, run.model);
    const imageShape = ds.nativeShape ?? ds.inputShape;
    const config = augmentationConfigOf(run, imageShape);
    await writeAtomic(join(out, 'config.json'), JSON.stringify(recorded, null, 2) + '\n');
    const status = await RunStatus.start(out, 'pipeline');
    progress.log(`backend ${info.name} (${info.provider}); ${ds.name}: ${ds.train.n} train / ${ds.test.n} test samples of [${ds.inputShape.join('×')}]; seeds ${seeds.join(', ')}`);
    // One seed writes its outputs at the top level (as before); several, one folder per seed.
    const dirOf = (seed: number) => (seeds.length === 1 ? out : join(out, `seed-${seed}`));
    const attacked = run.validation > 0 ? ds.train.n - validationCount(ds.train.n, run.validation) : ds.train.n;
    let current = seeds[0]!;
    // Several rounds resume at seed granularity: a seed's later rounds attack models retrained in this process, so no attack samples are kept.
    const multiRound = run.rounds > 1;
    // What this run has to show if it is interrupted: models saved, seeds finished, the attack samples of the current seed.
    const kept = { models: [] as string[], seeds: [] as number[], attacks: new Map<string, { config: AttackConfig; results: SampleResult[] }>() };
    const interrupt = interruptScope();
    const startedAt = new Date();
    let outcome: { metrics: StudyMetrics; reports: Awaited<ReturnType<typeof runStudy>>['reports'] };
    try {
      outcome = await runStudy(ds, config, seeds, {
        signal: interrupt.signal,
        onSeed: (seed, i, count) => {
          current = seed;
          kept.attacks.clear();
          if (count > 1) progress.log(`seed ${seed} (${i + 1} of ${count})`);
        },
        onStage: (stage) => {
          status.enter(seeds.length > 1 ? `seed ${current}: ${stage}` : stage);
          progress.stop();
          progress.log(stage);
          // The concrete AE's convergence loop starts over with more epochs.
          const again = /^(.*): selection at .*, retraining with (\d+) epochs$/.exec(stage);
          if (again) progress.start(again[1]!, Number(again[2]));
          // Several rounds prefix the stage: "round 2 of 3: generate mine".
          const bare = stage.replace(/^round \d+ of \d+: /, '');
          if (bare === 'train original' || bare.startsWith('retrain ')) progress.start(stage, bare === 'train original' ? config.epochs : config.retrainEpochs);
          if (bare.startsWith('generate ') && run.methods.includes(bare.slice(9)) && /^(mine|l2|cosine)/.test(bare.slice(9))) progress.start(stage.replace('generate', 'attack'), attacked);
        },
        onEpoch: (_stage, e) => progress.update(e.epoch + 1, `loss ${e.loss.toFixed(5)}${e.valLoss !== undefined ? `, val ${e.valLoss.toFixed(5)}` : ''}, ${e.samplesPerSec.toFixed(0)} samples/s`),
        onAttackProgress: (_method, p) => {
          progress.update(Math.floor(p.fraction * p.total), `${p.succeeded} succeeded, ${p.samplesPerSecond.toFixed(3)} samples/s`);
        },
        finishedSamples: async (method, attackConfig) => {
          if (multiRound) return undefined;
          const earlier = earlierRun ? await readPartialAttack(dirOf(current), method, attackConfig, attacked, ds.inputShape.reduce((a, b) => a * b, 1)) : undefined;
          if (earlier) progress.log(`${method}: ${earlier.length} of ${attacked} samples finished earlier, kept`);
          kept.attacks.set(method, { config: attackConfig, results: [...(earlier ?? [])] });
          return earlier;
        },
        onAttackSamples: (method, finished) => kept.attacks.get(method)?.results.push(...finished),
        onModel: async (name, ae, round) => {
          const path = multiRound && round !== undefined ? `models/round-${round}/${name}` : `models/${name}`;
          await saveAutoencoder(ae, join(dirOf(current), path));
          kept.models.push(`${seeds.length > 1 ? `seed-${current}/` : ''}${path}`);
        },
        onSeedReport: async (seed, report) => {
          await writeSeedOutputs(dirOf(seed), report, ds, seeds.length > 1);
          await clearPartials(dirOf(seed));
          kept.seeds.push(seed);
          // A finished seed is kept as a whole: its models need no mention of their own.
          if (seeds.length > 1) kept.models = kept.models.filter((m) => !m.startsWith(`seed-${seed}/`));
          kept.attacks.clear();
        },
        loadSeed: async (seed) => {
          if (!earlierRun || seeds.length === 1) return undefined;
          const earlier = await readSeedOutputs(dirOf(seed), ds);
          if (earlier) progress.log(`seed ${seed}: finished earlier, kept (${dirOf(seed)})`);
          return earlier;
        },
      });
    } catch (e) {
      progress.stop();
      if (!interrupt.interrupted) {
        await status.finish('failed', { message: (e as Error).message });
        throw e;
      }
      const what: string[] = [];
      if (kept.seeds.length > 0) what.push(`seed${kept.seeds.length > 1 ? 's' : ''} ${kept.seeds.join(', ')} (finished)`);
      what.push(...kept.models);
      for (const [method, a] of kept.attacks) {
        if (a.results.length === 0) continue;
        await writePartialAttack(dirOf(current), method, a.results, ds.inputShape, a.config, attacked);
        what.push(`${a.results.length} of ${attacked} "${method}" samples${a.results.length < attacked ? ' (partial)' : ''}`);
      }
      const summary = what.length > 0 ? what.join(', ') : 'nothing but config.json';
      await status.finish('interrupted', { message: `kept ${summary}`, kept: what });
      process.stderr.write(`uae: interrupted (${interrupt.interrupted}) at "${status.stage}": kept ${summary} in ${out}; rerun with --resume to continue\n`);
      process.exitCode = INTERRUPTED_EXIT_CODE;
      return;
    } finally {
      interrupt.dispose();
    }
    progress.stop();
    const { metrics, reports } = outcome;
    // metrics.json is the result document (libs/results, docs/results-schema.md).
    const document = resultDocument(metrics, { startedAt, finishedAt: new Date() });
    await writeAtomic(join(out, 'metrics.json'), JSON.stringify(document, null, 2) + '\n');
    await writePipelineReport(out, imageShape, reports[0]!, metrics, recorded);
    await status.finish('complete');
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

/**
 * --resume keeps earlier results only for the same study: every setting but
 * the seed list, the worker count and the tool version must match the
 * earlier run's config.json.
 */
async function checkResumable(path: string, next: RecordedRun): Promise<void> {
  if (!existsSync(path)) return;
  let earlier: RecordedRun;
  try {
    const raw = JSON.parse(await readFile(path, 'utf8')) as RecordedRun;
    earlier = { ...parseRunConfig(raw), ...(raw.backend !== undefined ? { backend: raw.backend } : {}) };
  } catch (e) {
    throw new InvalidArgumentError(`--resume: ${path} is not a run document this version reads (${(e as Error).message}); use another --out`);
  }
  const differs = runConfigDifferences(earlier, next);
  if (differs.length > 0) throw new InvalidArgumentError(`--resume: ${path} is another study (it differs in ${differs.join(', ')}); use another --out`);
}
