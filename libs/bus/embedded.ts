/**
 * Embedded bus: the same interfaces as the NATS bus, in one process without a server.
 * - artifacts: a local directory; content in `blobs/<random>`, metadata in `refs/<key>.json`;
 *   both written to `tmp/` then renamed, the ref last, so a reader sees the old or the new
 *   artifact and a failed put leaves nothing;
 * - KV: in memory with bucket-wide revisions and CAS, optionally persisted to `kv.json`
 *   (rewritten atomically after each change);
 * - work queue: in-process, with the NATS consumer's semantics (ack wait, nak delay,
 *   delivery counts, msg-id dedup window, transport max-deliver) and the shared consumer loop;
 * - events: an in-process emitter with NATS wildcards and a bounded history for `deliver: 'all'`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ConsumerLoop, transportMaxDeliver, type DeliverySource, type RawDelivery } from './consume-loop.js';
import {
  createSubjects,
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

const DEFAULT_MEDIA_TYPE = 'application/octet-stream';

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === 'string') return new TextEncoder().encode(chunk);
  throw new BusValidationError('artifact stream chunks must be Uint8Array', 'data');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function writeFileAtomic(file: string, data: string | Uint8Array, tmpDir: string): Promise<void> {
  const tmp = path.join(tmpDir, `${randomUUID()}.tmp`);
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

// ============================================================ artifacts

interface RefRecord extends ArtifactInfo {
  blob: string;
}

/** ArtifactStore on a local directory. */
export class DirArtifactStore implements ArtifactStore {
  private readonly refs: string;
  private readonly blobs: string;
  private readonly tmp: string;
  private ready: Promise<void> | null = null;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(readonly dir: string) {
    this.refs = path.join(dir, 'refs');
    this.blobs = path.join(dir, 'blobs');
    // One scratch folder per process: several processes may share `dir`.
    this.tmp = path.join(dir, 'tmp', `${process.pid}-${randomUUID().slice(0, 8)}`);
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await fsp.mkdir(this.refs, { recursive: true });
      await fsp.mkdir(this.blobs, { recursive: true });
      // Leftovers of interrupted writes are never visible; drop those of processes that are gone.
      const scratch = path.dirname(this.tmp);
      await fsp.mkdir(scratch, { recursive: true });
      for (const entry of await fsp.readdir(scratch)) {
        const pid = Number(entry.split('-')[0]);
        if (!Number.isInteger(pid) || !processAlive(pid)) await fsp.rm(path.join(scratch, entry), { recursive: true, force: true });
      }
      await fsp.mkdir(this.tmp, { recursive: true });
    })();
    return this.ready;
  }

  private refPath(key: string): string {
    return path.join(this.refs, ...`${key}.json`.split('/'));
  }

  private async readRef(key: string): Promise<RefRecord | null> {
    try {
      return JSON.parse(await fsp.readFile(this.refPath(key), 'utf8')) as RefRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw err;
    }
  }

  /** serialises writers of one key */
  private async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  async put(key: string, data: ArtifactSource, opts: PutOptions = {}): Promise<ArtifactInfo> {
    validateArtifactKey(key);
    await this.init();
    const blob = randomUUID();
    const tmpBlob = path.join(this.tmp, `${blob}.blob`);
    const hash = createHash('sha256');
    let size = 0;
    try {
      const fh = await fsp.open(tmpBlob, 'w');
      try {
        if (data instanceof Uint8Array) {
          hash.update(data);
          size = data.byteLength;
          await fh.writeFile(data);
        } else {
          for await (const raw of data) {
            const chunk = toBytes(raw);
            hash.update(chunk);
            size += chunk.byteLength;
            await fh.write(chunk);
          }
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      await fsp.rm(tmpBlob, { force: true });
      throw err;
    }
    const info: ArtifactInfo = {
      key,
      sha256: hash.digest('hex'),
      size,
      mediaType: opts.mediaType ?? DEFAULT_MEDIA_TYPE,
      mtime: new Date().toISOString(),
    };
    return this.withLock(key, async () => {
      let old: RefRecord | null = null;
      try {
        await fsp.rename(tmpBlob, path.join(this.blobs, blob));
        old = await this.readRef(key);
        await writeFileAtomic(this.refPath(key), JSON.stringify({ ...info, blob } satisfies RefRecord), this.tmp);
      } catch (err) {
        await fsp.rm(tmpBlob, { force: true });
        await fsp.rm(path.join(this.blobs, blob), { force: true });
        throw err;
      }
      if (old) await fsp.rm(path.join(this.blobs, old.blob), { force: true });
      return info;
    });
  }

  private static info(r: RefRecord): ArtifactInfo {
    return { key: r.key, sha256: r.sha256, size: r.size, mediaType: r.mediaType, mtime: r.mtime };
  }

  /** opens the blob of `key`, retrying if a concurrent overwrite removed the blob just read */
  private async openBlob(key: string): Promise<{ ref: RefRecord; fh: fsp.FileHandle }> {
    validateArtifactKey(key);
    await this.init();
    for (let attempt = 0; ; attempt++) {
      const ref = await this.readRef(key);
      if (!ref) throw new ArtifactNotFoundError(key);
      try {
        return { ref, fh: await fsp.open(path.join(this.blobs, ref.blob), 'r') };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
  }

  async get(key: string): Promise<Uint8Array> {
    const { ref, fh } = await this.openBlob(key);
    try {
      const buf = await fh.readFile();
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      if (createHash('sha256').update(bytes).digest('hex') !== ref.sha256) {
        throw new BusError(`artifact ${key} is corrupt: sha256 mismatch`);
      }
      return bytes;
    } finally {
      await fh.close();
    }
  }

  async open(key: string): Promise<{ info: ArtifactInfo; stream: AsyncIterable<Uint8Array> }> {
    const { ref, fh } = await this.openBlob(key);
    async function* stream(): AsyncGenerator<Uint8Array> {
      const hash = createHash('sha256');
      const rs = createReadStream('', { fd: fh, autoClose: true, highWaterMark: 128 * 1024 });
      try {
        for await (const chunk of rs as AsyncIterable<Buffer>) {
          hash.update(chunk);
          yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        }
      } finally {
        rs.destroy();
      }
      if (hash.digest('hex') !== ref.sha256) throw new BusError(`artifact ${key} is corrupt: sha256 mismatch`);
    }
    return { info: DirArtifactStore.info(ref), stream: stream() };
  }

  async stat(key: string): Promise<ArtifactInfo | null> {
    validateArtifactKey(key);
    await this.init();
    const ref = await this.readRef(key);
    return ref ? DirArtifactStore.info(ref) : null;
  }

  async has(key: string): Promise<boolean> {
    return (await this.stat(key)) !== null;
  }

  async delete(key: string): Promise<boolean> {
    validateArtifactKey(key);
    await this.init();
    return this.withLock(key, async () => {
      const ref = await this.readRef(key);
      if (!ref) return false;
      await fsp.rm(this.refPath(key), { force: true });
      await fsp.rm(path.join(this.blobs, ref.blob), { force: true });
      return true;
    });
  }

  async list(prefix = ''): Promise<ArtifactInfo[]> {
    await this.init();
    const out: ArtifactInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile() && e.name.endsWith('.json')) {
          const key = path.relative(this.refs, p).split(path.sep).join('/').slice(0, -'.json'.length);
          if (!key.startsWith(prefix)) continue;
          const ref = await this.readRef(key);
          if (ref) out.push(DirArtifactStore.info(ref));
        }
      }
    };
    await walk(this.refs);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}

// ============================================================ KV

interface KvRecord {
  value: Uint8Array;
  revision: number;
  deleted: boolean;
}

interface Watcher {
  filter: string;
  queue: KvWatchEvent[];
  handler: (e: KvWatchEvent) => void | Promise<void>;
  running: boolean;
  stopped: boolean;
}

/** In-memory KV with revisions and CAS; persisted to `file` when given. */
export class MemoryKvStore implements KvStore {
  private readonly data = new Map<string, KvRecord>();
  private revision = 0;
  private readonly watchers = new Set<Watcher>();
  private writeChain: Promise<void> = Promise.resolve();
  private loaded: Promise<void> | null = null;

  constructor(private readonly file?: string) {}

  private load(): Promise<void> {
    this.loaded ??= (async () => {
      if (!this.file) return;
      let text: string;
      try {
        text = await fsp.readFile(this.file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      const snap = JSON.parse(text) as { revision: number; entries: { key: string; value: string; revision: number }[] };
      this.revision = snap.revision;
      for (const e of snap.entries) {
        this.data.set(e.key, { value: new Uint8Array(Buffer.from(e.value, 'base64')), revision: e.revision, deleted: false });
      }
    })();
    return this.loaded;
  }

  private persist(): Promise<void> {
    if (!this.file) return Promise.resolve();
    const file = this.file;
    const snapshot = () =>
      JSON.stringify({
        revision: this.revision,
        entries: [...this.data.entries()]
          .filter(([, r]) => !r.deleted)
          .map(([key, r]) => ({ key, value: Buffer.from(r.value).toString('base64'), revision: r.revision })),
      });
    // each write snapshots the state at its turn, so the last write carries every change
    this.writeChain = this.writeChain.then(async () => {
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, snapshot(), path.dirname(file));
    });
    return this.writeChain;
  }

  private commit(key: string, value: Uint8Array, deleted: boolean): number {
    const revision = ++this.revision;
    this.data.set(key, { value: deleted ? new Uint8Array(0) : value.slice(), revision, deleted });
    const event: KvWatchEvent = { key, value: deleted ? new Uint8Array(0) : value.slice(), revision, operation: deleted ? 'DEL' : 'PUT' };
    for (const w of this.watchers) {
      if (subjectMatches(w.filter, key)) this.enqueue(w, event);
    }
    return revision;
  }

  private enqueue(w: Watcher, e: KvWatchEvent): void {
    if (w.stopped) return;
    w.queue.push(e);
    if (w.running) return;
    w.running = true;
    void (async () => {
      while (w.queue.length > 0 && !w.stopped) {
        const next = w.queue.shift()!;
        try {
          await w.handler(next);
        } catch {
          // watcher errors are the handler's business
        }
      }
      w.running = false;
    })();
  }

  async get(key: string): Promise<KvEntry | null> {
    validateKvKey(key);
    await this.load();
    const r = this.data.get(key);
    return r && !r.deleted ? { key, value: r.value.slice(), revision: r.revision } : null;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    validateKvKey(key);
    await this.load();
    const r = this.data.get(key);
    if (r && !r.deleted) throw new KvConflictError(key, `key ${key} already exists (revision ${r.revision})`);
    const rev = this.commit(key, value, false);
    await this.persist();
    return rev;
  }

  async update(key: string, value: Uint8Array, expectedRevision: number): Promise<number> {
    validateKvKey(key);
    await this.load();
    const r = this.data.get(key);
    const current = r ? r.revision : 0;
    if (current !== expectedRevision) {
      throw new KvConflictError(key, `key ${key}: expected revision ${expectedRevision}, current ${current}`);
    }
    const rev = this.commit(key, value, false);
    await this.persist();
    return rev;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    validateKvKey(key);
    await this.load();
    const rev = this.commit(key, value, false);
    await this.persist();
    return rev;
  }

  async delete(key: string, opts: { expectedRevision?: number } = {}): Promise<void> {
    validateKvKey(key);
    await this.load();
    const r = this.data.get(key);
    if (opts.expectedRevision !== undefined) {
      const current = r ? r.revision : 0;
      if (current !== opts.expectedRevision) {
        throw new KvConflictError(key, `key ${key}: expected revision ${opts.expectedRevision}, current ${current}`);
      }
    }
    if (!r || r.deleted) return;
    this.commit(key, new Uint8Array(0), true);
    await this.persist();
  }

  async keys(filter = '>'): Promise<string[]> {
    validateKvFilter(filter);
    await this.load();
    return [...this.data.entries()]
      .filter(([k, r]) => !r.deleted && subjectMatches(filter, k))
      .map(([k]) => k)
      .sort();
  }

  async watch(opts: KvWatchOptions, handler: (e: KvWatchEvent) => void | Promise<void>): Promise<Stoppable> {
    const filter = opts.key ?? '>';
    validateKvFilter(filter, 'key');
    await this.load();
    const w: Watcher = { filter, queue: [], handler, running: false, stopped: false };
    if (!opts.updatesOnly) {
      const initial = [...this.data.entries()]
        .filter(([k, r]) => !r.deleted && subjectMatches(filter, k))
        .sort((a, b) => a[1].revision - b[1].revision);
      for (const [key, r] of initial) this.enqueue(w, { key, value: r.value.slice(), revision: r.revision, operation: 'PUT' });
    }
    this.watchers.add(w);
    return {
      stop: async () => {
        w.stopped = true;
        this.watchers.delete(w);
      },
    };
  }

  async flush(): Promise<void> {
    await this.writeChain;
  }

  close(): void {
    for (const w of this.watchers) w.stopped = true;
    this.watchers.clear();
  }
}

// ============================================================ work queue

interface StoredWork {
  seq: number;
  subject: string;
  data: Uint8Array;
  headers: Record<string, string>;
  msgId: string;
  deliveries: number;
  inflight: boolean;
  token: number;
  readyAt: number;
  timer: NodeJS.Timeout | undefined;
}

interface Waiter {
  resolve: (d: RawDelivery | null) => void;
  timer: NodeJS.Timeout;
  owner: object;
}

export interface EmbeddedWorkQueueOptions extends WorkQueueSettings {
  subjects: Subjects;
  /** how long one pull waits (default 1000 ms; only affects idle wake-ups) */
  pollMs?: number;
}

/** In-process work queue with NATS work-queue-consumer semantics. */
export class EmbeddedWorkQueue implements WorkQueue {
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  private readonly dedupWindowMs: number;
  private readonly pollMs: number;
  private readonly subjects: Subjects;
  private seq = 0;
  private readonly messages = new Map<number, StoredWork>();
  private readonly dedup = new Map<string, { seq: number; at: number }>();
  private readonly waiters: Waiter[] = [];
  private readonly consumers = new Set<ConsumerLoop>();
  private wakeTimer: NodeJS.Timeout | undefined;
  private wakeAt = Infinity;
  private closed = false;

  constructor(opts: EmbeddedWorkQueueOptions) {
    this.subjects = opts.subjects;
    this.maxDeliver = Math.max(1, Math.floor(opts.maxDeliver ?? 5));
    this.ackWaitMs = Math.max(1, opts.ackWaitMs ?? 30_000);
    this.dedupWindowMs = Math.max(0, opts.dedupWindowMs ?? 10 * 60_000);
    this.pollMs = opts.pollMs ?? 1000;
  }

  async publish(subject: string, data: Uint8Array, opts: PublishWorkOptions): Promise<PublishResult> {
    if (this.closed) throw new BusClosedError('work queue is closed');
    validateSubject(subject);
    if (!subjectMatches(this.subjects.allWork, subject)) {
      throw new BusValidationError(`work subject must match ${this.subjects.allWork}, got ${subject}`, 'subject');
    }
    if (!opts || typeof opts.msgId !== 'string' || opts.msgId.length === 0) {
      throw new BusValidationError('msgId is required', 'msgId');
    }
    const now = Date.now();
    for (const [id, e] of this.dedup) {
      if (now - e.at >= this.dedupWindowMs) this.dedup.delete(id);
      else break; // insertion order = time order
    }
    const seen = this.dedup.get(opts.msgId);
    if (seen) return { seq: seen.seq, duplicate: true };
    const seq = ++this.seq;
    this.dedup.set(opts.msgId, { seq, at: now });
    this.messages.set(seq, {
      seq,
      subject,
      data: data.slice(),
      headers: { ...(opts.headers ?? {}) },
      msgId: opts.msgId,
      deliveries: 0,
      inflight: false,
      token: 0,
      readyAt: now,
      timer: undefined,
    });
    this.pump();
    return { seq, duplicate: false };
  }

  private deliverable(m: StoredWork, now: number): boolean {
    return !m.inflight && m.readyAt <= now && m.deliveries < transportMaxDeliver(this.maxDeliver);
  }

  private takeReady(): StoredWork | null {
    const now = Date.now();
    let nextAt = Infinity;
    for (const m of this.messages.values()) {
      if (this.deliverable(m, now)) return m;
      if (!m.inflight && m.deliveries < transportMaxDeliver(this.maxDeliver)) nextAt = Math.min(nextAt, m.readyAt);
    }
    if (nextAt < Infinity) this.scheduleWake(nextAt);
    return null;
  }

  private scheduleWake(at: number): void {
    if (at >= this.wakeAt && this.wakeTimer) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = Infinity;
      this.pump();
    }, Math.max(0, at - Date.now()));
  }

  private deliver(m: StoredWork): RawDelivery {
    m.deliveries++;
    m.inflight = true;
    const token = ++m.token;
    const arm = () => {
      if (m.timer) clearTimeout(m.timer);
      m.timer = setTimeout(() => {
        if (m.token !== token || !m.inflight) return;
        m.inflight = false;
        m.readyAt = Date.now();
        m.timer = undefined;
        this.pump();
      }, this.ackWaitMs);
    };
    arm();
    const remove = () => {
      const cur = this.messages.get(m.seq);
      if (cur !== m) return;
      if (m.timer) clearTimeout(m.timer);
      this.messages.delete(m.seq);
    };
    return {
      subject: m.subject,
      data: m.data.slice(),
      headers: { ...m.headers },
      msgId: m.msgId,
      seq: m.seq,
      deliveryCount: m.deliveries,
      ack: async () => remove(),
      term: async () => remove(),
      nak: async (delayMs: number) => {
        if (m.token !== token || !m.inflight || this.messages.get(m.seq) !== m) return;
        if (m.timer) clearTimeout(m.timer);
        m.timer = undefined;
        m.inflight = false;
        m.readyAt = Date.now() + Math.max(0, delayMs);
        this.pump();
      },
      working: async () => {
        if (m.token !== token || !m.inflight || this.messages.get(m.seq) !== m) return;
        arm();
      },
    };
  }

  /** hands ready messages to waiting pulls */
  private pump(): void {
    while (this.waiters.length > 0) {
      const m = this.takeReady();
      if (!m) return;
      const w = this.waiters.shift()!;
      clearTimeout(w.timer);
      w.resolve(this.deliver(m));
    }
  }

  private source(): DeliverySource {
    const owner = {};
    return {
      next: (expiresMs: number) => {
        if (this.closed) return Promise.reject(new BusClosedError('work queue is closed'));
        const m = this.waiters.length === 0 ? this.takeReady() : null;
        if (m) return Promise.resolve(this.deliver(m));
        return new Promise<RawDelivery | null>((resolve) => {
          const w: Waiter = {
            owner,
            resolve,
            timer: setTimeout(() => {
              const i = this.waiters.indexOf(w);
              if (i >= 0) this.waiters.splice(i, 1);
              resolve(null);
            }, expiresMs),
          };
          this.waiters.push(w);
          this.pump();
        });
      },
      interrupt: () => {
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i]!;
          if (w.owner !== owner) continue;
          this.waiters.splice(i, 1);
          clearTimeout(w.timer);
          w.resolve(null);
        }
      },
    };
  }

  consume(handler: WorkHandler, opts: ConsumeOptions = {}): WorkConsumer {
    if (this.closed) throw new BusClosedError('work queue is closed');
    const loop = new ConsumerLoop(this.source(), handler, { maxDeliver: this.maxDeliver, ackWaitMs: this.ackWaitMs, pollMs: this.pollMs }, opts);
    this.consumers.add(loop);
    return {
      stop: async (o) => {
        this.consumers.delete(loop);
        await loop.stop(o);
      },
      get inFlight() {
        return loop.inFlight;
      },
    };
  }

  async pending(filter?: string): Promise<number> {
    if (filter !== undefined) validatePattern(filter, 'filter');
    let n = 0;
    for (const m of this.messages.values()) if (!filter || subjectMatches(filter, m.subject)) n++;
    return n;
  }

  async purge(filter?: string): Promise<number> {
    if (filter !== undefined) validatePattern(filter, 'filter');
    let n = 0;
    for (const m of [...this.messages.values()]) {
      if (filter && !subjectMatches(filter, m.subject)) continue;
      if (m.timer) clearTimeout(m.timer);
      this.messages.delete(m.seq);
      n++;
    }
    return n;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.consumers.clear();
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(null);
    }
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    for (const m of this.messages.values()) if (m.timer) clearTimeout(m.timer);
  }
}

