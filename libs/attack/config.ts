/**
 * Typed attack configuration (the paper's Section 3.3, Algorithm 1, and the penalty baseline of SuppMat 6.5) with the reference
 * implementation's values as defaults.
 */
import { z } from 'zod';
import { MineConfigSchema } from '../mine/config.js';

export const SimilaritySchema = z.discriminatedUnion('kind', [
  /** Per-sample MINE (the paper's method). */
  z.object({ kind: z.literal('mine'), mine: MineConfigSchema.default(MineConfigSchema.parse({})) }),
  /** −‖x′ − x‖² (L2-UAE: maximising distance instead of minimising MI). */
  z.object({ kind: z.literal('l2') }),
  /** cos(x, x′) (Table 13 ablation). */
  z.object({ kind: z.literal('cosine') }),
]);
export type SimilarityConfig = z.infer<typeof SimilaritySchema>;

export const CriterionSchema = z.discriminatedUnion('kind', [
  /** f = ‖x − AE(x′)‖² − ‖x − AE(x)‖² + κ (unsupervised, autoencoders). */
  z.object({ kind: z.literal('reconstruction'), kappa: z.number().min(0).default(0) }),
  /** f = L(x′) − L(x) + κ for the model's own per-sample loss L (unsupervised). */
  z.object({ kind: z.literal('loss'), kappa: z.number().min(0).default(0) }),
  /** Carlini–Wagner margin on logits (supervised); targeted when `targets` are given per sample. */
  z.object({ kind: z.literal('cw'), kappa: z.number().min(0).default(0), targeted: z.boolean().default(false) }),
]);
export type CriterionConfig = z.infer<typeof CriterionSchema>;

export const AttackConfigSchema = z
  .object({
    /**
     * MinMax (Algorithm 1), the penalty baseline with binary search over c
     * (§4), or the gradient-sign baselines without a similarity term (ours,
     * beyond the paper; libs/attack/pgd.ts): `pgd` is Madry et al.'s L∞ PGD
     * with a random start (`iterations` steps of `stepSize` within `epsilon`),
     * `fgsm` Goodfellow et al.'s single step of size `epsilon` from x.
     */
    method: z.enum(['minmax', 'penalty', 'pgd', 'fgsm']).default('minmax'),
    criterion: CriterionSchema.default({ kind: 'reconstruction', kappa: 0 }),
    similarity: SimilaritySchema.default({ kind: 'mine', mine: MineConfigSchema.parse({}) }),
    /** T, attack iterations: steps on δ (penalty: total over all search steps; pgd: its steps; fgsm: ignored, one step). */
    iterations: z.number().int().min(1).max(100_000).default(40),
    /** L∞ bound on δ; 1 = no effective bound (the paper's recommendation for MINE attacks). pgd/fgsm: the ball's radius (and FGSM's step). */
    epsilon: z.number().gt(0).max(1).default(1),
    /** Step size of the step on δ (minmax, penalty; pgd has stepSize). */
    alpha: z.number().gt(0).max(100).default(0.01),
    /**
     * The δ update of step 1: `gradient` is the paper's plain step δ − α∇ (the
     * default); `sign` is δ − α·sign(∇) (FGSM-style, every element moves α);
     * `adam` is Adam on δ with learning rate α (per-sample moments, reset when the
     * penalty method restarts δ). The latter two are ours, beyond the paper: they
     * test whether a better-scaled MI term changes what MINE-UAEs are.
     */
    update: z.enum(['gradient', 'sign', 'adam']).default('gradient'),
    /** c-update rate. */
    beta: z.number().gt(0).max(1).default(0.1),
    /** Initial c. */
    c0: z.number().min(0).max(1e10).default(1e-3),
    /** MINE Adam steps per iteration; default 20 unsupervised, 1 supervised. */
    mineSteps: z.number().int().min(0).max(10_000).optional(),
    /**
     * Initial δ: `glorot` is the small U(−a, a), a = √(6/(fan_in+fan_out)),
     * that the reference really uses (TF1's default initialiser for its
     * variable); `uniform-eps` is U(−ε, ε), which the reference text names.
     */
    init: z.enum(['glorot', 'uniform-eps']).default('glorot'),
    /**
     * PGD's α, the size of each sign step. Unset: 2.5·ε/iterations, the usual
     * rule for Madry et al.'s PGD (the steps together cover 2.5ε, so an iterate
     * can cross the ball from any random start and still move along its
     * boundary). Only pgd.
     */
    stepSize: z.number().gt(0).max(100).optional(),
    /**
     * pgd/fgsm with the MINE similarity: how the returned x′ is measured once
     * the sign attack is done (libs/attack/pgd.ts) — a fresh per-sample MINE
     * network (similarity.mine's sampler and sizes) trained `steps` Adam steps
     * at `learningRate` on the fixed pair (x, x′). Unset: MINE_MEASURE (100
     * steps at 1e-3: at MINE's own 1.5e-5, 100 steps leave the network at its
     * initialisation). steps 0: not measured (NaN). Only pgd and fgsm.
     */
    mineMeasure: z
      .object({ steps: z.number().int().min(0).max(100_000).default(100), learningRate: z.number().positive().max(10).default(1e-3) })
      .optional(),
    /** Penalty baseline: S binary-search steps of T/S iterations each. */
    searchSteps: z.number().int().min(1).max(100).default(4),
    /** Record MI, f and c at every iteration. */
    trace: z.boolean().default(false),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  })
  .superRefine((c, ctx) => {
    if (c.stepSize !== undefined && c.method !== 'pgd') {
      ctx.addIssue({ code: 'custom', path: ['stepSize'], message: `only applies to the pgd method (this is ${c.method}; minmax and penalty step by alpha, fgsm by epsilon)` });
    }
    if (c.mineMeasure !== undefined && !(c.method === 'pgd' || c.method === 'fgsm')) {
      ctx.addIssue({ code: 'custom', path: ['mineMeasure'], message: `only applies to the pgd and fgsm methods (this is ${c.method}, whose MINE trains during the attack: mineSteps)` });
    }
    if (c.method === 'penalty' && c.iterations < c.searchSteps) {
      ctx.addIssue({ code: 'custom', path: ['iterations'], message: `must be ≥ searchSteps (${c.searchSteps}) for the penalty method` });
    }
  });

