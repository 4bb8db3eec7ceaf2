export {
  runAugmentation,
  parseMethod,
  type AugmentationConfig,
  type AugmentationMethod,
  type AugmentationReport,
  type AugmentationHooks,
  type MethodMetrics,
} from './pipeline.js';
