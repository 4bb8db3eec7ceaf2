/**
 * Multi-round augmentation (SuppMat 6.15) through JobService, on real
 * processes (nats-server, trainer, evaluator, attack-optimizer,
 * orchestrator): a `rounds: 2` job names the round in its stages, round 2 of
 * an arm attacks that arm's round-1 retrained model, and the metrics equal
 * runAugmentation's with `rounds: 2` round by round (the top level being the
 * last round), as the result document metrics.json has them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v1 } from '../../libs/proto/index.js';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset } from '../../libs/data/index.js';
import { aggregateStudy, runAugmentation, type StudyMetrics } from '../../libs/augment/index.js';
import { resultDocumentFromJob } from '../../libs/results/index.js';
import { natsServerAvailable } from '../helpers/nats-server.js';
import { unary, unaryError } from '../helpers/services.js';
import { comparableFromProto, comparableFromStudy, startCluster, tinyPipeline, TINY_AUGMENTATION, TINY_DATASET, waitTerminal, watch, type Cluster, type Comparable } from './orchestrator-helpers.js';

const K = v1.AugmentationMethodKind;
const METHODS = ['mine', 'ga-0.05'];
const roundsPipeline = (rounds: number) =>
  tinyPipeline({ methods: [{ kind: K.AUGMENTATION_METHOD_KIND_MINE }, { kind: K.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma: 0.05 }], rounds });

/** One round of a study's metrics as the study of that round alone. */
const roundOfStudy = (m: StudyMetrics, i: number): Comparable => comparableFromStudy({ ...m, methods: m.rounds![i]!.methods, comparisons: m.rounds![i]!.comparisons });
const roundOfProto = (m: v1.PipelineMetrics, i: number): Comparable => comparableFromProto({ ...m, methods: m.rounds[i]!.methods, comparisons: m.rounds[i]!.comparisons });

