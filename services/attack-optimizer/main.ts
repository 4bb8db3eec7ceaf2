/**
 * attack-optimizer: AttackService (Generate, Submit) and the attack shard
 * worker, in one process. Default ports: gRPC 50052, metrics 9462. Once
 * SERVING it prints `attack-optimizer grpc HOST:PORT metrics HOST:PORT`.
 *
 * Environment (besides docs/service-kit.md's UAE_AUTH_TOKEN / UAE_AUTH_DISABLED,
 * UAE_GRPC_*, UAE_METRICS_*, UAE_BACKEND, UAE_LOG_LEVEL, UAE_DATA_DIR):
 *   UAE_NATS_URL          NATS JetStream (unset: embedded bus in UAE_DATA_DIR)
 *   UAE_ATTACK_WORKER     on|off (default on): pull shards from the work queue
 *   UAE_ATTACK_THREADS    worker threads per attack (default: the backend's
 *                         preference — one per core on wasm/cpu, 1 on tensorflow)
 *   UAE_ACK_WAIT_MS       work-queue ack wait (default 30000); every process
 *                         sharing a NATS server must use the same value, since
 *                         connectBus applies it to the shared consumer
 *   UAE_MAX_DELIVER       handler runs per shard before it is dead-lettered (default 5)
 *   UAE_WORKER_NAME       worker identity in shard events (default host:pid)
 *   UAE_ALLOW_DATASET_PATHS, UAE_DATASET_ROOTS  server-side dataset paths (default off; services/common/dataset-access.ts)
 */
import { z } from 'zod';
import { runMain } from '../../libs/service-kit/index.js';
import { v1 } from '../../libs/proto/index.js';
import { backendInfo } from '../../libs/tensor/index.js';
import { AttackPool } from '../../libs/attack/index.js';
import { startUaeService } from '../common/service.js';
import { createHandlers } from './handlers.js';
import { createAttackMetrics, type AttackMetrics } from './metrics.js';
import { DatasetCache, ModelCache } from './resources.js';
import { startShardWorker, type ShardWorker } from './worker.js';
import { datasetAccessEnv, datasetAccessFrom } from '../common/dataset-access.js';

export const ATTACK_OPTIMIZER_PORTS = { grpc: 50052, metrics: 9462 } as const;

const env = z.object({
  UAE_ATTACK_WORKER: z.enum(['on', 'off']).default('on'),
  UAE_ATTACK_THREADS: z.coerce.number().int().min(1).max(256).optional(),
  UAE_ACK_WAIT_MS: z.coerce.number().int().min(100).max(3_600_000).optional(),
  UAE_MAX_DELIVER: z.coerce.number().int().min(1).max(100).optional(),
  UAE_WORKER_NAME: z.string().min(1).max(128).optional(),
  ...datasetAccessEnv,
});

// Bus settings are needed before the configuration is loaded; invalid values
// are reported by startUaeService's own parse of the same schema.
const blankless = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''));
const early = env.safeParse(blankless);
const queue = {
  ...(early.success && early.data.UAE_ACK_WAIT_MS !== undefined ? { ackWaitMs: early.data.UAE_ACK_WAIT_MS } : {}),
  ...(early.success && early.data.UAE_MAX_DELIVER !== undefined ? { maxDeliver: early.data.UAE_MAX_DELIVER } : {}),
};

runMain(async () => {
  let worker: ShardWorker | undefined;
  let threads: number | undefined;
  const threadCount = () => threads ?? backendInfo().preferredWorkers;
  // One pool of attack threads for the process's life: a shard or a Generate
  // call must not pay thread and backend start-up each time (seconds under tsx).
  let pool: AttackPool | undefined;
  const attackPool = () => {
    if (threadCount() <= 1) return undefined;
    pool ??= new AttackPool(threadCount());
    return pool;
  };
  let caches: { models: ModelCache; datasets: DatasetCache; metrics: AttackMetrics } | undefined;
  return startUaeService({
    name: 'attack-optimizer',
    grpcPort: ATTACK_OPTIMIZER_PORTS.grpc,
    metricsPort: ATTACK_OPTIMIZER_PORTS.metrics,
    protoFiles: ['uae/v1/attack_service.proto'],
    env,
    bus: { nats: queue, embedded: queue },
    register(server, deps) {
      threads = deps.config.extra.UAE_ATTACK_THREADS;
      const store = () => deps.bus.artifacts;
      caches = {
        models: new ModelCache(store),
        datasets: new DatasetCache(store, { dataDir: deps.config.dataDir, access: datasetAccessFrom(deps.config.extra, deps.config.dataDir), budget: deps.config.budget }),
        metrics: createAttackMetrics(deps.metrics),
      };
      const handlers = createHandlers({ ...deps, ...caches, threads: threadCount, pool: attackPool, budget: deps.config.budget });
      server.add(v1.AttackServiceService, handlers);
      // hooks run in reverse: stop the worker (hand shards back) before the bus closes
      deps.ctx.onShutdown(() => caches?.models.clear());
      deps.ctx.onShutdown(async () => {
        await pool?.close();
      });
      deps.ctx.onShutdown(async () => {
        await worker?.stop();
      });
    },
    onReady(deps) {
      if (deps.config.extra.UAE_ATTACK_WORKER === 'off') {
        deps.logger.info('shard worker disabled (UAE_ATTACK_WORKER=off)');
        return;
      }
      worker = startShardWorker({
        bus: deps.bus,
        jobs: deps.jobs,
        models: caches!.models,
        datasets: caches!.datasets,
        metrics: caches!.metrics,
        threads: threadCount,
        pool: attackPool,
        budget: deps.config.budget,
        backendFault: deps.backendFault,
        ...(deps.faultDrill ? { faultDrill: deps.faultDrill } : {}),
        logger: deps.logger.child({ component: 'shard-worker' }),
        workerName: deps.config.extra.UAE_WORKER_NAME,
      });
    },
  });
});
