/**
 * The attack loop for one chunk of B samples, stacked: MinMax (Algorithm 1)
 * and the penalty baseline with binary search over c (the paper's Algorithm 3, SuppMat 6.5) share
 * it and differ only in how c evolves.
 *
 *   min_δ max_{c≥0}  c·relu(f(x′)) + s·sim(x, x′),   x′ = clip(x + δ, 0, 1), ‖δ‖∞ ≤ ε
 *
 * Each iteration t: (1) δ ← Proj(δ − α∇δ), (2) n_mine MINE steps at the new x′,
 * (3) c ← max(0, (1 − β/(t+1)^¼)·c + β·relu(f(x′))), (4) best-so-far.
 * Pairing in step 4: x′ and f(x′) after step 1 with the similarity measured
 * after step 2 (the reference's pairing). The similarity of iterate t+1 is read
 * off the forward pass of iteration t+2's gradient (same x′, same θ), so step 4
 * costs no extra MINE evaluation; the last iterate gets one final evaluation.
 */
import { tf } from '../tensor/index.js';
import { Rng, STREAM } from '../tensor/rng.js';
import { type AttackConfig, isSupervised, mineStepsOf } from './config.js';
import { createCriterion, type Criterion } from './criteria.js';
import { createSimilarity, type Similarity } from './similarity.js';
import type { AttackModel } from './model.js';
import type { SampleResult } from './result.js';
import type { Kinded } from '../errors/index.js';

export interface ChunkInput {
  /** B native samples, [B, ...inputShape], values in [0, 1]. */
  x: tf.Tensor;
  sampleIds: readonly number[];
  labels?: Int32Array;
}

export interface ChunkHooks {
  signal?: AbortSignal;
  /** Called after every iteration with the 1-based iteration number. */
  onIteration?: (iteration: number) => void;
}

export class AttackCancelledError extends Error implements Kinded {
  readonly kind = 'cancelled' as const;
  constructor(reason?: unknown) {
    super(`attack cancelled${reason instanceof Error ? `: ${reason.message}` : reason ? `: ${String(reason)}` : ''}`);
    this.name = 'AttackCancelledError';
  }
}

/**
 * TF1's default Glorot-uniform limit for a variable of shape [1, ...inputShape]
 * (the reference's δ): fans as TF computes them.
 */
export function glorotDeltaLimit(inputShape: readonly number[]): number {
  const shape = [1, ...inputShape];
  let fanIn: number;
  let fanOut: number;
  if (shape.length === 2) {
    [fanIn, fanOut] = shape as [number, number];
  } else {
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    fanIn = shape[shape.length - 2]! * receptive;
    fanOut = shape[shape.length - 1]! * receptive;
  }
  return Math.sqrt(6 / (fanIn + fanOut));
}

/**
 * The attack's starting perturbation δ0 for each sample, after Proj
 * (‖δ‖∞ ≤ ε, x + δ ∈ [0, 1]), in float32 exactly as the attack starts from it:
 * U(−a, a) from Rng(seed, sampleId, STREAM.delta). `x` is B × d, row-major.
 * The `init-noise` control (libs/augment) uses it to isolate what the
 * iterations add to this draw.
 */
export function initialPerturbation(
  config: Pick<AttackConfig, 'init' | 'epsilon' | 'seed'>,
  inputShape: readonly number[],
  x: Float32Array,
  sampleIds: readonly number[],
): Float32Array {
  const d = inputShape.reduce((a, b) => a * b, 1);
  if (x.length !== sampleIds.length * d) throw new Error(`initialPerturbation: ${x.length} values for ${sampleIds.length} samples of ${d}`);
  const a = config.init === 'glorot' ? glorotDeltaLimit(inputShape) : config.epsilon;
  const eps = Math.fround(config.epsilon);
  const out = new Float32Array(sampleIds.length * d);
  sampleIds.forEach((id, b) => new Rng(config.seed, id, STREAM.delta).fillUniform(out, -a, a, b * d, d));
  for (let i = 0; i < out.length; i++) {
    const xi = x[i]!;
    const di = Math.min(eps, Math.max(-eps, out[i]!));
    out[i] = Math.fround(Math.min(1, Math.max(0, Math.fround(xi + di))) - xi);
  }
  return out;
}

export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Proj: ‖δ‖∞ ≤ ε and x + δ ∈ [0, 1]. */
export function project(x: tf.Tensor, delta: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.clipByValue(tf.add(x, tf.clipByValue(delta, -epsilon, epsilon)), 0, 1), x));
}

