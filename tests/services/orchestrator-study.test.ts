/**
 * The study through JobService: seeds, a validation split with early
 * stopping, the plateau retraining schedule, the init-noise and cosine arms,
 * both probes (MLP and ExtraTrees) — on real processes (nats-server, trainer,
 * evaluator, attack-optimizer, orchestrator). The metrics equal runStudy's in
 * process: the same per-seed numbers, intervals, diagnostics and comparisons.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v1 } from '../../libs/proto/index.js';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset } from '../../libs/data/index.js';
import { runStudy, type AugmentationConfig } from '../../libs/augment/index.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { unary } from '../helpers/services.js';
import { comparableFromProto, comparableFromStudy, startCluster, tinyPipeline, TINY_AUGMENTATION, TINY_DATASET, waitTerminal, watch, type Cluster, type Comparable } from './orchestrator-helpers.js';

const K = v1.AugmentationMethodKind;
const SEEDS = [0, 1];

/** The study for runStudy. */
const STUDY: AugmentationConfig = {
  ...TINY_AUGMENTATION,
  methods: ['mine', 'init-noise', 'repeat', 'cosine'],
  epochs: 3,
  retrainEpochs: 3,
  validation: { fraction: 0.25, patience: 1, seed: SEEDS[0] },
  retrainSchedule: 'plateau',
  probe: 'both',
  probeTrainSamples: 120,
};

/** The same study as a PipelineConfig. */
const studyPipeline = () =>
  tinyPipeline({
    seed: 0,
    seeds: SEEDS,
    methods: [{ kind: K.AUGMENTATION_METHOD_KIND_MINE }, { kind: K.AUGMENTATION_METHOD_KIND_INIT_NOISE }, { kind: K.AUGMENTATION_METHOD_KIND_REPEAT }, { kind: K.AUGMENTATION_METHOD_KIND_COSINE }],
    train: { epochs: 3, batchSize: 8 },
    retrainEpochs: 3,
    protocol: {
      validation: { fraction: 0.25, patience: 1 },
      retrainSchedule: v1.RetrainSchedule.RETRAIN_SCHEDULE_PLATEAU,
      probe: v1.ProbeKind.PROBE_KIND_BOTH,
      probeTrainSamples: 120,
    },
  });

describe.skipIf(!natsServerAvailable())('orchestrator: the study through JobService', () => {
  let cluster: Cluster;
  let reference: Comparable;

  beforeAll(async () => {
    const [c, ref] = await Promise.all([
      startCluster(),
      (async () => {
        await initBackend('wasm');
        const ds = await loadDataset(TINY_DATASET.name, TINY_DATASET);
        return comparableFromStudy((await runStudy(ds, STUDY, SEEDS)).metrics);
      })(),
    ]);
    cluster = c;
    reference = ref;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('seeds [0, 1], validation + plateau, mine / init-noise / repeat / cosine, both probes: the metrics of runStudy', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const res = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'study-1', config: studyPipeline() }), meta);
    const job = await waitTerminal(client, res.job!.jobId, meta, 120_000);
    expect(job.error?.message ?? '').toBe('');
    expect(job.state).toBe(v1.JobState.JOB_STATE_SUCCEEDED);
    const result = job.result?.kind?.$case === 'pipeline' ? job.result.kind.value : undefined;
    const metrics = result!.metrics!;
    const got = comparableFromProto(metrics);

    // The study's shape: 24 training samples, 6 held out; every arm per seed with intervals.
    expect(got.seeds).toEqual(SEEDS);
    expect(got.validation_samples).toBe(6);
    expect(got.train_samples).toBe(18);
    for (const arm of ['original', 'mine', 'init-noise', 'repeat', 'cosine']) {
      const m = got.methods[arm]!;
      expect((m.per_seed as Record<string, number[]>).test_recon_error, arm).toHaveLength(2);
      expect((m.ci95 as Record<string, number[]>).test_recon_error, arm).toHaveLength(2);
      expect(m.accuracy_extratrees, arm).toBeGreaterThan(0);
      expect(m.train_steps, arm).toBeGreaterThan(0);
    }
    expect(got.methods.mine!.diagnostics).toBeDefined();
    expect(got.methods.cosine!.diagnostics).toBeDefined();
    expect(metrics.comparisons.map((c) => `${c.arm}/${c.control}/${c.metric}`)).toContain('mine/init-noise/test_recon_error');

    // …and the same numbers as in process.
    expect(got).toEqual(reference);

    // Every seed's models and generated sets.
    expect(result!.seedOutputs.map((s) => s.seed)).toEqual(SEEDS);
    for (const s of result!.seedOutputs) expect(Object.keys(s.models).sort()).toEqual(['cosine', 'init-noise', 'mine', 'original', 'repeat']);
    expect(result!.seedOutputs[1]!.generated.mine!.attack!.samples).toBe(18);
  });

  it('resumes a several-seed study after the orchestrator is SIGKILLed in the second seed, with the same metrics', async () => {
    let client = cluster.jobsClient();
    let meta = cluster.orchestrator.metadata();
    const res = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'study-restart', config: studyPipeline() }), meta);
    const jobId = res.job!.jobId;
    const stageNames = (msgs: v1.WatchJobResponse[]) =>
      msgs.flatMap((m) => (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'stage' ? [m.kind.value.payload.value.current!.name] : []));
    const seen = await watch(client, { jobId, skipProgress: true }, meta, (msgs) => stageNames(msgs).some((n) => n.startsWith('seed 1: generate')));
    expect(stageNames(seen)[0]).toBe('seed 0: train original');
    await cluster.restartOrchestrator({ kill: true });
    client = cluster.jobsClient();
    meta = cluster.orchestrator.metadata();
    const job = await waitTerminal(client, jobId, meta, 120_000);
    expect(job.error?.message ?? '').toBe('');
    expect(job.state).toBe(v1.JobState.JOB_STATE_SUCCEEDED);
    const result = job.result?.kind?.$case === 'pipeline' ? job.result.kind.value : undefined;
    expect(comparableFromProto(result!.metrics!)).toEqual(reference);
  });
});
