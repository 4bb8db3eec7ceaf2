/**
 * The gradient-sign baselines on one stacked chunk of B samples: L∞ PGD with
 * a random start (Madry et al., "Towards Deep Learning Models Resistant to
 * Adversarial Attacks", 2018, Eq. 2) and FGSM (Goodfellow et al., 2015), the
 * attacks the paper's UAEs are usually compared with. Both minimise the
 * criterion f alone (success when f ≤ 0) — no similarity term, no c, no MINE
 * training:
 *
 *   δ0 ~ U(−ε, ε) (pgd; fgsm: δ0 = 0),  δ_{t+1} = Proj(δ_t − α·sign(∇δ f(clip(x + δ_t, 0, 1))))
 *
 * with Proj onto ‖δ‖∞ ≤ ε and x + δ ∈ [0, 1]. Madry's step is an ascent on
 * the classifier's loss; here the loss is −f, so the step descends f. FGSM is
 * one such step of size ε from x. δ0 comes from Rng(seed, sampleId,
 * STREAM.delta), so a sample's answer does not depend on its chunk.
 *
 * Returned per sample: the successful iterate with the smallest f (the most
 * confident adversarial example PGD found), else the last iterate. L2 and
 * cosine similarities are measured in the forward pass that yields the
 * gradient. MINE plays no part in the attack; with a MINE similarity the
 * returned x′ is *measured* afterwards: a fresh per-sample MINE network (the
 * one MinMax would start from: same sampler, config and (seed, sample id)
 * initialisation, libs/mine PerSampleMine) is trained `mineMeasure.steps`
 * Adam steps at `mineMeasure.learningRate` (default MINE_MEASURE: 100 steps at
 * 1e-3) on the fixed pair (x, x′), and its DV bound on a fresh permutation is
 * the sample's `similarity` (steps 0: NaN). The trace's similarities stay NaN.
 * The value is a lower bound of I(x, x′) after a short training, comparable
 * between samples and methods measured the same way — not with MinMax's MI,
 * which is its own network's bound during the attack.
 */
import { tf } from '../tensor/index.js';
import { type AttackConfig, attackSteps, mineMeasureOf, pgdStepSize } from './config.js';
import { createCriterion } from './criteria.js';
import { createSimilarity, type Similarity } from './similarity.js';
import { adversarial, AttackCancelledError, initialPerturbation, project, yieldToEventLoop, type ChunkHooks, type ChunkInput } from './minmax.js';
import type { AttackModel } from './model.js';
import type { SampleResult } from './result.js';

/** Per-sample choice: the smallest f ≤ 0 seen, else the latest iterate. */
class SignTracker {
  private readonly bestF: Float64Array;
  private readonly bestSim: Float64Array;
  private readonly bestIter: Int32Array;
  private readonly bestX: Float32Array;
  private readonly lastF: Float64Array;
  private readonly lastSim: Float64Array;
  private lastIter = 0;
  private readonly lastX: Float32Array;

  constructor(B: number, private readonly d: number) {
    this.bestF = new Float64Array(B).fill(Infinity);
    this.bestSim = new Float64Array(B).fill(NaN);
    this.bestIter = new Int32Array(B);
    this.bestX = new Float32Array(B * d);
    this.lastF = new Float64Array(B).fill(NaN);
    this.lastSim = new Float64Array(B).fill(NaN);
    this.lastX = new Float32Array(B * d);
  }

  observe(iteration: number, xAdv: Float32Array, f: Float32Array, sim: Float32Array | undefined): void {
    const d = this.d;
    this.lastIter = iteration;
    this.lastX.set(xAdv);
    for (let b = 0; b < f.length; b++) {
      const fb = f[b]!;
      const sb = sim ? sim[b]! : NaN;
      this.lastF[b] = fb;
      this.lastSim[b] = sb;
      if (fb <= 0 && fb < this.bestF[b]!) {
        this.bestF[b] = fb;
        this.bestSim[b] = sb;
        this.bestIter[b] = iteration;
        this.bestX.set(xAdv.subarray(b * d, (b + 1) * d), b * d);
      }
    }
  }

  result(b: number): Pick<SampleResult, 'xAdv' | 'success' | 'similarity' | 'f' | 'bestIteration'> {
    const d = this.d;
    if (this.bestF[b]! <= 0) {
      return { xAdv: this.bestX.slice(b * d, (b + 1) * d), success: true, similarity: this.bestSim[b]!, f: this.bestF[b]!, bestIteration: this.bestIter[b]! };
    }
    return { xAdv: this.lastX.slice(b * d, (b + 1) * d), success: false, similarity: this.lastSim[b]!, f: this.lastF[b]!, bestIteration: this.lastIter };
  }
}

