/**
 * Our saved models load in stock @tensorflow/tfjs (docs/models.md): through
 * the file IOHandler we export (modelFiles) and through tf.io.fromMemory,
 * with ConcreteSelect registered by registerUaeLayers(tf), in this process
 * and in a process that imports nothing of uae's backend; the loaded model
 * predicts exactly what the in-process autoencoder reconstructs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tfjs from '@tensorflow/tfjs';
import { tf, initBackend } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { createAutoencoder, loadAutoencoder, modelFiles, registerUaeLayers, saveAutoencoder, trainAutoencoder, type Autoencoder, type AutoencoderKind } from '../../libs/models/index.js';

const run = promisify(execFile);
const CHILD = new URL('./stock-tfjs-child.ts', import.meta.url).pathname;
const root = new URL('../../', import.meta.url).pathname;

const KINDS: Array<{ kind: AutoencoderKind; shape: number[]; options: Record<string, unknown> }> = [
  { kind: 'dense-ae', shape: [12], options: { hidden: 5 } },
  { kind: 'concrete-ae', shape: [12], options: { k: 3, widths: [8, 8] } },
  { kind: 'sparse-ae', shape: [12], options: { hidden: 5 } },
  { kind: 'adversarial-ae', shape: [12], options: { widths: [8, 8], latent: 2 } },
  { kind: 'conv-ae', shape: [8, 8, 1], options: {} },
];

describe('saved models in stock @tensorflow/tfjs', () => {
  let dir: string;
  const saved = new Map<AutoencoderKind, { dir: string; ae: Autoencoder; input: { shape: number[]; values: number[] }; expected: number[] }>();

  beforeAll(async () => {
    // The stock CPU backend in both processes: uae's CPU kernels replace none of the forward ops.
    await initBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'uae-stock-tfjs-'));
    for (const [i, { kind, shape, options }] of KINDS.entries()) {
      const d = shape.reduce((a, b) => a * b, 1);
      const rng = new Rng(40 + i);
      const data = tf.tensor(Float32Array.from({ length: 32 * d }, () => rng.uniform()), [32, ...shape]);
      const ae = createAutoencoder(kind, shape, { ...options, seed: i });
      await trainAutoencoder(ae, data, { epochs: 2, batchSize: 16 });
      const modelDir = join(dir, kind);
      await saveAutoencoder(ae, modelDir);
      const x = data.slice(0, 4);
      const r = ae.reconstruct(x);
      saved.set(kind, { dir: modelDir, ae, input: { shape: x.shape, values: Array.from(x.dataSync()) }, expected: Array.from(r.dataSync()) });
      tf.dispose([data, x, r]);
    }
  });

  afterAll(async () => {
    for (const s of saved.values()) s.ae.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it.each(KINDS.map((k) => k.kind))('%s: tf.loadLayersModel(modelFiles(dir)) and tf.io.fromMemory predict what the autoencoder reconstructs', async (kind) => {
    const s = saved.get(kind)!;
    registerUaeLayers(tfjs);
    const x = tfjs.tensor(s.input.values, s.input.shape);
    const viaHandler = await tfjs.loadLayersModel(modelFiles(s.dir));
    // What a user without our package does: read the two files, hand them to fromMemory.
    const json = JSON.parse(await readFile(join(s.dir, 'model.json'), 'utf8'));
    const weights = await readFile(join(s.dir, 'weights.bin'));
    const viaMemory = await tfjs.loadLayersModel(
      tfjs.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: new Uint8Array(weights).buffer }),
    );
    for (const model of [viaHandler, viaMemory]) {
      const y = model.predict(x) as tfjs.Tensor;
      expect(Array.from(y.dataSync())).toEqual(s.expected);
      y.dispose();
      model.dispose();
    }
    x.dispose();
  });

  it.each(KINDS.map((k) => k.kind))('%s: a process with stock tfjs only loads it and predicts identically', async (kind) => {
    const s = saved.get(kind)!;
    const inputPath = join(dir, `${kind}-input.json`);
    await writeFile(inputPath, JSON.stringify(s.input));
    // Through modelFiles, and (dense, concrete) through a file:// URL as with tfjs-node.
    for (const flag of kind === 'dense-ae' || kind === 'concrete-ae' ? [[], ['--file-url']] : [[]]) {
      const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, s.dir, inputPath, ...flag], { cwd: root, timeout: 120_000 });
      const out = JSON.parse(stdout) as { backend?: string; values?: number[]; error?: string };
      expect(out.error, flag.join()).toBeUndefined();
      expect(out.backend).toBe('cpu');
      expect(out.values, flag.join()).toEqual(s.expected);
    }
  });

  it('without registerUaeLayers stock tfjs cannot rebuild the concrete AE (the one line is what makes it load)', async () => {
    const s = saved.get('concrete-ae')!;
    const inputPath = join(dir, 'concrete-input.json');
    await writeFile(inputPath, JSON.stringify(s.input));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, s.dir, inputPath, '--no-register'], { cwd: root, timeout: 120_000 });
    expect(JSON.parse(stdout).error).toMatch(/Unknown layer: ConcreteSelect/);
  });

  it('modelFiles saves too: a model saved through it loads back as an autoencoder', async () => {
    const s = saved.get('dense-ae')!;
    const model = await tfjs.loadLayersModel(modelFiles(s.dir));
    const copy = join(dir, 'dense-copy');
    await model.save(modelFiles(copy));
    model.dispose();
    const back = await loadAutoencoder(copy);
    const x = tf.tensor(s.input.values, s.input.shape);
    const r = back.reconstruct(x);
    expect(back.kind).toBe('dense-ae');
    expect(Array.from(r.dataSync())).toEqual(s.expected);
    tf.dispose([x, r]);
    back.dispose();
    await expect(tfjs.loadLayersModel(modelFiles(join(dir, 'missing')))).rejects.toThrow(/cannot read .*missing\/model.json/);
  });
});
