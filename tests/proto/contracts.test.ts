/**
 * The uae.v1 contracts: lint, committed generated code and descriptor set in
 * sync with proto/ (CI fails on drift), wire round-trips (ts-proto against the
 * reflective @bufbuild/protobuf decoder built from the descriptor set), the
 * grpc-js service definitions on loopback, and the tensor codec's validation.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import { jobEventSubject } from '../../libs/bus/index.js';
import { attackConfig, type AttackConfigInput } from '../../libs/attack/config.js';
import { mineConfig } from '../../libs/mine/config.js';
import { adversarialTrainingConfig } from '../../libs/models/index.js';
import {
  DESCRIPTOR_SET_PATH,
  MAX_INLINE_TENSOR_BYTES,
  ProtoFieldError,
  attackConfigFromProto,
  attackConfigToProto,
  augmentationMethodFromName,
  augmentationMethodName,
  mineConfigFromProto,
  modelKindFromName,
  modelKindName,
  sampleResultFromProto,
  sampleResultToProto,
  trainOptionsFromProto,
  adversarialTrainingFromProto,
  adversarialTrainingToProto,
  cnnArchitectureFromProto,
  cnnArchitectureToProto,
  armAggregateFromProto,
  armAggregateToProto,
  SERVICES,
  TensorCodecError,
  type SupportedDataType,
  type TensorData,
  fromProtoTensor,
  toProtoTensor,
  v1,
} from '../../libs/proto/index.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUF = join(ROOT, 'node_modules', '.bin', 'buf');
const GEN = join(ROOT, 'libs', 'proto', 'gen');

/** Paths of every file under dir, relative to it, sorted. */
async function listFiles(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, root)));
    else out.push(relative(root, p));
  }
  return out.sort();
}

async function descriptorRegistry() {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, await readFile(DESCRIPTOR_SET_PATH)));
}

function messageDesc(registry: Awaited<ReturnType<typeof descriptorRegistry>>, name: string): DescMessage {
  const d = registry.getMessage(name);
  if (!d) throw new Error(`${name} not in the descriptor set`);
  return d;
}