// ============================================================ events

interface EventSub {
  pattern: string;
  handler: (e: BusEvent) => void | Promise<void>;
  queue: BusEvent[];
  running: boolean;
  stopped: boolean;
}

/** In-process event bus with NATS wildcards; events under `persistPattern` are kept (bounded) for replay. */
export class EmbeddedEventBus implements EventBus {
  private readonly subs = new Set<EventSub>();
  private readonly history: BusEvent[] = [];
  private seq = 0;
  private closed = false;

  constructor(
    private readonly persistPattern: string,
    private readonly historyLimit = 10_000,
  ) {}

  async publish(subject: string, data: Uint8Array, opts: { headers?: Record<string, string> } = {}): Promise<void> {
    if (this.closed) throw new BusClosedError('event bus is closed');
    validateSubject(subject);
    const persisted = subjectMatches(this.persistPattern, subject);
    const event: BusEvent = { subject, data: data.slice(), headers: { ...(opts.headers ?? {}) }, seq: persisted ? ++this.seq : 0 };
    if (persisted) {
      this.history.push(event);
      if (this.history.length > this.historyLimit) this.history.splice(0, this.history.length - this.historyLimit);
    }
    for (const s of this.subs) if (subjectMatches(s.pattern, subject)) this.enqueue(s, event);
  }

