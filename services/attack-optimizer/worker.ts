/**
 * The attack shard worker: pulls AttackShards from the bus work queue
 * (`uae.v1.work.attack.>`, one shared durable consumer), attacks the shard's
 * samples in this process and stores the result under the shard's
 * deterministic key. Protocol (docs: services/attack-optimizer/README.md):
 *
 *   1. decode + validate the shard (an undecodable or inconsistent shard is
 *      dead-lettered at once: it would fail the same way every time);
 *   2. job unknown → ack (orphan); job terminal (cancelled/failed) → ack;
 *   3. result key already stored (a redelivery after the write) → completion
 *      check (step 7), ack;
 *   4. ATTACK job still QUEUED → RUNNING (JobStore.start; CAS, once);
 *   5. load model (cache by model id / content hash) and dataset, attack
 *      samples [sample_start, sample_start + sample_count) with sample ids =
 *      their positions in the split — the in-process pipeline's ids, so the
 *      results are identical; heart-beat (`working()`) and in-flight progress
 *      while it runs; a job cancelled meanwhile stops the attack;
 *   6. put the AttackShardResult at result_key (idempotent), publish
 *      AttackShardCompleted, add the shard to the job's progress (CAS);
 *   7. completion (ATTACK jobs only): list `jobs/<id>/<segment>/`; when every
 *      shard's key is there, assemble the AttackResult and JobStore.complete
 *      (CAS: exactly one completion even when two workers race);
 *   8. ack — only after 6 and 7, so a crash anywhere before is redelivered and
 *      resumes at step 3.
 *
 * Failures: any error naks the shard for a retry (after nakDelayMs); on the
 * last of maxDeliver attempts, or when the worker holding it crashed every
 * time, the shard is dead-lettered and the job FAILS with a message naming
 * the shard (JobStore.fail, CAS) and AttackShardFailed is published.
 *
 * PIPELINE jobs (the orchestrator's attack arms) put shards on the same
 * queue. For them this worker writes results and progress (only while the
 * job's current stage is the shard's method) but never starts, completes or
 * assembles the job: the orchestrator owns a pipeline's state. Dead letters
 * fail any job kind: a shard that can never be computed ends its job.
 */
import { hostname } from 'node:os';
import { isTerminal, JobStore } from '../../libs/jobs/index.js';
import { shardResultKey, validateArtifactKey, type DeadLetter, type WorkConsumer, type WorkMessage } from '../../libs/bus/index.js';
import { sampleResultToProto, v1 } from '../../libs/proto/index.js';
import { backendInfo } from '../../libs/tensor/index.js';
import { Status, statusFromError, type Logger } from '../../libs/service-kit/index.js';
import type { SampleResult } from '../../libs/attack/index.js';
import { serviceErrorMappers } from '../common/errors.js';
import { backendFaultMessage, isBackendFault } from '../common/backend-fault.js';
import { assembleAttackResult, SHARD_RESULT_MEDIA_TYPE, ShardResultsInconsistentError } from '../common/attack-results.js';
import {
  attackModel,
  checkAttackBudget,
  checkClass,
  checkCriterion,
  checkSplit,
  isTargeted,
  parseAttackConfig,
  sameShape,
  samplerDefaults,
  splitName,
  type HandlerDeps,
} from './handlers.js';
import { isClassifier, type AnyModel } from '../common/models.js';
import type { AttackConfig } from '../../libs/attack/index.js';
import type { Kinded } from '../../libs/errors/index.js';

const { JobKind, JobState } = v1;

/** Minimum interval between in-flight progress writes of one shard. */
export const SHARD_PROGRESS_INTERVAL_MS = 2000;

/** A shard that can never succeed as written (bad range, key, config): dead-lettered at once. */
export class ShardInputError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ShardInputError';
  }
}

/** What Generate/Submit need, plus the worker's identity. */
export interface ShardWorkerDeps extends HandlerDeps {
  /** Worker identity in AttackShardCompleted/Failed (pod or host name); default host:pid. */
  workerName?: string;
}

