/**
 * ArtifactService handlers over the bus's artifact store, content-addressed
 * under `sha256/<hex>` (services/common/artifacts.ts casKey) like every other
 * service's artifacts.
 *
 *   Upload    header, then chunks ≤ 1 MiB. With a declared sha256 the chunks
 *             stream straight into the store under its key (the put fails, and
 *             nothing is stored, if the stream breaks or the bytes do not match);
 *             without one, up to BUFFER_LIMIT bytes are hashed in memory, larger
 *             uploads go to a temporary key first and are copied.
 *   Download  the bytes from `offset` (limit, chunk size 1 KiB–1 MiB).
 *   Stat      the ref and when it was stored.
 * Upload names are kept in KV (`artifact-names.<sha256>`, first upload wins).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Bus } from '../../libs/bus/index.js';
import { MAX_ARTIFACT_CHUNK_BYTES, ProtoFieldError, type v1 } from '../../libs/proto/index.js';
import { notFound, ServiceError, Status, type CallContext, type HandlersFor } from '../../libs/service-kit/index.js';
import { casKey, refFromInfo } from '../common/artifacts.js';
import type { OrchestratorMetrics } from './metrics.js';

/** One artifact (docs/proto.md). */
export const MAX_ARTIFACT_BYTES = 8 * 1024 ** 3;
/** Uploads without a declared sha256 up to this size are hashed in memory. */
export const BUFFER_LIMIT = 64 * 1024 * 1024;
const MIN_CHUNK = 1024;
const SHA256_RE = /^[0-9a-f]{64}$/;
const MAX_NAME = 256;

export interface ArtifactHandlerDeps {
  bus: Bus;
  metrics: OrchestratorMetrics;
  /** Uploads without a declared sha256 up to this many bytes are hashed in memory (default BUFFER_LIMIT). */
  bufferLimit?: number;
}

function checkSha(sha: string, field: string): string {
  if (!SHA256_RE.test(sha)) throw new ProtoFieldError(field, `must be 64 lowercase hex characters; got ${JSON.stringify(sha.slice(0, 80))}`);
  return sha;
}

function nameKey(sha: string): string {
  return `artifact-names.${sha}`;
}

