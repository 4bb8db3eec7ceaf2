/** libs/supervised: the supervised study (Table 3, Figure 3, adversarial training + UAE, robustness curves; docs/supervised.md). */
export { SupervisedConfigSchema, SUPERVISED_DEFAULTS, SupervisedConfigError, supervisedConfig, type SupervisedConfig, type SupervisedConfigInput } from './config.js';
export {
  runSupervisedStudy,
  checkSupervisedData,
  studyAttacks,
  predictAll,
  miInterval,
  CLASSIFIER_NAMES,
  CLASSIFIER_LABELS,
  SUPERVISED_RESULT_KIND,
  SupervisedDataError,
  type ClassifierName,
  type ClassifierStore,
  type ClassifierMetrics,
  type CurveSeries,
  type GridImages,
  type LabelledSplit,
  type MiInterval,
  type StudyHooks,
  type StudyProgress,
  type SupervisedData,
  type SupervisedMetrics,
  type SupervisedOutcome,
  type StageRecord,
  type Table3Row,
  type UaeSet,
} from './study.js';
export { supervisedData } from './data.js';
