/**
 * A typed, promise-shaped client for a running uae system, over the generated
 * grpc-js clients (libs/proto/gen) sharing one channel.
 *
 *   const uae = connect({ address: '127.0.0.1:50050', token: process.env.UAE_AUTH_TOKEN });
 *   const { job } = await uae.jobs.submitPipeline(config, { requestId: 'run-42' });
 *   for await (const msg of uae.jobs.watch(job!.jobId)) …
 *   uae.close();
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { v1 } from '../proto/index.js';
import { clientStream, makeCallContext, serverStream, unary, type CallOptions } from './calls.js';
import { collect, mediaTypeFor, MAX_CHUNK_BYTES, openSource, rechunk, type ByteSource } from './chunks.js';
import { abortReason, Status, UaeClientError } from './errors.js';
import { isTerminal, isTerminalEvent, type DeepPartial } from './names.js';

export interface TlsOptions {
  /** PEM root certificates; default: the system's. */
  rootCerts?: Buffer;
  /** Client key and certificate chain (PEM) for mutual TLS. */
  privateKey?: Buffer;
  certChain?: Buffer;
  /** Verify the server's certificate against this name instead of the address's host. */
  serverName?: string;
}

export interface ConnectOptions {
  /** host:port (or any grpc-js target, e.g. dns:///svc:50050). */
  address: string;
  /** Bearer token sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** TLS: true for the system's roots, or certificates. Default false (plaintext). */
  tls?: boolean | TlsOptions;
  /** Default deadline of unary calls, in ms (streams have none unless given per call). Default: none. */
  deadlineMs?: number;
  /** Extra grpc-js channel options (they win over the defaults below). */
  channelOptions?: grpc.ChannelOptions;
}

export type { CallOptions };

/** Options of submit-style calls. */
export interface SubmitOptions extends CallOptions {
  /** Idempotency key (≤ 128 chars): a retry with the same key and payload returns the same job. */
  requestId?: string;
  /** Labels copied onto the job. */
  labels?: Record<string, string>;
}

export interface WatchOptions extends CallOptions {
  /** Resume after this event sequence (0: the snapshot, then what follows it). */
  afterSequence?: number;
  /** Leave out progress events. */
  skipProgress?: boolean;
  /**
   * Reconnect when the stream breaks with UNAVAILABLE before the terminal
   * event, resuming after the last event seen (a fresh snapshot comes first).
   * Default: no reconnects.
   */
  reconnect?: { retries: number; backoffMs?: number };
}

export interface ListJobsFilter {
  states?: v1.JobState[];
  kind?: v1.JobKind;
  labels?: Record<string, string>;
  /** Jobs per request, 1–1000 (server default 50). */
  pageSize?: number;
}

