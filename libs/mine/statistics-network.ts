/**
 * The MINE statistics network T_θ(X_i, Y_j) of ALGORITHMS.md §1, for B samples
 * at once, each with its own parameters stacked on a leading axis.
 *
 *   branch (conv draws):   conv k×k, F filters, stride 1, 'valid' → flatten → dense H → dense O
 *   branch (vector draws): dense H → dense O
 *   T(X_i, Y_j) = w_out · relu(branch_x(X_i) + branch_y(Y_j))      (no bias, no activation inside a branch)
 *
 * Exact algebra used for speed: joint pairs (X_i, Y_i) and marginal pairs
 * (X_i, Y_π(i)) share the x-branch rows, and the marginal y-branch rows are a
 * permutation of the joint ones, so each branch runs once per evaluation (the
 * reference runs four branch passes; this runs two).
 *
 * Dense layers keep their weights as [out, in] and compute hᵀ = W·xᵀ so that
 * the large weight is the streamed operand of every matMul and only the small
 * activation is packed (XNNPACK re-packs the right-hand operand each call).
 */
import { tf } from '../tensor/index.js';
import { Rng, STREAM } from '../tensor/rng.js';
import type { MineConfig } from './config.js';

/** Identifies one sample's random streams: results depend on these alone. */
export interface SampleKey {
  seed: number;
  sampleId: number;
}

interface BranchShape {
  /** Per-draw input shape: [H, W, C] (conv) or [D] (vector). */
  drawShape: number[];
}

function glorotLimit(fanIn: number, fanOut: number): number {
  return Math.sqrt(6 / (fanIn + fanOut));
}

/** Names and shapes (without the B axis) of one branch's parameters. */
function branchParamSpecs(drawShape: number[], cfg: MineConfig): { name: string; shape: number[]; limit: number }[] {
  const H = cfg.hidden;
  const O = cfg.branchOut;
  const specs: { name: string; shape: number[]; limit: number }[] = [];
  let features: number;
  if (drawShape.length === 3) {
    const [h, w, c] = drawShape as [number, number, number];
    const k = cfg.convKernel;
    if (h < k || w < k) throw new Error(`MINE conv branch: draw ${h}×${w} is smaller than its ${k}×${k} kernel`);
    const F = cfg.convFilters;
    // Keras conv kernel [k,k,C,F]: fan_in = k·k·C, fan_out = k·k·F.
    specs.push({ name: 'convW', shape: [k * k * c, F], limit: glorotLimit(k * k * c, k * k * F) });
    specs.push({ name: 'convB', shape: [1, F], limit: 0 });
    features = (h - k + 1) * (w - k + 1) * F;
  } else if (drawShape.length === 1) {
    features = drawShape[0]!;
  } else {
    throw new Error(`MINE draws must be [H,W,C] or [D]; got [${drawShape.join(',')}]`);
  }
  specs.push({ name: 'w1', shape: [H, features], limit: glorotLimit(features, H) });
  specs.push({ name: 'b1', shape: [H, 1], limit: 0 });
  specs.push({ name: 'w2', shape: [O, H], limit: glorotLimit(H, O) });
  specs.push({ name: 'b2', shape: [O, 1], limit: 0 });
  return specs;
}

export class StatisticsNetwork {
  /** Parameters, each with a leading axis of B samples. Order is fixed. */
  params: tf.Tensor[];
  readonly names: string[];
  readonly batch: number;
  private readonly drawShape: number[];
  private readonly cfg: MineConfig;

  private constructor(params: tf.Tensor[], names: string[], batch: number, branch: BranchShape, cfg: MineConfig) {
    this.params = params;
    this.names = names;
    this.batch = batch;
    this.drawShape = branch.drawShape;
    this.cfg = cfg;
  }

