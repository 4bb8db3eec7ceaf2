/**
 * The fused MINE dense-layer step (UaeMineDenseStep, libs/tensor/simd/mine_dense.wat)
 * against the unfused path (autograd + LeanAdam). Only the summation order of
 * the W₁ gradient and of the gradient below W₁ may differ, so the tolerance is
 * float rounding: relative error max|a−b| / max(1e-6, max|b|) ≤ 1e-5 on every
 * parameter and |Δ bound| ≤ 1e-5 (measured: bit-identical on these shapes).
 * The kernel alone is checked against a float64 JS reference at 1e-4.
 * Performance is measured by the bench, not here.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fusedDenseStep, fusedDenseStepAvailable, initBackend, setFusedDenseStep, tf } from '../../libs/tensor/index.js';
import { LeanAdam } from '../../libs/tensor/adam.js';
import { Rng } from '../../libs/tensor/rng.js';
import { ConvSampler, PerSampleMine, mineConfig, type MineConfig } from '../../libs/mine/index.js';
import { createAutoencoder } from '../../libs/models/index.js';
import { attackConfig, runAttack } from '../../libs/attack/index.js';

const TOL = 1e-5;

beforeAll(async () => {
  await initBackend('wasm');
});
afterEach(() => setFusedDenseStep(true));

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / Math.max(1e-6, m);
}

function backendDataIds(): number {
  return (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
}

/** A fixed random 3×3 conv + relu as the sampler's "first layer". */
function firstConvOf(filters: number, seed: number): { fn: (x: tf.Tensor4D) => tf.Tensor4D; dispose(): void } {
  const w = tf.tensor4d(new Rng(seed, 1).fillNormal(new Float32Array(9 * filters), 0, 0.5), [3, 3, 1, filters]);
  return { fn: (x) => tf.relu(tf.conv2d(x, w, 1, 'same')) as tf.Tensor4D, dispose: () => w.dispose() };
}

/** Trains per-sample MINE for `steps` steps; returns the bounds and the final parameters. */
function train(fused: boolean, side: number, filters: number, cfg: MineConfig, steps: number) {
  setFusedDenseStep(fused);
  const conv = firstConvOf(filters, 3);
  const keys = [{ seed: 0, sampleId: 0 }, { seed: 0, sampleId: 1 }];
  const x = tf.tensor4d(new Rng(5, 1).fillUniform(new Float32Array(2 * side * side), 0, 1), [2, side, side, 1]);
  const xa = tf.tensor4d(new Rng(6, 1).fillUniform(new Float32Array(2 * side * side), 0, 1), [2, side, side, 1]);
  const mine = new PerSampleMine(keys, new ConvSampler(conv.fn, [side, side, 1]), cfg);
  const usedFused = mine.net.canFuseTraining();
  const bounds: number[] = [];
  for (let s = 0; s < steps; s++) {
    const bound = mine.fit(x, xa, 1)!;
    bounds.push(...bound.dataSync());
    bound.dispose();
  }
  const params = mine.net.params.map((p) => p.dataSync().slice());
  mine.dispose();
  conv.dispose();
  tf.dispose([x, xa]);
  return { usedFused, bounds, params };
}

