/**
 * A pipeline survives its orchestrator being killed mid-job, and the
 * nats-server (file storage) being restarted mid-job: the job resumes from its
 * last recorded stage and ends SUCCEEDED with exactly the metrics of the
 * in-process runAugmentation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v1 } from '../../libs/proto/index.js';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset } from '../../libs/data/index.js';
import { runAugmentation } from '../../libs/augment/index.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { metricValue, unary } from '../helpers/services.js';
import {
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
} from '../services/orchestrator-helpers.js';

const { JobState } = v1;

function stageOf(msgs: v1.WatchJobResponse[]): string | undefined {
  const last = msgs.at(-1);
  return last?.kind?.$case === 'event' && last.kind.value.payload?.$case === 'stage' ? last.kind.value.payload.value.current?.name : undefined;
}

describe.skipIf(!natsServerAvailable())('pipeline restarts (e2e)', () => {
  let cluster: Cluster;
  let reference: Comparable;

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
    await cluster?.stop();
  });

  async function submit(requestId: string): Promise<string> {
    const res = await unary<v1.SubmitPipelineResponse>(
      cluster.jobsClient(),
      'submitPipeline',
      v1.SubmitPipelineRequest.fromPartial({ requestId, config: tinyPipeline() }),
      cluster.orchestrator.metadata(),
    );
    return res.job!.jobId;
  }

  /** The job ends SUCCEEDED with the reference metrics, after `disruptedAt` (so the disruption was mid-job). */
  async function expectReferenceResult(jobId: string, disruptedAt: number): Promise<void> {
    const job = await waitTerminal(cluster.jobsClient(), jobId, cluster.orchestrator.metadata(), 120_000);
    expect(job.state, JSON.stringify(job.error)).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(job.finishedAt!.getTime()).toBeGreaterThan(disruptedAt);
    const result = job.result?.kind?.$case === 'pipeline' ? job.result.kind.value : undefined;
    expect(comparableFromProto(result!.metrics!)).toEqual(reference);
  }

  it('resumes a pipeline after the orchestrator is SIGKILLed mid-attack', async () => {
    const jobId = await submit('restart-orchestrator');
    const seen = await watch(cluster.jobsClient(), { jobId, skipProgress: true }, cluster.orchestrator.metadata(), (msgs) => stageOf(msgs) === 'generate mine');
    expect(eventKinds(seen)).toContain('stage');
    const killedAt = Date.now();
    await cluster.restartOrchestrator({ kill: true });
    // The new orchestrator resumed it at start-up (no new submit).
    await expectReferenceResult(jobId, killedAt);
    // The new process finished it.
    expect(metricValue(await cluster.orchestrator.scrape(), 'uae_jobs_total', { kind: 'pipeline', state: 'succeeded' })).toBe(1);
    // Watching after the fact replays the whole history up to `completed`.
    const replay = await watch(cluster.jobsClient(), { jobId, afterSequence: 1, skipProgress: true }, cluster.orchestrator.metadata());
    const names = replay.flatMap((m) => (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'stage' ? [m.kind.value.payload.value.current!.name] : []));
    expect(names.filter((n) => n === 'generate mine').length).toBeGreaterThanOrEqual(1);
    expect(names.at(-1)).toBe('evaluate none');
    expect(eventKinds(replay).at(-1)).toBe('completed');
    expect(eventKinds(replay)).not.toContain('progress');
  });

  it('completes a pipeline across a nats-server restart (file storage)', async () => {
    const jobId = await submit('restart-nats');
    await watch(cluster.jobsClient(), { jobId, skipProgress: true }, cluster.orchestrator.metadata(), (msgs) => stageOf(msgs) === 'retrain mine');
    const downAt = Date.now();
    await cluster.nats.restart({ downMs: 1000 });
    await expectReferenceResult(jobId, downAt);
  });
});
