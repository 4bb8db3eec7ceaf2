/**
 * createService: the bootstrap every uae gRPC service shares.
 *
 * Two mechanisms, each used for what it does reliably in grpc-js 1.14:
 *
 * 1. One server interceptor (`ServerOptions.interceptors`, grpc-js ≥ 1.10)
 *    sees every call to a registered method, health and reflection included,
 *    before any handler runs. It does what only needs metadata and the final
 *    status: authentication (answering UNAUTHENTICATED without ever starting
 *    the handler), the readiness gate (UNAVAILABLE until ready), one log line
 *    and the metrics per call. It records a call once, at the first of
 *    `sendStatus` (the handler's status passes through the interceptor) or
 *    `onCancel` (client cancel, or grpc-js' own deadline timer, which sends
 *    DEADLINE_EXCEEDED from below the interceptors so only the cancel is
 *    seen). grpc-js fires onCancel after every call, finished or not, hence
 *    the once.
 * 2. Handler wrappers (the `add()` of the registrar handed to `register`) do
 *    what an interceptor cannot: an interceptor never sees the object a
 *    handler throws (grpc-js turns it into UNKNOWN first), and it cannot hand
 *    the handler an AbortSignal. The wrappers give each call a context with a
 *    signal that fires on client cancel and at the deadline, map thrown
 *    errors and rejected promises to statuses (errors.ts) and log unexpected
 *    ones with a reference id, and adapt promise/async-iterable handlers to
 *    grpc-js' call objects.
 *
 * Health (grpc.health.v1): NOT_SERVING for "" and every registered service
 * until every readiness check (tfjs backend when `tensor`, then the service's
 * own, e.g. NATS) has passed, then SERVING; NOT_SERVING again on shutdown.
 * Reflection (v1 and v1alpha) describes the protos given in `protos` plus
 * grpc.health.v1. Health and reflection need no token, so probes and grpcurl
 * work without secrets; every other method does unless auth is disabled.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { ConfigError, describeConfig, type AuthConfig, type ServiceConfig } from './config.js';
import {
  Status,
  statusFromError,
  statusName,
  toGrpcStatus,
  type ErrorMapper,
  type MappedStatus,
} from './errors.js';
import { createAuthenticator, TokenSource, type Denial, type MethodRoles } from './auth.js';
import { createRequestDiagnoser, guardDefinition, UndecodableRequest } from './decode.js';
import { createLogger, type Logger } from './logger.js';
import { createServiceMetrics, dialableHost, startMetricsServer, type MetricsServer, type ServiceMetrics } from './metrics.js';

// ---------------------------------------------------------------------------
// Handler types

export interface CallContext {
  /** Fully qualified gRPC service, e.g. `uae.v1.Attack`. */
  readonly service: string;
  readonly method: string;
  /** `/service/method`. */
  readonly path: string;
  readonly metadata: grpc.Metadata;
  /** Fires on client cancel (reason: AbortError) or at the deadline (reason: TimeoutError). */
  readonly signal: AbortSignal;
  readonly deadline: Date | undefined;
  readonly peer: string;
  /** The service logger with grpcService/grpcMethod bound. */
  readonly log: Logger;
}

export interface StreamingCallContext<Res> extends CallContext {
  /** Send one message; waits while the transport is full; rejects once the call is cancelled. */
  write(message: Res): Promise<void>;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Res | Promise<Res>;
/** Return (or be) an (async) iterable of responses, or write through ctx.write and resolve. */
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  ctx: StreamingCallContext<Res>,
) => AsyncIterable<Res> | Iterable<Res> | Promise<void> | void;
export type ClientStreamHandler<Req, Res> = (requests: AsyncIterable<Req>, ctx: CallContext) => Res | Promise<Res>;
export type BidiStreamHandler<Req, Res> = (
  requests: AsyncIterable<Req>,
  ctx: StreamingCallContext<Res>,
) => AsyncIterable<Res> | Iterable<Res> | Promise<void> | void;

export type AnyHandler =
  | UnaryHandler<any, any>
  | ServerStreamHandler<any, any>
  | ClientStreamHandler<any, any>
  | BidiStreamHandler<any, any>;

/**
 * The handler shape a method definition calls for. Typed definitions (ts-proto
 * `outputServices=grpc-js`) have literal stream flags and get exact types;
 * untyped ones (proto-loader) accept any of the four, checked at registration.
 */
