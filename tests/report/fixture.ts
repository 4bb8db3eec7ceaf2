/** A ReportInput resembling a Fashion-MNIST run (real images from the test slice, synthetic metrics). */
import { loadIdxImages } from '../../libs/data/index.js';
import type { EpochReport } from '../../libs/models/index.js';
import type { ReportInput, ReportTrace } from '../../libs/report/index.js';

const SLICE = new URL('../fixtures/fashion-mnist-slice/train-images-idx3-ubyte.gz', import.meta.url).pathname;

/** Deterministic uniform numbers in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function history(epochs: number, start: number, seed: number): EpochReport[] {
  const r = rng(seed);
  return Array.from({ length: epochs }, (_, epoch) => ({
    epoch,
    loss: start * Math.exp(-epoch / 6) + 0.01 + 0.001 * r(),
    valLoss: start * Math.exp(-epoch / 6) + 0.012 + 0.001 * r(),
    samplesPerSec: 900 + 50 * r(),
  }));
}

export function traces(ids: number[], iterations: number, seed: number): ReportTrace[] {
  const r = rng(seed);
  return ids.map((sampleId) => {
    const similarity: number[] = [];
    const f: number[] = [];
    const c: number[] = [];
    let cv = 1;
    for (let t = 0; t < iterations; t++) {
      similarity.push(2.2 - 1.2 * (1 - Math.exp(-t / 10)) + 0.1 * r());
      const fv = 0.02 - 0.001 * t * (0.5 + r()) ;
      f.push(fv);
      cv = fv > 0 ? cv * 2 : cv / 2;
      c.push(cv);
    }
    return { sampleId, trace: { similarity, f, c } };
  });
}

/** Perturbs the successful rows of x (n × d) by ±amplitude in a patch; failures stay equal. */
export function perturb(x: Float32Array, d: number, success: boolean[], amplitude: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = x.slice();
  success.forEach((ok, row) => {
    if (!ok) return;
    for (let p = 0; p < d; p++) {
      const v = out[row * d + p]! + (r() - 0.5) * 2 * amplitude * (p % 28 > 7 && p % 28 < 21 ? 1 : 0.25);
      out[row * d + p] = Math.min(1, Math.max(0, v));
    }
  });
  return out;
}

export async function fashionInput(rows = 8): Promise<ReportInput> {
  const img = await loadIdxImages(SLICE, { limit: rows });
  const d = 28 * 28;
  const ids = Array.from({ length: rows }, (_, i) => 3 * i + 1);
  const mineOk = ids.map((_, i) => i % 4 !== 3);
  const l2Ok = ids.map((_, i) => i % 3 !== 2);
  return {
    dataset: 'fashion-mnist',
    model: 'conv-ae',
    backend: 'wasm',
    seed: 7,
    train_samples: 1000,
    test_samples: 500,
    config: { command: 'pipeline', model: 'conv-ae', methods: ['mine', 'l2', 'ga-0.1', 'repeat', 'none'], epochs: 20, attack: { iterations: 40, mineSteps: 20 } },
    methods: {
      original: { test_recon_error: 0.0123, accuracy: 0.8125 },
      mine: { test_recon_error: 0.011, improvement: (0.0123 - 0.011) / 0.0123, asr: 0.9375, accuracy: 0.8203, seconds_per_sample: 0.4213, mi: { mean: 1.1, median: 1.05, min: 0.61, max: 2.03, count: 15 } },
      l2: { test_recon_error: 0.0115, improvement: (0.0123 - 0.0115) / 0.0123, asr: 0.6667, accuracy: 0.8164, seconds_per_sample: 0.1234 },
      'ga-0.1': { test_recon_error: 0.0131, improvement: (0.0123 - 0.0131) / 0.0123, accuracy: 0.8047, seconds_per_sample: 0.000012 },
      repeat: { test_recon_error: 0.0119, improvement: (0.0123 - 0.0119) / 0.0123, seconds_per_sample: 0.0000021 },
      none: { test_recon_error: 0.0124, improvement: (0.0123 - 0.0124) / 0.0123, seconds_per_sample: 0 },
    },
    history: {
      original: history(20, 0.06, 1),
      mine: history(20, 0.055, 2),
      l2: history(20, 0.056, 3),
      'ga-0.1': history(20, 0.058, 4),
      repeat: history(20, 0.057, 5),
      none: history(20, 0.06, 6),
    },
    images: {
      inputShape: [28, 28, 1],
      originals: img.data.subarray(0, rows * d),
      perMethod: {
        mine: { x: perturb(img.data.subarray(0, rows * d), d, mineOk, 0.15, 11), success: mineOk },
        l2: { x: perturb(img.data.subarray(0, rows * d), d, l2Ok, 0.08, 12), success: l2Ok },
      },
      ids,
    },
    traces: { mine: traces(ids.slice(0, 6), 40, 21), l2: traces(ids.slice(0, 4), 40, 22) },
  };
}
