/**
 * Supervised attacks from the local CLI: `uae train` a classifier, `uae
 * evaluate` it, `uae attack` it with the cw criterion (MinMax, untargeted)
 * and PGD (targeted, MINE-measured), and the usage errors that name their flag.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { loadDataset, readNpz, writeNpy } from '../../libs/data/index.js';
import { loadClassifier } from '../../libs/models/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const SLICE = new URL('../fixtures/fashion-mnist-slice', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 300_000 });
const fashion = ['--dataset', 'fashion-mnist', '--data-dir', SLICE];

let dir: string;
let model: string;
let trained: Record<string, unknown>;
beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'uae-clf-'));
  model = join(dir, 'cnn');
  trained = JSON.parse((await uae('train', ...fashion, '--train-samples', '200', '--test-samples', '40', '--model', 'cnn-classifier', '--epochs', '2', '--batch', '50', '--out', model, '--json')).stdout);
}, 300_000);

/** The classifier's predictions for the rows of an .npz array. */
async function predictions(rows: Float32Array): Promise<Int32Array> {
  const { classifier } = await loadClassifier(model);
  const x = tf.tensor(rows, [rows.length / 784, 28, 28, 1]);
  try {
    return await classifier.predict(x);
  } finally {
    x.dispose();
    classifier.dispose();
  }
}

const expectUsageError = async (args: string[], message: RegExp) => {
  const e = await uae(...args).catch((err) => err);
  expect(e.code, args.join(' ')).toBe(2);
  expect(e.stderr).toMatch(message);
};

describe('uae train / evaluate with a cnn-classifier', () => {
  it('records train and test accuracy, and evaluate reproduces the test accuracy', async () => {
    expect(trained).toMatchObject({ model: 'cnn-classifier', dataset: 'fashion-mnist', train_samples: 200, test_samples: 40, classes: 10, adversarial: null, epochs_run: 2 });
    for (const k of ['train_accuracy', 'test_accuracy']) expect(trained[k] as number).toBeGreaterThanOrEqual(0);
    // Two epochs on 200 images already beat chance (10%) on the training rows.
    expect(trained['train_accuracy'] as number).toBeGreaterThan(0.2);
    const onDisk = JSON.parse(await readFile(join(model, 'train.json'), 'utf8'));
    expect(onDisk.test_accuracy).toBe(trained['test_accuracy']);
    const { info, classifier } = await loadClassifier(model);
    classifier.dispose();
    expect(info).toMatchObject({ dataset: 'fashion-mnist', seed: 0, test_accuracy: trained['test_accuracy'] });

    const evaluated = JSON.parse((await uae('evaluate', '--model-dir', model, ...fashion, '--train-samples', '200', '--test-samples', '40', '--json')).stdout);
    expect(evaluated).toMatchObject({ model: 'cnn-classifier', samples: 40, accuracy: trained['test_accuracy'] });
  });
});

