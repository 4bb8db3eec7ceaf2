/**
 * `uae supervised --dataset D --out DIR`: the supervised study of
 * libs/supervised in this process (docs/supervised.md): Std, Adv, Std-UAE and
 * Adv-UAE classifiers, Table 3 (MinMax vs penalty with MINE), Figure 3's grid
 * and the PGD robustness curves. Writes DIR/config.json, DIR/metrics.json
 * (with the machine, backend and tool), DIR/report.html, status.json and
 * each trained classifier under DIR/models/<name>/ (the UAE set too);
 * `--resume` reuses those. Ctrl-C stops between batches and iterations
 * (status.json `interrupted`, exit 130).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset, npyFloat32, readNpy, writeNpy } from '../../libs/data/index.js';
import { loadClassifier, saveClassifier } from '../../libs/models/index.js';
import {
  CLASSIFIER_LABELS,
  CLASSIFIER_NAMES,
  runSupervisedStudy,
  SUPERVISED_DEFAULTS,
  SupervisedConfigError,
  supervisedConfig,
  supervisedData,
  type ClassifierName,
  type ClassifierStore,
  type SupervisedConfig,
  type StageRecord,
  type SupervisedMetrics,
  type UaeSet,
} from '../../libs/supervised/index.js';
import { writeSupervisedReport } from '../../libs/report/index.js';
import { addOutputOptions, addRunOptions } from '../options.js';
import { progressSink } from '../progress.js';
import { INTERRUPTED_EXIT_CODE, interruptScope } from '../interrupt.js';
import { prepareOutDir } from '../out-dir.js';
import { RunStatus } from '../run-status.js';
import { writeAtomic } from '../atomic.js';
import { toolInfo } from '../tool-info.js';
import { machineInfo } from '../study-doc.js';

const D = SUPERVISED_DEFAULTS;

/** A config field as its flag: uaeMineSteps → --uae-mine-steps (list items keep their index: --epsilons[1]). */
export const flagOf = (field: string) => {
  const [head, ...rest] = field.split('.');
  const flag = `--${head!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  return rest.length > 0 ? `${flag}[${rest.join('.')}]` : flag;
};

/** Any number; the schema checks its range and names the flag. */
const number = (flag: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag} must be a number, got "${v}"`);
  return n;
};

const numberList = (flag: string) => (v: string) => {
  const parts = v.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (parts.some((p) => p === '') || out.some((n) => !Number.isFinite(n))) throw new InvalidArgumentError(`${flag} must be a comma-separated list of numbers, e.g. 0,0.1,0.2`);
  return out;
};

/** The configuration fields that decide a trained classifier or the UAE set: a resumed run must share them. */
const TRAINING_FIELDS = [
  'dataset', 'dataDir', 'trainSamples', 'model', 'hidden', 'epochs', 'batchSize', 'learningRate', 'seed',
  'advEpsilon', 'advSteps', 'uaeSamples', 'aeEpochs', 'uaeIterations', 'uaeMineSteps', 'uaeSampler',
] as const satisfies ReadonlyArray<keyof SupervisedConfig>;

