/**
 * Analytic FLOP counts (multiply and add counted separately) of the work the
 * attack actually executes, so benchmarks can report achieved GFLOPS. Only
 * matMul-shaped work is counted; elementwise ops, Adam and transposes are
 * memory traffic, not FLOPs.
 */
import type { MineConfig } from '../libs/mine/index.js';

interface Branch {
  forward: number;
  /** dW of every layer. */
  weightGrads: number;
  /** Gradient with respect to the branch input (needed below a conv layer, or to reach x′). */
  inputGrad: number;
  /** Gradient below the first dense layer, to reach the conv filters (conv branch only). */
  denseInputGrad: number;
}

function branchFlops(drawShape: number[], n: number, cfg: MineConfig): Branch {
  const H = cfg.hidden;
  const O = cfg.branchOut;
  let features: number;
  let convFwd = 0;
  if (drawShape.length === 3) {
    const [h, w, c] = drawShape as [number, number, number];
    const k = cfg.convKernel;
    const q = (h - k + 1) * (w - k + 1);
    features = q * cfg.convFilters;
    convFwd = 2 * n * q * k * k * c * cfg.convFilters;
  } else {
    features = drawShape[0]!;
  }
  const dense1 = 2 * n * features * H;
  const dense2 = 2 * n * H * O;
  return {
    forward: convFwd + dense1 + dense2,
    weightGrads: convFwd + dense1 + dense2,
    inputGrad: convFwd + dense1 + dense2,
    denseInputGrad: drawShape.length === 3 ? dense1 + dense2 : dense2,
  };
}

/** One MINE training step for one sample: both branches forward and all weight gradients. */
export function mineStepFlops(drawShape: number[], n: number, cfg: MineConfig): number {
  const b = branchFlops(drawShape, n, cfg);
  return 2 * (b.forward + b.weightGrads + b.denseInputGrad);
}

/**
 * One attack (δ) step for one sample: both branches forward, the y branch
 * backward to its input, plus the model's forward/backward and the sampler.
 */
export function attackStepFlops(drawShape: number[], n: number, cfg: MineConfig, modelForward: number, samplerForward: number): number {
  const b = branchFlops(drawShape, n, cfg);
  // x′: model forward+backward (criterion), sampler forward+backward (y draws),
  // then one more model forward for f after the step.
  return 2 * b.forward + b.inputGrad + 3 * modelForward + 2 * samplerForward + modelForward;
}

/** Per sample for a whole MinMax run of T iterations with nMine MINE steps each. */
export function attackRunFlops(iterations: number, nMine: number, mineStep: number, attackStep: number): number {
  return iterations * (nMine * mineStep + attackStep);
}

/** Conv AE forward FLOPs for one 28×28×1-style input (5 convs, 5×5 'same'). */
export function convAeForwardFlops(h: number, w: number, c: number): number {
  const conv = (hh: number, ww: number, cin: number, cout: number) => 2 * hh * ww * cin * cout * 25;
  return conv(h, w, c, 16) + conv(h / 2, w / 2, 16, 8) + conv(h / 4, w / 4, 8, 8) + conv(h / 2, w / 2, 8, 16) + conv(h, w, 16, c);
}

export function denseAeForwardFlops(d: number, hidden: number): number {
  return 2 * d * hidden * 2;
}

/** The paper's attack settings (Section 4.1): T = 40 iterations, 20 MINE steps each. */
export const PAPER_T = 40;
export const PAPER_MINE_STEPS = 20;
/** The conv sampler's draws per sample on the zoo's conv AE: its 16 first-layer feature maps. */
export const CONV_AE_DRAWS = 16;

/**
 * Per sample for a MinMax run on the 28×28×1 conv AE with the conv sampler:
 * T iterations of nMine MINE steps (the sampler's cost: one first-conv pass, a fifth of the AE's forward).
 */
export function convAeConvSamplerRunFlops(iterations: number, nMine: number, cfg: MineConfig): number {
  const forward = convAeForwardFlops(28, 28, 1);
  const step = mineStepFlops([28, 28, 1], CONV_AE_DRAWS, cfg);
  const attackStep = attackStepFlops([28, 28, 1], CONV_AE_DRAWS, cfg, forward, forward / 5);
  return attackRunFlops(iterations, nMine, step, attackStep);
}