export interface PutOptions extends CallOptions {
  /** Expected SHA-256 (64 lowercase hex); the server refuses other bytes. Computed for in-memory bytes. */
  sha256?: string;
  /** Total size: required for a stream unless it may be read into memory first. */
  size?: number;
  /** Bytes per message, ≤ 1 MiB (the default). */
  chunkSize?: number;
  /** Called after each chunk is handed to the transport. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

export interface DownloadOptions extends CallOptions {
  /** First byte. Default 0. */
  offset?: number;
  /** Bytes from offset; 0/unset: to the end. */
  limit?: number;
  /** Bytes per message, 1 KiB–1 MiB; unset: the server's default (1 MiB). */
  chunkSize?: number;
  /** Called after each chunk with the bytes received so far and the expected total (when known). */
  onProgress?: (receivedBytes: number, totalBytes: number | undefined) => void;
}

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface UaeClient {
  readonly address: string;
  readonly jobs: {
    /** JobService.SubmitPipeline: the augmentation study as a job. */
    submitPipeline(config: DeepPartial<v1.PipelineConfig>, opts?: SubmitOptions): Promise<v1.SubmitPipelineResponse>;
    /** JobService.GetJob. */
    get(jobId: string, opts?: CallOptions): Promise<v1.Job>;
    /** JobService.WatchJob: the snapshot, then events until the terminal one. Break or abort to stop. */
    watch(jobId: string, opts?: WatchOptions): AsyncGenerator<v1.WatchJobResponse, void, undefined>;
    /** Watches until the job is terminal (calling `onMessage` for each message) and returns its final record. */
    wait(jobId: string, opts?: WatchOptions & { onMessage?: (msg: v1.WatchJobResponse) => void }): Promise<v1.Job>;
    /** JobService.CancelJob (idempotent). */
    cancel(jobId: string, reason?: string, opts?: CallOptions): Promise<v1.Job>;
    /** Every matching job, newest first, fetching pages as the loop goes. */
    list(filter?: ListJobsFilter, opts?: CallOptions): AsyncGenerator<v1.Job, void, undefined>;
    /** The pages themselves (each a ListJobsResponse). */
    pages(filter?: ListJobsFilter, opts?: CallOptions): AsyncGenerator<v1.ListJobsResponse, void, undefined>;
  };
  readonly artifacts: {
    /** Uploads bytes, a byte stream or a file in ≤ 1 MiB chunks under the name `name`; checks the returned SHA-256. */
    put(name: string, source: ByteSource, mediaType: string, opts?: PutOptions): Promise<v1.UploadResponse>;
    /** Uploads a file; name = its base name, media type from the extension unless given. */
    putFile(path: string, opts?: PutOptions & { name?: string; mediaType?: string }): Promise<v1.UploadResponse>;
    /** Downloads an artifact (or a byte range) into memory; a whole download is checked against its SHA-256. */
    get(sha256: string, opts?: DownloadOptions): Promise<Buffer>;
    /** Downloads to a file (written to a temporary name, renamed when complete and verified); returns the ref. */
    getToFile(sha256: string, path: string, opts?: DownloadOptions): Promise<v1.ArtifactRef>;
    /** The raw Download stream. */
    download(sha256: string, opts?: DownloadOptions): AsyncGenerator<v1.DownloadResponse, void, undefined>;
    /** ArtifactService.Stat. */
    stat(sha256: string, opts?: CallOptions): Promise<v1.StatResponse>;
  };
  readonly attack: {
    /** AttackService.Generate: results, progress, then the summary. */
    generate(request: DeepPartial<v1.GenerateRequest>, opts?: CallOptions): AsyncGenerator<v1.GenerateResponse, void, undefined>;
    /** AttackService.Submit: an attack job over a dataset split. */
    submit(spec: DeepPartial<v1.AttackJobSpec>, opts?: SubmitOptions): Promise<v1.SubmitResponse>;
  };
  readonly training: {
    /** TrainingService.Train: a training job and the future model id. */
    train(spec: DeepPartial<v1.TrainingJobSpec>, opts?: SubmitOptions): Promise<v1.TrainResponse>;
    /** TrainingService.GetModel. */
    getModel(modelId: string, opts?: CallOptions): Promise<v1.Model>;
  };
  readonly evaluation: {
    /** EvaluationService.Evaluate. */
    evaluate(request: DeepPartial<v1.EvaluateRequest>, opts?: CallOptions): Promise<v1.EvaluateResponse>;
  };
  readonly mine: {
    /** MineService.Estimate. */
    estimate(request: DeepPartial<v1.EstimateRequest>, opts?: CallOptions): Promise<v1.EstimateResponse>;
  };
  /** grpc.health.v1 Check for a service ('' = the whole server, or e.g. 'uae.v1.JobService'). No token needed. */
  health(service?: string, opts?: CallOptions): Promise<HealthStatus>;
  /** Waits until the channel is connected (rejects with UNAVAILABLE after `timeoutMs`). */
  ready(timeoutMs?: number): Promise<void>;
  /** Closes the channel; calls in flight are cancelled. */
  close(): void;
}