  /**
   * Fresh Glorot-uniform weights and zero biases (Keras defaults), drawn per
   * sample from its own stream so a sample's network does not depend on the
   * batch it travels in.
   */
  static init(keys: readonly SampleKey[], drawShape: number[], cfg: MineConfig): StatisticsNetwork {
    const branch = branchParamSpecs(drawShape, cfg);
    const specs = [
      ...branch.map((s) => ({ ...s, name: `x.${s.name}` })),
      ...branch.map((s) => ({ ...s, name: `y.${s.name}` })),
      { name: 'out', shape: [1, cfg.branchOut], limit: glorotLimit(cfg.branchOut, 1) },
    ];
    const B = keys.length;
    const buffers = specs.map((s) => new Float32Array(B * s.shape.reduce((a, b) => a * b, 1)));
    keys.forEach((key, b) => {
      const rng = new Rng(key.seed, key.sampleId, STREAM.mineInit);
      specs.forEach((s, i) => {
        const size = buffers[i]!.length / B;
        if (s.limit > 0) rng.fillUniform(buffers[i]!, -s.limit, s.limit, b * size, size);
      });
    });
    const params = specs.map((s, i) => tf.tensor(buffers[i]!, [B, ...s.shape], 'float32'));
    return new StatisticsNetwork(params, specs.map((s) => s.name), B, { drawShape }, cfg);
  }

  /** Number of parameters per sample. */
  get size(): number {
    return this.params.reduce((n, p) => n + p.size, 0) / this.batch;
  }

  /**
   * One branch on draws D: [B, n, ...drawShape] → [B, n, O], with params
   * taken from `p` starting at `offset`.
   */
  private branch(D: tf.Tensor, p: tf.Tensor[], offset: number): tf.Tensor3D {
    const B = this.batch;
    const n = D.shape[1]!;
    let zT: tf.Tensor3D; // [B, features, n]
    let i = offset;
    if (this.drawShape.length === 3) {
      const [h, w, c] = this.drawShape as [number, number, number];
      const k = this.cfg.convKernel;
      const oh = h - k + 1;
      const ow = w - k + 1;
      const F = this.cfg.convFilters;
      const x4 = tf.reshape(D, [B * n, h, w, c]);
      // 'valid' k×k conv as im2col + batched matMul with per-sample filters.
      const shifted: tf.Tensor4D[] = [];
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) shifted.push(tf.slice(x4, [0, ky, kx, 0], [B * n, oh, ow, c]) as tf.Tensor4D);
      }
      const patches = tf.reshape(k * k === 1 ? shifted[0]! : tf.concat(shifted, 3), [B, n * oh * ow, k * k * c]);
      const conv = tf.add(tf.matMul(patches, p[i++]!), p[i++]!); // [B, n·oh·ow, F]
      zT = tf.transpose(tf.reshape(conv, [B, n, oh * ow * F]), [0, 2, 1]);
    } else {
      zT = tf.transpose(D as tf.Tensor3D, [0, 2, 1]);
    }
    const h1 = tf.add(tf.matMul(p[i++]! as tf.Tensor3D, zT), p[i++]!); // [B, H, n]
    const h2 = tf.add(tf.matMul(p[i++]! as tf.Tensor3D, h1), p[i++]!); // [B, O, n]
    return tf.transpose(h2, [0, 2, 1]) as tf.Tensor3D;
  }

  /**
   * Per-sample Donsker–Varadhan bound [B]:
   *   I = mean_i T(X_i, Y_i) − (logsumexp_i T(X_i, Y_π(i)) − log n).
   * `perm` holds, for each sample b and draw i, the flat row b·n + π_b(i).
   * `p` defaults to the current parameters (pass others to differentiate).
   */
  dv(X: tf.Tensor, Y: tf.Tensor, perm: tf.Tensor1D, p: tf.Tensor[] = this.params): tf.Tensor1D {
    const B = this.batch;
    const n = X.shape[1]!;
    const perBranch = (p.length - 1) / 2;
    const hx = this.branch(X, p, 0);
    const hy = this.branch(Y, p, perBranch);
    const O = hx.shape[2];
    const hyShuffled = tf.reshape(tf.gather(tf.reshape(hy, [B * n, O]), perm), [B, n, O]);
    const wOut = p[p.length - 1]! as tf.Tensor3D; // [B, 1, O]
    const score = (h: tf.Tensor3D) => tf.reshape(tf.matMul(tf.relu(h), wOut, false, true), [B, n]);
    const joint = score(tf.add(hx, hy));
    const marginal = score(tf.add(hx, hyShuffled));
    return tf.sub(tf.mean(joint, 1), tf.sub(tf.logSumExp(marginal, 1), Math.log(n))) as tf.Tensor1D;
  }

  /** Replace the parameters (after an optimiser step); the old ones must be disposed by the caller. */
  setParams(params: tf.Tensor[]): void {
    this.params = params;
  }

  dispose(): void {
    for (const p of this.params) p.dispose();
    this.params = [];
  }
}
