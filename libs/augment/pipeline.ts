/**
 * UAE data augmentation (ALGORITHMS.md §5): train → generate an adversarial
 * example for every training sample → replicate failures (keeps the data
 * balanced) → retrain from scratch, same architecture, on original ∪ UAEs →
 * evaluate on the untouched test set. Baselines in the same run: L2-UAE,
 * Gaussian augmentation, `repeat` (original ∪ original: the same retraining
 * with no new samples) and `none` (retrained on the originals alone, same
 * schedule), so a gain can be credited to the UAEs rather than to training.
 */
import { backendInfo } from '../tensor/index.js';
import type { Autoencoder, AutoencoderKind, CreateAutoencoderOptions, EpochReport } from '../models/index.js';
import type { AttackConfigInput, AttackProgress, SampleResult } from '../attack/index.js';
import { generateUaes } from './generate.js';
import { downstreamAccuracy, reconstructionError, type DownstreamOptions } from '../eval/index.js';
import type { Dataset } from '../data/index.js';
import {
  attackSummary,
  augmentedTrainSet,
  baselineSamples,
  isAttackMethod,
  mergeAttackResults,
  methodMetrics,
  pipelineAttackConfig,
  trainFresh as trainStage,
  type AugmentationMethod,
  type MethodMetrics,
} from './stages.js';

export { parseMethod, type AugmentationMethod, type MethodMetrics } from './stages.js';

export interface AugmentationConfig {
  model: AutoencoderKind;
  methods: AugmentationMethod[];
  /** Training of the original model. */
  epochs: number;
  /** Retraining from scratch on the augmented set (the paper uses more: SuppMat Table 10). */
  retrainEpochs: number;
  batchSize: number;
  seed: number;
  /** MinMax settings for `mine` and `l2` (similarity is set per method). */
  attack: AttackConfigInput;
  /** Worker threads for the attacks (default: the backend's preference). */
  workers?: number;
  /** Architecture options (hidden width, concrete k, …); the same for the original and every retrained model. */
  modelOptions?: Omit<CreateAutoencoderOptions, 'seed'>;
  /**
   * Downstream-accuracy probe, run when the dataset has labels: a classifier
   * on each model's latent code (concrete AE: its selected features). `false` skips it.
   */
  classifier?: DownstreamOptions | false;
}

export interface AugmentationReport {
  dataset: string;
  model: AutoencoderKind;
  backend: string;
  seed: number;
  train_samples: number;
  test_samples: number;
  methods: { original: { test_recon_error: number; accuracy?: number } } & Partial<Record<AugmentationMethod, MethodMetrics>>;
  /** Per attack method: the generated samples (N × d, failures replaced by originals) and results. */
  generated: Partial<Record<AugmentationMethod, { x: Float32Array; results?: SampleResult[] }>>;
  history: Record<string, EpochReport[]>;
}

export interface AugmentationHooks {
  signal?: AbortSignal;
  onStage?: (stage: string) => void;
  onEpoch?: (stage: string, e: EpochReport) => void;
  onAttackProgress?: (method: AugmentationMethod, p: AttackProgress) => void;
  /** Every trained model ('original' or the method it was retrained for), before it is disposed (e.g. to save it). */
  onModel?: (name: 'original' | AugmentationMethod, ae: Autoencoder) => Promise<void> | void;
}

function trainFresh(kind: AutoencoderKind, inputShape: number[], data: Float32Array, epochs: number, cfg: AugmentationConfig, stage: string, hooks: AugmentationHooks) {
  return trainStage({
    kind,
    inputShape,
    data,
    epochs,
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    modelOptions: cfg.modelOptions,
    signal: hooks.signal,
    onEpoch: (e) => hooks.onEpoch?.(stage, e),
  });
}

async function attack(ae: Autoencoder, ds: Dataset, method: 'mine' | 'l2', cfg: AugmentationConfig, hooks: AugmentationHooks): Promise<SampleResult[]> {
  const config = pipelineAttackConfig(method, ae.kind, cfg.attack, cfg.seed);
  return generateUaes(ae, { data: ds.train.x, inputShape: ds.inputShape }, config, {
    workers: cfg.workers,
    signal: hooks.signal,
    onProgress: (p) => hooks.onAttackProgress?.(method, p),
  });
}

export async function runAugmentation(ds: Dataset, cfg: AugmentationConfig, hooks: AugmentationHooks = {}): Promise<AugmentationReport> {
  if (cfg.methods.length === 0) throw new Error('no augmentation methods given');
  const d = ds.inputShape.reduce((a, b) => a * b, 1);
  const n = ds.train.n;
  hooks.onStage?.('train original');
  const original = await trainFresh(cfg.model, ds.inputShape, ds.train.x, cfg.epochs, cfg, 'original', hooks);
  const { train, test } = ds;
  const labelled = cfg.classifier !== false && train.labels && test.labels ? { train: { x: train.x, labels: train.labels }, test: { x: test.x, labels: test.labels } } : undefined;
  const accuracyOf = async (ae: Autoencoder) => {
    if (!labelled) return {};
    hooks.onStage?.('downstream accuracy');
    return { accuracy: await downstreamAccuracy(ae, labelled.train, labelled.test, downstreamOptions(cfg)) };
  };
  const report: AugmentationReport = {
    dataset: ds.name,
    model: cfg.model,
    backend: backendInfo().name,
    seed: cfg.seed,
    train_samples: n,
    test_samples: ds.test.n,
    methods: { original: { test_recon_error: NaN } },
    generated: {},
    history: { original: original.history },
  };
  try {
    report.methods.original = { test_recon_error: reconstructionError(original.ae, ds.test.x, ds.inputShape), ...(await accuracyOf(original.ae)) };
    await hooks.onModel?.('original', original.ae);
    const base = report.methods.original.test_recon_error;
    for (const method of cfg.methods) {
      hooks.signal?.throwIfAborted();
      hooks.onStage?.(`generate ${method}`);
      const started = performance.now();
      let generated: Float32Array | undefined;
      let results: SampleResult[] | undefined;
      if (isAttackMethod(method)) {
        results = await attack(original.ae, ds, method, cfg, hooks);
        // Failures are replaced by their originals (ALGORITHMS.md §5).
        generated = mergeAttackResults(ds.train.x, d, results);
      } else {
        generated = baselineSamples(method, ds.train.x, d, cfg.seed);
      }
      const secondsPerSample = (performance.now() - started) / 1000 / n;
      const trainSet = augmentedTrainSet(ds.train.x, generated);
      hooks.onStage?.(`retrain ${method}`);
      const retrained = await trainFresh(cfg.model, ds.inputShape, trainSet, cfg.retrainEpochs, cfg, method, hooks);
      try {
        const err = reconstructionError(retrained.ae, ds.test.x, ds.inputShape);
        await hooks.onModel?.(method, retrained.ae);
        const evaluated = await accuracyOf(retrained.ae);
        report.methods[method] = methodMetrics(base, err, evaluated, secondsPerSample, results && isAttackMethod(method) ? attackSummary(method, results) : undefined);
        report.history[method] = retrained.history;
        if (generated && method !== 'repeat') report.generated[method] = { x: generated, ...(results ? { results } : {}) };
      } finally {
        retrained.ae.dispose();
      }
    }
  } finally {
    original.ae.dispose();
  }
  return report;
}

/** The downstream probe's options for a study: the study's seed unless the probe sets its own. */
export function downstreamOptions(cfg: Pick<AugmentationConfig, 'seed' | 'classifier'>): DownstreamOptions {
  return { seed: cfg.seed, ...(cfg.classifier || {}) };
}
