/**
 * The result document's builders in-process: the envelope, the conversion of
 * a cluster job's PipelineMetrics back to metrics.json's form (the inverse of
 * studyMetricsToProto), and errors that name the field a job lacks.
 */
import { describe, expect, it } from 'vitest';
import type { StudyMetrics } from '../../libs/augment/index.js';
import { studyMetricsFromProto, studyMetricsToProto, v1 } from '../../libs/proto/index.js';
import { resultDocument, resultDocumentFromJob } from '../../libs/results/index.js';
import { toolInfo } from '../../libs/runtime/package-info.js';

const summary = { mean: 1, median: 1, min: 0.5, max: 1.5, count: 4 };
const STUDY: StudyMetrics = {
  dataset: 'mice-protein',
  model: 'concrete-ae',
  backend: 'wasm',
  seeds: [0, 1],
  seed: 0,
  train_samples: 22,
  validation_samples: 2,
  test_samples: 16,
  protocol: { validation: { fraction: 0.1, patience: 10, seed: 0, samples: 2 }, retrain_schedule: 'plateau', convergence: null, probes: ['mlp'] },
  methods: {
    original: { test_recon_error: 0.02, accuracy: 0.5, per_seed: { test_recon_error: [0.021, 0.019], accuracy: [0.5, 0.5] }, std: { test_recon_error: 0.0014 }, ci95: { test_recon_error: [0.007, 0.033] }, selected_features: [[1, 2], [3, 4]] },
    mine: {
      test_recon_error: 0.018,
      improvement: 0.1,
      asr: 0.75,
      seconds_per_sample: 0.2,
      per_seed: { test_recon_error: [0.017, 0.019], improvement: [0.19, 0.0] },
      std: { test_recon_error: 0.0014 },
      ci95: { test_recon_error: [0.005, 0.031] },
      mi: summary,
      diagnostics: { linf: summary, rel_move: summary, samples: 4 },
      selected_features: [[1, 5], [3, 4]],
    },
  },
  comparisons: [{ arm: 'mine', control: 'original', metric: 'test_recon_error', diff: -0.002, ci95: [-0.01, 0.006], verdict: 'indistinguishable', seeds: 2 }],
};

const started = new Date('2026-12-02T06:00:00.000Z');
const finished = new Date('2026-12-02T06:05:30.250Z');

function job(partial: Partial<v1.Job>): v1.Job {
  return v1.Job.fromPartial({ jobId: 'j1', state: v1.JobState.JOB_STATE_SUCCEEDED, startedAt: started, finishedAt: finished, ...partial });
}
const pipelineResult = (toolVersion = '9.8.7') => v1.JobResult.fromPartial({ kind: { $case: 'pipeline', value: { metrics: { ...studyMetricsToProto(STUDY), toolVersion } } } });

describe('result document', () => {
  it('PipelineMetrics converts back to metrics.json exactly, but for the protocol record', () => {
    const { protocol: _p, ...rest } = STUDY;
    expect(studyMetricsFromProto(studyMetricsToProto(STUDY))).toEqual(rest);
    // Several rounds: every round's arms and comparisons, in order; one round has no `rounds` key.
    const rounds = [
      { round: 1, methods: { original: STUDY.methods.original! }, comparisons: [] },
      { round: 2, methods: STUDY.methods, comparisons: STUDY.comparisons },
    ];
    expect(studyMetricsToProto(STUDY).rounds).toEqual([]);
    expect(studyMetricsFromProto(studyMetricsToProto({ ...STUDY, rounds }))).toEqual({ ...rest, rounds });
  });

  it('wraps metrics in the envelope, envelope keys first', () => {
    const doc = resultDocument(STUDY, { startedAt: started, finishedAt: finished });
    expect(Object.keys(doc).slice(0, 4)).toEqual(['schema_version', 'tool', 'started_at', 'finished_at']);
    expect(doc).toMatchObject({ schema_version: 1, tool: toolInfo(), started_at: '2026-12-02T06:00:00.000Z', finished_at: '2026-12-02T06:05:30.250Z', model: 'concrete-ae' });
    expect(() => resultDocument(STUDY, { startedAt: new Date('nope'), finishedAt: finished })).toThrow(/startedAt is not a valid date/);
  });

  it("a cluster job's document: its id, timestamps and the orchestrator's version", () => {
    const doc = resultDocumentFromJob(job({ result: pipelineResult() }));
    const { protocol: _p, ...rest } = STUDY;
    expect(doc).toEqual({ schema_version: 1, tool: { name: 'uae', version: '9.8.7' }, job_id: 'j1', started_at: '2026-12-02T06:00:00.000Z', finished_at: '2026-12-02T06:05:30.250Z', ...rest });
  });

  it('refuses jobs without one, naming what is missing', () => {
    expect(() => resultDocumentFromJob(job({ state: v1.JobState.JOB_STATE_RUNNING }))).toThrow(/^job j1: state: JOB_STATE_RUNNING, not JOB_STATE_SUCCEEDED/);
    const attack = v1.JobResult.fromPartial({ kind: { $case: 'attack', value: {} } });
    expect(() => resultDocumentFromJob(job({ result: attack }))).toThrow(/^job j1: result\.pipeline: unset \(its result is result\.attack; only pipeline jobs have a result document\)$/);
    expect(() => resultDocumentFromJob(job({ result: pipelineResult('') }))).toThrow(/^job j1: result\.pipeline\.metrics\.tool_version: unset/);
    expect(() => resultDocumentFromJob(job({ result: pipelineResult(), finishedAt: undefined }))).toThrow(/^job j1: finished_at: unset$/);
    const noModel = v1.JobResult.fromPartial({ kind: { $case: 'pipeline', value: { metrics: { ...studyMetricsToProto(STUDY), model: v1.ModelKind.MODEL_KIND_UNSPECIFIED, toolVersion: '1.0.0' } } } });
    expect(() => resultDocumentFromJob(job({ result: noModel }))).toThrow(/^result\.pipeline\.metrics\.model: required$/);
  });
});
