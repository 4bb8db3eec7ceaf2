/**
 * EvaluationService handlers (transport-free; tests can run them in-process):
 * a model (model_id or inline ModelArtifacts refs) on a dataset split →
 * reconstruction error, improvement vs a baseline, downstream accuracy (when
 * the dataset has labels), and the ASR / similarity summary of an attack's
 * sample-results artifact. The numbers are libs/eval's, computed exactly as
 * the in-process pipeline does (reconstructionError in batches of 256 by
 * default; downstreamAccuracy with the pipeline's probe defaults; the
 * ExtraTrees probe as libs/augment's extraTreesProbe, on probe_dataset's
 * training split or a seeded subset of it computed by probeTrainSplit).
 *
 * Classifiers (mlp-classifier, cnn-classifier): their own accuracy on the
 * split (the labels are required: INVALID_ARGUMENT naming the dataset's label
 * field otherwise), plus the ASR / similarity of attack results when given;
 * no reconstruction error, baseline or probes (INVALID_ARGUMENT for
 * baseline_recon_error and the ExtraTrees probe).
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { backendInfo } from '../../libs/tensor/index.js';
import { downstreamAccuracy, improvement, reconstructionError, summarize, type DownstreamOptions } from '../../libs/eval/index.js';
import { extraTreesProbe, probeTrainSplit } from '../../libs/augment/index.js';
import { ProtoFieldError, v1 } from '../../libs/proto/index.js';
import type { CallContext } from '../../libs/service-kit/index.js';
import { getByRef } from './artifacts.js';
import { resolveDataset } from './datasets.js';
import type { DatasetAccess } from './dataset-access.js';
import type { ResourceBudget } from '../../libs/limits/index.js';
import { isClassifier, loadAnyModel } from './models.js';
import { classifierAccuracy } from './training.js';
import type { Classifier } from '../../libs/models/index.js';
import type { ServiceDeps } from './service.js';

export const DEFAULT_EVAL_BATCH = 256;
export const MAX_EVAL_BATCH = 65_536;

/** Reads a sample-results artifact: size-delimited SampleResult messages. Throws ProtoFieldError on malformed bytes. */
export function decodeSampleResults(bytes: Uint8Array, field = 'attack_results'): v1.SampleResult[] {
  const out: v1.SampleResult[] = [];
  const reader = new BinaryReader(bytes);
  try {
    while (reader.pos < reader.len) out.push(v1.SampleResult.decode(reader.bytes()));
  } catch (e) {
    throw new ProtoFieldError(field, `not a sample-results artifact (size-delimited uae.v1.SampleResult messages): ${(e as Error).message}`);
  }
  return out;
}

/** EvalConfig → what to compute; errors name the field. */
export function parseEvalConfig(cfg: v1.EvalConfig | undefined, datasetSeed: number) {
  const split = cfg?.split ?? v1.DatasetSplit.DATASET_SPLIT_UNSPECIFIED;
  if (!Object.values(v1.DatasetSplit).includes(split) || split === v1.DatasetSplit.UNRECOGNIZED) {
    throw new ProtoFieldError('config.split', `unknown enum value ${split}`);
  }
  const batchSize = cfg?.batchSize || DEFAULT_EVAL_BATCH;
  if (batchSize > MAX_EVAL_BATCH) throw new ProtoFieldError('config.batch_size', `must be in 1–${MAX_EVAL_BATCH}; got ${batchSize}`);
  const d = cfg?.downstream;
  const downstream: DownstreamOptions = {
    // Unset: the enclosing job's seed — here the dataset's (a pipeline uses one seed for everything).
    seed: d?.seed ?? datasetSeed,
    ...(d?.epochs ? { epochs: d.epochs } : {}),
    ...(d?.hidden !== undefined ? { hidden: d.hidden } : {}),
    ...(d?.batchSize ? { batchSize: d.batchSize } : {}),
  };
  if (d?.epochs !== undefined && d.epochs > 100_000) throw new ProtoFieldError('config.downstream.epochs', `must be at most 100000; got ${d.epochs}`);
  if (d?.hidden !== undefined && d.hidden > 65_536) throw new ProtoFieldError('config.downstream.hidden', `must be at most 65536; got ${d.hidden}`);
  if (d?.batchSize !== undefined && d.batchSize > MAX_EVAL_BATCH) throw new ProtoFieldError('config.downstream.batch_size', `must be at most ${MAX_EVAL_BATCH}; got ${d.batchSize}`);
  const probe = cfg?.probe ?? v1.ProbeKind.PROBE_KIND_UNSPECIFIED;
  if (![0, 1, 2, 3].includes(probe)) throw new ProtoFieldError('config.probe', `unknown enum value ${probe}`);
  const probeSeed = cfg?.probeSeed ?? datasetSeed;
  if (!Number.isSafeInteger(probeSeed) || probeSeed < 0) throw new ProtoFieldError('config.probe_seed', `must be an integer in [0, 2^53 − 1]; got ${probeSeed}`);
  return {
    train: split === v1.DatasetSplit.DATASET_SPLIT_TRAIN,
    batchSize,
    downstream,
    skipDownstream: cfg?.skipDownstream ?? false,
    mlp: probe !== v1.ProbeKind.PROBE_KIND_EXTRATREES,
    extraTrees: probe === v1.ProbeKind.PROBE_KIND_EXTRATREES || probe === v1.ProbeKind.PROBE_KIND_BOTH,
    probeTrainSamples: cfg?.probeTrainSamples || undefined,
    probeSeed,
  };
}

