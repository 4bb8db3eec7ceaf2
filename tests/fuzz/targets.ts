/**
 * Fuzz targets shared by `npm test` (tests/fuzz/fuzz.test.ts, a few thousand
 * inputs) and `npm run fuzz` (tests/fuzz/run.ts, ≥ 10^5): fast-check inputs
 * for the tensor codec, the NPY / IDX / CSV readers and every gRPC request
 * decoder (the kit's guarded deserializers, then the services' request
 * validators). A target returns the outcome's name ('ok', or the gRPC
 * status the error maps to through libs/service-kit/errors.ts with the
 * services' rules) and throws only when the outcome is a crash: an error
 * nobody anticipated (→ INTERNAL) or a violated invariant.
 */
import { join } from 'node:path';
import * as fc from 'fast-check';
import type * as grpc from '@grpc/grpc-js';
import { encodeIdx, encodeNpy, parseCsv, parseIdx, parseNpy, tabularFromCsv } from '../../libs/data/index.js';
import { fromProtoTensor, toProtoTensor, v1 } from '../../libs/proto/index.js';
import {
  createRequestDiagnoser,
  guardDefinition,
  loadProtos,
  statusFromError,
  statusName,
  UndecodableRequest,
} from '../../libs/service-kit/index.js';
import { serviceErrorMappers } from '../../services/common/errors.js';
import { parseEstimateRequest } from '../../services/mine-estimator/handlers.js';
import { parseTrainingSpec } from '../../services/common/training.js';
import { resolvePipelineConfig } from '../../services/orchestrator/pipeline-config.js';
import { parseAttackConfig } from '../../services/attack-optimizer/handlers.js';
import { REPO_ROOT } from '../helpers/services.js';

export interface FuzzTarget<T = unknown> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  /** The outcome's name; throws on a crash. */
  run(input: T): string;
}

export class FuzzCrash extends Error {
  override name = 'FuzzCrash';
}

