import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedBus, type Bus } from '../../libs/bus/index.js';
import { JobConflictError, JobNotFoundError, JobStore, JobTransitionError } from '../../libs/jobs/index.js';
import { v1 } from '../../libs/proto/index.js';

const { JobKind, JobState } = v1;
const spec = (epochs: number): v1.JobSpec => v1.JobSpec.fromPartial({ kind: { $case: 'training', value: { config: { epochs } } } });

let dir: string;
let bus: Bus;
let store: JobStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uae-jobs-'));
  bus = await createEmbeddedBus({ dir });
  store = new JobStore(bus);
});
afterEach(async () => {
  await bus.close();
  await rm(dir, { recursive: true, force: true });
});

describe('JobStore', () => {
  it('walks the state machine and publishes one event per change, in sequence', async () => {
    const { job } = await store.create({ kind: JobKind.JOB_KIND_TRAINING, spec: spec(3), labels: { run: 'a' } });
    const events: v1.JobEvent[] = [];
    const sub = await store.watch(job.jobId, 0, (e) => void events.push(e));
    await store.start(job.jobId, { kind: v1.StageKind.STAGE_KIND_TRAIN, method: '', name: 'train', index: 0, count: 1 });
    await store.progress(job.jobId, v1.Progress.fromPartial({ epochsDone: 1, epochsTotal: 3 }));
    const done = await store.complete(job.jobId, v1.JobResult.fromPartial({}));
    expect(done.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    // A terminal job does not change any more.
    expect((await store.cancel(job.jobId, 'late')).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    await new Promise((r) => setTimeout(r, 50));
    await sub.stop();
    expect(events.map((e) => e.payload?.$case)).toEqual(['created', 'stage', 'progress', 'completed']);
    expect(events.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    expect(done.lastEventSequence).toBe(4);
    // Replay from a sequence skips what the caller has seen.
    const later: number[] = [];
    const replay = await store.watch(job.jobId, 2, (e) => void later.push(e.sequence));
    await new Promise((r) => setTimeout(r, 50));
    await replay.stop();
    expect(later).toEqual([3, 4]);
  });

  it('deduplicates by request_id and refuses a reused id with a different payload', async () => {
    const a = await store.create({ kind: JobKind.JOB_KIND_TRAINING, spec: spec(3), requestId: 'r-1' });
    const b = await store.create({ kind: JobKind.JOB_KIND_TRAINING, spec: spec(3), requestId: 'r-1' });
    expect(a.deduplicated).toBe(false);
    expect(b.deduplicated).toBe(true);
    expect(b.job.jobId).toBe(a.job.jobId);
    await expect(store.create({ kind: JobKind.JOB_KIND_TRAINING, spec: spec(4), requestId: 'r-1' })).rejects.toThrow(JobConflictError);
  });

  it('keeps every concurrent update (compare-and-set)', async () => {
    const { job } = await store.create({ kind: JobKind.JOB_KIND_ATTACK, spec: spec(1) });
    await store.start(job.jobId);
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.update(job.jobId, (j) => {
          j.progress = v1.Progress.fromPartial({ samplesDone: (j.progress?.samplesDone ?? 0) + 1 });
          return { $case: 'progress', value: { stage: j.stage, progress: j.progress } };
        }),
      ),
    );
    expect((await store.require(job.jobId)).progress?.samplesDone).toBe(20);
  });

  it('refuses illegal transitions and unknown jobs', async () => {
    const { job } = await store.create({ kind: JobKind.JOB_KIND_TRAINING, spec: spec(1) });
    await store.cancel(job.jobId, 'stop');
    await expect(
      store.update(job.jobId, (j) => {
        j.state = JobState.JOB_STATE_RUNNING;
        return { $case: 'stage', value: {} };
      }),
    ).rejects.toThrow(JobTransitionError);
    await expect(store.require('nope')).rejects.toThrow(JobNotFoundError);
  });

  it('lists in creation order with filters and pages', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { job } = await store.create({ kind: i % 2 ? JobKind.JOB_KIND_ATTACK : JobKind.JOB_KIND_TRAINING, spec: spec(i), labels: { i: String(i) } });
      ids.push(job.jobId);
      await new Promise((r) => setTimeout(r, 2));
    }
    const p1 = await store.list({ pageSize: 2 });
    const p2 = await store.list({ pageSize: 2, pageToken: p1.nextPageToken });
    const p3 = await store.list({ pageSize: 2, pageToken: p2.nextPageToken });
    expect([...p1.jobs, ...p2.jobs, ...p3.jobs].map((j) => j.jobId)).toEqual(ids);
    expect(p3.nextPageToken).toBe('');
    expect((await store.list({ kind: JobKind.JOB_KIND_ATTACK })).jobs.map((j) => j.jobId)).toEqual([ids[1], ids[3]]);
    expect((await store.list({ labels: { i: '4' } })).jobs.map((j) => j.jobId)).toEqual([ids[4]]);
    await store.cancel(ids[0]!, 'x');
    expect((await store.unfinished(JobKind.JOB_KIND_TRAINING)).map((j) => j.jobId)).toEqual([ids[2], ids[4]]);
  });
});