export interface ShardWorker {
  /** Stops pulling; shards in flight are handed back at once (nak) and their attacks stopped. */
  stop(): Promise<void>;
  readonly inFlight: number;
}

function shardLabel(s: v1.AttackShard): string {
  const last = s.sampleStart + Math.max(0, s.sampleCount - 1);
  return `shard ${s.shardIndex + 1}/${s.shardCount} (samples ${s.sampleStart}–${last}, result ${s.resultKey})`;
}

/** Decodes and checks what does not need the job, model or dataset. */
export function decodeShard(data: Uint8Array): v1.AttackShard {
  let s: v1.AttackShard;
  try {
    s = v1.AttackShard.decode(data);
  } catch (e) {
    throw new ShardInputError('shard', `not an AttackShard message: ${(e as Error).message}`);
  }
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(s.jobId)) throw new ShardInputError('job_id', `invalid job id ${JSON.stringify(s.jobId)}`);
  if (s.sampleCount < 1) throw new ShardInputError('sample_count', `must be ≥ 1, got ${s.sampleCount}`);
  if (s.shardCount < 1 || s.shardIndex >= s.shardCount) throw new ShardInputError('shard_index', `${s.shardIndex} is not below shard_count ${s.shardCount}`);
  try {
    validateArtifactKey(s.resultKey, 'result_key');
  } catch (e) {
    throw new ShardInputError('result_key', (e as Error).message);
  }
  if (!s.resultKey.startsWith(`jobs/${s.jobId}/`)) throw new ShardInputError('result_key', `"${s.resultKey}" is not under jobs/${s.jobId}/`);
  return s;
}

/** The key segment naming the shard set ("attack", or the pipeline arm): jobs/<id>/<segment>/<shard>. */
export function resultSegment(s: v1.AttackShard): string {
  return s.resultKey.split('/')[2] ?? 'attack';
}

function emptyProgress(): v1.Progress {
  return v1.Progress.fromPartial({});
}

