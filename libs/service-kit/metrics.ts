/**
 * Prometheus metrics: one prom-client Registry per service, every name
 * starting with `uae_`, served as Prometheus text on its own HTTP port.
 *
 * - Node process metrics: prom-client's default collectors with the `uae_`
 *   prefix (`uae_process_cpu_seconds_total`, `uae_process_resident_memory_bytes`,
 *   `uae_nodejs_eventloop_lag_seconds`, `uae_nodejs_heap_size_used_bytes`, …).
 * - gRPC: `uae_grpc_server_handled_total{service,method,code}`,
 *   `uae_grpc_server_handling_seconds{service,method,code}` (histogram),
 *   `uae_grpc_server_in_flight{service,method}`.
 * - `uae_service_ready` (1 when every readiness check passed).
 * - tfjs, when a service attaches its backend: `uae_tfjs_backend_info{backend,provider}` = 1,
 *   `uae_tfjs_memory_bytes`, `uae_tfjs_tensors`, `uae_tfjs_data_buffers`, read
 *   from tf.memory() at scrape time. This module never imports tfjs itself.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';
import type { Logger } from './logger.js';

export const METRIC_PREFIX = 'uae_';

/** Seconds; gRPC calls here range from a health check to a long attack. */
export const GRPC_LATENCY_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800,
];

export type GrpcLabels = 'service' | 'method' | 'code';

/** What the tfjs metrics read; libs/tensor provides both (see server.ts). */
export interface TensorSource {
  info(): { name: string; provider: string };
  memory(): { numBytes: number; numTensors: number; numDataBuffers: number };
}

type Named<C> = Omit<C, 'registers'> & { name: string };

export interface ServiceMetrics {
  readonly registry: Registry;
  readonly grpcHandled: Counter<GrpcLabels>;
  readonly grpcHandling: Histogram<GrpcLabels>;
  readonly grpcInFlight: Gauge<'service' | 'method'>;
  readonly ready: Gauge;
  /** Record one finished call (the kit's interceptor does this). */
  observeCall(service: string, method: string, code: string, seconds: number): void;
  /** Start exporting tfjs backend info and tensor memory from `source`. */
  attachTensor(source: TensorSource): void;
  /** A counter on this registry; the name must start with `uae_`. */
  counter<L extends string = string>(config: Named<CounterConfiguration<L>>): Counter<L>;
  /** A gauge on this registry; the name must start with `uae_`. */
  gauge<L extends string = string>(config: Named<GaugeConfiguration<L>>): Gauge<L>;
  /** A histogram on this registry; the name must start with `uae_`. */
  histogram<L extends string = string>(config: Named<HistogramConfiguration<L>>): Histogram<L>;
}

function checkName(name: string): void {
  if (!name.startsWith(METRIC_PREFIX)) {
    throw new Error(`metric "${name}" must start with "${METRIC_PREFIX}"`);
  }
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`metric name "${name}" is not a valid Prometheus name`);
}

export interface ServiceMetricsOptions {
  /** Node process metrics (default true). */
  processMetrics?: boolean;
}

export function createServiceMetrics(opts: ServiceMetricsOptions = {}): ServiceMetrics {
  const registry = new Registry();
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

  const grpcHandled = new Counter<GrpcLabels>({
    name: 'uae_grpc_server_handled_total',
    help: 'gRPC calls completed on the server, by service, method and status code.',
    labelNames: ['service', 'method', 'code'],
    registers: [registry],
  });
  const grpcHandling = new Histogram<GrpcLabels>({
    name: 'uae_grpc_server_handling_seconds',
    help: 'Time from receiving a gRPC call to sending its status, in seconds.',
    labelNames: ['service', 'method', 'code'],
    buckets: GRPC_LATENCY_BUCKETS,
    registers: [registry],
  });
  const grpcInFlight = new Gauge<'service' | 'method'>({
    name: 'uae_grpc_server_in_flight',
    help: 'gRPC calls started and not yet finished.',
    labelNames: ['service', 'method'],
    registers: [registry],
  });
  const ready = new Gauge({
    name: 'uae_service_ready',
    help: '1 when the service passed its readiness checks and reports SERVING, else 0.',
    registers: [registry],
  });
  ready.set(0);

  let tensorAttached = false;

  return {
    registry,
    grpcHandled,
    grpcHandling,
    grpcInFlight,
    ready,
    observeCall(service, method, code, seconds) {
      grpcHandled.inc({ service, method, code });
      grpcHandling.observe({ service, method, code }, seconds);
    },
    attachTensor(source) {
      if (tensorAttached) return;
      tensorAttached = true;
      new Gauge<'backend' | 'provider'>({
        name: 'uae_tfjs_backend_info',
        help: 'The active tfjs backend (value is always 1).',
        labelNames: ['backend', 'provider'],
        registers: [registry],
        collect() {
          const info = source.info();
          this.reset();
          this.set({ backend: info.name, provider: info.provider }, 1);
        },
      });
      const memory = (pick: (m: ReturnType<TensorSource['memory']>) => number) =>
        function collect(this: Gauge) {
          this.set(pick(source.memory()));
        };
      new Gauge({
        name: 'uae_tfjs_memory_bytes',
        help: 'Bytes held by live tfjs tensors in this process (tf.memory().numBytes; main thread only).',
        registers: [registry],
        collect: memory((m) => m.numBytes),
      });
      new Gauge({
        name: 'uae_tfjs_tensors',
        help: 'Live tfjs tensors in this process (tf.memory().numTensors; main thread only).',
        registers: [registry],
        collect: memory((m) => m.numTensors),
      });
      new Gauge({
        name: 'uae_tfjs_data_buffers',
        help: 'Live tfjs data buffers in this process (tf.memory().numDataBuffers; main thread only).',
        registers: [registry],
        collect: memory((m) => m.numDataBuffers),
      });
    },
    counter(config) {
      checkName(config.name);
      return new Counter({ ...config, registers: [registry] });
    },
    gauge(config) {
      checkName(config.name);
      return new Gauge({ ...config, registers: [registry] });
    },
    histogram(config) {
      checkName(config.name);
      return new Histogram({ ...config, registers: [registry] });
    },
  };
}

export interface MetricsServer {
  readonly port: number;
  /** `http://host:port/metrics`, with a wildcard host replaced by loopback. */
  readonly url: string;
  close(): Promise<void>;
}

/** Wildcard bind addresses are not dialable; name loopback instead. */
export function dialableHost(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * GET/HEAD /metrics (Prometheus text, the registry's content type) and
 * /healthz (200 "ok" when `isReady()`, else 503) on node:http; 404 for other
 * paths, 405 for other methods.
 */
export async function startMetricsServer(opts: {
  registry: Registry;
  host: string;
  port: number;
  isReady?: () => boolean;
  logger?: Logger;
}): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/healthz') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const ok = opts.isReady?.() ?? true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(req.method === 'HEAD' ? undefined : ok ? 'ok\n' : 'not ready\n');
      return;
    }
    opts.registry.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': opts.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        opts.logger?.error({ err }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${dialableHost(opts.host)}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
