/** Tiny labelled images for the supervised study: 16×16×1, two classes (bright left half or bright right half, plus noise). */
import { Rng } from '../../libs/tensor/rng.js';
import { supervisedConfig, type SupervisedConfig, type SupervisedConfigInput, type SupervisedData } from '../../libs/supervised/index.js';

export const SIDE = 16;

export function halves(n: number, seed: number): { x: Float32Array; labels: Int32Array; n: number } {
  const rng = new Rng(seed);
  const d = SIDE * SIDE;
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    labels[i] = label;
    for (let r = 0; r < SIDE; r++) {
      for (let c = 0; c < SIDE; c++) {
        const bright = (c < SIDE / 2) === (label === 0);
        x[i * d + r * SIDE + c] = Math.min(1, Math.max(0, (bright ? 0.75 : 0.2) + 0.2 * (rng.uniform() - 0.5)));
      }
    }
  }
  return { x, labels, n };
}

export function tinyData(train = 24, test = 12): SupervisedData {
  return { name: 'halves', inputShape: [SIDE, SIDE, 1], classes: 2, train: halves(train, 1), test: halves(test, 2) };
}

/** The smallest budgets that still run every stage. */
export function tinyConfig(over: Partial<SupervisedConfigInput> = {}): SupervisedConfig {
  return supervisedConfig({
    dataset: 'halves',
    model: 'mlp-classifier',
    hidden: 8,
    epochs: 3,
    batchSize: 8,
    learningRate: 0.01,
    advEpsilon: 0.1,
    advSteps: 2,
    uaeSamples: 4,
    aeEpochs: 1,
    uaeIterations: 2,
    uaeMineSteps: 1,
    uaeSampler: 'random',
    samples: 4,
    iterations: 4,
    searchSteps: 2,
    mineDraws: 8,
    gridSamples: 2,
    gridEpsilons: [0.1, 0.3],
    epsilons: [0, 0.1, 0.5],
    pgdSteps: 5,
    workers: 1,
    ...over,
  });
}