export type HandlerFor<M> =
  M extends grpc.MethodDefinition<infer Req, infer Res>
    ? boolean extends M['requestStream']
      ? AnyHandler
      : boolean extends M['responseStream']
        ? AnyHandler
        : M['requestStream'] extends true
          ? M['responseStream'] extends true
            ? BidiStreamHandler<Req, Res>
            : ClientStreamHandler<Req, Res>
          : M['responseStream'] extends true
            ? ServerStreamHandler<Req, Res>
            : UnaryHandler<Req, Res>
    : never;

export type HandlersFor<D> = { [K in keyof D]: HandlerFor<D[K]> };

export interface ServiceRegistrar {
  /** Register kit handlers for every method of `definition` (wrapped: signal, error mapping). */
  add<D extends grpc.ServiceDefinition>(definition: D, handlers: HandlersFor<D>): void;
  /**
   * Register a plain grpc-js implementation. It still gets auth, the
   * readiness gate, logging and metrics (interceptor), but no AbortSignal and
   * no error mapping.
   */
  addRaw(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void;
}

export interface ServiceContext {
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  /** Run at shutdown, after the gRPC server drained (reverse order of registration). */
  onShutdown(hook: () => Promise<void> | void): void;
  /** Flip health after start-up (e.g. NOT_SERVING while the NATS connection is down). */
  setServing(serving: boolean, reason?: string): void;
  /** The token this service sends on its own calls to other uae services (UAE_AUTH_TOKEN, or the tokens file's first admin token, re-read on rotation). */
  callToken(): string | undefined;
}

export interface ReadinessCheck {
  name: string;
  /** Resolves when ready; throws to be retried (backoff) unless `fatal`. */
  check(signal: AbortSignal): Promise<void> | void;
  /** A failure is final: the service cannot become ready (whenReady() rejects). */
  fatal?: boolean;
}

// ---------------------------------------------------------------------------
// Protos

export interface ProtoSpec {
  /** Proto files, relative to one of `includeDirs` (or absolute). */
  files: string[];
  includeDirs?: string[];
  /** proto-loader options; default keepCase false, longs String, enums String, defaults, oneofs. */
  loaderOptions?: protoLoader.Options;
}

export interface LoadedProtos {
  readonly packageDefinition: protoLoader.PackageDefinition;
  /** The grpc-js definition of a fully qualified service, e.g. `uae.v1.Attack`. */
  service(fullName: string): grpc.ServiceDefinition;
}

export const DEFAULT_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export function loadProtos(spec: ProtoSpec): LoadedProtos {
  const packageDefinition = protoLoader.loadSync(spec.files, {
    ...DEFAULT_LOADER_OPTIONS,
    ...spec.loaderOptions,
    includeDirs: spec.includeDirs ?? [],
  });
  return {
    packageDefinition,
    service(fullName) {
      const def = packageDefinition[fullName];
      if (!def || 'format' in def || !Object.values(def).every((m) => typeof m === 'object' && m !== null && 'path' in m)) {
        throw new Error(`no service ${fullName} in ${spec.files.join(', ')}`);
      }
      return def as unknown as grpc.ServiceDefinition;
    },
  };
}

function healthPackageDefinition(): protoLoader.PackageDefinition {
  // grpc-health-check ships its proto; load it by its include-relative name so
  // the reflected file is "health/v1/health.proto".
  const root = resolvePath(dirname(healthProtoPath), '../..');
  return protoLoader.loadSync('health/v1/health.proto', { ...DEFAULT_LOADER_OPTIONS, includeDirs: [root] });
}

// ---------------------------------------------------------------------------
// Options and result

export interface CreateServiceOptions {
  config: ServiceConfig;
  /** Register the service's handlers. May be async (runs before binding). */
  register(server: ServiceRegistrar, ctx: ServiceContext): void | Promise<void>;
  /** Readiness: a function or named checks, run after binding, retried with backoff. */
  ready?: (() => Promise<void> | void) | readonly ReadinessCheck[];
  /**
   * Initialise the tfjs backend (UAE_BACKEND) as the first, fatal readiness
   * check and export the uae_tfjs_* metrics. libs/tensor is imported only then.
   */
  tensor?: boolean;
  /** Protos described by reflection (grpc.health.v1 is always added). */
  protos?: ProtoSpec | LoadedProtos;
  /** Service-specific error rules, tried before the defaults. */
  mapError?: ErrorMapper | readonly ErrorMapper[];
  /**
   * Sees every error a kit handler failed with, before it is mapped to a
   * status (e.g. to contain a failed backend: services/common/backend-fault.ts).
   * Must not throw.
   */
  onCallError?: (err: unknown, ctx: CallContext) => void;
  /** The role each method needs ("pkg.Service/Method" or "pkg.Service"; unlisted: admin). See auth.ts. */
  methodRoles?: MethodRoles;
  logger?: Logger;
  metrics?: ServiceMetrics;
  /**
   * Act as the process's owner (default true): SIGTERM/SIGINT → graceful
   * shutdown then exit 0 (a second signal exits at once); a fatal readiness
   * failure → shutdown then exit 1. Tests and embedded use pass false.
   */
  manageProcess?: boolean;
  /** Extra grpc-js server options; `interceptors` here run inside the kit's. */
  serverOptions?: grpc.ServerOptions;
  /** Readiness retry backoff (default 250 ms doubling to 5 s). */
  readinessBackoff?: { initialMs: number; maxMs: number };
}

export interface RunningService {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: HealthImplementation;
  /** Dialable addresses (a wildcard bind host is reported as loopback). */
  readonly addresses: { grpc: string; metrics: string };
  readonly ports: { grpc: number; metrics: number };
  /** Fully qualified gRPC services registered (health/reflection excluded). */
  readonly services: readonly string[];
  readonly isReady: boolean;
  /** Resolves when SERVING; rejects when a fatal check failed or shutdown came first. */
  whenReady(): Promise<void>;
  setServing(serving: boolean, reason?: string): void;
  /** Graceful shutdown: NOT_SERVING, drain (UAE_SHUTDOWN_TIMEOUT_MS), force, close metrics, hooks. */
  shutdown(reason?: string): Promise<void>;
}

const EXEMPT_SERVICES = new Set([
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
]);

/** setTimeout's ceiling; longer deadlines rely on grpc-js' cancel alone. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A cancel this close to the deadline is the deadline. */
const DEADLINE_SLACK_MS = 20;

export function splitPath(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? { service: m[1], method: m[2] } : { service: 'unknown', method: path };
}

function deadlineMs(deadline: grpc.Deadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

function deadlineReason(): DOMException {
  return new DOMException('deadline exceeded', 'TimeoutError');
}

function cancelReason(): DOMException {
  return new DOMException('call cancelled by the client', 'AbortError');
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

// ---------------------------------------------------------------------------
// Transport: TLS credentials and raw headers (auth itself is in auth.ts)

/** TLS from UAE_TLS_CERT / UAE_TLS_KEY (+ UAE_TLS_CLIENT_CA: client certificates required), else plaintext. */
function serverCredentials(config: ServiceConfig): grpc.ServerCredentials {
  if (!config.tls) return grpc.ServerCredentials.createInsecure();
  const read = (file: string, variable: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError([{ variable, reason: `cannot read ${file}: ${errorText(err)}` }]);
    }
  };
  const pair = { cert_chain: read(config.tls.certFile, 'UAE_TLS_CERT'), private_key: read(config.tls.keyFile, 'UAE_TLS_KEY') };
  const clientCa = config.tls.clientCaFile ? read(config.tls.clientCaFile, 'UAE_TLS_CLIENT_CA') : null;
  try {
    return grpc.ServerCredentials.createSsl(clientCa, [pair], clientCa !== null);
  } catch (err) {
    throw new ConfigError([{ variable: 'UAE_TLS_CERT / UAE_TLS_KEY', reason: `not a usable certificate and key: ${errorText(err)}` }]);
  }
}

/**
 * Node's http2 keeps only the first value of a header it treats as
 * single-valued (`authorization` among them) when building the headers object
 * grpc-js reads, so a request carrying [valid, wrong] tokens looked like one
 * valid token. The raw header list still has both: a 'stream' listener that
 * runs before grpc-js' puts every value of such a header back (as an array,
 * which grpc-js turns into repeated metadata), so the authenticator sees and
 * refuses the duplicate. grpc-js keeps its http2 servers in the private
 * `http2Servers` map; its absence (a grpc-js upgrade) is a start-up error
 * rather than a silent loss of the check.
 */
const CHECKED_DUPLICATES = new Set(['authorization']);

function restoreDuplicateHeaders(server: grpc.Server): void {
  const servers = (server as unknown as { http2Servers?: Map<EventEmitterLike, unknown> }).http2Servers;
  if (!(servers instanceof Map)) throw new Error('service-kit: grpc-js no longer exposes its http2 servers; the duplicate-header check cannot be installed');
  for (const h2 of servers.keys()) {
    h2.prependListener('stream', (_stream: unknown, headers: Record<string, unknown>, _flags: unknown, raw?: unknown) => {
      if (!Array.isArray(raw)) return;
      const seen = new Map<string, string[]>();
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const name = String(raw[i]).toLowerCase();
        if (!CHECKED_DUPLICATES.has(name)) continue;
        const list = seen.get(name) ?? [];
        list.push(String(raw[i + 1]));
        seen.set(name, list);
      }
      for (const [name, values] of seen) if (values.length > 1) headers[name] = values;
    });
  }
}

interface EventEmitterLike {
  prependListener(event: string, listener: (...args: any[]) => void): unknown;
}

// ---------------------------------------------------------------------------
// Interceptor

const SERVER_FAULTS = new Set<number>([Status.UNKNOWN, Status.INTERNAL, Status.DATA_LOSS, Status.UNIMPLEMENTED]);

interface GateState {
  ready: boolean;
  notReadyReason: string;
}

function kitInterceptor(opts: {
  authenticate: (metadata: grpc.Metadata, service: string, method: string) => Denial | undefined;
  gate: GateState;
  metrics: ServiceMetrics;
  logger: Logger;
}): grpc.ServerInterceptor {
  return (descriptor, next) => {
    const { service, method } = splitPath(descriptor.path);
    const exempt = EXEMPT_SERVICES.has(service);
    const started = process.hrtime.bigint();
    let finished = false;
    opts.metrics.grpcInFlight.inc({ service, method });

    const finish = (code: number, details: string) => {
      if (finished) return;
      finished = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const name = statusName(code);
      opts.metrics.grpcInFlight.dec({ service, method });
      opts.metrics.observeCall(service, method, name, seconds);
      const line = {
        grpcService: service,
        grpcMethod: method,
        code: name,
        ms: Math.round(seconds * 1e4) / 10,
        peer: next.getPeer(),
        ...(code === Status.OK ? {} : { details }),
      };
      if (exempt) opts.logger.debug(line, 'grpc call');
      else if (code === Status.OK) opts.logger.info(line, 'grpc call');
      else if (SERVER_FAULTS.has(code)) opts.logger.error(line, 'grpc call');
      else opts.logger.warn(line, 'grpc call');
    };

    // grpc-js sends some statuses itself, below every interceptor (a message
    // over the size limit, a bad grpc-timeout, an unsupported compression):
    // record those with their real code instead of the cancel that follows.
    const below = next.sendStatus.bind(next);
    next.sendStatus = (status) => {
      finish(status.code, status.details);
      below(status);
    };

    let self: grpc.ServerInterceptingCall | undefined;
    let refused = false;
    const refuse = (denial: Denial | ReturnType<typeof toGrpcStatus>) => {
      refused = true;
      self!.sendStatus({ metadata: new grpc.Metadata(), ...denial });
    };
    const listener = new grpc.ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, pass) => {
        if (!exempt) {
          // Not passing the metadata on means the handler never starts.
          const denial = opts.authenticate(metadata, service, method);
          if (denial) return refuse(denial);
          if (!opts.gate.ready) {
            return refuse({ code: Status.UNAVAILABLE, details: `service not ready: ${opts.gate.notReadyReason}` });
          }
        }
        pass(metadata);
      })
      .withOnReceiveMessage((message, pass) => {
        if (refused) return;
        // A guarded deserializer's failure (decode.ts): answered here, before any handler.
        if (message instanceof UndecodableRequest) return refuse(toGrpcStatus(statusFromError(message.error)));
        pass(message);
      })
      .withOnReceiveHalfClose((pass) => {
        if (!refused) pass();
      })
      .withOnCancel(() => {
        const deadline = deadlineMs(next.getDeadline());
        const timedOut = deadline !== undefined && Date.now() >= deadline - DEADLINE_SLACK_MS;
        finish(
          timedOut ? Status.DEADLINE_EXCEEDED : Status.CANCELLED,
          timedOut ? 'deadline exceeded' : 'call cancelled by the client',
        );
      })
      .build();
    const responder = new grpc.ResponderBuilder()
      .withStart((start) => start(listener))
      .withSendStatus((status, send) => {
        finish(status.code, status.details);
        send(status);
      })
      .build();
    self = new grpc.ServerInterceptingCall(next, responder);
    return self;
  };
}

