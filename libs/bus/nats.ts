/**
 * NATS bus: JetStream work-queue stream + durable pull consumer (work), limits stream
 * (events), KV bucket (job state), object store (artifacts). Everything is created
 * idempotently by connectBus; the connection reconnects forever, so a nats-server restart
 * is survived: consumers resume pulling, and operations that hit the outage
 * (timeouts, 503s) are retried for up to `retryTransientMs`. See docs/bus.md.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  AckPolicy,
  connect,
  createInbox,
  DeliverPolicy,
  DiscardPolicy,
  Events,
  headers as natsHeaders,
  KvWatchInclude,
  nanos,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type Msg,
  type KV,
  type MsgHdrs,
  type MsgRequest,
  type NatsConnection,
  type ObjectInfo,
  type ObjectStore,
  type StreamConfig,
  type Subscription,
} from 'nats';
import { ConsumerLoop, kvRunCounter, transportMaxDeliver, type DeliverySource, type RawDelivery } from './consume-loop.js';
import {
  createSubjects,
  patternWithin,
  subjectMatches,
  validateArtifactKey,
  validateKvFilter,
  validateKvKey,
  validatePattern,
  validateSubject,
  type Subjects,
} from './subjects.js';
import {
  ArtifactNotFoundError,
  BusClosedError,
  BusError,
  BusValidationError,
  KvConflictError,
  type ArtifactInfo,
  type ArtifactSource,
  type ArtifactStore,
  type Bus,
  type BusEvent,
  type ConsumeOptions,
  type EventBus,
  type KvEntry,
  type KvStore,
  type KvWatchEvent,
  type KvWatchOptions,
  type PublishResult,
  type PublishWorkOptions,
  type PutOptions,
  type Stoppable,
  type SubscribeOptions,
  type WorkConsumer,
  type WorkHandler,
  type WorkQueue,
  type WorkQueueSettings,
} from './types.js';

export interface NatsBusOptions extends WorkQueueSettings {
  servers: string | string[];
  /** connection name (shows in server monitoring) */
  name?: string;
  /** prefix of stream, consumer and bucket names (default `UAE`) */
  streamPrefix?: string;
  /** subject root (default `uae.v1`); different roots isolate deployments sharing a server */
  subjectRoot?: string;
  /** stream/bucket replicas (default 1; 3 in a clustered JetStream) */
  replicas?: number;
  /** default `file`: survives server restarts */
  storage?: 'file' | 'memory';
  /** events retention (default 7 days) */
  eventsMaxAgeMs?: number;
  /** events stream size cap in bytes (default unlimited) */
  eventsMaxBytes?: number;
  /** KV history per key (default 5) */
  kvHistory?: number;
  /** JetStream API request timeout (default 5000 ms) */
  requestTimeoutMs?: number;
  /** how long an operation retries through a disconnect / JetStream restart (default 30 000 ms) */
  retryTransientMs?: number;
  /** keep trying when no server is up at start (default false: fail fast) */
  waitOnFirstConnect?: boolean;
  /** one pull's wait for a message (default 5000 ms, min 1000) */
  pollMs?: number;
}

/** Names of everything connectBus creates. */
export interface NatsTopology {
  workStream: string;
  workConsumer: string;
  eventsStream: string;
  kvBucket: string;
  objectBucket: string;
}

export function natsTopology(streamPrefix = 'UAE'): NatsTopology {
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(streamPrefix)) {
    throw new BusValidationError(`streamPrefix must be 1-32 characters of [A-Za-z0-9_-], got ${JSON.stringify(streamPrefix)}`, 'streamPrefix');
  }
  return {
    workStream: `${streamPrefix}_WORK`,
    workConsumer: `${streamPrefix}_workers`,
    eventsStream: `${streamPrefix}_EVENTS`,
    kvBucket: `${streamPrefix}_jobs`,
    objectBucket: `${streamPrefix}_artifacts`,
  };
}

// ------------------------------------------------------------ errors & retry

/**
 * JetStream API error codes (`api_error.err_code` in a JetStream API reply;
 * nats-server's errors.json names them).
 */
export const JS_API_ERR = {
  /** JSConsumerNotFoundErr: "consumer not found". */
  CONSUMER_NOT_FOUND: 10014,
  /** JSStreamNotFoundErr: "stream not found". */
  STREAM_NOT_FOUND: 10059,
  /** JSStreamWrongLastSequenceErr: "wrong last sequence" (a KV update/delete whose expected revision is stale). */
  STREAM_WRONG_LAST_SEQUENCE: 10071,
} as const;

/**
 * NATS status codes: `api_error.code` of a JetStream API reply (HTTP-like) and
 * the `Status` header of a pull consumer's status messages.
 */
