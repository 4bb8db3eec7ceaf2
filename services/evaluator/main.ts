/**
 * evaluator: EvaluationService.Evaluate as its own process. Default ports:
 * gRPC 50054, metrics 9464. Environment: docs/service-kit.md's, plus
 *   UAE_ALLOW_DATASET_PATHS   allow idx:/csv:/npy:DIR datasets on this machine (default false)
 *   UAE_DATASET_ROOTS         …under these directories only (default UAE_DATA_DIR)
 * Models by model_id are read from the artifact store (models/<id>/model.pb,
 * services/common/README.md), so the evaluator needs the same bus as the
 * trainer (the same NATS, or in embedded mode the same UAE_DATA_DIR).
 */
import { z } from 'zod';
import { runMain } from '../../libs/service-kit/index.js';
import { v1 } from '../../libs/proto/index.js';
import { startUaeService } from '../common/service.js';
import { datasetAccessEnv, datasetAccessFrom } from '../common/dataset-access.js';
import { evaluationHandlers } from '../common/evaluation.js';

export const EVALUATOR_PORTS = { grpc: 50054, metrics: 9464 } as const;

const env = z.object({ ...datasetAccessEnv });

runMain(() =>
  startUaeService({
    name: 'evaluator',
    grpcPort: EVALUATOR_PORTS.grpc,
    metricsPort: EVALUATOR_PORTS.metrics,
    protoFiles: ['uae/v1/evaluation_service.proto'],
    env,
    register(server, deps) {
      server.add(v1.EvaluationServiceService, evaluationHandlers({ ...deps, access: datasetAccessFrom(deps.config.extra, deps.config.dataDir), budget: deps.config.budget }));
    },
  }),
);
