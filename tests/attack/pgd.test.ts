/**
 * PGD (Madry et al., L∞ with a random start) and FGSM (libs/attack/pgd.ts):
 * known answers on a linear "model" whose gradient sign is constant, the
 * ε-ball and box invariants, per-sample seeding independent of chunking, flat
 * memory, cancellation, and behaviour on a trained dense AE and an MLP
 * classifier.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { loadIdxImages } from '../../libs/data/index.js';
import { createAutoencoder, createClassifier, toArtifacts, trainAutoencoder, trainClassifier, type Autoencoder, type Classifier } from '../../libs/models/index.js';
import {
  AttackCancelledError,
  attackConfig,
  initialPerturbation,
  pgdStepSize,
  runAttack,
  runAttackParallel,
  signAttackChunk,
  type AttackConfigInput,
  type AttackModel,
} from '../../libs/attack/index.js';
import { parseRunConfig } from '../../libs/augment/index.js';
import { attackConfigToProto, v1 } from '../../libs/proto/index.js';
import { parseAttackConfig } from '../../services/attack-optimizer/handlers.js';
import { tinyAutoencoder, uniformSamples } from './helpers.js';

const d = 8;
/** Constant gradient of the linear loss L(x) = w·x; no zero entries, mixed signs. */
const w = [0.5, -1, 2, -0.25, 1, -3, 0.75, -0.5];
const sign = w.map(Math.sign);
const l1 = w.reduce((a, v) => a + Math.abs(v), 0);
let linear: AttackModel & { dispose(): void };
let tiny: ReturnType<typeof tinyAutoencoder>;

beforeAll(async () => {
  await initBackend('wasm');
  const wt = tf.tensor2d(w, [d, 1]);
  linear = {
    inputShape: [d],
    perSampleLoss: (x: tf.Tensor) => tf.tidy(() => tf.reshape(tf.matMul(x as tf.Tensor2D, wt), [-1]) as tf.Tensor1D),
    dispose: () => wt.dispose(),
  };
  tiny = tinyAutoencoder(16);
});
afterAll(() => {
  linear?.dispose();
  tiny?.dispose();
});

/** Inside [0.3, 0.7]: the ε-ball of radius ≤ 0.3 never meets the box. */
const interior = (n: number, seed: number) => uniformSamples(n, d, seed).map((v) => 0.3 + 0.4 * v);

const lossAttack = (extra: AttackConfigInput) => attackConfig({ criterion: { kind: 'loss', kappa: 0 }, similarity: { kind: 'l2' }, ...extra });