export const NATS_STATUS = {
  /** Idle heartbeat (a pull status message, not a failure). */
  HEARTBEAT: 100,
  NOT_FOUND: 404,
  /** Pull: max waiting exceeded, or the consumer was deleted. */
  CONFLICT: 409,
  INTERNAL_ERROR: 500,
  /** No responders / JetStream temporarily unavailable. */
  NO_RESPONDERS: 503,
} as const;

interface NatsLikeError {
  code?: string;
  message?: string;
  api_error?: { code?: number; err_code?: number; description?: string };
}

function asNatsError(err: unknown): NatsLikeError {
  return (typeof err === 'object' && err !== null ? err : {}) as NatsLikeError;
}

/** Errors an outage produces: the operation may succeed if tried again. */
export function isTransientNatsError(err: unknown): boolean {
  const e = asNatsError(err);
  if (e.code === 'TIMEOUT' || e.code === String(NATS_STATUS.NO_RESPONDERS) || e.code === 'DISCONNECT' || e.code === 'CONNECTION_REFUSED') return true;
  if (e.api_error && (e.api_error.code === NATS_STATUS.NO_RESPONDERS || e.api_error.code === NATS_STATUS.INTERNAL_ERROR)) return true;
  return /timeout|no responders|temporarily unavailable|jetstream not (enabled|ready)|disconnect/i.test(e.message ?? '');
}

function isNotFound(err: unknown): boolean {
  const e = asNatsError(err);
  return (
    e.code === String(NATS_STATUS.NOT_FOUND) ||
    e.api_error?.code === NATS_STATUS.NOT_FOUND ||
    e.api_error?.err_code === JS_API_ERR.STREAM_NOT_FOUND ||
    e.api_error?.err_code === JS_API_ERR.CONSUMER_NOT_FOUND
  );
}

function isWrongSequence(err: unknown): boolean {
  const e = asNatsError(err);
  return e.api_error?.err_code === JS_API_ERR.STREAM_WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(e.message ?? '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function hdrsToRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const k of h.keys()) out[k] = h.get(k);
  return out;
}

function recordToHdrs(r: Record<string, string> | undefined): MsgHdrs | undefined {
  if (!r || Object.keys(r).length === 0) return undefined;
  const h = natsHeaders();
  for (const [k, v] of Object.entries(r)) h.set(k, v);
  return h;
}

class Ctx {
  closed = false;
  readonly stoppables = new Set<{ stop(): Promise<void> }>();
  constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly retryMs: number,
    readonly timeoutMs: number,
  ) {}

  /** runs `fn`, retrying transient failures until retryMs has passed; `attempt` is 1-based */
  async retry<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryMs;
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new BusClosedError('bus is closed');
      try {
        return await fn(attempt);
      } catch (err) {
        if (this.closed || !isTransientNatsError(err) || Date.now() + delay > deadline) throw err;
        await sleep(delay);
        delay = Math.min(delay * 2, 2000);
      }
    }
  }

  private readonly reconnectListeners = new Set<() => void>();
  onReconnect(fn: () => void): () => void {
    this.reconnectListeners.add(fn);
    return () => this.reconnectListeners.delete(fn);
  }
  /** follows the connection's status events (started once by connectBus) */
  async watchStatus(): Promise<void> {
    for await (const st of this.nc.status()) {
      if (st.type === Events.Reconnect) for (const fn of [...this.reconnectListeners]) fn();
    }
  }

  track<T extends { stop(): Promise<void> }>(s: T): T {
    this.stoppables.add(s);
    return s;
  }
}

