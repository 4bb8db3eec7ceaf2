/**
 * SubmitPipeline checks a study against the orchestrator's resource budget
 * (UAE_MAX_PARAMETERS etc., libs/limits) before any stage runs (issue 10):
 * an attack config whose statistics networks exceed it is RESOURCE_EXHAUSTED
 * naming config.attack.similarity.mine.hidden, and no job is created —
 * before, it was caught per shard only after training.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { v1 } from '../../libs/proto/index.js';
import { startServiceProcess, unary, unaryError, type ServiceProcess } from '../helpers/services.js';
import { tinyPipeline } from './orchestrator-helpers.js';

describe('orchestrator: SubmitPipeline within the budget', () => {
  let orch: ServiceProcess;

  beforeAll(async () => {
    orch = await startServiceProcess('orchestrator', { logLevel: 'warn', env: { UAE_MAX_PARAMETERS: '100000', UAE_MAX_TRAIN_STEPS: '100' } });
  });
  afterAll(async () => {
    await orch?.stop();
  });

  it('refuses an oversized attack config or schedule with RESOURCE_EXHAUSTED naming the field; no job is created', async () => {
    const client = orch.client(v1.JobServiceClient);
    const md = orch.metadata();
    const attack = v1.AttackConfig.fromPartial({
      iterations: 2,
      mineSteps: 1,
      similarity: { kind: { $case: 'mine', value: v1.MineConfig.fromPartial({ sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 8, projectionDim: 64, hidden: 1024 }) } },
    });
    const err = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: tinyPipeline({ attack }) }), md);
    expect([grpc.status[err.code], err.field]).toEqual(['RESOURCE_EXHAUSTED', 'config.attack.similarity.mine.hidden']);
    expect(err.details).toMatch(/needs 1\d\d,\d{3} parameters \(1 samples at once × .*\); this service allows at most 100,000 \(UAE_MAX_PARAMETERS\)/);
    const steps = await unaryError(client, 'submitPipeline', v1.SubmitPipelineRequest.fromPartial({ config: tinyPipeline({ train: { epochs: 50, batchSize: 8 } }) }), md);
    expect([grpc.status[steps.code], steps.field]).toEqual(['RESOURCE_EXHAUSTED', 'config.train.epochs']);
    expect(steps.details).toContain('UAE_MAX_TRAIN_STEPS');
    const listed = await unary<v1.ListJobsResponse>(client, 'listJobs', v1.ListJobsRequest.fromPartial({ pageSize: 10 }), md);
    expect(listed.jobs).toEqual([]);
  });
});