const HealthClient = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'grpc.health.v1.Health');
type HealthClientT = grpc.Client & {
  Check(req: { service: string }, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res?: { status: string | number }) => void): grpc.ClientUnaryCall;
};
const HEALTH_NAMES: HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** Any ts-proto message's `fromPartial` (its own signature is too precise for DeepPartial input). */
const build = <T>(fns: { fromPartial(o: never): T }, o: unknown): T => fns.fromPartial(o as never);

function credentialsFor(tls: ConnectOptions['tls']): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const t = tls === true ? {} : tls;
  return grpc.credentials.createSsl(t.rootCerts ?? null, t.privateKey ?? null, t.certChain ?? null);
}

function dataLoss(details: string, method: string): UaeClientError {
  return new UaeClientError({ code: Status.DATA_LOSS, details, method });
}

const UPLOAD = '/uae.v1.ArtifactService/Upload';
const DOWNLOAD = '/uae.v1.ArtifactService/Download';

/** Connects (lazily: the channel opens on the first call) to a uae gRPC endpoint. */
export function connect(options: ConnectOptions): UaeClient {
  const { address } = options;
  if (!address) throw new Error('connect: address is required (host:port)');
  const ctx = makeCallContext({ token: options.token, deadlineMs: options.deadlineMs });
  const creds = credentialsFor(options.tls);
  const tlsName = typeof options.tls === 'object' ? options.tls.serverName : undefined;
  const channelOptions: grpc.ChannelOptions = {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    ...(tlsName ? { 'grpc.ssl_target_name_override': tlsName, 'grpc.default_authority': tlsName } : {}),
    ...options.channelOptions,
  };
  const jobsClient = new v1.JobServiceClient(address, creds, channelOptions);
  const shared = { ...channelOptions, channelOverride: jobsClient.getChannel() };
  const artifactsClient = new v1.ArtifactServiceClient(address, creds, shared);
  const attackClient = new v1.AttackServiceClient(address, creds, shared);
  const trainingClient = new v1.TrainingServiceClient(address, creds, shared);
  const evaluationClient = new v1.EvaluationServiceClient(address, creds, shared);
  const mineClient = new v1.MineServiceClient(address, creds, shared);
  const healthClient = new HealthClient(address, creds, shared) as unknown as HealthClientT;

  const getJob = (jobId: string, opts?: CallOptions) =>
    unary<v1.GetJobRequest, v1.GetJobResponse>(ctx, '/uae.v1.JobService/GetJob', (r: v1.GetJobRequest, m, o, cb) => jobsClient.getJob(r, m, o, cb), { jobId }, opts).then((r) => requireJob(r.job, 'GetJob'));

  async function* watch(jobId: string, opts: WatchOptions = {}): AsyncGenerator<v1.WatchJobResponse, void, undefined> {
    let after = opts.afterSequence ?? 0;
    let resumed = false;
    let failures = 0;
    const retries = opts.reconnect?.retries ?? 0;
    for (;;) {
      let progressed = false;
      try {
        const stream = serverStream(
          ctx,
          '/uae.v1.JobService/WatchJob',
          (r: v1.WatchJobRequest, m, o) => jobsClient.watchJob(r, m, o),
          { jobId, afterSequence: after, skipProgress: opts.skipProgress ?? false },
          opts,
        );
        for await (const msg of stream) {
          if (msg.kind?.$case === 'snapshot') {
            // A fresh watch continues after the snapshot's last event; a resumed one after the last event seen.
            if (!resumed && after === 0) after = msg.kind.value.lastEventSequence;
          } else if (msg.kind?.$case === 'event') {
            if (resumed && msg.kind.value.sequence <= after) continue; // replayed twice across a reconnect
            after = Math.max(after, msg.kind.value.sequence);
          }
          progressed = true;
          yield msg;
          if (isTerminalEvent(msg)) return;
        }
        return;
      } catch (e) {
        if (progressed) failures = 0;
        const retryable = e instanceof UaeClientError && e.code === Status.UNAVAILABLE && !opts.signal?.aborted;
        if (!retryable || failures >= retries) throw e;
        failures++;
        resumed = true;
        const base = opts.reconnect?.backoffMs ?? 250;
        await sleep(Math.min(base * 2 ** (failures - 1), 10_000), undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => {
          throw abortReason(opts.signal!);
        });
      }
    }
  }

  async function* pages(filter: ListJobsFilter = {}, opts?: CallOptions): AsyncGenerator<v1.ListJobsResponse, void, undefined> {
    let pageToken = '';
    do {
      const req: v1.ListJobsRequest = {
        pageSize: filter.pageSize ?? 0,
        pageToken,
        states: filter.states ?? [],
        kind: filter.kind ?? v1.JobKind.JOB_KIND_UNSPECIFIED,
        labels: filter.labels ?? {},
      };
      const page = await unary<v1.ListJobsRequest, v1.ListJobsResponse>(ctx, '/uae.v1.JobService/ListJobs', (r: v1.ListJobsRequest, m, o, cb) => jobsClient.listJobs(r, m, o, cb), req, opts);
      yield page;
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
  }

  async function* download(sha256: string, opts: DownloadOptions = {}): AsyncGenerator<v1.DownloadResponse, void, undefined> {
    const req: v1.DownloadRequest = { sha256, offset: opts.offset ?? 0, limit: opts.limit ?? 0, chunkSize: opts.chunkSize ?? 0 };
    yield* serverStream(ctx, DOWNLOAD, (r: v1.DownloadRequest, m, o) => artifactsClient.download(r, m, o), req, opts);
  }

  /** Chunks of a download, checked for contiguity and (for whole downloads) size and SHA-256. */
  async function* verified(sha256: string, opts: DownloadOptions, out: { ref?: v1.ArtifactRef }): AsyncGenerator<Buffer> {
    const start = opts.offset ?? 0;
    const whole = start === 0 && !opts.limit;
    const hash = whole ? createHash('sha256') : undefined;
    let expected = start;
    for await (const msg of download(sha256, opts)) {
      if (msg.ref && !out.ref) out.ref = msg.ref;
      if (msg.offset !== expected) throw dataLoss(`chunk at offset ${msg.offset}, expected ${expected}`, DOWNLOAD);
      expected += msg.chunk.length;
      hash?.update(msg.chunk);
      const total = out.ref ? (opts.limit ? Math.min(opts.limit, out.ref.sizeBytes - start) : out.ref.sizeBytes - start) : undefined;
      opts.onProgress?.(expected - start, total);
      yield msg.chunk;
    }
    if (whole && out.ref) {
      if (expected !== out.ref.sizeBytes) throw dataLoss(`received ${expected} bytes of ${out.ref.sizeBytes}`, DOWNLOAD);
      const got = hash!.digest('hex');
      if (got !== out.ref.sha256) throw dataLoss(`downloaded bytes hash to ${got}, not ${out.ref.sha256}`, DOWNLOAD);
    }
  }

  async function put(name: string, source: ByteSource, mediaType: string, opts: PutOptions = {}): Promise<v1.UploadResponse> {
    const chunkSize = opts.chunkSize ?? MAX_CHUNK_BYTES;
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_BYTES) throw new RangeError(`chunkSize must be 1–${MAX_CHUNK_BYTES}; got ${chunkSize}`);
    if (!mediaType) throw new Error('put: a media type is required (e.g. application/x-npy)');
    let { pieces, size } = await openSource(source, chunkSize);
    if (opts.size !== undefined) {
      if (size !== undefined && size !== opts.size) throw new Error(`put: size ${opts.size} given, but the source has ${size} bytes`);
      size = opts.size;
    }
    if (size === undefined) {
      const all = await collect(pieces);
      pieces = [all];
      size = all.length;
    }
    let declared = opts.sha256 ?? '';
    if (!declared && source instanceof Uint8Array) declared = createHash('sha256').update(source).digest('hex');
    const hash = createHash('sha256');
    const total = size;
    async function* messages(): AsyncGenerator<v1.UploadRequest> {
      yield { part: { $case: 'header', value: { mediaType, sizeBytes: total, sha256: declared, name } } };
      let sent = 0;
      for await (const chunk of rechunk(pieces, chunkSize)) {
        sent += chunk.length;
        if (sent > total) throw new Error(`put: the source has more than the ${total} bytes declared`);
        hash.update(chunk);
        yield { part: { $case: 'chunk', value: chunk } };
        opts.onProgress?.(sent, total);
      }
      if (sent !== total) throw new Error(`put: the source ended after ${sent} of the ${total} bytes declared`);
    }
    const res = await clientStream<v1.UploadRequest, v1.UploadResponse>(ctx, UPLOAD, (m, o, cb) => artifactsClient.upload(m, o, cb), messages(), opts);
    const local = hash.digest('hex');
    if (res.ref?.sha256 !== local) throw dataLoss(`the server stored ${res.ref?.sha256 ?? '(no ref)'}, but the bytes sent hash to ${local}`, UPLOAD);
    return res;
  }

  const client: UaeClient = {
    address,
    jobs: {
      submitPipeline: (config, opts = {}) =>
        unary<v1.SubmitPipelineRequest, v1.SubmitPipelineResponse>(
          ctx,
          '/uae.v1.JobService/SubmitPipeline',
          (r: v1.SubmitPipelineRequest, m, o, cb) => jobsClient.submitPipeline(r, m, o, cb),
          { requestId: opts.requestId ?? '', config: build(v1.PipelineConfig, config), labels: opts.labels ?? {} },
          opts,
        ),
      get: getJob,
      watch,
      async wait(jobId, opts = {}) {
        for (let attempt = 0; ; attempt++) {
          for await (const msg of watch(jobId, opts)) opts.onMessage?.(msg);
          const job = await getJob(jobId, { signal: opts.signal, metadata: opts.metadata });
          if (isTerminal(job.state)) return job;
          // The stream ended early (e.g. the server shut down gracefully): watch again.
          if (attempt >= (opts.reconnect?.retries ?? 0)) {
            throw new UaeClientError({ code: Status.UNAVAILABLE, details: `the watch of job ${jobId} ended before the job finished`, method: '/uae.v1.JobService/WatchJob' });
          }
          opts = { ...opts, afterSequence: job.lastEventSequence };
        }
      },
      cancel: (jobId, reason = '', opts) =>
        unary<v1.CancelJobRequest, v1.CancelJobResponse>(ctx, '/uae.v1.JobService/CancelJob', (r: v1.CancelJobRequest, m, o, cb) => jobsClient.cancelJob(r, m, o, cb), { jobId, reason }, opts).then((r) =>
          requireJob(r.job, 'CancelJob'),
        ),
      async *list(filter, opts) {
        for await (const page of pages(filter, opts)) yield* page.jobs;
      },
      pages,
    },
    artifacts: {
      put,
      putFile: (path, opts = {}) => put(opts.name ?? path.split('/').pop()!, { path }, opts.mediaType ?? mediaTypeFor(path), opts),
      async get(sha256, opts = {}) {
        const parts: Buffer[] = [];
        for await (const chunk of verified(sha256, opts, {})) parts.push(chunk);
        return Buffer.concat(parts);
      },
      async getToFile(sha256, path, opts = {}) {
        const tmp = `${path}.partial-${randomBytes(4).toString('hex')}`;
        const out: { ref?: v1.ArtifactRef } = {};
        const file = createWriteStream(tmp);
        let writeError: unknown;
        file.on('error', (e) => (writeError ??= e));
        const closed = once(file, 'close').catch(() => undefined);
        try {
          for await (const chunk of verified(sha256, opts, out)) {
            if (writeError) throw writeError;
            if (!file.write(chunk)) await Promise.race([once(file, 'drain'), closed]);
          }
          file.end();
          await closed;
          if (writeError) throw writeError;
          await rename(tmp, path);
        } catch (e) {
          file.destroy();
          await closed;
          await rm(tmp, { force: true });
          throw e;
        }
        if (!out.ref) throw dataLoss('the download carried no artifact ref', DOWNLOAD);
        return out.ref;
      },
      download,
      stat: (sha256, opts) => unary<v1.StatRequest, v1.StatResponse>(ctx, '/uae.v1.ArtifactService/Stat', (r: v1.StatRequest, m, o, cb) => artifactsClient.stat(r, m, o, cb), { sha256 }, opts),
    },
    attack: {
      generate: (request, opts) =>
        serverStream(ctx, '/uae.v1.AttackService/Generate', (r: v1.GenerateRequest, m, o) => attackClient.generate(r, m, o), build(v1.GenerateRequest, request), opts),
      submit: (spec, opts = {}) =>
        unary<v1.SubmitRequest, v1.SubmitResponse>(
          ctx,
          '/uae.v1.AttackService/Submit',
          (r: v1.SubmitRequest, m, o, cb) => attackClient.submit(r, m, o, cb),
          { requestId: opts.requestId ?? '', spec: build(v1.AttackJobSpec, spec), labels: opts.labels ?? {} },
          opts,
        ),
    },
    training: {
      train: (spec, opts = {}) =>
        unary<v1.TrainRequest, v1.TrainResponse>(
          ctx,
          '/uae.v1.TrainingService/Train',
          (r: v1.TrainRequest, m, o, cb) => trainingClient.train(r, m, o, cb),
          { requestId: opts.requestId ?? '', spec: build(v1.TrainingJobSpec, spec), labels: opts.labels ?? {} },
          opts,
        ),
      getModel: (modelId, opts) =>
        unary<v1.GetModelRequest, v1.GetModelResponse>(ctx, '/uae.v1.TrainingService/GetModel', (r: v1.GetModelRequest, m, o, cb) => trainingClient.getModel(r, m, o, cb), { modelId }, opts).then((r) => {
          if (!r.model) throw dataLoss('GetModel answered without a model', '/uae.v1.TrainingService/GetModel');
          return r.model;
        }),
    },
    evaluation: {
      evaluate: (request, opts) =>
        unary<v1.EvaluateRequest, v1.EvaluateResponse>(ctx, '/uae.v1.EvaluationService/Evaluate', (r: v1.EvaluateRequest, m, o, cb) => evaluationClient.evaluate(r, m, o, cb), build(v1.EvaluateRequest, request), opts),
    },
    mine: {
      estimate: (request, opts) =>
        unary<v1.EstimateRequest, v1.EstimateResponse>(ctx, '/uae.v1.MineService/Estimate', (r: v1.EstimateRequest, m, o, cb) => mineClient.estimate(r, m, o, cb), build(v1.EstimateRequest, request), opts),
    },
    async health(service = '', opts) {
      const res = await unary<{ service: string }, { status: string | number }>(ctx, '/grpc.health.v1.Health/Check', (r: { service: string }, m, o, cb) => healthClient.Check(r, m, o, cb), { service }, opts);
      return typeof res.status === 'number' ? (HEALTH_NAMES[res.status] ?? 'UNKNOWN') : (res.status as HealthStatus);
    },
    ready(timeoutMs = 10_000) {
      return new Promise((resolve, reject) =>
        jobsClient.waitForReady(Date.now() + timeoutMs, (err) =>
          err ? reject(new UaeClientError({ code: Status.UNAVAILABLE, details: `${address} not reachable within ${timeoutMs} ms: ${err.message}` })) : resolve(),
        ),
      );
    },
    close() {
      jobsClient.close();
    },
  };
  return client;
}

function requireJob(job: v1.Job | undefined, method: string): v1.Job {
  if (!job) throw new UaeClientError({ code: Status.DATA_LOSS, details: `${method} answered without a job`, method: `/uae.v1.JobService/${method}` });
  return job;
}

