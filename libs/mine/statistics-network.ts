/**
 * The MINE statistics network T_θ(X_i, Y_j) of the paper's Section 3.1 (SuppMat 6.2), for B samples
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
import type { LeanAdam } from '../tensor/adam.js';
import { fusedDenseStep, fusedDenseStepAvailable } from '../tensor/fused-dense.js';

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

/**
 * Sizes of one sample's statistics network for draws of `drawShape`, without
 * allocating anything (for budgets checked before a request runs):
 * trainable parameters of both branches, and the widest activation per draw
 * (the hidden layer, or the conv feature map when larger).
 */
export function statisticsNetworkSize(drawShape: number[], cfg: MineConfig): { parameters: number; features: number; activationPerDraw: number } {
  const specs = branchParamSpecs(drawShape, cfg);
  const perBranch = specs.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  const w1 = specs.find((p) => p.name === 'w1')!;
  const features = w1.shape[1]!;
  return { parameters: 2 * perBranch, features, activationPerDraw: Math.max(cfg.hidden, drawShape.length === 3 ? features : 0) };
}

/**
 * The shape of one draw for samples of `sampleShape`, before any model is
 * loaded: the conv sampler's draws are single first-conv feature maps, at most
 * [H, W, 1] for the zoo's 'same'-padded convs; the random sampler's are
 * `projectionDim`-vectors.
 */
export function drawShapeFor(cfg: MineConfig, sampleShape: readonly number[]): number[] {
  return cfg.sampler === 'conv' && sampleShape.length === 3 ? [sampleShape[0]!, sampleShape[1]!, 1] : [cfg.projectionDim];
}

/**
 * Bytes of the largest single tensor one sample adds to a stacked chunk: the
 * first dense weight w1 (hidden × features; its Adam moments and gradient are
 * the same size), or the random sampler's materialised projections (K·m × d,
 * `fixed` and `redraw-explicit` only). A device that caps the size of one
 * buffer binding (webgpu's maxStorageBufferBindingSize) fits at most
 * cap / this many samples in one chunk.
 */
export function largestPerSampleBytes(cfg: MineConfig, sampleShape: readonly number[]): number {
  const { features } = statisticsNetworkSize(drawShapeFor(cfg, sampleShape), cfg);
  const d = sampleShape.reduce((a, b) => a * b, 1);
  const projections = cfg.sampler === 'random' && cfg.projection !== 'redraw' ? cfg.draws * cfg.projectionDim * d : 0;
  return 4 * Math.max(cfg.hidden * features, projections);
}

/** Draws after the parameter-free part of a branch (see StatisticsNetwork.prepare). */
export interface PreparedDraws {
  t: tf.Tensor;
  /** Draws per sample. */
  n: number;
}

export class StatisticsNetwork {
  /** Parameters, each with a leading axis of B samples. Order is fixed. */
  params: tf.Tensor[];
  readonly names: string[];
  readonly batch: number;
  private readonly drawShape: number[];
  private readonly cfg: MineConfig;
  private patchFilterT: tf.Tensor4D | undefined;

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
   * The parameter-free part of a branch, computed once for inputs that do not
   * change between evaluations (the x draws; the y draws during MINE steps):
   * conv draws → k×k patches [B, n·oh·ow, k²C] (one conv with a fixed one-hot
   * filter, far cheaper than k² slices and a concat); vector draws → [B, D, n].
   */
  prepare(D: tf.Tensor): PreparedDraws {
    return tf.tidy(() => {
      const B = this.batch;
      const n = D.shape[1]!;
      if (this.drawShape.length === 3) {
        const [h, w, c] = this.drawShape as [number, number, number];
        const k = this.cfg.convKernel;
        const x4 = tf.reshape(D, [B * n, h, w, c]) as tf.Tensor4D;
        const patches = tf.conv2d(x4, this.patchFilter(), 1, 'valid');
        return { t: tf.reshape(patches, [B, n * (h - k + 1) * (w - k + 1), k * k * c]), n };
      }
      return { t: tf.transpose(D, [0, 2, 1]), n };
    });
  }

