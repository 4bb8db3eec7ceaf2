import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_REF_TRAILER, FIELD_TRAILER } from '../../libs/service-kit/index.js';
import {
  TEST_SERVICE,
  bearer,
  clients,
  healthStatus,
  reflectionFileContaining,
  reflectionList,
  scrape,
  startTestService,
  unary,
  waitFor,
  type TestService,
} from './helpers.js';
import { parsePrometheusText, sampleValue } from './prom-text.js';

const ok = { text: 'hi', inner: { size: 1 }, mode: '' };

describe('service-kit server (token auth)', () => {
  let svc: TestService;
  let c: ReturnType<typeof clients>;

  beforeAll(async () => {
    svc = await startTestService();
    await svc.running.whenReady();
    c = clients(svc.running.addresses.grpc);
  });
  afterAll(async () => {
    c?.close();
    await svc?.running.shutdown('test done');
  });

  it('binds ephemeral ports and reports dialable addresses', () => {
    expect(svc.running.ports.grpc).toBeGreaterThan(0);
    expect(svc.running.ports.metrics).toBeGreaterThan(0);
    expect(svc.running.addresses.grpc).toBe(`127.0.0.1:${svc.running.ports.grpc}`);
    expect(svc.running.addresses.metrics).toBe(`http://127.0.0.1:${svc.running.ports.metrics}/metrics`);
    expect(svc.running.services).toEqual([TEST_SERVICE]);
  });

  it('rejects a call without a token with UNAUTHENTICATED naming the header, without running the handler', async () => {
    const before = svc.events.started.length;
    const r = await unary(c.test, 'Echo', ok);
    expect(r.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(r.error?.details).toMatch(/authorization/);
    expect(r.error?.details).toMatch(/Bearer/);
    expect(svc.events.started.length).toBe(before);
  });

  it('rejects a wrong token and a non-Bearer scheme with UNAUTHENTICATED', async () => {
    const wrong = await unary(c.test, 'Echo', ok, bearer('not-the-token-0123456789'));
    expect(wrong.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(wrong.error?.details).toMatch(/"authorization" bearer token is not valid/);
    const basic = new grpc.Metadata();
    basic.set('authorization', 'Basic dXNlcjpwYXNz');
    const scheme = await unary(c.test, 'Echo', ok, basic);
    expect(scheme.error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(scheme.error?.details).toMatch(/"authorization" metadata must be "Bearer <token>"/);
  });

  it('rejects streaming calls without a token too', async () => {
    const call = c.test.Count({ n: 2, intervalMs: 0 }) as grpc.ClientReadableStream<unknown>;
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('data', () => {});
      call.on('error', resolve);
    });
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('answers a call with the right token', async () => {
    const r = await unary<{ text: string }>(c.test, 'Echo', ok, bearer());
    expect(r.error).toBeUndefined();
    expect(r.response).toEqual({ text: 'hi' });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(svc.events.aborted).toEqual([]); // a finished call does not fire its signal
  });

  it('answers health (SERVING) and reflection without a token', async () => {
    expect(await healthStatus(c.health, '')).toBe('SERVING');
    expect(await healthStatus(c.health, TEST_SERVICE)).toBe('SERVING');
    const unknown = await unary(c.health, 'Check', { service: 'no.such.Service' });
    expect(unknown.error?.code).toBe(grpc.status.NOT_FOUND);
    const listed = await reflectionList(c.reflection);
    expect(listed).toEqual(expect.arrayContaining(['grpc.health.v1.Health', TEST_SERVICE]));
    const files = await reflectionFileContaining(c.reflection, 'uae.test.v1.EchoRequest');
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString('latin1')).toContain('uae.test.v1');
  });

  it('maps a ZodError to INVALID_ARGUMENT naming the field path, and keeps serving', async () => {
    const bad = await unary(c.test, 'Echo', { text: 'hi', inner: { size: 0 }, mode: '' }, bearer());
    expect(bad.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.error?.details).toMatch(/^inner\.size: /);
    expect(bad.error?.metadata.get(FIELD_TRAILER)).toEqual(['inner.size']);
    const two = await unary(c.test, 'Echo', { text: '', inner: null, mode: '' }, bearer());
    expect(two.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(two.error?.details).toMatch(/text: must not be empty/);
    expect(two.error?.details).toMatch(/inner: /);
    const after = await unary(c.test, 'Echo', ok, bearer());
    expect(after.response).toEqual({ text: 'hi' });
  });

  it('maps not-found to NOT_FOUND and unknown errors to INTERNAL without leaking them', async () => {
    const nf = await unary(c.test, 'Echo', { ...ok, mode: 'not-found' }, bearer());
    expect(nf.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(nf.error?.details).toBe('model: no model named "x"');
    const internal = await unary(c.test, 'Echo', { ...ok, mode: 'internal' }, bearer());
    expect(internal.error?.code).toBe(grpc.status.INTERNAL);
    expect(internal.error?.details).toMatch(/^internal error \(ref [0-9a-f]{12}\)$/);
    expect(internal.error?.details).not.toMatch(/hunter2/);
    const ref = internal.error?.metadata.get(ERROR_REF_TRAILER)[0];
    const logged = svc.logs.lines.find((l) => l.ref === ref);
    expect(logged?.level).toBe(50);
    expect(JSON.stringify(logged)).toMatch(/hunter2/);
    expect((await unary(c.test, 'Echo', ok, bearer())).response).toEqual({ text: 'hi' });
  });

  it('fires the handler signal at the client deadline and answers DEADLINE_EXCEEDED', async () => {
    const r = await unary(c.test, 'Echo', { ...ok, mode: 'wait' }, bearer(), { deadline: Date.now() + 300 });
    expect(r.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const ev = await waitFor(() => svc.events.aborted.find((e) => e.method === 'Echo'));
    expect(ev.reason).toBe('TimeoutError');
    expect((await unary(c.test, 'Echo', ok, bearer())).response).toEqual({ text: 'hi' });
  });

  it('streams from the server and fires the signal when the client cancels', async () => {
    const all = c.test.Count({ n: 3, intervalMs: 0 }, bearer()) as grpc.ClientReadableStream<{ i: number }>;
    const got: number[] = [];
    await new Promise<void>((resolve, reject) => {
      all.on('data', (m) => got.push(m.i));
      all.on('error', reject);
      all.on('end', resolve);
    });
    expect(got).toEqual([0, 1, 2]);

    const call = c.test.Count({ n: 1000, intervalMs: 20 }, bearer()) as grpc.ClientReadableStream<{ i: number }>;
    call.on('error', () => {}); // CANCELLED, expected
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.cancel();
    const ev = await waitFor(() => svc.events.aborted.find((e) => e.method === 'Count'));
    expect(ev.reason).toBe('AbortError');
  });

  it('sums a client stream', async () => {
    const r = await new Promise<{ total: number; count: number }>((resolve, reject) => {
      const call = c.test.Sum(bearer(), (err: grpc.ServiceError | null, res: { total: number; count: number }) =>
        err ? reject(err) : resolve(res),
      ) as grpc.ClientWritableStream<{ value: number }>;
      for (const value of [1, 2, 39]) call.write({ value });
      call.end();
    });
    expect(r).toEqual({ total: 42, count: 3 });
  });

  it('runs a bidirectional stream and ends it with a mapped status after the messages sent', async () => {
    const call = c.test.Running(bearer()) as grpc.ClientDuplexStream<{ value: number }, { total: number; count: number }>;
    const got: number[] = [];
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('data', (m) => {
        got.push(m.total);
        if (m.count === 2) call.write({ value: -1 });
      });
      call.on('error', resolve);
      call.write({ value: 1 });
      call.write({ value: 2 });
    });
    expect(got).toEqual([1, 3]);
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe('value: must be >= 0; got -1');
  });

  it('logs one line per call with service, method, code and ms', async () => {
    await unary(c.test, 'Echo', ok, bearer());
    const line = await waitFor(() =>
      [...svc.logs.lines].reverse().find((l) => l.msg === 'grpc call' && l.grpcMethod === 'Echo' && l.code === 'OK'),
    );
    expect(line).toMatchObject({ service: 'kit-test', grpcService: TEST_SERVICE, grpcMethod: 'Echo', code: 'OK' });
    expect(typeof line.ms).toBe('number');
    expect(svc.logs.lines.some((l) => l.msg === 'grpc call' && l.code === 'UNAUTHENTICATED')).toBe(true);
    expect(JSON.stringify(svc.logs.lines)).not.toContain('test-token-0123456789abcdef');
  });

  it('serves /metrics as valid Prometheus text with handled_total by code', async () => {
    const m = await scrape(svc.running.addresses.metrics);
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusText(m.body);
    for (const name of families.keys()) expect(name).toMatch(/^uae_/);
    const handled = (code: string, method = 'Echo') =>
      sampleValue(families, 'uae_grpc_server_handled_total', { service: TEST_SERVICE, method, code });
    expect(handled('OK')).toBeGreaterThanOrEqual(4);
    expect(handled('UNAUTHENTICATED')).toBeGreaterThanOrEqual(3);
    expect(handled('INVALID_ARGUMENT')).toBe(2);
    expect(handled('INTERNAL')).toBe(1);
    expect(handled('NOT_FOUND')).toBe(1);
    expect(handled('DEADLINE_EXCEEDED')).toBe(1);
    expect(handled('CANCELLED', 'Count')).toBe(1);
    expect(handled('OK', 'Sum')).toBe(1);
    expect(sampleValue(families, 'uae_grpc_server_handled_total', { service: 'grpc.health.v1.Health', code: 'OK' })).toBeGreaterThan(0);
    expect(families.get('uae_grpc_server_handling_seconds')?.type).toBe('histogram');
    expect(
      sampleValue(families, 'uae_grpc_server_handling_seconds_count', { service: TEST_SERVICE, method: 'Echo', code: 'OK' }),
    ).toBe(handled('OK'));
    expect(sampleValue(families, 'uae_grpc_server_in_flight', { service: TEST_SERVICE, method: 'Echo' })).toBe(0);
    expect(sampleValue(families, 'uae_service_ready')).toBe(1);
    // Node process metrics
    expect(families.get('uae_process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(families.has('uae_process_resident_memory_bytes')).toBe(true);
    expect(families.has('uae_nodejs_eventloop_lag_seconds')).toBe(true);
    expect(families.has('uae_nodejs_heap_size_used_bytes')).toBe(true);
    // no tfjs metrics unless the service asks for the backend
    expect(families.has('uae_tfjs_tensors')).toBe(false);
  });

  it('serves /healthz and 404s elsewhere on the metrics port', async () => {
    const base = svc.running.addresses.metrics.replace(/\/metrics$/, '');
    expect((await scrape(`${base}/healthz`)).status).toBe(200);
    expect((await scrape(`${base}/nope`)).status).toBe(404);
  });
});

describe('service-kit server (auth disabled)', () => {
  it('answers without a token when UAE_AUTH_DISABLED=true', async () => {
    const svc = await startTestService({ UAE_AUTH_TOKEN: '', UAE_AUTH_DISABLED: 'true' });
    const c = clients(svc.running.addresses.grpc);
    try {
      await svc.running.whenReady();
      expect((await unary(c.test, 'Echo', ok)).response).toEqual({ text: 'hi' });
      expect(svc.logs.lines.some((l) => /authentication is disabled/.test(String(l.msg)))).toBe(true);
    } finally {
      c.close();
      await svc.running.shutdown();
    }
  });
});

describe('service-kit readiness and shutdown', () => {
  it('is NOT_SERVING (and refuses calls) until ready, then SERVING; NOT_SERVING again on shutdown', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let attempts = 0;
    const svc = await startTestService(
      { UAE_SHUTDOWN_TIMEOUT_MS: '300' },
      {
        readinessBackoff: { initialMs: 10, maxMs: 20 },
        ready: [
          {
            name: 'flaky',
            check: () => {
              if (++attempts < 3) throw new Error(`not yet (${attempts})`);
            },
          },
          { name: 'gate', check: () => gate },
        ],
      },
    );
    const c = clients(svc.running.addresses.grpc);
    try {
      expect(await healthStatus(c.health, '')).toBe('NOT_SERVING');
      expect(await healthStatus(c.health, TEST_SERVICE)).toBe('NOT_SERVING');
      const early = await unary(c.test, 'Echo', ok, bearer());
      expect(early.error?.code).toBe(grpc.status.UNAVAILABLE);
      expect(early.error?.details).toMatch(/not ready/);
      await waitFor(() => attempts >= 3);
      expect(svc.running.isReady).toBe(false);
      const health503 = await scrape(svc.running.addresses.metrics.replace(/\/metrics$/, '/healthz'));
      expect(health503.status).toBe(503);

      // Watch '' to see the shutdown flip.
      const watch = c.health.Watch({ service: '' }) as grpc.ClientReadableStream<{ status: string }>;
      const seen: string[] = [];
      watch.on('data', (m) => seen.push(m.status));
      watch.on('error', () => {});
      await waitFor(() => seen.length > 0);

      release();
      await svc.running.whenReady();
      expect(await healthStatus(c.health, '')).toBe('SERVING');
      expect(await healthStatus(c.health, TEST_SERVICE)).toBe('SERVING');
      expect((await unary(c.test, 'Echo', ok, bearer())).response).toEqual({ text: 'hi' });

      await svc.running.shutdown('test');
      await waitFor(() => seen.at(-1) === 'NOT_SERVING');
      expect(seen).toEqual(['NOT_SERVING', 'SERVING', 'NOT_SERVING']);
      expect(svc.logs.lines.some((l) => l.msg === 'stopped')).toBe(true);
      const after = await unary(c.test, 'Echo', ok, bearer(), { deadline: Date.now() + 1000 });
      expect(after.error?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      c.close();
      await svc.running.shutdown();
    }
  });

  it('cancels calls still running after the shutdown timeout (their signals fire) and stops', async () => {
    const svc = await startTestService({ UAE_SHUTDOWN_TIMEOUT_MS: '200' });
    const c = clients(svc.running.addresses.grpc);
    try {
      await svc.running.whenReady();
      const pending = unary(c.test, 'Echo', { ...ok, mode: 'wait' }, bearer());
      await waitFor(() => svc.events.started.includes('Echo'));
      const t0 = Date.now();
      await svc.running.shutdown('test');
      expect(Date.now() - t0).toBeLessThan(2000);
      const r = await pending;
      expect(r.error).toBeDefined();
      expect(await waitFor(() => svc.events.aborted.find((e) => e.method === 'Echo'))).toEqual({
        method: 'Echo',
        reason: 'AbortError',
      });
      expect(svc.logs.lines.some((l) => /shutdown timeout/.test(String(l.msg)))).toBe(true);
    } finally {
      c.close();
      await svc.running.shutdown();
    }
  });

  it('rejects whenReady when a fatal check fails, and stays NOT_SERVING', async () => {
    const svc = await startTestService(
      {},
      { ready: [{ name: 'broken', fatal: true, check: () => Promise.reject(new Error('no GPU')) }] },
    );
    const c = clients(svc.running.addresses.grpc);
    try {
      await expect(svc.running.whenReady()).rejects.toThrow(/readiness check "broken" failed: no GPU/);
      expect(await healthStatus(c.health, '')).toBe('NOT_SERVING');
    } finally {
      c.close();
      await svc.running.shutdown();
    }
  });

  it('fails to start with a clear message when the port is taken', async () => {
    const first = await startTestService();
    grpc.setLogVerbosity(grpc.logVerbosity.NONE); // grpc-js logs the failed bind itself
    try {
      await expect(startTestService({ UAE_GRPC_PORT: String(first.running.ports.grpc) })).rejects.toThrow(
        /cannot listen for gRPC on 127\.0\.0\.1:\d+ \(UAE_GRPC_HOST\/UAE_GRPC_PORT\)/,
      );
    } finally {
      grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
      await first.running.shutdown();
    }
  });
});
