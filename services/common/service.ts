/**
 * startUaeService: what every uae service's main.ts shares on top of the
 * service-kit — configuration from the environment, the bus (NATS or
 * embedded, services/common/bus.ts) as a readiness check, a JobStore on it,
 * reflection over the service's own proto files, the inline request-size limit
 * (grpc.max_receive_message_length = MAX_REQUEST_BYTES, docs/proto.md), the
 * shared error rules (errors.ts) and, once SERVING, one line on stdout:
 *
 *   <name> grpc HOST:PORT metrics HOST:PORT
 *
 * (tests/helpers/services.ts waits for it to learn the ports of UAE_GRPC_PORT=0).
 *
 *   // services/foo/main.ts
 *   runMain(() =>
 *     startUaeService({
 *       name: 'foo', grpcPort: 50099, metricsPort: 9499,
 *       protoFiles: ['uae/v1/foo_service.proto'],
 *       register: (server, deps) => server.add(v1.FooServiceService, fooHandlers(deps)),
 *     }),
 *   );
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { JobStore } from '../../libs/jobs/index.js';
import type { Bus } from '../../libs/bus/index.js';
import { MAX_REQUEST_BYTES } from '../../libs/proto/index.js';
import {
  createService,
  loadServiceConfig,
  type ErrorMapper,
  type Logger,
  type MethodRoles,
  type ReadinessCheck,
  type RunningService,
  type ServiceConfig,
  type ServiceContext,
  type ServiceMetrics,
  type ServiceRegistrar,
} from '../../libs/service-kit/index.js';
import { openServiceBus, type ServiceBus, type ServiceBusOptions } from './bus.js';
import { serviceErrorMappers } from './errors.js';
import { backendFaultHandler, faultDrillEnv, faultDrillFor, isBackendFault, mapBackendFault, type FaultDrill } from './backend-fault.js';

/**
 * The role each uae.v1 method needs (libs/service-kit/auth.ts; read < submit <
 * admin). read: look at jobs, models and artifacts; submit: start or cancel
 * work and upload data. Anything not listed needs admin.
 */
export const METHOD_ROLES: MethodRoles = {
  'uae.v1.JobService/GetJob': 'read',
  'uae.v1.JobService/WatchJob': 'read',
  'uae.v1.JobService/ListJobs': 'read',
  'uae.v1.JobService/SubmitPipeline': 'submit',
  'uae.v1.JobService/CancelJob': 'submit',
  'uae.v1.ArtifactService/Stat': 'read',
  'uae.v1.ArtifactService/Download': 'read',
  'uae.v1.ArtifactService/Upload': 'submit',
  'uae.v1.TrainingService/GetModel': 'read',
  'uae.v1.TrainingService/Train': 'submit',
  'uae.v1.EvaluationService/Evaluate': 'submit',
  'uae.v1.AttackService/Generate': 'submit',
  'uae.v1.AttackService/Submit': 'submit',
  'uae.v1.MineService/Estimate': 'submit',
};

/** The repository's proto/ directory (include root of every uae.v1 file). */
export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');

export { BACKEND_FAULT_EXIT_CODE, BACKEND_FAULT_GRACE_MS } from './backend-fault.js';

/** What a handler factory gets (handlers.ts): transport-free dependencies. */
export interface ServiceDeps {
  /** Forwards to the connected bus (calls only run once it is). */
  bus: Bus;
  jobs: JobStore;
  logger: Logger;
  metrics: ServiceMetrics;
  /**
   * The tfjs backend failed (libs/tensor isBackendFault: a wasm trap or an
   * abort) while doing `what`: the service turns NOT_SERVING at once, shuts
   * down gracefully after BACKEND_FAULT_GRACE_MS and exits BACKEND_FAULT_EXIT_CODE so that its supervisor
   * (Kubernetes, `npm run up`) starts it again with a fresh backend
   * (backend-fault.ts). gRPC handlers need not call it: startUaeService does
   * for every call that fails with a backend fault. Background work (jobs,
   * shards) calls it after recording the failure, as shutdown follows.
   */
  backendFault?(err: unknown, what: string): void;
  /** The fault drill UAE_FAULT_DRILL arms for this service (tests only; backend-fault.ts). */
  faultDrill?: FaultDrill;
}

export interface UaeServiceContext<Extra = Record<string, never>> extends ServiceDeps {
  config: ServiceConfig & { extra: Extra };
  ctx: ServiceContext;
  serviceBus: ServiceBus;
}

