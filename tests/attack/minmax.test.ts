import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../libs/tensor/index.js';
import {
  AttackCancelledError,
  AttackInputError,
  attackConfig,
  glorotDeltaLimit,
  runAttack,
  type SampleResult,
} from '../../libs/attack/index.js';
import { tinyAutoencoder, uniformSamples } from './helpers.js';
// Runs on wasm, or on webgpu under UAE_BACKEND=webgpu.
import { onBackend, SKIP_REASON } from '../tensor/backend-under-test.js';

const d = 16;
let model: ReturnType<typeof tinyAutoencoder>;

beforeAll(() => {
  if (SKIP_REASON === undefined) model = tinyAutoencoder(d);
});
afterAll(() => model?.dispose());

const mineRandom = { kind: 'mine' as const, mine: { sampler: 'random' as const, draws: 24, projectionDim: 8, hidden: 16, projection: 'fixed' as const } };

/** Attacks n samples stacked in one chunk (the backend's default chunk may be 1). */
function attack(n: number, overrides: Parameters<typeof attackConfig>[0] = {}, sampleIds?: number[]) {
  const data = uniformSamples(n, d, 3);
  return runAttack(model, { data, inputShape: [d], sampleIds }, attackConfig({ similarity: mineRandom, iterations: 6, mineSteps: 2, trace: true, ...overrides }), { chunkSize: n });
}

describe('initial δ', () => {
  it('uses TF1 Glorot-uniform limits for a [1, ...shape] variable', () => {
    expect(glorotDeltaLimit([28, 28, 1])).toBeCloseTo(Math.sqrt(6 / (784 + 28)), 10); // ≈ 0.086
    expect(glorotDeltaLimit([32, 32, 3])).toBeCloseTo(Math.sqrt(6 / (1024 + 96)), 10); // ≈ 0.073
    expect(glorotDeltaLimit([784])).toBeCloseTo(Math.sqrt(6 / 785), 10); // ≈ 0.087
    expect(glorotDeltaLimit([77])).toBeCloseTo(Math.sqrt(6 / 78), 10); // ≈ 0.28
  });
});

