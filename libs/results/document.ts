/**
 * The result document: one JSON shape for the study's metrics wherever they
 * were computed — `uae pipeline`'s metrics.json and a cluster pipeline job's
 * result (JobService, via resultDocumentFromJob) — described by the JSON
 * Schema docs/results.schema.json (docs/results-schema.md says why this
 * mapping).
 *
 * It is metrics.json's study form (libs/augment aggregateStudy: snake_case
 * keys, which are the proto field names of uae.v1.PipelineMetrics, and enum
 * values spelled as the CLI flags take them: "dense-ae", "better") with an
 * envelope: schema_version, the tool that wrote it, the job id (cluster) and
 * the run's start and end.
 */
import type { StudyMetrics } from '../augment/study.js';
import { toolInfo, type ToolInfo } from '../runtime/package-info.js';

/** Bumped on any change a reader of the previous version would misread. */
export const RESULT_SCHEMA_VERSION = 1;

export type ResultMetrics = Omit<StudyMetrics, 'protocol'> & { protocol?: StudyMetrics['protocol'] };

export interface ResultDocument extends ResultMetrics {
  schema_version: typeof RESULT_SCHEMA_VERSION;
  tool: ToolInfo;
  /** Cluster results: the JobService job id. */
  job_id?: string;
  /** RFC 3339 UTC: when the run (the job, or this `uae pipeline` invocation) started and finished. */
  started_at: string;
  finished_at: string;
}

export interface ResultMeta {
  startedAt: Date;
  finishedAt: Date;
  /** Default: this process's uae (package.json). */
  tool?: ToolInfo;
  jobId?: string;
}

/** Wraps study metrics in the envelope; the envelope's keys come first. */
export function resultDocument(metrics: ResultMetrics, meta: ResultMeta): ResultDocument {
  for (const [name, d] of [['startedAt', meta.startedAt], ['finishedAt', meta.finishedAt]] as const) {
    if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new Error(`resultDocument: ${name} is not a valid date`);
  }
  return {
    schema_version: RESULT_SCHEMA_VERSION,
    tool: meta.tool ?? toolInfo(),
    ...(meta.jobId !== undefined ? { job_id: meta.jobId } : {}),
    started_at: meta.startedAt.toISOString(),
    finished_at: meta.finishedAt.toISOString(),
    ...metrics,
  };
}
