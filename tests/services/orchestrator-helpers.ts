/**
 * Shared pieces of the orchestrator tests: a cluster of real service
 * processes on a private nats-server, the tiny pipeline config (proto and the
 * equivalent in-process AugmentationConfig), and gRPC stream helpers.
 */
import * as grpc from '@grpc/grpc-js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startServiceProcess, type ServiceProcess } from '../helpers/services.js';
import { v1, verdictFromProto } from '../../libs/proto/index.js';
import { aggregateStudy, STUDY_METRICS, type AugmentationConfig, type AugmentationReport, type StudyMetrics } from '../../libs/augment/index.js';

/** Everything the services share: the wasm backend (as the in-process reference), a short ack wait. */
export const CLUSTER_ENV = { UAE_BACKEND: 'wasm', UAE_ACK_WAIT_MS: '3000', UAE_MAX_DELIVER: '5' };

export interface Cluster {
  nats: NatsServerHandle;
  trainer: ServiceProcess;
  evaluator: ServiceProcess;
  attack: ServiceProcess;
  orchestrator: ServiceProcess;
  jobsClient(): v1.JobServiceClient;
  /** Restart the orchestrator (SIGKILL or SIGTERM) with the same configuration. */
  restartOrchestrator(opts?: { kill?: boolean }): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<Cluster> {
  const nats = await startNatsServer();
  const base = { natsUrl: nats.url, logLevel: 'warn' };
  // Every service reads the same queue settings (UAE_ACK_WAIT_MS, UAE_MAX_DELIVER); the
  // orchestrator needs the trainer's and evaluator's addresses, so it comes last.
  const [trainer, evaluator, attack] = await Promise.all([
    startServiceProcess('trainer', { ...base, env: { ...CLUSTER_ENV, UAE_TRAINER_LEASE_MS: '2000' } }),
    startServiceProcess('evaluator', { ...base, env: CLUSTER_ENV }),
    startServiceProcess('attack-optimizer', { ...base, env: { ...CLUSTER_ENV, UAE_ATTACK_THREADS: '1' } }),
  ]);
  const orchEnv = { ...CLUSTER_ENV, UAE_TRAINER_ADDR: trainer.grpc, UAE_EVALUATOR_ADDR: evaluator.grpc, UAE_PIPELINE_POLL_MS: '100' };
  const orchestrator = await startServiceProcess('orchestrator', { ...base, env: orchEnv });
  const cluster: Cluster = {
    nats,
    trainer,
    evaluator,
    attack,
    orchestrator,
    jobsClient: () => cluster.orchestrator.client(v1.JobServiceClient),
    async restartOrchestrator(opts = {}) {
      if (opts.kill) await cluster.orchestrator.kill();
      else await cluster.orchestrator.stop();
      cluster.orchestrator = await startServiceProcess('orchestrator', { ...base, env: orchEnv });
      return cluster.orchestrator;
    },
    async stop() {
      await Promise.all([cluster.orchestrator, cluster.attack, cluster.trainer, cluster.evaluator].map((s) => s.stop({ timeoutMs: 5000 })));
      await nats.dispose();
    },
  };
  return cluster;
}

/** The tiny study: 24 Mice Protein training samples, dense AE, every arm (mine, l2, ga-0.05, repeat, none), 2 epochs, T = 2, 1 MINE step. */
type Builtin = Date | Function | Uint8Array | string | number | boolean | undefined;
/** ts-proto's DeepPartial (not exported by the generated code). */
type DeepPartial<T> = T extends Builtin
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends { $case: string; value: unknown }
      ? { $case: T['$case']; value?: DeepPartial<T['value']> }
      : T extends object
        ? { [K in keyof T]?: DeepPartial<T[K]> }
        : Partial<T>;
export type PipelineOverrides = DeepPartial<v1.PipelineConfig>;

export function tinyPipeline(overrides: PipelineOverrides = {}): v1.PipelineConfig {
  return v1.PipelineConfig.fromPartial({
    dataset: { source: { $case: 'name', value: 'mice-protein' }, trainSamples: 24, testSamples: 16, seed: 1 },
    model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE, hidden: 16 },
    methods: [
      { kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_MINE },
      { kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_L2 },
      { kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma: 0.05 },
      { kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_REPEAT },
      { kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_NONE },
    ],
    train: { epochs: 2, batchSize: 8 },
    retrainEpochs: 2,
    attack: {
      iterations: 2,
      mineSteps: 1,
      similarity: { kind: { $case: 'mine', value: { sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 8, projectionDim: 8, hidden: 16 } } },
    },
    downstream: { epochs: 2 },
    seed: 5,
    shardSize: 8,
    ...(overrides as Partial<v1.PipelineConfig>),
  });
}

