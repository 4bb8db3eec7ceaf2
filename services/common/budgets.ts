/**
 * Budget checks shared by the services that run work and the orchestrator
 * that plans it (one rule, applied at submit time and again before the work
 * allocates): an attack's B × MINE statistics networks. The model and
 * training sizes are services/common/training.ts checkTrainingSize.
 */
import type { AttackConfig } from '../../libs/attack/index.js';
import { drawShapeFor, statisticsNetworkSize } from '../../libs/mine/index.js';
import { checkBudget, DEFAULT_BUDGET, type ResourceBudget } from '../../libs/limits/index.js';
import { ProtoFieldError } from '../../libs/proto/index.js';
import { backendInfo } from '../../libs/tensor/index.js';

/**
 * Before an attack allocates: B per-sample MINE statistics networks are
 * trained at once (B = the samples of one chunk), each sized by the draws'
 * shape (random sampler: [projection_dim]; conv sampler: one first-conv map
 * per draw, at most [H, W, 1] for the zoo's 'same'-padded convs) and
 * `hidden`; `chunk` is B's ceiling (default: this process's backend's
 * preferredChunk; the orchestrator, which does not know its workers'
 * backends, passes 1, the bound every backend meets). Parameters B × per-sample and activations B × draws × hidden are
 * checked against the budget (libs/limits).
 */
export function checkAttackBudget(
  config: AttackConfig,
  sampleShape: readonly number[],
  samples: number,
  budget: ResourceBudget = DEFAULT_BUDGET,
  field = 'config',
  chunk: number = backendInfo().preferredChunk,
): void {
  if (config.similarity.kind !== 'mine') return;
  const mine = config.similarity.mine;
  const conv = mine.sampler === 'conv' && sampleShape.length === 3;
  const drawShape = drawShapeFor(mine, sampleShape);
  const draws = conv ? mine.convFilters : mine.draws;
  let size;
  try {
    size = statisticsNetworkSize(drawShape, mine);
  } catch (e) {
    throw new ProtoFieldError(`${field}.similarity.mine`, (e as Error).message);
  }
  const B = Math.max(1, Math.min(samples, chunk));
  const f = `${field}.similarity.mine.hidden`;
  checkBudget(budget, 'maxParameters', f, B * size.parameters, `${B} samples at once × ${size.parameters} statistics-network parameters each`);
  checkBudget(budget, 'maxTensorElements', f, B * draws * size.activationPerDraw, `${B} samples × ${draws} draws × ${size.activationPerDraw} activations`);
}
