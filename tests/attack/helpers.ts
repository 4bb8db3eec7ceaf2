import { tf } from '../../libs/tensor/index.js';
import { Rng } from '../../libs/tensor/rng.js';
import type { AttackModel } from '../../libs/attack/index.js';

/** A tiny deterministic dense "autoencoder" so attack invariants test fast. */
export function tinyAutoencoder(d: number, seed = 1): AttackModel & { dispose(): void } {
  const rng = new Rng(seed, 42);
  const h = 8;
  const w1 = tf.tensor2d(rng.fillNormal(new Float32Array(d * h), 0, 0.3), [d, h]);
  const w2 = tf.tensor2d(rng.fillNormal(new Float32Array(h * d), 0, 0.3), [h, d]);
  return {
    inputShape: [d],
    reconstruct: (x: tf.Tensor) => tf.tidy(() => tf.sigmoid(tf.matMul(tf.sigmoid(tf.matMul(x as tf.Tensor2D, w1)), w2))),
    dispose: () => tf.dispose([w1, w2]),
  };
}

export function uniformSamples(n: number, d: number, seed: number): Float32Array {
  return new Rng(seed, 7).fillUniform(new Float32Array(n * d), 0, 1);
}
