/**
 * The orchestrator: JobService (pipelines and every job's record),
 * ArtifactService (chunked uploads/downloads of content-addressed artifacts)
 * and the pipeline driver (driver.ts), which resumes every unfinished
 * pipeline job once the service is SERVING.
 *
 * Environment (besides the service-kit's, docs/service-kit.md):
 *   UAE_TRAINER_ADDR         host:port of TrainingService   } both set: stages run there;
 *   UAE_EVALUATOR_ADDR       host:port of EvaluationService } otherwise in this process (tfjs)
 *   UAE_PIPELINE_MAX_ACTIVE  pipelines driven at once (default 4; the rest wait QUEUED)
 *   UAE_PIPELINE_POLL_MS     shard-result poll interval (default 250)
 *   UAE_UPLOAD_BUFFER_BYTES  uploads without a declared sha256 up to this size are hashed in
 *                            memory; larger ones stream to a temporary key first (default 64 MiB)
 * Attack arms always go through the work queue (services/attack-optimizer workers).
 *
 * Prints `orchestrator grpc HOST:PORT metrics HOST:PORT` once serving.
 * Default ports: gRPC 50050, metrics 9460.
 */
import { z } from 'zod';
import { v1 } from '../../libs/proto/index.js';
import { runMain } from '../../libs/service-kit/index.js';
import { serviceCallCredentials, startUaeService } from '../common/service.js';
import { datasetAccessEnv, datasetAccessFrom } from '../common/dataset-access.js';
import { artifactServiceHandlers, BUFFER_LIMIT } from './artifact-handlers.js';
import { PipelineDriver } from './driver.js';
import { GrpcStageExecutor, InProcessStageExecutor, type StageExecutor } from './executor.js';
import { jobServiceHandlers } from './job-handlers.js';
import { createOrchestratorMetrics } from './metrics.js';

const address = z
  .string()
  .refine((s) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(s), { message: 'must be host:port' })
  .optional();

const env = z.object({
  ...datasetAccessEnv,
  UAE_TRAINER_ADDR: address,
  UAE_EVALUATOR_ADDR: address,
  UAE_PIPELINE_MAX_ACTIVE: z.coerce.number().int().min(1).max(1000).default(4),
  UAE_PIPELINE_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(250),
  UAE_UPLOAD_BUFFER_BYTES: z.coerce.number().int().min(0).max(1024 ** 3).default(BUFFER_LIMIT),
});

/** Remote stages need both services; tfjs is only loaded when stages run here. */
const remote = Boolean(process.env.UAE_TRAINER_ADDR && process.env.UAE_EVALUATOR_ADDR);

runMain(async () => {
  let driver: PipelineDriver | undefined;
  return startUaeService({
    name: 'orchestrator',
    grpcPort: 50050,
    metricsPort: 9460,
    protoFiles: ['uae/v1/job_service.proto', 'uae/v1/artifact_service.proto'],
    env,
    tensor: !remote,
    register(server, deps) {
      const { config, bus, jobs, logger, ctx } = deps;
      const extra = config.extra;
      const metrics = createOrchestratorMetrics(deps.metrics);
      const access = datasetAccessFrom(extra, config.dataDir);
      let executor: StageExecutor;
      if (extra.UAE_TRAINER_ADDR && extra.UAE_EVALUATOR_ADDR) {
        executor = new GrpcStageExecutor({
          trainerAddr: extra.UAE_TRAINER_ADDR,
          evaluatorAddr: extra.UAE_EVALUATOR_ADDR,
          token: () => ctx.callToken(),
          jobs,
          credentials: serviceCallCredentials(config),
        });
      } else {
        if (extra.UAE_TRAINER_ADDR || extra.UAE_EVALUATOR_ADDR) logger.warn('only one of UAE_TRAINER_ADDR / UAE_EVALUATOR_ADDR is set: training and evaluation run in this process');
        executor = new InProcessStageExecutor(bus);
      }
      logger.info({ stages: executor.mode, trainer: extra.UAE_TRAINER_ADDR, evaluator: extra.UAE_EVALUATOR_ADDR }, 'pipeline stages');
      driver = new PipelineDriver({
        bus,
        jobs,
        executor,
        logger,
        metrics,
        maxActive: extra.UAE_PIPELINE_MAX_ACTIVE,
        pollMs: extra.UAE_PIPELINE_POLL_MS,
        dataDir: config.dataDir,
        access,
      });
      server.add(v1.JobServiceService, jobServiceHandlers({ bus, jobs, driver, metrics, access, budget: deps.config.budget }));
      server.add(v1.ArtifactServiceService, artifactServiceHandlers({ bus, metrics, bufferLimit: extra.UAE_UPLOAD_BUFFER_BYTES }));
      ctx.onShutdown(async () => {
        await driver?.stop();
        executor.close();
      });
    },
    async onReady() {
      await driver!.resumeAll();
    },
  });
});
