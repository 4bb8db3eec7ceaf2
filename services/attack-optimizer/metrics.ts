/**
 * The attack-optimizer's own Prometheus metrics, on the service-kit registry
 * (so they are served on /metrics beside the gRPC and process metrics).
 *
 *   uae_attack_samples_total{result="success|failure",source="generate|shard"}  counter
 *   uae_attack_samples_per_second{source}   gauge: throughput of the last finished batch (Generate call or shard)
 *   uae_attack_asr{source}                  gauge: attack success rate of the last finished batch
 *   uae_attack_mi                           histogram: MI (nats) of successful MINE samples
 *   uae_attack_shards_total{outcome}        counter: completed | skipped | duplicate | retried | dead_letter | orphan
 *   uae_shard_redeliveries_total            counter: shard deliveries with deliveryCount > 1
 */
import type { SampleResult } from '../../libs/attack/index.js';
import type { ServiceMetrics } from '../../libs/service-kit/index.js';

export type BatchSource = 'generate' | 'shard';
export type ShardOutcome = 'completed' | 'skipped' | 'duplicate' | 'retried' | 'dead_letter' | 'orphan';

export interface AttackMetrics {
  /** A finished batch: its samples, throughput and ASR (and MI of MINE successes). */
  batch(source: BatchSource, results: readonly SampleResult[], seconds: number, mine: boolean): void;
  shard(outcome: ShardOutcome): void;
  redelivery(): void;
}

/** MI in nats: per-sample MINE estimates are small positive numbers. */
export const MI_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];

export function createAttackMetrics(m: ServiceMetrics): AttackMetrics {
  const samples = m.counter({
    name: 'uae_attack_samples_total',
    help: 'Samples attacked, by outcome (success: f <= 0 reached) and where (generate: AttackService.Generate, shard: a job shard).',
    labelNames: ['result', 'source'] as const,
  });
  const rate = m.gauge({
    name: 'uae_attack_samples_per_second',
    help: 'Samples per second of the last finished batch (a Generate call or a shard).',
    labelNames: ['source'] as const,
  });
  const asr = m.gauge({
    name: 'uae_attack_asr',
    help: 'Attack success rate (0..1) of the last finished batch (a Generate call or a shard).',
    labelNames: ['source'] as const,
  });
  const mi = m.histogram({
    name: 'uae_attack_mi',
    help: 'Mutual information (nats, MINE estimate) between x and the returned x′ of successful MINE attacks.',
    buckets: MI_BUCKETS,
  });
  const shards = m.counter({
    name: 'uae_attack_shards_total',
    help: 'Attack shards handled by this worker, by outcome (completed, skipped: job terminal, duplicate: result already stored, retried: failed and handed back, dead_letter, orphan: no such job).',
    labelNames: ['outcome'] as const,
  });
  const redeliveries = m.counter({
    name: 'uae_shard_redeliveries_total',
    help: 'Shard deliveries this worker received that had been delivered before (a worker crashed, hung or failed).',
  });
  return {
    batch(source, results, seconds, mine) {
      const ok = results.filter((r) => r.success).length;
      samples.inc({ result: 'success', source }, ok);
      samples.inc({ result: 'failure', source }, results.length - ok);
      if (results.length > 0) {
        asr.set({ source }, ok / results.length);
        if (seconds > 0) rate.set({ source }, results.length / seconds);
      }
      if (mine) for (const r of results) if (r.success && Number.isFinite(r.similarity)) mi.observe(r.similarity);
    },
    shard(outcome) {
      shards.inc({ outcome });
    },
    redelivery() {
      redeliveries.inc();
    },
  };
}