// ------------------------------------------------------------ topology

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  let info;
  try {
    info = await jsm.streams.info(cfg.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(cfg);
      return;
    } catch (addErr) {
      // another process may have created it meanwhile: fall through to compare/update
      info = await jsm.streams.info(cfg.name).catch(() => {
        throw addErr;
      });
    }
  }
  const cur = info.config;
  if (cfg.retention && cur.retention !== cfg.retention) {
    throw new BusError(`stream ${cfg.name} exists with retention ${cur.retention}, expected ${cfg.retention}; delete it or use another streamPrefix`);
  }
  if (cfg.storage && cur.storage !== cfg.storage) {
    throw new BusError(`stream ${cfg.name} exists with storage ${cur.storage}, expected ${cfg.storage}; delete it or use another streamPrefix`);
  }
  const differs = (Object.keys(cfg) as (keyof StreamConfig)[]).some(
    (k) => k !== 'name' && JSON.stringify(cur[k]) !== JSON.stringify(cfg[k]),
  );
  if (differs) await jsm.streams.update(cfg.name, { ...cur, ...cfg });
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  let info;
  try {
    info = await jsm.consumers.info(stream, cfg.durable_name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.consumers.add(stream, cfg);
      return;
    } catch (addErr) {
      info = await jsm.consumers.info(stream, cfg.durable_name).catch(() => {
        throw addErr;
      });
    }
  }
  const cur = info.config;
  const updatable = ['ack_wait', 'max_deliver', 'max_ack_pending', 'description'] as const;
  if (cur.ack_policy !== cfg.ack_policy || (cfg.filter_subject !== undefined && cur.filter_subject !== cfg.filter_subject)) {
    throw new BusError(`consumer ${stream}/${cfg.durable_name} exists with a different ack policy or filter; delete it or use another streamPrefix`);
  }
  if (updatable.some((k) => cfg[k] !== undefined && cur[k] !== cfg[k])) {
    await jsm.consumers.update(stream, cfg.durable_name, {
      ack_wait: cfg.ack_wait,
      max_deliver: cfg.max_deliver,
      max_ack_pending: cfg.max_ack_pending,
      description: cfg.description,
    });
  }
}

// ------------------------------------------------------------ artifacts

function toReadable(data: ArtifactSource, hash: ReturnType<typeof createHash>, size: { n: number }): ReadableStream<Uint8Array> {
  if (data instanceof Uint8Array) {
    let sent = false;
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (!sent) {
          sent = true;
          hash.update(data);
          size.n += data.byteLength;
          if (data.byteLength > 0) c.enqueue(data);
        }
        c.close();
      },
    });
  }
  const it = data[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const { value, done } = await it.next();
      if (done) {
        c.close();
        return;
      }
      if (!(value instanceof Uint8Array)) throw new BusValidationError('artifact stream chunks must be Uint8Array', 'data');
      hash.update(value);
      size.n += value.byteLength;
      c.enqueue(value);
    },
    async cancel() {
      await it.return?.();
    },
  });
}

function digestToHex(digest: string): string {
  // nats.js writes `SHA-256=<base64url>`
  const b64 = digest.startsWith('SHA-256=') ? digest.slice('SHA-256='.length) : digest;
  return Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('hex');
}

function objectInfoToArtifact(info: ObjectInfo): ArtifactInfo {
  const md = info.metadata ?? {};
  return {
    key: info.name,
    sha256: md['sha256'] ?? digestToHex(info.digest),
    size: info.size,
    mediaType: md['mediaType'] ?? 'application/octet-stream',
    mtime: info.mtime,
  };
}

class NatsArtifactStore implements ArtifactStore {
  constructor(
    private readonly ctx: Ctx,
    private readonly os: ObjectStore,
  ) {}

  async put(key: string, data: ArtifactSource, opts: PutOptions = {}): Promise<ArtifactInfo> {
    validateArtifactKey(key);
    const mediaType = opts.mediaType ?? 'application/octet-stream';
    const attemptOnce = async (): Promise<ArtifactInfo> => {
      const hash = createHash('sha256');
      const size = { n: 0 };
      const rs = toReadable(data, hash, size);
      // The object's metadata is written after all chunks; nats.js purges the chunks of a
      // failed put, and the previous version stays current until the new metadata lands.
      const info = await this.os.put({ name: key, metadata: { mediaType } }, rs, { timeout: this.ctx.timeoutMs });
      const sha256 = hash.digest('hex');
      if (digestToHex(info.digest) !== sha256) throw new BusError(`artifact ${key}: digest mismatch after upload`);
      return { key, sha256, size: size.n, mediaType, mtime: info.mtime };
    };
    // bytes can be re-sent after an outage; a stream cannot be replayed
    return data instanceof Uint8Array ? this.ctx.retry(attemptOnce) : attemptOnce();
  }

  private async current(key: string): Promise<ObjectInfo | null> {
    validateArtifactKey(key);
    const info = await this.ctx.retry(() => this.os.info(key));
    return info && !info.deleted ? info : null;
  }

