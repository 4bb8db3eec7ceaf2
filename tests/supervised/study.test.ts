/**
 * The supervised study on tiny generated images: every stage runs, the
 * metrics have every section with values in range, ε = 0 of a curve is the
 * classifier's error on the chosen samples (0 for Std: they are the ones it
 * classifies correctly), a store keeps the classifiers for a resumed run, and
 * bad configuration names its field.
 */
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { initBackend, tf } from '../../libs/tensor/index.js';
import type { Classifier } from '../../libs/models/index.js';
import {
  CLASSIFIER_NAMES,
  miInterval,
  predictAll,
  runSupervisedStudy,
  SUPERVISED_DEFAULTS,
  SupervisedConfigError,
  SupervisedDataError,
  supervisedConfig,
  type ClassifierName,
  type ClassifierStore,
  type SupervisedOutcome,
  type StageRecord,
  type UaeSet,
} from '../../libs/supervised/index.js';
import type { SampleResult } from '../../libs/attack/index.js';
import { tinyConfig, tinyData } from './fixture.js';

beforeAll(async () => {
  await initBackend();
});

const inUnit = (v: number) => {
  expect(v).toBeGreaterThanOrEqual(0);
  expect(v).toBeLessThanOrEqual(1);
};

/** An in-memory store that keeps the trained weights (as cloned models would be kept on disk). */
type MemoryStore = ClassifierStore & { saved: ClassifierName[]; loaded: ClassifierName[]; uaes?: UaeSet; stages: Map<string, StageRecord>; tensors(): number };

function memoryStore(): MemoryStore {
  const kept = new Map<ClassifierName, Classifier>();
  let held = 0;
  const s: MemoryStore = {
    saved: [],
    loaded: [],
    stages: new Map(),
    tensors: () => held,
    async loadStage(key) {
      return s.stages.get(key);
    },
    async saveStage(key, record) {
      s.stages.set(key, structuredClone(record));
    },
    async has(name) {
      return kept.has(name);
    },
    async load(name) {
      const k = kept.get(name);
      if (!k) return undefined;
      s.loaded.push(name);
      // The study disposes what it loads: hand out a copy.
      return cloneClassifier(k);
    },
    async save(name, clf) {
      s.saved.push(name);
      // The study disposes its classifiers when it ends: keep a live copy of the weights in a fresh model.
      const before = tf.memory().numTensors;
      kept.set(name, await cloneClassifier(clf));
      held += tf.memory().numTensors - before;
    },
    async loadUaes() {
      return s.uaes;
    },
    async saveUaes(u) {
      s.uaes = u;
    },
  };
  return s;
}

async function cloneClassifier(clf: Classifier): Promise<Classifier> {
  const { compileClassifier } = await import('../../libs/models/index.js');
  const tfl = await import('@tensorflow/tfjs-layers');
  const copy = await tfl.models.modelFromJSON(clf.model.toJSON(undefined, false) as never);
  copy.setWeights(clf.model.getWeights());
  return compileClassifier(copy, clf.inputShape, clf.classes, undefined, clf.kind);
}

