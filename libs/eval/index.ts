export { reconstructionError, attackSuccessRate, improvement, summarize, type Summary } from './metrics.js';
export { downstreamAccuracy, encodeAll, type DownstreamOptions, type LabelledSplit } from './downstream.js';
