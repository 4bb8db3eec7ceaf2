/**
 * The supervised study in one process (the paper's Section 4.3, Table 3,
 * Figure 3; SuppMat 6.16–6.17, Figures 9 and 10a; docs/supervised.md):
 *
 *   1. four classifiers of one architecture and initialisation: Std
 *      (trainClassifier), Adv (Madry PGD adversarial training), and Std-UAE /
 *      Adv-UAE, the same trainings on original ∪ UAEs, where the UAEs come
 *      from a conv autoencoder trained on the same data and attacked with the
 *      reconstruction criterion (MinMax + MINE); a failed attack replicates
 *      its original (docs/algorithms.md, UAE data augmentation);
 *   2. Table 3: untargeted Carlini–Wagner with MINE against Std on test
 *      samples it classifies correctly, MinMax vs the penalty baseline at
 *      equal total iterations T: ASR and the MI of the successful examples
 *      (mean, 95% t-interval over samples);
 *   3. Figure 3: clean | MinMax x′ | PGD x′ at a few ε for a few of them;
 *   4. robustness curves: L∞ PGD (random start) ASR against ε on the same
 *      samples for all four classifiers. ε = 0 runs no attack: its ASR is the
 *      share of the samples the classifier misclassifies.
 *
 * Plain data in and out; no files, no transport: the caller supplies a
 * ClassifierStore to keep and reuse trained models (`uae supervised --resume`).
 */
import { backendInfo, tf } from '../tensor/index.js';
import {
  createAutoencoder,
  createClassifier,
  trainAutoencoder,
  trainClassifier,
  trainClassifierAdversarially,
  type Classifier,
  type TrainOptions,
  type TrainResult,
} from '../models/index.js';
import { attackConfig, runAttack, type AttackConfig, type AttackModel, type SampleResult } from '../attack/index.js';
import { generateUaes } from '../augment/generate.js';
import { meanInterval, summarize, type Summary } from '../eval/index.js';
import type { SupervisedConfig } from './config.js';
import type { Kinded } from '../errors/index.js';

export const CLASSIFIER_NAMES = ['std', 'std-uae', 'adv', 'adv-uae'] as const;
export type ClassifierName = (typeof CLASSIFIER_NAMES)[number];
/** How the report and docs name them (the paper's). */
export const CLASSIFIER_LABELS: Record<ClassifierName, string> = { std: 'Std', 'std-uae': 'Std-UAE', adv: 'Adv', 'adv-uae': 'Adv-UAE' };

/** Marks metrics.json. */
export const SUPERVISED_RESULT_KIND = 'uae.supervised-result';

export class SupervisedDataError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  override name = 'SupervisedDataError';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

export interface LabelledSplit {
  /** n × inputShape, row-major, values in [0, 1]. */
  x: Float32Array;
  labels: Int32Array;
  n: number;
}

export interface SupervisedData {
  name: string;
  /** [H, W, C]: the conv autoencoder needs images. */
  inputShape: number[];
  classes: number;
  train: LabelledSplit;
  test: LabelledSplit;
}

/** Where trained classifiers and the UAE set are kept between runs (the CLI: DIR/models/). Optional methods: nothing kept. */
export interface ClassifierStore {
  has(name: ClassifierName): Promise<boolean>;
  load(name: ClassifierName): Promise<Classifier | undefined>;
  save(name: ClassifierName, clf: Classifier, info: Record<string, unknown>): Promise<void>;
  loadUaes?(): Promise<UaeSet | undefined>;
  saveUaes?(uaes: UaeSet): Promise<void>;
  /** A finished attack stage (plain JSON), with the fingerprint of what it attacked and how. */
  loadStage?(key: string): Promise<StageRecord | undefined>;
  saveStage?(key: string, record: StageRecord): Promise<void>;
}

export interface StageRecord {
  fingerprint: string;
  value: unknown;
}

/** The UAEs that augment the training set: one per attacked training sample (its original where the attack failed). */
export interface UaeSet {
  /** uaeSamples × d. */
  x: Float32Array;
  success: boolean[];
  /** MI of each returned x′ (NaN where never measured). */
  mi: number[];
}

/** Progress, structurally the CLI's ProgressSink. */
export interface StudyProgress {
  start(stage: string, total: number): void;
  update(done: number, extra?: string): void;
  log(line: string): void;
}

