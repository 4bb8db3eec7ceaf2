/**
 * The consumer loop counts handler runs itself when the transport lets it
 * (NATS: kvRunCounter in the KV bucket), so a delivery the server counted but
 * never sent — what nats-server 2.9 does when a redelivery falls due as a
 * pull expires (docs/bus.md) — no longer costs a handler run. The source here
 * replays exactly that: delivery counts 1, 3, 4, 5 for one message.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbeddedBus, type Bus, type DeadLetter } from '../../libs/bus/index.js';
import { ConsumerLoop, kvRunCounter, type DeliverySource, type RawDelivery } from '../../libs/bus/consume-loop.js';
import { waitFor } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'uae-runs-'));
const buses: Bus[] = [];
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** One message whose server-side delivery count skips 2 (a phantom delivery). */
function phantomSource(counts: number[], extra: Partial<DeliverySource> = {}): DeliverySource & { settled: string[] } {
  const settled: string[] = [];
  let i = 0;
  let pending = true;
  const src: DeliverySource & { settled: string[] } = {
    settled,
    async next(ms) {
      if (!pending || i >= counts.length) {
        await new Promise((r) => setTimeout(r, Math.min(ms, 20)));
        return null;
      }
      pending = false;
      const deliveryCount = counts[i++]!;
      const d: RawDelivery = {
        subject: 'uae.v1.work.attack.j.0',
        data: new TextEncoder().encode('poison'),
        headers: {},
        msgId: 'j.0',
        seq: 7,
        deliveryCount,
        ack: async () => void settled.push(`ack@${deliveryCount}`),
        nak: async () => {
          settled.push(`nak@${deliveryCount}`);
          pending = true;
        },
        term: async () => void settled.push(`term@${deliveryCount}`),
        working: async () => {},
      };
      return d;
    },
    ...extra,
  };
  return src;
}

async function run(source: DeliverySource): Promise<{ runs: number[]; dead: DeadLetter[] }> {
  const runs: number[] = [];
  const dead: DeadLetter[] = [];
  const loop = new ConsumerLoop(
    source,
    (m) => {
      runs.push(m.deliveryCount);
      throw new Error('always fails');
    },
    { maxDeliver: 3, ackWaitMs: 1000, pollMs: 50 },
    { nakDelayMs: 0, onDeadLetter: (dl) => void dead.push(dl) },
  );
  await waitFor(() => dead.length === 1, 5000, 'dead letter');
  await loop.stop();
  return { runs, dead };
}

describe('handler runs counted by the consumer loop', () => {
  it('without a run counter, a phantom delivery costs a run (the nats-server 2.9 quirk)', async () => {
    const { runs, dead } = await run(phantomSource([1, 3, 4, 5]));
    expect(runs).toEqual([1, 3]);
    expect(dead[0]!.reason).toMatch(/attempt 3\/3/);
  });

  it('with kvRunCounter, the handler still runs maxDeliver times and the counter is removed', async () => {
    const bus = await createEmbeddedBus({ dir });
    buses.push(bus);
    const counter = kvRunCounter(bus.kv, 'work-runs.T');
    const source = phantomSource([1, 3, 4, 5], counter);
    const { runs, dead } = await run(source);
    expect(runs).toEqual([1, 2, 3]);
    expect(dead[0]!.reason).toBe('always fails (attempt 3/3)');
    expect(dead[0]!.deliveryCount).toBe(4); // the server's count, for the record
    expect(source.settled).toEqual(['nak@1', 'nak@3', 'term@4']);
    expect(await bus.kv.keys('work-runs.>')).toEqual([]);
  });

  it("the transport's last delivery (maxDeliver + 3) is always the last attempt, whatever the counter says", async () => {
    const bus = await createEmbeddedBus({ dir: join(dir, 'b') });
    buses.push(bus);
    // deliveries 1, then 6 (four phantoms): the server will not deliver again, so run 2 must dead-letter
    const { runs, dead } = await run(phantomSource([1, 6], kvRunCounter(bus.kv, 'work-runs.U')));
    expect(runs).toEqual([1, 2]);
    expect(dead[0]!.reason).toBe('always fails (attempt 2/3)');
  });
});