describe('buf', () => {
  it('lints clean (STANDARD + COMMENTS)', async () => {
    const { stdout, stderr } = await run(BUF, ['lint'], { cwd: ROOT });
    expect(stdout + stderr).toBe('');
  });

  it('regenerates byte-identical code and descriptor set (run `npm run proto` after editing proto/)', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'uae-proto-'));
    try {
      await run(BUF, ['generate', '--output', tmp], { cwd: ROOT });
      await run(BUF, ['build', '-o', join(tmp, 'uae.v1.binpb')], { cwd: ROOT });
      const fresh = join(tmp, 'libs', 'proto', 'gen');
      const files = await listFiles(GEN);
      expect(await listFiles(fresh)).toEqual(files);
      expect(files).toContain(join('uae', 'v1', 'tensor.ts'));
      for (const f of files) {
        const [a, b] = await Promise.all([readFile(join(GEN, f)), readFile(join(fresh, f))]);
        expect(a.equals(b), `libs/proto/gen/${f} differs from a fresh \`buf generate\``).toBe(true);
      }
      const [a, b] = await Promise.all([readFile(DESCRIPTOR_SET_PATH), readFile(join(tmp, 'uae.v1.binpb'))]);
      expect(a.equals(b), 'libs/proto/uae.v1.binpb differs from a fresh `buf build`').toBe(true);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('libs/proto/v1.ts re-exports every generated uae/v1 module', async () => {
    const v1ts = await readFile(join(ROOT, 'libs', 'proto', 'v1.ts'), 'utf8');
    const modules = (await readdir(join(GEN, 'uae', 'v1'))).filter((f) => f.endsWith('.ts')).sort();
    for (const m of modules) expect(v1ts).toContain(`export * from './gen/uae/v1/${m.replace(/\.ts$/, '.js')}';`);
  });

  it('the descriptor set declares every service and rpc with its streaming kind, and carries comments', async () => {
    const registry = await descriptorRegistry();
    const rpcs: Record<string, string[]> = {
      'uae.v1.MineService': ['Estimate:unary'],
      'uae.v1.AttackService': ['Generate:server_streaming', 'Submit:unary'],
      'uae.v1.TrainingService': ['Train:unary', 'GetModel:unary'],
      'uae.v1.EvaluationService': ['Evaluate:unary'],
      'uae.v1.JobService': ['SubmitPipeline:unary', 'GetJob:unary', 'WatchJob:server_streaming', 'CancelJob:unary', 'ListJobs:unary'],
      'uae.v1.ArtifactService': ['Upload:client_streaming', 'Download:server_streaming', 'Stat:unary'],
    };
    expect(Object.keys(SERVICES).sort()).toEqual(Object.keys(rpcs).sort());
    for (const [name, methods] of Object.entries(rpcs)) {
      const svc = registry.getService(name);
      expect(svc, name).toBeDefined();
      expect(svc!.methods.map((m) => `${m.name}:${m.methodKind}`)).toEqual(methods);
      // The grpc-js definitions agree with the descriptor on paths and streaming.
      const def = SERVICES[name as keyof typeof SERVICES] as grpc.ServiceDefinition;
      for (const m of svc!.methods) {
        const d = Object.values(def).find((x) => x.path === `/${name}/${m.name}`);
        expect(d, `${name}/${m.name}`).toBeDefined();
        expect(d!.requestStream).toBe(m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming');
        expect(d!.responseStream).toBe(m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming');
      }
    }
    for (const event of ['JobCreated', 'JobProgressed', 'JobStageChanged', 'JobCompleted', 'JobFailed', 'JobCancelled', 'JobEvent', 'AttackShard']) {
      expect(registry.getMessage(`uae.v1.${event}`), event).toBeDefined();
    }
    expect(registry.getFile('google/protobuf/timestamp.proto')).toBeDefined();
    const tensor = registry.getFile('uae/v1/tensor.proto')!;
    expect(tensor.proto.sourceCodeInfo?.location.some((l) => l.leadingComments.includes('little-endian'))).toBe(true);
  });
});

describe('wire round-trips', () => {
  it('GenerateRequest with a tensor, sample ids beyond 2^32 and an explicit c0 = 0', async () => {
    const x = Float32Array.from({ length: 2 * 3 * 3 * 1 }, (_, i) => i / 17);
    const req: v1.GenerateRequest = {
      model: { source: { $case: 'modelId', value: 'm-1' } },
      x: toProtoTensor(x, [2, 3, 3, 1], 'x'),
      config: v1.AttackConfig.fromPartial({
        method: v1.AttackMethod.ATTACK_METHOD_PENALTY,
        criterion: { kind: { $case: 'cw', value: { kappa: 0.5, targeted: true } } },
        similarity: { kind: { $case: 'mine', value: { sampler: v1.MineSampler.MINE_SAMPLER_RANDOM, draws: 64, learningRate: 1e-4 } } },
        iterations: 8,
        c0: 0,
        trace: true,
        seed: 2 ** 40,
      }),
      sampleIds: [0, 2 ** 33],
      labels: [3, 7],
    };
    const bytes = v1.GenerateRequest.encode(req).finish();
    const back = v1.GenerateRequest.decode(bytes);
    expect(back).toEqual(req);
    expect(back.config!.c0).toBe(0); // presence kept: 0 ≠ unset
    expect(back.config!.alpha).toBeUndefined();
    expect(fromProtoTensor(back.x, { field: 'x', dtype: v1.DataType.DATA_TYPE_FLOAT32 }).data).toEqual(x);

    // The reflective implementation (from the committed descriptor set) reads
    // and writes the same bytes, and each side reads the other's proto-JSON
    // (canonical JSON writes 64-bit integers as strings, ts-proto as numbers).
    const registry = await descriptorRegistry();
    const desc = messageDesc(registry, 'uae.v1.GenerateRequest');
    const reflected = fromBinary(desc, bytes);
    expect(Buffer.from(toBinary(desc, reflected)).equals(Buffer.from(bytes))).toBe(true);
    expect(v1.GenerateRequest.fromJSON(toJson(desc, reflected, { registry }))).toEqual(req);
    const fromTsProtoJson = fromJson(desc, v1.GenerateRequest.toJSON(req) as never, { registry });
    expect(v1.GenerateRequest.decode(toBinary(desc, fromTsProtoJson))).toEqual(req);
  });

  it('JobEvent envelopes keep their payload case, timestamps and NaN', () => {
    const time = new Date('2025-01-02T03:04:05.678Z');
    const events: v1.JobEvent[] = [
      {
        jobId: 'job_1',
        sequence: 1,
        time,
        kind: v1.JobKind.JOB_KIND_PIPELINE,
        state: v1.JobState.JOB_STATE_QUEUED,
        payload: { $case: 'created', value: { job: v1.Job.fromPartial({ jobId: 'job_1', requestId: 'req-9', labels: { run: 'r1' }, createdAt: time }) } },
      },
      v1.JobEvent.fromPartial({
        jobId: 'job_1',
        sequence: 7,
        time,
        state: v1.JobState.JOB_STATE_RUNNING,
        payload: {
          $case: 'progress',
          value: {
            stage: { kind: v1.StageKind.STAGE_KIND_GENERATE, method: 'mine', name: 'generate mine', index: 1, count: 4 },
            progress: { samplesDone: 120, samplesTotal: 1000, samplesSucceeded: 117, asr: 0.975, samplesPerSecond: 3.5, etaSeconds: 251.4 },
          },
        },
      }),
      v1.JobEvent.fromPartial({
        jobId: 'job_1',
        sequence: 9,
        time,
        state: v1.JobState.JOB_STATE_SUCCEEDED,
        payload: {
          $case: 'completed',
          value: {
            durationSeconds: 12.5,
            result: {
              kind: {
                $case: 'pipeline',
                value: {
                  metrics: {
                    dataset: 'fashion-mnist',
                    model: v1.ModelKind.MODEL_KIND_CONV_AE,
                    backend: 'wasm',
                    trainSamples: 400,
                    testSamples: 100,
                    methods: {
                      original: { testReconError: 0.0199, accuracy: 0.81 },
                      mine: { testReconError: 0.0159, improvement: 0.2, asr: 0.99, secondsPerSample: 0.4, mi: { mean: 1, median: 1, min: 0.5, max: 2, count: 396 } },
                    },
                  },
                },
              },
            },
          },
        },
      }),
    ];
    for (const e of events) {
      const back = v1.JobEvent.decode(v1.JobEvent.encode(e).finish());
      expect(back).toEqual(e);
      expect(back.time).toEqual(time);
      expect(v1.JobEvent.fromJSON(v1.JobEvent.toJSON(e))).toEqual(e);
    }
    // The subject's last token is the payload case (libs/bus/subjects.ts).
    expect(events.map((e) => jobEventSubject(e.jobId, e.payload!.$case))).toEqual(['uae.v1.jobs.job_1.created', 'uae.v1.jobs.job_1.progress', 'uae.v1.jobs.job_1.completed']);
    const r: v1.SampleResult = v1.SampleResult.fromPartial({ sampleId: 5, success: false, similarity: NaN, f: 0.25, finalC: 0.0011, iterations: 40 });
    const rb = v1.SampleResult.decode(v1.SampleResult.encode(r).finish());
    expect(rb.similarity).toBeNaN();
    expect(v1.SampleResult.fromJSON(v1.SampleResult.toJSON(r)).similarity).toBeNaN();
  });

  it('ArtifactService upload parts and refs', () => {
    const parts: v1.UploadRequest[] = [
      { part: { $case: 'header', value: { mediaType: 'application/x-npy', sizeBytes: 6_000_000_000, sha256: 'ab'.repeat(32), name: 'x_train.npy' } } },
      { part: { $case: 'chunk', value: Buffer.from([1, 2, 3]) } },
    ];
    for (const p of parts) expect(v1.UploadRequest.decode(v1.UploadRequest.encode(p).finish())).toEqual(p);
  });

  it('64-bit fields beyond 2^53 are refused on decode rather than rounded', () => {
    // ArtifactRef.size_bytes = 2^60, written by hand: field 2, varint.
    const big = Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(() => v1.ArtifactRef.decode(big)).toThrow();
  });
});

describe('grpc-js service definitions on loopback', () => {
  it('unary Estimate and server-streaming Generate', async () => {
    const server = new grpc.Server();
    server.addService(v1.MineServiceService, {
      estimate: (call: grpc.ServerUnaryCall<v1.EstimateRequest, v1.EstimateResponse>, cb: grpc.sendUnaryData<v1.EstimateResponse>) => {
        try {
          const x = fromProtoTensor(call.request.x, { field: 'x', dtype: v1.DataType.DATA_TYPE_FLOAT32 });
          cb(null, { mi: x.data.length, trace: [], seconds: 0, backend: 'none' });
        } catch (e) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
        }
      },
    } satisfies v1.MineServiceServer);
    server.addService(v1.AttackServiceService, {
      generate: (call: grpc.ServerWritableStream<v1.GenerateRequest, v1.GenerateResponse>) => {
        const x = fromProtoTensor(call.request.x, { field: 'x' });
        const [b, ...shape] = x.shape;
        for (let i = 0; i < b!; i++) {
          const d = x.data.length / b!;
          const xAdv = toProtoTensor((x.data as Float32Array).slice(i * d, (i + 1) * d), shape, 'x_adv');
          call.write({ kind: { $case: 'result', value: v1.SampleResult.fromPartial({ index: i, sampleId: i, xAdv, success: true }) } });
        }
        call.write({ kind: { $case: 'summary', value: { samples: b!, succeeded: b!, asr: 1, seconds: 0, backend: 'none' } } });
        call.end();
      },
      submit: (_call: grpc.ServerUnaryCall<v1.SubmitRequest, v1.SubmitResponse>, cb: grpc.sendUnaryData<v1.SubmitResponse>) =>
        cb({ code: grpc.status.UNIMPLEMENTED }),
    } satisfies v1.AttackServiceServer);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    const addr = `127.0.0.1:${port}`;
    const mine = new v1.MineServiceClient(addr, grpc.credentials.createInsecure());
    const attack = new v1.AttackServiceClient(addr, grpc.credentials.createInsecure());
    try {
      const estimate = (req: v1.EstimateRequest) =>
        new Promise<v1.EstimateResponse>((resolve, reject) => mine.estimate(req, (err, res) => (err ? reject(err) : resolve(res))));
      const base = v1.EstimateRequest.fromPartial({});
      expect((await estimate({ ...base, x: toProtoTensor(new Float32Array(6), [3, 2], 'x') })).mi).toBe(6);
      const bad = { ...toProtoTensor(new Float32Array(6), [3, 2], 'x'), shape: [3, 3] };
      await expect(estimate({ ...base, x: bad })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('x.raw_data') });

      const x = Float32Array.from({ length: 8 }, (_, i) => i);
      const stream = attack.generate(v1.GenerateRequest.fromPartial({ x: toProtoTensor(x, [2, 2, 2], 'x') }));
      const got: v1.GenerateResponse[] = [];
      for await (const m of stream) got.push(m as v1.GenerateResponse);
      expect(got.map((m) => m.kind?.$case)).toEqual(['result', 'result', 'summary']);
      const second = got[1]!.kind as { $case: 'result'; value: v1.SampleResult };
      const xAdv = fromProtoTensor(second.value.xAdv, { field: 'x_adv', dtype: v1.DataType.DATA_TYPE_FLOAT32 });
      expect(xAdv.shape).toEqual([2, 2]);
      expect(Array.from(xAdv.data)).toEqual([4, 5, 6, 7]);
    } finally {
      mine.close();
      attack.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    }
  });
});

