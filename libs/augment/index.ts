export {
  runAugmentation,
  parseMethod,
  type AugmentationConfig,
  type AugmentationMethod,
  type AugmentationReport,
  type AugmentationHooks,
  type MethodMetrics,
} from './pipeline.js';
export { downstreamOptions } from './pipeline.js';
export * from './stages.js';
export { generateUaes, similarityFor, type GenerateOptions } from './generate.js';