/** Flags and their config fields (all but --dataset are optional; the schema fills the rest). */
const FLAGS: Array<{ field: keyof SupervisedConfig; arg: string; help: string; parse?: (flag: string) => (v: string) => unknown }> = [
  { field: 'dataDir', arg: '<dir>', help: 'where named image datasets live (else UAE_DATA_DIR, then /usr/share/datasets/…)' },
  { field: 'trainSamples', arg: '<n>', help: 'training subset (seeded; default: all)', parse: number },
  { field: 'testSamples', arg: '<n>', help: 'test subset (seeded; default: all)', parse: number },
  { field: 'model', arg: '<kind>', help: `classifier: cnn-classifier or mlp-classifier (default ${D.model})` },
  { field: 'hidden', arg: '<n>', help: 'mlp-classifier: hidden width', parse: number },
  { field: 'epochs', arg: '<n>', help: `training epochs of every classifier (default ${D.epochs})`, parse: number },
  { field: 'batchSize', arg: '<n>', help: `minibatch size (default ${D.batchSize})`, parse: number },
  { field: 'learningRate', arg: '<lr>', help: `Adam learning rate of the classifiers (default ${D.learningRate})`, parse: number },
  { field: 'seed', arg: '<n>', help: `seed of initialisation, shuffles, subsets and attacks (default ${D.seed})`, parse: number },
  { field: 'advEpsilon', arg: '<ε>', help: `Adv: Madry PGD training radius (default ${D.advEpsilon})`, parse: number },
  { field: 'advSteps', arg: '<n>', help: `Adv: PGD steps per batch (default ${D.advSteps})`, parse: number },
  { field: 'uaeSamples', arg: '<n>', help: 'training samples that get a UAE (default: all)', parse: number },
  { field: 'aeEpochs', arg: '<n>', help: `epochs of the conv autoencoder the UAEs come from (default ${D.aeEpochs})`, parse: number },
  { field: 'uaeIterations', arg: '<n>', help: `UAE attack iterations T (default ${D.uaeIterations})`, parse: number },
  { field: 'uaeMineSteps', arg: '<n>', help: `UAE attack MINE steps per iteration (default ${D.uaeMineSteps})`, parse: number },
  { field: 'uaeSampler', arg: '<kind>', help: `UAE attack MINE sampler: conv (the autoencoder's first conv layer) or random (default ${D.uaeSampler})` },
  { field: 'samples', arg: '<n>', help: `Table 3: test samples classified correctly by Std that are attacked (default ${D.samples}; also the curves')`, parse: number },
  { field: 'iterations', arg: '<n>', help: `Table 3: total iterations T of MinMax and of the penalty baseline (default ${D.iterations})`, parse: number },
  { field: 'searchSteps', arg: '<n>', help: `Table 3: the penalty baseline's binary-search steps S (default ${D.searchSteps})`, parse: number },
  { field: 'sampler', arg: '<kind>', help: `Table 3: MINE sampler, random (projections of the flattened image) or conv (the classifier's first conv layer) (default ${D.sampler}, for cost)` },
  { field: 'mineDraws', arg: '<k>', help: `Table 3: random projections K (default ${D.mineDraws})`, parse: number },
  { field: 'mineSteps', arg: '<n>', help: `Table 3: MINE steps per iteration (default ${D.mineSteps})`, parse: number },
  { field: 'alpha', arg: '<α>', help: `Table 3: step size of δ (default ${D.alpha})`, parse: number },
  { field: 'kappa', arg: '<κ>', help: `Table 3: CW margin (default ${D.kappa})`, parse: number },
  { field: 'gridSamples', arg: '<n>', help: `Figure 3: samples shown (default ${D.gridSamples})`, parse: number },
  { field: 'gridEpsilons', arg: '<list>', help: `Figure 3: PGD radii of its columns (default ${D.gridEpsilons.join(',')})`, parse: numberList },
  { field: 'epsilons', arg: '<list>', help: `robustness curves: PGD radii (default ${D.epsilons.join(',')})`, parse: numberList },
  { field: 'pgdSteps', arg: '<n>', help: `PGD steps of the curves and Figure 3 (default ${D.pgdSteps})`, parse: number },
  { field: 'workers', arg: '<n>', help: "worker threads of the UAE attack (default: the backend's preference)", parse: number },
];