/** The status an error maps to; INTERNAL means nobody anticipated it: a crash. */
function outcome(err: unknown): string {
  const st = statusFromError(err, { mappers: serviceErrorMappers });
  if (st.ref !== undefined) throw new FuzzCrash(`unanticipated error → INTERNAL: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  return statusName(st.code);
}

function attempt(fn: () => void): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof FuzzCrash) throw e;
    return outcome(e);
  }
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new FuzzCrash(what);
}

// ---------------------------------------------------------------------------
// Bytes: random, and mutations of valid encodings

/** Flip, insert, delete or overwrite a few bytes of `valid`, or truncate it. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('del' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('ins' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  );
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([bytes, edits]) => {
    let b = Array.from(bytes);
    for (const e of edits) {
      const at = b.length === 0 ? 0 : e.at % (b.length + 1);
      if (e.op === 'flip' && at < b.length) b[at] = b[at]! ^ (1 << e.bit);
      else if (e.op === 'set' && at < b.length) b[at] = e.value;
      else if (e.op === 'del') b.splice(at, 1);
      else if (e.op === 'ins') b.splice(at, 0, e.value);
      else if (e.op === 'cut') b = b.slice(0, at);
    }
    return Uint8Array.from(b);
  });
}

const anyBytes = fc.uint8Array({ maxLength: 256 });

// ---------------------------------------------------------------------------
// Protobuf wire: structurally plausible messages (fields 1–20, every wire type, nesting)

function varint(v: bigint): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) byte |= 0x80;
    out.push(byte);
  } while (x !== 0n);
  return out;
}

const varintValue = fc.oneof(
  fc.bigInt({ min: 0n, max: 300n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 32n, 2n ** 31n),
);

const wireMessage: fc.Arbitrary<Uint8Array> = fc
  .letrec<{ msg: number[] }>((tie) => ({
    msg: fc
      .array(
        fc.oneof(
          { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), varintValue).map(([f, v]) => [...varint(BigInt(f << 3)), ...varint(v)]) },
          { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ minLength: 8, maxLength: 8 })).map(([f, b]) => [...varint(BigInt((f << 3) | 1)), ...b]) },
          { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ minLength: 4, maxLength: 4 })).map(([f, b]) => [...varint(BigInt((f << 3) | 5)), ...b]) },
          { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), fc.uint8Array({ maxLength: 24 })).map(([f, b]) => [...varint(BigInt((f << 3) | 2)), ...varint(BigInt(b.length)), ...b]) },
          { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 1, max: 20 }), tie('msg')).map(([f, m]) => [...varint(BigInt((f << 3) | 2)), ...varint(BigInt(m.length)), ...m]) },
        ),
        { maxLength: 6, depthIdentifier: 'wire' },
      )
      .map((parts) => parts.flat()),
  }))
  .msg.map((m) => Uint8Array.from(m));

// ---------------------------------------------------------------------------
// Tensor codec

const dims = fc.array(fc.oneof(fc.integer({ min: 0, max: 6 }), fc.integer({ min: -3, max: 2 ** 40 })), { maxLength: 4 });

/** Shapes whose raw_data has the right length (then bytes decide: NaN, ±Inf). */
const consistentTensor = fc
  .record({ dtype: fc.integer({ min: 1, max: 4 }), shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), finite: fc.boolean() })
  .chain(({ dtype, shape, finite }) => {
    const width = dtype === 2 ? 8 : dtype === 4 ? 1 : 4;
    const n = shape.reduce((a, b) => a * b, 1);
    return fc.uint8Array({ minLength: n * width, maxLength: n * width }).map((raw) => ({ dtype, shape, raw, finite }));
  });

const tensorCodec: FuzzTarget<{ dtype: number; shape: number[]; raw: Uint8Array; finite: boolean }> = {
  name: 'tensor codec (fromProtoTensor)',
  arbitrary: fc.oneof(fc.record({ dtype: fc.integer({ min: -1, max: 8 }), shape: dims, raw: fc.uint8Array({ maxLength: 128 }), finite: fc.boolean() }), consistentTensor),
  run({ dtype, shape, raw, finite }) {
    return attempt(() => {
      const t = fromProtoTensor({ dtype: dtype as v1.DataType, shape, rawData: Buffer.from(raw) }, { field: "x", finite });
      const n = t.shape.reduce((a, b) => a * b, 1);
      check(t.data.length === n && t.data.byteLength === raw.length, `decoded ${t.data.length} elements for shape [${t.shape}] from ${raw.length} bytes`);
      // round trip: the same bytes back
      const back = toProtoTensor(t.data, t.shape, 'x');
      check(Buffer.from(back.rawData).equals(Buffer.from(raw)), 'round trip changed the bytes');
    });
  },
};

// ---------------------------------------------------------------------------
// NPY, IDX, CSV readers

const NPY_KINDS = {
  f32: (n: number) => Float32Array.from({ length: n }, (_, i) => i),
  f64: (n: number) => Float64Array.from({ length: n }, (_, i) => i),
  i8: (n: number) => Int8Array.from({ length: n }, (_, i) => -i),
  i16: (n: number) => Int16Array.from({ length: n }, (_, i) => -i),
  i32: (n: number) => Int32Array.from({ length: n }, (_, i) => i),
  i64: (n: number) => BigInt64Array.from({ length: n }, (_, i) => BigInt(-i)),
  u8: (n: number) => Uint8Array.from({ length: n }, (_, i) => i),
  u16: (n: number) => Uint16Array.from({ length: n }, (_, i) => i),
  u32: (n: number) => Uint32Array.from({ length: n }, (_, i) => i),
  bool: (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 2),
} as const;

// Every dtype, and (same-length header edits) big-endian and Fortran-order variants.
const validNpy = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), fc.constantFrom(...(Object.keys(NPY_KINDS) as Array<keyof typeof NPY_KINDS>)), fc.boolean(), fc.boolean())
  .map(([shape, kind, bigEndian, fortran]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = encodeNpy(shape, NPY_KINDS[kind](n), kind === 'bool' ? { dtype: 'bool' } : {});
    const end = 10 + (bytes[8]! | (bytes[9]! << 8));
    let header = Buffer.from(bytes.subarray(0, end)).toString('latin1');
    if (bigEndian) header = header.replace("'<", "'>");
    if (fortran) header = header.replace("'fortran_order': False", "'fortran_order': True ");
    bytes.set(Buffer.from(header, 'latin1'), 0);
    return bytes;
  });

const npyReader: FuzzTarget<Uint8Array> = {
  name: 'NPY reader (parseNpy)',
  arbitrary: fc.oneof(anyBytes, validNpy, mutated(validNpy)),
  run(bytes) {
    return attempt(() => {
      const a = parseNpy(bytes, 'x.npy');
      check(a.data.length === a.shape.reduce((x, y) => x * y, 1), 'data length ≠ product(shape)');
    });
  },
};

const validIdx = fc
  .tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))
  .map(([n, h, w]) => encodeIdx({ shape: [n, h, w], data: Uint8Array.from({ length: n * h * w }, (_, i) => i % 256) }));

const idxReader: FuzzTarget<Uint8Array> = {
  name: 'IDX reader (parseIdx)',
  arbitrary: fc.oneof(anyBytes, validIdx, mutated(validIdx)),
  run(bytes) {
    return attempt(() => {
      const a = parseIdx(bytes, 'images.idx');
      check(a.data.length === a.shape.reduce((x, y) => x * y, 1), 'data length ≠ product(shape)');
    });
  },
};

const csvCell = fc.oneof(fc.constantFrom('', 'NA', '?', '1', '-2.5', '1e9', 'x', '"q,uoted"', '"', '\r', 'nan'), fc.string({ maxLength: 6 }));
const numeric = fc.oneof(fc.integer({ min: -5, max: 5 }).map(String), fc.double({ noNaN: true, min: -1e6, max: 1e6 }).map(String));
const csvText = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc
    .array(fc.tuple(numeric, fc.oneof(numeric, csvCell), fc.constantFrom('a', 'b', 'c', '1', '')), { minLength: 1, maxLength: 12 })
    .map((rows) => ['a,b,label', ...rows.map((r) => r.join(','))].join(rows.length % 2 ? '\n' : '\r\n')),
  fc.array(fc.array(csvCell, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }).map((rows) => ['a,b,label', ...rows.map((r) => r.join(','))].join('\n')),
);

const csvReader: FuzzTarget<string> = {
  name: 'CSV reader (parseCsv, tabularFromCsv)',
  arbitrary: csvText,
  run(text) {
    const parsed = attempt(() => {
      const { header, rows } = parseCsv(text, 'x.csv');
      check(rows.every((r) => r.length === header.length), 'a row with another width than the header');
    });
    if (parsed !== 'ok') return parsed;
    return attempt(() => {
      const t = tabularFromCsv(text, { labelColumn: 'label' }, 'x.csv');
      for (const s of [t.train, t.test]) check(s.x.length === s.n * t.d, `split of ${s.n} rows has ${s.x.length} values for d = ${t.d}`);
    });
  },
};

// ---------------------------------------------------------------------------
// Request decoders: every method of every uae.v1 service, then validators

const PROTO_FILES = ['mine_service', 'attack_service', 'training_service', 'evaluation_service', 'job_service', 'artifact_service'].map((f) => `uae/v1/${f}.proto`);

interface Method {
  path: string;
  decode: (b: Buffer) => unknown;
  validate?: (req: unknown) => void;
}

let methodsCache: Method[] | undefined;
function methods(): Method[] {
  if (methodsCache) return methodsCache;
  const protos = loadProtos({ files: PROTO_FILES, includeDirs: [join(REPO_ROOT, 'proto')] });
  const diagnose = createRequestDiagnoser([protos.packageDefinition]);
  const validators: Record<string, (req: any) => void> = {
    '/uae.v1.MineService/Estimate': (r: v1.EstimateRequest) => parseEstimateRequest(r),
    '/uae.v1.TrainingService/Train': (r: v1.TrainRequest) => parseTrainingSpec(r.spec, 'spec'),
    '/uae.v1.JobService/SubmitPipeline': (r: v1.SubmitPipelineRequest) => resolvePipelineConfig(r.config),
    '/uae.v1.AttackService/Generate': (r: v1.GenerateRequest) => parseAttackConfig(r.config, 'config'),
  };
  const defs = [v1.MineServiceService, v1.AttackServiceService, v1.TrainingServiceService, v1.EvaluationServiceService, v1.JobServiceService, v1.ArtifactServiceService];
  methodsCache = defs.flatMap((d) =>
    Object.values(guardDefinition(d as unknown as grpc.ServiceDefinition, diagnose)).map((m) => ({
      path: m.path,
      decode: m.requestDeserialize as (b: Buffer) => unknown,
      ...(validators[m.path] ? { validate: validators[m.path] } : {}),
    })),
  );
  return methodsCache;
}

const ESTIMATE = '/uae.v1.MineService/Estimate';
const TRAIN = '/uae.v1.TrainingService/Train';

/** Valid encodings of the requests the validators look at (with their method), to mutate. */
const taggedRequest: fc.Arbitrary<{ path: string; bytes: Uint8Array }> = fc.oneof(
  fc.record({ steps: fc.nat(200_000), seed: fc.nat(), hidden: fc.nat(70_000), n: fc.integer({ min: 0, max: 4 }), d: fc.integer({ min: 0, max: 3 }) }).map(({ steps, seed, hidden, n, d }) => ({
    path: ESTIMATE,
    bytes: v1.EstimateRequest.encode({
      x: toProtoTensor(new Float32Array(n * d), [n, d]),
      y: toProtoTensor(new Float32Array(n * d), [n, d]),
      steps,
      seed,
      evaluations: 1,
      includeTrace: false,
      mine: v1.MineConfig.fromPartial({ hidden }),
    }).finish(),
  })),
  fc.record({ kind: fc.integer({ min: 0, max: 8 }), hidden: fc.nat(100_000), k: fc.nat(100), epochs: fc.nat(200_000), shape: fc.array(fc.integer({ min: -1, max: 100 }), { maxLength: 2 }) }).map(({ kind, hidden, k, epochs, shape }) => ({
    path: TRAIN,
    bytes: v1.TrainRequest.encode(
      v1.TrainRequest.fromPartial({
        spec: { dataset: { source: { $case: 'name', value: 'mice-protein' } }, model: { kind, hidden, selectedFeatures: k, inputShape: shape }, config: { epochs } },
      }),
    ).finish(),
  })),
);
const validRequest = taggedRequest.map((r) => r.bytes);
const mutatedTagged = taggedRequest.chain((r) => mutated(fc.constant(r.bytes)).map((bytes) => ({ path: r.path, bytes })));

const requestDecoders: FuzzTarget<{ method: number; bytes: Uint8Array }> = {
  name: 'request decoders (every uae.v1 method) + validators',
  arbitrary: fc.record({ method: fc.nat(), bytes: fc.oneof(anyBytes, wireMessage, mutated(wireMessage), validRequest, mutated(validRequest)) }),
  run({ method, bytes }) {
    const all = methods();
    // valid requests go to the methods that take them, mutated or not
    const m = all[method % all.length]!;
    let decoded: unknown;
    try {
      decoded = m.decode(Buffer.from(bytes));
    } catch (e) {
      throw new FuzzCrash(`the guarded deserializer of ${m.path} threw: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (decoded instanceof UndecodableRequest) return outcome(decoded.error);
    if (!m.validate) return 'ok';
    return attempt(() => m.validate!(decoded));
  },
};

