/**
 * libs/service-kit: the bootstrap shared by every uae gRPC service —
 * configuration from the environment, auth, health, reflection, deadlines
 * as AbortSignals, error → status mapping, request logs and Prometheus
 * metrics. See docs/service-kit.md.
 */
export {
  loadServiceConfig,
  describeConfig,
  ConfigError,
  LOG_LEVELS,
  BACKEND_CHOICES,
  MIN_TOKEN_LENGTH,
  SERVICE_ENV_VARS,
  type ServiceConfig,
  type ServiceDefaults,
  type AuthConfig,
  type ConfigIssue,
  type LogLevel,
  type BackendChoiceName,
} from './config.js';
export {
  ServiceError,
  Status,
  invalidArgument,
  notFound,
  failedPrecondition,
  unavailable,
  statusFromError,
  statusFromAbort,
  statusOfKind,
  statusOfKindedError,
  isGrpcStatusCode,
  KIND_STATUS,
  statusName,
  toGrpcStatus,
  formatFieldPath,
  FIELD_TRAILER,
  ERROR_REF_TRAILER,
  type ErrorMapper,
  type MappedStatus,
} from './errors.js';
export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export {
  createServiceMetrics,
  startMetricsServer,
  dialableHost,
  METRIC_PREFIX,
  GRPC_LATENCY_BUCKETS,
  type ServiceMetrics,
  type ServiceMetricsOptions,
  type MetricsServer,
  type TensorSource,
  type GrpcLabels,
} from './metrics.js';
export {
  createService,
  runMain,
  loadProtos,
  splitPath,
  DEFAULT_LOADER_OPTIONS,
  type CreateServiceOptions,
  type RunningService,
  type ServiceRegistrar,
  type ServiceContext,
  type ReadinessCheck,
  type ProtoSpec,
  type LoadedProtos,
  type CallContext,
  type StreamingCallContext,
  type UnaryHandler,
  type ServerStreamHandler,
  type ClientStreamHandler,
  type BidiStreamHandler,
  type AnyHandler,
  type HandlerFor,
  type HandlersFor,
} from './server.js';
export {
  createAuthenticator,
  parseTokens,
  requiredRole,
  TokenSource,
  TokenFileError,
  ROLES,
  type Role,
  type MethodRoles,
  type Denial,
} from './auth.js';
export {
  RequestDecodeError,
  UndecodableRequest,
  createRequestDiagnoser,
  guardDefinition,
  type RequestDiagnoser,
} from './decode.js';
