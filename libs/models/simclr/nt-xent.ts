/**
 * NT-Xent, SimCLR's contrastive loss (Chen et al. 2020, Eq. 1): a batch of N
 * images gives 2N views z (rows 0…N−1 the first view of each image, rows
 * N…2N−1 the second, in the same order); view i's positive is its image's
 * other view j, its negatives the other 2N − 2 views, and
 *
 *   ℓᵢ = −log( exp(sim(zᵢ, zⱼ)/τ) / Σ_{k≠i} exp(sim(zᵢ, z_k)/τ) ),  sim = cosine,
 *
 * the loss being the mean of ℓᵢ over the 2N views. Cosine similarity makes it
 * invariant to scaling each embedding.
 */
import { tf } from '../../tensor/index.js';

export const DEFAULT_TEMPERATURE = 0.5;

/** Rows scaled to unit length (a zero row stays zero). */
export function l2Normalize(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(z, tf.rsqrt(tf.maximum(tf.sum(tf.square(z), 1, true), 1e-24))) as tf.Tensor2D);
}

/** Masks a logit out of a log-sum-exp: exp(x − 1e9) is 0 in float32. */
const MASKED = 1e9;

/** ℓᵢ of every view, [2N] (differentiable in z). */
export function ntXentPerView(z: tf.Tensor2D, temperature = DEFAULT_TEMPERATURE): tf.Tensor1D {
  const [rows] = z.shape;
  if (rows % 2 !== 0 || rows < 2) throw new Error(`NT-Xent needs 2N ≥ 2 views (two per image), got ${rows}`);
  if (!(temperature > 0)) throw new Error(`temperature must be > 0, got ${temperature}`);
  const n = rows / 2;
  const positive = new Int32Array(rows).map((_, i) => (i + n) % rows);
  return tf.tidy(() => {
    const zn = l2Normalize(z);
    const logits = tf.sub(tf.div(tf.matMul(zn, zn, false, true), temperature), tf.mul(tf.eye(rows), MASKED));
    const pos = tf.sum(tf.mul(logits, tf.oneHot(tf.tensor1d(positive, 'int32'), rows)), 1);
    return tf.sub(tf.logSumExp(logits, 1), pos) as tf.Tensor1D;
  });
}

/** The NT-Xent loss of the batch: the mean of ntXentPerView. */
export function ntXent(z: tf.Tensor2D, temperature = DEFAULT_TEMPERATURE): tf.Scalar {
  return tf.tidy(() => tf.mean(ntXentPerView(z, temperature)) as tf.Scalar);
}

/**
 * Each sample's NT-Xent terms against a fixed bank of negatives, [B]: for
 * sample b with views u = z1[b], v = z2[b] and the bank r (rows of `bank`),
 * ½ (ℓ(u) + ℓ(v)) with ℓ(u) = −log( exp(sim(u, v)/τ) / (exp(sim(u, v)/τ) + Σ_k exp(sim(u, r_k)/τ)) ),
 * i.e. the two anchor terms of sample b in a batch made of b and the bank's
 * images (whose own terms are left out). No sample enters another's value.
 */
export function ntXentAgainstBank(z1: tf.Tensor2D, z2: tf.Tensor2D, bank: tf.Tensor2D, temperature = DEFAULT_TEMPERATURE): tf.Tensor1D {
  if (!(temperature > 0)) throw new Error(`temperature must be > 0, got ${temperature}`);
  return tf.tidy(() => {
    const [u, v, r] = [l2Normalize(z1), l2Normalize(z2), l2Normalize(bank)];
    const suv = tf.div(tf.sum(tf.mul(u, v), 1, true), temperature);
    const term = (a: tf.Tensor2D) => {
      const logits = tf.concat([suv, tf.div(tf.matMul(a, r, false, true), temperature)], 1);
      return tf.sub(tf.logSumExp(logits, 1), tf.reshape(suv, [-1]));
    };
    return tf.mul(tf.add(term(u), term(v)), 0.5) as tf.Tensor1D;
  });
}
