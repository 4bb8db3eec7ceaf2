/**
 * One contract suite for every Bus implementation (embedded and NATS): the same
 * observable semantics for artifacts, KV, the work queue and events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ArtifactNotFoundError,
  BusValidationError,
  KvConflictError,
  type Bus,
  type BusEvent,
  type DeadLetter,
  type KvWatchEvent,
  type WorkConsumer,
  type WorkMessage,
  type WorkQueueSettings,
} from '../../libs/bus/index.js';
import { createHash } from 'node:crypto';

export type BusFactory = (settings: WorkQueueSettings) => Promise<Bus>;

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

async function* chunksOf(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < data.length; o += size) {
    await sleep(0);
    yield data.subarray(o, Math.min(o + size, data.length));
  }
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

/** ack wait used by the queue tests (1 s: the NATS server's granularity makes shorter pointless) */
export const ACK_WAIT_MS = 1000;

export function busContract(label: string, factory: BusFactory): void {
  describe(`bus contract: ${label}`, () => {
    const opened: Bus[] = [];
    const consumers: WorkConsumer[] = [];
    const open = async (settings: WorkQueueSettings = {}) => {
      const bus = await factory({ ackWaitMs: ACK_WAIT_MS, maxDeliver: 3, ...settings });
      opened.push(bus);
      return bus;
    };
    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.stop()));
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    // ------------------------------------------------------------ artifacts
    describe('artifacts', () => {
      it('put/get/stat/has/list/delete with sha256 and media type', async () => {
        const bus = await open();
        const a = bytes(1000, 7);
        const info = await bus.artifacts.put('datasets/mnist/train.npy', a, { mediaType: 'application/x-npy' });
        expect(info).toMatchObject({ key: 'datasets/mnist/train.npy', sha256: sha(a), size: 1000, mediaType: 'application/x-npy' });
        expect(await bus.artifacts.stat('datasets/mnist/train.npy')).toMatchObject({ sha256: sha(a), size: 1000, mediaType: 'application/x-npy' });
        expect(Buffer.from(await bus.artifacts.get('datasets/mnist/train.npy')).equals(Buffer.from(a))).toBe(true);
        expect(await bus.artifacts.has('datasets/mnist/train.npy')).toBe(true);

        const empty = await bus.artifacts.put('datasets/empty', new Uint8Array(0));
        expect(empty).toMatchObject({ size: 0, sha256: sha(new Uint8Array(0)), mediaType: 'application/octet-stream' });
        expect((await bus.artifacts.get('datasets/empty')).length).toBe(0);
        await bus.artifacts.put('models/m1', enc('model'));

        expect((await bus.artifacts.list('datasets/')).map((i) => i.key)).toEqual(['datasets/empty', 'datasets/mnist/train.npy']);
        expect((await bus.artifacts.list()).map((i) => i.key)).toEqual(['datasets/empty', 'datasets/mnist/train.npy', 'models/m1']);

        // overwrite: the new content replaces the old; same bytes again is idempotent
        const b = enc('second version');
        expect((await bus.artifacts.put('models/m1', b)).sha256).toBe(sha(b));
        expect(dec(await bus.artifacts.get('models/m1'))).toBe('second version');
        expect((await bus.artifacts.put('models/m1', b)).sha256).toBe(sha(b));

        expect(await bus.artifacts.delete('models/m1')).toBe(true);
        expect(await bus.artifacts.delete('models/m1')).toBe(false);
        expect(await bus.artifacts.stat('models/m1')).toBeNull();
        expect(await bus.artifacts.has('models/m1')).toBe(false);
        await expect(bus.artifacts.get('models/m1')).rejects.toBeInstanceOf(ArtifactNotFoundError);
        await expect(bus.artifacts.open('nope')).rejects.toBeInstanceOf(ArtifactNotFoundError);
      });

      it('streams uploads and downloads in chunks', async () => {
        const bus = await open();
        const big = bytes(700_000, 3);
        const info = await bus.artifacts.put('uae/sets/big.bin', chunksOf(big, 50_000));
        expect(info).toMatchObject({ size: big.length, sha256: sha(big) });
        const { info: got, stream } = await bus.artifacts.open('uae/sets/big.bin');
        expect(got.sha256).toBe(sha(big));
        const back = await collect(stream);
        expect(sha(back)).toBe(sha(big));
      });

      it('a failing stream upload leaves nothing behind (and keeps a previous version)', async () => {
        const bus = await open();
        async function* failing(): AsyncGenerator<Uint8Array> {
          yield bytes(200_000, 1);
          yield bytes(200_000, 2);
          throw new Error('source broke');
        }
        await expect(bus.artifacts.put('jobs/j1/result', failing())).rejects.toThrow(/source broke/);
        expect(await bus.artifacts.stat('jobs/j1/result')).toBeNull();
        expect(await bus.artifacts.list('jobs/')).toEqual([]);

        const v1 = enc('v1');
        await bus.artifacts.put('jobs/j1/result', v1);
        await expect(bus.artifacts.put('jobs/j1/result', failing())).rejects.toThrow(/source broke/);
        expect(dec(await bus.artifacts.get('jobs/j1/result'))).toBe('v1');
        expect((await bus.artifacts.stat('jobs/j1/result'))?.sha256).toBe(sha(v1));
      });

      it('rejects unsafe keys', async () => {
        const bus = await open();
        for (const k of ['', '/abs', 'a//b', '../x', 'a/../b', 'a b', '.hidden', 'a/']) {
          await expect(bus.artifacts.put(k, enc('x'))).rejects.toBeInstanceOf(BusValidationError);
        }
      });
    });

    // ------------------------------------------------------------ KV
    describe('kv', () => {
      it('create fails on an existing key; CAS update fails on a stale revision', async () => {
        const bus = await open();
        const r1 = await bus.kv.create('jobs.a1', enc('PENDING'));
        await expect(bus.kv.create('jobs.a1', enc('other'))).rejects.toBeInstanceOf(KvConflictError);
        const e1 = await bus.kv.get('jobs.a1');
        expect(e1 && dec(e1.value)).toBe('PENDING');
        expect(e1?.revision).toBe(r1);

        const r2 = await bus.kv.update('jobs.a1', enc('RUNNING'), r1);
        expect(r2).toBeGreaterThan(r1);
        await expect(bus.kv.update('jobs.a1', enc('LOST'), r1)).rejects.toBeInstanceOf(KvConflictError);
        const e2 = await bus.kv.get('jobs.a1');
        expect(e2 && dec(e2.value)).toBe('RUNNING');
        expect(e2?.revision).toBe(r2);

        const r3 = await bus.kv.put('jobs.a1', enc('DONE'));
        expect(r3).toBeGreaterThan(r2);
        expect(await bus.kv.get('jobs.missing')).toBeNull();
      });

      it('delete, re-create, keys with filters, delete with an expected revision', async () => {
        const bus = await open();
        const r = await bus.kv.create('jobs.b1', enc('x'));
        await bus.kv.create('jobs.b2', enc('y'));
        await bus.kv.create('meta.version', enc('1'));
        expect(await bus.kv.keys()).toEqual(['jobs.b1', 'jobs.b2', 'meta.version']);
        expect(await bus.kv.keys('jobs.*')).toEqual(['jobs.b1', 'jobs.b2']);
        await expect(bus.kv.delete('jobs.b1', { expectedRevision: r + 100 })).rejects.toBeInstanceOf(KvConflictError);
        await bus.kv.delete('jobs.b1', { expectedRevision: r });
        expect(await bus.kv.get('jobs.b1')).toBeNull();
        expect(await bus.kv.keys('jobs.>')).toEqual(['jobs.b2']);
        await bus.kv.create('jobs.b1', enc('again'));
        expect(dec((await bus.kv.get('jobs.b1'))!.value)).toBe('again');
        await expect(bus.kv.get('bad key')).rejects.toBeInstanceOf(BusValidationError);
      });

      it('watch replays current values, then streams updates and deletes', async () => {
        const bus = await open();
        await bus.kv.put('jobs.w1', enc('a'));
        await bus.kv.put('other.x', enc('ignored'));
        const seen: KvWatchEvent[] = [];
        const w = await bus.kv.watch({ key: 'jobs.>' }, (e) => {
          seen.push(e);
        });
        await waitFor(() => seen.length >= 1, 5000, 'initial value');
        await bus.kv.put('jobs.w2', enc('b'));
        await bus.kv.delete('jobs.w1');
        await waitFor(() => seen.length >= 3, 5000, 'updates');
        await w.stop();
        expect(seen.map((e) => [e.key, e.operation, dec(e.value)])).toEqual([
          ['jobs.w1', 'PUT', 'a'],
          ['jobs.w2', 'PUT', 'b'],
          ['jobs.w1', 'DEL', ''],
        ]);
        expect(seen[1]!.revision).toBeLessThan(seen[2]!.revision);

        const live: KvWatchEvent[] = [];
        const w2 = await bus.kv.watch({ key: 'jobs.*', updatesOnly: true }, (e) => {
          live.push(e);
        });
        await bus.kv.put('jobs.w3', enc('c'));
        await waitFor(() => live.length >= 1, 5000, 'update');
        await w2.stop();
        expect(live.map((e) => e.key)).toEqual(['jobs.w3']);
      });
    });

    // ------------------------------------------------------------ work queue
    describe('work queue', () => {
      it('delivers every message once; ack removes it; msg ids dedup publishes', async () => {
        const bus = await open();
        const n = 20;
        for (let i = 0; i < n; i++) {
          const r = await bus.work.publish(bus.subjects.shard('job1', i), enc(`shard-${i}`), { msgId: `job1.${i}` });
          expect(r.duplicate).toBe(false);
        }
        const dup = await bus.work.publish(bus.subjects.shard('job1', 0), enc('shard-0'), { msgId: 'job1.0' });
        expect(dup.duplicate).toBe(true);
        expect(await bus.work.pending()).toBe(n);

        const got: string[] = [];
        const c = bus.work.consume(
          async (m) => {
            expect(m.deliveryCount).toBe(1);
            expect(m.maxDeliver).toBe(3);
            got.push(dec(m.data));
            await m.ack();
          },
          { concurrency: 4 },
        );
        consumers.push(c);
        await waitFor(() => got.length >= n, 15_000, 'all deliveries');
        await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'queue drained');
        await sleep(300);
        expect(got.sort()).toEqual(Array.from({ length: n }, (_, i) => `shard-${i}`).sort());
      });

      it('nak redelivers (deliveryCount grows), a thrown handler error too', async () => {
        const bus = await open();
        await bus.work.publish(bus.subjects.shard('job2', 0), enc('n'), { msgId: 'job2.0', headers: { 'x-job': 'job2' } });
        await bus.work.publish(bus.subjects.shard('job2', 1), enc('t'), { msgId: 'job2.1' });
        const log: string[] = [];
        const acked: string[] = [];
        const c = bus.work.consume(
          async (m) => {
            log.push(`${dec(m.data)}${m.deliveryCount}`);
            if (dec(m.data) === 'n') expect(m.headers['x-job']).toBe('job2');
            if (m.deliveryCount === 1) {
              if (dec(m.data) === 'n') await m.nak(0);
              else throw new Error('transient');
              return;
            }
            await m.ack();
            acked.push(dec(m.data));
          },
          { nakDelayMs: 50 },
        );
        consumers.push(c);
        await waitFor(() => acked.length === 2, 10_000, 'both acked');
        expect(log.sort()).toEqual(['n1', 'n2', 't1', 't2']);
        await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'queue drained');
      });

      it('a message never acked is redelivered after ackWait', async () => {
        const bus = await open();
        await bus.work.publish(bus.subjects.shard('job3', 0), enc('x'), { msgId: 'job3.0' });
        const times: number[] = [];
        const c = bus.work.consume(async (m) => {
          times.push(Date.now());
          if (m.deliveryCount >= 2) await m.ack();
          // first delivery: return without settling (as if the worker died)
        });
        consumers.push(c);
        await waitFor(() => times.length >= 2, 10_000, 'redelivery');
        expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(ACK_WAIT_MS * 0.9);
        await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'queue drained');
      });

      it('working() heart-beats keep a slow handler from being redelivered', async () => {
        const bus = await open();
        await bus.work.publish(bus.subjects.shard('job4', 0), enc('slow'), { msgId: 'job4.0' });
        const deliveries: number[] = [];
        let acked = false;
        const c = bus.work.consume(
          async (m) => {
            deliveries.push(m.deliveryCount);
            await sleep(ACK_WAIT_MS * 2.5);
            await m.ack();
            acked = true;
          },
          { concurrency: 2 },
        );
        consumers.push(c);
        await waitFor(() => acked, 10_000, 'slow ack');
        await sleep(ACK_WAIT_MS * 1.2);
        expect(deliveries).toEqual([1]);
        expect(await bus.work.pending()).toBe(0);
      });

      it('failing every attempt dead-letters the message with the reason after maxDeliver runs', async () => {
        const bus = await open({ maxDeliver: 3 });
        await bus.work.publish(bus.subjects.shard('job5', 7), enc('poison'), { msgId: 'job5.7' });
        const runs: number[] = [];
        const dead: DeadLetter[] = [];
        const c = bus.work.consume(
          async (m) => {
            runs.push(m.deliveryCount);
            expect(m.lastAttempt).toBe(m.deliveryCount === 3);
            throw new Error('NaN in the input');
          },
          { nakDelayMs: 20, onDeadLetter: (dl) => void dead.push(dl) },
        );
        consumers.push(c);
        await waitFor(() => dead.length === 1, 10_000, 'dead letter');
        expect(runs).toEqual([1, 2, 3]);
        expect(dead[0]).toMatchObject({ subject: bus.subjects.shard('job5', 7), msgId: 'job5.7', deliveryCount: 3 });
        expect(dec(dead[0]!.data)).toBe('poison');
        expect(dead[0]!.reason).toMatch(/NaN in the input/);
        await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'dead letter removed');
        await sleep(ACK_WAIT_MS * 1.5);
        expect(runs).toEqual([1, 2, 3]);
        expect(dead).toHaveLength(1);
      });

      it('a message whose holders never settle is dead-lettered after maxDeliver deliveries', async () => {
        const bus = await open({ maxDeliver: 2 });
        await bus.work.publish(bus.subjects.shard('job6', 0), enc('hang'), { msgId: 'job6.0' });
        const runs: number[] = [];
        const dead: DeadLetter[] = [];
        const c = bus.work.consume(
          (m) => {
            runs.push(m.deliveryCount);
          },
          { onDeadLetter: (dl) => void dead.push(dl) },
        );
        consumers.push(c);
        await waitFor(() => dead.length === 1, 15_000, 'dead letter');
        expect(runs).toEqual([1, 2]);
        expect(dead[0]!.deliveryCount).toBe(3);
        expect(dead[0]!.reason).toMatch(/not acknowledged after 2 deliveries/);
        await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'dead letter removed');
      });

      it('term(reason) dead-letters at once; a failing dead-letter callback is retried', async () => {
        const bus = await open({ maxDeliver: 5 });
        await bus.work.publish(bus.subjects.shard('job7', 0), enc('bad'), { msgId: 'job7.0' });
        const dead: DeadLetter[] = [];
        let dlCalls = 0;
        const c = bus.work.consume(
          async (m: WorkMessage) => {
            await m.term('shape [3] does not match the model input [784]');
          },
          {
            nakDelayMs: 20,
            onDeadLetter: (dl) => {
              dlCalls++;
              if (dlCalls === 1) throw new Error('KV unavailable');
              dead.push(dl);
            },
          },
        );
        consumers.push(c);
        await waitFor(() => dead.length === 1, 10_000, 'dead letter');
        expect(dead[0]!.reason).toBe('shape [3] does not match the model input [784]');
        expect(dlCalls).toBe(2);
        await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'removed');
      });

      it('validates subjects and msg ids; purges one job', async () => {
        const bus = await open();
        await expect(bus.work.publish(`${bus.subjects.root}.jobs.x.created`, enc('x'), { msgId: 'a' })).rejects.toBeInstanceOf(BusValidationError);
        await expect(bus.work.publish(bus.subjects.shard('j', 0), enc('x'), { msgId: '' })).rejects.toBeInstanceOf(BusValidationError);
        expect(() => bus.subjects.shard('bad.id', 0)).toThrow(BusValidationError);
        for (let i = 0; i < 3; i++) await bus.work.publish(bus.subjects.shard('keep', i), enc('k'), { msgId: `keep.${i}` });
        for (let i = 0; i < 4; i++) await bus.work.publish(bus.subjects.shard('drop', i), enc('d'), { msgId: `drop.${i}` });
        expect(await bus.work.pending(bus.subjects.jobShards('drop'))).toBe(4);
        expect(await bus.work.purge(bus.subjects.jobShards('drop'))).toBe(4);
        expect(await bus.work.pending()).toBe(3);
        expect(await bus.work.pending(bus.subjects.jobShards('keep'))).toBe(3);
        // the remaining work is still delivered
        const got: string[] = [];
        const c = bus.work.consume(async (m) => {
          got.push(m.msgId!);
          await m.ack();
        });
        consumers.push(c);
        await waitFor(() => got.length === 3, 10_000, 'remaining work');
        expect(got.sort()).toEqual(['keep.0', 'keep.1', 'keep.2']);
        await waitFor(async () => (await bus.work.pending()) === 0, 5000, 'drained');
      });

      it('stop() hands unfinished messages back at once', async () => {
        const bus = await open({ ackWaitMs: 5000 });
        await bus.work.publish(bus.subjects.shard('job8', 0), enc('x'), { msgId: 'job8.0' });
        let started = false;
        const c1 = bus.work.consume(async () => {
          started = true;
          await sleep(60_000);
        });
        await waitFor(() => started, 10_000, 'first delivery');
        const t0 = Date.now();
        await c1.stop();
        const second: number[] = [];
        const c2 = bus.work.consume(async (m) => {
          second.push(m.deliveryCount);
          await m.ack();
        });
        consumers.push(c2);
        await waitFor(() => second.length === 1, 10_000, 'handed back');
        expect(second).toEqual([2]);
        expect(Date.now() - t0).toBeLessThan(4000);
      });
    });

    // ------------------------------------------------------------ events
    describe('events', () => {
      it('wildcard subscriptions get matching events in order; deliver all replays history', async () => {
        const bus = await open();
        const s = bus.subjects;
        await bus.events.publish(s.jobEvent('early', 'created'), enc('e0'));
        const progress: BusEvent[] = [];
        const all: BusEvent[] = [];
        const one: BusEvent[] = [];
        const subs = [
          await bus.events.subscribe(`${s.root}.jobs.*.progress`, (e) => void progress.push(e)),
          await bus.events.subscribe(s.allJobEvents, (e) => void all.push(e)),
          await bus.events.subscribe(s.jobEvents('j1'), (e) => void one.push(e)),
        ];
        await bus.events.publish(s.jobEvent('j1', 'created'), enc('c'), { headers: { 'content-type': 'application/x-protobuf' } });
        for (let i = 0; i < 5; i++) await bus.events.publish(s.jobEvent('j1', 'progress'), enc(`p${i}`));
        await bus.events.publish(s.jobEvent('j2', 'progress'), enc('q'));
        await bus.events.publish(s.jobEvent('j1', 'completed'), enc('done'));
        await waitFor(() => all.length >= 8, 5000, 'events');
        await sleep(100);
        expect(progress.map((e) => dec(e.data))).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'q']);
        expect(all.map((e) => dec(e.data))).toEqual(['c', 'p0', 'p1', 'p2', 'p3', 'p4', 'q', 'done']);
        expect(one.map((e) => e.subject)).toEqual([
          s.jobEvent('j1', 'created'),
          ...Array.from({ length: 5 }, () => s.jobEvent('j1', 'progress')),
          s.jobEvent('j1', 'completed'),
        ]);
        expect(all[0]!.headers['content-type']).toBe('application/x-protobuf');

        const replay: BusEvent[] = [];
        subs.push(await bus.events.subscribe(s.jobEvents('j1'), (e) => void replay.push(e), { deliver: 'all' }));
        await waitFor(() => replay.length >= 7, 5000, 'replay');
        await bus.events.publish(s.jobEvent('j1', 'stage'), enc('late'));
        await waitFor(() => replay.length >= 8, 5000, 'live after replay');
        expect(replay.map((e) => dec(e.data))).toEqual(['c', 'p0', 'p1', 'p2', 'p3', 'p4', 'done', 'late']);
        expect(replay.every((e, i) => i === 0 || e.seq > replay[i - 1]!.seq)).toBe(true);

        await Promise.all(subs.map((x) => x.stop()));
        await bus.events.publish(s.jobEvent('j1', 'progress'), enc('after stop'));
        await sleep(200);
        expect(all.map((e) => dec(e.data)).slice(-2)).toEqual(['done', 'late']);
        await expect(bus.events.subscribe('bad..pattern', () => {})).rejects.toBeInstanceOf(BusValidationError);
      });
    });
  });
}
