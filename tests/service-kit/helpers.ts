/**
 * A test service on loopback over tests/service-kit/fixtures/test.proto, and
 * promise-shaped clients for it, health and reflection.
 */
import { Writable } from 'node:stream';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthServiceDefinition } from 'grpc-health-check';
import pino from 'pino';
import { z } from 'zod';
import {
  createService,
  loadProtos,
  loadServiceConfig,
  invalidArgument,
  notFound,
  type CallContext,
  type CreateServiceOptions,
  type RunningService,
  type StreamingCallContext,
} from '../../libs/service-kit/index.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const TOKEN = 'test-token-0123456789abcdef';
export const TEST_SERVICE = 'uae.test.v1.Test';
export const protos = loadProtos({ files: ['test.proto'], includeDirs: [FIXTURES] });

/** What the handlers saw: aborted signals and started calls. */
export interface Events {
  aborted: Array<{ method: string; reason: string }>;
  started: string[];
}

const echoRequest = z.object({
  text: z.string().min(1, 'must not be empty'),
  inner: z.object({ size: z.number().int().positive() }),
  mode: z.string(),
});

interface EchoRequest {
  text: string;
  inner: { size: number } | null;
  mode: string;
}

function waitForAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export function testHandlers(events: Events) {
  const noteAbort = (method: string, signal: AbortSignal) =>
    signal.addEventListener('abort', () => events.aborted.push({ method, reason: (signal.reason as Error).name }), {
      once: true,
    });
  return {
    Echo: async (raw: EchoRequest, ctx: CallContext) => {
      events.started.push('Echo');
      noteAbort('Echo', ctx.signal);
      const req = echoRequest.parse(raw);
      if (req.mode === 'wait') await waitForAbort(ctx.signal);
      if (req.mode === 'internal') throw new Error('secret: the database password is hunter2');
      if (req.mode === 'not-found') throw notFound('no model named "x"', 'model');
      return { text: req.text };
    },
    Count: async function* (req: { n: number; intervalMs: number }, ctx: StreamingCallContext<{ i: number }>) {
      events.started.push('Count');
      noteAbort('Count', ctx.signal);
      for (let i = 0; i < req.n; i++) {
        if (i > 0 && req.intervalMs > 0) await sleep(req.intervalMs, undefined, { signal: ctx.signal });
        yield { i };
      }
    },
    Sum: async (requests: AsyncIterable<{ value: number }>, ctx: CallContext) => {
      events.started.push('Sum');
      noteAbort('Sum', ctx.signal);
      let total = 0;
      let count = 0;
      for await (const r of requests) {
        total += r.value;
        count++;
      }
      return { total, count };
    },
    Running: async (requests: AsyncIterable<{ value: number }>, ctx: StreamingCallContext<{ total: number; count: number }>) => {
      events.started.push('Running');
      noteAbort('Running', ctx.signal);
      let total = 0;
      let count = 0;
      for await (const r of requests) {
        if (r.value < 0) throw invalidArgument('value', `must be >= 0; got ${r.value}`);
        total += r.value;
        await ctx.write({ total, count: ++count });
      }
    },
  };
}

/** Collects pino's JSON lines. */
export class LogCapture extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) this.lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  }
}

export interface TestService {
  running: RunningService;
  events: Events;
  logs: LogCapture;
}

export async function startTestService(
  env: Record<string, string> = {},
  options: Partial<Omit<CreateServiceOptions, 'config'>> = {},
): Promise<TestService> {
  const config = loadServiceConfig(
    { UAE_GRPC_HOST: '127.0.0.1', UAE_METRICS_HOST: '127.0.0.1', UAE_AUTH_TOKEN: TOKEN, UAE_LOG_LEVEL: 'debug', ...env },
    { name: 'kit-test', grpcPort: 0, metricsPort: 0 },
  );
  const events: Events = { aborted: [], started: [] };
  const logs = new LogCapture();
  const running = await createService({
    config,
    protos,
    manageProcess: false,
    logger: pino({ level: config.logLevel, base: { service: config.serviceName } }, logs),
    register: (server) => server.add(protos.service(TEST_SERVICE), testHandlers(events)),
    ...options,
  });
  return { running, events, logs };
}

// ---------------------------------------------------------------------------
// Clients

const TestClient = grpc.makeGenericClientConstructor(protos.service(TEST_SERVICE), 'Test');
const HealthClient = grpc.makeGenericClientConstructor(
  healthServiceDefinition as unknown as grpc.ServiceDefinition,
  'Health',
);

function reflectionClientConstructor() {
  const require = createRequire(import.meta.url);
  const root = join(dirname(require.resolve('@grpc/reflection')), '../proto');
  const pkg = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [root],
  });
  const def = pkg['grpc.reflection.v1.ServerReflection'] as unknown as grpc.ServiceDefinition;
  return grpc.makeGenericClientConstructor(def, 'ServerReflection');
}
const ReflectionClient = reflectionClientConstructor();

export type AnyClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function clients(address: string) {
  const creds = grpc.credentials.createInsecure();
  const test = new TestClient(address, creds) as unknown as AnyClient;
  const health = new HealthClient(address, creds) as unknown as AnyClient;
  const reflection = new ReflectionClient(address, creds) as unknown as AnyClient;
  return {
    test,
    health,
    reflection,
    close() {
      test.close();
      health.close();
      reflection.close();
    },
  };
}

export function bearer(token: string = TOKEN): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

export interface UnaryResult<T> {
  response?: T;
  error?: grpc.ServiceError;
}

export function unary<T>(
  client: AnyClient,
  method: string,
  request: unknown,
  metadata: grpc.Metadata = new grpc.Metadata(),
  options: grpc.CallOptions = {},
): Promise<UnaryResult<T>> {
  return new Promise((resolve) => {
    client[method](request, metadata, options, (error: grpc.ServiceError | null, response: T) =>
      resolve(error ? { error } : { response }),
    );
  });
}

export async function healthStatus(client: AnyClient, service = ''): Promise<string> {
  const r = await unary<{ status: string }>(client, 'Check', { service });
  if (r.error) throw r.error;
  return r.response!.status;
}

/** Services listed by grpc.reflection.v1 ServerReflectionInfo. */
export function reflectionList(client: AnyClient): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo() as grpc.ClientDuplexStream<unknown, Record<string, any>>;
    call.on('data', (msg) => {
      resolve((msg.list_services_response.service as Array<{ name: string }>).map((s) => s.name).sort());
      call.end();
    });
    call.on('error', reject);
    call.write({ list_services: '' });
  });
}

/** The file descriptor reflection returns for a symbol (raw bytes, one per file). */
export function reflectionFileContaining(client: AnyClient, symbol: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo() as grpc.ClientDuplexStream<unknown, Record<string, any>>;
    call.on('data', (msg) => {
      if (msg.error_response) reject(new Error(msg.error_response.error_message));
      else resolve(msg.file_descriptor_response.file_descriptor_proto as Buffer[]);
      call.end();
    });
    call.on('error', reject);
    call.write({ file_containing_symbol: symbol });
  });
}

export async function waitFor<T>(probe: () => T | undefined | false, timeoutMs = 3000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error('timed out waiting');
    await sleep(10);
  }
}

export async function scrape(url: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}
