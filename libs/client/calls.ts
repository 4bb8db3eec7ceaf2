/**
 * Promise and async-iterator shapes for grpc-js calls, with auth metadata,
 * deadlines, AbortSignal cancellation and error conversion in one place.
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { abortReason, toClientError } from './errors.js';

/** Per-call options every client method accepts. */
export interface CallOptions {
  /** Cancels the call; the promise rejects (or the iterator throws) with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Deadline in milliseconds from now. Unary calls default to connect()'s
   * `deadlineMs`; streams (watch, generate, uploads, downloads) default to none.
   * 0: no deadline.
   */
  deadlineMs?: number;
  /** Extra request metadata (the bearer token is added by the client). */
  metadata?: Record<string, string> | grpc.Metadata;
}

/** What the calls need from the connection. */
export interface CallContext {
  /** `authorization: Bearer <token>` (when a token was given) plus the call's metadata. */
  metadata(opts: CallOptions): grpc.Metadata;
  /** grpc-js options: the deadline (the default applies when `unary`). */
  options(opts: CallOptions, unary: boolean): Partial<grpc.CallOptions>;
}

export function makeCallContext(conn: { token?: string; deadlineMs?: number }): CallContext {
  return {
    metadata(opts) {
      const md = opts.metadata instanceof grpc.Metadata ? opts.metadata.clone() : new grpc.Metadata();
      if (opts.metadata && !(opts.metadata instanceof grpc.Metadata)) {
        for (const [k, v] of Object.entries(opts.metadata)) md.set(k, v);
      }
      if (conn.token !== undefined && conn.token !== '') md.set('authorization', `Bearer ${conn.token}`);
      return md;
    },
    options(opts, unary) {
      const ms = opts.deadlineMs ?? (unary ? conn.deadlineMs : undefined);
      return ms !== undefined && ms > 0 ? { deadline: Date.now() + ms } : {};
    },
  };
}

type UnaryCallback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;
/** A generated client's unary method, bound: `(req, md, opts, cb) => client.getJob(req, md, opts, cb)`. */
export type UnaryMethod<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: UnaryCallback<Res>) => grpc.ClientUnaryCall;
export type ServerStreamMethod<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>) => grpc.ClientReadableStream<Res>;
export type ClientStreamMethod<Req, Res> = (md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: UnaryCallback<Res>) => grpc.ClientWritableStream<Req>;

const noop = () => {};

/** A unary call as a promise. */
export function unary<Req, Res>(ctx: CallContext, path: string, method: UnaryMethod<Req, Res>, req: Req, opts: CallOptions = {}): Promise<Res> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<Res>((resolve, reject) => {
    const onAbort = () => call.cancel();
    const call = method(req, ctx.metadata(opts), ctx.options(opts, true), (err, res) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(signal?.aborted && err.code === grpc.status.CANCELLED ? abortReason(signal) : toClientError(err, path));
      else resolve(res as Res);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A server stream as an async iterator. Breaking out of the loop, or the
 * signal firing, cancels the call; a failed call throws a UaeClientError
 * (the signal's reason when it was cancelled through it).
 */
export async function* serverStream<Req, Res>(
  ctx: CallContext,
  path: string,
  method: ServerStreamMethod<Req, Res>,
  req: Req,
  opts: CallOptions = {},
): AsyncGenerator<Res, void, undefined> {
  const { signal } = opts;
  if (signal?.aborted) throw abortReason(signal);
  const call = method(req, ctx.metadata(opts), ctx.options(opts, false));
  // grpc-js emits 'error' for a non-OK status even after the iterator let go
  // of the stream (e.g. the CANCELLED that follows a `break`): keep a listener.
  call.on('error', noop);
  const onAbort = () => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    for await (const msg of call as AsyncIterable<Res>) yield msg;
    finished = true;
  } catch (e) {
    finished = true;
    if (signal?.aborted) throw abortReason(signal);
    throw toClientError(e, path);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!finished) call.cancel();
  }
}

/**
 * A client stream: writes `messages` with backpressure, half-closes, and
 * resolves with the response. A server error (or the signal) stops the writing.
 */
export async function clientStream<Req, Res>(
  ctx: CallContext,
  path: string,
  method: ClientStreamMethod<Req, Res>,
  messages: AsyncIterable<Req> | Iterable<Req>,
  opts: CallOptions = {},
): Promise<Res> {
  const { signal } = opts;
  if (signal?.aborted) throw abortReason(signal);
  let call!: grpc.ClientWritableStream<Req>;
  let settled = false;
  const response = new Promise<Res>((resolve, reject) => {
    call = method(ctx.metadata(opts), ctx.options(opts, false), (err, res) => {
      settled = true;
      if (err) reject(signal?.aborted && err.code === grpc.status.CANCELLED ? abortReason(signal) : toClientError(err, path));
      else resolve(res as Res);
    });
  });
  response.catch(noop);
  call.on('error', noop);
  const onAbort = () => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of messages) {
      if (settled) break;
      if (!call.write(msg)) await Promise.race([once(call, 'drain'), response]);
    }
    if (!settled) call.end();
  } catch (e) {
    if (!settled) call.cancel();
    // The server's error (or the abort) explains the stop better than a write failure.
    if (settled) await response;
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return response;
}