export interface StartUaeServiceOptions<E extends z.ZodObject> {
  /** Service name (default UAE_SERVICE_NAME) and default ports. */
  name: string;
  grpcPort: number;
  metricsPort: number;
  /** Proto files (relative to proto/) described by reflection, e.g. ['uae/v1/mine_service.proto']. */
  protoFiles: string[];
  /** Further environment variables (zod object keyed by variable name); parsed values in config.extra. */
  env?: E;
  /** Initialise the tfjs backend before SERVING (default true). */
  tensor?: boolean;
  /** connectBus / createEmbeddedBus options. */
  bus?: ServiceBusOptions;
  /** Readiness checks after the backend and the bus. */
  ready?: ReadinessCheck[];
  /** Extra error rules (tried before the shared ones). */
  mapError?: ErrorMapper[];
  /** Register handlers; the bus is not connected yet (but will be before any call runs). */
  register(server: ServiceRegistrar, deps: UaeServiceContext<z.output<E>>): void | Promise<void>;
  /** Runs once SERVING (e.g. resume jobs); a failure is logged and shuts the service down. */
  onReady?(deps: UaeServiceContext<z.output<E>>): void | Promise<void>;
  /** Default process.env. */
  envSource?: Record<string, string | undefined>;
  /** Print the ready line on stdout (default true). */
  announce?: boolean;
}

/**
 * Credentials for this service's calls to other uae services: TLS verified
 * against UAE_TLS_CA when it is set (presenting UAE_TLS_CERT / UAE_TLS_KEY as
 * the client certificate when this service has one, for servers that require
 * mTLS), else plaintext.
 */
export function serviceCallCredentials(config: Pick<ServiceConfig, 'tls' | 'tlsCaFile'>): grpc.ChannelCredentials {
  if (!config.tlsCaFile) return grpc.credentials.createInsecure();
  const ca = readFileSync(config.tlsCaFile);
  const key = config.tls ? readFileSync(config.tls.keyFile) : null;
  const cert = config.tls ? readFileSync(config.tls.certFile) : null;
  return grpc.credentials.createSsl(ca, key, cert);
}

/** `host:port` of a URL like http://127.0.0.1:9461/metrics. */
function hostPortOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The stdout line a service prints once SERVING. */
export function readyLine(name: string, running: Pick<RunningService, 'addresses'>): string {
  return `${name} grpc ${running.addresses.grpc} metrics ${hostPortOf(running.addresses.metrics)}`;
}

export async function startUaeService<E extends z.ZodObject = z.ZodObject<{}>>(opts: StartUaeServiceOptions<E>): Promise<RunningService> {
  // Every service accepts the (test-only) fault drill; only the one it names acts.
  const envSchema = (opts.env ?? z.object({})).extend(faultDrillEnv) as unknown as E;
  const config = loadServiceConfig(opts.envSource ?? process.env, { name: opts.name, grpcPort: opts.grpcPort, metricsPort: opts.metricsPort }, envSchema);
  let deps: UaeServiceContext<z.output<E>> | undefined;
  let serviceBus: ServiceBus | undefined;
  // eslint-disable-next-line prefer-const -- assigned once createService returns; used only after
  let running: RunningService;
  let backendFault: ((err: unknown, what: string) => void) | undefined;
  running = await createService({
    config,
    tensor: opts.tensor ?? true,
    protos: { files: opts.protoFiles, includeDirs: [PROTO_DIR] },
    mapError: [mapBackendFault(opts.name), ...(opts.mapError ?? []), ...serviceErrorMappers],
    onCallError: (err, call) => {
      if (isBackendFault(err)) backendFault?.(err, `a ${call.method} call`);
    },
    methodRoles: METHOD_ROLES,
    serverOptions: { 'grpc.max_receive_message_length': MAX_REQUEST_BYTES },
    ready: [
      {
        name: config.busMode === 'nats' ? 'nats' : 'embedded bus',
        check: async () => {
          await serviceBus!.connect();
        },
      },
      ...(opts.ready ?? []),
    ],
    async register(server, ctx) {
      serviceBus = openServiceBus(config, {
        ...opts.bus,
        logger: ctx.logger,
        onConnectionChange: (connected, reason) => {
          ctx.setServing(connected, reason);
          opts.bus?.onConnectionChange?.(connected, reason);
        },
      });
      const bus = serviceBus.bus;
      backendFault = backendFaultHandler({ setServing: ctx.setServing, logger: ctx.logger, shutdown: (reason) => running.shutdown(reason) });
      const drill = faultDrillFor((config.extra as { UAE_FAULT_DRILL?: string }).UAE_FAULT_DRILL, opts.name, ctx.logger);
      deps = { bus, jobs: new JobStore(bus), logger: ctx.logger, metrics: ctx.metrics, config, ctx, serviceBus, backendFault, ...(drill ? { faultDrill: drill } : {}) };
      ctx.onShutdown(() => serviceBus!.close());
      await opts.register(server, deps);
    },
  });
  running
    .whenReady()
    .then(async () => {
      await opts.onReady?.(deps!);
      if (opts.announce ?? true) process.stdout.write(`${readyLine(running.name, running)}\n`);
    })
    .catch((err: unknown) => {
      if (!running.isReady) return; // readiness failures are handled by the kit
      running.logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'start-up after ready failed');
      void running.shutdown('start-up after ready failed').finally(() => process.exit(1));
    });
  return running;
}