  private enqueue(s: EventSub, e: BusEvent): void {
    if (s.stopped) return;
    s.queue.push(e);
    if (s.running) return;
    s.running = true;
    // asynchronous delivery, in order, one handler call at a time (as a NATS subscription)
    setImmediate(async () => {
      while (s.queue.length > 0 && !s.stopped) {
        const next = s.queue.shift()!;
        try {
          await s.handler({ ...next, data: next.data.slice() });
        } catch {
          // subscriber errors are the subscriber's business
        }
      }
      s.running = false;
    });
  }

  async subscribe(pattern: string, handler: (e: BusEvent) => void | Promise<void>, opts: SubscribeOptions = {}): Promise<Stoppable> {
    if (this.closed) throw new BusClosedError('event bus is closed');
    validatePattern(pattern);
    const s: EventSub = { pattern, handler, queue: [], running: false, stopped: false };
    if (opts.deliver === 'all') {
      for (const e of this.history) if (subjectMatches(pattern, e.subject)) this.enqueue(s, e);
    }
    this.subs.add(s);
    return {
      stop: async () => {
        s.stopped = true;
        this.subs.delete(s);
      },
    };
  }

  close(): void {
    this.closed = true;
    for (const s of this.subs) s.stopped = true;
    this.subs.clear();
  }
}

