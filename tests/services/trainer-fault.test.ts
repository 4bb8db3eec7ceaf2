/**
 * A poisoned backend is contained (issue 10): a trainer whose wasm backend
 * traps (UAE_FAULT_DRILL=trainer:wasm-trap: a real WebAssembly
 * RuntimeError inside the backend's module) fails that job with UNAVAILABLE
 * and a reason, reports NOT_SERVING, and exits 70; the trainer started in its
 * place (what Kubernetes does) trains the next job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { connectBus, type NatsBus } from '../../libs/bus/index.js';
import { JobStore } from '../../libs/jobs/index.js';
import { v1 } from '../../libs/proto/index.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startServiceProcess, unary, waitUntil, type ServiceProcess } from '../helpers/services.js';

const { JobState } = v1;
let nats: NatsServerHandle;
let bus: NatsBus;
let jobs: JobStore;
let trainer: ServiceProcess | undefined;

const spec = () =>
  v1.TrainingJobSpec.fromPartial({
    dataset: { source: { $case: 'name', value: 'mice-protein' }, trainSamples: 60, testSamples: 20, seed: 1 },
    model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE, hidden: 8, seed: 1 },
    config: { epochs: 1, batchSize: 30, seed: 1 },
  });

beforeAll(async () => {
  if (!natsServerAvailable()) throw new Error('nats-server is not installed (NATS_SERVER_BIN)');
  nats = await startNatsServer();
  bus = await connectBus({ servers: nats.url, name: 'trainer-fault-test' });
  jobs = new JobStore(bus);
});

afterAll(async () => {
  await trainer?.stop();
  await bus?.close();
  await nats?.stop();
});

async function terminal(jobId: string): Promise<v1.Job> {
  return waitUntil(async () => {
    const j = await jobs.get(jobId);
    return j && [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED].includes(j.state) ? j : undefined;
  }, 60_000, 100);
}

describe('trainer with a poisoned backend', () => {
  it('fails the job saying why, turns NOT_SERVING, exits 70; a fresh trainer trains the next job', async () => {
    trainer = await startServiceProcess('trainer', { natsUrl: nats.url, env: { UAE_BACKEND: 'wasm', UAE_FAULT_DRILL: 'trainer:wasm-trap', UAE_TRAINER_LEASE_MS: '1500' } });
    const poisoned = trainer;
    const client = poisoned.client(v1.TrainingServiceClient);
    const res = await unary<v1.TrainResponse>(client, 'train', { requestId: '', spec: spec(), labels: {} }, poisoned.metadata());
    // health as seen from outside while it goes down: NOT_SERVING before the port closes
    const seen = new Set<string>();
    const watch = (async () => {
      while (poisoned.running) {
        seen.add(await fetch(`http://${poisoned.metrics}/healthz`).then((r) => String(r.status), () => 'closed'));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const job = await terminal(res.job!.jobId);
    expect(job.state).toBe(JobState.JOB_STATE_FAILED);
    expect(job.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(job.error?.message).toMatch(/tfjs backend failed \(memory access out of bounds\); the trainer restarts/);
    const exit = await poisoned.exited;
    await watch;
    expect(exit.code).toBe(70);
    expect(seen.has('503')).toBe(true);
    expect(poisoned.logs().some((l) => l.msg === 'health' && l.status === 'NOT_SERVING' && /tfjs backend failed/.test(String(l.reason)))).toBe(true);
    expect(poisoned.logs().some((l) => l.msg === 'tfjs backend fault: restarting the process')).toBe(true);

    trainer = await startServiceProcess('trainer', { natsUrl: nats.url, env: { UAE_BACKEND: 'wasm', UAE_TRAINER_LEASE_MS: '1500' } });
    const next = await unary<v1.TrainResponse>(trainer.client(v1.TrainingServiceClient), 'train', { requestId: '', spec: spec(), labels: {} }, trainer.metadata());
    const done = await terminal(next.job!.jobId);
    expect(done.state, JSON.stringify(done.error)).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(await trainer.health()).toBe('SERVING');
  }, 120_000);
});
