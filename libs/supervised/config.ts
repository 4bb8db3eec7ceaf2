/**
 * The supervised study's configuration (the paper's Section 4.3, Table 3,
 * Figure 3; SuppMat 6.16–6.17, Figures 9 and 10a): one flat, typed document
 * whose field names are the `uae supervised` flags in camelCase. Every
 * default lives here (SUPERVISED_DEFAULTS).
 */
import { z } from 'zod';
import { CLASSIFIER_KINDS, type ClassifierKind } from '../models/index.js';
import type { Kinded } from '../errors/index.js';

const epsilonList = z.array(z.number().min(0).max(1)).min(1).max(64);
const positiveEpsilons = z.array(z.number().gt(0).max(1)).min(1).max(16);

export const SupervisedConfigSchema = z
  .object({
    /** Dataset spec (libs/data loadDataset); must be images [H, W, C] (the conv autoencoder's UAEs). */
    dataset: z.string().min(1),
    dataDir: z.string().min(1).optional(),
    /** Seeded training / test subsets (default: the whole split). */
    trainSamples: z.number().int().min(2).optional(),
    testSamples: z.number().int().min(1).optional(),

    /** The classifier of all four trainings. */
    model: z.enum(CLASSIFIER_KINDS as [ClassifierKind, ...ClassifierKind[]]).default('cnn-classifier'),
    /** mlp-classifier: hidden width. */
    hidden: z.number().int().min(0).max(65_536).optional(),
    /** Training epochs of Std and Adv (the -UAE variants train as many epochs on original ∪ UAEs). */
    epochs: z.number().int().min(1).max(10_000).default(20),
    batchSize: z.number().int().min(1).max(100_000).default(100),
    learningRate: z.number().gt(0).max(10).default(1e-3),
    /** Seeds model initialisation, shuffles, subsets and every attack. */
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(0),

    /** Madry adversarial training: the L∞ radius of its PGD examples and their steps per batch. */
    advEpsilon: z.number().gt(0).max(1).default(0.1),
    advSteps: z.number().int().min(1).max(1000).default(7),

    /** Training samples that get a UAE (the first of the training subset; default all). */
    uaeSamples: z.number().int().min(1).optional(),
    /** Epochs of the conv autoencoder the UAEs attack (the reference's 20). */
    aeEpochs: z.number().int().min(1).max(10_000).default(20),
    /** UAE attack: MinMax iterations T and MINE steps per iteration (the unsupervised defaults, 40 and 20). */
    uaeIterations: z.number().int().min(1).max(100_000).default(40),
    uaeMineSteps: z.number().int().min(0).max(10_000).default(20),
    /** UAE attack: MINE sampler on the autoencoder (its first conv layer, as the reference; or random projections). */
    uaeSampler: z.enum(['conv', 'random']).default('conv'),

    /** Table 3: test samples correctly classified by Std that are attacked. */
    samples: z.number().int().min(1).max(100_000).default(100),
    /** Table 3: total iterations T of both MinMax and the penalty baseline (the paper's 1000). */
    iterations: z.number().int().min(1).max(100_000).default(1000),
    /** Table 3: the penalty baseline's binary-search steps S (T/S iterations each). */
    searchSteps: z.number().int().min(1).max(100).default(10),
    /**
     * Table 3: MINE sampler. `random` (the default, for cost): Gaussian
     * projections of the flattened image; `conv`: the classifier's first conv
     * layer (cnn-classifier only).
     */
    sampler: z.enum(['conv', 'random']).default('random'),
    /** Table 3: random sampler's projections K. */
    mineDraws: z.number().int().min(2).max(100_000).default(500),
    /** Table 3: MINE steps per iteration (the supervised 1). */
    mineSteps: z.number().int().min(0).max(10_000).default(1),
    /** Table 3: the step size α of δ (MinMax and penalty; the attack's default 0.01). */
    alpha: z.number().gt(0).max(100).default(0.01),
    /** Table 3: CW margin κ. */
    kappa: z.number().min(0).default(0),

    /** Figure 3: samples shown (the first Table 3 samples) and the PGD radii of its columns. */
    gridSamples: z.number().int().min(1).max(64).default(4),
    gridEpsilons: positiveEpsilons.default([0.1, 0.2, 0.3]),

    /** Robustness curves: PGD radii (0: no attack, the clean error of the samples) and PGD steps (also Figure 3's). */
    epsilons: epsilonList.default([0, 0.05, 0.1, 0.15, 0.2, 0.3]),
    pgdSteps: z.number().int().min(1).max(100_000).default(100),

    /** Worker threads of the UAE attack (default: the backend's preference). */
    workers: z.number().int().min(1).max(256).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.iterations < c.searchSteps) ctx.addIssue({ code: 'custom', path: ['iterations'], message: `must be ≥ searchSteps (${c.searchSteps}) for the penalty baseline` });
    if (c.sampler === 'conv' && c.model !== 'cnn-classifier') ctx.addIssue({ code: 'custom', path: ['sampler'], message: `conv needs a conv classifier (cnn-classifier), not ${c.model}; use random` });
    if (c.hidden !== undefined && c.model !== 'mlp-classifier') ctx.addIssue({ code: 'custom', path: ['hidden'], message: 'only applies to mlp-classifier' });
    if (new Set(c.epsilons).size !== c.epsilons.length) ctx.addIssue({ code: 'custom', path: ['epsilons'], message: 'lists a radius twice' });
  });

export type SupervisedConfig = z.infer<typeof SupervisedConfigSchema>;
export type SupervisedConfigInput = z.input<typeof SupervisedConfigSchema>;

/** Every default of the study, in one place (docs/supervised.md quotes them). */
export const SUPERVISED_DEFAULTS: Readonly<Omit<SupervisedConfig, 'dataset'>> = SupervisedConfigSchema.parse({ dataset: '-' });

export class SupervisedConfigError extends Error implements Kinded {
  readonly kind = 'invalid' as const;
  override name = 'SupervisedConfigError';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/**
 * Parses and resolves the configuration; a bad field throws a
 * SupervisedConfigError naming it (`fieldName` renames it, e.g. to a flag).
 */
export function supervisedConfig(input: unknown, opts: { fieldName?: (field: string) => string } = {}): SupervisedConfig {
  const r = SupervisedConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const name = opts.fieldName ?? ((f: string) => f);
  const issue = r.error.issues[0]!;
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!].join('.') : issue.path.join('.');
  const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  throw new SupervisedConfigError(name(path || 'config'), message);
}