describe('fused MINE dense-layer step', () => {
  it('matches a plain JS reference: Adam on W with g = dh·z, dz = dhᵀ·W (old W), several column blocks', () => {
    // n = 16 gives a 128-column block; C = 260 = 2 blocks + a 4-column remainder.
    const [B, R, C, n] = [2, 8, 260, 16];
    const rng = new Rng(9, 2);
    const arr = (k: number, s: number) => rng.fillNormal(new Float32Array(k), 0, s);
    const w = arr(B * R * C, 0.1), m = arr(B * R * C, 0.01), v = arr(B * R * C, 0.01).map(Math.abs);
    const z = arr(B * n * C, 1), dh = arr(B * R * n, 1);
    const attrs = { lrT: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, direction: -1 };
    expect(fusedDenseStepAvailable(R, C)).toBe(true);
    const t = [tf.tensor3d(w, [B, R, C]), tf.tensor3d(m, [B, R, C]), tf.tensor3d(v, [B, R, C]), tf.tensor3d(z, [B, n, C]), tf.tensor3d(dh, [B, R, n])];
    const out = fusedDenseStep(t[0]!, t[1]!, t[2]!, t[3]!, t[4]!, attrs);
    const [wo, mo, vo, dz] = out.map((o) => o.dataSync());
    const ew = new Float32Array(B * R * C), em = new Float32Array(B * R * C), ev = new Float32Array(B * R * C), edz = new Float32Array(B * n * C);
    for (let b = 0; b < B; b++) {
      for (let r = 0; r < R; r++) {
        for (let c = 0; c < C; c++) {
          const i = (b * R + r) * C + c;
          let g = 0;
          for (let j = 0; j < n; j++) {
            g += dh[(b * R + r) * n + j]! * z[(b * n + j) * C + c]!;
            edz[(b * n + j) * C + c] += dh[(b * R + r) * n + j]! * w[i]!;
          }
          em[i] = 0.9 * m[i]! + 0.1 * g;
          ev[i] = 0.999 * v[i]! + 0.001 * g * g;
          ew[i] = w[i]! + 1e-3 * em[i]! / (Math.sqrt(ev[i]!) + 1e-8);
        }
      }
    }
    // float32 kernel against a float64 reference: the kernel tests' 1e-4 (docs/kernels.md).
    for (const [got, want] of [[wo, ew], [mo, em], [vo, ev], [dz, edz]] as const) expect(relErr(got!, want)).toBeLessThan(1e-4);
    tf.dispose([...t, ...out]);
  });

  it('trains like the unfused path on small shapes (10 steps, 2 samples)', () => {
    const cfg = mineConfig({ sampler: 'conv', hidden: 8, convFilters: 4, learningRate: 1e-3 });
    const a = train(false, 8, 4, cfg, 10);
    const b = train(true, 8, 4, cfg, 10);
    expect(a.usedFused).toBe(false);
    expect(b.usedFused).toBe(true);
    for (let i = 0; i < a.bounds.length; i++) expect(Math.abs(a.bounds[i]! - b.bounds[i]!)).toBeLessThanOrEqual(TOL);
    a.params.forEach((p, i) => expect(relErr(b.params[i]!, p)).toBeLessThanOrEqual(TOL));
  });

  it('trains like the unfused path on the conv-sampler shapes (28×28, 16 draws, 11664→512; 3 steps)', () => {
    const cfg = mineConfig({ sampler: 'conv' });
    const a = train(false, 28, 16, cfg, 3);
    const b = train(true, 28, 16, cfg, 3);
    expect(b.usedFused).toBe(true);
    expect(b.params[2]!.length).toBe(2 * 512 * 11664); // 2 samples
    for (let i = 0; i < a.bounds.length; i++) expect(Math.abs(a.bounds[i]! - b.bounds[i]!)).toBeLessThanOrEqual(TOL);
    a.params.forEach((p, i) => expect(relErr(b.params[i]!, p)).toBeLessThanOrEqual(TOL));
  }, 120_000);

  it('gives the same attack results on a conv AE (T = 2, 2 MINE steps)', async () => {
    const ae = createAutoencoder('conv-ae', [28, 28, 1], { seed: 1 });
    const data = new Rng(11, 1).fillUniform(new Float32Array(784), 0, 1);
    const cfg = attackConfig({ iterations: 2, mineSteps: 2, trace: true });
    setFusedDenseStep(false);
    const [a] = await runAttack(ae, { data, inputShape: [28, 28, 1] }, cfg);
    setFusedDenseStep(true);
    const [b] = await runAttack(ae, { data, inputShape: [28, 28, 1] }, cfg);
    ae.dispose();
    expect(relErr(b!.xAdv, a!.xAdv)).toBeLessThanOrEqual(TOL);
    expect(Math.abs(b!.similarity - a!.similarity)).toBeLessThanOrEqual(TOL);
    expect(b!.success).toBe(a!.success);
    a!.trace!.similarity.forEach((s, i) => expect(Math.abs(b!.trace!.similarity[i]! - s)).toBeLessThanOrEqual(TOL));
  }, 120_000);

  it('keeps tensor and buffer counts flat over 1,000 fused steps', () => {
    const cfg = mineConfig({ sampler: 'conv', hidden: 8, convFilters: 4 });
    const conv = firstConvOf(4, 3);
    const keys = [{ seed: 0, sampleId: 0 }];
    const x = tf.tensor4d(new Rng(5, 1).fillUniform(new Float32Array(64), 0, 1), [1, 8, 8, 1]);
    const xa = tf.tensor4d(new Rng(6, 1).fillUniform(new Float32Array(64), 0, 1), [1, 8, 8, 1]);
    const mine = new PerSampleMine(keys, new ConvSampler(conv.fn, [8, 8, 1]), cfg);
    expect(mine.net.canFuseTraining()).toBe(true);
    mine.fit(x, xa, 1)!.dispose();
    const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, ids: backendDataIds() };
    for (let s = 0; s < 100; s++) mine.fit(x, xa, 10)!.dispose();
    expect({ tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, ids: backendDataIds() }).toEqual(before);
    mine.dispose();
    conv.dispose();
    tf.dispose([x, xa]);
  }, 120_000);

  it('updates in place only buffers nothing else shares', () => {
    const attrs = { lrT: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, direction: 1 };
    const mk = () => [tf.fill([1, 4, 8], 0.5), tf.zeros([1, 4, 8]), tf.zeros([1, 4, 8]), tf.ones([1, 2, 8]), tf.ones([1, 4, 2])];
    const offset = (t: tf.Tensor) => (tf.backend() as unknown as { dataIdMap: { get(id: unknown): { memoryOffset: number } } }).dataIdMap.get(t.dataId).memoryOffset;
    // Sole owners: the outputs take the inputs' buffers over.
    const a = mk();
    const outA = fusedDenseStep(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, attrs);
    expect(outA.slice(0, 3).map(offset)).toEqual(a.slice(0, 3).map(offset));
    // A clone shares w's buffer: w′ gets a fresh one and the clone keeps the old values.
    const b = mk();
    const shared = tf.clone(b[0]!);
    const outB = fusedDenseStep(b[0]!, b[1]!, b[2]!, b[3]!, b[4]!, attrs);
    expect(offset(outB[0]!)).not.toBe(offset(b[0]!));
    expect(Array.from(shared.dataSync()).every((x) => x === 0.5)).toBe(true);
    const want = 0.5 - (1e-2 * 0.2) / Math.sqrt(0.004); // g = 2: m′ = 0.2, v′ = 0.004
    expect(Array.from(outB[0]!.dataSync()).every((x) => Math.abs(x - want) < 1e-5)).toBe(true);
    tf.dispose([...a, ...outA, ...b, ...outB, shared]);
  });

  it('leaves the Adam state usable by the unfused path (LeanAdam.updateFused)', () => {
    const w = tf.ones([1, 4, 4]);
    const adam = new LeanAdam([w], { learningRate: 0.1 });
    const attrs = adam.beginStep();
    const z = tf.ones([1, 2, 4]);
    const dh = tf.ones([1, 4, 2]);
    let dz: tf.Tensor | undefined;
    const w2 = adam.updateFused(0, (m, v) => {
      const out = fusedDenseStep(w, m, v, z, dh, attrs);
      dz = out[3];
      return out.slice(0, 3);
    });
    // g = 2 everywhere; first Adam step moves by lr·(0.1·2)/(√(0.001·4)/… ) ≈ lr (bias-corrected lrT).
    expect(Array.from(w2.dataSync()).every((x) => Math.abs(x - 0.9) < 1e-4)).toBe(true);
    expect(Array.from(dz!.dataSync())).toEqual(new Array(8).fill(4));
    const [w3] = adam.step([w2], [tf.onesLike(w2)]);
    expect(adam.steps).toBe(2);
    tf.dispose([w, z, dh, dz!, w3!]);
    adam.dispose();
  });
});
