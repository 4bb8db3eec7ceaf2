/**
 * The consumer loop shared by both work-queue implementations, so that heart-beating,
 * retries and dead-lettering behave identically. An implementation supplies a
 * DeliverySource (one pull = at most one message) and raw ack/nak/term/working.
 *
 * Dead-lettering is decided here, client-side and deterministically (not from the
 * server's MAX_DELIVERIES advisory):
 * - the handler runs at most `maxDeliver` times per message;
 * - failing (throw / nak) on the last attempt, or term(reason) at any attempt, calls
 *   onDeadLetter with the reason, then terminates the message (it leaves the queue);
 * - a message delivered for the (maxDeliver+1)-th time was never settled by its last
 *   holder (crash, hang, lost connection): it is dead-lettered without running the handler;
 * - the transport allows DEAD_LETTER_ATTEMPTS deliveries beyond maxDeliver, so a failing
 *   onDeadLetter callback (or a crash during it) is retried a few times.
 *
 * "Times" are handler runs. A source may count them itself (`countRun`; NATS does, in
 * the KV store, because nats-server 2.9 can count a delivery that never reached a
 * client, which made a message die one run early); otherwise the transport's delivery
 * count is the run count. The transport's own limit still applies: a delivery at
 * transportMaxDeliver is always the last attempt.
 */
import { BusError, KvConflictError, type ConsumeOptions, type DeadLetter, type KvStore, type WorkConsumer, type WorkHandler, type WorkMessage } from './types.js';

/** Extra deliveries the transport allows beyond maxDeliver, reserved for dead-lettering. */
export const DEAD_LETTER_ATTEMPTS = 3;

export function transportMaxDeliver(maxDeliver: number): number {
  return maxDeliver + DEAD_LETTER_ATTEMPTS;
}

export interface RawDelivery {
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  msgId: string | undefined;
  seq: number;
  deliveryCount: number;
  ack(): Promise<void>;
  nak(delayMs: number): Promise<void>;
  term(): Promise<void>;
  working(): Promise<void>;
}

export interface DeliverySource {
  /** The next delivery, or null when none came within about `expiresMs`. May throw (transport). */
  next(expiresMs: number): Promise<RawDelivery | null>;
  /** Counts a handler run of this message and returns its number (1 = first); absent: deliveryCount. May throw (then deliveryCount is used). */
  countRun?(d: RawDelivery): Promise<number>;
  /** Drops the run count of a message that left the queue (acked or terminated). */
  forgetRuns?(d: RawDelivery): Promise<void>;
  /** Makes pending next() calls return null soon (called on stop). */
  interrupt?(): void;
}

export interface LoopSettings {
  maxDeliver: number;
  ackWaitMs: number;
  /** how long one pull waits for a message */
  pollMs: number;
}

/**
 * Handler runs counted in a KV store, one key per message (`<prefix>.<stream seq>`,
 * compare-and-set so concurrent workers cannot both take the same number).
 */
export function kvRunCounter(kv: KvStore, prefix = 'work-runs'): Required<Pick<DeliverySource, 'countRun' | 'forgetRuns'>> {
  const key = (d: RawDelivery) => `${prefix}.${d.seq}`;
  const enc = (n: number) => new TextEncoder().encode(String(n));
  return {
    async countRun(d) {
      for (let i = 0; i < 8; i++) {
        const entry = await kv.get(key(d));
        try {
          if (!entry) {
            await kv.create(key(d), enc(1));
            return 1;
          }
          const n = Number(new TextDecoder().decode(entry.value)) + 1;
          if (!Number.isSafeInteger(n)) throw new BusError(`run counter ${key(d)} is not a number`);
          await kv.update(key(d), enc(n), entry.revision);
          return n;
        } catch (e) {
          if (!(e instanceof KvConflictError)) throw e;
        }
      }
      throw new BusError(`run counter ${key(d)}: too many concurrent updates`);
    },
    async forgetRuns(d) {
      await kv.delete(key(d));
    },
  };
}

export function errorReason(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function sleep(ms: number, signal?: { aborted: boolean; wake?: () => void }): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) {
      signal.wake = () => {
        clearTimeout(t);
        resolve();
      };
    }
  });
}

interface Active {
  delivery: RawDelivery;
  msg: MessageImpl | null;
  done: Promise<void>;
}

class MessageImpl implements WorkMessage {
  settled = false;
  constructor(
    private readonly d: RawDelivery,
    readonly maxDeliver: number,
    private readonly loop: ConsumerLoop,
    /** This handler run's number (countRun, else the delivery count). */
    private readonly run: number = d.deliveryCount,
  ) {}
  get subject() {
    return this.d.subject;
  }
  get data() {
    return this.d.data;
  }
  get msgId() {
    return this.d.msgId;
  }
  get headers() {
    return this.d.headers;
  }
  get seq() {
    return this.d.seq;
  }
  get deliveryCount() {
    return this.run;
  }
  get lastAttempt() {
    return this.run >= this.maxDeliver || this.d.deliveryCount >= transportMaxDeliver(this.maxDeliver);
  }
  async ack(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.d.ack();
    await this.loop.forgetRuns(this.d);
  }
  async nak(delayMs?: number): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    if (this.lastAttempt) {
      await this.loop.deadLetter(this.d, `handler gave up (nak) on its last attempt (${this.run}/${this.maxDeliver})`);
    } else {
      await this.d.nak(delayMs ?? this.loop.nakDelayMs);
    }
  }
  async term(reason?: string): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.loop.deadLetter(this.d, reason ?? 'terminated by the handler');
  }
  async working(): Promise<void> {
    if (this.settled) return;
    await this.d.working();
  }
  /** handler threw */
  async fail(err: unknown): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    if (this.lastAttempt) {
      await this.loop.deadLetter(this.d, `${errorReason(err)} (attempt ${this.run}/${this.maxDeliver})`);
    } else {
      await this.d.nak(this.loop.nakDelayMs);
    }
  }
  /** consumer stopped while the handler still ran: give the message back at once */
  async abandon(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.d.nak(0);
  }
}

