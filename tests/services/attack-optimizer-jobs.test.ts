/**
 * services/attack-optimizer, AttackService.Submit and the shard worker: two
 * worker processes on a real nats-server pull the shards of an attack job over
 * a mice-protein subset (a dense-ae trained here and stored through the bus
 * API). Checks the assembled AttackResult against an in-process attack, that
 * SIGKILLing a worker mid-shard loses and duplicates nothing, and that a
 * poison shard fails its job after max-deliver with a reason naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { connectBus, shardMsgId, shardResultKey, type NatsBus } from '../../libs/bus/index.js';
import { JobStore, isTerminal } from '../../libs/jobs/index.js';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { loadDataset, type Dataset } from '../../libs/data/index.js';
import { createAutoencoder, trainAutoencoder, type Autoencoder } from '../../libs/models/index.js';
import { runAttack } from '../../libs/attack/index.js';
import { v1 } from '../../libs/proto/index.js';
import { saveModel } from '../../services/common/models.js';
import { parseAttackConfig } from '../../services/attack-optimizer/handlers.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { metricValue, startServiceProcess, stopAllServices, unary, unaryError, waitUntil, type ServiceProcess } from '../helpers/services.js';
import { getNpy, getSampleResults, sleep, tinyAttackConfig } from './attack-helpers.js';

const D = 77;
const N = 24;
const ACK_WAIT_MS = 3000;
const MAX_DELIVER = 3;
const MODEL_ID = 'm-attack-test';
const DATASET = v1.DatasetConfig.fromPartial({ source: { $case: 'name', value: 'mice-protein' }, trainSamples: N, testSamples: 8, seed: 11 });

describe.skipIf(!natsServerAvailable())('attack-optimizer: jobs and shard workers', () => {
  let nats: NatsServerHandle;
  let bus: NatsBus;
  let jobs: JobStore;
  let workers: ServiceProcess[];
  let client: v1.AttackServiceClient;
  let ae: Autoencoder;
  let ds: Dataset;

  const startWorker = (name: string, threads: number) =>
    startServiceProcess('attack-optimizer', {
      natsUrl: nats.url,
      env: {
        UAE_BACKEND: 'wasm',
        UAE_ATTACK_THREADS: String(threads),
        UAE_ACK_WAIT_MS: String(ACK_WAIT_MS),
        UAE_MAX_DELIVER: String(MAX_DELIVER),
        UAE_WORKER_NAME: name,
      },
    });

  beforeAll(async () => {
    nats = await startNatsServer();
    // the test's bus shares the workers' queue settings (connectBus applies them to the shared consumer)
    bus = await connectBus({ servers: nats.url, ackWaitMs: ACK_WAIT_MS, maxDeliver: MAX_DELIVER });
    jobs = new JobStore(bus);
    const starting = Promise.all([startWorker('w1', 1), startWorker('w2', 1)]);
    await initBackend('wasm');
    ds = await loadDataset('mice-protein', { trainSamples: N, testSamples: 8, seed: 11 });
    ae = createAutoencoder('dense-ae', [D], { hidden: 16, seed: 2 });
    const x = tf.tensor2d(ds.train.x, [N, D]);
    await trainAutoencoder(ae, x, { epochs: 3, batchSize: 8, seed: 1 });
    x.dispose();
    await saveModel(bus.artifacts, { modelId: MODEL_ID, jobId: 'test', ae });
    workers = await starting;
    client = workers[0]!.client(v1.AttackServiceClient);
  });

  afterAll(async () => {
    await stopAllServices();
    ae?.dispose();
    await bus?.close();
    await nats?.dispose();
  });

  const spec = (config: v1.AttackConfig, shardSize: number): v1.AttackJobSpec =>
    v1.AttackJobSpec.fromPartial({ model: { source: { $case: 'modelId', value: MODEL_ID } }, dataset: DATASET, config, shardSize });

  const submit = async (s: v1.AttackJobSpec, requestId = '') => {
    const res = await unary<v1.SubmitResponse>(client, 'submit', v1.SubmitRequest.fromPartial({ requestId, spec: s, labels: { run: 'test' } }), workers[0]!.metadata());
    expect(res.job).toBeDefined();
    return { job: res.job!, deduplicated: res.deduplicated };
  };

  const finished = (jobId: string, timeoutMs = 60_000) =>
    waitUntil(async () => {
      const j = await jobs.get(jobId);
      return j && isTerminal(j.state) ? j : undefined;
    }, timeoutMs, 100);

  /** The assembled result covers samples 0…N−1 exactly once, in order. */
  const checkExactlyOnce = async (result: v1.AttackResult) => {
    expect(result.samples).toBe(N);
    const records = await getSampleResults(bus.artifacts, result.results);
    expect(records.map((r) => r.sampleId)).toEqual(Array.from({ length: N }, (_, i) => i));
    const xAdv = await getNpy(bus.artifacts, result.xAdv);
    expect(xAdv.shape).toEqual([N, D]);
    const success = await getNpy(bus.artifacts, result.success);
    expect(Array.from(success.data as Uint8Array).reduce((a, b) => a + b, 0)).toBe(result.succeeded);
    expect(records.filter((r) => r.success).length).toBe(result.succeeded);
    return { records, xAdv };
  };

  it('runs an attack job to SUCCEEDED with the in-process results, every sample once', async () => {
    const config = tinyAttackConfig();
    const { job, deduplicated } = await submit(spec(config, 4), 'req-1');
    expect(deduplicated).toBe(false);
    expect(job.kind).toBe(v1.JobKind.JOB_KIND_ATTACK);
    expect(job.labels).toEqual({ run: 'test' });
    // a retried Submit returns the same job
    const again = await submit(spec(config, 4), 'req-1');
    expect(again.deduplicated).toBe(true);
    expect(again.job.jobId).toBe(job.jobId);

    const done = await finished(job.jobId);
    expect(v1.jobStateToJSON(done.state), JSON.stringify(done.error)).toBe('JOB_STATE_SUCCEEDED');
    const result = done.result?.kind?.$case === 'attack' ? done.result.kind.value : undefined;
    expect(result).toBeDefined();
    const { records, xAdv } = await checkExactlyOnce(result!);
    expect(done.progress).toMatchObject({ samplesDone: N, samplesTotal: N, samplesSucceeded: result!.succeeded, fraction: 1 });
    expect(result!.asr).toBeCloseTo(result!.succeeded / N, 12);

    // identical to attacking the split in this process (sample ids = positions)
    const local = await runAttack(ae, { data: ds.train.x, inputShape: [D] }, parseAttackConfig(config, 'config', { sampler: 'random' }));
    expect(Buffer.from((xAdv.data as Float32Array).buffer, (xAdv.data as Float32Array).byteOffset, N * D * 4).equals(Buffer.from(Float32Array.from(local.flatMap((r) => Array.from(r.xAdv))).buffer))).toBe(true);
    records.forEach((r, i) => {
      expect(r.success).toBe(local[i]!.success);
      expect(r.f).toBe(local[i]!.f);
    });

    // 6 shards computed (at least once: a worker whose event loop stalls past the ack wait can lose a shard
    // to the other one, which recomputes the same key), 6 result keys
    const texts = await Promise.all(workers.map((w) => w.scrape()));
    const completed = texts.map((t) => metricValue(t, 'uae_attack_shards_total', { outcome: 'completed' }) ?? 0);
    expect(completed.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(6);
    expect(texts.map((t) => metricValue(t, 'uae_attack_samples_total', { source: 'shard' }) ?? 0).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(N);
    expect((await bus.artifacts.list(`jobs/${job.jobId}/attack/`)).map((i) => i.key)).toEqual([0, 1, 2, 3, 4, 5].map((i) => shardResultKey(job.jobId, i)));
    expect(await bus.work.pending()).toBe(0);
  });

  it('rejects bad Submit requests with the field named', async () => {
    const md = workers[0]!.metadata();
    const req = (s: Partial<v1.AttackJobSpec>, requestId = '') =>
      v1.SubmitRequest.fromPartial({ requestId, spec: { ...spec(tinyAttackConfig(), 4), ...s } });
    const cases: Array<[v1.SubmitRequest, grpc.status, string]> = [
      [req({ dataset: { ...DATASET, source: { $case: 'name', value: 'no-such-dataset' } } }), grpc.status.NOT_FOUND, 'spec.dataset.name'],
      [req({ model: { source: { $case: 'modelId', value: 'm-missing' } } }), grpc.status.NOT_FOUND, 'spec.model.model_id'],
      [req({ shardSize: 100_001 }), grpc.status.INVALID_ARGUMENT, 'spec.shard_size'],
      [req({ split: 7 as v1.DatasetSplit }), grpc.status.INVALID_ARGUMENT, 'spec.split'],
      [req({ config: tinyAttackConfig({ iterations: 200_000 }) }), grpc.status.INVALID_ARGUMENT, 'spec.config.iterations'],
      [req({ shardSize: 5 }, 'req-1'), grpc.status.ALREADY_EXISTS, 'request_id'],
    ];
    for (const [r, code, field] of cases) {
      const err = await unaryError(client, 'submit', r, md);
      expect({ code: grpc.status[err.code], field: err.field }).toEqual({ code: grpc.status[code], field });
    }
  });

  it('survives a worker SIGKILLed in the middle of a shard: every sample exactly once', async () => {
    const { job } = await submit(spec(tinyAttackConfig({ iterations: 20, seed: 3 }), 6));
    // wait until some worker is busy with a shard of this job, then kill it
    const busy = await waitUntil(
      () => workers.find((w) => w.logs().some((l) => l['msg'] === 'shard started' && l['jobId'] === job.jobId)),
      30_000,
      20,
    );
    await sleep(300);
    await busy.kill();
    const survivor = workers.find((w) => w !== busy)!;
    const done = await finished(job.jobId, 60_000);
    expect(v1.jobStateToJSON(done.state), JSON.stringify(done.error)).toBe('JOB_STATE_SUCCEEDED');
    const result = done.result?.kind?.$case === 'attack' ? done.result.kind.value : undefined;
    await checkExactlyOnce(result!);
    // every shard result key exists exactly once; the killed worker's shard came back to the survivor
    const keys = (await bus.artifacts.list(`jobs/${job.jobId}/attack/`)).map((i) => i.key);
    expect(keys).toEqual([0, 1, 2, 3].map((i) => shardResultKey(job.jobId, i)));
    expect(metricValue(await survivor.scrape(), 'uae_shard_redeliveries_total')).toBeGreaterThanOrEqual(1);
    expect(await bus.work.pending()).toBe(0);
    workers = [survivor];
    client = survivor.client(v1.AttackServiceClient);
  });

  it('fails the job with the shard named when a shard is poison (max-deliver)', async () => {
    // what an orchestrator would publish: a shard whose model cannot be loaded
    const { job } = await jobs.create({ kind: v1.JobKind.JOB_KIND_ATTACK, spec: { kind: { $case: 'attack', value: spec(tinyAttackConfig(), 4) } } });
    const missing = { sha256: 'e'.repeat(64), sizeBytes: 0, mediaType: '', name: '' };
    const shard = v1.AttackShard.fromPartial({
      jobId: job.jobId,
      shardIndex: 0,
      shardCount: 1,
      sampleStart: 0,
      sampleCount: 4,
      model: { source: { $case: 'artifacts', value: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE, inputShape: [D], modelJson: missing, weights: missing } } },
      dataset: DATASET,
      split: v1.DatasetSplit.DATASET_SPLIT_TRAIN,
      config: tinyAttackConfig(),
      resultKey: shardResultKey(job.jobId, 0),
    });
    await bus.work.publish(bus.subjects.shard(job.jobId, 0), v1.AttackShard.encode(shard).finish(), { msgId: shardMsgId(job.jobId, 0) });
    const done = await finished(job.jobId, 30_000);
    expect(v1.jobStateToJSON(done.state)).toBe('JOB_STATE_FAILED');
    expect(done.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(done.error?.message).toMatch(/shard 1\/1 \(samples 0–3/);
    expect(done.error?.message).toContain(`after ${MAX_DELIVER} deliveries`);
    expect(done.error?.message).toContain('model.artifacts.model_json');
    expect(await bus.artifacts.has(shardResultKey(job.jobId, 0))).toBe(false);
    const text = await workers[0]!.scrape();
    expect(metricValue(text, 'uae_attack_shards_total', { outcome: 'dead_letter' })).toBe(1);
    expect(metricValue(text, 'uae_attack_shards_total', { outcome: 'retried' })).toBe(MAX_DELIVER - 1);
    await waitUntil(async () => (await bus.work.pending()) === 0, 5000);
  });
});
