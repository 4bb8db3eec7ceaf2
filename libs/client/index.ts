/**
 * libs/client: a typed client for a running uae system (docs/clients.md).
 *
 *   import { connect, UaeClientError } from '../libs/client/index.js';
 *   const uae = connect({ address: 'orchestrator:50050', token });
 *   const { job } = await uae.jobs.submitPipeline(config);
 *   const done = await uae.jobs.wait(job!.jobId, { onMessage: (m) => … });
 *   uae.close();
 */
export {
  connect,
  type UaeClient,
  type ConnectOptions,
  type TlsOptions,
  type SubmitOptions,
  type WatchOptions,
  type ListJobsFilter,
  type PutOptions,
  type DownloadOptions,
  type HealthStatus,
} from './client.js';
export type { CallOptions } from './calls.js';
export { UaeClientError, Status, statusName, statusCode, toClientError, FIELD_TRAILER, ERROR_REF_TRAILER, type StatusName } from './errors.js';
export { MAX_CHUNK_BYTES, mediaTypeFor, rechunk, type ByteSource } from './chunks.js';
export {
  parseJobState,
  parseJobKind,
  jobStateName,
  jobKindName,
  isTerminal,
  isTerminalEvent,
  type DeepPartial,
  type JobStateName,
  type JobKindName,
} from './names.js';
