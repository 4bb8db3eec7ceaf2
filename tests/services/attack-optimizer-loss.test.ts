/**
 * services/attack-optimizer, AttackService.Generate with `criterion: loss`
 * (docs/algorithms.md, criteria) against every autoencoder kind: a real service process on
 * a real nats-server loads each trained model from its artifacts (the
 * adversarial AE's discriminator and the concrete AE's temperature with it)
 * and returns exactly what an in-process runAttack on the trained model does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type NatsBus } from '../../libs/bus/index.js';
import { initBackend, tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import { createAutoencoder, trainAutoencoder, type Autoencoder, type AutoencoderKind, type CreateAutoencoderOptions } from '../../libs/models/index.js';
import { runAttack } from '../../libs/attack/index.js';
import { fromProtoTensor, toProtoTensor, v1 } from '../../libs/proto/index.js';
import { modelFromArtifacts, putModelArtifacts } from '../../services/common/models.js';
import { parseAttackConfig } from '../../services/attack-optimizer/handlers.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { startServiceProcess, stopAllServices, type ServiceProcess } from '../helpers/services.js';
import { collectGenerate, tinyAttackConfig } from './attack-helpers.js';

const KINDS: { kind: AutoencoderKind; shape: number[]; opts: CreateAutoencoderOptions }[] = [
  { kind: 'dense-ae', shape: [16], opts: { hidden: 8 } },
  { kind: 'conv-ae', shape: [8, 8, 1], opts: {} },
  { kind: 'sparse-ae', shape: [16], opts: { hidden: 8 } },
  { kind: 'adversarial-ae', shape: [16], opts: { latent: 4, widths: [16], discriminatorWidths: [16] } },
  { kind: 'concrete-ae', shape: [16], opts: { k: 4, widths: [8, 8] } },
];
const N = 3;

/** The tiny MINE config with criterion loss; c0 and MINE's learning rate raised so that T = 3 reaches successes (tests/attack/loss-criterion.test.ts). */
function lossAttackConfig(): v1.AttackConfig {
  const base = tinyAttackConfig({ mineSteps: 1, c0: 10, alpha: 0.1, criterion: { kind: { $case: 'loss', value: { kappa: 0 } } } });
  const mine = base.similarity!.kind!.$case === 'mine' ? base.similarity!.kind!.value : undefined;
  return { ...base, similarity: { kind: { $case: 'mine', value: { ...mine!, learningRate: 1e-2 } } } };
}

describe.skipIf(!natsServerAvailable())('attack-optimizer: Generate with criterion loss', () => {
  let nats: NatsServerHandle;
  let bus: NatsBus;
  let svc: ServiceProcess;
  let client: v1.AttackServiceClient;

  beforeAll(async () => {
    nats = await startNatsServer();
    const starting = startServiceProcess('attack-optimizer', {
      natsUrl: nats.url,
      // two attack threads: the batch of 3 runs on worker threads, its model rebuilt there from artifacts
      env: { UAE_BACKEND: 'wasm', UAE_ATTACK_THREADS: '2', UAE_ATTACK_WORKER: 'off' },
    });
    await initBackend('wasm');
    bus = await connectBus({ servers: nats.url });
    svc = await starting;
    client = svc.client(v1.AttackServiceClient);
  });

  afterAll(async () => {
    await stopAllServices();
    await bus?.close();
    await nats?.dispose();
  });

  it.each(KINDS)('$kind: results equal to an in-process attack on the trained model', async ({ kind, shape, opts }) => {
    const d = shape.reduce((a, b) => a * b, 1);
    const data = new Rng(21, 7).fillUniform(new Float32Array(32 * d), 0, 1);
    const ae: Autoencoder = createAutoencoder(kind, shape, { ...opts, seed: 5 });
    const train = tf.tensor(data, [32, ...shape]);
    // Trained, so a fresh discriminator (adversarial-ae) or the start temperature (concrete-ae) would show.
    await trainAutoencoder(ae, train, { epochs: 2, batchSize: 8, seed: 1 });
    train.dispose();
    try {
      const artifacts = await putModelArtifacts(bus.artifacts, ae);
      if (kind === 'adversarial-ae') expect(artifacts.discriminatorJson?.sha256).toMatch(/^[0-9a-f]{64}$/);
      else expect(artifacts.discriminatorJson).toBeUndefined();
      // What the service loads has the trained model's per-sample loss.
      const loaded = await modelFromArtifacts(bus.artifacts, artifacts);
      const x = tf.tensor(data.subarray(0, N * d), [N, ...shape]);
      const [want, got] = [ae, loaded].map((m) => Array.from(m.perSampleLoss(x).dataSync()));
      got!.forEach((v, i) => expect(Math.abs(v - want![i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(want![i]!)));
      x.dispose();
      loaded.dispose();

      const sampleIds = [4, 5, 6];
      const res = await collectGenerate(
        client,
        v1.GenerateRequest.fromPartial({
          model: { source: { $case: 'artifacts', value: artifacts } },
          x: toProtoTensor(data.slice(0, N * d), [N, ...shape], 'x'),
          config: lossAttackConfig(),
          sampleIds,
        }),
        svc.metadata(),
      );
      expect(res.results).toHaveLength(N);
      expect(res.summary).toMatchObject({ samples: N });

      const config = parseAttackConfig(lossAttackConfig(), 'config', { sampler: ae.firstConv ? 'conv' : 'random' });
      expect(config.criterion).toEqual({ kind: 'loss', kappa: 0 });
      const local = await runAttack(ae, { data: data.slice(0, N * d), inputShape: shape, sampleIds }, config);
      for (const r of res.results) {
        const w = local[r.index]!;
        expect(r.sampleId).toBe(w.sampleId);
        expect(r.success).toBe(w.success);
        expect(Math.abs(r.f - w.f)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w.f)));
        const xAdv = fromProtoTensor(r.xAdv, { field: 'x_adv', dtype: v1.DataType.DATA_TYPE_FLOAT32 });
        expect(xAdv.shape).toEqual(shape);
      }
    } finally {
      ae.dispose();
    }
  });

  it('a discriminator only on an adversarial AE, and a missing one named by its field', async () => {
    const dense = createAutoencoder('dense-ae', [16], { hidden: 8, seed: 1 });
    const aae = createAutoencoder('adversarial-ae', [16], { ...KINDS[3]!.opts, seed: 1 });
    try {
      const [a, b] = [await putModelArtifacts(bus.artifacts, aae), await putModelArtifacts(bus.artifacts, dense)];
      const withDisc = { ...b, discriminatorJson: a.discriminatorJson, discriminatorWeights: a.discriminatorWeights };
      await expect(modelFromArtifacts(bus.artifacts, withDisc)).rejects.toThrow(expect.objectContaining({ field: 'model.artifacts.discriminator_json' }));
      const missing = { sha256: 'e'.repeat(64), sizeBytes: 0, mediaType: '', name: '' };
      await expect(modelFromArtifacts(bus.artifacts, { ...a, discriminatorWeights: missing })).rejects.toThrow(
        expect.objectContaining({ name: 'ArtifactRefNotFoundError', field: 'model.artifacts.discriminator_weights' }),
      );
    } finally {
      dense.dispose();
      aae.dispose();
    }
  });
});
