import { describe, expect, it } from 'vitest';
import { ExtraTreesClassifier, extraTreesAccuracy } from '../../libs/eval/extra-trees.js';

/** Small deterministic generator for test data (independent of the module's PRNG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function gaussian(rnd: () => number): number {
  const u = Math.max(rnd(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
}

interface Split {
  x: Float32Array;
  labels: Int32Array;
}

/** k well-separated isotropic blobs in d dimensions. */
function blobs(n: number, d: number, k: number, seed: number): Split {
  const rnd = lcg(seed);
  const centers = Array.from({ length: k }, (_, c) => Array.from({ length: d }, (_, f) => (f === c % d ? 10 : 0) + 3 * c));
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    labels[i] = c;
    for (let f = 0; f < d; f++) x[i * d + f] = centers[c]![f]! + gaussian(rnd);
  }
  return { x, labels };
}

/** XOR of the signs of two uniform coordinates in (−1, 1), away from the axes. */
function xor(n: number, seed: number): Split {
  const rnd = lcg(seed);
  const x = new Float32Array(n * 2);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const a = (0.05 + 0.95 * rnd()) * (rnd() < 0.5 ? -1 : 1);
    const b = (0.05 + 0.95 * rnd()) * (rnd() < 0.5 ? -1 : 1);
    x[2 * i] = a;
    x[2 * i + 1] = b;
    labels[i] = a > 0 !== b > 0 ? 1 : 0;
  }
  return { x, labels };
}

function accuracy(pred: Int32Array, labels: Int32Array): number {
  let c = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) c++;
  return c / labels.length;
}

