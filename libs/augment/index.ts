export {
  runAugmentation,
  parseMethod,
  type AugmentationConfig,
  type AugmentationMethod,
  type AugmentationReport,
  type RoundReport,
  type AugmentationHooks,
  type MethodMetrics,
} from './pipeline.js';
export { downstreamOptions } from './pipeline.js';
export * from './stages.js';
export { generateUaes, similarityFor, type GenerateOptions } from './generate.js';
export { carveValidation, validationCount, extraTreesProbe, probeTrainSplit, retrainPlan, stepsTaken, resolveProtocol, RETRAIN_SCHEDULES, type RetrainSchedule, type ProbeKind, type ValidationConfig, type ProtocolRecord, type OriginalMetrics, type GeneratedSet } from './pipeline.js';
export { runStudy, aggregateStudy, checkSeeds, STUDY_METRICS, COMPARED_METRICS, type StudyMetrics, type ArmAggregate, type Comparison, type StudyHooks, type StudyMetric } from './study.js';
export { sampleBundle, methodBundle, stackAdversarial, type BundleInput } from './bundle.js';
export { sampleDiagnostics, summarizeDiagnostics, diagnosticsCsv, type SampleDiagnostics, type DiagnosticsSummary } from './diagnostics.js';
export { horizontalFlip, randomRotation, rotationAngle } from './conventional.js';
export { studyMarkdown } from './markdown.js';
export { scoreGeneratedSets, setDistances, KID_SCALE, type SetScoring, type SetDistance } from './fid.js';
export {
  parseRunConfig,
  mergeRunConfig,
  runConfigDifferences,
  augmentationConfigOf,
  PipelineRunSchema,
  PIPELINE_DEFAULTS,
  CONVERGENCE_THRESHOLD,
  RUN_CONFIG_KIND,
  RunConfigError,
  type PipelineRun,
  type PipelineRunInput,
  type RecordedRun,
  type StudyAttack,
} from './run-config.js';
