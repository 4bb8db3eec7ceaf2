/**
 * Transport-agnostic bus interfaces. Two implementations: `nats.ts` (JetStream streams,
 * KV, object store) and `embedded.ts` (local directory, in-process queue and emitter).
 * Payloads are opaque bytes (callers encode them, e.g. protobuf).
 */
import type { Subjects } from './subjects.js';
import type { Kinded } from '../errors/index.js';

// ---------------------------------------------------------------- errors

export class BusError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad argument (id, key, subject, option). `field` names the offending field. */
export class BusValidationError extends BusError implements Kinded {
  readonly kind = 'invalid' as const;
  constructor(message: string, readonly field: string) {
    super(message);
  }
}

/** A KV `create` on an existing key, or an `update`/`delete` whose expected revision is stale. */
export class KvConflictError extends BusError {
  constructor(readonly key: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class ArtifactNotFoundError extends BusError implements Kinded {
  readonly kind = 'not-found' as const;
  constructor(readonly key: string) {
    super(`artifact not found: ${key}`);
  }
}

/** The bus (or a part of it) was closed. */
export class BusClosedError extends BusError {}

// ---------------------------------------------------------------- artifacts

export interface ArtifactInfo {
  key: string;
  /** lowercase hex sha256 of the content */
  sha256: string;
  size: number;
  mediaType: string;
  /** ISO-8601 time of the write */
  mtime: string;
}

export interface PutOptions {
  /** default `application/octet-stream` */
  mediaType?: string;
}

export type ArtifactSource = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * Keyed blob store. Writes are all-or-nothing: until `put` resolves the previous content
 * (or nothing) stays visible; a put that fails (e.g. its source stream throws) leaves no trace.
 * Overwriting a key with the same bytes is idempotent, which makes deterministic keys give
 * exactly-once results under at-least-once delivery.
 */
export interface ArtifactStore {
  put(key: string, data: ArtifactSource, opts?: PutOptions): Promise<ArtifactInfo>;
  /** Whole content; throws ArtifactNotFoundError. */
  get(key: string): Promise<Uint8Array>;
  /** Streamed content (chunks); throws ArtifactNotFoundError. The stream checks the sha256 at its end. */
  open(key: string): Promise<{ info: ArtifactInfo; stream: AsyncIterable<Uint8Array> }>;
  /** null when absent */
  stat(key: string): Promise<ArtifactInfo | null>;
  has(key: string): Promise<boolean>;
  /** true when something was deleted */
  delete(key: string): Promise<boolean>;
  /** Artifacts whose key starts with `prefix` (plain string prefix), sorted by key. */
  list(prefix?: string): Promise<ArtifactInfo[]>;
}

// ---------------------------------------------------------------- KV

export interface KvEntry {
  key: string;
  value: Uint8Array;
  /** Bucket-wide monotonically increasing revision of this write. */
  revision: number;
}

export interface KvWatchEvent {
  key: string;
  /** empty for deletes */
  value: Uint8Array;
  revision: number;
  operation: 'PUT' | 'DEL';
}

export interface KvWatchOptions {
  /** Key or pattern (`*`, final `>`); default every key. */
  key?: string;
  /** Default false: first replay the current value of every matching key, then live updates. */
  updatesOnly?: boolean;
}

export interface Stoppable {
  stop(): Promise<void>;
}

/** Job-state store with optimistic concurrency (compare-and-set on revisions). */
export interface KvStore {
  /** null when absent or deleted */
  get(key: string): Promise<KvEntry | null>;
  /** Fails with KvConflictError if the key exists (a deleted key may be re-created). Returns the revision. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** CAS: fails with KvConflictError unless the key's current revision is `expectedRevision`. */
  update(key: string, value: Uint8Array, expectedRevision: number): Promise<number>;
  /** Unconditional write. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Deletes (tombstones) a key; with `expectedRevision` only if unchanged. */
  delete(key: string, opts?: { expectedRevision?: number }): Promise<void>;
  /** Live keys matching a filter (`*`, final `>`; default all), sorted. */
  keys(filter?: string): Promise<string[]>;
  /** Calls `handler` for each change (after the initial values unless `updatesOnly`). */
  watch(opts: KvWatchOptions, handler: (e: KvWatchEvent) => void | Promise<void>): Promise<Stoppable>;
}

// ---------------------------------------------------------------- work queue

export interface PublishWorkOptions {
  /** Deduplication id: a second publish with the same id within the dedup window is dropped. */
  msgId: string;
  headers?: Record<string, string>;
}

export interface PublishResult {
  /** queue/stream sequence of the (first) stored copy */
  seq: number;
  duplicate: boolean;
}

export interface WorkMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly msgId: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** queue/stream sequence (stable across redeliveries) */
  readonly seq: number;
  /** 1 on first delivery */
  readonly deliveryCount: number;
  /** the queue's maxDeliver: the handler runs at most this many times for one message */
  readonly maxDeliver: number;
  /** true on the last attempt: failing now dead-letters the message */
  readonly lastAttempt: boolean;
  /** Done: remove the message from the queue. */
  ack(): Promise<void>;
  /** Failed, retry later (after `delayMs`, default the consumer's nakDelayMs). On the last attempt: dead-letter. */
  nak(delayMs?: number): Promise<void>;
  /** Failed for good (poison): dead-letter now with `reason`, no retry. */
  term(reason?: string): Promise<void>;
  /** Still busy: restart the ack-wait timer. Called automatically every ackWait/3 while the handler runs. */
  working(): Promise<void>;
  readonly settled: boolean;
}

export interface DeadLetter {
  subject: string;
  data: Uint8Array;
  msgId: string | undefined;
  headers: Readonly<Record<string, string>>;
  seq: number;
  deliveryCount: number;
  /** why the work failed (the handler's error, its term reason, or redelivery exhaustion) */
  reason: string;
}

export interface ConsumeOptions {
  /** handlers running at once in this consumer (default 1); a message is only pulled when a slot is free */
  concurrency?: number;
  /**
   * Called once per message that exhausted maxDeliver or was terminated. Should record the failure
   * durably (e.g. fail the job in KV). The message is removed after it returns; if it throws, the
   * message is nak'd and the dead-letter is retried on a later delivery (up to a few times).
   */
  onDeadLetter?: (dl: DeadLetter) => void | Promise<void>;
  /** redelivery delay after a handler error or a bare nak() (default 1000 ms) */
  nakDelayMs?: number;
  /** operational errors (transport, dead-letter callback); default: ignored */
  onError?: (err: unknown) => void;
  /** stop heart-beating a handler after this long so a hung handler's message is redelivered (default: never) */
  maxProcessingMs?: number;
}

export interface WorkConsumer {
  /**
   * Stops pulling; waits up to `graceMs` (default 0) for running handlers, then naks the
   * messages still unsettled so other consumers get them at once.
   */
  stop(opts?: { graceMs?: number }): Promise<void>;
  /** number of handlers running now */
  readonly inFlight: number;
}

export type WorkHandler = (msg: WorkMessage) => void | Promise<void>;

/**
 * At-least-once work queue with explicit ack. Semantics shared by both implementations:
 * - each message goes to one consumer at a time; unacked messages come back after `ackWaitMs`;
 * - a handler that throws / naks is retried, at most `maxDeliver` handler runs per message;
 * - a message that fails its last attempt, is term()'d, or arrives after `maxDeliver`
 *   deliveries (its last holder crashed) goes to `onDeadLetter` with a reason and is removed.
 */
export interface WorkQueue {
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  /** `subject` must lie under `subjects.allWork` (use `subjects.shard(...)`). */
  publish(subject: string, data: Uint8Array, opts: PublishWorkOptions): Promise<PublishResult>;
  consume(handler: WorkHandler, opts?: ConsumeOptions): WorkConsumer;
  /** messages stored and not yet acked/terminated (optionally under a subject filter) */
  pending(filter?: string): Promise<number>;
  /** removes stored messages under a subject filter (default all), e.g. a cancelled job's shards */
  purge(filter?: string): Promise<number>;
}

// ---------------------------------------------------------------- events

export interface BusEvent {
  subject: string;
  data: Uint8Array;
  headers: Readonly<Record<string, string>>;
  /** events-stream sequence when known (persisted events), else 0 */
  seq: number;
}

export interface SubscribeOptions {
  /** `new` (default): live events only. `all`: the retained history first, then live. */
  deliver?: 'new' | 'all';
}

export interface EventBus {
  /** Subjects under `subjects.allJobEvents` are persisted (events stream); others are fire-and-forget. */
  publish(subject: string, data: Uint8Array, opts?: { headers?: Record<string, string> }): Promise<void>;
  subscribe(pattern: string, handler: (e: BusEvent) => void | Promise<void>, opts?: SubscribeOptions): Promise<Stoppable>;
}

// ---------------------------------------------------------------- bundle

export interface Bus {
  readonly kind: 'nats' | 'embedded';
  readonly subjects: Subjects;
  readonly artifacts: ArtifactStore;
  readonly kv: KvStore;
  readonly work: WorkQueue;
  readonly events: EventBus;
  close(): Promise<void>;
}

/** Queue settings common to both implementations. */
export interface WorkQueueSettings {
  /** redelivery timeout of an unacked message (default 30 000 ms) */
  ackWaitMs?: number;
  /** handler runs per message before dead-lettering (default 5) */
  maxDeliver?: number;
  /** publish msg-id dedup window (default 10 min) */
  dedupWindowMs?: number;
}
