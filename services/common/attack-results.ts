/**
 * Shard results (AttackShardResult messages in the artifact store) → one
 * AttackResult: x′ as .npy float32 [N, ...sample_shape], success as .npy
 * uint8 [N], similarity as .npy float32 [N], every SampleResult (x_adv unset)
 * as a size-delimited sample-results artifact, plus ASR and the similarity
 * summary of the successful samples. All four artifacts are content-addressed
 * (`sha256/<hex>`), so two workers assembling the same job write the same bytes.
 *
 * Exported for the orchestrator too (a pipeline's attack arm is the same
 * set of shards under `jobs/<job_id>/<method>/`).
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { ArtifactStore } from '../../libs/bus/index.js';
import { encodeNpy } from '../../libs/data/index.js';
import { summarize } from '../../libs/eval/index.js';
import { fromProtoTensor, v1 } from '../../libs/proto/index.js';
import { MEDIA_TYPES, putContent } from './artifacts.js';

/** The stored shard results do not add up to every sample exactly once. */
export class ShardResultsInconsistentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardResultsInconsistentError';
  }
}

export const SHARD_RESULT_MEDIA_TYPE = `${MEDIA_TYPES.protobuf}; proto=uae.v1.AttackShardResult`;

export interface AssembleOptions {
  /** First sample id expected (default 0: ids are positions in the split). */
  firstSampleId?: number;
  /** When generation started (the job's start): seconds_per_sample is wall-clock from here. */
  startedAt?: Date;
  /** Default: now. */
  finishedAt?: Date;
}

/** size-delimited messages: varint length, then the message (protobuf's writeDelimited). */
export function encodeDelimited(messages: readonly Uint8Array[]): Uint8Array {
  const w = new BinaryWriter();
  for (const m of messages) w.bytes(m);
  return w.finish();
}

/** Reads the shard results stored under `keys` (in shard order) and stores the assembled AttackResult's artifacts. */
export async function assembleAttackResult(store: ArtifactStore, keys: readonly string[], opts: AssembleOptions = {}): Promise<v1.AttackResult> {
  const results: v1.SampleResult[] = [];
  let computeSeconds = 0;
  for (const key of keys) {
    const shard = v1.AttackShardResult.decode(await store.get(key));
    results.push(...shard.results);
    computeSeconds += shard.seconds;
  }
  const n = results.length;
  if (n === 0) throw new ShardResultsInconsistentError(`no samples in ${keys.length} shard results`);
  const first = opts.firstSampleId ?? 0;
  results.forEach((r, i) => {
    if (r.sampleId !== first + i) {
      throw new ShardResultsInconsistentError(`sample ${i} of the assembled results has id ${r.sampleId}, expected ${first + i} (a shard result is missing, duplicated or out of order)`);
    }
  });
  const sampleShape = results[0]!.xAdv?.shape ?? [];
  const d = sampleShape.reduce((a, b) => a * b, 1);
  const xAdv = new Float32Array(n * d);
  const success = new Uint8Array(n);
  const similarity = new Float32Array(n);
  const records: Uint8Array[] = [];
  let succeeded = 0;
  results.forEach((r, i) => {
    const x = fromProtoTensor(r.xAdv, { field: `results[${i}].x_adv`, dtype: v1.DataType.DATA_TYPE_FLOAT32 });
    if (x.data.length !== d || x.shape.join() !== sampleShape.join()) {
      throw new ShardResultsInconsistentError(`sample ${r.sampleId}: x_adv shape [${x.shape.join(', ')}] differs from [${sampleShape.join(', ')}]`);
    }
    xAdv.set(x.data, i * d);
    success[i] = r.success ? 1 : 0;
    similarity[i] = r.similarity;
    if (r.success) succeeded += 1;
    records.push(v1.SampleResult.encode({ ...r, xAdv: undefined, index: i }).finish());
  });
  const put = (bytes: Uint8Array, mediaType: string, name: string) => putContent(store, bytes, { mediaType, name });
  const summary = summarize(results.filter((r) => r.success).map((r) => r.similarity));
  const finished = opts.finishedAt ?? new Date();
  const wall = opts.startedAt ? (finished.getTime() - opts.startedAt.getTime()) / 1000 : computeSeconds;
  return {
    xAdv: await put(encodeNpy([n, ...sampleShape], xAdv), MEDIA_TYPES.npy, 'x_adv.npy'),
    success: await put(encodeNpy([n], success), MEDIA_TYPES.npy, 'success.npy'),
    similarity: await put(encodeNpy([n], similarity), MEDIA_TYPES.npy, 'similarity.npy'),
    results: await put(encodeDelimited(records), MEDIA_TYPES.sampleResults, 'sample_results.pb'),
    samples: n,
    succeeded,
    asr: succeeded / n,
    similaritySummary: summary,
    secondsPerSample: Math.max(0, wall) / n,
  };
}

/** Decodes a sample-results artifact (size-delimited SampleResult messages). */
export function decodeSampleResults(bytes: Uint8Array): v1.SampleResult[] {
  const out: v1.SampleResult[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[pos++]!;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    out.push(v1.SampleResult.decode(bytes.subarray(pos, pos + len)));
    pos += len;
  }
  return out;
}
