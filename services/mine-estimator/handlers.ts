/**
 * MineService handlers: validate the request (tensors through libs/proto's
 * codec, counts and MINE settings against the contract), run
 * libs/mine's standalone estimate, reply. Transport-free: tests can call
 * `mineHandlers(deps).estimate(request, callContext)` in-process.
 */
import { backendInfo, tf } from '../../libs/tensor/index.js';
import { estimateMutualInformationAsync, MineConfigSchema, statisticsNetworkSize } from '../../libs/mine/index.js';
import { checkBudget, DEFAULT_BUDGET, type ResourceBudget } from '../../libs/limits/index.js';
import { fromProtoTensor, mineConfigFromProto, ProtoFieldError, v1 } from '../../libs/proto/index.js';
import type { CallContext } from '../../libs/service-kit/index.js';
import type { ServiceDeps } from '../common/service.js';

export const DEFAULT_STEPS = 1000;
export const MAX_STEPS = 100_000;
export const DEFAULT_EVALUATIONS = 10;
export const MAX_EVALUATIONS = 1000;

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function count(value: number, field: string, dflt: number, max: number): number {
  if (value === 0) return dflt;
  if (!Number.isInteger(value) || value < 1 || value > max) throw new ProtoFieldError(field, `must be in 1–${max}; got ${value}`);
  return value;
}

/** A validated EstimateRequest: the arrays, their shapes and the settings, within `budget`. */
export function parseEstimateRequest(req: v1.EstimateRequest, budget: ResourceBudget = DEFAULT_BUDGET) {
  const F32 = v1.DataType.DATA_TYPE_FLOAT32;
  const x = fromProtoTensor(req.x, { field: 'x', dtype: F32, finite: true });
  const y = fromProtoTensor(req.y, { field: 'y', dtype: F32, finite: true });
  for (const [t, f] of [[x, 'x'], [y, 'y']] as const) {
    if (t.shape.length < 1) throw new ProtoFieldError(`${f}.shape`, 'must be [N, ...] with N ≥ 2 rows; got a scalar');
    if (t.shape[0]! < 2) throw new ProtoFieldError(`${f}.shape[0]`, `MINE needs at least 2 paired rows; got ${t.shape[0]}`);
    if (t.data.length === 0) throw new ProtoFieldError(`${f}.shape`, `rows must not be empty; got [${t.shape.join(', ')}]`);
  }
  if (y.shape[0] !== x.shape[0]) throw new ProtoFieldError('y.shape[0]', `${y.shape[0]} rows, but x has ${x.shape[0]}; rows are paired`);
  const n = x.shape[0]!;
  if (x.data.length / n !== y.data.length / n) {
    throw new ProtoFieldError('y.shape', `${y.data.length / n} elements per row, but x has ${x.data.length / n}; rows must have the same size`);
  }
  const steps = count(req.steps, 'steps', DEFAULT_STEPS, MAX_STEPS);
  const evaluations = count(req.evaluations, 'evaluations', DEFAULT_EVALUATIONS, MAX_EVALUATIONS);
  // The rows are the draws: the sampler settings do not apply.
  const mineInput = { learningRate: 1e-3, ...mineConfigFromProto(req.mine, 'mine') };
  const parsed = MineConfigSchema.safeParse(mineInput);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ProtoFieldError(`mine.${issue.path.map((p) => snake(String(p))).join('.')}`, issue.message);
  }
  // Before anything is allocated: the network is [hidden, width] per branch
  // and its activations [hidden, N] (width = elements per row).
  const width = x.data.length / n;
  const size = statisticsNetworkSize([width], parsed.data);
  const H = parsed.data.hidden;
  checkBudget(budget, 'maxParameters', 'mine.hidden', size.parameters, `${width} features per row × ${H} hidden, 2 branches`);
  checkBudget(budget, 'maxTensorElements', 'mine.hidden', size.activationPerDraw * n, `${n} rows × ${H} hidden`);
  return { x, y, n, steps, evaluations, seed: req.seed, mine: parsed.data, includeTrace: req.includeTrace };
}

export function mineHandlers(deps: Pick<ServiceDeps, 'metrics' | 'logger' | 'faultDrill'> & { budget?: ResourceBudget }) {
  const estimates = deps.metrics.counter({
    name: 'uae_mine_estimates_total',
    help: 'MineService.Estimate calls by outcome (ok, invalid, cancelled, error)',
    labelNames: ['outcome'],
  });
  const seconds = deps.metrics.histogram({
    name: 'uae_mine_estimate_seconds',
    help: 'Wall-clock seconds of one MINE estimate (validation excluded)',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  });
  const mi = deps.metrics.histogram({
    name: 'uae_mine_mi_nats',
    help: 'Estimated mutual information (DV lower bound, nats) per estimate',
    buckets: [-0.5, 0, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8],
  });
  for (const outcome of ['ok', 'invalid', 'cancelled', 'error']) estimates.inc({ outcome }, 0);

  return {
    async estimate(req: v1.EstimateRequest, call: Pick<CallContext, 'signal'>): Promise<v1.EstimateResponse> {
      let parsed: ReturnType<typeof parseEstimateRequest>;
      try {
        parsed = parseEstimateRequest(req, deps.budget);
      } catch (e) {
        estimates.inc({ outcome: 'invalid' });
        throw e;
      }
      const started = performance.now();
      const x = tf.tensor(parsed.x.data, parsed.x.shape);
      const y = tf.tensor(parsed.y.data, parsed.y.shape);
      try {
        // UAE_FAULT_DRILL=mine-estimator:wasm-trap (tests only): a real wasm trap in the first estimate.
        deps.faultDrill?.trap('an Estimate call');
        const est = await estimateMutualInformationAsync(x, y, {
          steps: parsed.steps,
          evaluations: parsed.evaluations,
          seed: parsed.seed,
          mine: parsed.mine,
          signal: call.signal,
        });
        const secs = (performance.now() - started) / 1000;
        estimates.inc({ outcome: 'ok' });
        seconds.observe(secs);
        if (Number.isFinite(est.mi)) mi.observe(est.mi);
        return { mi: est.mi, trace: parsed.includeTrace ? est.trace : [], seconds: secs, backend: backendInfo().name };
      } catch (e) {
        estimates.inc({ outcome: call.signal.aborted ? 'cancelled' : 'error' });
        throw e;
      } finally {
        x.dispose();
        y.dispose();
      }
    },
  };
}