describe('config', () => {
  it('defaults PGD α to 2.5·ε/steps, FGSM to one step of ε', () => {
    expect(pgdStepSize(attackConfig({ method: 'pgd', epsilon: 0.3, iterations: 10 }))).toBeCloseTo(0.075, 12);
    expect(pgdStepSize(attackConfig({ method: 'pgd', epsilon: 0.3, iterations: 10, stepSize: 0.01 }))).toBe(0.01);
    expect(pgdStepSize(attackConfig({ method: 'fgsm', epsilon: 0.2 }))).toBe(0.2);
  });

  it('rejects bad values naming the field', () => {
    expect(() => attackConfig({ method: 'pgd', epsilon: 0 })).toThrow(/epsilon/);
    expect(() => attackConfig({ method: 'pgd', epsilon: 1.5 })).toThrow(/epsilon/);
    expect(() => attackConfig({ method: 'pgd', iterations: 0 })).toThrow(/iterations/);
    expect(() => attackConfig({ method: 'pgd', stepSize: 0 })).toThrow(/stepSize/);
    expect(() => attackConfig({ method: 'pgd', stepSize: -1 })).toThrow(/stepSize/);
    expect(() => attackConfig({ method: 'minmax', stepSize: 0.1 })).toThrow(/stepSize/);
    expect(() => attackConfig({ method: 'fgsm', stepSize: 0.1 })).toThrow(/stepSize/);
  });

  it('is refused by the pipeline run document (its arms need a similarity term)', () => {
    for (const method of ['pgd', 'fgsm']) {
      expect(() => parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', attack: { method } })).toThrow(/attack\.method: PGD and FGSM have no similarity term/);
    }
    expect(parseRunConfig({ dataset: 'mice-protein', model: 'dense-ae', attack: { method: 'penalty' } }).attack.method).toBe('penalty');
  });
});

describe('AttackService mapping (uae.v1.AttackConfig)', () => {
  it('maps ATTACK_METHOD_PGD / FGSM and step_size both ways', () => {
    const pgd = parseAttackConfig(v1.AttackConfig.fromPartial({ method: v1.AttackMethod.ATTACK_METHOD_PGD, epsilon: 0.1, iterations: 7, stepSize: 0.02 }), 'config');
    expect(pgd).toMatchObject({ method: 'pgd', epsilon: 0.1, iterations: 7, stepSize: 0.02 });
    expect(parseAttackConfig(attackConfigToProto(pgd), 'config')).toEqual(pgd);
    const fgsm = parseAttackConfig(v1.AttackConfig.fromPartial({ method: v1.AttackMethod.ATTACK_METHOD_FGSM, epsilon: 0.2 }), 'config');
    expect(fgsm).toMatchObject({ method: 'fgsm', epsilon: 0.2 });
    expect(fgsm.stepSize).toBeUndefined();
    expect(attackConfigToProto(fgsm).method).toBe(v1.AttackMethod.ATTACK_METHOD_FGSM);
  });

  it.each([
    [{ epsilon: 0 }, 'config.epsilon'],
    [{ epsilon: 1.5 }, 'config.epsilon'],
    [{ stepSize: 0 }, 'config.step_size'],
    [{ stepSize: -0.1 }, 'config.step_size'],
  ])('rejects %j naming %s (INVALID_ARGUMENT)', (over, field) => {
    const bad = v1.AttackConfig.fromPartial({ method: v1.AttackMethod.ATTACK_METHOD_PGD, epsilon: 0.1, ...over });
    expect(() => parseAttackConfig(bad, 'config')).toThrow(expect.objectContaining({ name: 'ProtoFieldError', field }));
  });
});

describe('known answers on a linear loss (∇f = w everywhere)', () => {
  it('PGD with enough steps ends at the corner x − ε·sign(w), from any random start', async () => {
    const epsilon = 0.1;
    const data = interior(3, 1);
    const res = await runAttack(linear, { data, inputShape: [d] }, lossAttack({ method: 'pgd', epsilon, iterations: 10 }), { chunkSize: 3 });
    res.forEach((r, i) => {
      for (let j = 0; j < d; j++) expect(Math.abs(r.xAdv[j]! - (data[i * d + j]! - epsilon * sign[j]!))).toBeLessThan(1e-6);
      expect(r.success).toBe(true);
      // The smallest f over the iterates is the corner's: −ε‖w‖₁.
      expect(r.f).toBeCloseTo(-epsilon * l1, 4);
      expect(r.similarity).toBeCloseTo(-d * epsilon * epsilon, 5); // L2 similarity −‖δ‖², cheap to report
      expect(r.iterations).toBe(10);
      expect(r.finalC).toBeNaN();
    });
  });

  it('FGSM is x − ε·sign(∇f) clipped to [0, 1], in one step', async () => {
    const epsilon = 0.1;
    // Elements near both bounds so the clip matters.
    const data = Float32Array.from({ length: 2 * d }, (_, i) => [0.02, 0.98, 0.5, 0.05][i % 4]!);
    const res = await runAttack(linear, { data, inputShape: [d] }, lossAttack({ method: 'fgsm', epsilon, iterations: 40 }), { chunkSize: 2 });
    let clipped = 0;
    res.forEach((r, i) => {
      expect(r.iterations).toBe(1);
      expect(r.bestIteration).toBe(1);
      for (let j = 0; j < d; j++) {
        const raw = data[i * d + j]! - epsilon * sign[j]!;
        if (raw < 0 || raw > 1) clipped++;
        expect(r.xAdv[j]).toBeCloseTo(Math.min(1, Math.max(0, raw)), 6);
      }
    });
    expect(clipped).toBeGreaterThan(0);
  });

  it('starts PGD from U(−ε, ε) of Rng(seed, sample id, STREAM.delta): one tiny step away from it', async () => {
    const epsilon = 0.2;
    const stepSize = 1e-4;
    const data = interior(2, 2);
    const ids = [7, 3];
    const cfg = lossAttack({ method: 'pgd', epsilon, iterations: 1, stepSize, seed: 9 });
    const res = await runAttack(linear, { data, inputShape: [d], sampleIds: ids }, cfg, { chunkSize: 2 });
    const delta0 = initialPerturbation({ init: 'uniform-eps', epsilon, seed: 9 }, [d], data, ids);
    res.forEach((r, i) => {
      for (let j = 0; j < d; j++) {
        const start = data[i * d + j]! + delta0[i * d + j]!;
        const expected = Math.min(data[i * d + j]! + epsilon, Math.max(data[i * d + j]! - epsilon, start - stepSize * sign[j]!));
        expect(Math.abs(r.xAdv[j]! - expected)).toBeLessThan(1e-6);
      }
    });
    // The start really spreads over the ball, not just near x.
    expect(Math.max(...Array.from(delta0, Math.abs))).toBeGreaterThan(epsilon / 2);
  });
});

describe('invariants', () => {
  const D = 16;
  const data = uniformSamples(4, D, 3);
  const recon = (extra: AttackConfigInput) => attackConfig({ criterion: { kind: 'reconstruction', kappa: 0.5 }, similarity: { kind: 'cosine' }, ...extra });

  it.each([
    ['pgd', { method: 'pgd' as const, iterations: 8, stepSize: 0.5 }],
    ['fgsm', { method: 'fgsm' as const }],
  ])('%s keeps ‖δ‖∞ ≤ ε and x′ in [0, 1], reaching the bound', async (_name, extra) => {
    const epsilon = 0.05;
    const res = await runAttack(tiny, { data, inputShape: [D] }, recon({ ...extra, epsilon }), { chunkSize: 4 });
    let atBound = 0;
    res.forEach((r, i) => {
      for (let j = 0; j < D; j++) {
        const v = r.xAdv[j]!;
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        const dist = Math.abs(v - data[i * D + j]!);
        expect(dist).toBeLessThanOrEqual(epsilon + 1e-6);
        if (Math.abs(dist - epsilon) < 1e-6) atBound++;
      }
    });
    expect(atBound).toBeGreaterThan(0);
  });

  it('gives the same sample ids the same results alone and in a chunk of 4', async () => {
    const ids = [21, 5, 13, 8];
    const cfg = recon({ method: 'pgd', epsilon: 0.1, iterations: 6, seed: 4 });
    const chunk = await runAttack(tiny, { data, inputShape: [D], sampleIds: ids }, cfg, { chunkSize: 4 });
    const alone = await runAttack(tiny, { data, inputShape: [D], sampleIds: ids }, cfg, { chunkSize: 1 });
    chunk.forEach((r, i) => {
      const s = alone[i]!;
      expect(r.sampleId).toBe(s.sampleId);
      expect(r.success).toBe(s.success);
      expect(r.bestIteration).toBe(s.bestIteration);
      expect(r.f).toBeCloseTo(s.f, 5);
      expect(r.similarity).toBeCloseTo(s.similarity, 5);
      expect(Array.from(r.xAdv).map((v) => v.toFixed(5))).toEqual(Array.from(s.xAdv).map((v) => v.toFixed(5)));
    });
  });

  it('is deterministic under a seed and the seed changes the random start', async () => {
    const cfg = (seed: number) => recon({ method: 'pgd', epsilon: 0.1, iterations: 3, stepSize: 0.001, seed });
    const a = await runAttack(tiny, { data, inputShape: [D] }, cfg(5), { chunkSize: 4 });
    const b = await runAttack(tiny, { data, inputShape: [D] }, cfg(5), { chunkSize: 4 });
    const c = await runAttack(tiny, { data, inputShape: [D] }, cfg(6), { chunkSize: 4 });
    a.forEach((r, i) => {
      expect(Array.from(r.xAdv)).toEqual(Array.from(b[i]!.xAdv));
      expect(Array.from(r.xAdv)).not.toEqual(Array.from(c[i]!.xAdv));
    });
  });

  it('gives worker threads (runAttackParallel) the in-process answers', async () => {
    const ae = createAutoencoder('dense-ae', [D], { seed: 2, hidden: 8 });
    try {
      const ids = [4, 9, 2];
      const cfg = recon({ method: 'pgd', epsilon: 0.1, iterations: 4, seed: 2 });
      const local = await runAttack(ae, { data: data.slice(0, 3 * D), inputShape: [D], sampleIds: ids }, cfg, { chunkSize: 3 });
      const parallel = await runAttackParallel({ kind: 'autoencoder', artifacts: await toArtifacts(ae) }, { data: data.slice(0, 3 * D), inputShape: [D], sampleIds: ids }, cfg, { workers: 2, chunkSize: 1 });
      expect(parallel.map((r) => r.sampleId)).toEqual(ids);
      parallel.forEach((r, i) => {
        expect(Array.from(r.xAdv).map((v) => v.toFixed(5))).toEqual(Array.from(local[i]!.xAdv).map((v) => v.toFixed(5)));
        expect(r.success).toBe(local[i]!.success);
      });
    } finally {
      ae.dispose();
    }
  }, 120_000);

  it('measures MINE similarity after the attack (mineMeasure), NaN with 0 measuring steps', async () => {
    const mine = { kind: 'mine' as const, mine: { sampler: 'random' as const, draws: 16, projectionDim: 8, hidden: 16, projection: 'fixed' as const } };
    const [measured] = await runAttack(tiny, { data: data.slice(0, D), inputShape: [D] }, attackConfig({ method: 'pgd', epsilon: 0.1, iterations: 2, similarity: mine, mineMeasure: { steps: 5 } }));
    expect(Number.isFinite(measured!.similarity)).toBe(true);
    const [none] = await runAttack(tiny, { data: data.slice(0, D), inputShape: [D] }, attackConfig({ method: 'pgd', epsilon: 0.1, iterations: 2, similarity: mine, mineMeasure: { steps: 0 } }));
    expect(none!.similarity).toBeNaN();
    expect(Array.from(none!.xAdv)).toEqual(Array.from(measured!.xAdv));
    expect(() => attackConfig({ method: 'minmax', mineMeasure: { steps: 5 } })).toThrow(/mineMeasure/);
  });

  it('keeps the tensor count flat over 50 steps and frees everything', async () => {
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    const x = tf.tensor2d(data, [4, D]);
    await signAttackChunk(tiny, { x, sampleIds: [0, 1, 2, 3] }, recon({ method: 'pgd', epsilon: 0.1, iterations: 50, trace: true }), {
      onIteration: () => counts.push(tf.memory().numTensors),
    });
    x.dispose();
    expect(counts).toHaveLength(50);
    expect(Math.max(...counts)).toBe(Math.min(...counts));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops between steps when cancelled, leaking nothing', async () => {
    const controller = new AbortController();
    const before = tf.memory().numTensors;
    const run = runAttack(tiny, { data, inputShape: [D] }, recon({ method: 'pgd', epsilon: 0.1, iterations: 100_000 }), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('deadline')), 200);
    await expect(run).rejects.toBeInstanceOf(AttackCancelledError);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('PGD on a dense AE trained on a Fashion-MNIST slice (reconstruction criterion)', () => {
  const FIXTURE = new URL('../fixtures/fashion-mnist-slice/train-images-idx3-ubyte.gz', import.meta.url).pathname;
  const N = 12;
  let ae: Autoencoder;
  let rows: Float32Array;
  beforeAll(async () => {
    const imgs = await loadIdxImages(FIXTURE, { limit: 300 });
    const x = tf.tensor2d(imgs.data, [300, 784]);
    ae = createAutoencoder('dense-ae', [784], { hidden: 32, seed: 1 });
    await trainAutoencoder(ae, x, { epochs: 3, batchSize: 50, seed: 1 });
    x.dispose();
    rows = imgs.data.slice(0, N * 784);
  }, 120_000);
  afterAll(() => ae?.dispose());

  it('succeeds more often at a larger ε (monotone ASR on a fixed seed)', async () => {
    // κ > 0: with κ = 0 any first-order step already gives f < 0 (f(x) = 0).
    const asr: number[] = [];
    for (const epsilon of [0.002, 0.05, 0.3]) {
      const res = await runAttack(ae, { data: rows, inputShape: [784] }, attackConfig({ method: 'pgd', epsilon, iterations: 10, seed: 1, similarity: { kind: 'l2' }, criterion: { kind: 'reconstruction', kappa: 1 } }), { chunkSize: N });
      asr.push(res.filter((r) => r.success).length / N);
      for (const r of res) if (r.success) expect(r.f).toBeLessThanOrEqual(0);
    }
    console.log(`PGD ASR at ε = 0.002, 0.05, 0.3: ${asr.join(', ')}`);
    expect(asr[1]).toBeGreaterThanOrEqual(asr[0]!);
    expect(asr[2]).toBeGreaterThanOrEqual(asr[1]!);
    expect(asr[2]).toBeGreaterThan(asr[0]!);
  }, 120_000);
});

describe('PGD with the cw criterion against an MLP classifier', () => {
  const D = 8;
  const classes = 3;
  const N = 60;
  let clf: Classifier;
  const labels = Int32Array.from({ length: N }, (_, i) => i % classes);
  // Three well separated clusters in [0, 1]^8.
  const noise = uniformSamples(N, D, 17);
  const data = Float32Array.from({ length: N * D }, (_, k) => {
    const i = Math.floor(k / D);
    const j = k % D;
    const centre = j % classes === labels[i]! ? 0.75 : 0.25;
    return Math.min(1, Math.max(0, centre + 0.2 * (noise[k]! - 0.5)));
  });
  beforeAll(async () => {
    clf = createClassifier([D], classes, { hidden: 16, seed: 2, learningRate: 1e-2 });
    const x = tf.tensor2d(data, [N, D]);
    await trainClassifier(clf, x, labels, { epochs: 60, batchSize: 20, seed: 2 });
    x.dispose();
  }, 120_000);
  afterAll(() => clf?.dispose());

  it('lowers accuracy, and success is exactly misclassification', async () => {
    const accuracyOf = async (rows: Float32Array) => {
      const x = tf.tensor2d(rows, [N, D]);
      try {
        return await clf.accuracy(x, labels);
      } finally {
        x.dispose();
      }
    };
    const clean = await accuracyOf(data);
    expect(clean).toBeGreaterThanOrEqual(0.9);
    const cfg = attackConfig({ method: 'pgd', epsilon: 0.3, iterations: 20, seed: 3, criterion: { kind: 'cw', kappa: 0, targeted: false }, similarity: { kind: 'l2' } });
    const res = await runAttack(clf, { data, inputShape: [D], labels }, cfg, { chunkSize: 20 });
    const adv = new Float32Array(N * D);
    res.forEach((r, i) => adv.set(r.xAdv, i * D));
    const attacked = await accuracyOf(adv);
    console.log(`MLP accuracy clean ${clean}, under PGD ε = 0.3: ${attacked}`);
    expect(attacked).toBeLessThan(clean - 0.3);
    const advT = tf.tensor2d(adv, [N, D]);
    const predicted = await clf.predict(advT);
    advT.dispose();
    const successes = res.filter((r) => r.success).length;
    // f ≤ 0 ⇔ some other logit ≥ the true one (ties aside): misclassified.
    expect(Math.abs(successes - predicted.filter((p, i) => p !== labels[i]).length)).toBeLessThanOrEqual(1);
    // FGSM (one step) lowers it too, by no more than PGD here.
    const fgsm = await runAttack(clf, { data, inputShape: [D], labels }, attackConfig({ ...cfg, method: 'fgsm', stepSize: undefined }), { chunkSize: 20 });
    const fgsmAdv = new Float32Array(N * D);
    fgsm.forEach((r, i) => fgsmAdv.set(r.xAdv, i * D));
    expect(await accuracyOf(fgsmAdv)).toBeLessThan(clean);
  }, 120_000);
});