describe.skipIf(!natsServerAvailable())('orchestrator: several rounds of augmentation through JobService', () => {
  let cluster: Cluster;
  let reference: StudyMetrics;

  beforeAll(async () => {
    const [c, ref] = await Promise.all([
      startCluster(),
      (async () => {
        await initBackend('wasm');
        const ds = await loadDataset(TINY_DATASET.name, TINY_DATASET);
        return aggregateStudy([await runAugmentation(ds, { ...TINY_AUGMENTATION, methods: METHODS, rounds: 2 })]);
      })(),
    ]);
    cluster = c;
    reference = ref;
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  it('rounds: 2 — stages per round, round 2 attacks the round-1 retrained model, metrics per round equal runAugmentation', async () => {
    const client = cluster.jobsClient();
    const meta = cluster.orchestrator.metadata();
    const res = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'rounds-1', config: roundsPipeline(2) }), meta);
    const msgs = await watch(client, { jobId: res.job!.jobId, afterSequence: 0 }, meta);
    const stages = msgs.flatMap((m) => (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'stage' ? [m.kind.value.payload.value.current!] : []));
    expect(stages.map((s) => s.name)).toEqual([
      'train original',
      'evaluate original',
      ...METHODS.flatMap((m) => [1, 2].flatMap((r) => [`round ${r} of 2: generate ${m}`, `round ${r} of 2: retrain ${m}`, `round ${r} of 2: evaluate ${m}`])),
    ]);
    expect(stages.map((s) => s.round)).toEqual([undefined, undefined, ...METHODS.flatMap(() => [1, 1, 1, 2, 2, 2])]);
    expect(stages.map((s) => s.index)).toEqual(stages.map((_, i) => i));
    expect(stages.every((s) => s.count === 14)).toBe(true);

    const job = await waitTerminal(client, res.job!.jobId, meta);
    expect(job.error?.message ?? '').toBe('');
    expect(job.state).toBe(v1.JobState.JOB_STATE_SUCCEEDED);
    const result = job.result?.kind?.$case === 'pipeline' ? job.result.kind.value : undefined;
    const metrics = result!.metrics!;

    // Per round as runAugmentation (the chain, the round seeds); the top level is the last round.
    expect(metrics.rounds.map((r) => r.round)).toEqual([1, 2]);
    for (const i of [0, 1]) expect(roundOfProto(metrics, i), `round ${i + 1}`).toEqual(roundOfStudy(reference, i));
    expect(comparableFromProto(metrics)).toEqual(roundOfProto(metrics, 1));
    expect(comparableFromProto(metrics)).toEqual(comparableFromStudy(reference));
    // Round 2 trains on original ∪ two sets: 3 × 24 rows, 3 batches of 8 per epoch more than round 1's 2 × 24.
    const steps = (i: number) => metrics.rounds[i]!.methods.mine!.trainSteps;
    expect([steps(0), steps(1)]).toEqual([2 * Math.ceil(48 / 8), 2 * Math.ceil(72 / 8)]);

    // Who was attacked: round 1 the original, round 2 the arm's round-1 retrained model.
    const out = result!.seedOutputs[0]!;
    expect(out.rounds.map((r) => r.round)).toEqual([1, 2]);
    const [r1, r2] = out.rounds as [v1.RoundOutputs, v1.RoundOutputs];
    expect(r1.generated.mine!.attackedModel).toEqual(out.models.original);
    expect(r2.generated.mine!.attackedModel).toEqual(r1.models.mine);
    expect(r2.models.mine).not.toEqual(r1.models.mine);
    expect(r2.generated['ga-0.05']!.attackedModel).toBeUndefined();
    // The top-level outputs are the last round's (with the original).
    expect(out.models).toEqual({ original: out.models.original, ...r2.models });
    expect(result!.models).toEqual(out.models);
    expect(result!.generated.mine).toEqual(r2.generated.mine);

    // A client gets metrics.json's shape: `rounds`, the top-level methods the last round's.
    const doc = resultDocumentFromJob(job);
    expect(doc.rounds?.map((r) => r.round)).toEqual([1, 2]);
    expect(doc.methods).toEqual(doc.rounds![1]!.methods);
    expect(doc.comparisons).toEqual(doc.rounds![1]!.comparisons);
  });

  it('resumes a rounds: 2 job after the orchestrator is SIGKILLed in round 2, continuing there with the same metrics', async () => {
    let client = cluster.jobsClient();
    let meta = cluster.orchestrator.metadata();
    const res = await unary<v1.SubmitPipelineResponse>(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ requestId: 'rounds-restart', config: roundsPipeline(2) }), meta);
    const jobId = res.job!.jobId;
    const stageOf = (m: v1.WatchJobResponse) => (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'stage' ? [m.kind.value.payload.value.current!] : []);
    const seen = await watch(client, { jobId, skipProgress: true }, meta, (msgs) => msgs.flatMap(stageOf).some((s) => s.name === 'round 2 of 2: generate mine'));
    const last = seen.flatMap(stageOf).at(-1)!.index;
    await cluster.restartOrchestrator({ kill: true });
    client = cluster.jobsClient();
    meta = cluster.orchestrator.metadata();
    const job = await waitTerminal(client, jobId, meta);
    expect(job.error?.message ?? '').toBe('');
    expect(job.state).toBe(v1.JobState.JOB_STATE_SUCCEEDED);
    // The resumed driver entered no stage before the one it was killed in (round 1 was recorded).
    const all = (await watch(client, { jobId, afterSequence: 1 }, meta)).flatMap(stageOf);
    const afterRestart = all.slice(all.findIndex((s) => s.index === last) + 1);
    expect(afterRestart.every((s) => s.index >= last)).toBe(true);
    const metrics = (job.result?.kind?.$case === 'pipeline' ? job.result.kind.value : undefined)!.metrics!;
    for (const i of [0, 1]) expect(roundOfProto(metrics, i), `round ${i + 1}`).toEqual(roundOfStudy(reference, i));
  });

  it('refuses rounds: 0 with INVALID_ARGUMENT naming config.rounds', async () => {
    const client = cluster.jobsClient();
    const err = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: roundsPipeline(0) }), cluster.orchestrator.metadata());
    expect([err.code, err.field]).toEqual([3, 'config.rounds']);
    expect(err.details).toMatch(/^config\.rounds: must be an integer 1–100/);
  });
});