describe('tensor codec', () => {
  it('round-trips every dtype as little-endian bytes, copying', () => {
    const cases: { data: TensorData; dtype: SupportedDataType }[] = [
      { data: Float32Array.from([1, -2.5, 3e-8]), dtype: v1.DataType.DATA_TYPE_FLOAT32 },
      { data: Float64Array.from([Math.PI, -0]), dtype: v1.DataType.DATA_TYPE_FLOAT64 },
      { data: Int32Array.from([-1, 2 ** 31 - 1]), dtype: v1.DataType.DATA_TYPE_INT32 },
      { data: Uint8Array.from([0, 255, 7]), dtype: v1.DataType.DATA_TYPE_UINT8 },
    ];
    for (const { data, dtype } of cases) {
      const t = toProtoTensor(data, [data.length]);
      expect(t.dtype).toBe(dtype);
      expect(t.rawData.length).toBe(data.byteLength);
      const back = fromProtoTensor(v1.Tensor.decode(v1.Tensor.encode(t).finish()), { dtype });
      expect(back.data).toEqual(data);
      expect(back.data.constructor).toBe(data.constructor);
      expect(back.shape).toEqual([data.length]);
    }
    // Little-endian on the wire: 1.0f is 00 00 80 3f.
    expect([...toProtoTensor(Float32Array.of(1), []).rawData]).toEqual([0x00, 0x00, 0x80, 0x3f]);
    // A scalar has one element; a zero-sized dim none.
    expect(fromProtoTensor(toProtoTensor(Float32Array.of(4), [])).data).toEqual(Float32Array.of(4));
    expect(fromProtoTensor(toProtoTensor(new Float32Array(0), [3, 0])).shape).toEqual([3, 0]);
    // Copies both ways, also from an odd byte offset.
    const src = Float32Array.of(1, 2);
    const t = toProtoTensor(src, [2]);
    src[0] = 9;
    expect(fromProtoTensor(t).data).toEqual(Float32Array.of(1, 2));
    const odd = Buffer.concat([Buffer.from([0xee]), t.rawData]).subarray(1);
    expect(odd.byteOffset % 4).not.toBe(0);
    expect(fromProtoTensor({ ...t, rawData: odd }).data).toEqual(Float32Array.of(1, 2));
  });

  const valid = () => toProtoTensor(new Float32Array(12), [3, 4], 'x');
  const error = (f: () => unknown): TensorCodecError => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(TensorCodecError);
      return e as TensorCodecError;
    }
    throw new Error('expected a TensorCodecError');
  };

  it('rejects a wrong byte length, naming raw_data and the expectation', () => {
    const e = error(() => fromProtoTensor({ ...valid(), rawData: Buffer.alloc(47) }, { field: 'x' }));
    expect(e.field).toBe('x.raw_data');
    expect(e.message).toBe('x.raw_data: 47 bytes, expected 48 (FLOAT32 [3, 4]: 12 elements × 4 bytes)');
    expect(error(() => fromProtoTensor({ ...valid(), shape: [3, 5] }, { field: 'x' })).field).toBe('x.raw_data');
  });

  it('rejects unknown, unspecified and unexpected dtypes, naming dtype', () => {
    const unknown = error(() => fromProtoTensor({ ...valid(), dtype: 42 as v1.DataType }, { field: 'x' }));
    expect(unknown.field).toBe('x.dtype');
    expect(unknown.message).toMatch(/^x\.dtype: unknown dtype 42/);
    expect(error(() => fromProtoTensor({ ...valid(), dtype: v1.DataType.DATA_TYPE_UNSPECIFIED }, { field: 'y' })).message).toMatch(
      /^y\.dtype: unknown dtype UNSPECIFIED/,
    );
    expect(error(() => fromProtoTensor({ ...valid(), dtype: v1.DataType.UNRECOGNIZED }, { field: 'y' })).field).toBe('y.dtype');
    const decoded = v1.Tensor.decode(v1.Tensor.encode({ ...valid(), dtype: 9 as v1.DataType }).finish());
    expect(error(() => fromProtoTensor(decoded, { field: 'x' })).field).toBe('x.dtype');
    const other = error(() => fromProtoTensor(valid(), { field: 'x', dtype: v1.DataType.DATA_TYPE_UINT8 }));
    expect(other.message).toBe('x.dtype: expected UINT8, got FLOAT32');
  });

  it('rejects negative and non-integer dims, naming the dimension', () => {
    const e = error(() => fromProtoTensor({ ...valid(), shape: [3, -4] }, { field: 'x' }));
    expect(e.field).toBe('x.shape[1]');
    expect(e.message).toBe('x.shape[1]: negative dimension -4');
    // A negative int64 survives the wire.
    const wire = v1.Tensor.decode(v1.Tensor.encode({ ...valid(), shape: [-1, 12] }).finish());
    expect(error(() => fromProtoTensor(wire, { field: 'x' })).field).toBe('x.shape[0]');
    expect(error(() => toProtoTensor(new Float32Array(2), [2.5], 'x')).field).toBe('x.shape[0]');
    expect(error(() => toProtoTensor(new Float32Array(2), [-2], 'x')).message).toBe('x.shape[0]: negative dimension -2');
  });

  it('rejects a missing tensor, a wrong rank, too many bytes, non-finite values and a shape/data mismatch', () => {
    expect(error(() => fromProtoTensor(undefined, { field: 'x' })).message).toBe('x: required');
    expect(error(() => fromProtoTensor(valid(), { field: 'x', rank: 4 })).field).toBe('x.shape');
    const big = toProtoTensor(new Uint8Array(1025), [1025], 'x');
    expect(error(() => fromProtoTensor(big, { field: 'x', maxBytes: 1024 })).message).toMatch(/^x\.raw_data: 1025 bytes exceeds the 1024-byte inline limit/);
    expect(MAX_INLINE_TENSOR_BYTES).toBe(16 * 1024 * 1024);
    const nan = toProtoTensor(Float32Array.of(0, NaN), [2], 'x');
    expect(fromProtoTensor(nan).data[1]).toBeNaN();
    expect(error(() => fromProtoTensor(nan, { field: 'x', finite: true })).message).toBe('x.raw_data: element 1 is NaN; values must be finite');
    expect(error(() => toProtoTensor(new Float32Array(5), [2, 3], 'x')).message).toBe('x.shape: [2, 3] holds 6 elements but the data has 5');
  });
});

