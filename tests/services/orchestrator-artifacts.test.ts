/**
 * ArtifactService on a real orchestrator process with a private nats-server:
 * chunked upload/download round trips, offsets and limits, de-duplication by
 * content, errors that name the field, and broken uploads that leave nothing
 * in the object store.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectBus, type NatsBus } from '../../libs/bus/index.js';
import { v1 } from '../../libs/proto/index.js';
import { natsServerAvailable, startNatsServer, type NatsServerHandle } from '../helpers/nats-server.js';
import { metricValue, startServiceProcess, unary, unaryError, waitUntil, type ServiceProcess } from '../helpers/services.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!natsServerAvailable())('orchestrator: ArtifactService', () => {
  let nats: NatsServerHandle;
  let orch: ServiceProcess;
  let client: v1.ArtifactServiceClient;
  let bus: NatsBus;

  beforeAll(async () => {
    nats = await startNatsServer();
    orch = await startServiceProcess('orchestrator', {
      natsUrl: nats.url,
      logLevel: 'warn',
      // Remote stage mode: no tfjs in this process (nothing listens there; no pipeline runs here).
      // Uploads above 1 MiB without a declared hash take the temporary-key path.
      env: { UAE_TRAINER_ADDR: '127.0.0.1:9', UAE_EVALUATOR_ADDR: '127.0.0.1:9', UAE_UPLOAD_BUFFER_BYTES: String(MiB) },
    });
    client = orch.client(v1.ArtifactServiceClient);
    bus = await connectBus({ servers: nats.url });
  });

  afterAll(async () => {
    await bus?.close();
    await orch?.stop();
    await nats?.dispose();
  });

  /** Sends the messages of an Upload; `breakAfter` cancels the call after that many messages. */
  function upload(messages: v1.UploadRequest[], opts: { breakAfter?: number } = {}): Promise<v1.UploadResponse> {
    return new Promise((resolve, reject) => {
      const call = client.upload(orch.metadata(), (err, res) => (err ? reject(err) : resolve(res)));
      messages.forEach((m, i) => {
        if (opts.breakAfter !== undefined && i >= opts.breakAfter) return;
        call.write(m);
      });
      if (opts.breakAfter !== undefined) setTimeout(() => call.cancel(), 200);
      else call.end();
    });
  }

  function parts(bytes: Uint8Array, header: Partial<v1.UploadHeader>, chunk = MiB): v1.UploadRequest[] {
    const out: v1.UploadRequest[] = [{ part: { $case: 'header', value: v1.UploadHeader.fromPartial({ sizeBytes: bytes.length, ...header }) } }];
    for (let i = 0; i < bytes.length; i += chunk) out.push({ part: { $case: 'chunk', value: Buffer.from(bytes.subarray(i, i + chunk)) } });
    return out;
  }

  function download(req: Partial<v1.DownloadRequest>): Promise<v1.DownloadResponse[]> {
    return new Promise((resolve, reject) => {
      const msgs: v1.DownloadResponse[] = [];
      const call = client.download(v1.DownloadRequest.fromPartial(req), orch.metadata());
      call.on('data', (m: v1.DownloadResponse) => msgs.push(m));
      call.on('error', reject);
      call.on('end', () => resolve(msgs));
    });
  }

  async function downloadError(req: Partial<v1.DownloadRequest>): Promise<grpc.ServiceError> {
    try {
      await download(req);
    } catch (e) {
      return e as grpc.ServiceError;
    }
    throw new Error('download succeeded');
  }

  const keys = async () => (await bus.artifacts.list('')).map((i) => i.key);

  it('round-trips an upload in 1 MiB chunks and downloads it with offsets, limits and chunk sizes', async () => {
    const bytes = new Uint8Array(randomBytes(2 * MiB + 12345));
    const digest = sha(bytes);
    const res = await upload(parts(bytes, { mediaType: 'application/x-npy', sha256: digest, name: 'x_train.npy' }));
    expect(res.alreadyExisted).toBe(false);
    expect(res.ref).toEqual({ sha256: digest, sizeBytes: bytes.length, mediaType: 'application/x-npy', name: 'x_train.npy' });

    const whole = await download({ sha256: digest });
    expect(whole[0]!.ref!.sha256).toBe(digest);
    expect(whole.slice(1).every((m) => m.ref === undefined)).toBe(true);
    expect(whole.every((m) => m.chunk.length <= MiB)).toBe(true);
    expect(Buffer.concat(whole.map((m) => m.chunk)).equals(Buffer.from(bytes))).toBe(true);

    const part = await download({ sha256: digest, offset: 1000, limit: 300_000, chunkSize: 64 * 1024 });
    expect(part.every((m) => m.chunk.length <= 64 * 1024)).toBe(true);
    expect(part.map((m) => m.offset)).toEqual(part.map((_, i) => 1000 + i * 64 * 1024));
    expect(Buffer.concat(part.map((m) => m.chunk)).equals(Buffer.from(bytes.subarray(1000, 301_000)))).toBe(true);
    const tail = await download({ sha256: digest, offset: bytes.length });
    expect(tail).toHaveLength(1);
    expect(tail[0]!.chunk.length).toBe(0);

    const stat = await unary<v1.StatResponse>(client, 'stat', { sha256: digest }, orch.metadata());
    expect(stat.ref).toEqual(res.ref);
    expect(stat.createdAt!.getTime()).toBeLessThanOrEqual(Date.now());

    // The same bytes again (this time without a declared hash): a no-op with the same ref.
    const again = await upload(parts(bytes, { mediaType: 'application/x-npy' }));
    expect(again.alreadyExisted).toBe(true);
    expect(again.ref!.sha256).toBe(digest);
    expect(await keys()).toContain(`sha256/${digest}`);
    // New bytes above the buffer limit without a declared hash: stored via a temporary key, which is gone after.
    const big = new Uint8Array(randomBytes(MiB + 7));
    const bigRes = await upload(parts(big, { mediaType: 'application/octet-stream' }, 256 * 1024));
    expect(bigRes.ref!.sha256).toBe(sha(big));
    expect(Buffer.concat((await download({ sha256: sha(big) })).map((m) => m.chunk)).equals(Buffer.from(big))).toBe(true);
    expect((await keys()).filter((k) => !k.startsWith('sha256/'))).toEqual([]);

    const text = await orch.scrape();
    expect(metricValue(text, 'uae_artifact_bytes_total', { direction: 'upload' })).toBe(2 * bytes.length + big.length);
    expect(metricValue(text, 'uae_artifact_bytes_total', { direction: 'download' })).toBe(bytes.length + 300_000 + big.length);
  });

  it('rejects bad uploads with INVALID_ARGUMENT naming the field, and stores nothing', async () => {
    const before = await keys();
    const bytes = new Uint8Array(randomBytes(300_000));
    const cases: Array<[v1.UploadRequest[], RegExp]> = [
      [parts(bytes, { mediaType: 'application/octet-stream', sha256: 'ab'.repeat(32) }), /^header\.sha256: declared/],
      [parts(bytes, { mediaType: 'application/octet-stream', sizeBytes: bytes.length + 1 }), /^header\.size_bytes: declared/],
      [parts(bytes, { mediaType: 'application/octet-stream', sizeBytes: 10 }), /^header\.size_bytes/],
      [parts(bytes, { mediaType: '' }), /^header\.media_type/],
      [parts(bytes, { mediaType: 'a/b' }).slice(1), /^header/],
      [[...parts(bytes, { mediaType: 'a/b' }), parts(bytes, { mediaType: 'a/b' })[0]!], /^header: repeated/],
      [parts(new Uint8Array(MiB + 1), { mediaType: 'a/b', sha256: sha(new Uint8Array(MiB + 1)) }, MiB + 1), /^chunk/],
    ];
    for (const [msgs, re] of cases) {
      const err = await upload(msgs).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err!.details).toMatch(re);
    }
    expect(await keys()).toEqual(before);
  });

  it('leaves nothing behind when the client breaks off an upload', async () => {
    const before = await keys();
    const bytes = new Uint8Array(randomBytes(3 * MiB));
    const digest = sha(bytes);
    for (const header of [{ sha256: digest }, {}]) {
      const err = await upload(parts(bytes, { mediaType: 'application/octet-stream', ...header }), { breakAfter: 2 }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(grpc.status.CANCELLED);
    }
    // The server notices the cancel and drops the half-written object.
    await waitUntil(async () => (await metricValue(await orch.scrape(), 'uae_grpc_server_in_flight', { method: 'Upload' })) === 0, 10_000);
    expect(await keys()).toEqual(before);
    const nf = await unaryError(client, 'stat', { sha256: digest }, orch.metadata());
    expect(nf.code).toBe(grpc.status.NOT_FOUND);
  });

  it('answers NOT_FOUND naming the key, OUT_OF_RANGE past the end, INVALID_ARGUMENT for a bad hash or chunk size', async () => {
    const missing = 'cd'.repeat(32);
    const stat = await unaryError(client, 'stat', { sha256: missing }, orch.metadata());
    expect(stat.code).toBe(grpc.status.NOT_FOUND);
    expect(stat.details).toContain(`sha256/${missing}`);
    const dl = await downloadError({ sha256: missing });
    expect(dl.code).toBe(grpc.status.NOT_FOUND);
    expect(dl.details).toContain(`sha256/${missing}`);
    expect((await unaryError(client, 'stat', { sha256: 'XYZ' }, orch.metadata())).code).toBe(grpc.status.INVALID_ARGUMENT);

    const small = new Uint8Array(randomBytes(100));
    const { ref } = await upload(parts(small, { mediaType: 'application/octet-stream' }));
    expect((await downloadError({ sha256: ref!.sha256, offset: 101 })).code).toBe(grpc.status.OUT_OF_RANGE);
    const bad = await downloadError({ sha256: ref!.sha256, chunkSize: 10 });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^chunk_size/);
  });
});
