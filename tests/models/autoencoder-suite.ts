/**
 * Checks every reference autoencoder must pass; each model's test file calls
 * this with its kind, so the two models run in separate worker processes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, initBackend, backendInfo } from '../../libs/tensor/index.js';
import {
  createAutoencoder,
  trainAutoencoder,
  evaluateLoss,
  toArtifacts,
  fromArtifacts,
  saveAutoencoder,
  loadAutoencoder,
  type Autoencoder,
  type AutoencoderKind,
  type CreateAutoencoderOptions,
} from '../../libs/models/index.js';
import { fixtureImages, maxAbsDiff, weightsOf } from './helpers.js';

export interface SuiteOptions {
  kind: AutoencoderKind;
  /** Per-sample input shape used by the suite. */
  inputShape: number[];
  /** Samples and epochs for the "loss falls" check. */
  trainSamples: number;
  trainEpochs: number;
  trainBatch: number;
  /** Width m of `encode`'s output [B, m]. */
  codeSize: number;
  /** Creation options besides the seed (e.g. small widths for CPU tests). */
  create?: CreateAutoencoderOptions;
  /**
   * Whether a saved model without uae metadata loads as the same kind (plain
   * dense/conv models); default true.
   */
  inferable?: boolean;
}

export function autoencoderSuite(o: SuiteOptions): void {
  const B = 8;
  let x: tf.Tensor; // [B, ...inputShape] fixture images
  let ae: Autoencoder;
  let dir: string;

  describe(`${o.kind} [${o.inputShape.join(', ')}]`, () => {
    beforeAll(async () => {
      await initBackend('wasm');
      const img = await fixtureImages(B);
      x = img.reshape([B, ...o.inputShape]);
      img.dispose();
      ae = createAutoencoder(o.kind, o.inputShape, { ...o.create, seed: 42 });
      dir = await mkdtemp(join(tmpdir(), `uae-${o.kind}-`));
    });
    afterAll(async () => {
      ae?.dispose();
      x?.dispose();
      await rm(dir, { recursive: true, force: true });
    });

    it('runs on the wasm backend', () => {
      expect(backendInfo().name).toBe('wasm');
      expect(ae.kind).toBe(o.kind);
      expect(ae.inputShape).toEqual(o.inputShape);
    });

    it('reconstructs with the input shape, values in [0, 1]', () => {
      const r = ae.reconstruct(x);
      expect(r.shape).toEqual(x.shape);
      const v = r.dataSync();
      r.dispose();
      let lo = Infinity;
      let hi = -Infinity;
      for (const a of v) {
        lo = Math.min(lo, a);
        hi = Math.max(hi, a);
      }
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
      expect(hi).toBeGreaterThan(lo); // not a constant output
    });

    it('rejects inputs of the wrong shape', () => {
      const bad = tf.zeros([2, 5]);
      expect(() => ae.reconstruct(bad)).toThrow(/expects input \[B, /);
      expect(() => ae.encode(bad)).toThrow(/expects input \[B, /);
      bad.dispose();
    });

    it(`encode gives the latent code [B, ${o.codeSize}]`, () => {
      const z = ae.encode(x);
      expect(z.shape).toEqual([B, o.codeSize]);
      const v = z.dataSync();
      z.dispose();
      expect(v.every(Number.isFinite)).toBe(true);
      // Differentiable w.r.t. the input (the downstream probe may need it).
      const g = tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(ae.encode(xi)))(x));
      expect(g.dataSync().some((a) => a !== 0)).toBe(true);
      g.dispose();
    });

    it('perSampleSquaredError equals a hand computation', () => {
      const e = ae.perSampleSquaredError(x);
      expect(e.shape).toEqual([B]);
      const r = ae.reconstruct(x);
      const xs = x.dataSync();
      const rs = r.dataSync();
      r.dispose();
      const per = xs.length / B;
      const hand = Array.from({ length: B }, (_, b) => {
        let s = 0;
        for (let i = b * per; i < (b + 1) * per; i++) s += (xs[i]! - rs[i]!) ** 2;
        return s;
      });
      const got = Array.from(e.dataSync());
      e.dispose();
      for (let b = 0; b < B; b++) expect(got[b]).toBeCloseTo(hand[b]!, 3);
      expect(Math.min(...got)).toBeGreaterThan(0);
    });

    it('perSampleSquaredError is differentiable w.r.t. the input', () => {
      const g = tf.tidy(() => tf.grad((xi: tf.Tensor) => tf.sum(ae.perSampleSquaredError(xi)))(x));
      expect(g.shape).toEqual(x.shape);
      const v = g.dataSync();
      g.dispose();
      expect(v.every(Number.isFinite)).toBe(true);
      expect(v.some((a) => a !== 0)).toBe(true);
    });

    it('leaks no tensors in reconstruct / perSampleSquaredError / firstConv', () => {
      // Warm up (lazy kernel state), then measure. The tidies return nothing,
      // so every tensor made inside must be gone afterwards.
      tf.tidy(() => {
        ae.perSampleSquaredError(x);
      });
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        tf.tidy(() => {
          ae.reconstruct(x);
          ae.perSampleSquaredError(x);
          ae.encode(x);
          if (ae.firstConv && x.rank === 4) ae.firstConv(x as tf.Tensor4D);
          tf.grad((xi: tf.Tensor) => tf.sum(ae.perSampleSquaredError(xi)))(x);
        });
      }
      expect(tf.memory().numTensors).toBe(before);
      // Outside a tidy only the result survives (intermediates are freed).
      for (const f of [() => ae.reconstruct(x), () => ae.perSampleSquaredError(x), () => ae.encode(x)]) {
        const r = f();
        expect(tf.memory().numTensors).toBe(before + 1);
        r.dispose();
      }
      if (ae.firstConv && x.rank === 4) {
        const r = ae.firstConv(x as tf.Tensor4D);
        expect(tf.memory().numTensors).toBe(before + 1);
        r.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });

    it('seeded creation is deterministic', () => {
      const a = createAutoencoder(o.kind, o.inputShape, { ...o.create, seed: 7 });
      const b = createAutoencoder(o.kind, o.inputShape, { ...o.create, seed: 7 });
      const c = createAutoencoder(o.kind, o.inputShape, { ...o.create, seed: 8 });
      const wa = weightsOf(a.model);
      const wb = weightsOf(b.model);
      const wc = weightsOf(c.model);
      wa.forEach((w, i) => expect(maxAbsDiff(w, wb[i]!)).toBe(0));
      expect(maxAbsDiff(wa[0]!, wc[0]!)).toBeGreaterThan(0);
      // Every kernel gets its own seed: no two kernels of the same shape are equal.
      const kernels = a.model.getWeights().filter((w) => w.rank > 1);
      for (let i = 0; i < kernels.length; i++)
        for (let j = i + 1; j < kernels.length; j++)
          if (kernels[i]!.size === kernels[j]!.size)
            expect(maxAbsDiff(kernels[i]!.dataSync(), kernels[j]!.dataSync())).toBeGreaterThan(0);
      for (const m of [a, b, c]) m.dispose();
    });

    it('toArtifacts → fromArtifacts gives identical outputs', async () => {
      const a = await toArtifacts(ae);
      expect(a.kind).toBe(o.kind);
      expect(a.inputShape).toEqual(o.inputShape);
      expect(a.weightData).toBeInstanceOf(ArrayBuffer);
      expect(a.weightData.byteLength).toBe(ae.model.countParams() * 4);
      // Survives a structured clone (worker threads), weights transferred.
      const cloned = structuredClone(a, { transfer: [a.weightData] });
      const back = await fromArtifacts(cloned);
      expect(back.kind).toBe(o.kind);
      expect(back.inputShape).toEqual(o.inputShape);
      expect(back.options).toEqual(ae.options);
      const r1 = ae.reconstruct(x);
      const r2 = back.reconstruct(x);
      expect(maxAbsDiff(r1.dataSync(), r2.dataSync())).toBe(0);
      const z1 = ae.encode(x);
      const z2 = back.encode(x);
      expect(maxAbsDiff(z1.dataSync(), z2.dataSync())).toBe(0);
      tf.dispose([r1, r2, z1, z2]);
      back.dispose();
    });

    it('saveAutoencoder → loadAutoencoder gives identical outputs (tfjs layers format)', async () => {
      const d = join(dir, 'saved');
      await saveAutoencoder(ae, d);
      const json = JSON.parse(await readFile(join(d, 'model.json'), 'utf8'));
      expect(json.format).toBe('layers-model');
      expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
      expect(json.userDefinedMetadata.uae).toEqual({
        kind: o.kind,
        inputShape: o.inputShape,
        ...(ae.options ? { options: ae.options } : {}),
        ...(o.kind === 'adversarial-ae' ? { discriminator: 'discriminator' } : {}),
      });
      expect((await readFile(join(d, 'weights.bin'))).byteLength).toBe(ae.model.countParams() * 4);
      const back = await loadAutoencoder(d);
      expect(back.kind).toBe(o.kind);
      expect(back.inputShape).toEqual(o.inputShape);
      expect(back.options).toEqual(ae.options);
      const r1 = ae.reconstruct(x);
      const r2 = back.reconstruct(x);
      expect(maxAbsDiff(r1.dataSync(), r2.dataSync())).toBe(0);
      const z1 = ae.encode(x);
      const z2 = back.encode(x);
      expect(maxAbsDiff(z1.dataSync(), z2.dataSync())).toBe(0);
      tf.dispose([r1, r2, z1, z2]);
      if (o.inferable ?? true) {
        // Without our metadata (a plain tfjs layers model) the kind and shape are inferred.
        delete json.userDefinedMetadata;
        await writeFile(join(d, 'model.json'), JSON.stringify(json));
        const plain = await loadAutoencoder(d);
        expect(plain.kind).toBe(o.kind);
        expect(plain.inputShape).toEqual(o.inputShape);
        plain.dispose();
      }
      await expect(loadAutoencoder(join(dir, 'missing'))).rejects.toThrow(/cannot read .*model\.json/);
      // A loaded model trains (it is compiled).
      const res = await trainAutoencoder(back, x, { epochs: 1, batchSize: B, seed: 1 });
      expect(Number.isFinite(res.history[0]!.loss)).toBe(true);
      back.dispose();
    });

    it(`training lowers the loss (${o.trainSamples} fixture samples, ${o.trainEpochs} epochs)`, async () => {
      const img = await fixtureImages(o.trainSamples);
      const xt = img.reshape([o.trainSamples, ...o.inputShape]);
      img.dispose();
      const m = createAutoencoder(o.kind, o.inputShape, { ...o.create, seed: 1 });
      const before = await evaluateLoss(m, xt, 64);
      const reports: number[] = [];
      const res = await trainAutoencoder(m, xt, {
        epochs: o.trainEpochs,
        batchSize: o.trainBatch,
        seed: 2,
        onEpoch: (e) => {
          reports.push(e.epoch);
          expect(e.samplesPerSec).toBeGreaterThan(0);
        },
      });
      const after = await evaluateLoss(m, xt, 64);
      const speed = res.history.map((h) => h.samplesPerSec.toFixed(0)).join(', ');
      console.log(
        `${o.kind}: loss ${before.toFixed(4)} → ${after.toFixed(4)}; epochs ${res.history
          .map((h) => h.loss.toFixed(4))
          .join(', ')}; samples/s ${speed} (batch ${o.trainBatch}, ${backendInfo().provider})`,
      );
      expect(reports).toEqual(Array.from({ length: o.trainEpochs }, (_, i) => i));
      expect(after).toBeLessThan(before);
      expect(res.history.at(-1)!.loss).toBeLessThan(res.history[0]!.loss);
      m.dispose();
      xt.dispose();
    });
  });
}