/** x′ = clip(x + δ, 0, 1). */
export function adversarial(x: tf.Tensor, delta: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.clipByValue(tf.add(x, delta), 0, 1));
}

/** Step 1's update direction times its size: what is subtracted from δ before Proj. */
interface DeltaStep {
  step(grad: tf.Tensor): tf.Tensor;
  /** Forget any state (δ restarted; or the attack ended). */
  reset(): void;
}

/**
 * The δ update rules (AttackConfig.update). Adam's moments are per element,
 * hence per sample: the samples of a chunk never mix.
 */
function createDeltaStep(rule: AttackConfig['update'], alpha: number): DeltaStep {
  if (rule === 'gradient') return { step: (g) => tf.mul(g, alpha), reset: () => {} };
  if (rule === 'sign') return { step: (g) => tf.tidy(() => tf.mul(tf.sign(g), alpha)), reset: () => {} };
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  let m: tf.Tensor | undefined;
  let v: tf.Tensor | undefined;
  let t = 0;
  return {
    step(g) {
      t++;
      const [m1, v1] = tf.tidy(() => [
        m ? tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)) : tf.mul(g, 1 - beta1),
        v ? tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)) : tf.mul(tf.square(g), 1 - beta2),
      ]);
      m?.dispose();
      v?.dispose();
      m = m1;
      v = v1;
      const lr = (alpha * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      return tf.tidy(() => tf.mul(tf.div(m1!, tf.add(tf.sqrt(v1!), eps)), lr));
    },
    reset() {
      m?.dispose();
      v?.dispose();
      m = undefined;
      v = undefined;
      t = 0;
    },
  };
}

/** Per-sample best-so-far bookkeeping (step 4) and the failure fallback. */
class BestTracker {
  readonly bestSim: Float64Array;
  readonly bestF: Float64Array;
  readonly bestIter: Int32Array;
  readonly bestX: Float32Array;
  readonly success: Uint8Array;
  private readonly fallbackRelu: Float64Array;
  private readonly fallbackSim: Float64Array;
  private readonly fallbackF: Float64Array;
  private readonly fallbackIter: Int32Array;
  private readonly fallbackX: Float32Array;

  constructor(B: number, private readonly d: number, private readonly supervised: boolean, private readonly similarity: Similarity) {
    this.bestSim = new Float64Array(B).fill(supervised ? -Infinity : Infinity);
    this.bestF = new Float64Array(B).fill(NaN);
    this.bestIter = new Int32Array(B);
    this.bestX = new Float32Array(B * d);
    this.success = new Uint8Array(B);
    this.fallbackRelu = new Float64Array(B).fill(Infinity);
    this.fallbackSim = new Float64Array(B).fill(NaN);
    this.fallbackF = new Float64Array(B).fill(NaN);
    this.fallbackIter = new Int32Array(B);
    this.fallbackX = new Float32Array(B * d);
  }

  /** Seed the fallback with the initial point so every sample has an answer. */
  initial(xAdv: Float32Array, f: Float32Array): void {
    this.observe(0, xAdv, f, new Float32Array(f.length).fill(NaN), false);
  }

  observe(iteration: number, xAdv: Float32Array, f: Float32Array, sim: Float32Array, countsForBest = true): void {
    const d = this.d;
    for (let b = 0; b < f.length; b++) {
      const fb = f[b]!;
      const sb = sim[b]!;
      const relu = Math.max(0, fb);
      if (countsForBest && relu === 0 && this.similarity.eligible(sb)) {
        const better = this.supervised ? sb > this.bestSim[b]! : sb < this.bestSim[b]!;
        if (better) {
          this.bestSim[b] = sb;
          this.bestF[b] = fb;
          this.bestIter[b] = iteration;
          this.success[b] = 1;
          this.bestX.set(xAdv.subarray(b * d, (b + 1) * d), b * d);
        }
      }
      if (relu < this.fallbackRelu[b]!) {
        this.fallbackRelu[b] = relu;
        this.fallbackSim[b] = sb;
        this.fallbackF[b] = fb;
        this.fallbackIter[b] = iteration;
        this.fallbackX.set(xAdv.subarray(b * d, (b + 1) * d), b * d);
      }
    }
  }