/** The same study for runAugmentation. */
export const TINY_AUGMENTATION: AugmentationConfig = {
  model: 'dense-ae',
  methods: ['mine', 'l2', 'ga-0.05', 'repeat', 'none'],
  epochs: 2,
  retrainEpochs: 2,
  batchSize: 8,
  seed: 5,
  workers: 1,
  modelOptions: { hidden: 16 },
  classifier: { epochs: 2 },
  attack: { iterations: 2, mineSteps: 1, similarity: { kind: 'mine', mine: { sampler: 'random', draws: 8, projectionDim: 8, hidden: 16 } } },
};
export const TINY_DATASET = { name: 'mice-protein', trainSamples: 24, testSamples: 16, seed: 1 };

/**
 * Everything PipelineMetrics carries of metrics.json's study form
 * (aggregateStudy), in one comparable shape; the wall-clock numbers
 * (seconds_per_sample and its per-seed values) and the backend aside.
 */
export interface Comparable {
  seeds: number[];
  train_samples: number;
  validation_samples: number;
  test_samples: number;
  methods: Record<string, Record<string, unknown>>;
  comparisons: unknown[];
}

const WALL_CLOCK = 'seconds_per_sample';
const omitWallClock = <T>(o: Partial<Record<string, T>>): Record<string, T> =>
  Object.fromEntries(Object.entries(o).filter((e): e is [string, T] => e[0] !== WALL_CLOCK && e[1] !== undefined));
const summary = (s: { mean: number; median: number; min: number; max: number; count: number } | undefined) =>
  s ? { mean: s.mean, median: s.median, min: s.min, max: s.max, count: s.count } : undefined;

export function comparableFromStudy(m: StudyMetrics): Comparable {
  const methods: Record<string, Record<string, unknown>> = {};
  for (const [k, a] of Object.entries(m.methods)) {
    const e: Record<string, unknown> = {};
    for (const metric of STUDY_METRICS) if (metric !== WALL_CLOCK && a[metric] !== undefined) e[metric] = a[metric];
    e.per_seed = omitWallClock(a.per_seed);
    e.std = omitWallClock(a.std);
    e.ci95 = omitWallClock(a.ci95);
    if (a.mi) e.mi = summary(a.mi);
    if (a.diagnostics) {
      const d = a.diagnostics;
      e.diagnostics = { linf: summary(d.linf), l2: summary(d.l2), rel_move: summary(d.rel_move), cos_delta0: summary(d.cos_delta0), samples: d.samples };
    }
    if (a.selected_features) e.selected_features = a.selected_features;
    methods[k] = e;
  }
  return {
    seeds: m.seeds,
    train_samples: m.train_samples,
    validation_samples: m.validation_samples,
    test_samples: m.test_samples,
    methods,
    comparisons: m.comparisons.map((c) => ({ arm: c.arm, control: c.control, metric: c.metric, diff: c.diff, ci95: c.ci95, verdict: c.verdict, seeds: c.seeds })),
  };
}

/** One seed's report, as the study of that seed alone (what the distributed pipeline returns for it). */
export function comparableFromReport(r: AugmentationReport): Comparable {
  return comparableFromStudy(aggregateStudy([r]));
}

