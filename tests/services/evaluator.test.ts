/**
 * services/evaluator as a real process, beside a real trainer, both on the
 * embedded bus in one UAE_DATA_DIR (shared artifact directory): Evaluate a
 * model trained by the trainer (by model_id) and one trained in this process
 * (inline artifact refs) on registry and npy-artifact datasets; the numbers
 * equal libs/eval's in-process ones for the same seeds; ASR from a
 * sample-results artifact; contract errors; metrics.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { encodeNpy, loadDataset, type Dataset } from '../../libs/data/index.js';
import { createAutoencoder, trainAutoencoder, type Autoencoder } from '../../libs/models/index.js';
import { downstreamAccuracy, reconstructionError } from '../../libs/eval/index.js';
import { DirArtifactStore } from '../../libs/bus/index.js';
import { v1 } from '../../libs/proto/index.js';
import { MEDIA_TYPES, putContent } from '../../services/common/artifacts.js';
import { putModelArtifacts } from '../../services/common/models.js';
import { metricValue, startServiceProcess, unary, unaryError, waitUntil, type ServiceProcess } from '../helpers/services.js';

const SEED = 3;
const DATASET: v1.DatasetConfig = v1.DatasetConfig.fromPartial({ source: { $case: 'name', value: 'mice-protein' }, trainSamples: 200, testSamples: 100, seed: SEED });

let dir: string;
let trainer: ServiceProcess;
let evaluator: ServiceProcess;
let trainClient: v1.TrainingServiceClient;
let evalClient: v1.EvaluationServiceClient;
let ds: Dataset;
let reference: Autoencoder;
let referenceArtifacts: v1.ModelArtifacts;
let npyDataset: v1.DatasetConfig;
let narrowDataset: v1.DatasetConfig;
let sampleResults: v1.ArtifactRef;
let modelId: string;
let record: v1.Model;

const evaluate = (req: Partial<v1.EvaluateRequest>) =>
  unary<v1.EvaluateResponse>(evalClient, 'evaluate', v1.EvaluateRequest.fromPartial(req), evaluator.metadata());

beforeAll(async () => {
  await initBackend();
  dir = mkdtempSync(join(tmpdir(), 'uae-eval-test-'));
  const store = new DirArtifactStore(join(dir, 'artifacts'));
  ds = await loadDataset('mice-protein', { trainSamples: 200, testSamples: 100, seed: SEED });
  // The reference: libs/models directly, as the in-process pipeline trains.
  reference = createAutoencoder('dense-ae', ds.inputShape, { hidden: 16, seed: SEED });
  const x = tf.tensor(ds.train.x, [ds.train.n, ...ds.inputShape]);
  await trainAutoencoder(reference, x, { epochs: 5, batchSize: 50, seed: SEED });
  x.dispose();
  // Artifacts the services read (written before they start).
  referenceArtifacts = await putModelArtifacts(store, reference);
  const npy = (shape: number[], data: Float32Array | Int32Array, name: string) => putContent(store, encodeNpy(shape, data), { mediaType: MEDIA_TYPES.npy, name });
  npyDataset = v1.DatasetConfig.fromPartial({
    source: {
      $case: 'npy',
      value: {
        xTrain: await npy([ds.train.n, 77], ds.train.x, 'x_train.npy'),
        xTest: await npy([ds.test.n, 77], ds.test.x, 'x_test.npy'),
        yTrain: await npy([ds.train.n], ds.train.labels!, 'y_train.npy'),
        yTest: await npy([ds.test.n], ds.test.labels!, 'y_test.npy'),
      },
    },
    seed: SEED,
  });
  const narrow = new Float32Array(20 * 10).fill(0.5);
  narrowDataset = v1.DatasetConfig.fromPartial({
    source: { $case: 'npy', value: { xTrain: await npy([20, 10], narrow, 'x_train.npy'), xTest: await npy([20, 10], narrow, 'x_test.npy') } },
  });
  const w = new BinaryWriter();
  [
    { success: true, similarity: 1.5 },
    { success: false, similarity: 0.2 },
    { success: true, similarity: 2.5 },
    { success: true, similarity: 2.0 },
  ].forEach((r, i) => w.bytes(v1.SampleResult.encode(v1.SampleResult.fromPartial({ sampleId: i, index: i, ...r })).finish()));
  sampleResults = await putContent(store, w.finish(), { mediaType: MEDIA_TYPES.sampleResults, name: 'sample_results.pb' });

  [trainer, evaluator] = await Promise.all([startServiceProcess('trainer', { dataDir: dir }), startServiceProcess('evaluator', { dataDir: dir })]);
  trainClient = trainer.client(v1.TrainingServiceClient);
  evalClient = evaluator.client(v1.EvaluationServiceClient);
  const res = await unary<v1.TrainResponse>(
    trainClient,
    'train',
    {
      requestId: '',
      labels: {},
      spec: v1.TrainingJobSpec.fromPartial({
        dataset: DATASET,
        model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE, hidden: 16, seed: SEED },
        config: { epochs: 5, batchSize: 50, seed: SEED },
      }),
    },
    trainer.metadata(),
  );
  modelId = res.modelId;
  record = await waitUntil(
    () => unary<v1.GetModelResponse>(trainClient, 'getModel', { modelId }, trainer.metadata()).then((r) => r.model, () => undefined),
    60_000,
    100,
  );
});

afterAll(async () => {
  await Promise.all([trainer?.stop(), evaluator?.stop()]);
  reference?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('evaluator service (embedded bus, shared with a trainer)', () => {
  it('is SERVING once ready', async () => {
    expect(await evaluator.health()).toBe('SERVING');
    expect(await evaluator.health('uae.v1.EvaluationService')).toBe('SERVING');
  });

  it('scores a trained model_id exactly as libs/eval does in-process (recon error, improvement, downstream accuracy)', async () => {
    const expectedErr = await reconstructionError(reference, ds.test.x, ds.inputShape);
    const expectedAcc = await downstreamAccuracy(reference, { x: ds.train.x, labels: ds.train.labels! }, { x: ds.test.x, labels: ds.test.labels! }, { seed: SEED });
    const baseline = 0.05;
    const { metrics, backend } = await evaluate({ model: { source: { $case: 'modelId', value: modelId } }, dataset: DATASET, baselineReconError: baseline });
    expect(Math.abs(metrics!.testReconError! - expectedErr)).toBeLessThanOrEqual(1e-6);
    expect(metrics!.testReconError).toBe(record.testReconError); // the trainer's own measurement
    expect(metrics!.improvement).toBeCloseTo((baseline - metrics!.testReconError!) / baseline, 12);
    expect(metrics!.accuracy).toBe(expectedAcc);
    expect(metrics!.samples).toBe(100);
    expect(metrics!.asr).toBeUndefined();
    expect(backend).toBeTruthy();
  });

  it('loads inline model artifacts and npy-artifact datasets to the same numbers; skips downstream on request', async () => {
    const expectedErr = await reconstructionError(reference, ds.test.x, ds.inputShape);
    const inline = await evaluate({
      model: { source: { $case: 'artifacts', value: referenceArtifacts } },
      dataset: npyDataset,
      config: v1.EvalConfig.fromPartial({ skipDownstream: true, split: v1.DatasetSplit.DATASET_SPLIT_TEST, batchSize: 0 }),
    });
    expect(inline.metrics!.testReconError).toBe(expectedErr);
    expect(inline.metrics!.accuracy).toBeUndefined();
    const train = await evaluate({
      model: { source: { $case: 'artifacts', value: referenceArtifacts } },
      dataset: DATASET,
      config: v1.EvalConfig.fromPartial({ skipDownstream: true, split: v1.DatasetSplit.DATASET_SPLIT_TRAIN, batchSize: 0 }),
    });
    expect(train.metrics!.testReconError).toBe(await reconstructionError(reference, ds.train.x, ds.inputShape));
    expect(train.metrics!.samples).toBe(200);
  });

  it('reports the ASR and similarity summary of an attack’s sample-results artifact', async () => {
    const { metrics } = await evaluate({
      model: { source: { $case: 'modelId', value: modelId } },
      dataset: DATASET,
      config: v1.EvalConfig.fromPartial({ skipDownstream: true, split: 0, batchSize: 0 }),
      attackResults: sampleResults,
    });
    expect(metrics!.asr).toBe(0.75);
    expect(metrics!.similaritySummary).toEqual({ mean: 2, median: 2, min: 1.5, max: 2.5, count: 3 });
  });

  it('answers bad requests with the right code, naming the field, and keeps serving', async () => {
    const md = evaluator.metadata();
    const call = (req: Partial<v1.EvaluateRequest>) => unaryError(evalClient, 'evaluate', v1.EvaluateRequest.fromPartial(req), md);
    const byId = { source: { $case: 'modelId' as const, value: modelId } };
    let err = await call({ model: { source: { $case: 'modelId', value: 'm-unknown' } }, dataset: DATASET });
    expect([err.code, err.field]).toEqual([grpc.status.NOT_FOUND, 'model.model_id']);
    err = await call({ dataset: DATASET });
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'model.source']);
    err = await call({ model: byId });
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'dataset']);
    err = await call({ model: byId, dataset: { ...DATASET, source: { $case: 'name', value: 'no-such-set' } } });
    expect([err.code, err.field]).toEqual([grpc.status.NOT_FOUND, 'dataset.name']);
    err = await call({ model: byId, dataset: narrowDataset });
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'dataset']);
    expect(err.details).toMatch(/\[10\].*\[77\]/);
    err = await call({ model: byId, dataset: DATASET, attackResults: { sha256: 'xyz', sizeBytes: 0, mediaType: '', name: '' } });
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'attack_results.sha256']);
    err = await call({ model: byId, dataset: DATASET, attackResults: { sha256: 'a'.repeat(64), sizeBytes: 0, mediaType: '', name: '' } });
    expect([err.code, err.field]).toEqual([grpc.status.NOT_FOUND, 'attack_results']);
    err = await call({ model: byId, dataset: DATASET, attackResults: { ...sampleResults, sizeBytes: 1 } });
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'attack_results.size_bytes']);
    err = await call({ model: byId, dataset: DATASET, baselineReconError: -1 });
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'baseline_recon_error']);
    err = await call({ model: { source: { $case: 'artifacts', value: { ...referenceArtifacts, kind: v1.ModelKind.MODEL_KIND_CONV_AE } } }, dataset: DATASET });
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'model.artifacts.kind']);
    err = await unaryError(evalClient, 'evaluate', v1.EvaluateRequest.fromPartial({ model: byId, dataset: DATASET }));
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await evaluator.health()).toBe('SERVING');
  });

  it('exports its metrics', async () => {
    const text = await evaluator.scrape();
    expect(metricValue(text, 'uae_evaluations_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(4);
    expect(metricValue(text, 'uae_evaluations_total', { outcome: 'error' })).toBeGreaterThanOrEqual(10);
    expect(metricValue(text, 'uae_evaluation_seconds_count')).toBeGreaterThanOrEqual(4);
    expect(metricValue(text, 'uae_eval_recon_error', { model: 'dense-ae' })).toBeGreaterThan(0);
    expect(metricValue(text, 'uae_eval_accuracy', { model: 'dense-ae' })).toBeGreaterThan(0);
    expect(metricValue(text, 'uae_eval_asr')).toBe(0.75);
  });
});
