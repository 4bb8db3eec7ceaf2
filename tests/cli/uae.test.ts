import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readNpy, writeNpy } from '../../libs/data/index.js';
import { Rng } from '../../libs/tensor/rng.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 300_000 });

describe('uae CLI', () => {
  it('pipeline writes config, metrics and the generated samples', async () => {
    const out = await mkdtemp(join(tmpdir(), 'uae-cli-'));
    const { stdout } = await uae(
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--methods', 'mine,ga-0.05,repeat', '--out', out,
      '--train-samples', '24', '--test-samples', '24', '--epochs', '2', '--retrain-epochs', '2',
      '--iterations', '2', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1', '--json',
    );
    const metrics = JSON.parse(stdout);
    expect(metrics.dataset).toBe('mice-protein');
    expect(Object.keys(metrics.methods).sort()).toEqual(['ga-0.05', 'mine', 'original', 'repeat']);
    expect(JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'))).toEqual(metrics);
    const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(config.seeds).toEqual([0]);
    expect(config.backend).toBe('wasm');
    expect(JSON.parse(await readFile(join(out, 'status.json'), 'utf8'))).toMatchObject({ status: 'complete', command: 'pipeline' });
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['mine-x.npy', 'mine-success.npy', 'ga-0.05-x.npy', 'history.json', 'report.html', 'models']));
    expect((await readdir(join(out, 'models'))).sort()).toEqual(['ga-0.05', 'mine', 'original', 'repeat']);
    // Mice Protein has labels: downstream accuracy for every model.
    for (const m of Object.values(metrics.methods) as { accuracy?: number }[]) expect(m.accuracy).toBeGreaterThanOrEqual(0);
    // The default protocol holds out a seeded 10% validation split: 22 of the 24 samples are trained on and attacked.
    expect(metrics.validation_samples).toBe(2);
    expect(metrics.train_samples).toBe(22);
    expect((await readNpy(join(out, 'mine-x.npy'))).shape).toEqual([22, 77]);
    expect((await readNpy(join(out, 'train-index.npy'))).shape).toEqual([22]);
    expect(metrics.methods.mine.per_seed.test_recon_error).toHaveLength(1);
    expect(metrics.comparisons.some((c: { arm: string; control: string }) => c.arm === 'mine' && c.control === 'repeat')).toBe(true);
  });

  it('pipeline --seeds 0,1 --resume keeps a finished seed, reruns the missing one and aggregates both', async () => {
    const out = await mkdtemp(join(tmpdir(), 'uae-seeds-'));
    const args = [
      'pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '8', '--methods', 'mine,init-noise,repeat', '--out', out,
      '--train-samples', '24', '--test-samples', '24', '--epochs', '2', '--retrain-epochs', '2', '--probe', 'mlp', '--classifier-epochs', '2',
      '--iterations', '2', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1', '--seeds', '0,1', '--json',
    ];
    const first = JSON.parse((await uae(...args)).stdout);
    expect(first.seeds).toEqual([0, 1]);
    expect(first.methods.mine.per_seed.test_recon_error).toHaveLength(2);
    expect(first.methods.mine.ci95.test_recon_error).toHaveLength(2);
    expect(first.methods.mine.diagnostics.samples).toBeGreaterThanOrEqual(0);
    expect(await readdir(join(out, 'seed-1'))).toEqual(expect.arrayContaining(['metrics.json', 'mine-diagnostics.csv', 'train-index.npy', 'models']));
    // Seed 1 "did not finish": --resume recomputes it alone and gives the same study.
    await rm(join(out, 'seed-1', 'metrics.json'));
    const second = await uae(...args.filter((a) => a !== '--json'), '--resume');
    expect(second.stderr).toContain('seed 0: finished earlier, kept');
    expect(second.stderr).not.toContain('seed 1: finished earlier');
    const resumed = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8'));
    const numbers = (m: { methods: Record<string, Record<string, unknown>>; comparisons: unknown }) =>
      JSON.stringify({ m: Object.fromEntries(Object.entries(m.methods).map(([k, v]) => [k, { ...v, seconds_per_sample: 0, per_seed: { ...(v.per_seed as object), seconds_per_sample: 0 }, std: { ...(v.std as object), seconds_per_sample: 0 }, ci95: { ...(v.ci95 as object), seconds_per_sample: 0 } }])), c: m.comparisons });
    expect(numbers(resumed)).toBe(numbers(first));
    // Another study in the same folder is refused.
    const other = await uae(...args.map((a) => (a === 'mine,init-noise,repeat' ? 'mine,repeat' : a)), '--resume').catch((e) => e);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--resume: .*config.json is another study \(it differs in methods\)/);
  });

  it('rejects bad arguments with a message and exit code 2', async () => {
    const failure = await uae('pipeline', '--dataset', 'mice-protein', '--model', 'vae', '--out', tmpdir()).catch((e) => e);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/--model must be one of dense-ae, .*; got "vae"/);
  });

  it('train → evaluate → attack on a saved model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-tea-'));
    const model = join(dir, 'model');
    const data = ['--dataset', 'mice-protein', '--train-samples', '40', '--test-samples', '30'];
    const trained = JSON.parse((await uae('train', ...data, '--model', 'dense-ae', '--epochs', '3', '--batch', '10', '--out', model, '--json')).stdout);
    expect(trained).toMatchObject({ dataset: 'mice-protein', model: 'dense-ae', epochs_run: 3, train_samples: 40, test_samples: 30 });
    expect(await readdir(model)).toEqual(expect.arrayContaining(['model.json', 'weights.bin', 'train.json']));

    // The saved model evaluates to the error measured right after training.
    const evaluated = JSON.parse((await uae('evaluate', ...data, '--model-dir', model, '--classifier-epochs', '5', '--json')).stdout);
    expect(evaluated.test_recon_error).toBeCloseTo(trained.test_recon_error, 6);
    expect(evaluated.accuracy).toBeGreaterThanOrEqual(0);

    const out = join(dir, 'attack');
    const attack = ['--model-dir', model, '--iterations', '2', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1', '--json'];
    const summary = JSON.parse((await uae('attack', ...data, '--train-samples', '5', '--out', out, ...attack)).stdout);
    expect(Object.keys(summary).sort()).toEqual(['asr', 'mi', 'samples', 'samples_per_s', 'seconds']);
    expect(summary.samples).toBe(5);
    expect(summary.samples_per_s).toBeCloseTo(5 / summary.seconds, 6);
    expect((await readNpy(join(out, 'x-adv.npy'))).shape).toEqual([5, 77]);
    const success = await readNpy(join(out, 'success.npy'));
    expect(Array.from(success.data as Uint8Array).filter(Boolean).length / 5).toBeCloseTo(summary.asr, 10);
    expect((await readNpy(join(out, 'similarity.npy'))).shape).toEqual([5]);

    // --x attacks the rows of an .npy; a shape the model can't take is refused.
    const rows = join(dir, 'rows.npy');
    await writeNpy(rows, [2, 77], new Float32Array(2 * 77).fill(0.5));
    const fromFile = JSON.parse((await uae('attack', '--x', rows, '--out', join(dir, 'attack-x'), ...attack)).stdout);
    expect(fromFile.samples).toBe(2);
    await writeNpy(rows, [2, 76], new Float32Array(2 * 76));
    const bad = await uae('attack', '--x', rows, '--out', join(dir, 'attack-bad'), ...attack).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/shape \[2, 76\] is not \[N, 77\]/);
  });

  it('attack --criterion loss: the model\'s own training loss as the criterion (a saved concrete AE at its trained temperature)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-loss-'));
    const model = join(dir, 'model');
    const data = ['--dataset', 'mice-protein', '--train-samples', '20', '--test-samples', '10'];
    await uae('train', ...data, '--model', 'concrete-ae', '--k', '4', '--widths', '8,8', '--epochs', '2', '--batch', '10', '--out', model, '--json');
    const saved = JSON.parse(await readFile(join(model, 'model.json'), 'utf8'));
    expect(saved.userDefinedMetadata.uae.options.temperature.current).toBeCloseTo(0.1, 10);
    const out = join(dir, 'attack');
    const attack = ['--model-dir', model, '--criterion', 'loss', '--kappa', '0', '--iterations', '2', '--mine-steps', '1', '--mine-draws', '20', '--workers', '1', '--json'];
    const summary = JSON.parse((await uae('attack', ...data, '--train-samples', '4', '--out', out, ...attack)).stdout);
    expect(summary.samples).toBe(4);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.config.criterion).toEqual({ kind: 'loss', kappa: 0 });
    expect(results.results).toHaveLength(4);
    for (const r of results.results) expect(Number.isFinite(r.f)).toBe(true);
    const bad = await uae('attack', ...data, '--out', join(dir, 'bad'), ...attack, '--criterion', 'cw').catch((e) => e);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--criterion cw needs a classifier.*concrete-ae.*reconstruction or loss/s);
  });

  it('mine estimate reads two .npy files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'uae-mi-'));
    const rng = new Rng(1);
    const x = new Float32Array(256 * 2).map(() => rng.normal());
    const y = x.map((v) => 0.9 * v + 0.3 * rng.normal());
    await writeNpy(join(dir, 'x.npy'), [256, 2], x);
    await writeNpy(join(dir, 'y.npy'), [256, 2], y);
    const { stdout } = await uae('mine', 'estimate', '--x', join(dir, 'x.npy'), '--y', join(dir, 'y.npy'), '--steps', '300', '--json');
    const { mi, pairs } = JSON.parse(stdout);
    expect(pairs).toBe(256);
    expect(mi).toBeGreaterThan(0.3); // analytic ≈ 1.5 nats; a short run only has to see the dependence
  });
});