// ---------------------------------------------------------------------------
// Handler wrappers

/** What the wrappers use of any grpc-js server call object. */
interface SurfaceCall {
  cancelled: boolean;
  readonly metadata: grpc.Metadata;
  readonly destroyed?: boolean;
  getPeer(): string;
  getDeadline(): grpc.Deadline;
  on(event: 'cancelled', listener: () => void): unknown;
  removeListener(event: 'cancelled', listener: () => void): unknown;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function isIterableResult(v: unknown): v is AsyncIterable<unknown> | Iterable<unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    (typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' ||
      typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function')
  );
}

class HandlerWrapper {
  constructor(
    private readonly logger: Logger,
    private readonly mappers: readonly ErrorMapper[],
    private readonly onError?: (err: unknown, ctx: CallContext) => void,
  ) {}

  private context(call: SurfaceCall, path: string): { ctx: CallContext; release: () => void } {
    const { service, method } = splitPath(path);
    const controller = new AbortController();
    const deadline = deadlineMs(call.getDeadline());
    let timer: NodeJS.Timeout | undefined;
    if (deadline !== undefined && deadline - Date.now() <= MAX_TIMER_MS) {
      timer = setTimeout(() => controller.abort(deadlineReason()), Math.max(0, deadline - Date.now()));
    }
    // grpc-js emits 'cancelled' after every call, finished or not; release()
    // detaches before the kit answers, so only a real cancel aborts.
    const onCancelled = () => {
      if (controller.signal.aborted) return;
      const timedOut = deadline !== undefined && Date.now() >= deadline - DEADLINE_SLACK_MS;
      controller.abort(timedOut ? deadlineReason() : cancelReason());
    };
    call.on('cancelled', onCancelled);
    if (call.cancelled) onCancelled();
    const ctx: CallContext = {
      service,
      method,
      path,
      metadata: call.metadata,
      signal: controller.signal,
      deadline: deadline === undefined ? undefined : new Date(deadline),
      peer: call.getPeer(),
      log: this.logger.child({ grpcService: service, grpcMethod: method }),
    };
    return {
      ctx,
      release: () => {
        if (timer) clearTimeout(timer);
        call.removeListener('cancelled', onCancelled);
      },
    };
  }