describe('config conversions', () => {
  const wire = (a: v1.AttackConfig) => v1.AttackConfig.decode(v1.AttackConfig.encode(a).finish());

  it('an empty message means the libraries\' defaults', () => {
    expect(attackConfig(attackConfigFromProto(wire(v1.AttackConfig.fromPartial({}))))).toEqual(attackConfig({}));
    expect(attackConfig(attackConfigFromProto(undefined))).toEqual(attackConfig({}));
    expect(mineConfig(mineConfigFromProto(v1.MineConfig.fromPartial({})))).toEqual(mineConfig({}));
    expect(trainOptionsFromProto(v1.TrainConfig.fromPartial({}))).toEqual({ seed: 0 });
    // The caller picks the sampler for MINE_SAMPLER_UNSPECIFIED (random for a dense model).
    expect(attackConfig(attackConfigFromProto(undefined, 'config', { sampler: 'random' })).similarity).toEqual({ kind: 'mine', mine: mineConfig({ sampler: 'random' }) });
  });

  it('every field survives lib → proto → wire → lib, explicit zeros included', () => {
    const inputs: AttackConfigInput[] = [
      {
        method: 'penalty',
        criterion: { kind: 'cw', kappa: 0.3, targeted: true },
        similarity: { kind: 'mine', mine: { sampler: 'random', draws: 64, projectionDim: 16, projection: 'fixed', hidden: 32, branchOut: 4, learningRate: 1e-3, beta1: 0, beta2: 0.5, epsilon: 1e-7 } },
        iterations: 12,
        epsilon: 0.25,
        alpha: 0.05,
        beta: 0.2,
        c0: 0,
        mineSteps: 0,
        init: 'uniform-eps',
        searchSteps: 3,
        trace: true,
        seed: 2 ** 40,
      },
      { criterion: { kind: 'loss', kappa: 0.1 }, similarity: { kind: 'l2' } },
      { similarity: { kind: 'cosine' }, criterion: { kind: 'reconstruction', kappa: 0 } },
    ];
    for (const input of inputs) {
      const cfg = attackConfig(input);
      expect(attackConfig(attackConfigFromProto(wire(attackConfigToProto(cfg))))).toEqual(cfg);
    }
  });

  it('unknown enum values name the field', () => {
    const e = (() => {
      try {
        attackConfigFromProto(v1.AttackConfig.fromPartial({ similarity: { kind: { $case: 'mine', value: { sampler: 7 as v1.MineSampler } } } }));
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ProtoFieldError);
    expect((e as ProtoFieldError).field).toBe('config.similarity.mine.sampler');
    expect(() => attackConfigFromProto(v1.AttackConfig.fromPartial({ method: 9 as v1.AttackMethod }))).toThrow('config.method: unknown enum value 9');
    expect(() => modelKindName(v1.ModelKind.MODEL_KIND_UNSPECIFIED)).toThrow('model.kind: required');
    expect(() => augmentationMethodName(v1.AugmentationMethod.fromPartial({ kind: v1.AugmentationMethodKind.AUGMENTATION_METHOD_KIND_GAUSSIAN, sigma: 0 }), 'methods[2]')).toThrow('methods[2].sigma');
  });

  it('model kinds, augmentation methods, training options and sample results', () => {
    for (const k of ['dense-ae', 'conv-ae', 'sparse-ae', 'adversarial-ae', 'concrete-ae', 'mlp-classifier'] as const) expect(modelKindName(modelKindFromName(k))).toBe(k);
    for (const m of ['mine', 'l2', 'repeat', 'none', 'ga-0.1', 'ga-0.05'] as const) expect(augmentationMethodName(augmentationMethodFromName(m))).toBe(m);
    for (const m of ['cosine', 'init-noise', 'flip', 'rotate-15', 'mine-adam@0.05', 'l2-sign', 'cosine@0.2', 'mine-gradient']) expect(augmentationMethodName(augmentationMethodFromName(m))).toBe(m);
    expect(augmentationMethodName(augmentationMethodFromName('noise-0.10'))).toBe('ga-0.1');
    expect(
      trainOptionsFromProto(v1.TrainConfig.fromPartial({ epochs: 5, batchSize: 0, seed: 3, validationSplit: 0.2, earlyStopping: { patience: 2, minDelta: 1e-4 } })),
    ).toEqual({ epochs: 5, seed: 3, validationSplit: 0.2, earlyStopping: { patience: 2, minDelta: 1e-4 } });
    const r = {
      sampleId: 17,
      xAdv: Float32Array.from([0.1, 0.2, 0.3, 0.4]),
      success: true,
      similarity: 1.25,
      f: -0.5,
      finalC: 0.002,
      iterations: 40,
      bestIteration: 31,
      trace: { similarity: [1, 1.25], f: [0.1, -0.5], c: [0.001, 0.002] },
    };
    const msg = v1.SampleResult.decode(v1.SampleResult.encode(sampleResultToProto(r, { index: 2, sampleShape: [2, 2] })).finish());
    expect(msg.index).toBe(2);
    expect(msg.xAdv?.shape).toEqual([2, 2]);
    expect(sampleResultFromProto(msg)).toEqual(r);
  });
});

describe('supervised fields (classifiers, cw)', () => {
  it('ModelConfig.architecture: unset means the library picks by channels; mnist/cifar round-trip; unknown values name the field', () => {
    expect(cnnArchitectureFromProto(v1.CnnArchitecture.CNN_ARCHITECTURE_UNSPECIFIED)).toBeUndefined();
    for (const a of ['mnist', 'cifar'] as const) {
      const m = v1.ModelConfig.decode(v1.ModelConfig.encode(v1.ModelConfig.fromPartial({ kind: v1.ModelKind.MODEL_KIND_CNN_CLASSIFIER, architecture: cnnArchitectureToProto(a) })).finish());
      expect(cnnArchitectureFromProto(m.architecture)).toBe(a);
    }
    expect(() => cnnArchitectureFromProto(9 as v1.CnnArchitecture, 'spec.model.architecture')).toThrow('spec.model.architecture: unknown enum value 9');
    expect(modelKindName(modelKindFromName('cnn-classifier'))).toBe('cnn-classifier');
    expect(modelKindFromName('cnn-classifier')).toBe(v1.ModelKind.MODEL_KIND_CNN_CLASSIFIER);
  });

  it('TrainConfig.adversarial → trainClassifierAdversarially options: unset is plain training, 0 steps and unset step_size the library defaults', () => {
    expect(adversarialTrainingFromProto(v1.TrainConfig.fromPartial({}).adversarial)).toBeUndefined();
    const minimal = v1.TrainConfig.decode(v1.TrainConfig.encode(v1.TrainConfig.fromPartial({ adversarial: { epsilon: 0.1 } })).finish());
    const lib = adversarialTrainingFromProto(minimal.adversarial)!;
    expect(lib).toEqual({ method: 'pgd', epsilon: 0.1 });
    // The library fills the defaults: 7 steps, α = 2.5ε/steps.
    expect(adversarialTrainingConfig(lib)).toEqual({ method: 'pgd', epsilon: 0.1, steps: 7, stepSize: (2.5 * 0.1) / 7 });
    const full = { method: 'pgd' as const, epsilon: 0.3, steps: 3, stepSize: 0.05 };
    const wire = v1.AdversarialTraining.decode(v1.AdversarialTraining.encode(adversarialTrainingToProto(full)).finish());
    expect(wire.method).toBe(v1.AdversarialTrainingMethod.ADVERSARIAL_TRAINING_METHOD_PGD);
    expect(adversarialTrainingFromProto(wire)).toEqual(full);
    expect(() => adversarialTrainingFromProto(v1.AdversarialTraining.fromPartial({ method: 5 as v1.AdversarialTrainingMethod, epsilon: 0.1 }))).toThrow('config.adversarial.method: unknown enum value 5');
  });

  it('target_class keeps its presence (0 is a class, not unset); per-sample targets and shard labels survive the wire', () => {
    const gen = v1.GenerateRequest.decode(v1.GenerateRequest.encode(v1.GenerateRequest.fromPartial({ targetClass: 0 })).finish());
    expect(gen.targetClass).toBe(0);
    expect(v1.GenerateRequest.decode(v1.GenerateRequest.encode(v1.GenerateRequest.fromPartial({})).finish()).targetClass).toBeUndefined();
    const spec = v1.AttackJobSpec.decode(v1.AttackJobSpec.encode(v1.AttackJobSpec.fromPartial({ targetLabels: [2, 0, 9] })).finish());
    expect(spec.targetLabels).toEqual([2, 0, 9]);
    expect(spec.targetClass).toBeUndefined();
    const shard = v1.AttackShard.decode(v1.AttackShard.encode(v1.AttackShard.fromPartial({ labels: [1, 1, 0] })).finish());
    expect(shard.labels).toEqual([1, 1, 0]);
    // A cw criterion through the attack config conversion keeps kappa and targeted.
    const cfg = attackConfig(attackConfigFromProto(v1.AttackConfig.fromPartial({ criterion: { kind: { $case: 'cw', value: { kappa: 0.2, targeted: true } } } })));
    expect(cfg.criterion).toEqual({ kind: 'cw', kappa: 0.2, targeted: true });
  });

  it("a classifier study's arm (accuracy, no reconstruction error) survives the wire without a NaN error appearing", () => {
    const arm = { accuracy: 0.75, asr: 0.5, seconds_per_sample: 0.01, per_seed: { accuracy: [0.75] }, std: {}, ci95: {} };
    const msg = v1.MethodMetrics.decode(v1.MethodMetrics.encode(armAggregateToProto(arm)).finish());
    expect(Number.isNaN(msg.testReconError)).toBe(true);
    expect(armAggregateFromProto(msg)).toEqual(arm);
  });
});