export function comparableFromProto(m: v1.PipelineMetrics): Comparable {
  const methods: Record<string, Record<string, unknown>> = {};
  const num: Record<string, (mm: v1.MethodMetrics) => number | undefined> = {
    test_recon_error: (mm) => mm.testReconError,
    improvement: (mm) => mm.improvement,
    asr: (mm) => mm.asr,
    accuracy: (mm) => mm.accuracy,
    accuracy_extratrees: (mm) => mm.accuracyExtratrees,
    train_steps: (mm) => mm.trainSteps,
    train_epochs: (mm) => mm.trainEpochs,
    selection_convergence: (mm) => mm.selectionConvergence,
  };
  for (const [k, mm] of Object.entries(m.methods)) {
    const e: Record<string, unknown> = {};
    for (const metric of STUDY_METRICS) {
      const v = num[metric]?.(mm);
      if (v !== undefined) e[metric] = v;
    }
    e.per_seed = omitWallClock(Object.fromEntries(Object.entries(mm.perSeed).map(([f, v]) => [f, v.values])));
    e.std = omitWallClock(mm.std);
    e.ci95 = omitWallClock(Object.fromEntries(Object.entries(mm.ci95).map(([f, v]) => [f, [v.low, v.high]])));
    if (mm.mi) e.mi = summary(mm.mi);
    if (mm.diagnostics) {
      const d = mm.diagnostics;
      e.diagnostics = { linf: summary(d.linf), l2: summary(d.l2), rel_move: summary(d.relMove), cos_delta0: summary(d.cosDelta0), samples: d.samples };
    }
    if (mm.selectedFeatures.length > 0) e.selected_features = mm.selectedFeatures.map((s) => s.indices);
    methods[k] = e;
  }
  return {
    seeds: m.seeds,
    train_samples: m.trainSamples,
    validation_samples: m.validationSamples,
    test_samples: m.testSamples,
    methods,
    comparisons: m.comparisons.map((c) => ({
      arm: c.arm,
      control: c.control,
      metric: c.metric,
      diff: c.diff,
      ci95: c.ci95 ? [c.ci95.low, c.ci95.high] : undefined,
      verdict: verdictFromProto(c.verdict),
      seeds: c.seeds,
    })),
  };
}

export function md(token: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}

/** All messages of a WatchJob stream (until it ends), or until `stopWhen` says so (then the call is cancelled). */
export function watch(
  client: v1.JobServiceClient,
  req: Partial<v1.WatchJobRequest>,
  metadata: grpc.Metadata,
  stopWhen?: (msgs: v1.WatchJobResponse[]) => boolean,
): Promise<v1.WatchJobResponse[]> {
  return new Promise((resolve, reject) => {
    const msgs: v1.WatchJobResponse[] = [];
    const call = client.watchJob(v1.WatchJobRequest.fromPartial(req), metadata);
    let stopped = false;
    call.on('data', (m: v1.WatchJobResponse) => {
      msgs.push(m);
      if (stopWhen?.(msgs) && !stopped) {
        stopped = true;
        call.cancel();
        resolve(msgs);
      }
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (stopped) return;
      reject(e);
    });
    call.on('end', () => {
      if (!stopped) resolve(msgs);
    });
  });
}

export function eventKinds(msgs: v1.WatchJobResponse[]): string[] {
  return msgs.map((m) => (m.kind?.$case === 'snapshot' ? 'snapshot' : m.kind?.$case === 'event' ? (m.kind.value.payload?.$case ?? '?') : '?'));
}

/** Polls GetJob until the job is terminal. */
export async function waitTerminal(client: v1.JobServiceClient, jobId: string, metadata: grpc.Metadata, timeoutMs = 90_000): Promise<v1.Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await new Promise<v1.Job>((resolve, reject) =>
      client.getJob({ jobId }, metadata, (err, res) => (err ? reject(err) : resolve(res.job!))),
    ).catch(() => undefined);
    if (job && [v1.JobState.JOB_STATE_SUCCEEDED, v1.JobState.JOB_STATE_FAILED, v1.JobState.JOB_STATE_CANCELLED].includes(job.state)) return job;
    if (Date.now() > deadline) throw new Error(`job ${jobId} not terminal within ${timeoutMs} ms (last state ${job ? v1.jobStateToJSON(job.state) : '?'})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
