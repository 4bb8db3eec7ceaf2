/** libs/results: the result document of a study, local (metrics.json) or from the cluster (docs/results-schema.md). */
export { RESULT_SCHEMA_VERSION, resultDocument, type ResultDocument, type ResultMeta, type ResultMetrics } from './document.js';
export { resultDocumentFromJob } from './from-job.js';
