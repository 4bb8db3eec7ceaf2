/**
 * SimCLR from the local CLI: `uae train --model simclr-small` on tiny
 * generated 16×16×1 images (an npy:DIR dataset, two classes), `uae evaluate`
 * (linear-probe accuracy and contrastive test loss, as train.json recorded
 * them), `uae attack --criterion loss` (the contrastive per-sample loss, on
 * worker threads: the model travels as SimCLR artifacts), and the usage
 * errors that name their flag.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { writeNpy } from '../../libs/data/index.js';
import { loadSimclr, simclrFromArtifacts, simclrToArtifacts } from '../../libs/models/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 120_000 });
const SIDE = 16;

/** `n` images [n, 16, 16, 1] (uint8) of two classes: a bright square in the top-left (0) or bottom-right (1) quarter, on seeded noise. */
function images(n: number, seed: number): { x: Uint8Array; y: Int32Array } {
  const x = new Uint8Array(n * SIDE * SIDE);
  const y = new Int32Array(n);
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    const off = y[i] === 0 ? 2 : 9;
    for (let r = 0; r < SIDE; r++) {
      for (let c = 0; c < SIDE; c++) {
        const inside = r >= off && r < off + 5 && c >= off && c < off + 5;
        x[(i * SIDE + r) * SIDE + c] = inside ? 200 + Math.floor(rand() * 55) : Math.floor(rand() * 60);
      }
    }
  }
  return { x, y };
}

let dir: string;
let model: string;
let data: string[];
let trained: Record<string, unknown>;
beforeAll(async () => {
  await initBackend('wasm');
  dir = await mkdtemp(join(tmpdir(), 'uae-simclr-'));
  const npy = join(dir, 'squares');
  await mkdir(npy);
  const train = images(32, 1);
  const test = images(16, 2);
  await writeNpy(join(npy, 'x_train.npy'), [32, SIDE, SIDE, 1], train.x);
  await writeNpy(join(npy, 'y_train.npy'), [32], train.y);
  await writeNpy(join(npy, 'x_test.npy'), [16, SIDE, SIDE, 1], test.x);
  await writeNpy(join(npy, 'y_test.npy'), [16], test.y);
  data = ['--dataset', `npy:${npy}`];
  model = join(dir, 'simclr');
  trained = JSON.parse(
    (await uae('train', ...data, '--model', 'simclr-small', '--width-multiplier', '0.25', '--temperature', '0.5', '--epochs', '1', '--batch', '16', '--probe-epochs', '20', '--out', model, '--json')).stdout,
  );
}, 120_000);

const expectUsageError = async (args: string[], message: RegExp) => {
  const e = await uae(...args).catch((err) => err);
  expect(e.code, args.join(' ')).toBe(2);
  expect(e.stderr).toMatch(message);
};

describe('uae train / evaluate with simclr-small', () => {
  it('records the contrastive test loss and the linear probe, and evaluate reproduces both', async () => {
    expect(trained).toMatchObject({ model: 'simclr-small', train_samples: 32, test_samples: 16, epochs_run: 1, loss_batch: 16, probe_epochs: 20, width_multiplier: 0.25, temperature: 0.5 });
    for (const k of ['final_loss', 'test_loss']) expect(Number.isFinite(trained[k] as number), k).toBe(true);
    // NT-Xent of a batch of B pairs lies in [0, ln(2B − 1)] up to the temperature's scale; 16 test rows: one batch.
    expect(trained['test_loss'] as number).toBeGreaterThan(0);
    for (const k of ['accuracy', 'train_accuracy']) {
      expect(trained[k] as number, k).toBeGreaterThanOrEqual(0);
      expect(trained[k] as number, k).toBeLessThanOrEqual(1);
    }
    const onDisk = JSON.parse(await readFile(join(model, 'train.json'), 'utf8'));
    expect(onDisk.accuracy).toBe(trained['accuracy']);
    expect(onDisk.history).toHaveLength(1);

    const evaluated = JSON.parse((await uae('evaluate', '--model-dir', model, ...data, '--probe-epochs', '20', '--json')).stdout);
    // Deterministic: the same views (keyed by the augment seed), loss batch (saved with the model) and probe seed.
    expect(evaluated).toMatchObject({ model: 'simclr-small', test_samples: 16, loss_batch: 16, accuracy: trained['accuracy'] });
    expect(evaluated.test_loss).toBeCloseTo(trained['test_loss'] as number, 5);
  });

  it('rebuilds from its artifacts (what worker threads get) with the same reference bank and per-sample loss', async () => {
    const { model: loaded } = await loadSimclr(model);
    const copy = await simclrFromArtifacts(await simclrToArtifacts(loaded));
    const x = tf.tensor4d(Float32Array.from(images(3, 5).x, (v) => v / 255), [3, SIDE, SIDE, 1]);
    try {
      expect(copy.reference?.images.shape).toEqual([32, SIDE, SIDE, 1]);
      expect(copy.reference?.source.source).toBe(`npy:${join(dir, 'squares')} train`);
      const [a, b] = await Promise.all([loaded.perSampleLoss(x).data(), copy.perSampleLoss(x).data()]);
      expect(Array.from(b)).toEqual(Array.from(a));
    } finally {
      x.dispose();
      loaded.dispose();
      copy.dispose();
    }
  });
});

describe('uae attack against the SimCLR model', () => {
  it('attacks with the contrastive loss criterion (the default) on two worker threads', async () => {
    const out = join(dir, 'loss');
    const summary = JSON.parse((await uae('attack', '--model-dir', model, ...data, '--split', 'test', '--test-samples', '4', '--workers', '2', '--iterations', '2', '--out', out, '--json')).stdout);
    expect(summary.samples).toBe(4);
    expect(summary.asr).toBeGreaterThanOrEqual(0);
    expect(summary.asr).toBeLessThanOrEqual(1);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.config.criterion.kind).toBe('loss');
    expect(results.model).toBe('simclr-small');
    expect(results.results).toHaveLength(4);
    expect(results.results.map((r: { sampleId: number }) => r.sampleId)).toEqual([0, 1, 2, 3]);
    for (const r of results.results) expect(typeof r.success).toBe('boolean');
  });

  it('refuses the criteria and flags that do not apply, naming them', async () => {
    for (const c of ['cw', 'reconstruction']) {
      await expectUsageError(['attack', '--model-dir', model, ...data, '--criterion', c, '--out', join(dir, `bad-${c}`)], new RegExp(`--criterion ${c} does not apply .*simclr-small.*--criterion loss`));
    }
    await expectUsageError(['attack', '--model-dir', model, ...data, '--target-class', '1', '--out', join(dir, 'bad-target')], /--target-class applies to classifiers/);
    await expectUsageError(['evaluate', '--model-dir', model, ...data, '--classifier-epochs', '3'], /--classifier-epochs applies to autoencoders.*--probe-epochs/);
    await expectUsageError(['train', ...data, '--model', 'dense-ae', '--temperature', '0.2', '--out', join(dir, 'bad-t')], /--temperature applies to the SimCLR models/);
    await expectUsageError(['train', ...data, '--model', 'simclr-small', '--hidden', '8', '--out', join(dir, 'bad-h')], /--hidden does not apply to --model simclr-small/);
  });
});
