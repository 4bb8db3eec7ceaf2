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
 */
import { BusError, type ConsumeOptions, type DeadLetter, type WorkConsumer, type WorkHandler, type WorkMessage } from './types.js';

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
  /** Makes pending next() calls return null soon (called on stop). */
  interrupt?(): void;
}

export interface LoopSettings {
  maxDeliver: number;
  ackWaitMs: number;
  /** how long one pull waits for a message */
  pollMs: number;
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
    return this.d.deliveryCount;
  }
  get lastAttempt() {
    return this.d.deliveryCount >= this.maxDeliver;
  }
  async ack(): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    await this.d.ack();
  }
  async nak(delayMs?: number): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    if (this.lastAttempt) {
      await this.loop.deadLetter(this.d, `handler gave up (nak) on its last attempt (${this.d.deliveryCount}/${this.maxDeliver})`);
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
      await this.loop.deadLetter(this.d, `${errorReason(err)} (attempt ${this.d.deliveryCount}/${this.maxDeliver})`);
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
    if (d.deliveryCount > maxDeliver) {
      await this.deadLetter(
        d,
        `not acknowledged after ${maxDeliver} deliveries (the worker crashed, hung or lost its connection; ackWait ${ackWaitMs} ms)`,
      );
      return;
    }
    const msg = new MessageImpl(d, maxDeliver, this);
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