export function evaluationHandlers(deps: Pick<ServiceDeps, 'bus' | 'metrics' | 'logger' | 'faultDrill'> & { access?: DatasetAccess; budget?: ResourceBudget }) {
  const evaluations = deps.metrics.counter({ name: 'uae_evaluations_total', help: 'EvaluationService.Evaluate calls by outcome', labelNames: ['outcome'] });
  const seconds = deps.metrics.histogram({
    name: 'uae_evaluation_seconds',
    help: 'Wall-clock seconds of one evaluation (model and data loading included)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
  });
  const reconError = deps.metrics.gauge({ name: 'uae_eval_recon_error', help: 'Reconstruction error of the last evaluation, by model kind', labelNames: ['model'] });
  const accuracy = deps.metrics.gauge({ name: 'uae_eval_accuracy', help: 'Downstream accuracy of the last evaluation with labels, by model kind', labelNames: ['model'] });
  const asrGauge = deps.metrics.gauge({ name: 'uae_eval_asr', help: 'Attack success rate of the last evaluated attack results' });
  for (const outcome of ['ok', 'error']) evaluations.inc({ outcome }, 0);

  return {
    async evaluate(req: v1.EvaluateRequest, call: Pick<CallContext, 'signal'>): Promise<v1.EvaluateResponse> {
      const started = performance.now();
      try {
        const res = await evaluateRequest(req, call.signal);
        evaluations.inc({ outcome: 'ok' });
        seconds.observe((performance.now() - started) / 1000);
        return res;
      } catch (e) {
        evaluations.inc({ outcome: 'error' });
        throw e;
      }
    },
  };

  async function evaluateClassifier(
    req: v1.EvaluateRequest,
    clf: Classifier,
    cfg: ReturnType<typeof parseEvalConfig>,
    attack: { asr: number; summary?: v1.Summary } | undefined,
    started: number,
    signal: AbortSignal,
  ): Promise<v1.EvaluateResponse> {
    if (req.baselineReconError !== undefined) throw new ProtoFieldError('baseline_recon_error', `a ${clf.kind} has no reconstruction error; leave it unset`);
    if (!cfg.skipDownstream && cfg.extraTrees) throw new ProtoFieldError('config.probe', `the downstream probes score autoencoders' features; a ${clf.kind} is scored directly`);
    const ds = await resolveDataset(deps.bus.artifacts, req.dataset, { kind: clf.kind, field: 'dataset', ...(deps.access ? { access: deps.access } : {}), ...(deps.budget ? { budget: deps.budget } : {}) });
    if (ds.inputShape.join() !== clf.inputShape.join()) {
      throw new ProtoFieldError('dataset', `samples are [${ds.inputShape.join(', ')}] but the model expects [${clf.inputShape.join(', ')}]`);
    }
    signal.throwIfAborted();
    const splitName = cfg.train ? 'train' : 'test';
    const split = cfg.train ? ds.train : ds.test;
    if (!split.labels) {
      throw new ProtoFieldError(req.dataset?.source?.$case === 'npy' ? `dataset.npy.y_${splitName}` : 'dataset', `the ${splitName} split has no labels; a ${clf.kind}'s accuracy needs them`);
    }
    const bad = split.labels.findIndex((l) => !(l >= 0 && l < clf.classes));
    if (bad >= 0) throw new ProtoFieldError('dataset', `label ${split.labels[bad]} of ${splitName} sample ${bad} is outside the model's [0, ${clf.classes})`);
    deps.faultDrill?.trap('an Evaluate call');
    const acc = await classifierAccuracy(clf, split.x, split.labels, ds.inputShape, cfg.batchSize);
    accuracy.set({ model: clf.kind }, acc);
    if (attack) asrGauge.set(attack.asr);
    const metrics: v1.EvalMetrics = {
      accuracy: acc,
      ...(attack ? { asr: attack.asr, ...(attack.summary ? { similaritySummary: attack.summary } : {}) } : {}),
      samples: split.n,
      seconds: (performance.now() - started) / 1000,
      selectedFeatures: [],
    };
    return { metrics, backend: backendInfo().name };
  }

  async function evaluateRequest(req: v1.EvaluateRequest, signal: AbortSignal): Promise<v1.EvaluateResponse> {
    const started = performance.now();
    if (req.baselineReconError !== undefined && !(Number.isFinite(req.baselineReconError) && req.baselineReconError > 0)) {
      throw new ProtoFieldError('baseline_recon_error', `must be a positive number; got ${req.baselineReconError}`);
    }
    const cfg = parseEvalConfig(req.config, req.dataset?.seed ?? 0);
    // Attack results first: cheap to validate, and independent of the model.
    let attack: { asr: number; summary?: v1.Summary } | undefined;
    if (req.attackResults && req.attackResults.sha256 !== '') {
      const results = decodeSampleResults(await getByRef(deps.bus.artifacts, req.attackResults, 'attack_results'));
      if (results.length === 0) throw new ProtoFieldError('attack_results', 'holds no sample results');
      const succeeded = results.filter((r) => r.success);
      attack = { asr: succeeded.length / results.length, summary: summarize(succeeded.map((r) => r.similarity)) };
    }
    const { model: loaded } = await loadAnyModel(deps.bus.artifacts, req.model, 'model');
    if (isClassifier(loaded)) {
      try {
        return await evaluateClassifier(req, loaded, cfg, attack, started, signal);
      } finally {
        loaded.dispose();
      }
    }
    const ae = loaded;
    try {
      const ds = await resolveDataset(deps.bus.artifacts, req.dataset, { kind: ae.kind, field: 'dataset', ...(deps.access ? { access: deps.access } : {}), ...(deps.budget ? { budget: deps.budget } : {}) });
      if (ds.inputShape.join() !== ae.inputShape.join()) {
        throw new ProtoFieldError('dataset', `samples are [${ds.inputShape.join(', ')}] but the model expects [${ae.inputShape.join(', ')}]`);
      }
      signal.throwIfAborted();
      const split = cfg.train ? ds.train : ds.test;
      // UAE_FAULT_DRILL=evaluator:wasm-trap (tests only): a real wasm trap in the first evaluation.
      deps.faultDrill?.trap('an Evaluate call');
      const err = await reconstructionError(ae, split.x, ds.inputShape, cfg.batchSize);
      reconError.set({ model: ae.kind }, err);
      signal.throwIfAborted();
      let acc: number | undefined;
      if (!cfg.skipDownstream && cfg.mlp && ds.train.labels && ds.test.labels) {
        acc = await downstreamAccuracy(ae, { x: ds.train.x, labels: ds.train.labels }, { x: ds.test.x, labels: ds.test.labels }, cfg.downstream);
        accuracy.set({ model: ae.kind }, acc);
      }
      let accTrees: number | undefined;
      if (!cfg.skipDownstream && cfg.extraTrees && ds.test.labels) {
        signal.throwIfAborted();
        const given = req.probeDataset && req.probeDataset.source !== undefined;
        const probeDs = given ? await resolveDataset(deps.bus.artifacts, req.probeDataset, { kind: ae.kind, field: 'probe_dataset', ...(deps.access ? { access: deps.access } : {}), ...(deps.budget ? { budget: deps.budget } : {}) }) : ds;
        if (probeDs.inputShape.join() !== ae.inputShape.join()) {
          throw new ProtoFieldError('probe_dataset', `samples are [${probeDs.inputShape.join(', ')}] but the model expects [${ae.inputShape.join(', ')}]`);
        }
        const rows = probeTrainSplit(probeDs, cfg.probeTrainSamples, cfg.probeSeed);
        if (!rows.labels) throw new ProtoFieldError(given ? 'probe_dataset.npy.y_train' : 'dataset.npy.y_train', 'the ExtraTrees probe needs training labels');
        accTrees = await extraTreesProbe(ae, rows, { x: ds.test.x, labels: ds.test.labels }, cfg.probeSeed);
      }
      const selection = ae.selectionConvergence && ae.selectedFeatures ? { selectionConvergence: await ae.selectionConvergence(), selectedFeatures: await ae.selectedFeatures() } : undefined;
      if (attack) asrGauge.set(attack.asr);
      const metrics: v1.EvalMetrics = {
        testReconError: err,
        ...(req.baselineReconError !== undefined ? { improvement: improvement(req.baselineReconError, err) } : {}),
        ...(acc !== undefined ? { accuracy: acc } : {}),
        ...(attack ? { asr: attack.asr, ...(attack.summary ? { similaritySummary: attack.summary } : {}) } : {}),
        samples: split.n,
        seconds: (performance.now() - started) / 1000,
        ...(accTrees !== undefined ? { accuracyExtratrees: accTrees } : {}),
        ...(selection ? { selectionConvergence: selection.selectionConvergence } : {}),
        selectedFeatures: selection?.selectedFeatures ?? [],
      };
      return { metrics, backend: backendInfo().name };
    } finally {
      ae.dispose();
    }
  }
}
