/**
 * services/mine-estimator as a real process (embedded bus, ephemeral ports):
 * MI of correlated Gaussians, contract errors naming the field, deadlines,
 * auth, health and the service's metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { toProtoTensor, v1 } from '../../libs/proto/index.js';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { estimateMutualInformation } from '../../libs/mine/index.js';
import { clients, reflectionList } from '../service-kit/helpers.js';
import { metricValue, startServiceProcess, unary, unaryError, type ServiceProcess } from '../helpers/services.js';
import { rawUnary, varintField } from '../helpers/raw-grpc.js';

let svc: ServiceProcess;
let client: v1.MineServiceClient;

/** n rows of d-dimensional standard Gaussians x and y = ρx + √(1−ρ²)·noise (per-dimension MI −½ln(1−ρ²)). */
function correlated(n: number, d: number, rho: number, seed = 1) {
  let s = seed;
  const rnd = () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(rnd())) * Math.cos(2 * Math.PI * rnd());
  const x = new Float32Array(n * d);
  const y = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) {
    x[i] = gauss();
    y[i] = rho * x[i]! + Math.sqrt(1 - rho * rho) * gauss();
  }
  return { x: toProtoTensor(x, [n, d], 'x'), y: toProtoTensor(y, [n, d], 'y') };
}

const base = (): v1.EstimateRequest => ({ ...correlated(64, 2, 0.9), steps: 5, seed: 0, evaluations: 1, includeTrace: false, mine: v1.MineConfig.fromPartial({ hidden: 16 }) });

beforeAll(async () => {
  svc = await startServiceProcess('mine-estimator');
  client = svc.client(v1.MineServiceClient);
});

afterAll(async () => {
  await svc?.stop();
});

