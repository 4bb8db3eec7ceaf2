/**
 * Fresh random projections of a pair (x, x′) without materialising the
 * matrices — exact in distribution.
 *
 * The reference draws A ∈ R^{d×N} (N = K·m columns, i.i.d. N(0, 1/m) entries)
 * at every evaluation and uses it three ways: X = xᵀA, Y = x′ᵀA, and, in the
 * attack's backward pass, ∂L/∂x′ = A·g with g = ∂L/∂Y. Nothing else of A is
 * observed. Take an orthonormal basis u₁, u₂ of span(x, x′) (Gram–Schmidt) and
 * write A = u₁a₁ᵀ + u₂a₂ᵀ + P⊥A with a_j = Aᵀu_j. Because A's columns are
 * i.i.d. isotropic Gaussians, a₁, a₂ ~ N(0, I/m) and P⊥A are independent, so
 *   X = Σ_j ⟨x, u_j⟩ a_j,   Y = Σ_j ⟨x′, u_j⟩ a_j,
 *   A·g = Σ_j u_j ⟨a_j, g⟩ + P⊥ z,   z ~ N(0, (‖g‖²/m) I_d),
 * have exactly the joint law of the reference's (X, Y, A·g). Cost per
 * evaluation: 2N + d normals and O(N + d) work, instead of d·N normals and a
 * d×N matMul (500×784×128 = 50 M normals for a 28×28 image).
 *
 * Everything that depends on x and x′ (the basis, the coordinates, A·g) is
 * computed with tensor ops, so nothing is read back from the device: on webgpu
 * a synchronous read is impossible, on a GPU it would stall every evaluation.
 * Only the normals come from the host, from each sample's own stream: a₁ and
 * a₂ at every evaluation (a₂'s coordinates are zero when x′ ∥ x or x = 0, so
 * the dropped direction changes nothing), then z's d standard normals in the
 * backward pass.
 */
import { tf } from '../tensor/index.js';
import type { Rng } from '../tensor/rng.js';

/** Below this a vector counts as zero (Gram–Schmidt drops it). */
const TINY = 1e-30;
/** A second direction shorter than this share of ‖x′‖ is dependent on the first. */
const DEPENDENT = 1e-6;

/** Per-row inner product of [B, d] tensors: [B, 1]. */
function rowDot(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.sum(tf.mul(a, b), 1, true);
}

/** v / ‖v‖ per row where `keep`, else 0: [B, d]. */
function unitWhere(v: tf.Tensor, norm: tf.Tensor, keep: tf.Tensor): tf.Tensor {
  return tf.mul(tf.div(v, tf.maximum(norm, TINY)), keep);
}

/** B vectors of n normals N(0, std²), sample b's from rngs[b]: [B, n]. */
function normals(rngs: readonly Rng[], n: number, std: number): tf.Tensor2D {
  const out = new Float32Array(rngs.length * n);
  rngs.forEach((rng, b) => rng.fillNormal(out, 0, std, b * n, n));
  return tf.tensor2d(out, [rngs.length, n]);
}

/**
 * Draws for B samples: X and Y are [B, N] raw projections (before
 * standardisation); Y is differentiable with respect to xAdv with the exact
 * backward above. `rngs[b]` is sample b's projection stream.
 */
export function lazyProjectPair(x: tf.Tensor, xAdv: tf.Tensor, rngs: readonly Rng[], n: number, m: number): { X: tf.Tensor2D; Y: tf.Tensor2D } {
  const B = x.shape[0]!;
  const d = x.size / B;
  const std = 1 / Math.sqrt(m);
  const xf = tf.reshape(x, [B, d]);
  // Orthonormal basis of span(x, x′) by Gram–Schmidt: u₁ = x/‖x‖ (none when
  // x = 0), u₂ = the unit part of x′ orthogonal to u₁ (none when dependent).
  const nx = tf.norm(xf, 'euclidean', 1, true);
  const keep1 = tf.cast(tf.greater(nx, TINY), 'float32');
  const u1 = unitWhere(xf, nx, keep1);
  const a1 = normals(rngs, n, std);
  const a2 = normals(rngs, n, std);
  const project = tf.customGrad(((xa: tf.Tensor, save: (tensors: tf.Tensor[]) => void) => {
    const ya = tf.reshape(xa, [B, d]);
    const c1 = rowDot(ya, u1);
    const r = tf.sub(ya, tf.mul(c1, u1));
    const nr = tf.norm(r, 'euclidean', 1, true);
    const ny = tf.norm(ya, 'euclidean', 1, true);
    const keep2 = tf.cast(tf.logicalAnd(tf.greater(nr, tf.mul(ny, DEPENDENT)), tf.greater(nr, TINY)), 'float32');
    const u2 = unitWhere(r, nr, keep2);
    const c2 = tf.mul(nr, keep2);
    // Everything the backward uses goes through save(): the forward's scope disposes the rest.
    save([u1, a1, a2, u2]);
    return {
      // Y = ⟨x′, u₁⟩ a₁ + ⟨x′, u₂⟩ a₂
      value: tf.add(tf.mul(c1, a1), tf.mul(c2, a2)),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = tf.reshape(dy as tf.Tensor, [B, n]);
        const [u1s, a1s, a2s, u2s] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        // z ~ N(0, (‖g‖²/m) I_d): standard normals from the host, scaled on the device.
        const z = tf.mul(normals(rngs, d, 1), tf.mul(tf.norm(g, 'euclidean', 1, true), std));
        // A·g = Σ_j u_j ⟨a_j, g⟩ + P⊥ z, P⊥ z = z − Σ_j u_j ⟨z, u_j⟩.
        const along = (u: tf.Tensor, a: tf.Tensor) => tf.mul(u, tf.sub(rowDot(a, g), rowDot(z, u)));
        return tf.reshape(tf.add(z, tf.add(along(u1s, a1s), along(u2s, a2s))), xa.shape);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as (xa: tf.Tensor) => tf.Tensor2D;
  // X = ⟨x, u₁⟩ a₁ = ‖x‖ a₁ (x has no u₂ part).
  return { X: tf.mul(tf.mul(nx, keep1), a1) as tf.Tensor2D, Y: project(xAdv) };
}
