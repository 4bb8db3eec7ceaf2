/**
 * The run document (libs/augment run-config.ts): defaults from one schema,
 * errors that name the field, flags over --config, config.json → --config
 * reproducing a run's metrics, and the --out policy.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { attackConfig } from '../../libs/attack/index.js';
import { MineConfigSchema } from '../../libs/mine/config.js';
import { augmentationConfigOf, mergeRunConfig, parseRunConfig, PIPELINE_DEFAULTS, runConfigDifferences } from '../../libs/augment/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 300_000 });
const fails = (...args: string[]) => uae(...args).then(
  () => {
    throw new Error(`uae ${args.join(' ')} succeeded`);
  },
  (e: { code: number; stderr: string }) => e,
);

const TINY = [
  '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '8', '--methods', 'mine,ga-0.05,repeat', '--train-samples', '24', '--test-samples', '24',
  '--epochs', '2', '--retrain-epochs', '2', '--probe', 'mlp', '--classifier-epochs', '2', '--iterations', '2', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1',
];

/** metrics.json without what measures time: seconds per sample, and any timestamp (`*_at`, `*time*`). */
function untimed(m: { methods: Record<string, Record<string, unknown>> }): unknown {
  const strip = (o: unknown) => {
    const { seconds_per_sample: _s, ...rest } = (o ?? {}) as Record<string, unknown>;
    return rest;
  };
  return {
    ...Object.fromEntries(Object.entries(m).filter(([k]) => !/_at$|time/i.test(k))),
    methods: Object.fromEntries(
      Object.entries(m.methods).map(([k, v]) => [k, { ...strip(v), per_seed: strip(v['per_seed']), std: strip(v['std']), ci95: strip(v['ci95']) }]),
    ),
  };
}

