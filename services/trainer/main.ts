/**
 * trainer: TrainingService (Train → asynchronous TRAINING job trained in this
 * process; GetModel) as its own process. Default ports: gRPC 50053, metrics 9463.
 *
 * Environment (besides docs/service-kit.md's):
 *   UAE_TRAINER_CONCURRENCY   jobs trained at once in this process (default 1)
 *   UAE_TRAINER_LEASE_MS      job lease TTL (default 30000): how long a dead
 *                             trainer's job waits before another takes it over
 *   UAE_TRAINER_SCAN_MS       period of the scan for QUEUED/RUNNING jobs (default: the lease TTL)
 *   UAE_ALLOW_DATASET_PATHS   allow idx:/csv:/npy:DIR datasets on this machine (default false)
 *   UAE_DATASET_ROOTS         …under these directories only (default UAE_DATA_DIR)
 *   UAE_FAULT_DRILL           trainer:wasm-trap (tests only): the first job hits a real wasm
 *                             trap (drill of the backend-fault containment: job FAILED, NOT_SERVING,
 *                             exit 70; services/common/backend-fault.ts)
 *
 * On start-up (once SERVING) it resumes the training jobs that are QUEUED or
 * RUNNING (from scratch: training is deterministic), one replica per job via
 * a KV lease (services/trainer/runner.ts).
 */
import { z } from 'zod';
import { runMain } from '../../libs/service-kit/index.js';
import { v1 } from '../../libs/proto/index.js';
import { startUaeService } from '../common/service.js';
import { datasetAccessEnv, datasetAccessFrom } from '../common/dataset-access.js';
import { trainingHandlers } from './handlers.js';
import { TrainingRunner } from './runner.js';

export const TRAINER_PORTS = { grpc: 50053, metrics: 9463 } as const;

const env = z.object({
  UAE_TRAINER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  UAE_TRAINER_LEASE_MS: z.coerce.number().int().min(500).max(3_600_000).default(30_000),
  UAE_TRAINER_SCAN_MS: z.coerce.number().int().min(100).max(3_600_000).optional(),
  ...datasetAccessEnv,
});

let runner: TrainingRunner | undefined;

runMain(() =>
  startUaeService({
    name: 'trainer',
    grpcPort: TRAINER_PORTS.grpc,
    metricsPort: TRAINER_PORTS.metrics,
    protoFiles: ['uae/v1/training_service.proto'],
    env,
    register(server, deps) {
      const x = deps.config.extra;
      const access = datasetAccessFrom(x, deps.config.dataDir);
      runner = new TrainingRunner(deps, {
        concurrency: x.UAE_TRAINER_CONCURRENCY,
        leaseMs: x.UAE_TRAINER_LEASE_MS,
        ...(x.UAE_TRAINER_SCAN_MS !== undefined ? { scanMs: x.UAE_TRAINER_SCAN_MS } : {}),
        access,
        budget: deps.config.budget,
      });
      server.add(v1.TrainingServiceService, trainingHandlers({ ...deps, runner, access, budget: deps.config.budget }));
      // Registered after the bus's close hook, so it runs before it (hooks run in reverse).
      deps.ctx.onShutdown(() => runner?.stop());
    },
    onReady() {
      runner!.start();
    },
  }),
);
