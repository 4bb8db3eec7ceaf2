/**
 * services/trainer as a real process on a private nats-server: Train →
 * job events and a model whose test reconstruction error equals one trained
 * in-process with libs/models and the same seeds; GetModel; contract errors;
 * cancellation through the job record; a trainer SIGKILLed mid-job is
 * replaced and the job resumes and completes; metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { loadDataset } from '../../libs/data/index.js';
import { createAutoencoder, trainAutoencoder } from '../../libs/models/index.js';
import { reconstructionError } from '../../libs/eval/index.js';
import { connectBus, type NatsBus } from '../../libs/bus/index.js';
import { JobStore } from '../../libs/jobs/index.js';
import { v1 } from '../../libs/proto/index.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { metricValue, startServiceProcess, unary, unaryError, waitUntil, type ServiceProcess } from '../helpers/services.js';

const { JobState } = v1;
const LEASE_MS = '1500';

let nats: NatsServerHandle;
let bus: NatsBus;
let jobs: JobStore;
let trainer: ServiceProcess;
let client: v1.TrainingServiceClient;

function spec(over: { epochs?: number; batch?: number; seed?: number; kind?: v1.ModelKind; dataset?: string; trainSamples?: number } = {}): v1.TrainingJobSpec {
  const seed = over.seed ?? 3;
  return v1.TrainingJobSpec.fromPartial({
    dataset: { source: { $case: 'name', value: over.dataset ?? 'mice-protein' }, trainSamples: over.trainSamples ?? 200, testSamples: 100, seed },
    model: { kind: over.kind ?? v1.ModelKind.MODEL_KIND_DENSE_AE, hidden: 16, seed },
    config: { epochs: over.epochs ?? 5, batchSize: over.batch ?? 50, seed },
  });
}

async function train(s: v1.TrainingJobSpec, requestId = ''): Promise<v1.TrainResponse> {
  return unary<v1.TrainResponse>(client, 'train', { requestId, spec: s, labels: { suite: 'trainer' } }, trainer.metadata());
}

async function terminal(jobId: string, timeoutMs = 60_000): Promise<v1.Job> {
  return waitUntil(async () => {
    const j = await jobs.get(jobId);
    return j && [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED].includes(j.state) ? j : undefined;
  }, timeoutMs, 100);
}

function startTrainer() {
  return startServiceProcess('trainer', { natsUrl: nats.url, env: { UAE_TRAINER_LEASE_MS: LEASE_MS } });
}

beforeAll(async () => {
  if (!natsServerAvailable()) throw new Error('nats-server is not installed (NATS_SERVER_BIN)');
  nats = await startNatsServer();
  [trainer, bus] = await Promise.all([startTrainer(), connectBus({ servers: nats.url, name: 'trainer-test' })]);
  jobs = new JobStore(bus);
  client = trainer.client(v1.TrainingServiceClient);
  await initBackend();
});

afterAll(async () => {
  await trainer?.stop();
  await bus?.close();
  await nats?.dispose();
});

describe('trainer service (NATS)', () => {
  it('is SERVING once ready', async () => {
    expect(await trainer.health()).toBe('SERVING');
    expect(await trainer.health('uae.v1.TrainingService')).toBe('SERVING');
  });

  it('rejects bad specs with the right code, naming the field', async () => {
    const md = trainer.metadata();
    const noKind = spec({ kind: v1.ModelKind.MODEL_KIND_UNSPECIFIED });
    let err = await unaryError(client, 'train', { requestId: '', spec: noKind, labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.model.kind']);
    // Classifiers train here too; their own options are checked up front.
    const cnnHidden = spec({ kind: v1.ModelKind.MODEL_KIND_CNN_CLASSIFIER });
    err = await unaryError(client, 'train', { requestId: '', spec: cnnHidden, labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.model.hidden']);
    const mlpArch = spec({ kind: v1.ModelKind.MODEL_KIND_MLP_CLASSIFIER });
    mlpArch.model!.architecture = v1.CnnArchitecture.CNN_ARCHITECTURE_MNIST;
    err = await unaryError(client, 'train', { requestId: '', spec: mlpArch, labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.model.architecture']);
    const badEps = spec({ kind: v1.ModelKind.MODEL_KIND_MLP_CLASSIFIER });
    badEps.config!.adversarial = { method: 0, epsilon: 0, steps: 0 };
    err = await unaryError(client, 'train', { requestId: '', spec: badEps, labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.config.adversarial.epsilon']);
    err = await unaryError(client, 'train', { requestId: '', spec: spec({ dataset: 'imagenet' }), labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.NOT_FOUND, 'spec.dataset.name']);
    const badSplit = spec();
    badSplit.config!.validationSplit = 1.5;
    err = await unaryError(client, 'train', { requestId: '', spec: badSplit, labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.config.validation_split']);
    const noData = spec();
    delete noData.dataset;
    err = await unaryError(client, 'train', { requestId: '', spec: noData, labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.dataset']);
    err = await unaryError(client, 'train', { requestId: '', spec: spec({ dataset: 'csv:/etc/passwd' }), labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.dataset.name']);
    expect(err.details).toMatch(/server-side dataset paths are off on this service.*UAE_ALLOW_DATASET_PATHS=true and UAE_DATASET_ROOTS/);
    err = await unaryError(client, 'getModel', { modelId: 'm-nope' }, md);
    expect([err.code, err.field]).toEqual([grpc.status.NOT_FOUND, 'model_id']);
    err = await unaryError(client, 'getModel', { modelId: 'a.b' }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'model_id']);
    err = await unaryError(client, 'train', { requestId: '', spec: spec(), labels: {} });
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('trains in the background: job events, then a model equal to one trained in-process with the same seeds', async () => {
    const s = spec();
    const events: v1.JobEvent[] = [];
    const res = await train(s, 'train-1');
    expect(res.job!.state).toBe(JobState.JOB_STATE_QUEUED);
    expect(res.modelId).toBe(`m-${res.job!.jobId}`);
    expect(res.deduplicated).toBe(false);
    const sub = await jobs.watch(res.job!.jobId, 0, (e) => void events.push(e));
    // Same request id and payload: the same job; another payload: ALREADY_EXISTS.
    const again = await train(s, 'train-1');
    expect([again.job!.jobId, again.deduplicated]).toEqual([res.job!.jobId, true]);
    const conflict = await unaryError(client, 'train', { requestId: 'train-1', spec: spec({ epochs: 6 }), labels: {} }, trainer.metadata());
    expect([conflict.code, conflict.field]).toEqual([grpc.status.ALREADY_EXISTS, 'request_id']);

    const job = await terminal(res.job!.jobId);
    expect(job.state, JSON.stringify(job.error)).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(job.labels).toEqual({ suite: 'trainer' });
    const result = job.result?.kind?.$case === 'training' ? job.result.kind.value : undefined;
    expect(result?.modelId).toBe(res.modelId);
    expect(result?.history?.epochs).toHaveLength(5);
    await waitUntil(() => events.some((e) => e.payload?.$case === 'completed'), 10_000);
    await sub.stop();
    const kinds = events.map((e) => e.payload!.$case);
    expect(kinds[0]).toBe('created');
    expect(kinds).toContain('stage');
    expect(kinds.at(-1)).toBe('completed');
    const progress = events.filter((e) => e.payload?.$case === 'progress').map((e) => (e.payload as { value: v1.JobProgressed }).value.progress!);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.at(-1)).toMatchObject({ epochsDone: 5, epochsTotal: 5 });
    expect(progress.at(-1)!.loss).toBeGreaterThan(0);
    expect(events.map((e) => e.sequence)).toEqual(events.map((_, i) => i + 1));

    const { model } = await unary<v1.GetModelResponse>(client, 'getModel', { modelId: res.modelId }, trainer.metadata());
    expect(model!.modelId).toBe(res.modelId);
    expect(model!.jobId).toBe(res.job!.jobId);
    expect(model!.artifacts!.kind).toBe(v1.ModelKind.MODEL_KIND_DENSE_AE);
    expect(model!.artifacts!.inputShape).toEqual([77]);
    expect(model!.artifacts!.modelJson!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(model!.artifacts!.weights!.mediaType).toBe('application/octet-stream');
    expect(model!.history!.epochs).toHaveLength(5);
    expect(model!.dataset).toEqual(s.dataset);

    // The same run in this process, straight through libs/data + libs/models + libs/eval.
    const ds = await loadDataset('mice-protein', { trainSamples: 200, testSamples: 100, seed: 3 });
    const ae = createAutoencoder('dense-ae', ds.inputShape, { hidden: 16, seed: 3 });
    try {
      const x = tf.tensor(ds.train.x, [ds.train.n, ...ds.inputShape]);
      const { history } = await trainAutoencoder(ae, x, { epochs: 5, batchSize: 50, seed: 3 });
      x.dispose();
      const expected = await reconstructionError(ae, ds.test.x, ds.inputShape);
      expect(Math.abs(model!.testReconError! - expected)).toBeLessThanOrEqual(1e-6);
      expect(result!.testReconError).toBe(model!.testReconError);
      expect(model!.history!.epochs.map((e) => e.loss)).toEqual(history.map((e) => e.loss));
    } finally {
      ae.dispose();
    }
  });

  it('fails a bad-input job with the mapped code and message (INVALID_ARGUMENT naming the field, not INTERNAL)', async () => {
    const s = spec({ epochs: 1 });
    s.model!.inputShape = [5]; // mice-protein rows have 77 features: only the job can tell
    const res = await train(s);
    const job = await terminal(res.job!.jobId);
    expect(job.state).toBe(JobState.JOB_STATE_FAILED);
    expect(job.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(job.error?.message).toBe("spec.model.input_shape: [5] does not match the dataset's samples [77]");
  });

  it('refuses concrete-ae with selected_features > features before allocating (at submit with input_shape, else in the job), and keeps training', async () => {
    const md = trainer.metadata();
    const withShape = spec({ kind: v1.ModelKind.MODEL_KIND_CONCRETE_AE, epochs: 1 });
    withShape.model!.selectedFeatures = 1_000_000;
    withShape.model!.inputShape = [77];
    const err = await unaryError(client, 'train', { requestId: '', spec: withShape, labels: {} }, md);
    expect([err.code, err.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'spec.model.selected_features']);
    // The outside client's request: no input_shape, so it is accepted and fails in the job.
    const s = spec({ kind: v1.ModelKind.MODEL_KIND_CONCRETE_AE, epochs: 1 });
    s.model!.selectedFeatures = 1_000_000;
    const job = await terminal((await train(s)).job!.jobId);
    expect(job.state).toBe(JobState.JOB_STATE_FAILED);
    expect(job.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(job.error?.message).toMatch(/^spec\.model\.selected_features: 1000000 selected features, but the samples have only 77/);
    // The backend was never touched: the next job on this process trains.
    const next = await terminal((await train(spec({ epochs: 1, kind: v1.ModelKind.MODEL_KIND_CONCRETE_AE }))).job!.jobId);
    expect(next.state, JSON.stringify(next.error)).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(await trainer.health()).toBe('SERVING');
  });

  it('refuses a model over the parameter budget (RESOURCE_EXHAUSTED naming the field)', async () => {
    const big = spec({ epochs: 1 });
    big.model!.hidden = 65_536;
    big.model!.inputShape = [1000];
    const err = await unaryError(client, 'train', { requestId: '', spec: big, labels: {} }, trainer.metadata());
    expect([err.code, err.field]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 'spec.model.hidden']);
    expect(err.details).toMatch(/UAE_MAX_PARAMETERS/);
  });

  it('stops a job that is cancelled (CancelJob writes CANCELLED to the record)', async () => {
    const res = await train(spec({ epochs: 2000, batch: 10 }));
    const jobId = res.job!.jobId;
    await waitUntil(async () => ((await jobs.get(jobId))?.progress?.epochsDone ?? 0) >= 1, 30_000, 50).catch((e) => {
      throw new Error(`${e}\n${trainer.stderr().slice(-3000)}`);
    });
    await jobs.cancel(jobId, 'test cancels');
    await waitUntil(() => trainer.logs().some((l) => l.jobId === jobId && l.msg === 'training stopped: job cancelled'), 10_000);
    const job = await jobs.require(jobId);
    expect(job.state).toBe(JobState.JOB_STATE_CANCELLED);
    expect(job.error?.message).toBe('test cancels');
    const err = await unaryError(client, 'getModel', { modelId: res.modelId }, trainer.metadata());
    expect(err.code).toBe(grpc.status.NOT_FOUND);
  });

  it('resumes a job after its trainer was SIGKILLed mid-training, and completes it', async () => {
    const res = await train(spec({ epochs: 30, batch: 10, seed: 5, trainSamples: 120 }));
    const jobId = res.job!.jobId;
    await waitUntil(async () => ((await jobs.get(jobId))?.progress?.epochsDone ?? 0) >= 2, 30_000, 50);
    await trainer.kill();
    expect((await jobs.require(jobId)).state).toBe(JobState.JOB_STATE_RUNNING);
    trainer = await startTrainer();
    client = trainer.client(v1.TrainingServiceClient);
    const job = await terminal(jobId, 60_000);
    expect(job.state, JSON.stringify(job.error)).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(trainer.logs().some((l) => l.jobId === jobId && l.msg === 'resuming training job (from scratch)')).toBe(true);
    const { model } = await unary<v1.GetModelResponse>(client, 'getModel', { modelId: res.modelId }, trainer.metadata());
    expect(model!.history!.epochs).toHaveLength(30);
    // The lease is released once done.
    expect(await bus.kv.get(`leases.training.${jobId}`)).toBeNull();
  });

  it('exports training and job metrics', async () => {
    const res = await train(spec({ epochs: 3 }));
    await terminal(res.job!.jobId);
    const text = await trainer.scrape();
    expect(metricValue(text, 'uae_training_epochs_total', { model: 'dense-ae' })).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, 'uae_training_loss', { model: 'dense-ae' })).toBeGreaterThan(0);
    expect(metricValue(text, 'uae_jobs_total', { kind: 'training', state: 'queued' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'uae_jobs_total', { kind: 'training', state: 'succeeded' })).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, 'uae_grpc_server_handled_total', { method: 'Train', code: 'OK' })).toBeGreaterThanOrEqual(1);
  });
});
