/**
 * A cluster pipeline job's result as the result document (document.ts): the
 * job's PipelineMetrics converted back to metrics.json's form
 * (studyMetricsFromProto), the orchestrator's version (tool_version) and the
 * job's id and timestamps.
 */
import { jobStateToJSON, JobState, type Job } from '../proto/v1.js';
import { studyMetricsFromProto } from '../proto/convert.js';
import { toolInfo } from '../runtime/package-info.js';
import { resultDocument, type ResultDocument } from './document.js';

export function resultDocumentFromJob(job: Job): ResultDocument {
  const where = `job ${job.jobId}`;
  if (job.state !== JobState.JOB_STATE_SUCCEEDED) throw new Error(`${where}: state: ${jobStateToJSON(job.state)}, not JOB_STATE_SUCCEEDED (no result yet)`);
  const r = job.result?.kind;
  if (r?.$case !== 'pipeline') throw new Error(`${where}: result.pipeline: unset (its result is ${r ? `result.${r.$case}` : 'unset'}; only pipeline jobs have a result document)`);
  const m = r.value.metrics;
  if (!m) throw new Error(`${where}: result.pipeline.metrics: unset`);
  if (!m.toolVersion) throw new Error(`${where}: result.pipeline.metrics.tool_version: unset (an orchestrator older than the result schema)`);
  if (!job.startedAt || !job.finishedAt) throw new Error(`${where}: ${job.startedAt ? 'finished_at' : 'started_at'}: unset`);
  return resultDocument(studyMetricsFromProto(m, 'result.pipeline.metrics'), {
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    tool: { name: toolInfo().name, version: m.toolVersion },
    jobId: job.jobId,
  });
}
