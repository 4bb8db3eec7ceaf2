export { reconstructionError, attackSuccessRate, improvement, summarize, type Summary } from './metrics.js';
export { downstreamAccuracy, encodeAll, type DownstreamOptions, type LabelledSplit } from './downstream.js';
export { ExtraTreesClassifier, extraTreesAccuracy, type ExtraTreesOptions } from './extra-trees.js';
export { tCritical, meanInterval, pairedComparison, type MeanInterval, type PairedComparison, type Verdict } from './stats.js';
export {
  frechetDistance,
  frechetDistanceOfMoments,
  gaussianMoments,
  kernelInceptionDistance,
  polynomialMmd2,
  KID_DEFAULTS,
  type FeatureRows,
  type GaussianMoments,
  type KidOptions,
  type KidResult,
} from './fid.js';
export {
  trainFeatureModel,
  saveFeatureModel,
  loadFeatureModel,
  extractFeatures,
  FEATURE_MODEL_DEFAULTS,
  type FeatureModel,
  type FeatureModelOptions,
  type FeatureModelRecord,
} from './feature-model.js';