  /** One-hot filter [k, k, C, k²C] whose output channels are the k×k patch elements in (ky, kx, c) order. */
  private patchFilter(): tf.Tensor4D {
    if (!this.patchFilterT) {
      const [, , c] = this.drawShape as [number, number, number];
      const k = this.cfg.convKernel;
      const out = k * k * c;
      const buf = new Float32Array(k * k * c * out);
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          for (let ci = 0; ci < c; ci++) {
            const o = (ky * k + kx) * c + ci;
            buf[((ky * k + kx) * c + ci) * out + o] = 1;
          }
        }
      }
      this.patchFilterT = tf.keep(tf.tensor4d(buf, [k, k, c, out]));
    }
    return this.patchFilterT;
  }

  /**
   * The dense layer's input of a conv branch, z = conv(patches) as [B, n, features]
   * (row j = draw j), with params from `p` at `offset`.
   */
  private convFeatures(input: PreparedDraws, p: tf.Tensor[], offset: number): tf.Tensor3D {
    const [h, w] = this.drawShape as [number, number, number];
    const k = this.cfg.convKernel;
    const F = this.cfg.convFilters;
    // 'valid' k×k conv with per-sample filters: patches @ filter, batched.
    const conv = tf.add(tf.matMul(input.t as tf.Tensor3D, p[offset]! as tf.Tensor3D), p[offset + 1]!); // [B, n·oh·ow, F]
    return tf.reshape(conv, [this.batch, input.n, (h - k + 1) * (w - k + 1) * F]);
  }

  /** One branch on prepared draws → [B, n, O], with params taken from `p` starting at `offset`. */
  private branch(input: PreparedDraws, p: tf.Tensor[], offset: number): tf.Tensor3D {
    let zT: tf.Tensor3D; // [B, features, n]
    let i = offset;
    if (this.drawShape.length === 3) {
      zT = tf.transpose(this.convFeatures(input, p, i), [0, 2, 1]) as tf.Tensor3D;
      i += 2;
    } else {
      zT = input.t as tf.Tensor3D;
    }
    const h1 = tf.matMul(p[i++]! as tf.Tensor3D, zT) as tf.Tensor3D; // [B, H, n], before its bias
    return this.head(h1, p, i);
  }

  /** The rest of a branch from the first dense layer's product (bias not added) → [B, n, O]. */
  private head(h1: tf.Tensor3D, p: tf.Tensor[], i: number): tf.Tensor3D {
    const h1b = tf.add(h1, p[i++]!); // [B, H, n]
    const h2 = tf.add(tf.matMul(p[i++]! as tf.Tensor3D, h1b), p[i++]!); // [B, O, n]
    return tf.transpose(h2, [0, 2, 1]) as tf.Tensor3D;
  }

  /**
   * Per-sample Donsker–Varadhan bound [B]:
   *   I = mean_i T(X_i, Y_i) − (logsumexp_i T(X_i, Y_π(i)) − log n).
   * `perm` holds, for each sample b and draw i, the flat row b·n + π_b(i).
   * `p` defaults to the current parameters (pass others to differentiate).
   */
  dv(X: tf.Tensor, Y: tf.Tensor, perm: tf.Tensor1D, p: tf.Tensor[] = this.params): tf.Tensor1D {
    return tf.tidy(() => this.dvPrepared(this.prepare(X), this.prepare(Y), perm, p));
  }

  /** dv on prepared draws (see prepare). */
  dvPrepared(px: PreparedDraws, py: PreparedDraws, perm: tf.Tensor1D, p: tf.Tensor[] = this.params): tf.Tensor1D {
    const perBranch = (p.length - 1) / 2;
    return this.bound(this.branch(px, p, 0), this.branch(py, p, perBranch), perm, p[p.length - 1]! as tf.Tensor3D);
  }

  /** The DV bound [B] from both branches' outputs [B, n, O]. */
  private bound(hx: tf.Tensor3D, hy: tf.Tensor3D, perm: tf.Tensor1D, wOut: tf.Tensor3D): tf.Tensor1D {
    const B = this.batch;
    const n = hx.shape[1];
    const O = hx.shape[2];
    const hyShuffled = tf.reshape(tf.gather(tf.reshape(hy, [B * n, O]), perm), [B, n, O]);
    const score = (h: tf.Tensor3D) => tf.reshape(tf.matMul(tf.relu(h), wOut, false, true), [B, n]);
    const joint = score(tf.add(hx, hy));
    const marginal = score(tf.add(hx, hyShuffled));
    return tf.sub(tf.mean(joint, 1), tf.sub(tf.logSumExp(marginal, 1), Math.log(n))) as tf.Tensor1D;
  }

  /**
   * Whether `fusedTrainStep` applies: conv draws (the 11664→512 dense layers
   * hold 99.9% of the parameters) on a backend with the fused kernel.
   */
  canFuseTraining(): boolean {
    if (this.drawShape.length !== 3) return false;
    const [h, w] = this.drawShape as [number, number, number];
    const k = this.cfg.convKernel;
    return fusedDenseStepAvailable(this.cfg.hidden, (h - k + 1) * (w - k + 1) * this.cfg.convFilters);
  }

  /**
   * One Adam step maximising the DV bound, with each branch's first dense
   * layer trained by the fused kernel (UaeMineDenseStep): one pass over W₁
   * forms its rank-n gradient dh·z on the fly, applies Adam to W₁ and returns
   * the input gradient dz = dhᵀ·W₁ (old W₁) for the conv filters below. The
   * forward pass and every other parameter's gradient are the autograd path's
   * own ops, so the result equals `valueAndGrads` + `LeanAdam.step` up to the
   * summation order of dW₁ and dz. Returns the bound [B] before the update.
   */
  fusedTrainStep(px: PreparedDraws, py: PreparedDraws, perm: tf.Tensor1D, adam: LeanAdam): tf.Tensor1D {
    const p = this.params;
    const perBranch = (p.length - 1) / 2; // 6: convW, convB, w1, b1, w2, b2
    const offsets = [0, perBranch];
    const inputs = [px, py];
    // Forward to the first dense layer's products (as `branch`).
    const z = offsets.map((o, b) => tf.tidy(() => this.convFeatures(inputs[b]!, p, o)));
    const h1 = offsets.map((o, b) => tf.tidy(() => tf.matMul(p[o + 2]! as tf.Tensor3D, tf.transpose(z[b]!, [0, 2, 1]) as tf.Tensor3D)));
    // Gradients of everything above W₁·z: dh₁ for both branches and the small parameters.
    const headIdx = offsets.flatMap((o) => [o + 3, o + 4, o + 5]).concat([p.length - 1]);
    const perSample: tf.Tensor1D[] = [];
    const { value, grads } = tf.valueAndGrads((h1x: tf.Tensor, h1y: tf.Tensor, ...q: tf.Tensor[]) => {
      const hp = [...p];
      headIdx.forEach((idx, i) => (hp[idx] = q[i]!));
      const dv = this.bound(this.head(h1x as tf.Tensor3D, hp, offsets[0]! + 3), this.head(h1y as tf.Tensor3D, hp, offsets[1]! + 3), perm, hp[p.length - 1]! as tf.Tensor3D);
      perSample.push(tf.keep(dv));
      return tf.sum(dv) as tf.Scalar;
    })([h1[0]!, h1[1]!, ...headIdx.map((i) => p[i]!)]);
    value.dispose();
    tf.dispose(h1);
    const [dh1x, dh1y, ...headGrads] = grads;
    const dh1 = [dh1x!, dh1y!];
    const attrs = adam.beginStep();
    const next = [...p];
    offsets.forEach((o, b) => {
      // W₁: the fused pass; the conv filters' gradients from its dz.
      let dz: tf.Tensor | undefined;
      next[o + 2] = adam.updateFused(o + 2, (m, v) => {
        const out = fusedDenseStep(p[o + 2]!, m, v, z[b]!, dh1[b]!, attrs);
        dz = out[3]!;
        return out.slice(0, 3);
      });
      p[o + 2]!.dispose();
      const F = this.cfg.convFilters;
      const [dConvW, dConvB] = tf.tidy(() => {
        const dConv = tf.reshape(dz!, [this.batch, -1, F]); // as conv: [B, n·oh·ow, F]
        return [tf.matMul(inputs[b]!.t as tf.Tensor3D, dConv, true, false), tf.sum(dConv, 1, true)];
      });
      tf.dispose([dz!, dh1[b]!, z[b]!]);
      next[o] = adam.update(o, p[o]!, dConvW!, attrs);
      next[o + 1] = adam.update(o + 1, p[o + 1]!, dConvB!, attrs);
    });
    headIdx.forEach((idx, i) => (next[idx] = adam.update(idx, p[idx]!, headGrads[i]!, attrs)));
    this.params = next;
    return perSample[0]!;
  }

  /** Replace the parameters (after an optimiser step); the old ones must be disposed by the caller. */
  setParams(params: tf.Tensor[]): void {
    this.params = params;
  }

  dispose(): void {
    for (const p of this.params) p.dispose();
    this.params = [];
    this.patchFilterT?.dispose();
    this.patchFilterT = undefined;
  }
}