/** Valid requests, and mutations of them, decoded and validated by the method that takes them. */
const validatedRequests: FuzzTarget<{ path: string; bytes: Uint8Array }> = {
  name: 'request validators on valid and mutated requests',
  arbitrary: fc.oneof(taggedRequest, mutatedTagged),
  run({ path, bytes }) {
    const m = methods().find((x) => x.path === path)!;
    const decoded = m.decode(Buffer.from(bytes));
    return decoded instanceof UndecodableRequest ? outcome(decoded.error) : attempt(() => m.validate!(decoded));
  },
};

export const FUZZ_TARGETS: FuzzTarget<any>[] = [tensorCodec, npyReader, idxReader, csvReader, requestDecoders, validatedRequests];

/** The codes a target may answer with (docs/proto.md, docs/service-kit.md). */
export const DOCUMENTED_OUTCOMES = new Set(['ok', 'INVALID_ARGUMENT', 'NOT_FOUND', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'OUT_OF_RANGE']);

export interface FuzzStats {
  runs: number;
  outcomes: Record<string, number>;
  crashes: string[];
}

/** Runs `target` on `numRuns` inputs (seeded); collects outcomes and crashes (does not stop at the first). */
export function fuzz(target: FuzzTarget<any>, numRuns: number, seed: number): FuzzStats {
  const stats: FuzzStats = { runs: 0, outcomes: {}, crashes: [] };
  fc.check(
    fc.property(target.arbitrary, (input) => {
      stats.runs++;
      let name: string;
      try {
        name = target.run(input);
      } catch (e) {
        if (stats.crashes.length < 20) stats.crashes.push(`${e instanceof Error ? e.message : String(e)} — input ${fc.stringify(input).slice(0, 300)}`);
        name = 'CRASH';
      }
      if (name !== 'CRASH' && !DOCUMENTED_OUTCOMES.has(name) && stats.crashes.length < 20) stats.crashes.push(`undocumented outcome ${name} — input ${fc.stringify(input).slice(0, 300)}`);
      stats.outcomes[name] = (stats.outcomes[name] ?? 0) + 1;
      return true;
    }),
    { numRuns, seed },
  );
  return stats;
}