  async open(key: string): Promise<{ info: ArtifactInfo; stream: AsyncIterable<Uint8Array> }> {
    validateArtifactKey(key);
    const res = await this.ctx.retry(() => this.os.get(key));
    if (!res) throw new ArtifactNotFoundError(key);
    const info = objectInfoToArtifact(res.info);
    async function* stream(): AsyncGenerator<Uint8Array> {
      const reader = res!.data.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (value && value.byteLength > 0) yield value;
        }
      } finally {
        reader.releaseLock();
      }
      const err = await res!.error;
      if (err) throw err;
    }
    return { info, stream: stream() };
  }

  async get(key: string): Promise<Uint8Array> {
    const { stream } = await this.open(key);
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const p of stream) {
      parts.push(p);
      n += p.byteLength;
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.byteLength;
    }
    return out;
  }

  async stat(key: string): Promise<ArtifactInfo | null> {
    const info = await this.current(key);
    return info ? objectInfoToArtifact(info) : null;
  }

  async has(key: string): Promise<boolean> {
    return (await this.current(key)) !== null;
  }

  async delete(key: string): Promise<boolean> {
    const info = await this.current(key);
    if (!info) return false;
    await this.ctx.retry(() => this.os.delete(key));
    return true;
  }

  async list(prefix = ''): Promise<ArtifactInfo[]> {
    const all = await this.ctx.retry(() => this.os.list());
    return all
      .filter((i) => !i.deleted && i.name.startsWith(prefix))
      .map(objectInfoToArtifact)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

// ------------------------------------------------------------ KV

class NatsKvStore implements KvStore {
  constructor(
    private readonly ctx: Ctx,
    private readonly kv: KV,
  ) {}

  async get(key: string): Promise<KvEntry | null> {
    validateKvKey(key);
    const e = await this.ctx.retry(() => this.kv.get(key));
    if (!e || e.operation !== 'PUT') return null;
    return { key, value: e.value, revision: e.revision };
  }

  /**
   * A retried write whose first attempt did land reports a conflict; if the key now holds
   * exactly our bytes we treat that as our own write.
   */
  private async ownWrite(key: string, value: Uint8Array, attempt: number, err: unknown): Promise<number> {
    if (attempt > 1) {
      const cur = await this.kv.get(key).catch(() => null);
      if (cur && cur.operation === 'PUT' && sameBytes(cur.value, value)) return cur.revision;
    }
    throw err;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    validateKvKey(key);
    return this.ctx.retry(async (attempt) => {
      try {
        return await this.kv.create(key, value);
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
        return this.ownWrite(key, value, attempt, new KvConflictError(key, `key ${key} already exists`, { cause: err }));
      }
    });
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    validateKvKey(key);
    if (!Number.isSafeInteger(expectedRevision) || expectedRevision < 0) {
      throw new BusValidationError(`expectedRevision must be a non-negative integer, got ${expectedRevision}`, 'expectedRevision');
    }
    return this.ctx.retry(async (attempt) => {
      try {
        return await this.kv.put(key, value, { previousSeq: expectedRevision });
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
        return this.ownWrite(key, value, attempt, new KvConflictError(key, `key ${key}: revision is not ${expectedRevision}`, { cause: err }));
      }
    });
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    validateKvKey(key);
    return this.ctx.retry(() => this.kv.put(key, value));
  }

  async delete(key: string, opts: { expectedRevision?: number } = {}): Promise<void> {
    validateKvKey(key);
    await this.ctx.retry(async (attempt) => {
      try {
        if (opts.expectedRevision !== undefined) await this.kv.delete(key, { previousSeq: opts.expectedRevision });
        else {
          const cur = await this.kv.get(key);
          if (!cur || cur.operation !== 'PUT') return;
          await this.kv.delete(key);
        }
      } catch (err) {
        if (!isWrongSequence(err)) throw err;
        if (attempt > 1) {
          const cur = await this.kv.get(key).catch(() => null);
          if (!cur || cur.operation !== 'PUT') return;
        }
        throw new KvConflictError(key, `key ${key}: revision is not ${opts.expectedRevision}`, { cause: err });
      }
    });
  }

  async keys(filter = '>'): Promise<string[]> {
    validateKvFilter(filter);
    return this.ctx.retry(async () => {
      const out: string[] = [];
      for await (const k of await this.kv.keys(filter)) out.push(k);
      return out.sort();
    });
  }

  async watch(opts: KvWatchOptions, handler: (e: KvWatchEvent) => void | Promise<void>): Promise<Stoppable> {
    const key = opts.key ?? '>';
    validateKvFilter(key, 'key');
    const iter = await this.ctx.retry(() =>
      this.kv.watch({ key, include: opts.updatesOnly ? KvWatchInclude.UpdatesOnly : KvWatchInclude.LastValue }),
    );
    const done = (async () => {
      for await (const e of iter) {
        const ev: KvWatchEvent = {
          key: e.key,
          value: e.operation === 'PUT' ? e.value : new Uint8Array(0),
          revision: e.revision,
          operation: e.operation === 'PUT' ? 'PUT' : 'DEL',
        };
        try {
          await handler(ev);
        } catch {
          // watcher errors are the handler's business
        }
      }
    })().catch(() => {});
    const s = {
      stop: async () => {
        this.ctx.stoppables.delete(s);
        iter.stop();
        await done;
      },
    };
    return this.ctx.track(s);
  }
}

// ------------------------------------------------------------ pull source

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` (v1) or the v2 form with domain and account hash */
export function parseAckSubject(reply: string): { stream: string; deliveryCount: number; streamSeq: number } | null {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return null;
  const base = t.length === 9 ? 2 : t.length >= 11 ? 4 : -1;
  if (base < 0) return null;
  const deliveryCount = Number(t[base + 2]);
  const streamSeq = Number(t[base + 3]);
  if (!Number.isFinite(deliveryCount) || !Number.isFinite(streamSeq)) return null;
  return { stream: t[base]!, deliveryCount, streamSeq };
}

const ACK = new TextEncoder().encode('+ACK');
const WPI = new TextEncoder().encode('+WPI');
const TERM = new TextEncoder().encode('+TERM');

/**
 * One-message-at-a-time pull on the shared durable consumer, over one long-lived inbox.
 * A pull is only sent when the consumer loop has a free slot. Unlike a per-pull inbox
 * (nats.js next()/fetch(), which give up on a client timer), a message the server sends
 * late is never dropped: it lands here and is handed out (heart-beaten while it waits).
 * After a reconnect outstanding pulls are forgotten (the server lost them) and re-sent.
 */
class PullSource implements DeliverySource {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private outstanding = 0;
  private readonly buffer: { d: RawDelivery; timer: NodeJS.Timeout }[] = [];
  private waiter: { resolve: (d: RawDelivery | null) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout } | null = null;
  private needEnsure = false;
  private stopping = false;
  private lastExpiresMs = 5000;
  private readonly offReconnect: () => void;

  constructor(
    private readonly ctx: Ctx,
    private readonly topo: NatsTopology,
    private readonly ackWaitMs: number,
    private readonly ensure: () => Promise<void>,
  ) {
    this.inbox = createInbox();
    this.sub = ctx.nc.subscribe(this.inbox, { callback: (err, msg) => (err ? this.fail(err) : this.onMsg(msg)) });
    this.offReconnect = ctx.onReconnect(() => {
      // pulls waiting at the old server process are gone
      this.outstanding = 0;
      this.settle(null);
    });
  }

  private settle(d: RawDelivery | null): boolean {
    const w = this.waiter;
    if (!w) return false;
    this.waiter = null;
    clearTimeout(w.timer);
    w.resolve(d);
    return true;
  }

  private fail(err: unknown): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private onMsg(msg: Msg): void {
    if (msg.subject === this.inbox) {
      // status: 100 heartbeat, 408 pull expired, 409 max waiting / consumer deleted, 503 no responders ...
      const code = msg.headers?.code ?? 0;
      if (code === NATS_STATUS.HEARTBEAT) return;
      this.outstanding = Math.max(0, this.outstanding - 1);
      const description = msg.headers?.description ?? '';
      if (code === NATS_STATUS.NO_RESPONDERS || (code === NATS_STATUS.CONFLICT && /deleted/i.test(description))) {
        this.needEnsure = true;
        this.fail(new BusError(`pull on ${this.topo.workStream}/${this.topo.workConsumer} failed: ${code} ${description}`));
        return;
      }
      this.settle(null);
      return;
    }
    this.outstanding = Math.max(0, this.outstanding - 1);
    const d = this.wrap(msg);
    if (this.stopping) {
      void d.nak(0).catch(() => {});
      return;
    }
    if (this.settle(d)) return;
    // nobody is waiting (a late delivery): keep it alive until it is taken
    const timer = setInterval(() => void d.working().catch(() => {}), Math.max(20, Math.floor(this.ackWaitMs / 3)));
    this.buffer.push({ d, timer });
  }

  private wrap(m: Msg): RawDelivery {
    const reply = m.reply ?? '';
    const info = parseAckSubject(reply);
    const headers = hdrsToRecord(m.headers);
    const nc = this.ctx.nc;
    const timeout = this.ctx.timeoutMs;
    return {
      subject: m.subject,
      data: m.data,
      headers,
      msgId: headers['Nats-Msg-Id'],
      seq: info?.streamSeq ?? 0,
      deliveryCount: info?.deliveryCount ?? 1,
      // confirmed ack: once it resolves the message is gone from the work queue
      ack: async () => {
        await nc.request(reply, ACK, { timeout });
      },
      nak: async (delayMs) => {
        nc.publish(reply, new TextEncoder().encode(delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK'));
      },
      term: async () => {
        nc.publish(reply, TERM);
        await nc.flush();
      },
      working: async () => {
        nc.publish(reply, WPI);
      },
    };
  }

  async next(expiresMs: number): Promise<RawDelivery | null> {
    if (this.ctx.closed) throw new BusClosedError('bus is closed');
    if (this.stopping) return null;
    const buffered = this.buffer.shift();
    if (buffered) {
      clearInterval(buffered.timer);
      return buffered.d;
    }
    if (this.needEnsure) {
      // e.g. memory storage after a server restart: recreate the stream and consumer
      await this.ensure();
      this.needEnsure = false;
    }
    if (this.waiter) throw new BusError('concurrent next() on one pull source');
    if (this.outstanding === 0) {
      this.outstanding++;
      this.lastExpiresMs = expiresMs;
      this.ctx.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.topo.workStream}.${this.topo.workConsumer}`,
        new TextEncoder().encode(JSON.stringify({ batch: 1, expires: nanos(expiresMs) })),
        { reply: this.inbox },
      );
    }
    return new Promise<RawDelivery | null>((resolve, reject) => {
      // the server answers by `expires` (a message or a 408); this timer only covers a lost
      // pull (server restart without our noticing): forget it, pull again next time
      const timer = setTimeout(() => {
        this.outstanding = 0;
        this.settle(null);
      }, expiresMs + Math.max(2000, expiresMs));
      this.waiter = { resolve, reject, timer };
    });
  }

  interrupt(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.offReconnect();
    this.settle(null);
    for (const b of this.buffer.splice(0)) {
      clearInterval(b.timer);
      void b.d.nak(0).catch(() => {});
    }
    // a pull still open at the server may yet deliver: keep listening (and hand back) until it expires
    if (this.outstanding === 0 || this.ctx.closed) this.sub.unsubscribe();
    else setTimeout(() => this.sub.unsubscribe(), this.lastExpiresMs + 1000).unref();
  }
}