async function read(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/**
 * I(x, x′) per sample of the returned x′: a fresh per-sample MINE (config's
 * similarity.mine at mineMeasure's learning rate, keyed by (seed, sample id))
 * trained mineMeasure.steps steps on the fixed pair, then one estimate.
 */
export async function measureMine(
  model: AttackModel,
  x: tf.Tensor,
  results: ReadonlyArray<Pick<SampleResult, 'sampleId' | 'xAdv'>>,
  config: AttackConfig,
): Promise<Float32Array> {
  const d = x.size / Math.max(1, x.shape[0]!);
  const stacked = new Float32Array(results.length * d);
  results.forEach((r, b) => stacked.set(r.xAdv, b * d));
  const xAdv = tf.tensor(stacked, x.shape);
  if (config.similarity.kind !== 'mine') throw new Error(`measureMine needs the MINE similarity, not ${config.similarity.kind}`);
  const measure = mineMeasureOf(config);
  const similarity = { kind: 'mine' as const, mine: { ...config.similarity.mine, learningRate: measure.learningRate } };
  const mine = createSimilarity(similarity, model, x, results.map((r) => ({ seed: config.seed, sampleId: r.sampleId })));
  try {
    mine.update(xAdv, measure.steps);
    return await read(mine.evaluate(xAdv));
  } finally {
    mine.dispose();
    xAdv.dispose();
  }
}

/**
 * Runs PGD or FGSM (config.method) on one stacked chunk. Every step's tensors
 * are freed before the next; reads are asynchronous; cancellation is checked
 * between steps.
 */
export async function signAttackChunk(model: AttackModel, input: ChunkInput, config: AttackConfig, hooks: ChunkHooks = {}): Promise<SampleResult[]> {
  if (config.method !== 'pgd' && config.method !== 'fgsm') throw new Error(`signAttackChunk runs pgd or fgsm, not ${config.method}`);
  const B = input.sampleIds.length;
  if (input.x.shape[0] !== B) throw new Error(`chunk has ${input.x.shape[0]} samples but ${B} sample ids`);
  const inputShape = input.x.shape.slice(1);
  const d = inputShape.reduce((a, b) => a * b, 1);
  const x = input.x;
  const steps = attackSteps(config);
  const alpha = pgdStepSize(config);
  const epsilon = config.epsilon;

  const criterion = createCriterion(config.criterion, model, { x, labels: input.labels });
  let similarity: Similarity | undefined;
  let delta: tf.Tensor | undefined;
  try {
    // Only the similarities that need no training are measured.
    if (config.similarity.kind !== 'mine') similarity = createSimilarity(config.similarity, model, x, []);
    const sim = similarity;
    // Madry's random start U(−ε, ε) (whatever `init` says: that is MinMax's δ0); FGSM starts at x.
    const start =
      config.method === 'pgd'
        ? initialPerturbation({ init: 'uniform-eps', epsilon, seed: config.seed }, inputShape, (await x.data()) as Float32Array, input.sampleIds)
        : new Float32Array(B * d);
    delta = tf.tensor(start, x.shape);
    const tracker = new SignTracker(B, d);
    const trace = config.trace ? input.sampleIds.map(() => ({ similarity: [] as number[], f: [] as number[], c: [] as number[] })) : undefined;
    const record = (iteration: number, xAdv: Float32Array, f: Float32Array, s: Float32Array | undefined) => {
      tracker.observe(iteration, xAdv, f, s);
      if (trace) {
        for (let b = 0; b < B; b++) {
          trace[b]!.f.push(f[b]!);
          trace[b]!.similarity.push(s ? s[b]! : NaN);
          trace[b]!.c.push(NaN);
        }
      }
    };

    // x′ of the iterate whose f (and similarity) the next forward pass measures.
    let pending: { iteration: number; xAdv: Float32Array } | undefined;
    for (let t = 0; t < steps; t++) {
      await yieldToEventLoop();
      if (hooks.signal?.aborted) throw new AttackCancelledError(hooks.signal.reason);
      // The forward pass of the gradient also measures the current iterate (f, similarity).
      const { grad, fT, simT } = tf.tidy(() => {
        let fT: tf.Tensor1D | undefined;
        let simT: tf.Tensor1D | undefined;
        const { value, grad } = tf.valueAndGrad((dl: tf.Tensor) => {
          const xa = adversarial(x, dl);
          const f = criterion.f(xa);
          fT = tf.keep(f);
          if (sim) simT = tf.keep(sim.evaluate(xa));
          // Samples never mix: ∂(Σ_b f_b)/∂δ_b = ∂f_b/∂δ_b.
          return tf.sum(f) as tf.Scalar;
        })(delta!);
        value.dispose();
        return { grad, fT: fT!, simT };
      });
      const fValues = await read(fT);
      const simValues = simT ? await read(simT) : undefined;
      if (pending) record(pending.iteration, pending.xAdv, fValues, simValues);
      const stepped = tf.tidy(() => project(x, tf.sub(delta!, tf.mul(tf.sign(grad), alpha)), epsilon));
      grad.dispose();
      delta.dispose();
      delta = stepped;
      pending = { iteration: t + 1, xAdv: await read(adversarial(x, delta)) };
      hooks.onIteration?.(t + 1);
    }
    if (pending) {
      const xa = adversarial(x, delta);
      try {
        const fValues = await read(criterion.f(xa));
        const simValues = sim ? await read(sim.evaluate(xa)) : undefined;
        record(pending.iteration, pending.xAdv, fValues, simValues);
      } finally {
        xa.dispose();
      }
    }
    const results = input.sampleIds.map((sampleId, b) => ({
      sampleId,
      ...tracker.result(b),
      // No c in these attacks.
      finalC: NaN,
      iterations: steps,
      ...(trace ? { trace: trace[b] } : {}),
    }));
    if (config.similarity.kind === 'mine' && mineMeasureOf(config).steps > 0) {
      if (hooks.signal?.aborted) throw new AttackCancelledError(hooks.signal.reason);
      const mi = await measureMine(model, x, results, config);
      results.forEach((r, b) => (r.similarity = mi[b]!));
    }
    return results;
  } finally {
    criterion.dispose();
    similarity?.dispose();
    delta?.dispose();
  }
}