describe.skipIf(SKIP_REASON !== undefined)(onBackend('MinMax invariants'), () => {
  it('updates c exactly by c ← max(0, (1 − β/(t+1)^¼)·c + β·relu(f))', async () => {
    const beta = 0.1;
    const [r] = await attack(1, { beta, c0: 0.5, kappa: undefined } as never);
    const { f, c } = r!.trace!;
    let expected = Math.fround(0.5);
    for (let t = 0; t < c.length; t++) {
      expected = Math.fround(Math.max(0, (1 - beta / Math.pow(t + 1, 0.25)) * expected + beta * Math.max(0, f[t]!)));
      expect(c[t]).toBe(expected);
    }
  });

  it('keeps ‖δ‖∞ ≤ ε and x′ in [0, 1]', async () => {
    const epsilon = 0.05;
    const data = uniformSamples(3, d, 3);
    const res = await runAttack(model, { data, inputShape: [d] }, attackConfig({ similarity: { kind: 'l2' }, iterations: 10, alpha: 5, epsilon }));
    res.forEach((r, i) => {
      for (let j = 0; j < d; j++) {
        const v = r.xAdv[j]!;
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        expect(Math.abs(v - data[i * d + j]!)).toBeLessThanOrEqual(epsilon + 1e-6);
      }
    });
    // The large step must actually reach the bound somewhere, or the test proves nothing.
    const reached = res.some((r, i) => r.xAdv.some((v, j) => Math.abs(Math.abs(v - data[i * d + j]!) - epsilon) < 1e-6));
    expect(reached).toBe(true);
  });

  it('returns the least similar successful iterate with positive MI (unsupervised)', async () => {
    const res = await attack(3, { iterations: 8 });
    for (const r of res) checkBest(r, (s) => s > 0, (a, b) => a < b);
  });

  it('falls back to the iterate with the smallest relu(f) when nothing succeeds', async () => {
    // κ large: f = ‖x − AE(x′)‖² − ‖x − AE(x)‖² + κ cannot reach 0.
    const [r] = await attack(1, { criterion: { kind: 'reconstruction', kappa: 1e6 } });
    expect(r!.success).toBe(false);
    const fs = r!.trace!.f;
    expect(r!.f).toBeLessThanOrEqual(Math.min(...fs) + 1e-9);
  });

  it('gives B samples in one call the same results as B single calls', async () => {
    const batch = await attack(3);
    const singles: SampleResult[] = [];
    const data = uniformSamples(3, d, 3);
    for (let i = 0; i < 3; i++) {
      const [r] = await runAttack(
        model,
        { data: data.slice(i * d, (i + 1) * d), inputShape: [d], sampleIds: [i] },
        attackConfig({ similarity: mineRandom, iterations: 6, mineSteps: 2, trace: true }),
      );
      singles.push(r!);
    }
    batch.forEach((b, i) => {
      expect(b.sampleId).toBe(singles[i]!.sampleId);
      expect(b.success).toBe(singles[i]!.success);
      if (Number.isNaN(b.similarity)) expect(singles[i]!.similarity).toBeNaN();
      else expect(b.similarity).toBeCloseTo(singles[i]!.similarity, 4);
      expect(Array.from(b.xAdv).map((v) => v.toFixed(5))).toEqual(Array.from(singles[i]!.xAdv).map((v) => v.toFixed(5)));
    });
  });

  it('is deterministic under a seed and changes with it', async () => {
    const a = await attack(2, { seed: 5 });
    const b = await attack(2, { seed: 5 });
    const c = await attack(2, { seed: 6 });
    expect(Array.from(a[0]!.xAdv)).toEqual(Array.from(b[0]!.xAdv));
    expect(Array.from(a[0]!.xAdv)).not.toEqual(Array.from(c[0]!.xAdv));
  });

  it('keeps the tensor count flat over 100 iterations', async () => {
    const counts: number[] = [];
    const data = uniformSamples(2, d, 3);
    const before = tf.memory().numTensors;
    const { attackChunk } = await import('../../libs/attack/index.js');
    const x = tf.tensor2d(data, [2, d]);
    await attackChunk(model, { x, sampleIds: [0, 1] }, attackConfig({ similarity: mineRandom, iterations: 100, mineSteps: 1 }), {
      onIteration: () => counts.push(tf.memory().numTensors),
    });
    x.dispose();
    expect(counts).toHaveLength(100);
    expect(Math.max(...counts.slice(1))).toBe(Math.min(...counts.slice(1)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops between iterations when cancelled, leaking nothing', async () => {
    const controller = new AbortController();
    const before = tf.memory().numTensors;
    const data = uniformSamples(2, d, 3);
    const run = runAttack(model, { data, inputShape: [d] }, attackConfig({ similarity: mineRandom, iterations: 10_000, mineSteps: 1 }), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('deadline')), 200);
    await expect(run).rejects.toBeInstanceOf(AttackCancelledError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reports progress every few hundred ms as iterations advance, ending at 1', async () => {
    const data = uniformSamples(2, d, 3);
    const seen: { fraction: number; finished: number }[] = [];
    await runAttack(model, { data, inputShape: [d] }, attackConfig({ similarity: mineRandom, iterations: 150, mineSteps: 2 }), {
      chunkSize: 1,
      onProgress: (p, finished) => seen.push({ fraction: p.fraction, finished: finished.length }),
    });
    const fractions = seen.map((s) => s.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(seen.filter((s) => s.finished > 0)).toHaveLength(2); // one per finished chunk
    expect(seen.some((s) => s.finished === 0 && s.fraction > 0 && s.fraction < 1)).toBe(true);
  });

  it('rejects bad input naming the field', async () => {
    const cfg = attackConfig({ similarity: { kind: 'l2' }, iterations: 1 });
    const bad = uniformSamples(2, d, 1);
    bad[5] = Number.NaN;
    await expect(runAttack(model, { data: bad, inputShape: [d] }, cfg)).rejects.toThrow(/data: sample 0 element 5/);
    await expect(runAttack(model, { data: uniformSamples(2, d, 1), inputShape: [d + 1] }, cfg)).rejects.toBeInstanceOf(AttackInputError);
    await expect(runAttack(model, { data: uniformSamples(2, d, 1), inputShape: [d], sampleIds: [1, 1] }, cfg)).rejects.toThrow(/sampleIds/);
    expect(() => attackConfig({ iterations: 0 })).toThrow(/iterations/);
  });
});

describe.skipIf(SKIP_REASON !== undefined)(onBackend('penalty baseline'), () => {
  it('restarts δ each search step and moves c by binary search', async () => {
    const [r] = await attack(1, { method: 'penalty', iterations: 8, searchSteps: 4, c0: 1 });
    const c = r!.trace!.c;
    // c is constant within a search step of 2 iterations and changes only at step ends.
    expect(c[0]).toBe(1);
    for (const step of [0, 1, 2]) {
      const next = c[2 * step + 1]!;
      expect([next / 10, next * 2].some((v) => Math.abs(v - c[2 * step]!) < 1e-6) || next === c[2 * step]).toBe(true);
    }
  });
});

function checkBest(r: SampleResult, eligible: (s: number) => boolean, better: (a: number, b: number) => boolean) {
  const { similarity, f } = r.trace!;
  const candidates = similarity.map((s, i) => ({ s, f: f[i]!, it: i + 1 })).filter((c) => c.f <= 0 && eligible(c.s));
  if (candidates.length === 0) {
    expect(r.success).toBe(false);
    return;
  }
  const best = candidates.reduce((a, b) => (better(b.s, a.s) ? b : a));
  expect(r.success).toBe(true);
  expect(r.bestIteration).toBe(best.it);
  expect(r.similarity).toBeCloseTo(best.s, 6);
  expect(r.f).toBeCloseTo(best.f, 6);
}