// ------------------------------------------------------------ work queue

class NatsWorkQueue implements WorkQueue {
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  private readonly consumers = new Set<ConsumerLoop>();

  constructor(
    private readonly ctx: Ctx,
    private readonly topo: NatsTopology,
    private readonly subjects: Subjects,
    settings: { maxDeliver: number; ackWaitMs: number },
    private readonly pollMs: number,
    private readonly ensure: () => Promise<void>,
    private readonly runs: KvStore,
  ) {
    this.maxDeliver = settings.maxDeliver;
    this.ackWaitMs = settings.ackWaitMs;
  }

  async publish(subject: string, data: Uint8Array, opts: PublishWorkOptions): Promise<PublishResult> {
    validateSubject(subject);
    if (!subjectMatches(this.subjects.allWork, subject)) {
      throw new BusValidationError(`work subject must match ${this.subjects.allWork}, got ${subject}`, 'subject');
    }
    if (!opts || typeof opts.msgId !== 'string' || opts.msgId.length === 0) {
      throw new BusValidationError('msgId is required', 'msgId');
    }
    // the msg id makes retries safe: a copy that already landed is reported as duplicate
    const pa = await this.ctx.retry(() =>
      this.ctx.js.publish(subject, data, { msgID: opts.msgId, headers: recordToHdrs(opts.headers), timeout: this.ctx.timeoutMs }),
    );
    return { seq: pa.seq, duplicate: pa.duplicate };
  }

