/**
 * Per-pass cost of one MINE training step and one attack (δ) step, measured on
 * the main thread by timing every wasm kernel call (exclusive of the kernels it
 * calls itself, e.g. BatchMatMul's transposes) while one sample is attacked,
 * and attributing each call to a pass by kernel and shape. "outside kernels"
 * is the wall time no kernel accounts for (tfjs bookkeeping, JS, tape).
 */
import { tf } from '../libs/tensor/index.js';
import { PerSampleMine } from '../libs/mine/index.js';
import { attackChunk, attackConfig, type AttackModel } from '../libs/attack/index.js';

export interface Pass {
  pass: string;
  ms: number;
  share: number;
}

export interface StepBreakdown {
  mine_step_ms: number;
  attack_step_ms: number;
  mine_step: Pass[];
  attack_step: Pass[];
}

/** Elements at or above which a tensor counts as one of the two big W₁ weights (or their gradient). */
const BIG = 1_000_000;

const size = (t: tf.TensorInfo) => t.shape.reduce((a, b) => a * b, 1);

function classify(kernel: string, inputs: tf.TensorInfo[], outputs: tf.TensorInfo[]): string {
  const bigIn = inputs.some((t) => size(t) >= BIG);
  const out = outputs.reduce((n, t) => n + size(t), 0);
  switch (kernel) {
    case 'UaeMineDenseStep':
      return 'fused W₁ pass (grad + Adam + dz)';
    case 'UaeAdamUpdate':
      return bigIn ? 'Adam on W₁' : 'Adam, other parameters';
    case 'Transpose':
      return bigIn ? 'transpose of W₁' : 'other kernels';
    case 'BatchMatMul':
    case '_FusedMatMul':
      if (out >= BIG) return 'W₁ gradient dh·zᵀ';
      if (bigIn) return out >= 100_000 ? 'gradient below W₁ (Wᵀ·dh)' : 'forward W₁·z';
      return 'small matMuls';
    default:
      return /Conv2D|MaxPool|Resize|FusedConv|DepthwiseConv/.test(kernel) ? 'conv kernels (AE, sampler)' : 'other kernels';
  }
}

type KernelRec = { phase: 'mine' | 'attack'; pass: string; ms: number };

/**
 * Runs `iterations` attack iterations with `mineSteps` MINE steps on one sample
 * (iterations ≥ 2; the first is not counted) and returns the per-pass split. The kernel registry's functions are wrapped
 * for the duration only.
 */
export async function stepBreakdown(model: AttackModel, x: Float32Array, inputShape: number[], iterations: number, mineSteps: number): Promise<StepBreakdown> {
  const records: KernelRec[] = [];
  let phase: 'mine' | 'attack' = 'attack';
  // Only iterations 2..T count: the first carries the attack's set-up (MINE
  // initialisation, sampler caches, first-call costs).
  let counting = false;
  const wall = { mine: 0, attack: 0 };
  let depth = 0;
  let childMs = 0;
  const configs = tf.getKernelsForBackend('wasm');
  const saved = configs.map((c) => c.kernelFunc);
  for (const c of configs) {
    const f = c.kernelFunc;
    const name = c.kernelName;
    (c as { kernelFunc: tf.KernelFunc }).kernelFunc = (args) => {
      const outerChild = childMs;
      childMs = 0;
      depth++;
      const t0 = performance.now();
      let out: tf.TensorInfo | tf.TensorInfo[];
      try {
        out = f(args);
      } finally {
        depth--;
      }
      const ms = performance.now() - t0;
      const inputs = Object.values(args.inputs).filter((t): t is tf.TensorInfo => t !== undefined);
      if (counting) records.push({ phase, pass: classify(name, inputs, Array.isArray(out) ? out : [out]), ms: ms - childMs });
      childMs = outerChild + ms;
      return out;
    };
  }
  const train = PerSampleMine.prototype.train;
  PerSampleMine.prototype.train = function (this: PerSampleMine, ...a: Parameters<typeof train>) {
    phase = 'mine';
    const t0 = performance.now();
    try {
      return train.apply(this, a);
    } finally {
      if (counting) wall.mine += performance.now() - t0;
      phase = 'attack';
    }
  };
  try {
    const xt = tf.tensor(x, [1, ...inputShape]);
    let t0 = 0;
    let t1 = 0;
    await attackChunk(model, { x: xt, sampleIds: [0] }, attackConfig({ iterations, mineSteps }), {
      onIteration: (t) => {
        if (t === 1) {
          counting = true;
          t0 = performance.now();
        } else if (t === iterations) {
          t1 = performance.now();
          counting = false;
        }
      },
    });
    wall.attack = t1 - t0 - wall.mine;
    xt.dispose();
  } finally {
    configs.forEach((c, i) => ((c as { kernelFunc: tf.KernelFunc }).kernelFunc = saved[i]!));
    PerSampleMine.prototype.train = train;
  }
  const split = (p: 'mine' | 'attack', steps: number): { total: number; passes: Pass[] } => {
    const byPass = new Map<string, number>();
    for (const r of records) if (r.phase === p) byPass.set(r.pass, (byPass.get(r.pass) ?? 0) + r.ms);
    const kernels = [...byPass.values()].reduce((a, b) => a + b, 0);
    byPass.set('outside kernels (tfjs, JS)', Math.max(0, wall[p] - kernels));
    const total = wall[p] / steps;
    const passes = [...byPass.entries()]
      .map(([pass, ms]) => ({ pass, ms: ms / steps, share: ms / wall[p] }))
      .sort((a, b) => b.ms - a.ms);
    return { total, passes };
  };
  const mine = split('mine', (iterations - 1) * mineSteps);
  const attack = split('attack', iterations - 1);
  return { mine_step_ms: mine.total, attack_step_ms: attack.total, mine_step: mine.passes, attack_step: attack.passes };
}