export function startShardWorker(deps: ShardWorkerDeps): ShardWorker {
  const { bus, jobs, models, datasets, metrics, logger } = deps;
  const worker = deps.workerName ?? `${hostname()}:${process.pid}`;
  /** gRPC code of the failure that dead-lettered a message (by stream sequence), for the job's error. */
  const codes = new Map<number, number>();
  const running = new Set<AbortController>();
  let stopping = false;

  const publishShardEvent = async (jobId: string, kind: 'completed' | 'failed', data: Uint8Array) => {
    try {
      await bus.events.publish(`${bus.subjects.root}.shards.${jobId}.${kind}`, data);
    } catch (err) {
      logger.debug({ jobId, err: String(err) }, 'shard event not published');
    }
  };

  /** Adds a finished shard to the job's progress (CAS). PIPELINE: only while its stage is the shard's method. */
  const recordProgress = (shard: v1.AttackShard, done: number, succeeded: number, splitSize: number) =>
    jobs.update(shard.jobId, (job) => {
      if (isTerminal(job.state)) return undefined;
      if (job.kind === JobKind.JOB_KIND_PIPELINE && (job.stage?.method ?? '') !== shard.method) return undefined;
      const p = job.progress ?? emptyProgress();
      const total = p.samplesTotal || splitSize;
      const samplesDone = Math.min(total, p.samplesDone + done);
      const samplesSucceeded = Math.min(samplesDone, p.samplesSucceeded + succeeded);
      const fraction = Math.min(1, Math.max(p.fraction, samplesDone / total));
      job.progress = progressAt(job, { ...p, samplesTotal: total, samplesDone, samplesSucceeded, asr: samplesDone > 0 ? samplesSucceeded / samplesDone : 0 }, fraction);
      return { $case: 'progress', value: { stage: job.stage, progress: job.progress } };
    });

  /** Moves the job's fraction with a running shard's progress (approximate; committed counts unchanged). */
  const recordInFlight = (shard: v1.AttackShard, shardFraction: number, splitSize: number) =>
    jobs.update(shard.jobId, (job) => {
      if (isTerminal(job.state)) return undefined;
      if (job.kind === JobKind.JOB_KIND_PIPELINE && (job.stage?.method ?? '') !== shard.method) return undefined;
      const p = job.progress ?? emptyProgress();
      const total = p.samplesTotal || splitSize;
      const fraction = Math.min(1, (p.samplesDone + shardFraction * shard.sampleCount) / total);
      if (fraction <= p.fraction) return undefined;
      job.progress = progressAt(job, { ...p, samplesTotal: total }, fraction);
      return { $case: 'progress', value: { stage: job.stage, progress: job.progress } };
    });

  /** ATTACK jobs: when every shard's result is stored, assemble and complete the job (once, by CAS). */
  const maybeComplete = async (shard: v1.AttackShard, log: Logger): Promise<void> => {
    const job = await jobs.get(shard.jobId);
    if (!job || job.kind !== JobKind.JOB_KIND_ATTACK || isTerminal(job.state)) return;
    const segment = resultSegment(shard);
    const keys = Array.from({ length: shard.shardCount }, (_, i) => shardResultKey(shard.jobId, i, segment));
    const stored = new Set((await bus.artifacts.list(`jobs/${shard.jobId}/${segment}/`)).map((i) => i.key));
    const missing = keys.filter((k) => !stored.has(k)).length;
    if (missing > 0) {
      log.debug({ missing }, 'job not complete yet');
      return;
    }
    let result: v1.AttackResult;
    try {
      result = await assembleAttackResult(bus.artifacts, keys, { startedAt: job.startedAt ?? job.createdAt });
    } catch (err) {
      if (!(err instanceof ShardResultsInconsistentError)) throw err;
      log.error({ err: err.message }, 'shard results inconsistent');
      await jobs.fail(shard.jobId, { code: Status.DATA_LOSS, message: `assembling the attack result failed: ${err.message}`, stage: job.stage?.name ?? '' });
      return;
    }
    await jobs.update(shard.jobId, (j) => {
      if (isTerminal(j.state)) return undefined;
      const p = j.progress ?? emptyProgress();
      j.progress = progressAt(
        j,
        { ...p, samplesTotal: result.samples, samplesDone: result.samples, samplesSucceeded: result.succeeded, asr: result.asr },
        1,
      );
      return { $case: 'progress', value: { stage: j.stage, progress: j.progress } };
    });
    const done = await jobs.complete(shard.jobId, { kind: { $case: 'attack', value: result } });
    if (done.state === JobState.JOB_STATE_SUCCEEDED) {
      log.info({ samples: result.samples, asr: result.asr, secondsPerSample: result.secondsPerSample }, 'attack job completed');
    }
  };

  const processShard = async (msg: WorkMessage, shard: v1.AttackShard, log: Logger, ctl: AbortController): Promise<void> => {
    const job = await jobs.get(shard.jobId);
    if (!job) {
      log.warn('shard of an unknown job: dropped');
      metrics.shard('orphan');
      await msg.ack();
      return;
    }
    if (isTerminal(job.state)) {
      log.info({ state: v1.jobStateToJSON(job.state) }, 'job is terminal: shard skipped');
      metrics.shard('skipped');
      await msg.ack();
      return;
    }
    if (await bus.artifacts.has(shard.resultKey)) {
      log.info('result already stored (redelivery): not recomputed');
      metrics.shard('duplicate');
      await maybeComplete(shard, log);
      await msg.ack();
      return;
    }
    if (job.kind === JobKind.JOB_KIND_ATTACK && job.state === JobState.JOB_STATE_QUEUED) {
      await jobs.start(shard.jobId, { kind: v1.StageKind.STAGE_KIND_GENERATE, method: '', name: 'attack', index: 0, count: 1 });
    }

    const lease = await models.acquire(shard.model, 'model');
    try {
      const ae = lease.model;
      const ds = await datasets.get(shard.dataset, ae.kind, 'dataset');
      if (!sameShape(ds.inputShape, ae.inputShape)) {
        throw new ShardInputError('dataset', `sample shape [${ds.inputShape.join(', ')}] does not match the model's input shape [${ae.inputShape.join(', ')}]`);
      }
      let splitKey: 'train' | 'test';
      let config;
      try {
        splitKey = splitName(checkSplit(shard.split, 'split'));
        config = parseAttackConfig(shard.config, 'config', samplerDefaults(ae));
        checkCriterion(config, 'config', ae);
        checkAttackBudget(config, ae.inputShape, shard.sampleCount, deps.budget);
      } catch (e) {
        throw new ShardInputError((e as { field?: string }).field ?? 'config', (e as Error).message);
      }
      const part = ds[splitKey];
      const start = shard.sampleStart;
      const count = shard.sampleCount;
      if (start + count > part.n) {
        throw new ShardInputError('sample_start', `samples ${start}–${start + count - 1} lie beyond the ${splitKey} split's ${part.n} samples`);
      }
      const d = ae.inputShape.reduce((a, b) => a * b, 1);
      const data = part.x.subarray(start * d, (start + count) * d);
      const sampleIds = Array.from({ length: count }, (_, i) => start + i);
      const labels = shardLabels(shard, config, ae, part.labels);
      log.info({ samples: count, delivery: msg.deliveryCount, pid: process.pid }, 'shard started');

      const beatEvery = Math.max(50, Math.floor(bus.work.ackWaitMs / 4));
      let lastBeat = performance.now();
      let lastProgress = performance.now();
      const t0 = performance.now();
      const results: SampleResult[] = await attackModel(ae, { data, inputShape: [...ae.inputShape], sampleIds, ...(labels ? { labels } : {}) }, config, {
        workers: deps.threads(),
        pool: deps.pool?.(),
        signal: ctl.signal,
        // tests only: a real wasm trap where the attack runs (this thread or a worker thread)
        faultDrill: deps.faultDrill?.take(`attack ${shardLabel(shard)}`) ?? false,
        onProgress: (p) => {
          const now = performance.now();
          if (now - lastBeat >= beatEvery) {
            lastBeat = now;
            msg.working().catch(() => {});
          }
          if (now - lastProgress >= SHARD_PROGRESS_INTERVAL_MS && p.fraction < 1) {
            lastProgress = now;
            recordInFlight(shard, p.fraction, part.n).then(
              (j) => {
                if (isTerminal(j.state)) ctl.abort(new Error(`job ${v1.jobStateToJSON(j.state)}`));
              },
              (err: unknown) => log.debug({ err: String(err) }, 'progress not recorded'),
            );
          }
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      const record: v1.AttackShardResult = {
        jobId: shard.jobId,
        method: shard.method,
        shardIndex: shard.shardIndex,
        results: results.map((r, i) => sampleResultToProto(r, { index: i, sampleShape: ae.inputShape })),
        seconds,
        backend: backendInfo().name,
      };
      await bus.artifacts.put(shard.resultKey, v1.AttackShardResult.encode(record).finish(), { mediaType: SHARD_RESULT_MEDIA_TYPE });
      const succeeded = results.filter((r) => r.success).length;
      metrics.batch('shard', results, seconds, config.similarity.kind === 'mine');
      metrics.shard('completed');
      log.info({ samples: count, succeeded, seconds: Number(seconds.toFixed(3)) }, 'shard result stored');
      await publishShardEvent(
        shard.jobId,
        'completed',
        v1.AttackShardCompleted.encode({
          jobId: shard.jobId,
          method: shard.method,
          shardIndex: shard.shardIndex,
          resultKey: shard.resultKey,
          samples: count,
          succeeded,
          seconds,
          worker,
        }).finish(),
      );
      await recordProgress(shard, count, succeeded, part.n).catch((err: unknown) => log.warn({ err: String(err) }, 'progress not recorded'));
      await maybeComplete(shard, log);
      await msg.ack();
    } finally {
      lease.release();
    }
  };

  const handle = async (msg: WorkMessage): Promise<void> => {
    if (msg.deliveryCount > 1) metrics.redelivery();
    let shard: v1.AttackShard;
    try {
      shard = decodeShard(msg.data);
    } catch (err) {
      codes.set(msg.seq, 3);
      logger.error({ subject: msg.subject, err: (err as Error).message }, 'invalid shard');
      await msg.term(`invalid shard: ${(err as Error).message}`);
      return;
    }
    const log = logger.child({ jobId: shard.jobId, shard: shard.shardIndex, method: shard.method || undefined });
    const ctl = new AbortController();
    running.add(ctl);
    try {
      await processShard(msg, shard, log, ctl);
    } catch (err) {
      if (isBackendFault(err) && !msg.settled) {
        await backendFault(msg, shard, err, log);
        return;
      }
      if (stopping || msg.settled) return; // handed back by stop(); the next holder recomputes
      if (ctl.signal.aborted) {
        // the job was cancelled (or failed) while the shard ran
        log.info({ reason: String(ctl.signal.reason) }, 'shard stopped: job is terminal');
        metrics.shard('skipped');
        await msg.ack();
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      // the job's error code: what the failure would be as a gRPC status (NOT_FOUND model, …)
      const code = () => statusFromError(err, { mappers: serviceErrorMappers }).code;
      if (err instanceof ShardInputError) {
        log.error({ err: message }, 'invalid shard');
        codes.set(msg.seq, code());
        await msg.term(`invalid shard: ${message}`);
      } else if (msg.lastAttempt) {
        log.error({ err: message, stack: err instanceof Error ? err.stack : undefined, delivery: msg.deliveryCount }, 'shard failed on its last attempt');
        codes.set(msg.seq, code());
        await msg.term(`${message} (attempt ${msg.deliveryCount}/${msg.maxDeliver})`);
      } else {
        log.warn({ err: message, delivery: msg.deliveryCount, maxDeliver: msg.maxDeliver }, 'shard failed: handed back for a retry');
        metrics.shard('retried');
        await msg.nak();
      }
    } finally {
      running.delete(ctl);
    }
  };

  /**
   * This process's tfjs backend failed while it computed `shard`: the shard is
   * not the cause, so it goes back to the queue for another worker (on its
   * last attempt it is dead-lettered with UNAVAILABLE saying why); this worker
   * stops pulling and the service restarts (services/common/backend-fault.ts).
   */
  const backendFault = async (msg: WorkMessage, shard: v1.AttackShard, err: unknown, log: Logger): Promise<void> => {
    const message = backendFaultMessage('attack-optimizer', err, 'the shard is computed again by another worker');
    log.error({ err: err instanceof Error ? err.message : String(err), delivery: msg.deliveryCount }, 'shard failed: tfjs backend fault; handed back');
    metrics.shard('retried');
    if (msg.lastAttempt) {
      codes.set(msg.seq, Status.UNAVAILABLE);
      await msg.term(`${message} (attempt ${msg.deliveryCount}/${msg.maxDeliver})`).catch(() => undefined);
    }
    // stop pulling (nothing more runs on the poisoned backend) and hand the shard back at once (nak 0)
    await halt();
    deps.backendFault?.(err, `attack ${shardLabel(shard)}`);
  };

  const onDeadLetter = async (dl: DeadLetter): Promise<void> => {
    let shard: v1.AttackShard | undefined;
    try {
      shard = decodeShard(dl.data);
    } catch {
      shard = undefined;
    }
    const jobId = shard?.jobId ?? bus.subjects.parseShard(dl.subject)?.jobId;
    const code = codes.get(dl.seq) ?? 13;
    metrics.shard('dead_letter');
    if (!jobId) {
      codes.delete(dl.seq);
      logger.error({ subject: dl.subject, reason: dl.reason }, 'dead letter without a job: dropped');
      return;
    }
    const what = shard ? shardLabel(shard) : `work item ${dl.subject}`;
    const message = `attack ${what} failed after ${dl.deliveryCount} deliveries: ${dl.reason}`;
    const job = await jobs.get(jobId);
    if (!job) {
      codes.delete(dl.seq);
      logger.error({ jobId, reason: message }, 'dead letter of an unknown job: dropped');
      return;
    }
    logger.error({ jobId, reason: message }, 'shard dead-lettered: failing the job');
    if (!isTerminal(job.state)) await jobs.fail(jobId, { code, message, stage: job.stage?.name ?? '' });
    codes.delete(dl.seq);
    await publishShardEvent(
      jobId,
      'failed',
      v1.AttackShardFailed.encode({
        jobId,
        method: shard?.method ?? '',
        shardIndex: shard?.shardIndex ?? 0,
        code,
        message,
        deliveries: dl.deliveryCount,
        worker,
      }).finish(),
    );
  };

  /** Stops pulling; shards in flight are handed back first (nak 0: another worker takes them now), then their attacks stopped. */
  async function halt(): Promise<void> {
    if (stopping) return;
    stopping = true;
    await consumer.stop({ graceMs: 0 });
    for (const c of running) c.abort(new Error('worker stopping'));
  }

  const consumer: WorkConsumer = bus.work.consume(handle, {
    concurrency: 1,
    onDeadLetter,
    onError: (err) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'work queue error'),
  });
  logger.info({ worker, ackWaitMs: bus.work.ackWaitMs, maxDeliver: bus.work.maxDeliver }, 'shard worker started');

  return {
    get inFlight() {
      return consumer.inFlight;
    },
    stop: halt,
  };
}

/**
 * A classifier's labels for the shard's samples: the shard's own (targets of a
 * targeted cw attack), else the split's true labels at the shard's positions.
 * Autoencoders: none.
 */
function shardLabels(shard: v1.AttackShard, config: AttackConfig, model: AnyModel, splitLabels: Int32Array | undefined): Int32Array | undefined {
  if (!isClassifier(model)) return undefined;
  const count = shard.sampleCount;
  let labels: Int32Array;
  if (shard.labels.length > 0) {
    if (shard.labels.length !== count) throw new ShardInputError('labels', `${shard.labels.length} labels for ${count} samples`);
    labels = Int32Array.from(shard.labels);
  } else {
    if (isTargeted(config)) throw new ShardInputError('labels', 'a targeted cw shard needs its target labels');
    if (!splitLabels) throw new ShardInputError('dataset', `the split has no labels; a ${config.criterion.kind} attack on a ${model.kind} needs them`);
    const start = Number(shard.sampleStart);
    labels = splitLabels.slice(start, start + count);
  }
  try {
    labels.forEach((l, i) => checkClass(l, model.classes, `labels[${i}]`));
  } catch (e) {
    throw new ShardInputError((e as { field?: string }).field ?? 'labels', (e as Error).message);
  }
  return labels;
}

/** Progress with elapsed time, throughput and ETA recomputed for `fraction`. */
function progressAt(job: v1.Job, p: v1.Progress, fraction: number): v1.Progress {
  const since = job.startedAt ?? job.createdAt ?? new Date();
  const elapsed = Math.max(1e-3, (Date.now() - since.getTime()) / 1000);
  const rate = (fraction * p.samplesTotal) / elapsed;
  const eta = rate > 0 ? ((1 - fraction) * p.samplesTotal) / rate : undefined;
  const out: v1.Progress = { ...p, fraction, elapsedSeconds: elapsed, samplesPerSecond: rate };
  if (eta !== undefined) out.etaSeconds = eta;
  else delete out.etaSeconds;
  return out;
}