export function artifactServiceHandlers(deps: ArtifactHandlerDeps): HandlersFor<typeof v1.ArtifactServiceService> {
  const { bus, metrics } = deps;
  const store = () => bus.artifacts;

  const rememberName = async (sha: string, name: string) => {
    if (!name) return;
    await bus.kv.create(nameKey(sha), new TextEncoder().encode(name)).catch(() => undefined);
  };
  const nameOf = async (sha: string) => {
    const e = await bus.kv.get(nameKey(sha)).catch(() => null);
    return e ? new TextDecoder().decode(e.value) : '';
  };

  return {
    async upload(requests: AsyncIterable<v1.UploadRequest>, call: CallContext): Promise<v1.UploadResponse> {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done || first.value.part?.$case !== 'header') throw new ProtoFieldError('header', 'required as the first message of the upload');
      const header = first.value.part.value;
      if (!header.mediaType) throw new ProtoFieldError('header.media_type', 'required');
      if (header.mediaType.length > 255) throw new ProtoFieldError('header.media_type', 'at most 255 characters');
      if (header.name.length > MAX_NAME) throw new ProtoFieldError('header.name', `at most ${MAX_NAME} characters`);
      if (!Number.isSafeInteger(header.sizeBytes) || header.sizeBytes < 0 || header.sizeBytes > MAX_ARTIFACT_BYTES) {
        throw new ProtoFieldError('header.size_bytes', `must be 0–${MAX_ARTIFACT_BYTES}; got ${header.sizeBytes}`);
      }
      if (header.sha256) checkSha(header.sha256, 'header.sha256');

      const hash = createHash('sha256');
      let total = 0;
      let index = 0;
      let digest: string | undefined;
      // The chunks, checked as they pass; throwing here makes the store's put fail (nothing stored).
      async function* chunks(): AsyncGenerator<Uint8Array> {
        for (;;) {
          call.signal.throwIfAborted();
          const r = await it.next();
          if (r.done) break;
          const part = r.value.part;
          if (part?.$case === 'header') throw new ProtoFieldError('header', 'repeated: only the first message may carry the header');
          if (part?.$case !== 'chunk') continue;
          const chunk = part.value;
          if (chunk.length > MAX_ARTIFACT_CHUNK_BYTES) throw new ProtoFieldError('chunk', `chunk ${index} is ${chunk.length} bytes; at most ${MAX_ARTIFACT_CHUNK_BYTES}`);
          index++;
          total += chunk.length;
          if (total > header.sizeBytes) throw new ProtoFieldError('header.size_bytes', `the chunks exceed the declared ${header.sizeBytes} bytes`);
          hash.update(chunk);
          yield chunk;
        }
        call.signal.throwIfAborted();
        if (total !== header.sizeBytes) throw new ProtoFieldError('header.size_bytes', `declared ${header.sizeBytes} bytes, received ${total}`);
        digest = hash.digest('hex');
        if (header.sha256 && digest !== header.sha256) throw new ProtoFieldError('header.sha256', `declared ${header.sha256}, the bytes hash to ${digest}`);
      }

      const done = async (info: Awaited<ReturnType<ReturnType<typeof store>['put']>>, alreadyExisted: boolean): Promise<v1.UploadResponse> => {
        metrics.artifactBytes.inc({ direction: 'upload' }, total);
        await rememberName(info.sha256, header.name);
        return { ref: refFromInfo(info, header.name || (await nameOf(info.sha256))), alreadyExisted };
      };

      if (header.sha256) {
        const key = casKey(header.sha256);
        const existing = await store().stat(key);
        if (existing) {
          for await (const _ of chunks()); // verify what the client sent
          return done(existing, true);
        }
        return done(await store().put(key, chunks(), { mediaType: header.mediaType }), false);
      }
      if (header.sizeBytes <= (deps.bufferLimit ?? BUFFER_LIMIT)) {
        const parts: Uint8Array[] = [];
        for await (const c of chunks()) parts.push(c);
        const bytes = Buffer.concat(parts);
        const key = casKey(digest!);
        const existing = await store().stat(key);
        if (existing) return done(existing, true);
        return done(await store().put(key, bytes, { mediaType: header.mediaType }), false);
      }
      // Large and undeclared: stream to a temporary key, then copy under the hash.
      const tmp = `uploads/${Date.now()}-${randomBytes(8).toString('hex')}`;
      try {
        await store().put(tmp, chunks(), { mediaType: header.mediaType });
        const key = casKey(digest!);
        const existing = await store().stat(key);
        if (existing) return done(existing, true);
        const { stream } = await store().open(tmp);
        return done(await store().put(key, stream, { mediaType: header.mediaType }), false);
      } finally {
        await store().delete(tmp).catch(() => false);
      }
    },

    async *download(req: v1.DownloadRequest, call): AsyncIterable<v1.DownloadResponse> {
      const sha = checkSha(req.sha256, 'sha256');
      const chunkSize = req.chunkSize || MAX_ARTIFACT_CHUNK_BYTES;
      if (chunkSize < MIN_CHUNK || chunkSize > MAX_ARTIFACT_CHUNK_BYTES) {
        throw new ProtoFieldError('chunk_size', `must be ${MIN_CHUNK}–${MAX_ARTIFACT_CHUNK_BYTES} (0 = ${MAX_ARTIFACT_CHUNK_BYTES}); got ${req.chunkSize}`);
      }
      const key = casKey(sha);
      const info = await store().stat(key);
      if (!info) throw notFound(`artifact not found: ${key}`, 'sha256');
      if (req.offset > info.size) throw new ServiceError(Status.OUT_OF_RANGE, `offset ${req.offset} is past the end (${info.size} bytes)`, 'offset');
      const end = req.limit ? Math.min(info.size, req.offset + req.limit) : info.size;
      const ref = refFromInfo(info, await nameOf(sha));
      let first = true;
      let sent = 0;
      if (end <= req.offset) {
        yield { ref, offset: req.offset, chunk: Buffer.alloc(0) };
        return;
      }
      const { stream } = await store().open(key);
      let pos = 0; // position of the next byte of `stream`
      let pending: Uint8Array[] = [];
      let pendingBytes = 0;
      let outOffset = req.offset;
      const take = function* (final: boolean): Generator<v1.DownloadResponse> {
        while (pendingBytes >= chunkSize || (final && pendingBytes > 0)) {
          const all = Buffer.concat(pending);
          const out = all.subarray(0, Math.min(chunkSize, all.length));
          const rest = all.subarray(out.length);
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
          const msg: v1.DownloadResponse = { ref: first ? ref : undefined, offset: outOffset, chunk: Buffer.from(out) };
          first = false;
          outOffset += out.length;
          sent += out.length;
          yield msg;
        }
      };
      for await (const piece of stream) {
        call.signal.throwIfAborted();
        const start = pos;
        pos += piece.length;
        if (pos <= req.offset) continue;
        const from = Math.max(0, req.offset - start);
        const to = Math.min(piece.length, end - start);
        if (to > from) {
          pending.push(piece.subarray(from, to));
          pendingBytes += to - from;
        }
        yield* take(false);
        if (pos >= end) break;
      }
      yield* take(true);
      metrics.artifactBytes.inc({ direction: 'download' }, sent);
    },

    async stat(req: v1.StatRequest): Promise<v1.StatResponse> {
      const sha = checkSha(req.sha256, 'sha256');
      const key = casKey(sha);
      const info = await store().stat(key);
      if (!info) throw notFound(`artifact not found: ${key}`, 'sha256');
      return { ref: refFromInfo(info, await nameOf(sha)), createdAt: new Date(info.mtime) };
    },
  };
}