// ============================================================ bundle

export interface EmbeddedBusOptions extends WorkQueueSettings {
  /** root directory: artifacts under `<dir>/artifacts`, KV in `<dir>/kv.json` */
  dir: string;
  /** subject root (default `uae.v1`) */
  subjectRoot?: string;
  /** persist the KV to `<dir>/kv.json` (default true) */
  persistKv?: boolean;
  /** retained events for `deliver: 'all'` (default 10 000) */
  eventHistory?: number;
}

export async function createEmbeddedBus(opts: EmbeddedBusOptions): Promise<Bus> {
  if (!opts || typeof opts.dir !== 'string' || opts.dir.length === 0) {
    throw new BusValidationError('dir is required for the embedded bus', 'dir');
  }
  const subjects = createSubjects(opts.subjectRoot);
  await fsp.mkdir(opts.dir, { recursive: true });
  const artifacts = new DirArtifactStore(path.join(opts.dir, 'artifacts'));
  const kv = new MemoryKvStore(opts.persistKv === false ? undefined : path.join(opts.dir, 'kv.json'));
  const work = new EmbeddedWorkQueue({ ...opts, subjects });
  const events = new EmbeddedEventBus(subjects.allJobEvents, opts.eventHistory);
  let closed = false;
  return {
    kind: 'embedded',
    subjects,
    artifacts,
    kv,
    work,
    events,
    async close() {
      if (closed) return;
      closed = true;
      await work.close();
      events.close();
      kv.close();
      await kv.flush();
    },
  };
}
