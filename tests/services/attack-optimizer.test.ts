/**
 * services/attack-optimizer, AttackService.Generate: a real service process on
 * a real nats-server, the model uploaded to the artifact store through the bus
 * API (services/common/models.ts layout), results compared with an
 * in-process runAttack on the same model, config and sample ids.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { connectBus, type NatsBus } from '../../libs/bus/index.js';
import { initBackend } from '../../libs/tensor/index.js';
import { loadDataset } from '../../libs/data/index.js';
import { createAutoencoder, type Autoencoder } from '../../libs/models/index.js';
import { runAttack } from '../../libs/attack/index.js';
import { fromProtoTensor, toProtoTensor, v1 } from '../../libs/proto/index.js';
import { putModelArtifacts } from '../../services/common/models.js';
import { parseAttackConfig } from '../../services/attack-optimizer/handlers.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { metricValue, startServiceProcess, stopAllServices, waitUntil, type ServiceProcess } from '../helpers/services.js';
import { collectGenerate, expectGenerateError, tinyAttackConfig } from './attack-helpers.js';

const D = 77; // mice-protein features

describe.skipIf(!natsServerAvailable())('attack-optimizer: Generate', () => {
  let nats: NatsServerHandle;
  let bus: NatsBus;
  let svc: ServiceProcess;
  let client: v1.AttackServiceClient;
  let ae: Autoencoder;
  let artifacts: v1.ModelArtifacts;
  let samples: Float32Array;

  beforeAll(async () => {
    nats = await startNatsServer();
    const starting = startServiceProcess('attack-optimizer', {
      natsUrl: nats.url,
      // two attack threads: a batch of 3 runs on worker threads (runAttackParallel), one sample in this thread
      env: { UAE_BACKEND: 'wasm', UAE_ATTACK_THREADS: '2', UAE_ATTACK_WORKER: 'off' },
    });
    await initBackend('wasm');
    bus = await connectBus({ servers: nats.url });
    const ds = await loadDataset('mice-protein', { trainSamples: 8, testSamples: 4, seed: 3 });
    samples = ds.train.x.slice(0, 4 * D);
    ae = createAutoencoder('dense-ae', [D], { hidden: 16, seed: 5 });
    artifacts = await putModelArtifacts(bus.artifacts, ae);
    svc = await starting;
    client = svc.client(v1.AttackServiceClient);
  });

  afterAll(async () => {
    await stopAllServices();
    ae?.dispose();
    await bus?.close();
    await nats?.dispose();
  });

  const request = (over: Partial<v1.GenerateRequest> = {}): v1.GenerateRequest =>
    v1.GenerateRequest.fromPartial({
      model: { source: { $case: 'artifacts', value: artifacts } },
      x: toProtoTensor(samples.slice(0, 3 * D), [3, D], 'x'),
      config: tinyAttackConfig(),
      sampleIds: [10, 11, 12],
      ...over,
    });

  it('streams one result per sample, equal to an in-process runAttack, then a summary', async () => {
    const got = await collectGenerate(client, request(), svc.metadata());
    expect(got.results).toHaveLength(3);
    expect(got.messages.at(-1)?.kind?.$case).toBe('summary');
    expect(got.summary).toMatchObject({ samples: 3, backend: 'wasm' });
    expect(got.results.map((r) => r.index).sort()).toEqual([0, 1, 2]);

    const config = parseAttackConfig(tinyAttackConfig(), 'config', { sampler: 'random' });
    const local = await runAttack(ae, { data: samples.slice(0, 3 * D), inputShape: [D], sampleIds: [10, 11, 12] }, config);
    for (const r of got.results) {
      const want = local[r.index]!;
      expect(r.sampleId).toBe(want.sampleId);
      const x = fromProtoTensor(r.xAdv, { field: 'x_adv', dtype: v1.DataType.DATA_TYPE_FLOAT32 });
      expect(x.shape).toEqual([D]);
      expect(Buffer.from(x.data.buffer).equals(Buffer.from(want.xAdv.buffer))).toBe(true);
      expect(r.success).toBe(want.success);
      expect(r.f).toBe(want.f);
      expect(r.finalC).toBe(want.finalC);
      expect(r.iterations).toBe(want.iterations);
      expect(r.bestIteration).toBe(want.bestIteration);
      if (Number.isNaN(want.similarity)) expect(r.similarity).toBeNaN();
      else expect(r.similarity).toBe(want.similarity);
    }
    expect(got.summary!.succeeded).toBe(local.filter((r) => r.success).length);

    const text = await svc.scrape();
    expect(metricValue(text, 'uae_attack_samples_total', { source: 'generate' })).toBe(3);
    expect(metricValue(text, 'uae_attack_asr', { source: 'generate' })).toBeCloseTo(got.summary!.asr, 10);
    expect(metricValue(text, 'uae_attack_samples_per_second', { source: 'generate' })).toBeGreaterThan(0);
  });

  it('rejects bad input with the field named, and keeps serving', async () => {
    const md = svc.metadata();
    const cases: Array<[string, v1.GenerateRequest, grpc.status, string]> = [
      ['wrong sample shape', request({ x: toProtoTensor(new Float32Array(2 * 76).fill(0.5), [2, 76], 'x'), sampleIds: [] }), grpc.status.INVALID_ARGUMENT, 'x.shape'],
      ['NaN', request({ x: toProtoTensor(Float32Array.from({ length: 2 * D }, (_, i) => (i === 5 ? NaN : 0.5)), [2, D], 'x'), sampleIds: [] }), grpc.status.INVALID_ARGUMENT, 'x.raw_data'],
      ['out of [0, 1]', request({ x: toProtoTensor(new Float32Array(D).fill(1.5), [1, D], 'x'), sampleIds: [] }), grpc.status.INVALID_ARGUMENT, 'x.raw_data'],
      ['byte length', request({ x: { dtype: v1.DataType.DATA_TYPE_FLOAT32, shape: [1, D], rawData: Buffer.alloc(10) }, sampleIds: [] }), grpc.status.INVALID_ARGUMENT, 'x.raw_data'],
      ['dtype', request({ x: { dtype: v1.DataType.DATA_TYPE_FLOAT64, shape: [1, D], rawData: Buffer.alloc(8 * D) }, sampleIds: [] }), grpc.status.INVALID_ARGUMENT, 'x.dtype'],
      ['empty batch', request({ x: toProtoTensor(new Float32Array(0), [0, D], 'x'), sampleIds: [] }), grpc.status.INVALID_ARGUMENT, 'x.shape[0]'],
      ['unknown enum', request({ config: tinyAttackConfig({ method: 99 as v1.AttackMethod }) }), grpc.status.INVALID_ARGUMENT, 'config.method'],
      ['out-of-range config', request({ config: tinyAttackConfig({ epsilon: 2 }) }), grpc.status.INVALID_ARGUMENT, 'config.epsilon'],
      ['duplicate sample ids', request({ sampleIds: [1, 1, 2] }), grpc.status.INVALID_ARGUMENT, 'sample_ids[1]'],
      ['cw on an autoencoder', request({ config: tinyAttackConfig({ criterion: { kind: { $case: 'cw', value: { kappa: 0, targeted: false } } } }) }), grpc.status.INVALID_ARGUMENT, 'config.criterion.cw'],
      ['no model', request({ model: undefined }), grpc.status.INVALID_ARGUMENT, 'model'],
      [
        'MINE networks over the parameter budget (B × hidden × projection_dim)',
        request({
          config: tinyAttackConfig({
            similarity: { kind: { $case: 'mine', value: v1.MineConfig.fromPartial({ sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 16, projectionDim: 4096, hidden: 65_536, branchOut: 4 }) } },
          }),
        }),
        grpc.status.RESOURCE_EXHAUSTED,
        'config.similarity.mine.hidden',
      ],
      ['unknown model id', request({ model: { source: { $case: 'modelId', value: 'no-such-model' } } }), grpc.status.NOT_FOUND, 'model.model_id'],
      [
        'unknown model artifact',
        request({ model: { source: { $case: 'artifacts', value: { ...artifacts, weights: { sha256: 'f'.repeat(64), sizeBytes: 0, mediaType: '', name: '' } } } } }),
        grpc.status.NOT_FOUND,
        'model.artifacts.weights',
      ],
    ];
    for (const [what, req, code, field] of cases) {
      const err = await expectGenerateError(client, req, md);
      expect({ what, code: grpc.status[err.code], field: err.field }).toEqual({ what, code: grpc.status[code], field });
      expect(err.details.startsWith(field), `${what}: ${err.details}`).toBe(true);
    }
    expect(await svc.health('uae.v1.AttackService')).toBe('SERVING');
    const ok = await collectGenerate(client, request({ x: toProtoTensor(samples.slice(0, D), [1, D], 'x'), sampleIds: [] }), md);
    expect(ok.results).toHaveLength(1);
  });

  it('stops a long Generate at its deadline', async () => {
    const long = request({ config: tinyAttackConfig({ iterations: 100_000 }), x: toProtoTensor(samples.slice(0, D), [1, D], 'x'), sampleIds: [] });
    const t0 = Date.now();
    const err = await collectGenerate(client, long, svc.metadata(), { deadline: Date.now() + 1500 }).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(4000);
    // the server stopped the attack too: the call is no longer in flight and the service answers at once
    await waitUntil(async () => metricValue(await svc.scrape(), 'uae_grpc_server_in_flight', { method: 'Generate' }) === 0, 5000);
    const text = await svc.scrape();
    expect(metricValue(text, 'uae_grpc_server_handled_total', { method: 'Generate', code: 'DEADLINE_EXCEEDED' })).toBe(1);
    const t1 = Date.now();
    const quick = await collectGenerate(client, request({ x: toProtoTensor(samples.slice(0, D), [1, D], 'x'), sampleIds: [] }), svc.metadata());
    expect(quick.results).toHaveLength(1);
    expect(Date.now() - t1).toBeLessThan(3000);
  });
});