describe('runSupervisedStudy', () => {
  let outcome: SupervisedOutcome;
  let store: MemoryStore;
  const data = tinyData();
  const config = tinyConfig();

  beforeAll(async () => {
    store = memoryStore();
    const before = tf.memory().numTensors;
    outcome = await runSupervisedStudy(config, data, { store });
    // Everything the study allocated is freed; what is left are the store's copies.
    expect(tf.memory().numTensors - before).toBe(store.tensors());
  }, 120_000);

  it('trains four classifiers and measures each on the whole test split', () => {
    const m = outcome.metrics;
    expect(Object.keys(m.classifiers).sort()).toEqual([...CLASSIFIER_NAMES].sort());
    for (const name of CLASSIFIER_NAMES) inUnit(m.classifiers[name].accuracy);
    expect(m.classifiers.std.train_samples).toBe(24);
    // original ∪ one UAE for each of the 4 attacked training samples.
    expect(m.classifiers['std-uae'].train_samples).toBe(28);
    expect(m.classifiers['adv-uae'].train_samples).toBe(28);
    // The halves are easy: Std learns them.
    expect(m.classifiers.std.accuracy).toBeGreaterThan(0.5);
    expect(store.saved.sort()).toEqual([...CLASSIFIER_NAMES].sort());
  });

  it('reports the UAE set, Table 3 and the curves with values in range', () => {
    const m = outcome.metrics;
    expect(m.uae.samples).toBe(4);
    inUnit(m.uae.asr);
    expect(store.uaes?.x.length).toBe(4 * 256);
    const t = m.table3;
    expect(t.sampler).toBe('random');
    expect(t.sample_ids.length).toBeGreaterThan(0);
    expect(t.sample_ids.length).toBeLessThanOrEqual(4);
    for (const row of [t.minmax, t.penalty]) {
      inUnit(row.asr);
      expect(row.attacked).toBe(t.sample_ids.length);
      expect(row.succeeded).toBe(Math.round(row.asr * row.attacked));
      expect(row.mi.n).toBe(row.succeeded);
      if (row.mi.ci95) {
        expect(row.mi.ci95[0]).toBeLessThanOrEqual(row.mi.mean!);
        expect(row.mi.ci95[1]).toBeGreaterThanOrEqual(row.mi.mean!);
      }
    }
    const c = m.curves;
    expect(c.epsilons).toEqual([0, 0.1, 0.5]);
    expect(c.samples).toBe(t.sample_ids.length);
    for (const name of CLASSIFIER_NAMES) {
      expect(c.series[name].asr).toHaveLength(3);
      c.series[name].asr.forEach(inUnit);
    }
    // The samples are those Std classifies correctly: no attack, no success.
    expect(c.series.std.asr[0]).toBe(0);
    expect(Object.keys(m.timings).length).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(m)).kind).toBe('uae.supervised-result');
  });

  it("ε = 0 of each curve is that classifier's error on the chosen samples", async () => {
    const ids = outcome.metrics.table3.sample_ids;
    for (const name of CLASSIFIER_NAMES) {
      const clf = (await store.load(name))!;
      onTestFinished(() => clf.dispose());
      const d = 256;
      const x = new Float32Array(ids.length * d);
      ids.forEach((id, k) => x.set(data.test.x.subarray(id * d, (id + 1) * d), k * d));
      const p = await predictAll(clf, x, data.inputShape);
      const wrong = ids.filter((id, k) => p[k] !== data.test.labels[id]).length;
      expect(outcome.metrics.curves.series[name].asr[0]).toBeCloseTo(wrong / ids.length, 12);
    }
  });

  it('draws Figure 3: clean, MinMax and one PGD column per ε, within each ε-ball', () => {
    const g = outcome.grid;
    expect(g.columns.map((c) => c.label)).toEqual(['clean', 'MinMax (MINE)', 'PGD ε = 0.1', 'PGD ε = 0.3']);
    const n = g.sampleIds.length;
    expect(n).toBe(Math.min(2, outcome.metrics.table3.sample_ids.length));
    for (const c of g.columns) expect(c.x.length).toBe(n * 256);
    const clean = g.columns[0]!.x;
    [0.1, 0.3].forEach((eps, k) => {
      const x = g.columns[2 + k]!.x;
      let worst = 0;
      x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - clean[i]!))));
      expect(worst).toBeLessThanOrEqual(eps + 1e-6);
    });
  });

  it('a rerun with the store keeps every classifier, the UAEs and the finished attacks', async () => {
    expect([...store.stages.keys()].sort()).toEqual(['curve-adv-0.1', 'curve-adv-0.5', 'curve-adv-uae-0.1', 'curve-adv-uae-0.5', 'curve-std-0.1', 'curve-std-0.5', 'curve-std-uae-0.1', 'curve-std-uae-0.5', 'figure3-pgd-0.1', 'figure3-pgd-0.3', 'table3-minmax', 'table3-penalty']);
    const again = await runSupervisedStudy(config, data, { store });
    expect(again.metrics.table3).toEqual(outcome.metrics.table3);
    expect(again.grid).toEqual(outcome.grid);
    // Another attack budget is not the same stage: Table 3 runs again.
    store.stages.delete('curve-std-0.5');
    const other = await runSupervisedStudy({ ...config, iterations: 6 }, data, { store });
    expect(other.metrics.table3.iterations).toBe(6);
    expect(JSON.parse(store.stages.get('table3-minmax')!.fingerprint).attack.iterations).toBe(6);
    expect(other.metrics.curves.series.std.asr).toEqual(outcome.metrics.curves.series.std.asr);
    for (const name of CLASSIFIER_NAMES) {
      expect(again.metrics.classifiers[name].resumed).toBe(true);
      expect(again.metrics.classifiers[name].accuracy).toBe(outcome.metrics.classifiers[name].accuracy);
    }
    expect(again.metrics.curves.series.std.asr[0]).toBe(0);
  }, 120_000);
});