  private failure(err: unknown, ctx: CallContext): ReturnType<typeof toGrpcStatus> {
    try {
      this.onError?.(err, ctx);
    } catch (hookErr) {
      ctx.log.error({ err: errorText(hookErr) }, 'onCallError hook failed');
    }
    const mapped: MappedStatus = statusFromError(err, { signal: ctx.signal, mappers: this.mappers });
    if (mapped.ref !== undefined) ctx.log.error({ err: mapped.cause, ref: mapped.ref }, 'handler failed unexpectedly');
    return toGrpcStatus(mapped);
  }

  private writer<Res>(call: grpc.ServerWritableStream<unknown, Res> | grpc.ServerDuplexStream<unknown, Res>, signal: AbortSignal) {
    return async (message: Res): Promise<void> => {
      if (signal.aborted) throw signal.reason;
      if (!call.write(message)) await once(call, 'drain', { signal });
    };
  }

  unary(path: string, handler: UnaryHandler<unknown, unknown>): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      const { ctx, release } = this.context(call, path);
      void (async () => {
        let response: unknown;
        try {
          response = await handler(call.request, ctx);
          if (response === undefined || response === null) throw new Error(`${path}: handler returned no response`);
        } catch (err) {
          release();
          callback(this.failure(err, ctx));
          return;
        }
        release();
        try {
          callback(null, response);
        } catch (err) {
          callback(this.failure(err, ctx));
        }
      })();
    };
  }

  clientStream(path: string, handler: ClientStreamHandler<unknown, unknown>): grpc.handleClientStreamingCall<unknown, unknown> {
    return (call, callback) => {
      const { ctx, release } = this.context(call, path);
      // Leaving the loop early must not destroy the call (its status is still to be sent).
      const requests = call.iterator({ destroyOnReturn: false }) as AsyncIterable<unknown>;
      void (async () => {
        let response: unknown;
        try {
          response = await handler(requests, ctx);
          if (response === undefined || response === null) throw new Error(`${path}: handler returned no response`);
        } catch (err) {
          release();
          callback(this.failure(err, ctx));
          return;
        }
        release();
        try {
          callback(null, response);
        } catch (err) {
          callback(this.failure(err, ctx));
        }
      })();
    };
  }

  private async stream(
    call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
    ctx: CallContext,
    release: () => void,
    run: (sctx: StreamingCallContext<unknown>) => unknown,
  ): Promise<void> {
    const write = this.writer(call, ctx.signal);
    const open = () => !call.cancelled && !(call as SurfaceCall).destroyed;
    try {
      let out = run({ ...ctx, write });
      if (isThenable(out)) out = await out;
      if (isIterableResult(out)) {
        for await (const message of out) await write(message);
      }
    } catch (err) {
      release();
      // A status object on 'error' is how grpc-js ends a stream with a status
      // (after the messages already written).
      if (open()) call.emit('error', this.failure(err, ctx));
      else this.failure(err, ctx);
      return;
    }
    release();
    if (open()) call.end();
  }

  serverStream(path: string, handler: ServerStreamHandler<unknown, unknown>): grpc.handleServerStreamingCall<unknown, unknown> {
    return (call) => {
      const { ctx, release } = this.context(call, path);
      void this.stream(call, ctx, release, (sctx) => handler(call.request, sctx));
    };
  }

  bidi(path: string, handler: BidiStreamHandler<unknown, unknown>): grpc.handleBidiStreamingCall<unknown, unknown> {
    return (call) => {
      const { ctx, release } = this.context(call, path);
      const requests = call.iterator({ destroyOnReturn: false }) as AsyncIterable<unknown>;
      void this.stream(call, ctx, release, (sctx) => handler(requests, sctx));
    };
  }

  wrap(def: grpc.MethodDefinition<unknown, unknown>, handler: AnyHandler): grpc.UntypedHandleCall {
    const { path } = def;
    if (def.requestStream && def.responseStream) return this.bidi(path, handler as BidiStreamHandler<unknown, unknown>);
    if (def.requestStream) return this.clientStream(path, handler as ClientStreamHandler<unknown, unknown>);
    if (def.responseStream) return this.serverStream(path, handler as ServerStreamHandler<unknown, unknown>);
    return this.unary(path, handler as UnaryHandler<unknown, unknown>);
  }
}

