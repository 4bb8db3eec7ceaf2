import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../libs/tensor/index.js';
import { createAutoencoder, toArtifacts, type Autoencoder } from '../../libs/models/index.js';
import { AttackCancelledError, AttackPool, attackConfig, runAttack, runAttackParallel } from '../../libs/attack/index.js';
import { uniformSamples } from './helpers.js';

let ae: Autoencoder;
beforeAll(async () => {
  await initBackend('wasm');
  ae = createAutoencoder('dense-ae', [32], { seed: 2, hidden: 8 });
});
afterAll(() => ae.dispose());

const config = attackConfig({
  iterations: 3,
  mineSteps: 2,
  similarity: { kind: 'mine', mine: { sampler: 'random', draws: 16, projectionDim: 8, hidden: 16, projection: 'fixed' } },
});

describe('worker threads', () => {
  it('give the same results as one in-process run, in input order', async () => {
    const data = uniformSamples(5, 32, 9);
    const sampleIds = [10, 11, 12, 13, 14];
    const local = await runAttack(ae, { data, inputShape: [32], sampleIds }, config, { chunkSize: 5 });
    const progress: number[] = [];
    const parallel = await runAttackParallel({ kind: 'autoencoder', artifacts: await toArtifacts(ae) }, { data, inputShape: [32], sampleIds }, config, {
      workers: 2,
      chunkSize: 1,
      onProgress: (p) => progress.push(p.done),
    });
    expect(parallel.map((r) => r.sampleId)).toEqual(sampleIds);
    parallel.forEach((r, i) => {
      expect(Array.from(r.xAdv)).toEqual(Array.from(local[i]!.xAdv));
      expect(r.success).toBe(local[i]!.success);
    });
    expect(progress.at(-1)).toBe(5);
  });

  it('cancel stops every worker', async () => {
    const controller = new AbortController();
    const data = uniformSamples(2, 32, 9);
    const long = attackConfig({ ...config, iterations: 100_000 });
    const run = runAttackParallel({ kind: 'autoencoder', artifacts: await toArtifacts(ae) }, { data, inputShape: [32] }, long, {
      workers: 2,
      signal: controller.signal,
      onReady: () => setTimeout(() => controller.abort(new Error('deadline')), 100),
    });
    await expect(run).rejects.toBeInstanceOf(AttackCancelledError);
  });

  it('a deadline that falls during thread start-up stops the threads at once: ≤ 0.3 CPU-seconds after it', async () => {
    const model = { kind: 'autoencoder' as const, artifacts: await toArtifacts(ae) };
    const long = attackConfig({ ...config, iterations: 100_000 });
    const signal = AbortSignal.timeout(200);
    let atDeadline: NodeJS.CpuUsage | undefined;
    signal.addEventListener('abort', () => (atDeadline = process.cpuUsage()), { once: true });
    const run = runAttackParallel(model, { data: uniformSamples(2, 32, 9), inputShape: [32] }, long, { workers: 2, signal });
    await expect(run).rejects.toBeInstanceOf(AttackCancelledError);
    await new Promise((r) => setTimeout(r, 1500)); // what would still run shows up here
    const after = process.cpuUsage(atDeadline!);
    expect((after.user + after.system) / 1e6).toBeLessThanOrEqual(0.3);
  });

  it('a pool reuses its threads across calls, with the same results, and replaces a cancelled one', async () => {
    const pool = new AttackPool(2);
    try {
      const model = { kind: 'autoencoder' as const, artifacts: await toArtifacts(ae) };
      const data = uniformSamples(4, 32, 5);
      const fresh = await runAttackParallel(model, { data, inputShape: [32] }, config, { workers: 2 });
      const first = await runAttackParallel(model, { data, inputShape: [32] }, config, { pool });
      expect(pool.idleThreads).toBe(2);
      const second = await runAttackParallel(model, { data, inputShape: [32] }, config, { pool });
      expect(pool.idleThreads).toBe(2);
      for (const run of [first, second]) run.forEach((r, i) => expect(Array.from(r.xAdv)).toEqual(Array.from(fresh[i]!.xAdv)));

      const controller = new AbortController();
      const cancelled = runAttackParallel(model, { data, inputShape: [32] }, attackConfig({ ...config, iterations: 100_000 }), {
        pool,
        signal: controller.signal,
        onReady: () => setTimeout(() => controller.abort(new Error('stop')), 100),
      });
      await expect(cancelled).rejects.toBeInstanceOf(AttackCancelledError);
      const after = await runAttackParallel(model, { data, inputShape: [32] }, config, { pool });
      after.forEach((r, i) => expect(Array.from(r.xAdv)).toEqual(Array.from(fresh[i]!.xAdv)));
    } finally {
      await pool.close();
    }
    expect(pool.idleThreads).toBe(0);
  });
});
