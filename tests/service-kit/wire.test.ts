/**
 * The kit against bytes an outside client sends (issue 10, defects 1, 2, 6):
 * 64-bit values beyond 2^53 − 1, bytes that are not the request at all, and
 * a request carrying two `authorization` headers. Real servers on loopback,
 * a byte-level grpc-js client and a header-appending TCP proxy.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { v1 } from '../../libs/proto/index.js';
import { Status } from '../../libs/service-kit/index.js';
import { bytesField, headerAppendingProxy, rawUnary, varintField } from '../helpers/raw-grpc.js';
import { REPO_ROOT } from '../helpers/services.js';
import { TEST_SERVICE, TOKEN, bearer, clients, scrape, startTestService, unary, waitFor, type TestService } from './helpers.js';
import { parsePrometheusText, sampleValue } from './prom-text.js';

const ESTIMATE = '/uae.v1.MineService/Estimate';
const ECHO = `/${TEST_SERVICE}/Echo`;

describe('service-kit: requests that do not decode', () => {
  let svc: TestService;
  const estimates: v1.EstimateRequest[] = [];

  beforeAll(async () => {
    svc = await startTestService(
      {},
      {
        protos: { files: ['uae/v1/mine_service.proto'], includeDirs: [join(REPO_ROOT, 'proto')] },
        register(server) {
          server.add(v1.MineServiceService, {
            estimate: (req) => {
              estimates.push(req);
              return { mi: 0, trace: [], seconds: 0, backend: 'none' };
            },
          });
        },
      },
    );
    await svc.running.whenReady();
  });
  afterAll(async () => {
    await svc?.running.shutdown('test done');
  });

  it('answers a uint64 above 2^53 − 1 with INVALID_ARGUMENT naming the field (not INTERNAL), without running the handler', async () => {
    // EstimateRequest{steps: 5, seed: 2^64 − 1} as grpcio sends it.
    const body = Buffer.concat([varintField(3, 5n), varintField(4, 2n ** 64n - 1n)]);
    const r = await rawUnary(svc.running.addresses.grpc, ESTIMATE, body, bearer());
    expect(r.code).toBe(Status.INVALID_ARGUMENT);
    expect(r.field).toBe('seed');
    expect(r.details).toMatch(/^seed: must be at most 2\^53 − 1 .*got 18446744073709551615/);
    // nested: mine.seed? (no such field) → x.shape[1] is int64 in Tensor
    const nested = Buffer.concat([bytesField(1, Buffer.concat([varintField(2, 3n), varintField(2, 2n ** 60n)]))]);
    const n = await rawUnary(svc.running.addresses.grpc, ESTIMATE, nested, bearer());
    expect(n.code).toBe(Status.INVALID_ARGUMENT);
    expect(n.field).toBe('x.shape[1]');
    // 2^53 − 1 itself decodes
    const fits = await rawUnary(svc.running.addresses.grpc, ESTIMATE, varintField(4, 2n ** 53n - 1n), bearer());
    expect(fits.code).toBe(Status.OK);
    expect(estimates.map((e) => e.seed)).toEqual([2 ** 53 - 1]);
  });

  it('answers bytes that are not the message with INVALID_ARGUMENT, a log line and code="INVALID_ARGUMENT" in handled_total', async () => {
    const truncated = Buffer.from([0x0a, 0x20, 0x01]); // x: 32 bytes announced, 1 sent
    const r = await rawUnary(svc.running.addresses.grpc, ESTIMATE, truncated, bearer());
    expect(r.code).toBe(Status.INVALID_ARGUMENT);
    expect(r.details).toMatch(/not a valid uae\.v1\.EstimateRequest/);
    const line = await waitFor(() => svc.logs.lines.find((l) => l.msg === 'grpc call' && l.grpcMethod === 'Estimate' && /not a valid/.test(String(l.details))));
    expect(line).toMatchObject({ code: 'INVALID_ARGUMENT', level: 40 });
    const families = parsePrometheusText((await scrape(svc.running.addresses.metrics)).body);
    const handled = (code: string) => sampleValue(families, 'uae_grpc_server_handled_total', { service: 'uae.v1.MineService', method: 'Estimate', code });
    expect(handled('INVALID_ARGUMENT')).toBe(3);
    expect(handled('CANCELLED')).toBeUndefined();
    expect(estimates).toHaveLength(1);
    // an unauthenticated undecodable call is still UNAUTHENTICATED (auth first)
    const anon = await rawUnary(svc.running.addresses.grpc, ESTIMATE, truncated);
    expect(anon.code).toBe(Status.UNAUTHENTICATED);
  });

  it('answers undecodable bytes for a proto-loader method (protobufjs decoder) with INVALID_ARGUMENT too', async () => {
    const other = await startTestService();
    try {
      await other.running.whenReady();
      // field 2 (inner) announced as 16 bytes, 2 sent
      const e = await rawUnary(other.running.addresses.grpc, ECHO, Buffer.from([0x12, 0x10, 0x08, 0x01]), bearer());
      expect(e.code).toBe(Status.INVALID_ARGUMENT);
      expect(e.details).toMatch(/not a valid/);
      expect(other.events.started).toEqual([]);
    } finally {
      await other.running.shutdown('test done');
    }
  });

  it('counts a message over the size limit (sent by grpc-js itself) as RESOURCE_EXHAUSTED, not CANCELLED', async () => {
    const small = await startTestService({}, { serverOptions: { 'grpc.max_receive_message_length': 64 } });
    try {
      await small.running.whenReady();
      const r = await rawUnary(small.running.addresses.grpc, ECHO, Buffer.concat([bytesField(1, Buffer.alloc(100, 0x61))]), bearer());
      expect(r.code).toBe(Status.RESOURCE_EXHAUSTED);
      const families = parsePrometheusText((await scrape(small.running.addresses.metrics)).body);
      expect(sampleValue(families, 'uae_grpc_server_handled_total', { service: TEST_SERVICE, method: 'Echo', code: 'RESOURCE_EXHAUSTED' })).toBe(1);
      expect(sampleValue(families, 'uae_grpc_server_handled_total', { service: TEST_SERVICE, method: 'Echo', code: 'CANCELLED' })).toBeUndefined();
    } finally {
      await small.running.shutdown('test done');
    }
  });
});

describe('service-kit: duplicated authorization headers', () => {
  let svc: TestService;

  beforeAll(async () => {
    svc = await startTestService();
    await svc.running.whenReady();
  });
  afterAll(async () => {
    await svc?.running.shutdown('test done');
  });

  const ok = { text: 'hi', inner: { size: 1 }, mode: '' };

  it('refuses [valid, wrong] and [valid, valid] with UNAUTHENTICATED and never runs the handler', async () => {
    for (const second of [`Bearer wrong-token-0123456789`, `Bearer ${TOKEN}`]) {
      const proxy = await headerAppendingProxy(svc.running.addresses.grpc, [['authorization', second]]);
      const c = clients(proxy.address);
      try {
        const before = svc.events.started.length;
        const r = await unary(c.test, 'Echo', ok, bearer());
        expect(r.error?.code).toBe(grpc.status.UNAUTHENTICATED);
        expect(r.error?.details).toBe('"authorization" metadata given more than once');
        expect(svc.events.started.length).toBe(before);
      } finally {
        c.close();
        await proxy.close();
      }
    }
  });

  it('still answers a single valid header through the same proxy (the proxy itself is transparent)', async () => {
    const proxy = await headerAppendingProxy(svc.running.addresses.grpc, [['x-trace', 'abc']]);
    const c = clients(proxy.address);
    try {
      const r = await unary<{ text: string }>(c.test, 'Echo', ok, bearer());
      expect(r.error).toBeUndefined();
      expect(r.response?.text).toBe('hi');
    } finally {
      c.close();
      await proxy.close();
    }
  });
});