  private source(): DeliverySource {
    const pull = new PullSource(this.ctx, this.topo, this.ackWaitMs, this.ensure);
    // Handler runs counted in KV, not taken from the server's delivery count (docs/bus.md).
    const counter = kvRunCounter(this.runs, `work-runs.${this.topo.workStream}`);
    return { next: (ms) => pull.next(ms), interrupt: () => pull.interrupt(), countRun: counter.countRun, forgetRuns: counter.forgetRuns };
  }

  consume(handler: WorkHandler, opts: ConsumeOptions = {}): WorkConsumer {
    if (this.ctx.closed) throw new BusClosedError('bus is closed');
    const loop = new ConsumerLoop(this.source(), handler, { maxDeliver: this.maxDeliver, ackWaitMs: this.ackWaitMs, pollMs: this.pollMs }, opts);
    this.consumers.add(loop);
    const ctx = this.ctx;
    const handle = {
      stop: async (o?: { graceMs?: number }) => {
        this.consumers.delete(loop);
        ctx.stoppables.delete(handle);
        await loop.stop(o);
      },
      get inFlight() {
        return loop.inFlight;
      },
    };
    return ctx.track(handle);
  }

  /**
   * Removes "ghost" messages: after a hard kill, nats-server 2.9's file store can bring back
   * work-queue messages whose acks (and so removal) were not yet written, while the consumer's
   * ack floor already covers them. They are never delivered again; left alone they only
   * inflate counts. Everything at or below the single shared consumer's ack floor is acked.
   */
  async sweep(): Promise<number> {
    const { jsm } = this.ctx;
    const ci = await this.ctx.retry(() => jsm.consumers.info(this.topo.workStream, this.topo.workConsumer));
    const floor = ci.ack_floor.stream_seq;
    const si = await this.ctx.retry(() => jsm.streams.info(this.topo.workStream));
    if (si.state.messages === 0 || si.state.first_seq > floor) return 0;
    const r = await this.ctx.retry(() => jsm.streams.purge(this.topo.workStream, { seq: floor + 1 }));
    return r.purged;
  }

