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
 */
import { tf } from '../tensor/index.js';
import type { Rng } from '../tensor/rng.js';

interface Basis {
  /** Orthonormal vectors spanning {x, x′} (0, 1 or 2 of them). */
  u: Float64Array[];
  /** Coordinates of x and x′ in that basis. */
  cx: number[];
  cy: number[];
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>, d: number, ao = 0, bo = 0): number {
  let s = 0;
  for (let i = 0; i < d; i++) s += a[ao + i]! * b[bo + i]!;
  return s;
}

function basisOf(x: Float32Array, y: Float32Array, off: number, d: number): Basis {
  const u: Float64Array[] = [];
  // Gram–Schmidt on (x, x′), dropping (near-)dependent vectors.
  for (const [v, o] of [[x, off], [y, off]] as const) {
    const r = new Float64Array(d);
    for (let i = 0; i < d; i++) r[i] = v[o + i]!;
    const norm0 = Math.sqrt(dot(r, r, d));
    for (const e of u) {
      const c = dot(r, e, d);
      for (let i = 0; i < d; i++) r[i]! -= c * e[i]!;
    }
    const norm = Math.sqrt(dot(r, r, d));
    if (norm > 1e-6 * norm0 && norm > 1e-30) {
      for (let i = 0; i < d; i++) r[i]! /= norm;
      u.push(r);
    }
  }
  return { u, cx: u.map((e) => dot(x, e, d, off)), cy: u.map((e) => dot(y, e, d, off)) };
}

/**
 * Draws for B samples: X and Y are [B, N] raw projections (before
 * standardisation); Y is differentiable with respect to xAdv with the exact
 * backward above. `rngs[b]` is sample b's projection stream.
 */
export function lazyProjectPair(x: tf.Tensor, xAdv: tf.Tensor, rngs: readonly Rng[], n: number, m: number): { X: tf.Tensor2D; Y: tf.Tensor2D } {
  const B = x.shape[0]!;
  const d = x.size / B;
  const xs = x.dataSync() as Float32Array;
  const ys = xAdv.dataSync() as Float32Array;
  const std = 1 / Math.sqrt(m);
  const X = new Float32Array(B * n);
  const Y = new Float32Array(B * n);
  const bases: Basis[] = [];
  const draws: Float32Array[][] = [];
  for (let b = 0; b < B; b++) {
    const basis = basisOf(xs, ys, b * d, d);
    const a = basis.u.map(() => rngs[b]!.fillNormal(new Float32Array(n), 0, std));
    for (let j = 0; j < a.length; j++) {
      const aj = a[j]!;
      const cx = basis.cx[j]!;
      const cy = basis.cy[j]!;
      for (let k = 0; k < n; k++) {
        X[b * n + k]! += cx * aj[k]!;
        Y[b * n + k]! += cy * aj[k]!;
      }
    }
    bases.push(basis);
    draws.push(a);
  }
  const project = tf.customGrad(((xa: tf.Tensor) => ({
    value: tf.tensor2d(Y, [B, n]),
    gradFunc: (dy: tf.Tensor) => {
      const g = dy.dataSync();
      const dx = new Float32Array(B * d);
      for (let b = 0; b < B; b++) {
        const { u } = bases[b]!;
        const go = b * n;
        const gNorm = Math.sqrt(dot(g, g, n, go, go));
        // P⊥ z with z ~ N(0, (‖g‖²/m) I_d): the part of A·g outside span(x, x′).
        const z = rngs[b]!.fillNormal(new Float32Array(d), 0, gNorm * std);
        // Coefficient of u_j in A·g: ⟨a_j, g⟩ from the span, minus z's own u_j part (projected out).
        const coef = u.map((e, j) => dot(draws[b]![j]!, g, n, 0, go) - dot(z, e, d));
        for (let i = 0; i < d; i++) {
          let v = z[i]!;
          for (let j = 0; j < u.length; j++) v += u[j]![i]! * coef[j]!;
          dx[b * d + i] = v;
        }
      }
      return tf.reshape(tf.tensor2d(dx, [B, d]), xa.shape);
    },
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as (xa: tf.Tensor) => tf.Tensor2D;
  return { X: tf.tensor2d(X, [B, n]), Y: project(xAdv) };
}