// ---------------------------------------------------------------------------
// createService

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Build, bind and start a service. Resolves once both ports are bound (the
 * service answers health as NOT_SERVING from then on); readiness continues
 * in the background; see RunningService.whenReady().
 */
export async function createService(opts: CreateServiceOptions): Promise<RunningService> {
  const { config } = opts;
  const name = config.serviceName;
  const logger = opts.logger ?? createLogger({ service: name, level: config.logLevel });
  const metrics = opts.metrics ?? createServiceMetrics();
  const manageProcess = opts.manageProcess ?? true;
  const mappers = opts.mapError === undefined ? [] : Array.isArray(opts.mapError) ? opts.mapError : [opts.mapError as ErrorMapper];
  const gate: GateState = { ready: false, notReadyReason: 'starting' };
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  const services: string[] = [];
  const shutdownHooks: Array<() => Promise<void> | void> = [];
  const stopping = new AbortController();

  let tokens: TokenSource | undefined;
  try {
    tokens = config.auth.disabled
      ? undefined
      : new TokenSource(config.auth, {
          onReload: (count) => logger.info({ tokens: count }, 'auth tokens reloaded'),
          onError: (message) => logger.error({ err: message }, 'auth tokens file'),
        });
  } catch (err) {
    throw new ConfigError([{ variable: 'UAE_AUTH_TOKENS_FILE', reason: errorText(err) }]);
  }
  const server = new grpc.Server({
    ...opts.serverOptions,
    interceptors: [
      kitInterceptor({ authenticate: createAuthenticator(config.auth, { methodRoles: opts.methodRoles ?? {}, ...(tokens ? { tokens } : {}) }), gate, metrics, logger }),
      ...(opts.serverOptions?.interceptors ?? []),
    ],
  });

  // Every service added (ours, health, reflection) gets deserializers that do
  // not throw inside grpc-js (decode.ts); a failure names the field when the
  // protos describe the method.
  const protos = opts.protos === undefined ? undefined : 'packageDefinition' in opts.protos ? opts.protos : loadProtos(opts.protos);
  const diagnose = createRequestDiagnoser(protos ? [protos.packageDefinition] : []);
  const addService = server.addService.bind(server);
  server.addService = (definition, implementation) => addService(guardDefinition(definition, diagnose), implementation);

  const setServing = (serving: boolean, reason?: string) => {
    gate.ready = serving;
    if (!serving) gate.notReadyReason = reason ?? 'not serving';
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    for (const s of ['', ...services]) health.setStatus(s, status);
    metrics.ready.set(serving ? 1 : 0);
    logger.info({ status, ...(reason && !serving ? { reason } : {}) }, 'health');
  };

  const wrapper = new HandlerWrapper(logger, mappers, opts.onCallError);
  const noteService = (definition: grpc.ServiceDefinition) => {
    const first = Object.values(definition)[0] as grpc.MethodDefinition<unknown, unknown> | undefined;
    if (!first) throw new Error('service definition has no methods');
    const svc = splitPath(first.path).service;
    if (services.includes(svc)) throw new Error(`service ${svc} registered twice`);
    services.push(svc);
    health.setStatus(svc, 'NOT_SERVING');
    return svc;
  };
  const registrar: ServiceRegistrar = {
    add(definition, handlers) {
      const svc = noteService(definition);
      const impl: grpc.UntypedServiceImplementation = {};
      const byName = handlers as unknown as Record<string, AnyHandler | undefined>;
      for (const [key, def] of Object.entries(definition) as Array<[string, grpc.MethodDefinition<unknown, unknown>]>) {
        const handler = byName[key] ?? (def.originalName !== undefined ? byName[def.originalName] : undefined);
        if (typeof handler !== 'function') throw new Error(`${svc}: no handler for method ${key}`);
        impl[key] = wrapper.wrap(def, handler);
      }
      server.addService(definition, impl);
    },
    addRaw(definition, implementation) {
      noteService(definition);
      server.addService(definition, implementation);
    },
  };
  const serviceContext: ServiceContext = {
    config,
    logger,
    metrics,
    onShutdown: (hook) => void shutdownHooks.push(hook),
    setServing: (serving, reason) => {
      if (stopping.signal.aborted) return;
      setServing(serving, reason);
    },
    callToken: () => tokens?.callToken(),
  };

  await opts.register(registrar, serviceContext);
  health.addToServer(server);
  new ReflectionService({ ...healthPackageDefinition(), ...protos?.packageDefinition }).addToServer(server);

  // Bind gRPC, then metrics; undo the first when the second fails.
  const credentials = serverCredentials(config);
  const grpcPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(hostPort(config.grpc.host, config.grpc.port), credentials, (err, port) =>
      err
        ? reject(new Error(`cannot listen for gRPC on ${hostPort(config.grpc.host, config.grpc.port)} (UAE_GRPC_HOST/UAE_GRPC_PORT): ${err.message}`))
        : resolve(port),
    );
  });
  restoreDuplicateHeaders(server);
  let metricsServer: MetricsServer;
  try {
    metricsServer = await startMetricsServer({
      registry: metrics.registry,
      host: config.metrics.host,
      port: config.metrics.port,
      isReady: () => gate.ready,
      logger,
    });
  } catch (err) {
    server.forceShutdown();
    throw new Error(
      `cannot listen for metrics on ${hostPort(config.metrics.host, config.metrics.port)} (UAE_METRICS_HOST/UAE_METRICS_PORT): ${errorText(err)}`,
    );
  }

  const addresses = { grpc: `${dialableHost(config.grpc.host)}:${grpcPort}`, metrics: metricsServer.url };
  logger.info({ config: describeConfig(config), grpc: addresses.grpc, metrics: addresses.metrics, services }, 'listening');
  if (config.auth.disabled) logger.warn('authentication is disabled (UAE_AUTH_DISABLED=true)');
  if (!config.tls && !config.auth.disabled) {
    logger.warn('gRPC is plaintext: bearer tokens cross the network in the clear (set UAE_TLS_CERT / UAE_TLS_KEY, or run behind a mesh that adds TLS)');
  }
  if (config.unknownVariables.length > 0) {
    logger.warn({ variables: config.unknownVariables }, 'unrecognised UAE_* environment variables (typos?)');
  }

  // Readiness
  const checks: ReadinessCheck[] = [];
  if (opts.tensor) {
    checks.push({
      name: 'tfjs backend',
      fatal: true,
      check: async () => {
        const tensor = await import('../tensor/index.js');
        const info = await tensor.initBackend(config.backend);
        metrics.attachTensor({ info: () => tensor.backendInfo(), memory: () => tensor.tf.memory() });
        logger.info({ backend: info.name, provider: info.provider, gpu: info.gpu, ...(info.adapter ? { adapter: info.adapter } : {}) }, 'tfjs backend ready');
      },
    });
  }
  if (typeof opts.ready === 'function') checks.push({ name: 'ready', check: opts.ready });
  else if (opts.ready) checks.push(...opts.ready);

  const backoff = opts.readinessBackoff ?? { initialMs: 250, maxMs: 5000 };
  const readiness = (async () => {
    for (const check of checks) {
      let delay = backoff.initialMs;
      for (let attempt = 1; ; attempt++) {
        if (stopping.signal.aborted) throw new Error('shut down before becoming ready');
        gate.notReadyReason = `waiting for ${check.name}`;
        try {
          await check.check(stopping.signal);
          break;
        } catch (err) {
          if (stopping.signal.aborted) throw new Error('shut down before becoming ready');
          if (check.fatal) throw new Error(`readiness check "${check.name}" failed: ${errorText(err)}`);
          gate.notReadyReason = `waiting for ${check.name} (attempt ${attempt}: ${errorText(err)})`;
          logger.warn({ check: check.name, attempt, err: errorText(err), retryMs: delay }, 'not ready yet');
          await sleep(delay, stopping.signal);
          delay = Math.min(delay * 2, backoff.maxMs);
        }
      }
    }
    if (stopping.signal.aborted) throw new Error('shut down before becoming ready');
    setServing(true);
  })();
  readiness.catch(() => {});

  // Shutdown
  let shuttingDown: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'shutting down');
    running.shutdown(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  const removeSignalHandlers = () => {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  };

  const running: RunningService = {
    name,
    config,
    logger,
    metrics,
    health,
    addresses,
    ports: { grpc: grpcPort, metrics: metricsServer.port },
    services,
    get isReady() {
      return gate.ready;
    },
    whenReady: () => readiness,
    setServing: serviceContext.setServing,
    shutdown(reason) {
      shuttingDown ??= (async () => {
        setServing(false, `shutting down${reason ? ` (${reason})` : ''}`);
        stopping.abort();
        await new Promise<void>((resolve) => {
          let done = false;
          const finish = () => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            logger.warn({ timeoutMs: config.shutdownTimeoutMs }, 'calls still running after the shutdown timeout: cancelling them');
            server.forceShutdown();
            finish();
          }, config.shutdownTimeoutMs);
          server.tryShutdown(() => finish());
        });
        await metricsServer.close();
        for (const hook of shutdownHooks.reverse()) {
          try {
            await hook();
          } catch (err) {
            logger.error({ err }, 'shutdown hook failed');
          }
        }
        removeSignalHandlers();
        logger.info('stopped');
      })();
      return shuttingDown;
    },
  };

  if (manageProcess) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    readiness.catch((err: unknown) => {
      if (shuttingDown) return;
      logger.fatal({ err: errorText(err) }, 'cannot become ready');
      running.shutdown('fatal readiness failure').finally(() => process.exit(1));
    });
  } else {
    readiness.catch((err: unknown) => {
      if (!shuttingDown) logger.error({ err: errorText(err) }, 'cannot become ready');
    });
  }
  return running;
}

/**
 * Entry-point wrapper for a service's main module: runs `start` (which
 * usually loads the configuration and calls createService) and turns a
 * start-up failure into one clear stderr message and an exit code, 2 for a
 * configuration error, 1 for anything else (a port in use, …). The running
 * service then owns the process (signals, exit) as createService set it up.
 */
export function runMain(start: () => Promise<unknown>): void {
  start().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`start-up failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