describe('ExtraTreesClassifier', () => {
  it('separates Gaussian blobs (3 classes, d = 5) on a held-out split', () => {
    const train = blobs(300, 5, 3, 1);
    const test = blobs(300, 5, 3, 2);
    expect(extraTreesAccuracy(train, test, 5)).toBeGreaterThanOrEqual(0.95);
  });

  it('fits distinct training points exactly (fully grown, no bootstrap)', () => {
    const rnd = lcg(7);
    const n = 400;
    const d = 6;
    const x = Float32Array.from({ length: n * d }, () => rnd());
    const labels = Int32Array.from({ length: n }, () => Math.floor(rnd() * 4)); // pure noise labels
    const model = new ExtraTreesClassifier({ nTrees: 10, seed: 3 }).fit(x, n, d, labels);
    expect(model.classes).toBe(4);
    expect(accuracy(model.predict(x, n), labels)).toBe(1);
  });

  it('learns XOR, which needs depth > 1', () => {
    const train = xor(1000, 11);
    const test = xor(500, 12);
    expect(extraTreesAccuracy(train, test, 2)).toBeGreaterThanOrEqual(0.95);
    // A single split cannot do it.
    expect(extraTreesAccuracy(train, test, 2, { maxDepth: 1 })).toBeLessThan(0.8);
  });

  it('is deterministic under the seed and differs across seeds', () => {
    const { x, labels } = blobs(200, 5, 3, 5);
    const probe = blobs(100, 5, 3, 6).x;
    const p = (seed: number) => new ExtraTreesClassifier({ nTrees: 5, seed }).fit(x, 200, 5, labels).predictProba(probe, 100);
    expect(p(42)).toEqual(p(42));
    expect(p(42)).not.toEqual(p(43));
  });

  it('never splits on constant features', () => {
    // Only feature 3 varies (and carries the label); the other nine are constant.
    const n = 200;
    const d = 10;
    const x = new Float32Array(n * d).fill(0.5);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      x[i * d + 3] = i / n;
      labels[i] = Math.floor((3 * i) / n);
    }
    // max_features = floor(sqrt(10)) = 3: drawing among all features would often find none informative.
    const model = new ExtraTreesClassifier({ nTrees: 5, seed: 1 }).fit(x, n, d, labels);
    expect(accuracy(model.predict(x, n), labels)).toBe(1);
    const one = new ExtraTreesClassifier({ nTrees: 1, seed: 9, maxFeatures: 1 }).fit(x, n, d, labels);
    expect(accuracy(one.predict(x, n), labels)).toBe(1);
  });

  it('makes a leaf of duplicate points with mixed labels', () => {
    const x = new Float32Array([1, 1, 1, 1, 5, 5, 7, 7]);
    const labels = new Int32Array([0, 1, 0, 0]);
    const model = new ExtraTreesClassifier({ nTrees: 3 }).fit(x, 4, 2, labels);
    const p = model.predictProba(new Float32Array([1, 1, 5, 5]), 2);
    expect(Array.from(p)).toEqual([0.5, 0.5, 1, 0]);
    // Tie at 0.5/0.5 goes to the lowest class.
    expect(Array.from(model.predict(new Float32Array([1, 1]), 1))).toEqual([0]);
  });

  it('returns probability rows that sum to 1', () => {
    const train = blobs(150, 4, 5, 21);
    const test = blobs(60, 4, 5, 22);
    const model = new ExtraTreesClassifier({ nTrees: 7, maxDepth: 3, seed: 2 }).fit(train.x, 150, 4, train.labels);
    const p = model.predictProba(test.x, 60);
    expect(p.length).toBe(60 * 5);
    for (let i = 0; i < 60; i++) {
      let s = 0;
      for (let c = 0; c < 5; c++) {
        expect(p[i * 5 + c]).toBeGreaterThanOrEqual(0);
        s += p[i * 5 + c]!;
      }
      expect(s).toBeCloseTo(1, 5);
    }
  });

  it('validates options and inputs', () => {
    expect(() => new ExtraTreesClassifier({ nTrees: 0 })).toThrow(/nTrees/);
    expect(() => new ExtraTreesClassifier({ nTrees: 2.5 })).toThrow(/nTrees/);
    expect(() => new ExtraTreesClassifier({ maxFeatures: 0 })).toThrow(/maxFeatures/);
    expect(() => new ExtraTreesClassifier({ minSamplesSplit: 1 })).toThrow(/minSamplesSplit/);
    expect(() => new ExtraTreesClassifier({ maxDepth: 0 })).toThrow(/maxDepth/);
    expect(() => new ExtraTreesClassifier({ seed: 0.5 })).toThrow(/seed/);

    const m = new ExtraTreesClassifier({ nTrees: 2 });
    const x = new Float32Array([0, 1, 2, 3, 4, 5]);
    expect(() => m.predict(x, 3)).toThrow(/fit\(\)/);
    expect(() => m.fit(x, 3, 2, new Int32Array([0, 1]))).toThrow(/labels has length 2/);
    expect(() => m.fit(x, 4, 2, new Int32Array([0, 1, 0, 1]))).toThrow(/x has length 6/);
    expect(() => m.fit(x, 0, 2, new Int32Array([]))).toThrow(/row count n/);
    expect(() => m.fit(x, 3, 0, new Int32Array([0, 1, 0]))).toThrow(/\bd\b/);
    expect(() => m.fit(x, 3, 2, new Int32Array([0, -1, 0]))).toThrow(/labels\[1\]/);
    expect(() => m.fit(new Float32Array([0, 1, Number.NaN, 3, 4, 5]), 3, 2, new Int32Array([0, 1, 0]))).toThrow(/x\[2\]/);
    expect(() => new ExtraTreesClassifier({ maxFeatures: 3 }).fit(x, 3, 2, new Int32Array([0, 1, 0]))).toThrow(/maxFeatures/);
    expect(() => m.fit(x, 3, 2, [0, 1, 0] as unknown as Int32Array)).toThrow(/Int32Array/);

    m.fit(x, 3, 2, new Int32Array([0, 1, 0]));
    expect(() => m.predict(new Float32Array(5), 2)).toThrow(/x has length 5/);
    expect(() => extraTreesAccuracy({ x, labels: new Int32Array([0, 1, 0]) }, { x: new Float32Array(0), labels: new Int32Array(0) }, 2)).toThrow(/test/);
  });
});
