/**
 * A lean Adam for plain tensors (no tf.Variable, no tf.train.Optimizer).
 *
 * tf.train.adam keeps every temporary of its update alive until the step ends;
 * with per-sample MINE networks (~12 M parameters per sample) that overflowed
 * wasm's 4 GiB heap at 8 samples. Here each parameter is updated by one fused
 * kernel (registered in kernels/register.ts for wasm and cpu; other backends
 * compose it from tfjs ops) and the old tensors are freed at once.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UAE_ADAM_UPDATE } from './kernels/adam-update-math.js';

export interface AdamConfig {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  /** TF1's AdamOptimizer default (the reference implementation's). */
  epsilon?: number;
  /** 'max' to ascend (e.g. MINE maximises its lower bound). */
  goal?: 'min' | 'max';
}

/** One step's constants (UaeAdamUpdate's attributes). */
export interface AdamStepAttrs {
  lrT: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  direction: number;
}

export class LeanAdam {
  private m: tf.Tensor[];
  private v: tf.Tensor[];
  private t = 0;
  private readonly lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly direction: number;

  constructor(params: readonly tf.Tensor[], config: AdamConfig) {
    this.lr = config.learningRate;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.999;
    this.epsilon = config.epsilon ?? 1e-8;
    this.direction = config.goal === 'max' ? -1 : 1;
    this.m = params.map((p) => tf.zerosLike(p));
    this.v = params.map((p) => tf.zerosLike(p));
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  /**
   * Returns the updated parameters; disposes the given params and grads.
   * Grads must be in the same order as the params given to the constructor.
   */
  step(params: tf.Tensor[], grads: tf.Tensor[]): tf.Tensor[] {
    if (params.length !== this.m.length || grads.length !== this.m.length) {
      throw new Error(`LeanAdam: expected ${this.m.length} params and grads, got ${params.length} and ${grads.length}`);
    }
    const attrs = this.beginStep();
    return params.map((w, i) => this.update(i, w, grads[i]!, attrs));
  }

  /**
   * Starts a step taken parameter by parameter (with `update` or `updateFused`,
   * each parameter once): advances t and returns the step's attributes.
   */
  beginStep(): AdamStepAttrs {
    this.t += 1;
    const lrT = (this.lr * Math.sqrt(1 - this.beta2 ** this.t)) / (1 - this.beta1 ** this.t);
    return { lrT, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, direction: this.direction };
  }

  /** Updates parameter i with gradient g (both disposed); returns the new parameter. */
  update(i: number, w: tf.Tensor, g: tf.Tensor, attrs: AdamStepAttrs): tf.Tensor {
    const m = this.m[i]!;
    const v = this.v[i]!;
    let next: tf.Tensor[];
    if (tf.getKernel(UAE_ADAM_UPDATE, tf.getBackend()) !== undefined) {
      next = tf.engine().runKernel(UAE_ADAM_UPDATE, { w, g, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    } else {
      next = tf.tidy(() => {
        const m2 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v2 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const w2 = tf.sub(w, tf.div(tf.mul(m2, attrs.lrT * this.direction), tf.add(tf.sqrt(v2), this.epsilon)));
        return [w2, m2, v2];
      });
    }
    w.dispose();
    g.dispose();
    return this.replaceMoments(i, next);
  }

  /**
   * Updates parameter i with a fused kernel that takes its moments and returns
   * [w′, m′, v′] (the gradient never materialises; see libs/mine's fused
   * dense step). The old moments are disposed; the caller disposes the old w.
   */
  updateFused(i: number, fused: (m: tf.Tensor, v: tf.Tensor) => tf.Tensor[]): tf.Tensor {
    return this.replaceMoments(i, fused(this.m[i]!, this.v[i]!));
  }

  private replaceMoments(i: number, next: tf.Tensor[]): tf.Tensor {
    this.m[i]!.dispose();
    this.v[i]!.dispose();
    this.m[i] = next[1]!;
    this.v[i] = next[2]!;
    return next[0]!;
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
    this.m = [];
    this.v = [];
  }
}
