/**
 * Typed configuration of per-sample MINE (the paper's Section 3.1, SuppMat 6.2), with the
 * reference implementation's values as defaults.
 */
import { z } from 'zod';

export const MineConfigSchema = z.object({
  /**
   * How one pair (x, x′) becomes a batch of draws: `conv` uses the model's
   * first conv layer (each filter map is a draw); `random` uses K Gaussian
   * projections to `projectionDim` dims, the same matrices for x and x′.
   */
  sampler: z.enum(['conv', 'random']).default('conv'),
  /** K, the number of random projections (random sampler). Table 8: saturates near 500. */
  draws: z.number().int().min(2).max(100_000).default(500),
  projectionDim: z.number().int().min(2).max(4096).default(128),
  /**
   * `redraw`: new projection matrices at every evaluation, as the reference's
   * in-graph draw does, sampled without materialising them (exact in
   * distribution, see lazy-projection.ts). `redraw-explicit`: the same with
   * the d×K·m matrices materialised, as the reference does (slow; for
   * verification). `fixed`: drawn once per sample.
   */
  projection: z.enum(['redraw', 'redraw-explicit', 'fixed']).default('redraw'),
  /** Statistics network: conv branch filters and kernel (conv draws only). */
  convFilters: z.number().int().min(1).max(1024).default(16),
  convKernel: z.number().int().min(1).max(8).default(2),
  /** Statistics network: hidden width and branch output width. */
  hidden: z.number().int().min(1).max(65_536).default(512),
  branchOut: z.number().int().min(1).max(4096).default(10),
  /** Adam learning rate used to maximise the DV bound. */
  learningRate: z.number().positive().max(10).default(1.5e-5),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  /** TF1 AdamOptimizer's default epsilon. */
  epsilon: z.number().positive().default(1e-8),
});

export type MineConfig = z.infer<typeof MineConfigSchema>;
export type MineConfigInput = z.input<typeof MineConfigSchema>;

export function mineConfig(input: MineConfigInput = {}): MineConfig {
  return MineConfigSchema.parse(input);
}