describe('mine-estimator service', () => {
  it('is SERVING once ready (server and uae.v1.MineService)', async () => {
    expect(await svc.health()).toBe('SERVING');
    expect(await svc.health('uae.v1.MineService')).toBe('SERVING');
  });

  it('describes MineService through reflection', async () => {
    const c = clients(svc.grpc);
    try {
      expect(await reflectionList(c.reflection)).toEqual(expect.arrayContaining(['grpc.health.v1.Health', 'uae.v1.MineService']));
    } finally {
      c.close();
    }
  });

  it('returns exactly what libs/mine computes in-process for the same inputs and seed', async () => {
    await initBackend();
    const req = { ...base(), steps: 20, seed: 7, evaluations: 3 };
    const res = await unary<v1.EstimateResponse>(client, 'estimate', req, svc.metadata());
    const t = (m: v1.Tensor) => tf.tensor(new Float32Array(m.rawData.buffer.slice(m.rawData.byteOffset, m.rawData.byteOffset + m.rawData.byteLength)), m.shape);
    const [x, y] = [t(req.x!), t(req.y!)];
    const local = estimateMutualInformation(x, y, { steps: 20, seed: 7, evaluations: 3, mine: { learningRate: 1e-3, hidden: 16 } });
    tf.dispose([x, y]);
    expect(res.mi).toBe(local.mi);
    expect(res.trace).toEqual([]);
  });

  it('rejects bad tensors and settings with INVALID_ARGUMENT naming the field', async () => {
    const md = svc.metadata();
    const cases: Array<[string, v1.EstimateRequest, string, RegExp?]> = [];
    const rowsDiffer = base();
    rowsDiffer.y = correlated(32, 2, 0.9).y;
    cases.push(['rows differ', rowsDiffer, 'y.shape[0]']);
    const short = base();
    short.x = { ...short.x!, rawData: short.x!.rawData.subarray(0, 47) };
    cases.push(['byte length', short, 'x.raw_data', /47 bytes, expected 512/]);
    const nan = base();
    const raw = Buffer.from(nan.y!.rawData);
    raw.writeFloatLE(Number.NaN, 8);
    nan.y = { ...nan.y!, rawData: raw };
    cases.push(['NaN', nan, 'y.raw_data', /NaN/]);
    const dtype = base();
    dtype.x = { ...dtype.x!, dtype: v1.DataType.DATA_TYPE_INT32 };
    cases.push(['dtype', dtype, 'x.dtype', /expected FLOAT32/]);
    const missing = base();
    delete missing.x;
    cases.push(['missing x', missing, 'x', /required/]);
    const oneRow = base();
    oneRow.x = correlated(1, 2, 0.9).x;
    oneRow.y = correlated(1, 2, 0.9).y;
    cases.push(['one row', oneRow, 'x.shape[0]', /at least 2/]);
    const widths = base();
    widths.y = correlated(64, 3, 0.9).y;
    cases.push(['row sizes differ', widths, 'y.shape']);
    cases.push(['steps', { ...base(), steps: 100_001 }, 'steps']);
    cases.push(['learning rate', { ...base(), mine: v1.MineConfig.fromPartial({ learningRate: -1 }) }, 'mine.learning_rate']);
    for (const [name, req, field, message] of cases) {
      const err = await unaryError(client, 'estimate', req, md);
      expect(err.code, name).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.field, name).toBe(field);
      expect(err.details.startsWith(`${field}: `), `${name}: ${err.details}`).toBe(true);
      if (message) expect(err.details, name).toMatch(message);
    }
  });

  it('refuses calls without the bearer token', async () => {
    const err = await unaryError(client, 'estimate', base());
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toMatch(/authorization/);
  });

  it('stops at the deadline and keeps serving', async () => {
    const started = Date.now();
    const err = await unaryError(client, 'estimate', { ...base(), steps: 100_000 }, svc.metadata(), { deadline: Date.now() + 800 });
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await svc.health()).toBe('SERVING');
  });

  it('estimates MI > 0.3 nats for correlated Gaussians (ρ = 0.9, 2 dims), with a trace on request', async () => {
    const res = await unary<v1.EstimateResponse>(
      client,
      'estimate',
      { ...correlated(256, 2, 0.9), steps: 200, seed: 1, evaluations: 10, includeTrace: true, mine: v1.MineConfig.fromPartial({ hidden: 64 }) },
      svc.metadata(),
    );
    expect(res.mi).toBeGreaterThan(0.3);
    expect(res.mi).toBeLessThan(2.5); // the true MI is 2 × −½ln(0.19) ≈ 1.66
    expect(res.trace).toHaveLength(200);
    expect(res.seconds).toBeGreaterThan(0);
    expect(['wasm', 'cpu', 'tensorflow']).toContain(res.backend);
  });

  it('answers seed = 2^64 − 1 (the outside client\'s bytes) with INVALID_ARGUMENT naming seed, logged and counted as such', async () => {
    const valid = Buffer.from(v1.EstimateRequest.encode(base()).finish());
    const r = await rawUnary(svc.grpc, '/uae.v1.MineService/Estimate', Buffer.concat([valid, varintField(4, 2n ** 64n - 1n)]), svc.metadata());
    expect([r.code, r.field]).toEqual([grpc.status.INVALID_ARGUMENT, 'seed']);
    expect(r.details).toContain('18446744073709551615');
    const text = await svc.scrape();
    expect(metricValue(text, 'uae_grpc_server_handled_total', { method: 'Estimate', code: 'CANCELLED' })).toBeUndefined();
    expect(svc.logs().some((l) => l.msg === 'grpc call' && l.code === 'INVALID_ARGUMENT' && /^seed:/.test(String(l.details)))).toBe(true);
  });

  it('refuses x [2, 200000] with mine.hidden = 65536 before allocating (RESOURCE_EXHAUSTED naming mine.hidden), and keeps serving', async () => {
    const wide = { ...correlated(2, 200_000, 0.5), steps: 1, seed: 0, evaluations: 1, includeTrace: false, mine: v1.MineConfig.fromPartial({ hidden: 65_536 }) };
    const err = await unaryError(client, 'estimate', wide, svc.metadata());
    expect([err.code, err.field]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 'mine.hidden']);
    expect(err.details).toMatch(/200000 features per row × 65536 hidden.*UAE_MAX_PARAMETERS/);
    const ok = await unary<v1.EstimateResponse>(client, 'estimate', base(), svc.metadata());
    expect(Number.isFinite(ok.mi)).toBe(true);
  });

  it('exports its metrics, which moved with the calls above', async () => {
    const text = await svc.scrape();
    expect(metricValue(text, 'uae_mine_estimates_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'uae_mine_estimates_total', { outcome: 'invalid' })).toBeGreaterThanOrEqual(9);
    expect(metricValue(text, 'uae_mine_estimates_total', { outcome: 'cancelled' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'uae_mine_estimate_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'uae_mine_mi_nats_count')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'uae_mine_mi_nats_sum')).toBeGreaterThan(0.3);
    expect(metricValue(text, 'uae_grpc_server_handled_total', { method: 'Estimate', code: 'INVALID_ARGUMENT' })).toBeGreaterThanOrEqual(9);
    expect(metricValue(text, 'uae_service_ready')).toBe(1);
  });
});
