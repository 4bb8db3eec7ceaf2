/**
 * `uae pipeline`: the augmentation study of §5 in this process, over one or
 * several seeds, with progress, outputs and a report (docs/study.md).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { AUTOENCODER_KINDS, saveAutoencoder } from '../../libs/models/index.js';
import {
  parseMethods,
  RETRAIN_SCHEDULES,
  runStudy,
  type AugmentationConfig,
  type ProbeKind,
  type RetrainSchedule,
  validationCount,
} from '../../libs/augment/index.js';
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
import { resultDocument } from '../../libs/results/index.js';
import { studyTables } from '../result-tables.js';
import { formatOption } from '../tables.js';
import { readSeedOutputs, writeAtomic, writeSeedOutputs } from '../seed-outputs.js';

/** Balın's convergence threshold for the concrete AE's selection. */
export const CONVERGENCE_THRESHOLD = 0.998;

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

export function pipelineCommand(): Command {
  const cmd = new Command('pipeline')
    .description("train → UAEs for every training sample → retrain on original ∪ UAEs → evaluate, per seed, with controls and verdicts (the paper's Sections 3.5 and 4.1, docs/study.md)")
    .requiredOption('--model <kind>', `one of ${AUTOENCODER_KINDS.join(', ')}`)
    .option(
      '--methods <list>',
      'comma-separated arms: mine, l2, cosine (optionally -sign/-adam and @<step>, e.g. mine-adam@0.05), init-noise, ga-<σ> (or noise-<σ>), flip, rotate-<deg>, repeat, none',
      'mine,init-noise,l2,ga-0.05,ga-0.1,repeat',
    )
    .requiredOption('--out <dir>', 'output directory');
  addDataOptions(cmd);
  addModelOptions(cmd);
  cmd
    .option('--epochs <n>', 'training epochs of the original (with a validation split: the cap)', int('--epochs'), 100)
    .option('--retrain-epochs <n>', 'retraining epochs (schedule "longer"; the cap of "plateau")', int('--retrain-epochs'), 100)
    .addOption(
      new Option('--retrain-schedule <s>', 'longer: --retrain-epochs; same-epochs / same-steps: as the original; plateau: early stopping on the validation split')
        .choices([...RETRAIN_SCHEDULES])
        .default('plateau'),
    )
    .option('--validation <fraction>', 'seeded validation split carved from training for early stopping (0 = none: fixed epochs)', fraction('--validation'), 0.1)
    .option('--patience <n>', 'early stopping: epochs without a validation improvement', int('--patience'), 10)
    .option('--batch <n>', 'training batch size', int('--batch'), 100)
    .option('--no-converge', 'concrete AE: do not double the epochs until the selection converges (Balın)')
    .option('--max-epochs <n>', 'concrete AE: cap of the convergence loop (default 16 × --epochs)', int('--max-epochs'))
    .addOption(new Option('--probe <p>', 'downstream probes (labelled data): mlp, extratrees (the paper\'s, on the full training split) or both').choices(['mlp', 'extratrees', 'both']).default('both'))
    .option('--probe-train-samples <n>', 'ExtraTrees probe: a seeded subset of the full training split (default: all of it)', int('--probe-train-samples'))
    .option('--classifier-epochs <n>', 'MLP probe epochs (0 = no probes at all)', int('--classifier-epochs'), 50);
  addAttackOptions(cmd);
  cmd
    .addOption(new Option('--delta-update <rule>', 'δ update of every attack arm without its own: gradient (the paper), sign or adam').choices(['gradient', 'sign', 'adam']).default('gradient'))
    .option('--seed <n>', 'seed for everything (one seed)', int('--seed'), 0)
    .option('--seeds <list>', 'several seeds, e.g. 0,1,2: every arm per seed, with intervals and paired verdicts', seedList)
    .option('--data-seed <n>', 'seed of the data subsets and of the validation split (default: the first seed)', int('--data-seed'))
    .option('--resume', 'several seeds: keep the seeds already finished in --out (same study), run the rest');
  addOutputOptions(cmd);
  cmd.addOption(formatOption());
  return cmd.action(async (o) => {
    const json = Boolean(o.json || o.format === 'json');
    const quiet = Boolean(o.quiet || json);
    const progress = progressSink({ quiet });
    const model = checkModelKind(o.model);
    const methods = parseMethods(String(o.methods).split(','));
    const seeds: number[] = o.seeds ?? [o.seed];
    const dataSeed: number = o.dataSeed ?? seeds[0]!;
    if (o.retrainSchedule === 'plateau' && !(o.validation > 0)) throw new InvalidArgumentError('--retrain-schedule plateau needs a validation split (--validation > 0)');
    const info = await initBackend();
    const ds = await loadDatasetFor({ ...o, seed: dataSeed }, model);
    const imageShape = ds.nativeShape ?? ds.inputShape;
    const config: AugmentationConfig = {
      model,
      methods,
      epochs: o.epochs,
      retrainEpochs: o.retrainEpochs,
      batchSize: o.batch,
      seed: seeds[0]!,
      workers: o.workers,
      modelOptions: modelOptionsFrom(o),
      classifier: o.classifierEpochs > 0 ? { epochs: o.classifierEpochs } : false,
      probe: o.probe as ProbeKind,
      ...(o.probeTrainSamples !== undefined ? { probeTrainSamples: o.probeTrainSamples } : {}),
      ...(o.validation > 0 ? { validation: { fraction: o.validation, patience: o.patience, seed: dataSeed } } : {}),
      retrainSchedule: o.retrainSchedule as RetrainSchedule,
      ...(model === 'concrete-ae' && o.converge ? { convergence: { threshold: CONVERGENCE_THRESHOLD, maxEpochs: o.maxEpochs ?? 16 * o.epochs } } : {}),
      imageShape,
      attack: { ...attackInputFrom(o), update: o.deltaUpdate },
    };
    await mkdir(o.out, { recursive: true });
    const rerun = { command: 'pipeline', dataset: o.dataset, dataDir: o.dataDir, trainSamples: o.trainSamples, testSamples: o.testSamples, seeds, dataSeed };
    const configJson = { ...rerun, backend: info.name, ...config };
    if (o.resume) await checkResumable(join(o.out, 'config.json'), configJson);
    await writeAtomic(join(o.out, 'config.json'), JSON.stringify(configJson, null, 2) + '\n');
    progress.log(`backend ${info.name} (${info.provider}); ${ds.name}: ${ds.train.n} train / ${ds.test.n} test samples of [${ds.inputShape.join('×')}]; seeds ${seeds.join(', ')}`);
    // One seed writes its outputs at the top level (as before); several, one folder per seed.
    const dirOf = (seed: number) => (seeds.length === 1 ? o.out : join(o.out, `seed-${seed}`));
    const attacked = o.validation > 0 ? ds.train.n - validationCount(ds.train.n, o.validation) : ds.train.n;
    let current = seeds[0]!;
    const startedAt = new Date();
    const { metrics, reports } = await runStudy(ds, config, seeds, {
      onSeed: (seed, i, count) => {
        current = seed;
        if (count > 1) progress.log(`seed ${seed} (${i + 1} of ${count})`);
      },
      onStage: (stage) => {
        progress.stop();
        progress.log(stage);
        // The concrete AE's convergence loop starts over with more epochs.
        const again = /^(.*): selection at .*, retraining with (\d+) epochs$/.exec(stage);
        if (again) progress.start(again[1]!, Number(again[2]));
        if (stage === 'train original' || stage.startsWith('retrain ')) progress.start(stage, stage === 'train original' ? config.epochs : config.retrainEpochs);
        if (stage.startsWith('generate ') && methods.includes(stage.slice(9)) && /^(mine|l2|cosine)/.test(stage.slice(9))) progress.start(stage.replace('generate', 'attack'), attacked);
      },
      onEpoch: (_stage, e) => progress.update(e.epoch + 1, `loss ${e.loss.toFixed(5)}${e.valLoss !== undefined ? `, val ${e.valLoss.toFixed(5)}` : ''}, ${e.samplesPerSec.toFixed(0)} samples/s`),
      onAttackProgress: (_method, p) => {
        progress.update(Math.floor(p.fraction * p.total), `${p.succeeded} succeeded, ${p.samplesPerSecond.toFixed(3)} samples/s`);
      },
      onModel: (name, ae) => saveAutoencoder(ae, join(dirOf(current), 'models', name)),
      onSeedReport: async (seed, report) => {
        await writeSeedOutputs(dirOf(seed), report, ds.inputShape, seeds.length > 1);
      },
      loadSeed: async (seed) => {
        if (!o.resume || seeds.length === 1) return undefined;
        const earlier = await readSeedOutputs(dirOf(seed), ds);
        if (earlier) progress.log(`seed ${seed}: finished earlier, kept (${dirOf(seed)})`);
        return earlier;
      },
    });
    progress.stop();
    // metrics.json is the result document (libs/results, docs/results-schema.md).
    const document = resultDocument(metrics, { startedAt, finishedAt: new Date() });
    await writeAtomic(join(o.out, 'metrics.json'), JSON.stringify(document, null, 2) + '\n');
    await writePipelineReport(o.out, imageShape, reports[0]!, metrics, { ...rerun, backend: info.name, ...config });
    if (json) {
      process.stdout.write(JSON.stringify(document, null, 2) + '\n');
      return;
    }
    process.stdout.write(studyTables(metrics, o.format));
    // Only the table on stdout for md and csv (so it can be redirected to a file).
    (o.format === 'table' ? console.log : progress.log)(
      `wrote ${join(o.out, 'report.html')} (open it in a browser), metrics.json, config.json, ${seeds.length > 1 ? 'seed-<s>/ (per seed: ' : ''}history.json, models/, the generated samples (.npy) and per-sample diagnostics (.csv)${seeds.length > 1 ? ')' : ''}`,
    );
  });
}

/**
 * --resume keeps earlier seeds only for the same study: every setting but the
 * seed list and the worker count must match the earlier run's config.json.
 */
async function checkResumable(path: string, next: Record<string, unknown>): Promise<void> {
  if (!existsSync(path)) return;
  const earlier = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  const strip = ({ seeds: _s, seed: _f, workers: _w, dataSeed: _d, ...rest }: Record<string, unknown>) => rest;
  const a = strip(earlier);
  const b = strip(next);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  const differs = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  if (differs.length > 0 || earlier.dataSeed !== next.dataSeed) {
    throw new InvalidArgumentError(`--resume: ${path} is another study (it differs in ${[...differs, ...(earlier.dataSeed !== next.dataSeed ? ['dataSeed'] : [])].join(', ')}); use another --out`);
  }
}
