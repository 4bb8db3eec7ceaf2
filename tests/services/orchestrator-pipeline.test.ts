/**
 * The orchestrator's distributed pipeline on real processes: nats-server
 * (file storage), trainer, evaluator, attack-optimizer (shard worker) and
 * orchestrator on loopback. The metrics of a tiny study equal those of the
 * in-process runAugmentation with the same config and seed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v1 } from '../../libs/proto/index.js';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset } from '../../libs/data/index.js';
import { runAugmentation } from '../../libs/augment/index.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { connectBus, type NatsBus } from '../../libs/bus/index.js';
import { metricValue, startServiceProcess, unary, unaryError, waitUntil } from '../helpers/services.js';
import {
  CLUSTER_ENV,
  comparableFromProto,
  comparableFromReport,
  eventKinds,
  startCluster,
  tinyPipeline,
  TINY_AUGMENTATION,
  TINY_DATASET,
  waitTerminal,
  watch,
  type Cluster,
  type Comparable,
  type PipelineOverrides,
} from './orchestrator-helpers.js';

const { JobState } = v1;

describe.skipIf(!natsServerAvailable())('orchestrator: distributed pipeline', () => {
  let cluster: Cluster;
  let reference: Comparable;
  let bus: NatsBus | undefined;

  beforeAll(async () => {
    const [c, ref] = await Promise.all([
      startCluster(),
      (async () => {
        await initBackend('wasm');
        const ds = await loadDataset(TINY_DATASET.name, TINY_DATASET);
        return comparableFromReport(await runAugmentation(ds, TINY_AUGMENTATION));
      })(),
    ]);
    cluster = c;
    reference = ref;
  });

  afterAll(async () => {
    await bus?.close();
    await cluster?.stop();
  });

  it('runs a pipeline to SUCCEEDED with the in-process metrics, streaming snapshot, stages, progress and completion', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const res = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'tiny-1', config: tinyPipeline(), labels: { run: 'a' } }), meta);
    expect(res.deduplicated).toBe(false);
    expect(res.job!.state).toBe(JobState.JOB_STATE_QUEUED);
    expect(res.job!.kind).toBe(v1.JobKind.JOB_KIND_PIPELINE);
    const jobId = res.job!.jobId;

    const msgs = await watch(client, { jobId, afterSequence: 0 }, meta);
    const kinds = eventKinds(msgs);
    expect(kinds[0]).toBe('snapshot');
    expect(kinds.at(-1)).toBe('completed');
    const stages = msgs.flatMap((m) => (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'stage' ? [m.kind.value.payload.value.current!.name] : []));
    expect(stages).toEqual([
      'train original',
      'evaluate original',
      ...['mine', 'l2', 'ga-0.05', 'repeat', 'none'].flatMap((m) => [`generate ${m}`, `retrain ${m}`, `evaluate ${m}`]),
    ]);
    expect(kinds).toContain('progress');
    const seqs = msgs.flatMap((m) => (m.kind?.$case === 'event' ? [m.kind.value.sequence] : []));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);

    const job = (await unary<v1.GetJobResponse>(client, 'getJob', v1.GetJobRequest.fromPartial({ jobId }), meta)).job!;
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const result = job.result?.kind?.$case === 'pipeline' ? job.result.kind.value : undefined;
    expect(result).toBeDefined();
    expect(result!.metrics!.dataset).toBe('mice-protein');
    expect(result!.metrics!.trainSamples).toBe(24);
    expect(result!.metrics!.backend).toBe('wasm');
    expect(comparableFromProto(result!.metrics!)).toEqual(reference);
    expect(Object.keys(result!.generated).sort()).toEqual(['ga-0.05', 'l2', 'mine']);
    expect(result!.generated.mine!.attack!.samples).toBe(24);
    expect(result!.generated['ga-0.05']!.attack).toBeUndefined();
    expect(Object.keys(result!.models).sort()).toEqual(['ga-0.05', 'l2', 'mine', 'none', 'original', 'repeat']);
    expect(result!.history.original!.epochs).toHaveLength(2);

    const text = await cluster.orchestrator.scrape();
    expect(metricValue(text, 'uae_jobs_total', { kind: 'pipeline', state: 'succeeded' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'uae_job_duration_seconds_count', { kind: 'pipeline' })).toBeGreaterThanOrEqual(1);
  });

  it('de-duplicates by request_id and rejects a reused id with another payload', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const cfg = tinyPipeline({ methods: [{ kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_NONE, sigma: 0 }] });
    const a = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'dedup-1', config: cfg }), meta);
    const b = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'dedup-1', config: cfg }), meta);
    expect(b.deduplicated).toBe(true);
    expect(b.job!.jobId).toBe(a.job!.jobId);
    const err = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'dedup-1', config: tinyPipeline() }), meta);
    expect(err.code).toBe(6); // ALREADY_EXISTS
    expect(err.details).toMatch(/request_id/);
    const done = await waitTerminal(client, a.job!.jobId, meta);
    expect(done.state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });

  it('rejects invalid configs with INVALID_ARGUMENT naming the field', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const cases: Array<[PipelineOverrides, RegExp]> = [
      [{ methods: [] }, /^config\.methods/],
      [{ methods: [{ kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma: 0 }] }, /^config\.methods\[0\]\.sigma/],
      [{ model: { kind: v1.ModelKind.MODEL_KIND_UNSPECIFIED, inputShape: [], hidden: 0, selectedFeatures: 0, classes: 0, seed: 0 } }, /^config\.model\.kind/],
      [{ attack: v1.AttackConfig.fromPartial({ iterations: 200_000 }) }, /^config\.attack\.iterations/],
      [{ train: { epochs: 0, batchSize: 100_000, seed: 0 } }, /^config\.train\.batch_size/],
    ];
    for (const [o, re] of cases) {
      const err = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: tinyPipeline(o) }), meta);
      expect(err.code, JSON.stringify(o)).toBe(3);
      expect(err.details).toMatch(re);
    }
    const nf = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: tinyPipeline({ dataset: v1.DatasetConfig.fromPartial({ source: { $case: 'name', value: 'no-such-set' } }) }) }), meta);
    expect(nf.code).toBe(5);
    expect(nf.details).toMatch(/config\.dataset\.name/);
    // Server paths are off by default: the same answer whether the file exists or not (no oracle).
    for (const path of ['csv:/etc/passwd', 'csv:/etc/no-such-file']) {
      const off = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: tinyPipeline({ dataset: v1.DatasetConfig.fromPartial({ source: { $case: 'name', value: path } }) }) }), meta);
      expect([off.code, off.field]).toEqual([3, 'config.dataset.name']);
      expect(off.details).toContain('server-side dataset paths are off on this service');
      expect(off.details).toContain('UAE_ALLOW_DATASET_PATHS=true');
    }
    expect((await unaryError(client, 'getJob', v1.GetJobRequest.fromPartial({ jobId: 'jnope' }), meta)).code).toBe(5);
    expect((await unaryError(client, 'getJob', v1.GetJobRequest.fromPartial({ jobId: 'bad.id' }), meta)).code).toBe(3);
  });

  it('fails a job whose model cannot take the data with INVALID_ARGUMENT and a message that says why', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const res = await new Promise<v1.SubmitPipelineResponse>((resolve, reject) =>
      client.submitPipeline(
        v1.SubmitPipelineRequest.fromPartial({ config: tinyPipeline({ model: v1.ModelConfig.fromPartial({ kind: v1.ModelKind.MODEL_KIND_CONV_AE }) }) }),
        meta,
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    const job = await waitTerminal(client, res.job!.jobId, meta);
    expect(job.state).toBe(JobState.JOB_STATE_FAILED);
    expect(job.error?.code).toBe(3);
    expect(job.error?.message).toMatch(/conv-ae needs image data of shape \[H, W, C\]; got samples of shape \[77\]/);
  });

  it('lists jobs newest first with paging and filters', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const all = await unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ pageSize: 1000 }), meta);
    expect(all.jobs.length).toBeGreaterThanOrEqual(2);
    const ids = all.jobs.map((j) => j.jobId);
    expect([...ids].sort().reverse()).toEqual(ids);
    const seen: string[] = [];
    let token = '';
    do {
      const page: v1.ListJobsResponse = await unary(client, 'listJobs', v1.ListJobsRequest.fromPartial({ pageSize: 1, pageToken: token }), meta);
      expect(page.jobs.length).toBeLessThanOrEqual(1);
      seen.push(...page.jobs.map((j) => j.jobId));
      token = page.nextPageToken;
    } while (token);
    expect(seen).toEqual(ids);
    const labelled = await unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ labels: { run: 'a' }, kind: v1.JobKind.JOB_KIND_PIPELINE }), meta);
    expect(labelled.jobs).toHaveLength(1);
    const first = await unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ pageSize: 1 }), meta);
    const mismatch = await unaryError(client, 'listJobs', v1.ListJobsRequest.fromPartial({ pageSize: 1, pageToken: first.nextPageToken, kind: v1.JobKind.JOB_KIND_TRAINING }), meta);
    expect(mismatch.code).toBe(3);
    expect((await unaryError(client, 'listJobs', v1.ListJobsRequest.fromPartial({ pageSize: 1001 }), meta)).code).toBe(3);
  });

  it('cancels a running pipeline: CANCELLED, shards purged, training jobs cancelled; idempotent', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    // Longer training so the cancel lands mid-stage.
    const cfg = tinyPipeline({ train: { epochs: 5000, batchSize: 8, seed: 0 } });
    const { job } = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: cfg }), meta);
    const jobId = job!.jobId;
    await watch(client, { jobId, skipProgress: true }, meta, (msgs) => eventKinds(msgs).includes('stage'));
    const listTraining = () =>
      unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ kind: v1.JobKind.JOB_KIND_TRAINING, labels: { 'uae-pipeline': jobId } }), meta);
    await waitUntil(async () => (await listTraining()).jobs.length === 1, 20_000, 100);
    const c1 = await unary<v1.CancelJobResponse>(client, 'cancelJob', v1.CancelJobRequest.fromPartial({ jobId, reason: 'test says stop' }), meta);
    expect(c1.job!.state).toBe(JobState.JOB_STATE_CANCELLED);
    expect(c1.job!.error!.message).toBe('test says stop');
    const c2 = await unary<v1.CancelJobResponse>(client, 'cancelJob', v1.CancelJobRequest.fromPartial({ jobId, reason: 'again' }), meta);
    expect(c2.job!.state).toBe(JobState.JOB_STATE_CANCELLED);
    expect(c2.job!.error!.message).toBe('test says stop');
    // A watch of a cancelled job: the snapshot, then (from the start) every event up to `cancelled`.
    const replay = await watch(client, { jobId, afterSequence: 1 }, meta);
    expect(eventKinds(replay).at(-1)).toBe('cancelled');
    // The training job the pipeline started is cancelled too.
    const training = await listTraining();
    expect(training.jobs.length).toBe(1);
    const t = await waitTerminal(client, training.jobs[0]!.jobId, meta, 20_000);
    expect(t.state).toBe(JobState.JOB_STATE_CANCELLED);
    // The watch the test cancelled early ended on the server too.
    await waitUntil(async () => metricValue(await cluster.orchestrator.scrape(), 'uae_grpc_server_in_flight', { method: 'WatchJob' }) === 0, 10_000);
  });

  it('purges the queued shards of a pipeline cancelled while its attack runs', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    // Same queue settings as the services: connectBus applies them to the shared consumer.
    bus = await connectBus({ servers: cluster.nats.url, ackWaitMs: Number(CLUSTER_ENV.UAE_ACK_WAIT_MS), maxDeliver: Number(CLUSTER_ENV.UAE_MAX_DELIVER) });
    const slow = tinyPipeline({ attack: v1.AttackConfig.fromPartial({ ...tinyPipeline().attack, iterations: 400 }), shardSize: 4 });
    const { job } = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: slow }), meta);
    const jobId = job!.jobId;
    const filter = bus.subjects.jobShards(jobId);
    await waitUntil(async () => (await bus!.work.pending(filter)) >= 2, 60_000, 100);
    const c = await unary<v1.CancelJobResponse>(client, 'cancelJob', v1.CancelJobRequest.fromPartial({ jobId }), meta);
    expect(c.job!.state).toBe(JobState.JOB_STATE_CANCELLED);
    expect(c.job!.stage!.name).toBe('generate mine');
    expect(await bus.work.pending(filter)).toBe(0);
    // The worker drops the shard it was attacking once it sees the job is over; nothing is left queued.
    await new Promise((r) => setTimeout(r, 1000));
    expect(await bus.work.pending(filter)).toBe(0);
    const text = await cluster.orchestrator.scrape();
    expect(metricValue(text, 'uae_jobs_total', { kind: 'pipeline', state: 'cancelled' })).toBeGreaterThanOrEqual(2);
  });

  it('runs training and evaluation in-process when no trainer/evaluator address is configured', async () => {
    const solo = await startServiceProcess('orchestrator', { natsUrl: cluster.nats.url, logLevel: 'warn', env: CLUSTER_ENV });
    try {
      const client = solo.client(v1.JobServiceClient);
      const { job } = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: tinyPipeline() }), solo.metadata());
      const done = await waitTerminal(client, job!.jobId, solo.metadata());
      expect(done.state, JSON.stringify(done.error)).toBe(JobState.JOB_STATE_SUCCEEDED);
      const result = done.result?.kind?.$case === 'pipeline' ? done.result.kind.value : undefined;
      expect(comparableFromProto(result!.metrics!)).toEqual(reference);
      // No training job went through the trainer.
      const training = await unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ kind: v1.JobKind.JOB_KIND_TRAINING, labels: { 'uae-pipeline': job!.jobId } }), solo.metadata());
      expect(training.jobs).toHaveLength(0);
    } finally {
      await solo.stop();
    }
  });
});