/** Trained classifiers in DIR/models/<name>/, the UAE set in DIR/models/uae-*.npy, finished attack stages in DIR/models/stages/<key>.json. */
export function directoryStore(dir: string): ClassifierStore {
  const stageFile = (key: string) => join(dir, 'stages', `${key}.json`);
  const modelDir = (name: ClassifierName) => join(dir, name);
  const files = { x: join(dir, 'uae-x.npy'), success: join(dir, 'uae-success.npy'), mi: join(dir, 'uae-mi.npy') };
  return {
    async has(name) {
      return existsSync(join(modelDir(name), 'model.json'));
    },
    async load(name) {
      if (!existsSync(join(modelDir(name), 'model.json'))) return undefined;
      return (await loadClassifier(modelDir(name))).classifier;
    },
    async save(name, clf, info) {
      await saveClassifier(clf, modelDir(name), info);
    },
    async loadUaes() {
      if (!Object.values(files).every((f) => existsSync(f))) return undefined;
      const x = await readNpy(files.x);
      const success = npyFloat32(await readNpy(files.success));
      return { x: npyFloat32(x), success: Array.from(success, (v) => v !== 0), mi: Array.from(npyFloat32(await readNpy(files.mi))) };
    },
    async saveUaes(u: UaeSet) {
      await mkdir(dir, { recursive: true });
      const n = u.success.length;
      await writeNpy(files.x, [n, u.x.length / Math.max(1, n)], u.x);
      await writeNpy(files.mi, [n], Float32Array.from(u.mi));
      await writeNpy(files.success, [n], Uint8Array.from(u.success, (s) => (s ? 1 : 0)), { dtype: 'bool' });
    },
    async loadStage(key) {
      if (!existsSync(stageFile(key))) return undefined;
      try {
        return JSON.parse(await readFile(stageFile(key), 'utf8')) as StageRecord;
      } catch {
        // A damaged record is recomputed.
        return undefined;
      }
    },
    async saveStage(key, record) {
      await mkdir(join(dir, 'stages'), { recursive: true });
      await writeAtomic(stageFile(key), JSON.stringify(record) + '\n');
    },
  };
}

/** The earlier run's training fields that differ from this one's (a resumed run must not mix models of two configurations). */
async function resumeConflicts(out: string, config: SupervisedConfig): Promise<string[]> {
  const path = join(out, 'config.json');
  if (!existsSync(path)) return [];
  const earlier = JSON.parse(await readFile(path, 'utf8')) as { config?: Partial<SupervisedConfig> };
  return TRAINING_FIELDS.filter((f) => JSON.stringify(earlier.config?.[f]) !== JSON.stringify(config[f])).map(flagOf);
}

function summaryText(m: SupervisedMetrics): string {
  const lines: string[] = [];
  lines.push(`Classifiers (test accuracy): ${CLASSIFIER_NAMES.map((n) => `${CLASSIFIER_LABELS[n]} ${(m.classifiers[n].accuracy * 100).toFixed(2)} %`).join(', ')}`);
  lines.push(`UAEs: ${m.uae.succeeded} of ${m.uae.samples} succeeded`);
  lines.push(`Table 3 (${m.table3.sample_ids.length} samples, T = ${m.table3.iterations}, sampler ${m.table3.sampler}):`);
  for (const k of ['minmax', 'penalty'] as const) {
    const r = m.table3[k];
    const mi = r.mi.mean === undefined ? '—' : `${r.mi.mean.toPrecision(4)}${r.mi.ci95 ? ` [${r.mi.ci95[0].toPrecision(4)}, ${r.mi.ci95[1].toPrecision(4)}]` : ''}`;
    lines.push(`  ${k.padEnd(8)} ASR ${(r.asr * 100).toFixed(1)} % (${r.succeeded}/${r.attacked}), MI ${mi} (n = ${r.mi.n})`);
  }
  lines.push(`PGD ASR (${m.curves.steps} steps) at ε = ${m.curves.epsilons.join(', ')}:`);
  for (const n of CLASSIFIER_NAMES) lines.push(`  ${CLASSIFIER_LABELS[n].padEnd(8)} ${m.curves.series[n].asr.map((a) => `${(a * 100).toFixed(1)} %`).join('  ')}`);
  return lines.join('\n') + '\n';
}