export interface StudyHooks {
  signal?: AbortSignal;
  progress?: StudyProgress;
  store?: ClassifierStore;
  /** The stage now entered (status.json). */
  onStage?: (stage: string) => void;
}

export interface ClassifierMetrics {
  /** Test accuracy in [0, 1] on the whole test split. */
  accuracy: number;
  /** Training samples (original, or original ∪ UAEs). */
  train_samples: number;
  train_steps?: number;
  train_seconds?: number;
  /** Loaded from an earlier run (`--resume`), not trained here. */
  resumed?: true;
}

export interface MiInterval {
  n: number;
  mean?: number;
  std?: number;
  ci95?: [number, number];
}

export interface Table3Row {
  /** Successful / attacked. */
  asr: number;
  succeeded: number;
  attacked: number;
  /** MI of the successful examples: mean, std, 95% t-interval over samples. */
  mi: MiInterval;
  mi_summary?: Summary;
  seconds: number;
}

export interface CurveSeries {
  /** ASR per ε (the config's epsilons, in order). */
  asr: number[];
  succeeded: number[];
}

export interface SupervisedMetrics {
  kind: typeof SUPERVISED_RESULT_KIND;
  config: SupervisedConfig;
  backend: { name: string; provider: string; gpu: boolean };
  dataset: { name: string; input_shape: number[]; classes: number; train_samples: number; test_samples: number };
  classifiers: Record<ClassifierName, ClassifierMetrics>;
  uae: { samples: number; succeeded: number; asr: number; mi?: Summary; ae_epochs: number; sampler: string; iterations: number; mine_steps: number; seconds: number; resumed?: true };
  table3: {
    /** The attacked test samples (indices into the test split), all classified correctly by Std. */
    sample_ids: number[];
    /** Test samples Std classifies correctly (the pool the samples come from). */
    correct_available: number;
    criterion: 'cw-untargeted';
    kappa: number;
    alpha: number;
    iterations: number;
    search_steps: number;
    mine_steps: number;
    /** The MINE sampler; `random` projects the flattened image (the default, for cost). */
    sampler: 'conv' | 'random';
    mine_draws?: number;
    minmax: Table3Row;
    penalty: Table3Row;
  };
  grid: { sample_ids: number[]; epsilons: number[]; pgd_steps: number; minmax_success: boolean[]; pgd_success: boolean[][] };
  curves: {
    attack: 'pgd-linf-random-start';
    steps: number;
    /** Madry's α = 2.5·ε/steps. */
    step_size: 'default (2.5·ε/steps)';
    epsilons: number[];
    /** The attacked samples: the Table 3 samples (correct for Std; ε = 0 is each classifier's error on them). */
    samples: number;
    series: Record<ClassifierName, CurveSeries>;
  };
  /** Seconds per stage. */
  timings: Record<string, number>;
}

/** Figure 3's images (not in metrics.json; the report draws them). */
export interface GridImages {
  inputShape: number[];
  sampleIds: number[];
  columns: Array<{ label: string; x: Float32Array; success?: boolean[] }>;
}

export interface SupervisedOutcome {
  metrics: SupervisedMetrics;
  grid: GridImages;
  /** Training histories per classifier trained here (loss per epoch). */
  history: Partial<Record<ClassifierName | 'ae', TrainResult['history']>>;
}

/** Rows per inference batch (a conv classifier's activations of a whole test split would not fit). */
const PREDICT_BATCH = 256;

const sampleSize = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function rows(x: Float32Array, d: number, ids: readonly number[]): Float32Array {
  const out = new Float32Array(ids.length * d);
  ids.forEach((id, k) => out.set(x.subarray(id * d, (id + 1) * d), k * d));
  return out;
}

/** Predicted classes of n samples, in batches. */
export async function predictAll(clf: Classifier, x: Float32Array, inputShape: readonly number[]): Promise<Int32Array> {
  const d = sampleSize(inputShape);
  const n = x.length / d;
  const out = new Int32Array(n);
  for (let s = 0; s < n; s += PREDICT_BATCH) {
    const e = Math.min(n, s + PREDICT_BATCH);
    const t = tf.tensor(x.subarray(s * d, e * d), [e - s, ...inputShape]);
    try {
      out.set(await clf.predict(t), s);
    } finally {
      t.dispose();
    }
  }
  return out;
}

function accuracyOf(predicted: Int32Array, labels: Int32Array): number {
  let right = 0;
  predicted.forEach((p, i) => (right += p === labels[i] ? 1 : 0));
  return labels.length === 0 ? 0 : right / labels.length;
}

