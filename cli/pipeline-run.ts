/**
 * One `uae pipeline` run into a folder: the study of libs/augment runStudy
 * over its seeds, with every file the command writes (config.json,
 * status.json, models, per-seed outputs, metrics.json, report.html), the
 * attack samples kept on interruption and `--resume` from what an earlier
 * run kept. `uae pipeline` runs one; `uae study` one per cell.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { saveAutoencoder } from '../libs/models/index.js';
import type { AttackConfig, SampleResult } from '../libs/attack/index.js';
import { augmentationConfigOf, parseRunConfig, runConfigDifferences, runStudy, validationCount, type RecordedRun, type StudyMetrics } from '../libs/augment/index.js';
import { resultDocument, type ResultDocument } from '../libs/results/index.js';
import type { ProgressSink } from './progress.js';
import { loadDatasetFor } from './options.js';
import { writePipelineReport } from './report.js';
import { clearPartials, readPartialAttack, readSeedOutputs, writeAtomic, writePartialAttack, writeSeedOutputs } from './seed-outputs.js';
import { prepareOutDir } from './out-dir.js';
import { RunStatus } from './run-status.js';
import { featureModelFor } from './feature-model.js';

export interface PipelineRunOptions {
  out: string;
  resume?: boolean;
  force?: boolean;
  progress: ProgressSink;
  /** The backend in use (initBackend), for the first progress line. */
  backend: { name: string; provider: string };
  /** Aborted by the caller's interrupt scope (cli/interrupt.ts); `interrupted()` names the signal. */
  signal: AbortSignal;
  interrupted: () => NodeJS.Signals | undefined;
}

export type PipelineOutcome =
  | { state: 'complete'; metrics: StudyMetrics; document: ResultDocument }
  /** `summary`: what was kept, as one phrase; `stage`: where it stopped. */
  | { state: 'interrupted'; signal: NodeJS.Signals; stage: string; summary: string };

/** Runs `recorded` (a resolved run document with its tool and backend) into `opts.out`. */
export async function runPipelineInto(recorded: RecordedRun, opts: PipelineRunOptions): Promise<PipelineOutcome> {
  const { out, progress } = opts;
  const run = recorded;
  const { earlierRun } = await prepareOutDir(out, { command: 'pipeline', resume: opts.resume, force: opts.force });
  if (earlierRun) await checkResumable(join(out, 'config.json'), recorded);
  const { seeds } = run;
  const ds = await loadDatasetFor({ ...run, seed: run.dataSeed }, run.model);
  const imageShape = ds.nativeShape ?? ds.inputShape;
  const config = augmentationConfigOf(run, imageShape);
  await writeAtomic(join(out, 'config.json'), JSON.stringify(recorded, null, 2) + '\n');
  const featureModel = run.fid
    ? await featureModelFor(ds, out, { sampleSize: ds.inputShape.reduce((a, b) => a * b, 1), ...(run.featureModel !== undefined ? { dir: run.featureModel } : {}), resume: earlierRun, log: (l) => progress.log(l) })
    : undefined;
  if (featureModel) config.fid = { model: featureModel };
  const status = await RunStatus.start(out, 'pipeline');
  progress.log(`backend ${opts.backend.name} (${opts.backend.provider}); ${ds.name}: ${ds.train.n} train / ${ds.test.n} test samples of [${ds.inputShape.join('×')}]; seeds ${seeds.join(', ')}`);
  // One seed writes its outputs at the top level (as before); several, one folder per seed.
  const dirOf = (seed: number) => (seeds.length === 1 ? out : join(out, `seed-${seed}`));
  const attacked = run.validation > 0 ? ds.train.n - validationCount(ds.train.n, run.validation) : ds.train.n;
  let current = seeds[0]!;
  // Several rounds resume at seed granularity: a seed's later rounds attack models retrained in this process, so no attack samples are kept.
  const multiRound = run.rounds > 1;
  // What this run has to show if it is interrupted: models saved, seeds finished, the attack samples of the current seed.
  const kept = { models: [] as string[], seeds: [] as number[], attacks: new Map<string, { config: AttackConfig; results: SampleResult[] }>() };
  const startedAt = new Date();
  let outcome: { metrics: StudyMetrics; reports: Awaited<ReturnType<typeof runStudy>>['reports'] };
  try {
    outcome = await runStudy(ds, config, seeds, {
      signal: opts.signal,
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
    const signal = opts.interrupted();
    if (!signal) {
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
    return { state: 'interrupted', signal, stage: status.stage, summary };
  } finally {
    featureModel?.classifier.dispose();
  }
  progress.stop();
  const { reports } = outcome;
  const metrics: StudyMetrics = { ...outcome.metrics, ...(featureModel ? { feature_model: featureModel.record } : {}) };
  // metrics.json is the result document (libs/results, docs/results-schema.md).
  const document = resultDocument(metrics, { startedAt, finishedAt: new Date() });
  await writeAtomic(join(out, 'metrics.json'), JSON.stringify(document, null, 2) + '\n');
  await writePipelineReport(out, imageShape, reports[0]!, metrics, recorded);
  await status.finish('complete');
  return { state: 'complete', metrics, document };
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