export class ConsumerLoop implements WorkConsumer {
  readonly nakDelayMs: number;
  private readonly concurrency: number;
  private running = true;
  private readonly active = new Set<Active>();
  private slotWaiter: (() => void) | null = null;
  private readonly sleeper: { aborted: boolean; wake?: () => void } = { aborted: false };

  constructor(
    private readonly source: DeliverySource,
    private readonly handler: WorkHandler,
    private readonly settings: LoopSettings,
    private readonly opts: ConsumeOptions = {},
  ) {
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
    this.nakDelayMs = Math.max(0, opts.nakDelayMs ?? 1000);
    void this.loop();
  }

  get inFlight(): number {
    return this.active.size;
  }

  private reportError(err: unknown): void {
    try {
      this.opts.onError?.(err);
    } catch {
      // a failing error reporter must not break the loop
    }
  }

  private async loop(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      if (this.active.size >= this.concurrency) {
        await new Promise<void>((resolve) => (this.slotWaiter = resolve));
        continue;
      }
      const t0 = Date.now();
      let d: RawDelivery | null;
      try {
        d = await this.source.next(this.settings.pollMs);
        backoff = 100;
      } catch (err) {
        if (!this.running) break;
        this.reportError(err);
        await sleep(backoff, this.sleeper);
        backoff = Math.min(backoff * 2, 2000);
        continue;
      }
      if (!this.running) {
        // pulled while stopping: hand it straight back
        if (d) await d.nak(0).catch(() => {});
        break;
      }
      if (!d) {
        // guard against a source that returns null at once (e.g. while disconnected)
        if (Date.now() - t0 < 50) await sleep(200, this.sleeper);
        continue;
      }
      this.dispatch(d);
    }
  }

  private dispatch(d: RawDelivery): void {
    const entry: Active = { delivery: d, msg: null, done: Promise.resolve() };
    this.active.add(entry);
    entry.done = this.process(entry)
      .catch((err) => this.reportError(err))
      .finally(() => {
        this.active.delete(entry);
        const w = this.slotWaiter;
        this.slotWaiter = null;
        w?.();
      });
  }

  private async process(entry: Active): Promise<void> {
    const d = entry.delivery;
    const { maxDeliver, ackWaitMs } = this.settings;
    let run = d.deliveryCount;
    if (this.source.countRun && d.deliveryCount <= maxDeliver + DEAD_LETTER_ATTEMPTS) {
      try {
        run = await this.source.countRun(d);
      } catch (err) {
        this.reportError(err);
      }
    }
    if (run > maxDeliver) {
      await this.deadLetter(
        d,
        `not acknowledged after ${maxDeliver} deliveries (the worker crashed, hung or lost its connection; ackWait ${ackWaitMs} ms)`,
      );
      return;
    }
    const msg = new MessageImpl(d, maxDeliver, this, run);
    entry.msg = msg;
    let beating = true;
    const heartbeat = setInterval(
      () => {
        if (beating && !msg.settled) msg.working().catch((err) => this.reportError(err));
      },
      Math.max(20, Math.floor(ackWaitMs / 3)),
    );
    const limit =
      this.opts.maxProcessingMs !== undefined
        ? setTimeout(() => {
            beating = false;
          }, this.opts.maxProcessingMs)
        : undefined;
    try {
      await this.handler(msg);
    } catch (err) {
      await msg.fail(err);
    } finally {
      clearInterval(heartbeat);
      if (limit) clearTimeout(limit);
    }
  }

  /** Reports a dead letter, then terminates the message; if the callback fails, naks for a retry. */
  async deadLetter(d: RawDelivery, reason: string): Promise<void> {
    const dl: DeadLetter = {
      subject: d.subject,
      data: d.data,
      msgId: d.msgId,
      headers: d.headers,
      seq: d.seq,
      deliveryCount: d.deliveryCount,
      reason,
    };
    try {
      if (this.opts.onDeadLetter) await this.opts.onDeadLetter(dl);
      else this.reportError(new BusError(`dead letter ${d.subject} (msgId ${d.msgId ?? '-'}): ${reason}`));
    } catch (err) {
      this.reportError(err);
      await d.nak(this.nakDelayMs).catch((e) => this.reportError(e));
      return;
    }
    await d.term();
    await this.forgetRuns(d);
  }

  /** Best effort: a count left behind only costs a KV key. */
  async forgetRuns(d: RawDelivery): Promise<void> {
    if (!this.source.forgetRuns) return;
    await this.source.forgetRuns(d).catch((err) => this.reportError(err));
  }

  async stop(opts: { graceMs?: number } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.source.interrupt?.();
    this.sleeper.wake?.();
    const w = this.slotWaiter;
    this.slotWaiter = null;
    w?.();
    const graceMs = Math.max(0, opts.graceMs ?? 0);
    const all = Promise.all([...this.active].map((a) => a.done));
    if (graceMs > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
      if (t) clearTimeout(t);
    }
    await Promise.all(
      [...this.active].map((a) => (a.msg ? a.msg.abandon().catch((err) => this.reportError(err)) : Promise.resolve())),
    );
  }
}