describe('the run document', () => {
  it('resolves every default from the schemas, the attack and MINE included', () => {
    const r = parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae' });
    expect(r).toMatchObject({
      kind: 'uae.pipeline',
      methods: [...PIPELINE_DEFAULTS.methods],
      epochs: PIPELINE_DEFAULTS.epochs,
      retrainSchedule: 'plateau',
      validation: 0.1,
      seeds: [0],
      dataSeed: 0,
    });
    const { seed: _seed, ...attack } = attackConfig({ trace: true, similarity: { kind: 'mine', mine: { sampler: 'random' } } });
    expect(r.attack).toEqual({ ...attack, mineSteps: 20 });
    expect(r.attack.similarity).toEqual({ kind: 'mine', mine: MineConfigSchema.parse({ sampler: 'random' }) });
    expect(r.attack).toMatchObject({ beta: 0.1, c0: 1e-3, alpha: 0.01 });
    // conv-ae gets the conv sampler; the concrete AE's convergence cap is resolved.
    expect(parseRunConfig({ dataset: 'fashion-mnist', model: 'conv-ae' }).attack.similarity).toMatchObject({ mine: { sampler: 'conv' } });
    expect(parseRunConfig({ dataset: 'mice-protein', model: 'concrete-ae', epochs: 5 }).maxEpochs).toBe(80);
    // Resolving a resolved document changes nothing.
    expect(parseRunConfig(JSON.parse(JSON.stringify(r)))).toEqual(r);
    // The library config: validation split seeded by the data seed, the attack as resolved.
    const cfg = augmentationConfigOf(parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', seeds: [3, 4], hidden: 8 }));
    expect(cfg).toMatchObject({ seed: 3, validation: { fraction: 0.1, patience: 10, seed: 3 }, modelOptions: { hidden: 8 }, batchSize: 100, classifier: { epochs: 50 } });
    expect(cfg.validation).not.toHaveProperty('restoreBest');
    expect(augmentationConfigOf(parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', restoreBest: true })).validation).toMatchObject({ restoreBest: true });
  });

  it('rejects a bad, unknown or empty document naming the field', () => {
    expect(() => parseRunConfig({})).toThrow(/empty document: dataset and model are required/);
    expect(() => parseRunConfig({ model: 'dense-ae' })).toThrow(/^dataset: required$/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', epoch: 3 })).toThrow(/^epoch: unknown field$/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', restoreBest: true, validation: 0, retrainSchedule: 'longer' })).toThrow(/^restoreBest: needs a validation split/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'vae' })).toThrow(/^model: must be one of dense-ae, .*; got "vae"$/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', attack: { similarity: { kind: 'mine', mine: { learningrate: 1 } } } })).toThrow(
      /^attack\.similarity\.mine\.learningrate: unknown field$/,
    );
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', attack: { beta: 2 } })).toThrow(/^attack\.beta: .*got 2$/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', attack: { seed: 1 } })).toThrow(/^attack\.seed: .*set seeds instead/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', methods: ['mine', 'mine'] })).toThrow(/^methods: method "mine" is listed twice$/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', validation: 0 })).toThrow(/^retrainSchedule: "plateau" needs a validation split/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', maxEpochs: 4 })).toThrow(/^maxEpochs: applies to the concrete AE/);
    expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', seeds: [1, 1] })).toThrow(/^seeds: 1 is listed twice$/);
    expect(() => parseRunConfig([], { source: '--config x.json' })).toThrow(/^--config x\.json: \(document\): expected a JSON object/);
  });

  it('merges overrides key by key and tells what differs between two runs', () => {
    const base = { dataset: 'mice-protein', model: 'dense-ae', attack: { iterations: 5, similarity: { kind: 'mine', mine: { draws: 20, sampler: 'random' } } } };
    const merged = mergeRunConfig(base, { epochs: 3, attack: { similarity: { mine: { draws: 30 } } }, hidden: undefined });
    expect(merged).toEqual({ dataset: 'mice-protein', model: 'dense-ae', epochs: 3, attack: { iterations: 5, similarity: { kind: 'mine', mine: { draws: 30, sampler: 'random' } } } });
    const a = parseRunConfig(base);
    expect(runConfigDifferences(a, parseRunConfig({ ...base, seeds: [0, 2], workers: 4 }))).toEqual([]);
    // Another first seed moves the data seed (subsets, validation split) with it.
    expect(runConfigDifferences(a, parseRunConfig({ ...base, seeds: [1] }))).toEqual(['dataSeed']);
    expect(runConfigDifferences(a, parseRunConfig(merged))).toEqual(['epochs', 'attack']);
  });

  it('--dry-run prints the resolved document; flags given with --config override it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-dry-'));
    const file = join(dir, 'run.json');
    await writeFile(file, JSON.stringify({ dataset: 'mice-protein', model: 'dense-ae', epochs: 7, attack: { iterations: 3 } }));
    const printed = JSON.parse((await uae('pipeline', '--config', file, '--iterations', '9', '--seeds', '1,2', '--dry-run')).stdout);
    expect(printed).toMatchObject({ kind: 'uae.pipeline', epochs: 7, seeds: [1, 2], dataSeed: 1, backend: 'wasm', tool: { name: 'uae', version: expect.any(String) } });
    expect(printed.attack).toMatchObject({ iterations: 9, mineSteps: 20, similarity: { mine: { sampler: 'random', learningRate: 1.5e-5 } } });
    expect(await readdir(dir)).toEqual(['run.json']);
    // The example document (docs/study.md) parses as it is.
    const example = JSON.parse((await uae('pipeline', '--config', join(root, 'examples/run-mice.json'), '--dry-run')).stdout);
    expect(example).toMatchObject({ dataset: 'mice-protein', methods: ['mine', 'ga-0.05', 'repeat'], attack: { iterations: 2, similarity: { mine: { draws: 20 } } } });
    const empty = join(dir, 'empty.json');
    await writeFile(empty, '{}');
    const e = await fails('pipeline', '--config', empty, '--dry-run');
    expect(e.code).toBe(2);
    expect(e.stderr).toBe(`uae: --config ${empty}: (document): empty document: dataset and model are required\n`);
    const unknown = join(dir, 'unknown.json');
    await writeFile(unknown, JSON.stringify({ dataset: 'mice-protein', model: 'dense-ae', retrain_epochs: 3 }));
    expect((await fails('pipeline', '--config', unknown, '--dry-run')).stderr).toMatch(/--config .*unknown\.json: retrain_epochs: unknown field/);
    // Without --config the messages name the flags.
    expect((await fails('pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--validation', '0', '--dry-run')).stderr).toMatch(/--retrain-schedule: "plateau" needs a validation split/);
    expect((await fails('pipeline', '--model', 'dense-ae', '--dry-run')).stderr).toMatch(/--dataset is required \(or --config FILE\)/);
  });

  it('--criterion sets the attack criterion of the document; --kappa alone keeps the kind --config gave', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-criterion-'));
    const attackOf = async (...args: string[]) => JSON.parse((await uae('pipeline', ...args, '--dry-run')).stdout).attack.criterion;
    const flags = ['--dataset', 'mice-protein', '--model', 'sparse-ae'];
    expect(await attackOf(...flags)).toEqual({ kind: 'reconstruction', kappa: 0 });
    expect(await attackOf(...flags, '--criterion', 'loss')).toEqual({ kind: 'loss', kappa: 0 });
    expect(await attackOf(...flags, '--kappa', '0.5')).toEqual({ kind: 'reconstruction', kappa: 0.5 });
    const file = join(dir, 'run.json');
    await writeFile(file, JSON.stringify({ dataset: 'mice-protein', model: 'sparse-ae', attack: { criterion: { kind: 'loss', kappa: 0.2 } } }));
    expect(await attackOf('--config', file)).toEqual({ kind: 'loss', kappa: 0.2 });
    expect(await attackOf('--config', file, '--kappa', '0.5')).toEqual({ kind: 'loss', kappa: 0.5 });
    expect(await attackOf('--config', file, '--criterion', 'reconstruction')).toEqual({ kind: 'reconstruction', kappa: 0.2 });
  });

  it('a run → its config.json → --config reproduces the metrics; --out is not reused without --force or --resume', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-rerun-'));
    const first = join(dir, 'first');
    await uae('pipeline', ...TINY, '--out', first, '--quiet');
    const recorded = JSON.parse(await readFile(join(first, 'config.json'), 'utf8'));
    expect(recorded).toMatchObject({ kind: 'uae.pipeline', dataset: 'mice-protein', seeds: [0], backend: 'wasm', tool: { name: 'uae' } });
    expect(recorded.attack.similarity.mine).toMatchObject({ learningRate: 1.5e-5, draws: 20, sampler: 'random' });
    expect(JSON.parse(await readFile(join(first, 'status.json'), 'utf8'))).toMatchObject({ status: 'complete', command: 'pipeline' });

    const second = join(dir, 'second');
    await uae('pipeline', '--config', join(first, 'config.json'), '--out', second, '--quiet');
    const a = JSON.parse(await readFile(join(first, 'metrics.json'), 'utf8'));
    const b = JSON.parse(await readFile(join(second, 'metrics.json'), 'utf8'));
    expect(untimed(b)).toEqual(untimed(a));
    const { tool: _a, ...c1 } = recorded;
    const { tool: _b, ...c2 } = JSON.parse(await readFile(join(second, 'config.json'), 'utf8'));
    expect(c2).toEqual(c1);

    // The same --out again: refused, then replaced with --force (nothing of the old run left).
    const again = await fails('pipeline', '--config', join(first, 'config.json'), '--methods', 'repeat', '--out', second, '--quiet');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out .*second holds another run \(complete at ".*"\); use --resume to continue it, --force to replace it, or another --out/);
    await uae('pipeline', '--config', join(first, 'config.json'), '--methods', 'repeat', '--out', second, '--force', '--quiet');
    const files = await readdir(second);
    expect(files.filter((f) => f.startsWith('mine') || f.startsWith('ga-'))).toEqual([]);
    expect((await readdir(join(second, 'models'))).sort()).toEqual(['original', 'repeat']);
    expect(Object.keys(JSON.parse(await readFile(join(second, 'metrics.json'), 'utf8')).methods)).toEqual(['original', 'repeat']);
    // A non-empty folder that holds no run is never cleared.
    const foreign = join(dir, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    const refused = await fails('pipeline', ...TINY, '--out', foreign, '--force');
    expect(refused.stderr).toMatch(/--out .*foreign is not empty and holds no uae run/);
    expect(await readdir(foreign)).toEqual(['notes.txt']);
    expect((await fails('pipeline', ...TINY, '--out', second, '--force', '--resume')).stderr).toMatch(/--resume and --force exclude each other/);
  });
});