/** The MI of the successful examples: count, mean, std and 95% t-interval over samples. */
export function miInterval(results: readonly SampleResult[]): MiInterval {
  const mi = results.filter((r) => r.success && Number.isFinite(r.similarity)).map((r) => r.similarity);
  if (mi.length === 0) return { n: 0 };
  const m = meanInterval(mi);
  return { n: m.n, mean: m.mean, ...(m.std !== undefined ? { std: m.std } : {}), ...(m.ci95 ? { ci95: m.ci95 } : {}) };
}

/** Checks the data the study needs: images, labels in range, at least one sample per split. */
export function checkSupervisedData(data: SupervisedData, config: Pick<SupervisedConfig, 'uaeSamples'>): void {
  if (data.inputShape.length !== 3) throw new SupervisedDataError('dataset', `needs images [H, W, C] (the UAEs come from a conv autoencoder); got samples of shape [${data.inputShape.join(', ')}]`);
  if (!(Number.isInteger(data.classes) && data.classes >= 2)) throw new SupervisedDataError('dataset', `needs at least 2 classes, got ${data.classes}`);
  const d = sampleSize(data.inputShape);
  for (const [split, s] of [['train', data.train], ['test', data.test]] as const) {
    if (s.n < 1 || s.x.length !== s.n * d) throw new SupervisedDataError(`dataset.${split}`, `${s.x.length} values for ${s.n} samples of ${d}`);
    if (s.labels.length !== s.n) throw new SupervisedDataError(`dataset.${split}`, `${s.labels.length} labels for ${s.n} samples`);
    const bad = s.labels.findIndex((l) => !(l >= 0 && l < data.classes));
    if (bad >= 0) throw new SupervisedDataError(`dataset.${split}`, `label ${s.labels[bad]} of sample ${bad} is outside [0, ${data.classes})`);
  }
  if (config.uaeSamples !== undefined && config.uaeSamples > data.train.n) {
    throw new SupervisedDataError('uaeSamples', `${config.uaeSamples} UAEs asked for, but the training set has ${data.train.n} samples`);
  }
}

/** The attacks of the study, resolved. */
export function studyAttacks(c: SupervisedConfig) {
  const cw = { kind: 'cw' as const, kappa: c.kappa, targeted: false };
  const mine = { kind: 'mine' as const, mine: { sampler: c.sampler, ...(c.sampler === 'random' ? { draws: c.mineDraws } : {}) } };
  const table3 = (method: 'minmax' | 'penalty'): AttackConfig =>
    attackConfig({ method, criterion: cw, similarity: mine, alpha: c.alpha, iterations: c.iterations, searchSteps: c.searchSteps, mineSteps: c.mineSteps, seed: c.seed });
  // PGD minimises the CW margin; the L2 similarity is measured for free (MINE would need training).
  const pgd = (epsilon: number): AttackConfig => attackConfig({ method: 'pgd', criterion: cw, similarity: { kind: 'l2' }, iterations: c.pgdSteps, epsilon, seed: c.seed });
  const uae: AttackConfig = attackConfig({
    method: 'minmax',
    criterion: { kind: 'reconstruction', kappa: 0 },
    similarity: { kind: 'mine', mine: { sampler: c.uaeSampler } },
    iterations: c.uaeIterations,
    mineSteps: c.uaeMineSteps,
    seed: c.seed,
  });
  return { table3, pgd, uae };
}