describe('uae attack against the cnn-classifier', () => {
  const data = [...fashion, '--split', 'test', '--test-samples', '6', '--workers', '1'];

  it('cw MinMax (the default criterion, untargeted): success means the prediction left the true label', async () => {
    const out = join(dir, 'cw');
    const summary = JSON.parse((await uae('attack', '--model-dir', model, ...data, '--out', out, '--iterations', '3', '--alpha', '0.5', '--json')).stdout);
    expect(Object.keys(summary)).toEqual(expect.arrayContaining(['samples', 'seconds', 'samples_per_s', 'asr', 'mi']));
    expect(summary.samples).toBe(6);
    console.log(`cw MinMax: ${JSON.stringify(summary)}`);
    expect(summary.asr).toBeGreaterThanOrEqual(0);
    expect(summary.asr).toBeLessThanOrEqual(1);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.config.criterion).toEqual({ kind: 'cw', kappa: 0, targeted: false });
    // A cnn-classifier's MINE draws come from its first conv layer.
    expect(results.config.similarity.mine.sampler).toBe('conv');
    const successes = results.results.filter((r: { success: boolean }) => r.success);
    expect(summary.asr).toBeCloseTo(successes.length / 6, 12);
    if (successes.length === 0) expect(summary.mi).toBeNull();
    else expect(summary.mi).toBeCloseTo(successes.reduce((a: number, r: { similarity: number }) => a + r.similarity, 0) / successes.length, 6);
    const bundle = await readNpz(join(out, 'mine.npz'));
    const y = Array.from(bundle['y']!.data as BigInt64Array, Number);
    const predicted = await predictions(bundle['x_adv']!.data as Float32Array);
    results.results.forEach((r: { sampleId: number; success: boolean; linf: number; l2: number }, i: number) => {
      if (r.success) expect(predicted[i], `sample ${r.sampleId}`).not.toBe(y[i]);
      expect(r.linf).toBeCloseTo((bundle['linf']!.data as Float32Array)[i]!, 5);
      expect(r.l2).toBeCloseTo((bundle['l2']!.data as Float32Array)[i]!, 4);
    });
  }, 300_000);

  it('targeted PGD: samples of the target class are skipped, success means the target is predicted, x′ stays in the ε-ball, MI is measured', async () => {
    const out = join(dir, 'pgd');
    // The class of the first attacked row, so that at least one row is skipped.
    const labels = (await loadDataset('fashion-mnist', { dataDir: SLICE, testSamples: 6, seed: 0 })).test.labels!;
    const target = labels[0]!;
    const summary = JSON.parse(
      (await uae('attack', '--model-dir', model, ...data, '--out', out, '--method', 'pgd', '--epsilon', '0.3', '--steps', '10', '--target-class', String(target), '--mine-measure-steps', '3', '--json')).stdout,
    );
    console.log(`targeted PGD: ${JSON.stringify(summary)}`);
    const bundle = await readNpz(join(out, 'mine.npz'));
    const y = Array.from(bundle['y']!.data as BigInt64Array, Number);
    expect(y).not.toContain(target);
    expect(summary.skipped).toBe(labels.filter((l) => l === target).length);
    expect(summary.samples + summary.skipped).toBe(6);
    expect(summary.target_class).toBe(target);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.config.criterion).toEqual({ kind: 'cw', kappa: 0, targeted: true });
    expect(results.config.mineMeasure).toEqual({ steps: 3, learningRate: 1e-3 });
    const predicted = await predictions(bundle['x_adv']!.data as Float32Array);
    results.results.forEach((r: { success: boolean; linf: number; similarity: number | null }, i: number) => {
      if (r.success) expect(predicted[i]).toBe(target);
      else expect(predicted[i]).not.toBe(target);
      expect(r.linf).toBeLessThanOrEqual(0.3 + 1e-6);
      // PGD's x′ measured by a fresh MINE network (JSON writes NaN as null).
      expect(typeof r.similarity).toBe('number');
    });
    // Ten steps of 0.075 move some rows to the target even on this barely trained model.
    expect(summary.asr).toBeGreaterThan(0);
    expect(typeof summary.mi).toBe('number');
  }, 300_000);

  it('refuses criteria and targets that do not fit the model, naming the flag', async () => {
    const bad = (...flags: string[]) => ['attack', '--model-dir', model, ...data, '--out', join(dir, `bad-${flags.join('')}`), ...flags];
    await expectUsageError(bad('--target-class', '10'), /--target-class must be in \[0, 10\)/);
    await expectUsageError(bad('--criterion', 'reconstruction'), /--criterion reconstruction needs an autoencoder/);
    await expectUsageError(bad('--criterion', 'loss', '--target-class', '1'), /--target-class needs --criterion cw/);
    await expectUsageError(bad('--method', 'minmax', '--mine-measure-steps', '3'), /--mine-measure-steps applies to --method pgd or fgsm/);
    const x = join(dir, 'rows.npy');
    await writeNpy(x, [2, 28, 28, 1], new Float32Array(2 * 784).fill(0.5));
    await expectUsageError(['attack', '--model-dir', model, '--x', x, '--out', join(dir, 'bad-x'), '--workers', '1'], /--x .* has no labels.*--target-class/);

    const ae = join(dir, 'ae');
    const mice = ['--dataset', 'mice-protein', '--train-samples', '12', '--test-samples', '6'];
    await uae('train', ...mice, '--model', 'dense-ae', '--hidden', '8', '--epochs', '1', '--batch', '6', '--out', ae, '--json');
    await expectUsageError(['attack', '--model-dir', ae, ...mice, '--out', join(dir, 'bad-ae'), '--criterion', 'cw'], /--criterion cw needs a classifier/);
  }, 300_000);
});

describe('uae train flags of the classifiers', () => {
  it('trains an mlp-classifier adversarially (PGD) and records the config; its flags need --adversarial', async () => {
    const mice = ['--dataset', 'mice-protein', '--train-samples', '40', '--test-samples', '10'];
    const out = join(dir, 'mlp-adv');
    const summary = JSON.parse((await uae('train', ...mice, '--model', 'mlp-classifier', '--hidden', '8', '--epochs', '2', '--batch', '20', '--adversarial', 'pgd', '--epsilon', '0.05', '--pgd-steps', '2', '--out', out, '--json')).stdout);
    expect(summary).toMatchObject({ model: 'mlp-classifier', adversarial: { method: 'pgd', epsilon: 0.05, steps: 2, stepSize: 0.0625 } });
    expect(summary.test_accuracy).toBeGreaterThanOrEqual(0);

    const train = (...flags: string[]) => ['train', ...mice, '--epochs', '1', '--out', join(dir, `bad-${flags.join('')}`), ...flags];
    await expectUsageError(train('--model', 'mlp-classifier', '--epsilon', '0.1'), /--epsilon needs --adversarial pgd/);
    await expectUsageError(train('--model', 'mlp-classifier', '--pgd-steps', '3'), /--pgd-steps needs --adversarial pgd/);
    await expectUsageError(train('--model', 'mlp-classifier', '--adversarial', 'pgd'), /--adversarial pgd needs --epsilon/);
    await expectUsageError(train('--model', 'dense-ae', '--adversarial', 'pgd', '--epsilon', '0.1'), /--adversarial applies to the classifiers/);
    await expectUsageError(train('--model', 'mlp-classifier', '--architecture', 'mnist'), /--architecture applies to --model cnn-classifier/);
    const unlabelled = await mkdtemp(join(tmpdir(), 'uae-nolabels-'));
    await writeNpy(join(unlabelled, 'x_train.npy'), [4, 3], new Float32Array(12).fill(0.5));
    await writeNpy(join(unlabelled, 'x_test.npy'), [2, 3], new Float32Array(6).fill(0.5));
    await expectUsageError(['train', '--dataset', `npy:${unlabelled}`, '--model', 'mlp-classifier', '--out', join(dir, 'bad-nolabels')], /--dataset npy:.* has no labels/);
  }, 300_000);
});
