/**
 * A poisoned backend is contained in every tfjs service (issue 10), not only
 * the trainer (trainer-fault.test.ts): with UAE_FAULT_DRILL=<service>:wasm-trap
 * the service's first tfjs work hits a real WebAssembly trap in the wasm
 * backend, and then
 *   - evaluator Evaluate, mine-estimator Estimate and attack-optimizer
 *     Generate (in this thread) fail with UNAVAILABLE saying why;
 *   - an attack shard whose worker thread traps is handed back and computed
 *     by another worker: the job SUCCEEDS with every sample exactly once;
 *   - each poisoned process reports NOT_SERVING at once and exits 70.
 * All processes are real, on a real nats-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { connectBus, shardResultKey, type NatsBus } from '../../libs/bus/index.js';
import { JobStore, isTerminal } from '../../libs/jobs/index.js';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { loadDataset } from '../../libs/data/index.js';
import { createAutoencoder, trainAutoencoder, type Autoencoder } from '../../libs/models/index.js';
import { toProtoTensor, v1 } from '../../libs/proto/index.js';
import { saveModel } from '../../services/common/models.js';
import { faultDrillEnv, faultDrillFor } from '../../services/common/backend-fault.js';
import { BackendFaultError, isBackendFault } from '../../libs/tensor/index.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { metricValue, startServiceProcess, stopAllServices, unary, unaryError, waitUntil, type ServiceProcess } from '../helpers/services.js';
import { collectGenerate, getSampleResults, tinyAttackConfig, type StreamError } from './attack-helpers.js';

const D = 77;
const N = 12;
const ACK_WAIT_MS = 3000;
const MODEL_ID = 'm-fault-test';
const DATASET = v1.DatasetConfig.fromPartial({ source: { $case: 'name', value: 'mice-protein' }, trainSamples: N, testSamples: 8, seed: 5 });
const TRAP = /tfjs backend failed \((attack worker \d: )?memory access out of bounds\); the [a-z-]+ restarts with a fresh backend/;

describe('UAE_FAULT_DRILL (test-only switch)', () => {
  it('arms only the service it names, once; anything else is refused', () => {
    expect(faultDrillFor(undefined, 'evaluator')).toBeUndefined();
    expect(faultDrillFor('trainer:wasm-trap', 'evaluator')).toBeUndefined();
    const drill = faultDrillFor('trainer:wasm-trap, evaluator:wasm-trap', 'evaluator');
    expect(drill?.kind).toBe('wasm-trap');
    expect([drill!.take('a'), drill!.take('b')]).toEqual([true, false]);
    const schema = faultDrillEnv.UAE_FAULT_DRILL;
    expect(schema.safeParse('evaluator:wasm-trap,trainer:wasm-trap').success).toBe(true);
    for (const bad of ['evaluator', 'evaluator:oom', 'wasm-trap', 'evaluator:wasm-trap;rm']) expect(schema.safeParse(bad).success, bad).toBe(false);
    // what a worker thread reports is a backend fault too
    expect(isBackendFault(new BackendFaultError('attack worker 0: memory access out of bounds'))).toBe(true);
  });
});

describe.skipIf(!natsServerAvailable())('a poisoned tfjs backend in every service', () => {
  let nats: NatsServerHandle;
  let bus: NatsBus;
  let jobs: JobStore;
  let ae: Autoencoder;
  let x: Float32Array;

  const start = (name: string, env: Record<string, string> = {}) =>
    startServiceProcess(name, { natsUrl: nats.url, env: { UAE_BACKEND: 'wasm', UAE_ACK_WAIT_MS: String(ACK_WAIT_MS), ...env } });

  /** Health as seen from outside while the process goes down, until it exits. */
  const watchHealth = (svc: ServiceProcess) => {
    const seen = new Set<string>();
    const done = (async () => {
      while (svc.running) {
        seen.add(await fetch(`http://${svc.metrics}/healthz`).then((r) => String(r.status), () => 'closed'));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    return { seen, done };
  };

  /** NOT_SERVING saying why, then exit 70. */
  const expectRestart = async (svc: ServiceProcess, watch: ReturnType<typeof watchHealth>) => {
    const exit = await svc.exited;
    await watch.done;
    expect(exit.code).toBe(70);
    expect(watch.seen.has('503')).toBe(true);
    expect(svc.logs().some((l) => l['msg'] === 'health' && l['status'] === 'NOT_SERVING' && /tfjs backend failed/.test(String(l['reason'])))).toBe(true);
    expect(svc.logs().some((l) => l['msg'] === 'tfjs backend fault: restarting the process')).toBe(true);
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    bus = await connectBus({ servers: nats.url, ackWaitMs: ACK_WAIT_MS });
    jobs = new JobStore(bus);
    await initBackend('wasm');
    const ds = await loadDataset('mice-protein', { trainSamples: N, testSamples: 8, seed: 5 });
    x = ds.train.x;
    ae = createAutoencoder('dense-ae', [D], { hidden: 8, seed: 2 });
    const t = tf.tensor2d(ds.train.x, [N, D]);
    await trainAutoencoder(ae, t, { epochs: 1, batchSize: 6, seed: 1 });
    t.dispose();
    await saveModel(bus.artifacts, { modelId: MODEL_ID, jobId: 'test', ae });
  }, 120_000);

  afterAll(async () => {
    await stopAllServices();
    ae?.dispose();
    await bus?.close();
    await nats?.dispose();
  });

  it('evaluator and mine-estimator: the call fails with UNAVAILABLE saying why, NOT_SERVING, exit 70', async () => {
    const [evaluator, mine] = await Promise.all([
      start('evaluator', { UAE_FAULT_DRILL: 'evaluator:wasm-trap' }),
      // one drill variable for several services: each acts on its own entry only
      start('mine-estimator', { UAE_FAULT_DRILL: 'trainer:wasm-trap,mine-estimator:wasm-trap' }),
    ]);
    const watches = [watchHealth(evaluator), watchHealth(mine)];
    const evalErr = await unaryError(
      evaluator.client(v1.EvaluationServiceClient),
      'evaluate',
      v1.EvaluateRequest.fromPartial({ model: { source: { $case: 'modelId', value: MODEL_ID } }, dataset: DATASET, config: { skipDownstream: true } }),
      evaluator.metadata(),
    );
    expect(grpc.status[evalErr.code]).toBe('UNAVAILABLE');
    expect(evalErr.details).toMatch(TRAP);
    expect(evalErr.details).toContain("the evaluator's tfjs backend failed");
    const rows = x.subarray(0, 8 * D);
    const mineErr = await unaryError(
      mine.client(v1.MineServiceClient),
      'estimate',
      { x: toProtoTensor(rows, [8, D], 'x'), y: toProtoTensor(rows, [8, D], 'y'), steps: 2, evaluations: 1, seed: 0, includeTrace: false, mine: v1.MineConfig.fromPartial({ hidden: 8 }) },
      mine.metadata(),
    );
    expect(grpc.status[mineErr.code]).toBe('UNAVAILABLE');
    expect(mineErr.details).toMatch(TRAP);
    expect(mineErr.details).toContain("the mine-estimator's tfjs backend failed");
    await expectRestart(evaluator, watches[0]!);
    await expectRestart(mine, watches[1]!);
  }, 180_000);

  it('attack-optimizer Generate in this thread: UNAVAILABLE saying why, NOT_SERVING, exit 70', async () => {
    const svc = await start('attack-optimizer', { UAE_FAULT_DRILL: 'attack-optimizer:wasm-trap', UAE_ATTACK_THREADS: '1', UAE_ATTACK_WORKER: 'off' });
    const watch = watchHealth(svc);
    let err: StreamError | undefined;
    try {
      await collectGenerate(
        svc.client(v1.AttackServiceClient),
        v1.GenerateRequest.fromPartial({ model: { source: { $case: 'modelId', value: MODEL_ID } }, x: toProtoTensor(x.subarray(0, 2 * D), [2, D], 'x'), config: tinyAttackConfig() }),
        svc.metadata(),
      );
    } catch (e) {
      err = e as StreamError;
    }
    expect(err && grpc.status[err.code]).toBe('UNAVAILABLE');
    expect(err!.details).toMatch(TRAP);
    await expectRestart(svc, watch);
  }, 180_000);

  it('attack shard on a worker thread: handed back, another worker computes it, every sample exactly once; exit 70', async () => {
    const poisoned = await start('attack-optimizer', { UAE_FAULT_DRILL: 'attack-optimizer:wasm-trap', UAE_ATTACK_THREADS: '2', UAE_WORKER_NAME: 'poisoned' });
    const watch = watchHealth(poisoned);
    const res = await unary<v1.SubmitResponse>(
      poisoned.client(v1.AttackServiceClient),
      'submit',
      v1.SubmitRequest.fromPartial({ spec: { model: { source: { $case: 'modelId', value: MODEL_ID } }, dataset: DATASET, config: tinyAttackConfig(), shardSize: 4 } }),
      poisoned.metadata(),
    );
    const jobId = res.job!.jobId;
    // the poisoned worker takes the first shard (it is the only one), its thread traps
    await waitUntil(() => poisoned.logs().some((l) => l['msg'] === 'shard failed: tfjs backend fault; handed back'), 60_000, 50);
    const healthy = await start('attack-optimizer', { UAE_ATTACK_THREADS: '1', UAE_WORKER_NAME: 'healthy' });
    await expectRestart(poisoned, watch);
    const fault = poisoned.logs().find((l) => l['msg'] === 'shard failed: tfjs backend fault; handed back')!;
    expect(String(fault['err'])).toMatch(/^attack worker 0: memory access out of bounds$/);

    const done = await waitUntil(async () => {
      const j = await jobs.get(jobId);
      return j && isTerminal(j.state) ? j : undefined;
    }, 90_000, 100);
    expect(v1.jobStateToJSON(done.state), JSON.stringify(done.error)).toBe('JOB_STATE_SUCCEEDED');
    const result = done.result?.kind?.$case === 'attack' ? done.result.kind.value : undefined;
    expect(result?.samples).toBe(N);
    const records = await getSampleResults(bus.artifacts, result!.results);
    expect(records.map((r) => r.sampleId)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect((await bus.artifacts.list(`jobs/${jobId}/attack/`)).map((i) => i.key)).toEqual([0, 1, 2].map((i) => shardResultKey(jobId, i)));
    // the shard the poisoned worker held came back to the healthy one
    expect(metricValue(await healthy.scrape(), 'uae_shard_redeliveries_total')).toBeGreaterThanOrEqual(1);
    expect(await healthy.health()).toBe('SERVING');
    expect(await bus.work.pending()).toBe(0);
  }, 240_000);
});
