export { reconstructionError, attackSuccessRate, improvement, summarize, type Summary } from './metrics.js';
