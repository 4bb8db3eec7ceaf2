/**
 * mine-estimator: MineService.Estimate (standalone MINE between paired rows)
 * as its own process. Default ports: gRPC 50051, metrics 9461. Environment:
 * docs/service-kit.md (UAE_AUTH_TOKEN or UAE_AUTH_DISABLED=true, UAE_GRPC_PORT,
 * UAE_METRICS_PORT, UAE_BACKEND, UAE_NATS_URL / UAE_DATA_DIR for the bus).
 */
import { runMain } from '../../libs/service-kit/index.js';
import { v1 } from '../../libs/proto/index.js';
import { startUaeService } from '../common/service.js';
import { mineHandlers } from './handlers.js';

export const MINE_ESTIMATOR_PORTS = { grpc: 50051, metrics: 9461 } as const;

runMain(() =>
  startUaeService({
    name: 'mine-estimator',
    grpcPort: MINE_ESTIMATOR_PORTS.grpc,
    metricsPort: MINE_ESTIMATOR_PORTS.metrics,
    protoFiles: ['uae/v1/mine_service.proto'],
    register(server, deps) {
      server.add(v1.MineServiceService, mineHandlers({ ...deps, budget: deps.config.budget }));
    },
  }),
);
