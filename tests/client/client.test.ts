/**
 * libs/client against a real gRPC server (the service kit over the generated
 * service definitions) with canned handlers: promisified calls, auth, error
 * mapping with the uae-field trailer, watch (cancellation, resume), paging,
 * chunked uploads (exact chunk sizes), verified downloads, deadlines.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, isTerminal, parseJobState, rechunk, UaeClientError, type UaeClient } from '../../libs/client/index.js';
import { v1 } from '../../libs/proto/index.js';
import { FAKE_TOKEN, METRICS, STAGES, startFakeServer, type FakeServer } from './fake-server.js';

const MiB = 1024 * 1024;
let fake: FakeServer;
let uae: UaeClient;
let dir: string;

const config = (dataset = 'mice-protein'): Parameters<UaeClient['jobs']['submitPipeline']>[0] => ({
  dataset: { source: { $case: 'name', value: dataset }, trainSamples: 10 },
  model: { kind: v1.ModelKind.MODEL_KIND_DENSE_AE },
  methods: [{ kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_MINE }],
});

async function failure(p: Promise<unknown> | (() => Promise<unknown>)): Promise<UaeClientError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(UaeClientError);
    return e as UaeClientError;
  }
  throw new Error('expected the call to fail');
}

async function waitUntil<T>(probe: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

beforeAll(async () => {
  fake = await startFakeServer();
  uae = connect({ address: fake.address, token: FAKE_TOKEN, deadlineMs: 10_000 });
  dir = await mkdtemp(join(tmpdir(), 'uae-client-'));
});

afterAll(async () => {
  uae?.close();
  await fake?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('connection, auth and errors', () => {
  it('reports health without a token', async () => {
    const anon = connect({ address: fake.address });
    try {
      expect(await anon.health()).toBe('SERVING');
      expect(await anon.health('uae.v1.JobService')).toBe('SERVING');
      const e = await failure(anon.health('uae.v1.Nope'));
      expect(e.codeName).toBe('NOT_FOUND');
    } finally {
      anon.close();
    }
  });

  it('sends the bearer token; refusals are UNAUTHENTICATED', async () => {
    await uae.jobs.submitPipeline(config());
    expect(fake.sys.submits.at(-1)!.authorization).toBe(`Bearer ${FAKE_TOKEN}`);
    for (const token of [undefined, 'wrong-token-0123456789']) {
      const c = connect({ address: fake.address, token });
      try {
        const e = await failure(c.jobs.get('job-1'));
        expect(e.code).toBe(16);
        expect(e.codeName).toBe('UNAUTHENTICATED');
        expect(e.message).toMatch(/^UNAUTHENTICATED: /);
        expect(e.method).toBe('/uae.v1.JobService/GetJob');
      } finally {
        c.close();
      }
    }
  });

  it('maps status, message and the uae-field trailer', async () => {
    const e = await failure(uae.jobs.submitPipeline({ ...config(), model: {} }));
    expect(e).toMatchObject({ code: 3, codeName: 'INVALID_ARGUMENT', field: 'config.model.kind' });
    expect(e.details).toBe('config.model.kind: required');
    expect(e.message).toBe('INVALID_ARGUMENT: config.model.kind: required');
    const nf = await failure(uae.jobs.get('no-such-job'));
    expect(nf).toMatchObject({ codeName: 'NOT_FOUND', field: 'job_id', details: 'job_id: job "no-such-job" not found' });
  });

  it('de-duplicates by request id; a different payload is ALREADY_EXISTS', async () => {
    const first = await uae.jobs.submitPipeline(config(), { requestId: 'req-1', labels: { team: 'ml' } });
    const again = await uae.jobs.submitPipeline(config(), { requestId: 'req-1', labels: { team: 'ml' } });
    expect(first.deduplicated).toBe(false);
    expect(again).toMatchObject({ deduplicated: true, job: { jobId: first.job!.jobId, labels: { team: 'ml' }, requestId: 'req-1' } });
    const clash = await failure(uae.jobs.submitPipeline(config('other'), { requestId: 'req-1' }));
    expect(clash).toMatchObject({ codeName: 'ALREADY_EXISTS', field: 'request_id' });
  });

  it('is UNAVAILABLE when nothing listens', async () => {
    const c = connect({ address: '127.0.0.1:1', deadlineMs: 5000 });
    try {
      expect((await failure(c.jobs.get('x'))).codeName).toBe('UNAVAILABLE');
      await expect(c.ready(200)).rejects.toMatchObject({ codeName: 'UNAVAILABLE' });
    } finally {
      c.close();
    }
    // tls: true really speaks TLS (the fake server is plaintext, so the handshake fails).
    const tls = connect({ address: `localhost:${fake.running.ports.grpc}`, tls: true, deadlineMs: 5000 });
    try {
      const e = await failure(tls.health());
      expect(e.codeName).toBe('UNAVAILABLE');
      expect(e.details).toMatch(/SSL|TLS|wrong version/i);
    } finally {
      tls.close();
    }
  });

  it('applies the default deadline, a per-call one, and AbortSignals to unary calls', async () => {
    const short = connect({ address: fake.address, token: FAKE_TOKEN, deadlineMs: 150 });
    try {
      const t0 = Date.now();
      expect((await failure(short.mine.estimate({ steps: 60_000 }))).codeName).toBe('DEADLINE_EXCEEDED');
      expect(Date.now() - t0).toBeLessThan(3000);
      expect((await short.mine.estimate({ steps: 10 })).mi).toBe(0.25);
    } finally {
      short.close();
    }
    expect((await failure(uae.mine.estimate({ steps: 60_000 }, { deadlineMs: 100 }))).codeName).toBe('DEADLINE_EXCEEDED');
    const ac = new AbortController();
    const p = uae.mine.estimate({ steps: 60_000 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('jobs', () => {
  it('submits, watches to the end and returns the result', async () => {
    const { job } = await uae.jobs.submitPipeline(config(), { labels: { run: 'a' } });
    expect(job).toMatchObject({ state: v1.JobState.JOB_STATE_QUEUED, kind: v1.JobKind.JOB_KIND_PIPELINE, labels: { run: 'a' } });
    const seen: v1.WatchJobResponse[] = [];
    const done = await uae.jobs.wait(job!.jobId, { onMessage: (m) => seen.push(m) });
    expect(done.state).toBe(v1.JobState.JOB_STATE_SUCCEEDED);
    expect(done.result?.kind).toEqual({ $case: 'pipeline', value: expect.objectContaining({ metrics: METRICS }) });
    expect(seen[0]!.kind?.$case).toBe('snapshot');
    const events = seen.slice(1).map((m) => (m.kind?.$case === 'event' ? m.kind.value : undefined));
    const seqs = events.map((e) => e!.sequence);
    const first = (seen[0]!.kind!.value as v1.Job).lastEventSequence;
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => first + 1 + i));
    const cases = events.map((e) => e!.payload!.$case);
    const stageNames = events.flatMap((e) => (e!.payload!.$case === 'stage' ? [e!.payload!.value.current!.name] : []));
    expect(stageNames).toEqual(STAGES.map((s) => s.name)); // the job starts once watched: every stage is seen
    expect(cases).toContain('progress');
    expect(cases.at(-1)).toBe('completed');
    expect((await uae.jobs.get(job!.jobId)).state).toBe(v1.JobState.JOB_STATE_SUCCEEDED);
  });

  it('watches with skipProgress, and a terminal job gives just its snapshot', async () => {
    const { job } = await uae.jobs.submitPipeline(config());
    const cases: string[] = [];
    for await (const m of uae.jobs.watch(job!.jobId, { skipProgress: true })) cases.push(m.kind?.$case === 'event' ? m.kind.value.payload!.$case : 'snapshot');
    expect(cases).not.toContain('progress');
    expect(cases.at(-1)).toBe('completed');
    const again = [];
    for await (const m of uae.jobs.watch(job!.jobId)) again.push(m);
    expect(again).toHaveLength(1);
    expect(isTerminal((again[0]!.kind!.value as v1.Job).state)).toBe(true);
  });

  it('cancels a watch through its AbortSignal, and on break', async () => {
    const { job } = await uae.jobs.submitPipeline(config('hang'));
    // Watch; abort once it reached the stage where it hangs (the server is then waiting for events).
    const ac = new AbortController();
    const stages: string[] = [];
    const cancelledBefore = fake.sys.watchesCancelled;
    const err = await (async () => {
      try {
        for await (const m of uae.jobs.watch(job!.jobId, { signal: ac.signal })) {
          if (m.kind?.$case === 'event' && m.kind.value.payload?.$case === 'stage') {
            stages.push(m.kind.value.payload.value.current!.name);
            if (stages.length === 2) setTimeout(() => ac.abort(), 30);
          }
        }
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.name).toBe('AbortError');
    expect(stages).toEqual(['train original', 'generate mine']);
    await waitUntil(() => fake.sys.watchesCancelled === cancelledBefore + 1);

    for await (const m of uae.jobs.watch(job!.jobId)) {
      expect(m.kind?.$case).toBe('snapshot');
      break;
    }
    await waitUntil(() => fake.sys.watchesCancelled === cancelledBefore + 2);
    // An already-aborted signal never starts the call.
    const calls = fake.sys.watches.length;
    await expect(uae.jobs.watch(job!.jobId, { signal: AbortSignal.abort() }).next()).rejects.toMatchObject({ name: 'AbortError' });
    expect(fake.sys.watches.length).toBe(calls);

    const cancelled = await uae.jobs.cancel(job!.jobId, 'not needed');
    expect(cancelled.state).toBe(v1.JobState.JOB_STATE_CANCELLED);
    expect(cancelled.error).toMatchObject({ code: 1, message: 'not needed', stage: 'generate mine' });
    expect((await uae.jobs.cancel(job!.jobId, 'again')).error?.message).toBe('not needed'); // idempotent
  });

  it('resumes a broken watch after the last event it saw', async () => {
    fake.sys.dropWatchesAfter.push(2, 3);
    const { job } = await uae.jobs.submitPipeline(config());
    const seqs: number[] = [];
    const snapshots: number[] = [];
    for await (const m of uae.jobs.watch(job!.jobId, { reconnect: { retries: 3, backoffMs: 10 } })) {
      if (m.kind?.$case === 'snapshot') snapshots.push(m.kind.value.lastEventSequence);
      else seqs.push(m.kind!.value.sequence);
    }
    expect(snapshots).toHaveLength(3);
    const first = snapshots[0]!;
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => first + 1 + i)); // no gaps, no repeats
    const resumed = fake.sys.watches.filter((w) => w.jobId === job!.jobId).map((w) => w.afterSequence);
    expect(resumed).toEqual([0, first + 2, first + 5]);

    fake.sys.dropWatchesAfter.push(1);
    const other = await uae.jobs.submitPipeline(config());
    const e = await failure(async () => {
      for await (const _ of uae.jobs.watch(other.job!.jobId)) void _;
    });
    expect(e).toMatchObject({ codeName: 'UNAVAILABLE', details: 'orchestrator restarting' });
  });

  it('wait reports FAILED jobs with their error', async () => {
    const { job } = await uae.jobs.submitPipeline(config('fail'));
    const done = await uae.jobs.wait(job!.jobId);
    expect(done.state).toBe(v1.JobState.JOB_STATE_FAILED);
    expect(done.error).toMatchObject({ code: 13, stage: 'generate mine', message: expect.stringContaining('crashed') });
  });

  it('lists across pages, newest first, with filters', async () => {
    for (let i = 0; i < 7; i++) fake.sys.addJob({ state: i % 2 ? v1.JobState.JOB_STATE_RUNNING : v1.JobState.JOB_STATE_SUCCEEDED, labels: { batch: 'list-test', i: String(i) } });
    const filter = { labels: { batch: 'list-test' }, pageSize: 3 };
    const pages = [];
    for await (const p of uae.jobs.pages(filter)) pages.push(p.jobs.length);
    expect(pages).toEqual([3, 3, 1]);
    const all = [];
    for await (const j of uae.jobs.list(filter)) all.push(j);
    expect(all.map((j) => j.labels['i'])).toEqual(['6', '5', '4', '3', '2', '1', '0']);
    const running = [];
    for await (const j of uae.jobs.list({ ...filter, states: [parseJobState('running')] })) running.push(j.labels['i']);
    expect(running).toEqual(['5', '3', '1']);
    // Breaking early stops fetching pages.
    const before = fake.sys.jobs.size;
    for await (const j of uae.jobs.list(filter)) {
      expect(j.labels['i']).toBe('6');
      break;
    }
    expect(fake.sys.jobs.size).toBe(before);
    expect(await failure(async () => uae.jobs.list({ pageSize: 5000 }).next())).toMatchObject({ codeName: 'INVALID_ARGUMENT', field: 'page_size' });
  });
});

describe('artifacts', () => {
  it('uploads bytes in 1 MiB chunks with the header first, and downloads them verified', async () => {
    const data = bytes(2.5 * MiB + 3);
    const sha = createHash('sha256').update(data).digest('hex');
    const res = await uae.artifacts.put('blob.bin', data, 'application/octet-stream');
    expect(res).toEqual({ ref: { sha256: sha, sizeBytes: data.length, mediaType: 'application/octet-stream', name: 'blob.bin' }, alreadyExisted: false });
    const up = fake.sys.uploads.at(-1)!;
    expect(up.header).toEqual({ mediaType: 'application/octet-stream', sizeBytes: data.length, sha256: sha, name: 'blob.bin' });
    expect(up.chunkSizes).toEqual([MiB, MiB, 0.5 * MiB + 3]);
    expect(up.authorization).toBe(`Bearer ${FAKE_TOKEN}`);
    expect((await uae.artifacts.put('again.bin', data, 'application/octet-stream')).alreadyExisted).toBe(true);

    expect((await uae.artifacts.get(sha)).equals(data)).toBe(true);
    const part = await uae.artifacts.get(sha, { offset: MiB - 10, limit: 5000, chunkSize: 1024 });
    expect(part.equals(data.subarray(MiB - 10, MiB - 10 + 5000))).toBe(true);
    const chunks = [];
    for await (const m of uae.artifacts.download(sha, { chunkSize: 1024 * 1024 })) chunks.push(m.chunk.length);
    expect(chunks).toEqual([MiB, MiB, 0.5 * MiB + 3]);
    const st = await uae.artifacts.stat(sha);
    expect(st.ref).toMatchObject({ sha256: sha, sizeBytes: data.length });
    expect(st.createdAt).toBeInstanceOf(Date);
  });

  it('re-cuts streams of odd-sized pieces into exact chunks; honours chunkSize', async () => {
    const data = bytes(1.5 * MiB, 7);
    async function* pieces() {
      for (let at = 0; at < data.length; at += 100_003) yield data.subarray(at, Math.min(data.length, at + 100_003));
    }
    const progress: number[] = [];
    await uae.artifacts.put('s.bin', pieces(), 'application/octet-stream', { size: data.length, onProgress: (n) => progress.push(n) });
    expect(fake.sys.uploads.at(-1)!.chunkSizes).toEqual([MiB, 0.5 * MiB]);
    expect(fake.sys.uploads.at(-1)!.header!.sha256).toBe(''); // not known before streaming
    expect(progress).toEqual([MiB, 1.5 * MiB]);
    // Without a size the stream is read first.
    const small = bytes(200_000, 9);
    await uae.artifacts.put('t.bin', pieces2(small), 'application/octet-stream', { chunkSize: 64 * 1024 });
    expect(fake.sys.uploads.at(-1)!.chunkSizes).toEqual([65536, 65536, 65536, 200_000 - 3 * 65536]);
    expect(fake.sys.uploads.at(-1)!.header!.sizeBytes).toBe(200_000);
    async function* pieces2(b: Buffer) {
      yield b.subarray(0, 1);
      yield b.subarray(1);
    }
    // rechunk is exact for any piece sizes.
    const cut: number[] = [];
    for await (const c of rechunk([Buffer.alloc(5), Buffer.alloc(0), Buffer.alloc(12), Buffer.alloc(3)], 8)) cut.push(c.length);
    expect(cut).toEqual([8, 8, 4]);
  });

  it('refuses a stream that does not match its declared size, storing nothing', async () => {
    const stored = fake.sys.artifacts.size;
    await expect(uae.artifacts.put('short.bin', [Buffer.alloc(10)], 'application/octet-stream', { size: 11 })).rejects.toThrow(/ended after 10 of the 11 bytes/);
    await expect(uae.artifacts.put('long.bin', [Buffer.alloc(12)], 'application/octet-stream', { size: 11 })).rejects.toThrow(/more than the 11 bytes/);
    await expect(uae.artifacts.put('bad.bin', Buffer.alloc(10), 'application/octet-stream', { sha256: 'ab'.repeat(32) })).rejects.toMatchObject({
      codeName: 'INVALID_ARGUMENT',
      field: 'header.sha256',
    });
    expect(fake.sys.artifacts.size).toBe(stored);
  });

  it('stops an upload when its signal fires', async () => {
    const stored = fake.sys.artifacts.size;
    const ac = new AbortController();
    async function* endless() {
      for (let i = 0; ; i++) {
        if (i === 3) setTimeout(() => ac.abort(), 20);
        yield Buffer.alloc(256 * 1024, i);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    await expect(uae.artifacts.put('endless.bin', endless(), 'application/octet-stream', { size: 1024 * MiB, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(fake.sys.artifacts.size).toBe(stored);
  });

  it('uploads and downloads files', async () => {
    const file = join(dir, 'x_train.npy');
    const data = bytes(MiB + 100, 3);
    await writeFile(file, data);
    const res = await uae.artifacts.putFile(file);
    expect(res.ref).toMatchObject({ name: 'x_train.npy', mediaType: 'application/x-npy', sizeBytes: MiB + 100 });
    expect(fake.sys.uploads.at(-1)!.chunkSizes).toEqual([MiB, 100]);
    const out = join(dir, 'copy.npy');
    const ref = await uae.artifacts.getToFile(res.ref!.sha256, out);
    expect(ref.sha256).toBe(res.ref!.sha256);
    expect((await readFile(out)).equals(data)).toBe(true);

    fake.sys.corruptDownloads = true;
    try {
      const bad = join(dir, 'corrupt.npy');
      expect(await failure(uae.artifacts.getToFile(res.ref!.sha256, bad))).toMatchObject({ codeName: 'DATA_LOSS' });
      expect(existsSync(bad)).toBe(false);
      expect((await readdir(dir)).filter((f) => f.includes('partial'))).toEqual([]);
    } finally {
      fake.sys.corruptDownloads = false;
    }
    const missing = await failure(uae.artifacts.get('0'.repeat(64)));
    expect(missing).toMatchObject({ codeName: 'NOT_FOUND', field: 'sha256' });
    expect(await failure(uae.artifacts.get(res.ref!.sha256, { offset: 10 * MiB }))).toMatchObject({ codeName: 'OUT_OF_RANGE', field: 'offset' });
    await expect(uae.artifacts.putFile(join(dir, 'nope.npy'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('attack', () => {
  it('streams Generate and submits jobs', async () => {
    const x = { dtype: v1.DataType.DATA_TYPE_FLOAT32, shape: [3, 2], rawData: Buffer.alloc(24) };
    const kinds: string[] = [];
    for await (const m of uae.attack.generate({ x, sampleIds: [10, 11, 12] })) kinds.push(m.kind!.$case);
    expect(kinds).toEqual(['result', 'progress', 'result', 'progress', 'result', 'progress', 'summary']);
    expect((await failure(async () => uae.attack.generate({}).next())).field).toBe('x');
    const res = await uae.attack.submit({ model: { source: { $case: 'modelId', value: 'm1' } } }, { requestId: 'a1', labels: { k: 'v' } });
    expect(res.job).toMatchObject({ kind: v1.JobKind.JOB_KIND_ATTACK, requestId: 'a1', labels: { k: 'v' } });
  });
});