  async pending(filter?: string): Promise<number> {
    await this.sweep();
    if (filter === undefined) {
      const si = await this.ctx.retry(() => this.ctx.jsm.streams.info(this.topo.workStream));
      return si.state.messages;
    }
    validatePattern(filter, 'filter');
    const si = await this.ctx.retry(() => this.ctx.jsm.streams.info(this.topo.workStream, { subjects_filter: filter }));
    return Object.values(si.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  }

  /**
   * A filtered purge is done message by message: nats-server 2.9's filtered purge on a
   * work-queue stream moves the consumer past every message (also the ones it did not
   * purge), so they would never be delivered.
   */
  async purge(filter?: string): Promise<number> {
    const { jsm } = this.ctx;
    const stream = this.topo.workStream;
    if (filter === undefined) {
      const r = await this.ctx.retry(() => jsm.streams.purge(stream));
      return r.purged;
    }
    validatePattern(filter, 'filter');
    let purged = 0;
    let seq = 1;
    for (;;) {
      let found: number;
      try {
        const query = { seq, next_by_subj: filter } as unknown as MsgRequest;
        found = (await this.ctx.retry(() => jsm.streams.getMessage(stream, query))).seq;
      } catch (err) {
        if (isNotFound(err)) break;
        throw err;
      }
      try {
        if (await this.ctx.retry(() => jsm.streams.deleteMessage(stream, found, false))) purged++;
      } catch (err) {
        if (!isNotFound(err)) throw err; // acked meanwhile
      }
      seq = found + 1;
    }
    return purged;
  }
}

// ------------------------------------------------------------ events

class NatsEventBus implements EventBus {
  constructor(
    private readonly ctx: Ctx,
    private readonly topo: NatsTopology,
    private readonly subjects: Subjects,
  ) {}

  async publish(subject: string, data: Uint8Array, opts: { headers?: Record<string, string> } = {}): Promise<void> {
    validateSubject(subject);
    if (this.ctx.closed) throw new BusClosedError('bus is closed');
    if (subjectMatches(this.subjects.allJobEvents, subject)) {
      // persisted; the random msg id dedups a retry whose first attempt landed
      const msgID = randomUUID();
      await this.ctx.retry(() =>
        this.ctx.js.publish(subject, data, { msgID, headers: recordToHdrs(opts.headers), timeout: this.ctx.timeoutMs }),
      );
    } else {
      this.ctx.nc.publish(subject, data, { headers: recordToHdrs(opts.headers) });
    }
  }