export type AttackConfig = z.infer<typeof AttackConfigSchema>;
export type AttackConfigInput = z.input<typeof AttackConfigSchema>;

export function attackConfig(input: AttackConfigInput = {}): AttackConfig {
  return AttackConfigSchema.parse(input);
}

/** The gradient-sign baselines (libs/attack/pgd.ts): no similarity term, no c. */
export function isSignBaseline(c: Pick<AttackConfig, 'method'>): boolean {
  return c.method === 'pgd' || c.method === 'fgsm';
}

/** Steps on δ the attack runs: FGSM's one, else `iterations`. */
export function attackSteps(c: Pick<AttackConfig, 'method' | 'iterations'>): number {
  return c.method === 'fgsm' ? 1 : c.iterations;
}

/** PGD's step size α: the configured one, else Madry et al.'s 2.5·ε/steps; FGSM's is ε. */
export function pgdStepSize(c: Pick<AttackConfig, 'method' | 'iterations' | 'epsilon' | 'stepSize'>): number {
  if (c.method === 'fgsm') return c.epsilon;
  return c.stepSize ?? (2.5 * c.epsilon) / c.iterations;
}

export function isSupervised(c: AttackConfig): boolean {
  return c.criterion.kind === 'cw';
}

/** pgd/fgsm: how the MINE network that measures I(x, x′) after the attack trains, unless configured. */
export const MINE_MEASURE = { steps: 100, learningRate: 1e-3 } as const;

export function mineMeasureOf(c: Pick<AttackConfig, 'mineMeasure'>): { steps: number; learningRate: number } {
  return c.mineMeasure ?? MINE_MEASURE;
}

/** n_mine: 20 Adam steps per iteration unsupervised, 1 supervised (§3). */
export function mineStepsOf(c: AttackConfig): number {
  return c.mineSteps ?? (isSupervised(c) ? 1 : 20);
}
