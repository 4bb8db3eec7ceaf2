/**
 * MinMax with `criterion: loss` (docs/algorithms.md, criteria, f = L(x′) − L(x) + κ) against
 * every model of the zoo: each kind's perSampleLoss drives the attack, in this
 * thread and on worker threads (models rebuilt from artifacts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { createAutoencoder, createClassifier, type Autoencoder, type AutoencoderKind, type CreateAutoencoderOptions } from '../../libs/models/index.js';
import { attackConfig, runAttack, type AttackConfigInput, type AttackModel, type SampleResult } from '../../libs/attack/index.js';
import { generateUaes } from '../../libs/augment/index.js';
import { uniformSamples } from './helpers.js';

const N = 6;
const KINDS: { kind: AutoencoderKind; shape: number[]; opts: CreateAutoencoderOptions }[] = [
  { kind: 'dense-ae', shape: [16], opts: { hidden: 8 } },
  { kind: 'conv-ae', shape: [8, 8, 1], opts: {} },
  { kind: 'sparse-ae', shape: [16], opts: { hidden: 8 } },
  { kind: 'adversarial-ae', shape: [16], opts: { latent: 4, widths: [16], discriminatorWidths: [16] } },
  { kind: 'concrete-ae', shape: [16], opts: { k: 4, widths: [8, 8] } },
];
/**
 * A small MINE (conv draws on the conv AE, random projections elsewhere), T = 3, one MINE
 * step. Success needs f ≤ 0 and a positive MI estimate; with the defaults (c0 1e-3, MINE
 * learning rate 1.5e-5) neither happens within three iterations, so c0 and the MINE
 * learning rate are raised.
 */
const mine = { draws: 16, projectionDim: 8, hidden: 16, convFilters: 4, projection: 'fixed' as const, learningRate: 1e-2 };

function lossConfig(ae: Autoencoder | undefined, extra: AttackConfigInput = {}) {
  const similarity = { kind: 'mine' as const, mine: { ...mine, sampler: ae?.firstConv ? ('conv' as const) : ('random' as const) } };
  return attackConfig({ criterion: { kind: 'loss', kappa: 0 }, similarity, iterations: 3, mineSteps: 1, c0: 10, alpha: 0.1, ...extra });
}

/** f of a result, recomputed: L(x′) − L(x) of the model's perSampleLoss. */
function recomputedF(model: AttackModel, shape: number[], x: Float32Array, r: SampleResult, labels?: Int32Array): number {
  return tf.tidy(() => {
    const t = (v: Float32Array) => tf.tensor(v, [1, ...shape]);
    const l = labels ? labels.subarray(r.sampleId, r.sampleId + 1) : undefined;
    return tf.sub(model.perSampleLoss!(t(r.xAdv), l), model.perSampleLoss!(t(x), l)).dataSync()[0]!;
  });
}

beforeAll(async () => {
  await initBackend('wasm');
});

describe.each(KINDS)('criterion loss against $kind', ({ kind, shape, opts }) => {
  let ae: Autoencoder;
  const d = shape.reduce((a, b) => a * b, 1);
  const data = uniformSamples(N, d, 11);
  beforeAll(() => {
    ae = createAutoencoder(kind, shape, { ...opts, seed: 3 });
  });
  afterAll(() => ae?.dispose());

  it('MinMax succeeds on some samples, with f = L(x′) − L(x) of the kept iterate', async () => {
    const before = tf.memory().numTensors;
    const res = await runAttack(ae, { data, inputShape: shape }, lossConfig(ae), { chunkSize: N });
    expect(tf.memory().numTensors).toBe(before);
    expect(res).toHaveLength(N);
    const won = res.filter((r) => r.success);
    expect(won.length).toBeGreaterThan(0);
    for (const r of res) {
      const f = recomputedF(ae, shape, data.subarray(r.sampleId * d, (r.sampleId + 1) * d), r);
      expect(Math.abs(f - r.f)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(f)));
      if (r.success) expect(r.f).toBeLessThanOrEqual(0);
    }
  });
});

describe('criterion loss on worker threads', () => {
  it('a model rebuilt from artifacts (concrete-ae, at its saved temperature) gives the in-thread results', async () => {
    const { shape, opts } = KINDS[4]!;
    const ae = createAutoencoder('concrete-ae', shape, { ...opts, seed: 4, temperature: { start: 10, end: 0.1 } });
    ae.temperature = 0.5; // as a training run would leave it
    const data = uniformSamples(N, 16, 12);
    const config = lossConfig(ae);
    const here = await generateUaes(ae, { data, inputShape: shape }, config, { workers: 1 });
    const threads = await generateUaes(ae, { data, inputShape: shape }, config, { workers: 2 });
    expect(here.some((r) => r.success)).toBe(true);
    expect(threads.map((r) => r.success)).toEqual(here.map((r) => r.success));
    threads.forEach((r, i) => expect(Math.abs(r.f - here[i]!.f)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(here[i]!.f))));
    ae.dispose();
  });
});

describe('criterion loss against the classifier (labels as the cw criterion takes them)', () => {
  const d = 6;
  let clf: ReturnType<typeof createClassifier>;
  const data = uniformSamples(N, d, 13);
  const labels = new Int32Array([0, 1, 2, 0, 1, 2]);
  beforeAll(() => {
    clf = createClassifier([d], 3, { hidden: 8, seed: 5 });
  });
  afterAll(() => clf?.dispose());

  it('MinMax succeeds on some samples, f = CE(x′) − CE(x) against the given labels', async () => {
    const res = await runAttack(clf, { data, inputShape: [d], labels }, lossConfig(undefined), { chunkSize: N });
    expect(res.filter((r) => r.success).length).toBeGreaterThan(0);
    for (const r of res) {
      const f = recomputedF(clf, [d], data.subarray(r.sampleId * d, (r.sampleId + 1) * d), r, labels);
      expect(Math.abs(f - r.f)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(f)));
    }
  });

  it('without labels, or with too few, the attack is refused naming labels', async () => {
    await expect(runAttack(clf, { data, inputShape: [d] }, lossConfig(undefined))).rejects.toThrow(expect.objectContaining({ name: 'ModelInputError', field: 'labels' }));
    await expect(runAttack(clf, { data, inputShape: [d], labels: labels.subarray(0, 2) }, lossConfig(undefined))).rejects.toThrow(
      expect.objectContaining({ name: 'AttackInputError', field: 'labels' }),
    );
  });
});