export async function runSupervisedStudy(config: SupervisedConfig, data: SupervisedData, hooks: StudyHooks = {}): Promise<SupervisedOutcome> {
  checkSupervisedData(data, config);
  const { signal, store } = hooks;
  const progress: StudyProgress = hooks.progress ?? { start() {}, update() {}, log() {} };
  const timings: Record<string, number> = {};
  const history: SupervisedOutcome['history'] = {};
  const shape = data.inputShape;
  const d = sampleSize(shape);
  const attacks = studyAttacks(config);
  const enter = (stage: string, total: number) => {
    hooks.onStage?.(stage);
    progress.start(stage, total);
  };
  const timed = async <T>(stage: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + (performance.now() - t0) / 1000;
    }
  };
  const attack = async (stage: string, model: AttackModel, ids: readonly number[], cfg: AttackConfig): Promise<SampleResult[]> => {
    enter(stage, ids.length);
    return runAttack(
      model,
      { data: rows(data.test.x, d, ids), inputShape: shape, sampleIds: [...ids], labels: Int32Array.from(ids, (i) => data.test.labels[i]!) },
      cfg,
      { signal, onProgress: (p) => progress.update(p.done, `${p.succeeded} succeeded`) },
    );
  };

  // One shuffle seed for all four: they differ in their data and training only.
  const trainOpts = (): TrainOptions => ({
    epochs: config.epochs,
    batchSize: config.batchSize,
    seed: config.seed,
    signal,
    onEpoch: (e) => progress.update(e.epoch + 1, `loss ${e.loss.toPrecision(4)}`),
  });

  const classifiers = new Map<ClassifierName, Classifier>();
  const metrics: Partial<Record<ClassifierName, ClassifierMetrics>> = {};
  const tensors: tf.Tensor[] = [];
  try {
    const xTrain = tf.tensor(data.train.x, [data.train.n, ...shape]);
    tensors.push(xTrain);

    /** Trains (or loads) one classifier on (x, labels) and measures its test accuracy. */
    const classifier = async (name: ClassifierName, x: tf.Tensor, labels: Int32Array, adversarial: boolean) => {
      const stage = `train ${CLASSIFIER_LABELS[name]}`;
      const kept = await store?.load(name);
      let m: ClassifierMetrics;
      let clf: Classifier;
      if (kept) {
        clf = kept;
        progress.log(`${CLASSIFIER_LABELS[name]}: trained earlier, kept`);
        m = { accuracy: NaN, train_samples: labels.length, resumed: true };
      } else {
        enter(stage, config.epochs);
        clf = createClassifier(shape, data.classes, { kind: config.model, seed: config.seed, learningRate: config.learningRate, ...(config.hidden !== undefined ? { hidden: config.hidden } : {}) });
        const t0 = performance.now();
        let r: TrainResult;
        try {
          r = adversarial
            ? await trainClassifierAdversarially(clf, x, labels, { method: 'pgd', epsilon: config.advEpsilon, steps: config.advSteps }, trainOpts())
            : await trainClassifier(clf, x, labels, trainOpts());
        } catch (e) {
          clf.dispose();
          throw e;
        }
        const seconds = (performance.now() - t0) / 1000;
        timings[stage] = seconds;
        history[name] = r.history;
        m = { accuracy: NaN, train_samples: labels.length, train_steps: r.steps, train_seconds: seconds };
      }
      classifiers.set(name, clf);
      m.accuracy = accuracyOf(await predictAll(clf, data.test.x, shape), data.test.labels);
      if (!kept) await store?.save(name, clf, { accuracy: m.accuracy, train_samples: m.train_samples, train_steps: m.train_steps, adversarial, config });
      metrics[name] = m;
      progress.log(`${CLASSIFIER_LABELS[name]}: test accuracy ${(m.accuracy * 100).toFixed(2)} %`);
    };

    await classifier('std', xTrain, data.train.labels, false);
    await classifier('adv', xTrain, data.train.labels, true);

    // UAEs from a conv autoencoder trained on the same training data.
    const uaeN = config.uaeSamples ?? data.train.n;
    const uaeIds = Array.from({ length: uaeN }, (_, i) => i);
    const needUaes = !store || !(await store.has('std-uae')) || !(await store.has('adv-uae'));
    let uaes = await store?.loadUaes?.();
    let uaeResumed = Boolean(uaes);
    if (uaes && uaes.success.length !== uaeN) {
      uaes = undefined;
      uaeResumed = false;
    }
    const uaeStage = 'UAEs (conv autoencoder)';
    if (!uaes && needUaes) {
      uaes = await timed(uaeStage, async () => {
        enter('train conv autoencoder', config.aeEpochs);
        const ae = createAutoencoder('conv-ae', shape, { seed: config.seed });
        try {
          const r = await trainAutoencoder(ae, xTrain, { epochs: config.aeEpochs, batchSize: config.batchSize, seed: config.seed, signal, onEpoch: (e) => progress.update(e.epoch + 1, `loss ${e.loss.toPrecision(4)}`) });
          history.ae = r.history;
          enter('attack conv autoencoder (MinMax + MINE)', uaeN);
          const results = await generateUaes(
            ae,
            { data: rows(data.train.x, d, uaeIds), inputShape: shape, sampleIds: uaeIds },
            attacks.uae,
            { signal, onProgress: (p) => progress.update(p.done, `${p.succeeded} succeeded`), ...(config.workers !== undefined ? { workers: config.workers } : {}) },
          );
          const x = new Float32Array(uaeN * d);
          // A failed attack replicates its original (docs/algorithms.md, UAE data augmentation).
          results.forEach((r, k) => x.set(r.success ? r.xAdv : data.train.x.subarray(uaeIds[k]! * d, (uaeIds[k]! + 1) * d), k * d));
          return { x, success: results.map((r) => r.success), mi: results.map((r) => r.similarity) };
        } finally {
          ae.dispose();
        }
      });
      await store?.saveUaes?.(uaes);
    }
    const uaeSucceeded = uaes ? uaes.success.filter(Boolean).length : 0;
    const uaeMetrics: SupervisedMetrics['uae'] = {
      samples: uaeN,
      succeeded: uaeSucceeded,
      asr: uaes ? uaeSucceeded / uaeN : NaN,
      ...(uaes ? { mi: summarize(uaes.mi.filter((_, k) => uaes!.success[k])) } : {}),
      ae_epochs: config.aeEpochs,
      sampler: config.uaeSampler,
      iterations: config.uaeIterations,
      mine_steps: config.uaeMineSteps,
      seconds: timings[uaeStage] ?? 0,
      ...(uaeResumed || !uaes ? { resumed: true as const } : {}),
    };
    if (uaes) progress.log(`UAEs: ${uaeSucceeded} of ${uaeN} attacks succeeded (failures replicate their original)`);

    // original ∪ UAEs, labels copied from the sources.
    const augLabels = new Int32Array(data.train.n + uaeN);
    augLabels.set(data.train.labels);
    uaeIds.forEach((id, k) => (augLabels[data.train.n + k] = data.train.labels[id]!));
    const xAug = uaes ? tf.tidy(() => tf.concat([xTrain, tf.tensor(uaes!.x, [uaeN, ...shape])])) : xTrain;
    if (xAug !== xTrain) tensors.push(xAug);
    await classifier('std-uae', xAug, augLabels, false);
    await classifier('adv-uae', xAug, augLabels, true);

    // Table 3: test samples Std classifies correctly, in test order (the test subset is seeded).
    const std = classifiers.get('std')!;
    const stdPred = await predictAll(std, data.test.x, shape);
    const correct = Array.from(stdPred.keys()).filter((i) => stdPred[i] === data.test.labels[i]);
    const ids = correct.slice(0, config.samples);
    if (ids.length === 0) throw new SupervisedDataError('dataset', 'Std classifies no test sample correctly: nothing to attack');
    if (ids.length < config.samples) progress.log(`Table 3: only ${ids.length} test samples are classified correctly by Std (asked for ${config.samples})`);
    /**
     * A finished attack stage, kept in the store (when it keeps stages) and
     * reused by a resumed run if the classifiers it attacked were kept and
     * the attack and its samples are the same.
     */
    const stageResult = async <T>(key: string, attacked: readonly ClassifierName[], what: unknown, compute: () => Promise<T>): Promise<T> => {
      const fingerprint = JSON.stringify(what);
      const reusable = attacked.every((n) => metrics[n]?.resumed);
      if (reusable && store?.loadStage) {
        const kept = await store.loadStage(key);
        if (kept && kept.fingerprint === fingerprint) {
          progress.log(`${key}: finished earlier, kept`);
          return kept.value as T;
        }
      }
      const value = await compute();
      await store?.saveStage?.(key, { fingerprint, value });
      return value;
    };
    const gridIds = ids.slice(0, config.gridSamples);
    type Row = { row: Table3Row; grid: { x: number[]; success: boolean[] } };
    const row = (method: 'minmax' | 'penalty'): Promise<Row> =>
      stageResult(`table3-${method}`, ['std'], { ids, gridIds, attack: attacks.table3(method) }, async () => {
        const stage = `Table 3 ${method} (CW + MINE, T = ${config.iterations})`;
        const t0 = performance.now();
        const results = await attack(stage, std, ids, attacks.table3(method));
        const seconds = (performance.now() - t0) / 1000;
        const succeeded = results.filter((r) => r.success).length;
        const summary = summarize(results.filter((r) => r.success).map((r) => r.similarity));
        const shown = results.slice(0, gridIds.length);
        return {
          row: { asr: succeeded / results.length, succeeded, attacked: results.length, mi: miInterval(results), ...(summary ? { mi_summary: summary } : {}), seconds },
          grid: { x: Array.from(concatRows(shown.map((r) => r.xAdv))), success: shown.map((r) => r.success) },
        };
      });
    const minmax = await row('minmax');
    timings[`Table 3 minmax`] = minmax.row.seconds;
    const penalty = await row('penalty');
    timings[`Table 3 penalty`] = penalty.row.seconds;

    // Figure 3: the first grid samples; MinMax's x′ from Table 3, PGD's at each ε.
    const gridPgd: Array<{ x: number[]; success: boolean[] }> = [];
    for (const eps of config.gridEpsilons) {
      gridPgd.push(
        await stageResult(`figure3-pgd-${eps}`, ['std'], { gridIds, attack: attacks.pgd(eps) }, () =>
          timed('Figure 3 PGD', async () => {
            const results = await attack(`Figure 3 PGD ε = ${eps}`, std, gridIds, attacks.pgd(eps));
            return { x: Array.from(concatRows(results.map((r) => r.xAdv))), success: results.map((r) => r.success) };
          }),
        ),
      );
    }
    const grid: GridImages = {
      inputShape: shape,
      sampleIds: gridIds,
      columns: [
        { label: 'clean', x: rows(data.test.x, d, gridIds) },
        { label: 'MinMax (MINE)', x: Float32Array.from(minmax.grid.x), success: minmax.grid.success },
        ...config.gridEpsilons.map((eps, k) => ({ label: `PGD ε = ${eps}`, x: Float32Array.from(gridPgd[k]!.x), success: gridPgd[k]!.success })),
      ],
    };

    // Robustness curves: PGD ASR against ε on the Table 3 samples, per classifier.
    const series = {} as Record<ClassifierName, CurveSeries>;
    for (const name of CLASSIFIER_NAMES) {
      const clf = classifiers.get(name)!;
      const asr: number[] = [];
      const succeeded: number[] = [];
      for (const eps of config.epsilons) {
        let ok: number;
        if (eps === 0) {
          const p = await predictAll(clf, rows(data.test.x, d, ids), shape);
          ok = ids.filter((id, k) => p[k] !== data.test.labels[id]).length;
        } else {
          ok = await stageResult(`curve-${name}-${eps}`, [name], { ids, attack: attacks.pgd(eps) }, () =>
            timed('robustness curves', async () => (await attack(`curve ${CLASSIFIER_LABELS[name]} PGD ε = ${eps}`, clf, ids, attacks.pgd(eps))).filter((r) => r.success).length),
          );
        }
        asr.push(ok / ids.length);
        succeeded.push(ok);
      }
      series[name] = { asr, succeeded };
      progress.log(`${CLASSIFIER_LABELS[name]}: PGD ASR ${config.epsilons.map((e, k) => `ε ${e}: ${(asr[k]! * 100).toFixed(1)} %`).join(', ')}`);
    }

    const info = backendInfo();
    return {
      metrics: {
        kind: SUPERVISED_RESULT_KIND,
        config,
        backend: { name: info.name, provider: info.provider, gpu: info.gpu },
        dataset: { name: data.name, input_shape: [...shape], classes: data.classes, train_samples: data.train.n, test_samples: data.test.n },
        classifiers: metrics as Record<ClassifierName, ClassifierMetrics>,
        uae: uaeMetrics,
        table3: {
          sample_ids: ids,
          correct_available: correct.length,
          criterion: 'cw-untargeted',
          kappa: config.kappa,
          alpha: config.alpha,
          iterations: config.iterations,
          search_steps: config.searchSteps,
          mine_steps: config.mineSteps,
          sampler: config.sampler,
          ...(config.sampler === 'random' ? { mine_draws: config.mineDraws } : {}),
          minmax: minmax.row,
          penalty: penalty.row,
        },
        grid: { sample_ids: gridIds, epsilons: config.gridEpsilons, pgd_steps: config.pgdSteps, minmax_success: minmax.grid.success, pgd_success: gridPgd.map((g) => g.success) },
        curves: { attack: 'pgd-linf-random-start', steps: config.pgdSteps, step_size: 'default (2.5·ε/steps)', epsilons: config.epsilons, samples: ids.length, series },
        timings,
      },
      grid,
      history,
    };
  } finally {
    for (const t of tensors) t.dispose();
    for (const c of classifiers.values()) c.dispose();
  }
}

function concatRows(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