  result(b: number): Pick<SampleResult, 'xAdv' | 'success' | 'similarity' | 'f' | 'bestIteration'> {
    const d = this.d;
    if (this.success[b]) {
      return { xAdv: this.bestX.slice(b * d, (b + 1) * d), success: true, similarity: this.bestSim[b]!, f: this.bestF[b]!, bestIteration: this.bestIter[b]! };
    }
    return { xAdv: this.fallbackX.slice(b * d, (b + 1) * d), success: false, similarity: this.fallbackSim[b]!, f: this.fallbackF[b]!, bestIteration: this.fallbackIter[b]! };
  }
}

/** How c evolves: MinMax's dual ascent, or the penalty method's binary search. */
interface CPolicy {
  /** After iteration t (0-based) with relu(f(x′_{t+1})). Returns true when δ must restart. */
  afterIteration(t: number, reluF: Float32Array, succeededInIteration: Uint8Array): boolean;
}

class MinMaxC implements CPolicy {
  constructor(private readonly c: Float32Array, private readonly beta: number) {}
  afterIteration(t: number, reluF: Float32Array): boolean {
    const decay = 1 - this.beta / Math.pow(t + 1, 0.25);
    for (let b = 0; b < this.c.length; b++) this.c[b] = Math.max(0, decay * this.c[b]! + this.beta * reluF[b]!);
    return false;
  }
}

/**
 * Carlini–Wagner binary search: S steps of T/S iterations with c fixed; after
 * a step, success → upper = min(upper, c), else lower = max(lower, c); next c
 * is the midpoint, or c·10 while no upper bound is known. δ restarts from its
 * initial draw at each step; the MINE networks keep training (they estimate,
 * they are not attack variables).
 */
class PenaltyC implements CPolicy {
  private readonly lower: Float64Array;
  private readonly upper: Float64Array;
  private readonly succeededInStep: Uint8Array;
  constructor(private readonly c: Float32Array, private readonly stepLength: number) {
    this.lower = new Float64Array(c.length);
    this.upper = new Float64Array(c.length).fill(1e10);
    this.succeededInStep = new Uint8Array(c.length);
  }
  afterIteration(t: number, _reluF: Float32Array, succeeded: Uint8Array): boolean {
    for (let b = 0; b < this.c.length; b++) if (succeeded[b]) this.succeededInStep[b] = 1;
    if ((t + 1) % this.stepLength !== 0) return false;
    for (let b = 0; b < this.c.length; b++) {
      const c = this.c[b]!;
      if (this.succeededInStep[b]) {
        this.upper[b] = Math.min(this.upper[b]!, c);
        this.c[b] = (this.lower[b]! + this.upper[b]!) / 2;
      } else {
        this.lower[b] = Math.max(this.lower[b]!, c);
        this.c[b] = this.upper[b]! < 1e10 ? (this.lower[b]! + this.upper[b]!) / 2 : c * 10;
      }
      this.succeededInStep[b] = 0;
    }
    return true;
  }
}

/**
 * Runs the configured attack on one stacked chunk. Memory stays flat: every
 * iteration's tensors are freed before the next.
 */
