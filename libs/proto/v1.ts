/**
 * Every message, enum and gRPC service definition of package uae.v1, flat
 * (names are unique across the .proto files). Import as a namespace:
 *   import { v1 } from '../proto/index.js';  v1.Tensor.encode(…), v1.AttackServiceService
 * Regenerate with `npm run proto`; tests/proto checks this list covers every generated file.
 */
export * from './gen/uae/v1/artifact.js';
export * from './gen/uae/v1/artifact_service.js';
export * from './gen/uae/v1/attack_service.js';
export * from './gen/uae/v1/config.js';
export * from './gen/uae/v1/evaluation_service.js';
export * from './gen/uae/v1/events.js';
export * from './gen/uae/v1/job.js';
export * from './gen/uae/v1/job_service.js';
export * from './gen/uae/v1/mine_service.js';
export * from './gen/uae/v1/results.js';
export * from './gen/uae/v1/tensor.js';
export * from './gen/uae/v1/training_service.js';
export * from './gen/uae/v1/work.js';
