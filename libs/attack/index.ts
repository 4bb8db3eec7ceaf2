export * from './config.js';
export type { AttackModel } from './model.js';
export type { SampleResult, IterationTrace } from './result.js';
export { createCriterion, type Criterion, type CriterionContext } from './criteria.js';
export { createSimilarity, type Similarity } from './similarity.js';
export { attackChunk, glorotDeltaLimit, initialPerturbation, AttackCancelledError, type ChunkInput, type ChunkHooks } from './minmax.js';
export { runAttack, chunkSizeFor, validateAttackInput, AttackInputError, type AttackInput, type AttackProgress, type RunAttackOptions } from './engine.js';
export { runAttackParallel, AttackPool, type PortableModel, type ParallelAttackOptions } from './parallel.js';
export { gaussianAugment } from './gaussian.js';