export async function attackChunk(model: AttackModel, input: ChunkInput, config: AttackConfig, hooks: ChunkHooks = {}): Promise<SampleResult[]> {
  if (config.method !== 'minmax' && config.method !== 'penalty') throw new Error(`attackChunk runs minmax or penalty; ${config.method} runs in signAttackChunk (libs/attack/pgd.ts)`);
  const B = input.sampleIds.length;
  if (input.x.shape[0] !== B) throw new Error(`chunk has ${input.x.shape[0]} samples but ${B} sample ids`);
  const inputShape = input.x.shape.slice(1);
  const d = inputShape.reduce((a, b) => a * b, 1);
  const supervised = isSupervised(config);
  const s = supervised ? -1 : 1;
  const mineSteps = mineStepsOf(config);
  const keys = input.sampleIds.map((sampleId) => ({ seed: config.seed, sampleId }));
  const x = input.x;

  const criterion: Criterion = createCriterion(config.criterion, model, { x, labels: input.labels });
  let similarity: Similarity | undefined;
  // Tensors alive across iterations, freed however the attack ends.
  let delta0: tf.Tensor | undefined;
  let delta: tf.Tensor | undefined;
  let deltaStep: DeltaStep = createDeltaStep('gradient', config.alpha);
  try {
    similarity = createSimilarity(config.similarity, model, x, keys);
    const sim = similarity;
    delta0 = tf.tensor(initialPerturbation(config, inputShape, await x.data() as Float32Array, input.sampleIds), x.shape);
    delta = tf.clone(delta0);
    deltaStep = createDeltaStep(config.update, config.alpha);
    const c = new Float32Array(B).fill(config.c0);
    const policy: CPolicy =
      config.method === 'minmax' ? new MinMaxC(c, config.beta) : new PenaltyC(c, Math.floor(config.iterations / config.searchSteps));
    const tracker = new BestTracker(B, d, supervised, sim);
    const trace = config.trace ? input.sampleIds.map(() => ({ similarity: [] as number[], f: [] as number[], c: [] as number[] })) : undefined;

    // Asynchronous reads only (a GPU backend has no synchronous one); each
    // disposes the tensor it read.
    const read = async (t: tf.Tensor): Promise<Float32Array> => {
      try {
        return (await t.data()) as Float32Array;
      } finally {
        t.dispose();
      }
    };
    {
      const [xa, f0] = tf.tidy(() => {
        const xa = adversarial(x, delta!);
        return [xa, criterion.f(xa)];
      });
      tracker.initial(await read(xa), await read(f0));
    }

    // Values of the previous iterate awaiting its similarity (bookkeeping lag).
    let pending: { iteration: number; xAdv: Float32Array; f: Float32Array } | undefined;
    const settle = (simValues: Float32Array) => {
      if (!pending) return;
      tracker.observe(pending.iteration, pending.xAdv, pending.f, simValues);
      if (trace) {
        for (let b = 0; b < B; b++) trace[b]!.similarity.push(simValues[b]!);
      }
      pending = undefined;
    };

    let ran = 0;
    for (let t = 0; t < config.iterations; t++) {
      // Let timers and I/O run (deadlines, cancellation, progress streams).
      await yieldToEventLoop();
      if (hooks.signal?.aborted) throw new AttackCancelledError(hooks.signal.reason);
      const cT = tf.tensor1d(c);
      // (1) gradient step on δ; the forward pass also measures the current iterate.
      const { grad, simT } = tf.tidy(() => {
        let simT: tf.Tensor1D | undefined;
        const { value, grad } = tf.valueAndGrad((dl: tf.Tensor) => {
          const xa = adversarial(x, dl);
          const f = criterion.f(xa);
          const sv = sim.evaluate(xa);
          simT = tf.keep(sv);
          return tf.sum(tf.add(tf.mul(cT, tf.relu(f)), tf.mul(sv, s))) as tf.Scalar;
        })(delta!);
        value.dispose();
        return { grad, simT: simT! };
      });
      cT.dispose();
      settle(await read(simT));
      const step = deltaStep.step(grad);
      const stepped = tf.tidy(() => project(x, tf.sub(delta!, step), config.epsilon));
      step.dispose();
      grad.dispose();
      delta.dispose();
      delta = stepped;

      // (2) MINE steps at the new x′.
      const xAdv = adversarial(x, delta);
      sim.update(xAdv, mineSteps);
      const fValues = await read(tf.tidy(() => criterion.f(xAdv)));
      const xAdvValues = await read(xAdv);

      // (3) c update; (4) best-so-far once the similarity is known.
      const reluF = fValues.map((v) => Math.max(0, v));
      const succeeded = Uint8Array.from(reluF, (v) => (v === 0 ? 1 : 0));
      const restart = policy.afterIteration(t, reluF, succeeded);
      pending = { iteration: t + 1, xAdv: xAdvValues, f: fValues };
      if (trace) {
        for (let b = 0; b < B; b++) {
          trace[b]!.f.push(fValues[b]!);
          trace[b]!.c.push(c[b]!);
        }
      }
      ran = t + 1;
      if (restart && t + 1 < config.iterations) {
        // Settle the last iterate of this search step before δ restarts.
        settle(await read(tf.tidy(() => sim.evaluate(adversarial(x, delta!)))));
        delta.dispose();
        delta = tf.clone(delta0);
        deltaStep.reset();
      }
      hooks.onIteration?.(t + 1);
    }
    if (pending) settle(await read(tf.tidy(() => sim.evaluate(adversarial(x, delta!)))));

    return input.sampleIds.map((sampleId, b) => ({
      sampleId,
      ...tracker.result(b),
      finalC: c[b]!,
      iterations: ran,
      ...(trace ? { trace: trace[b] } : {}),
    }));
  } finally {
    criterion.dispose();
    similarity?.dispose();
    delta?.dispose();
    delta0?.dispose();
    deltaStep.reset();
  }
}
