/**
 * The orchestrator's own Prometheus metrics (on the service-kit registry):
 *
 *   uae_jobs_total{kind,state}          jobs this orchestrator saw reach a state
 *                                       (QUEUED on submit; RUNNING, SUCCEEDED,
 *                                       FAILED, CANCELLED as its driver or CancelJob moved them)
 *   uae_jobs_active{kind}               pipeline jobs this process is driving now
 *   uae_job_duration_seconds{kind,state} started_at → finished_at of jobs ended here
 *   uae_artifact_bytes_total{direction} ArtifactService bytes: upload | download
 */
import type { Counter, Gauge, Histogram } from 'prom-client';
import { v1 } from '../../libs/proto/index.js';
import type { ServiceMetrics } from '../../libs/service-kit/index.js';

export interface OrchestratorMetrics {
  jobsTotal: Counter<'kind' | 'state'>;
  jobsActive: Gauge<'kind'>;
  jobDuration: Histogram<'kind' | 'state'>;
  artifactBytes: Counter<'direction'>;
  /** Count a job reaching its current state (and its duration when terminal). */
  observeJob(job: v1.Job): void;
}

export function kindLabel(kind: v1.JobKind): string {
  return v1.jobKindToJSON(kind).replace('JOB_KIND_', '').toLowerCase();
}

export function stateLabel(state: v1.JobState): string {
  return v1.jobStateToJSON(state).replace('JOB_STATE_', '').toLowerCase();
}

export function createOrchestratorMetrics(m: ServiceMetrics): OrchestratorMetrics {
  const jobsTotal = m.counter({ name: 'uae_jobs_total', help: 'Jobs that reached a state, by kind and state (as seen by this orchestrator)', labelNames: ['kind', 'state'] });
  const jobsActive = m.gauge({ name: 'uae_jobs_active', help: 'Jobs this orchestrator is driving now, by kind', labelNames: ['kind'] });
  const jobDuration = m.histogram({
    name: 'uae_job_duration_seconds',
    help: 'Wall-clock seconds from a job start to its end, by kind and terminal state',
    labelNames: ['kind', 'state'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, 48 * 3600],
  });
  const artifactBytes = m.counter({ name: 'uae_artifact_bytes_total', help: 'Artifact bytes moved by ArtifactService, by direction (upload, download)', labelNames: ['direction'] });
  for (const kind of ['pipeline']) jobsActive.set({ kind }, 0);
  // Every series exists from the start, so increase() sees a job's first failure.
  for (const state of ['queued', 'running', 'succeeded', 'failed', 'cancelled']) jobsTotal.inc({ kind: 'pipeline', state }, 0);
  for (const direction of ['upload', 'download']) artifactBytes.inc({ direction }, 0);
  return {
    jobsTotal,
    jobsActive,
    jobDuration,
    artifactBytes,
    observeJob(job) {
      const labels = { kind: kindLabel(job.kind), state: stateLabel(job.state) };
      jobsTotal.inc(labels);
      if (job.finishedAt && (job.startedAt ?? job.createdAt)) {
        const seconds = (job.finishedAt.getTime() - (job.startedAt ?? job.createdAt)!.getTime()) / 1000;
        jobDuration.observe(labels, Math.max(0, seconds));
      }
    },
  };
}