export function supervisedCommand(): Command {
  const cmd = new Command('supervised')
    .description("supervised MINE attacks end to end (the paper's Section 4.3, Table 3, Figure 3; SuppMat 6.16–6.17): Std / Adv / Std-UAE / Adv-UAE classifiers, MinMax vs penalty, PGD robustness curves, metrics.json and report.html (docs/supervised.md)")
    .requiredOption('--dataset <spec>', 'an image dataset with labels: fashion-mnist, cifar10, svhn, idx:DIR, npy:DIR, cifar10:DIR or svhn:DIR')
    .requiredOption('--out <dir>', 'output directory: new or empty (see --resume, --force)');
  for (const f of FLAGS) {
    const flag = flagOf(f.field);
    if (f.parse) cmd.option(`${flag} ${f.arg}`, f.help, f.parse(flag) as (v: string) => number);
    else cmd.option(`${flag} ${f.arg}`, f.help);
  }
  addRunOptions(cmd, 'continue the run in --out: keep the classifiers, the UAE set and the finished attacks it saved in models/');
  addOutputOptions(cmd);
  return cmd.action(async (o: Record<string, unknown>) => {
    const json = Boolean(o['json']);
    const quiet = Boolean(o['quiet'] || json);
    const input: Record<string, unknown> = { dataset: o['dataset'] };
    for (const f of FLAGS) if (o[f.field] !== undefined) input[f.field] = o[f.field];
    let config: SupervisedConfig;
    try {
      config = supervisedConfig(input, { fieldName: flagOf });
    } catch (e) {
      if (e instanceof SupervisedConfigError) throw new InvalidArgumentError(e.message);
      throw e;
    }
    const out = String(o['out']);
    const { earlierRun } = await prepareOutDir(out, { command: 'supervised', resume: Boolean(o['resume']), force: Boolean(o['force']) });
    if (earlierRun) {
      const conflicts = await resumeConflicts(out, config);
      if (conflicts.length > 0) throw new InvalidArgumentError(`--resume: ${conflicts.join(', ')} differ from the run in ${out} (its models would not match); use the same values, or --force to start over`);
    }
    const info = await initBackend();
    const tool = toolInfo();
    const status = await RunStatus.start(out, 'supervised');
    await writeAtomic(join(out, 'config.json'), JSON.stringify({ config, tool, backend: info.name }, null, 2) + '\n');
    const progress = progressSink({ quiet });
    const interrupt = interruptScope();
    const modelsDir = join(out, 'models');
    const kept = () => CLASSIFIER_NAMES.filter((n) => existsSync(join(modelsDir, n, 'model.json'))).map((n) => `models/${n}`);
    const started = performance.now();
    try {
      status.enter('load dataset');
      const ds = await loadDataset(config.dataset, {
        ...(config.dataDir ? { dataDir: config.dataDir } : {}),
        ...(config.trainSamples !== undefined ? { trainSamples: config.trainSamples } : {}),
        ...(config.testSamples !== undefined ? { testSamples: config.testSamples } : {}),
        seed: config.seed,
      });
      const data = supervisedData(ds);
      progress.log(
        `supervised study on ${ds.name} [${ds.inputShape.join('×')}], ${data.train.n} training / ${data.test.n} test samples, ${config.model}; backend ${info.name} (${info.provider}); Table 3 MINE sampler ${config.sampler}; out ${out}`,
      );
      const outcome = await runSupervisedStudy(config, data, {
        signal: interrupt.signal,
        progress,
        store: directoryStore(modelsDir),
        onStage: (s) => status.enter(s),
      });
      progress.stop();
      const machine = machineInfo();
      const metrics = { ...outcome.metrics, tool, machine, seconds: (performance.now() - started) / 1000 };
      await writeAtomic(join(out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
      await writeAtomic(join(out, 'history.json'), JSON.stringify(outcome.history, null, 2) + '\n');
      await writeSupervisedReport(out, { metrics: outcome.metrics, grid: outcome.grid, machine, tool });
      await status.finish('complete');
      if (json) process.stdout.write(JSON.stringify(metrics, null, 2) + '\n');
      else if (!quiet) process.stdout.write(summaryText(outcome.metrics));
      progress.log(`wrote ${join(out, 'metrics.json')}, report.html, history.json, config.json, status.json and models/`);
    } catch (e) {
      progress.stop();
      if (interrupt.interrupted) {
        const what = kept();
        await status.finish('interrupted', { message: `kept ${what.length > 0 ? what.join(', ') : 'no finished classifier'}`, kept: what });
        process.stderr.write(`uae: interrupted (${interrupt.interrupted}) at "${status.stage}": kept ${what.length > 0 ? what.join(', ') : 'no finished classifier'} in ${out}; rerun with --resume to continue\n`);
        process.exitCode = INTERRUPTED_EXIT_CODE;
        return;
      }
      await status.finish('failed', { message: (e as Error).message });
      throw e;
    } finally {
      interrupt.dispose();
    }
  });
}