describe('Table 3 MI interval', () => {
  it('is the t-interval over the successful examples only', () => {
    const r = (similarity: number, success: boolean): SampleResult => ({ sampleId: 0, xAdv: new Float32Array(1), success, similarity, f: 0, finalC: 0, iterations: 1, bestIteration: 1 });
    const mi = miInterval([r(1, true), r(2, true), r(3, true), r(100, false), r(NaN, false)]);
    expect(mi.n).toBe(3);
    expect(mi.mean).toBeCloseTo(2, 12);
    expect(mi.std).toBeCloseTo(1, 12);
    // t(0.975, 2) = 4.302653; half-width 4.302653 / √3.
    expect(mi.ci95![0]).toBeCloseTo(2 - 4.302653 / Math.sqrt(3), 5);
    expect(mi.ci95![1]).toBeCloseTo(2 + 4.302653 / Math.sqrt(3), 5);
    expect(miInterval([r(5, true)])).toEqual({ n: 1, mean: 5 });
    expect(miInterval([r(5, false)])).toEqual({ n: 0 });
  });
});

describe('the conv classifier with the conv MINE sampler', () => {
  it("runs Table 3 on the classifier's first conv layer", async () => {
    const o = await runSupervisedStudy(tinyConfig({ model: 'cnn-classifier', hidden: undefined, sampler: 'conv', epochs: 1, samples: 2, gridSamples: 1, epsilons: [0, 0.3] }), tinyData(16, 8));
    expect(o.metrics.table3.sampler).toBe('conv');
    expect(o.metrics.table3.mine_draws).toBeUndefined();
    expect(o.metrics.table3.minmax.attacked).toBe(o.metrics.table3.sample_ids.length);
    expect(o.metrics.curves.series.std.asr[0]).toBe(0);
  }, 120_000);
});

describe('supervised configuration', () => {
  it('fills the defaults of the paper and the issue', () => {
    const c = supervisedConfig({ dataset: 'fashion-mnist' });
    expect(c).toMatchObject({ model: 'cnn-classifier', samples: 100, iterations: 1000, sampler: 'random', pgdSteps: 100, epsilons: [0, 0.05, 0.1, 0.15, 0.2, 0.3] });
    expect(SUPERVISED_DEFAULTS.mineSteps).toBe(1);
  });

  it.each([
    [{ dataset: 'x', iterations: 2, searchSteps: 4 }, 'iterations'],
    [{ dataset: 'x', model: 'mlp-classifier', sampler: 'conv' }, 'sampler'],
    [{ dataset: 'x', epsilons: [0, 1.5] }, 'epsilons.1'],
    [{ dataset: 'x', gridEpsilons: [0] }, 'gridEpsilons.0'],
    [{ dataset: 'x', advEpsilon: 0 }, 'advEpsilon'],
    [{ dataset: 'x', sampels: 3 }, 'sampels'],
    [{}, 'dataset'],
  ])('%j names %s', (input, field) => {
    let error: unknown;
    try {
      supervisedConfig(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SupervisedConfigError);
    expect((error as SupervisedConfigError).field).toBe(field);
  });

  it('renames fields for the CLI', () => {
    expect(() => supervisedConfig({ dataset: 'x', pgdSteps: 0 }, { fieldName: (f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` })).toThrow(/^--pgd-steps: /);
  });

  it('refuses vectors and too many UAEs, naming the field', async () => {
    const data = tinyData();
    await expect(runSupervisedStudy(tinyConfig(), { ...data, inputShape: [256] })).rejects.toThrow(SupervisedDataError);
    await expect(runSupervisedStudy(tinyConfig({ uaeSamples: 99 }), data)).rejects.toThrow(/^uaeSamples: /);
  });
});
