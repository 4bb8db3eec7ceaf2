/**
 * The new kinds travel to attack worker threads as artifacts (fromArtifacts in
 * the worker, which registers ConcreteSelect by importing libs/models) and give
 * the same attack results there as in-process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../libs/tensor/index.js';
import { createAutoencoder, toArtifacts, type Autoencoder, type AutoencoderKind, type CreateAutoencoderOptions } from '../../libs/models/index.js';
import { attackConfig, runAttack, runAttackParallel } from '../../libs/attack/index.js';
import { Rng } from '../../libs/tensor/rng.js';

const D = 32;
const KINDS: [AutoencoderKind, CreateAutoencoderOptions][] = [
  ['sparse-ae', { hidden: 8 }],
  ['adversarial-ae', { widths: [16], discriminatorWidths: [8], latent: 4 }],
  ['concrete-ae', { k: 6, widths: [16] }],
];

const config = attackConfig({
  iterations: 3,
  mineSteps: 2,
  similarity: { kind: 'mine', mine: { sampler: 'random', draws: 16, projectionDim: 8, hidden: 16, projection: 'fixed' } },
});

describe('new autoencoder kinds in attack worker threads', () => {
  const models: Autoencoder[] = [];
  beforeAll(async () => {
    await initBackend('wasm');
  });
  afterAll(() => models.forEach((m) => m.dispose()));

  for (const [kind, opts] of KINDS) {
    it(`${kind}: worker results equal in-process results`, async () => {
      const ae = createAutoencoder(kind, [D], { ...opts, seed: 2 });
      models.push(ae);
      const data = new Rng(9).fillUniform(new Float32Array(4 * D), 0, 1);
      const input = { data, inputShape: [D], sampleIds: [0, 1, 2, 3] };
      const local = await runAttack(ae, input, config, { chunkSize: 4 });
      const parallel = await runAttackParallel({ kind: 'autoencoder', artifacts: await toArtifacts(ae) }, input, config, { workers: 2, chunkSize: 2 });
      parallel.forEach((r, i) => {
        expect(Array.from(r.xAdv)).toEqual(Array.from(local[i]!.xAdv));
        expect(r.success).toBe(local[i]!.success);
      });
    });
  }
});