  async subscribe(pattern: string, handler: (e: BusEvent) => void | Promise<void>, opts: SubscribeOptions = {}): Promise<Stoppable> {
    validatePattern(pattern);
    if (this.ctx.closed) throw new BusClosedError('bus is closed');
    const call = async (e: BusEvent) => {
      try {
        await handler(e);
      } catch {
        // subscriber errors are the subscriber's business
      }
    };
    if (opts.deliver === 'all') {
      if (!patternWithin(pattern, this.subjects.allJobEvents)) {
        throw new BusValidationError(`deliver 'all' needs a pattern inside ${this.subjects.allJobEvents}, got ${pattern}`, 'pattern');
      }
      // ordered consumer on the events stream: history first, then live; recreated after reconnects
      const consumer = await this.ctx.retry(() => this.ctx.js.consumers.get(this.topo.eventsStream, { filterSubjects: pattern }));
      const msgs: ConsumerMessages = await consumer.consume();
      const done = (async () => {
        for await (const m of msgs) {
          await call({ subject: m.subject, data: m.data, headers: hdrsToRecord(m.headers), seq: m.seq });
        }
      })().catch(() => {});
      const s = {
        stop: async () => {
          this.ctx.stoppables.delete(s);
          await msgs.close().catch(() => {});
          await done;
        },
      };
      return this.ctx.track(s);
    }
    const sub: Subscription = this.ctx.nc.subscribe(pattern);
    const done = (async () => {
      for await (const m of sub) {
        const headers = hdrsToRecord(m.headers);
        await call({ subject: m.subject, data: m.data, headers, seq: 0 });
      }
    })().catch(() => {});
    const s = {
      stop: async () => {
        this.ctx.stoppables.delete(s);
        sub.unsubscribe();
        await done;
      },
    };
    return this.ctx.track(s);
  }
}

// ------------------------------------------------------------ connect

export interface NatsBus extends Bus {
  readonly kind: 'nats';
  readonly topology: NatsTopology;
  /** the underlying connection (status, advanced use) */
  readonly connection: NatsConnection;
}

/**
 * Connects and creates (idempotently) the streams, consumer and buckets. Safe to call
 * from every service at start-up; a changed ack wait / max deliver / dedup window is
 * applied as an update, an incompatible existing stream fails with a clear error.
 */
export async function connectBus(opts: NatsBusOptions): Promise<NatsBus> {
  const subjects = createSubjects(opts.subjectRoot);
  const topo = natsTopology(opts.streamPrefix);
  const storage = (opts.storage ?? 'file') === 'memory' ? StorageType.Memory : StorageType.File;
  const replicas = Math.max(1, Math.floor(opts.replicas ?? 1));
  const ackWaitMs = Math.max(100, opts.ackWaitMs ?? 30_000);
  const maxDeliver = Math.max(1, Math.floor(opts.maxDeliver ?? 5));
  const dedupWindowMs = Math.max(1000, opts.dedupWindowMs ?? 10 * 60_000);
  const timeoutMs = opts.requestTimeoutMs ?? 5000;
  const pollMs = Math.max(1000, opts.pollMs ?? 5000);

  const nc = await connect({
    servers: opts.servers,
    name: opts.name ?? 'uae',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
    pingInterval: 10_000,
  });
  try {
    const jsm = await nc.jetstreamManager({ timeout: timeoutMs });
    const js = nc.jetstream({ timeout: timeoutMs });
    const ctx = new Ctx(nc, js, jsm, opts.retryTransientMs ?? 30_000, timeoutMs);
    void ctx.watchStatus().catch(() => {});

    const ensureWork = async () => {
      await ctx.retry(() =>
        ensureStream(jsm, {
          name: topo.workStream,
          description: 'uae work items (attack shards); removed when acked',
          subjects: [subjects.allWork],
          retention: RetentionPolicy.Workqueue,
          storage,
          num_replicas: replicas,
          discard: DiscardPolicy.Old,
          duplicate_window: nanos(dedupWindowMs),
        }),
      );
      await ctx.retry(() =>
        ensureConsumer(jsm, topo.workStream, {
          durable_name: topo.workConsumer,
          description: 'uae workers (shared durable pull consumer)',
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          replay_policy: ReplayPolicy.Instant,
          ack_wait: nanos(ackWaitMs),
          max_deliver: transportMaxDeliver(maxDeliver),
          max_ack_pending: 1000,
        }),
      );
    };
    await ensureWork();
    await ctx.retry(() =>
      ensureStream(jsm, {
        name: topo.eventsStream,
        description: 'uae job events',
        subjects: [subjects.allJobEvents],
        retention: RetentionPolicy.Limits,
        storage,
        num_replicas: replicas,
        discard: DiscardPolicy.Old,
        max_age: nanos(opts.eventsMaxAgeMs ?? 7 * 24 * 3600_000),
        max_bytes: opts.eventsMaxBytes ?? -1,
        duplicate_window: nanos(2 * 60_000),
      }),
    );
    const kv = await ctx.retry(() => js.views.kv(topo.kvBucket, { history: opts.kvHistory ?? 5, storage, replicas, timeout: timeoutMs }));
    const os = await ctx.retry(() => js.views.os(topo.objectBucket, { storage, replicas }));

    const kvStore = new NatsKvStore(ctx, kv);
    const work = new NatsWorkQueue(ctx, topo, subjects, { maxDeliver, ackWaitMs }, pollMs, ensureWork, kvStore);
    await work.sweep();
    return {
      kind: 'nats',
      subjects,
      topology: topo,
      connection: nc,
      artifacts: new NatsArtifactStore(ctx, os),
      kv: kvStore,
      work,
      events: new NatsEventBus(ctx, topo, subjects),
      async close() {
        if (ctx.closed) return;
        await Promise.all([...ctx.stoppables].map((s) => s.stop().catch(() => {})));
        ctx.closed = true;
        // flush acks/naks still buffered, but do not hang on a dead server
        await Promise.race([nc.flush().catch(() => {}), sleep(2000)]);
        await nc.close().catch(() => {});
      },
    };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}
