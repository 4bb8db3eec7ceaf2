/**
 * NATS-only failure tests: a nats-server restart (file storage) in the middle of work,
 * a worker process SIGKILLed while holding a message, idempotent topology.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, RetentionPolicy, StorageType } from 'nats';
import { BusError, connectBus, natsTopology, shardResultKey, type Bus, type BusEvent, type DeadLetter } from '../../libs/bus/index.js';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { waitFor } from './contract.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: NatsServerHandle;
const buses: Bus[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await startNatsServer();
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(buses.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await server?.dispose();
});

describe('nats bus under failures', () => {
  it('runs a failing handler exactly maxDeliver times with 1 s pulls (handler runs counted in KV, not from the server\'s delivery count)', async () => {
    // 1 s pulls against a 1 s ack wait and 1 s nak delays: the setting in which nats-server 2.9
    // counted deliveries that never reached a client, so messages died one run early (docs/bus.md).
    const bus = await connectBus({ servers: server.url, streamPrefix: 'RUNS', subjectRoot: 'runs.uae.v1', ackWaitMs: 1000, maxDeliver: 3, pollMs: 1000 });
    buses.push(bus);
    const n = 12;
    for (let i = 0; i < n; i++) await bus.work.publish(bus.subjects.shard('runs', i), enc(String(i)), { msgId: `runs.${i}` });
    const runs = new Map<string, number[]>();
    const dead: DeadLetter[] = [];
    const c = bus.work.consume(
      async (m) => {
        const id = dec(m.data);
        runs.set(id, [...(runs.get(id) ?? []), m.deliveryCount]);
        if (m.lastAttempt !== (m.deliveryCount === 3)) throw new Error(`lastAttempt ${m.lastAttempt} at run ${m.deliveryCount}`);
        throw new Error('always fails');
      },
      { concurrency: 4, nakDelayMs: 1000, onDeadLetter: (dl) => void dead.push(dl) },
    );
    try {
      await waitFor(() => dead.length === n, 40_000, 'every message dead-lettered');
      await sleep(1500);
    } finally {
      await c.stop();
    }
    for (let i = 0; i < n; i++) expect(runs.get(String(i)), `message ${i}`).toEqual([1, 2, 3]);
    expect(dead).toHaveLength(n);
    expect(dead.every((d) => /always fails \(attempt 3\/3\)/.test(d.reason))).toBe(true);
    // the counters are gone with the messages
    expect((await bus.kv.keys('work-runs.>')).length).toBe(0);
  }, 60_000);

  it('survives a nats-server restart mid-job: unacked work is delivered, results exactly once, KV and objects kept', async () => {
    const bus = await connectBus({ servers: server.url, streamPrefix: 'R1', ackWaitMs: 2000, maxDeliver: 5, pollMs: 1000 });
    buses.push(bus);
    const job = 'restart1';
    const rev = await bus.kv.create(`jobs.${job}`, enc('RUNNING'));
    await bus.artifacts.put('datasets/d1', enc('dataset bytes'), { mediaType: 'application/x-npy' });
    const live: BusEvent[] = [];
    await bus.events.subscribe(bus.subjects.jobEvents(job), (e) => void live.push(e));
    const replayed: BusEvent[] = [];
    await bus.events.publish(bus.subjects.jobEvent(job, 'created'), enc('before restart'));
    await bus.events.subscribe(bus.subjects.jobEvents(job), (e) => void replayed.push(e), { deliver: 'all' });

    const total = 40;
    for (let i = 0; i < 30; i++) {
      await bus.work.publish(bus.subjects.shard(job, i), enc(String(i)), { msgId: `${job}.${i}` });
    }
    const deliveries = new Map<string, number>();
    const dead: DeadLetter[] = [];
    let results = 0;
    const c = bus.work.consume(
      async (m) => {
        deliveries.set(m.msgId!, (deliveries.get(m.msgId!) ?? 0) + 1);
        await sleep(60);
        const i = Number(dec(m.data));
        // deterministic key: a redelivered shard rewrites the same result
        await bus.artifacts.put(shardResultKey(job, i), enc(`result of ${i}`));
        results++;
        await m.ack();
      },
      { concurrency: 2, onDeadLetter: (dl) => void dead.push(dl), nakDelayMs: 100 },
    );

    await waitFor(() => results >= 8, 20_000, 'some results before the restart');
    const down = server.restart({ kill: true, downMs: 500 });
    // work published while the server is away is retried until it is back
    const late = (async () => {
      for (let i = 30; i < total; i++) {
        await bus.work.publish(bus.subjects.shard(job, i), enc(String(i)), { msgId: `${job}.${i}` });
      }
    })();
    await down;
    await late;
    await bus.events.publish(bus.subjects.jobEvent(job, 'progress'), enc('after restart'));

    await waitFor(async () => (await bus.artifacts.list(`jobs/${job}/`)).length === total, 40_000, 'every result');
    await waitFor(async () => (await bus.work.pending()) === 0, 20_000, 'queue drained');
    await c.stop();

    const listed = await bus.artifacts.list(`jobs/${job}/`);
    expect(listed.map((a) => a.key)).toEqual(Array.from({ length: total }, (_, i) => shardResultKey(job, i)));
    for (let i = 0; i < total; i++) expect(dec(await bus.artifacts.get(shardResultKey(job, i)))).toBe(`result of ${i}`);
    expect([...deliveries.keys()].sort()).toEqual(Array.from({ length: total }, (_, i) => `${job}.${i}`).sort());
    expect(dead).toEqual([]);

    const state = await bus.kv.get(`jobs.${job}`);
    expect(state && dec(state.value)).toBe('RUNNING');
    expect(state?.revision).toBe(rev);
    expect(await bus.kv.update(`jobs.${job}`, enc('COMPLETED'), rev)).toBeGreaterThan(rev);
    expect(dec(await bus.artifacts.get('datasets/d1'))).toBe('dataset bytes');
    expect((await bus.artifacts.stat('datasets/d1'))?.mediaType).toBe('application/x-npy');
    // the live subscription was re-established by the reconnect
    await waitFor(() => live.some((e) => dec(e.data) === 'after restart'), 5000, 'live event after restart');
    // so was the history + live subscription, without gaps or repeats
    await waitFor(() => replayed.length >= 2, 10_000, 'replayed events after restart');
    expect(replayed.map((e) => dec(e.data))).toEqual(['before restart', 'after restart']);
  });

  it('a worker SIGKILLed mid-message: its heart-beats held the message, then it is redelivered to another consumer', async () => {
    const ackWaitMs = 1500;
    const bus = await connectBus({ servers: server.url, streamPrefix: 'R2', subjectRoot: 'r2.uae.v1', ackWaitMs, maxDeliver: 3, pollMs: 1000 });
    buses.push(bus);
    await bus.work.publish(bus.subjects.shard('crash', 0), enc('shard 0'), { msgId: 'crash.0' });

    const child = spawn(process.execPath, ['--import', 'tsx', path.join('tests', 'bus', 'fixtures', 'worker.ts')], {
      cwd: repoRoot,
      env: {
        ...process.env,
        BUS_NATS_URL: server.url,
        BUS_STREAM_PREFIX: 'R2',
        BUS_SUBJECT_ROOT: 'r2.uae.v1',
        BUS_ACK_WAIT_MS: String(ackWaitMs),
        BUS_MAX_DELIVER: '3',
      },
      stdio: ['pipe', 'pipe', 'pipe'], // stdin: the child exits when we do
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, sig) => r(sig)));
    await waitFor(() => out.includes('GOT crash.0 1') || child.exitCode !== null, 30_000, 'the child to take the message').catch((e) => {
      throw new Error(`${(e as Error).message}\nchild stdout: ${out}\nchild stderr: ${err}`);
    });
    expect(out).toContain('GOT crash.0 1');

    const got: number[] = [];
    const c = bus.work.consume(async (m) => {
      got.push(m.deliveryCount);
      await m.ack();
    });
    // the child's working() heart-beats keep the message well past ackWait
    await sleep(ackWaitMs * 2.5);
    expect(got).toEqual([]);

    child.kill('SIGKILL');
    const killedAt = Date.now();
    expect(await exited).toBe('SIGKILL');
    await waitFor(() => got.length === 1, 15_000, 'redelivery after the crash');
    const after = Date.now() - killedAt;
    expect(got).toEqual([2]);
    expect(after).toBeLessThan(ackWaitMs + 5000);
    await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'acked');
    await c.stop();
  });

  it('creates its topology idempotently, applies changed consumer settings, refuses an incompatible stream', async () => {
    const a = await connectBus({ servers: server.url, streamPrefix: 'R3', subjectRoot: 'r3.uae.v1', ackWaitMs: 1000, maxDeliver: 2 });
    buses.push(a);
    const b = await connectBus({ servers: server.url, streamPrefix: 'R3', subjectRoot: 'r3.uae.v1', ackWaitMs: 1000, maxDeliver: 2 });
    buses.push(b);
    const c = await connectBus({ servers: server.url, streamPrefix: 'R3', subjectRoot: 'r3.uae.v1', ackWaitMs: 4000, maxDeliver: 4 });
    buses.push(c);
    const topo = natsTopology('R3');
    const jsm = await c.connection.jetstreamManager();
    const ci = await jsm.consumers.info(topo.workStream, topo.workConsumer);
    expect(ci.config.ack_wait).toBe(4000 * 1_000_000);
    expect(ci.config.max_deliver).toBe(4 + 3);
    expect(ci.config.ack_policy).toBe('explicit');
    const si = await jsm.streams.info(topo.workStream);
    expect(si.config.retention).toBe('workqueue');
    expect(si.config.storage).toBe('file');
    expect(await jsm.streams.info(topo.eventsStream).then((s) => s.config.retention)).toBe('limits');

    // a stream with the same name but memory storage is reported, not silently changed
    const nc = await connect({ servers: server.url });
    try {
      const m = await nc.jetstreamManager();
      await m.streams.add({ name: 'R4_WORK', subjects: ['r4.uae.v1.work.>'], storage: StorageType.Memory, retention: RetentionPolicy.Workqueue });
    } finally {
      await nc.close();
    }
    await expect(connectBus({ servers: server.url, streamPrefix: 'R4', subjectRoot: 'r4.uae.v1' })).rejects.toThrow(BusError);
    await expect(connectBus({ servers: server.url, streamPrefix: 'R4', subjectRoot: 'r4.uae.v1' })).rejects.toThrow(/storage/);
  });
});
