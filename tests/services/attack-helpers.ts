/**
 * Shared bits of the attack-optimizer tests: a small MINE attack config, a
 * Generate stream collector that keeps the uae-field trailer, and
 * readers for the AttackResult artifacts.
 */
import * as grpc from '@grpc/grpc-js';
import type { ArtifactStore } from '../../libs/bus/index.js';
import { parseNpy, type NpyArray } from '../../libs/data/index.js';
import { v1 } from '../../libs/proto/index.js';
import { casKey } from '../../services/common/artifacts.js';
import { decodeSampleResults } from '../../services/common/attack-results.js';

/** A tiny MinMax + MINE (random projections, fixed) config: milliseconds per sample. */
export function tinyAttackConfig(over: Partial<v1.AttackConfig> = {}): v1.AttackConfig {
  return v1.AttackConfig.fromPartial({
    iterations: 3,
    mineSteps: 2,
    seed: 7,
    similarity: {
      kind: {
        $case: 'mine',
        value: v1.MineConfig.fromPartial({
          sampler: v1.MineSampler.MINE_SAMPLER_RANDOM,
          draws: 16,
          projectionDim: 8,
          hidden: 16,
          branchOut: 4,
          projection: v1.MineProjection.MINE_PROJECTION_FIXED,
        }),
      },
    },
    ...over,
  });
}

export type StreamError = grpc.ServiceError & { field?: string };

export interface Collected {
  messages: v1.GenerateResponse[];
  results: v1.SampleResult[];
  progress: v1.Progress[];
  summary: v1.GenerateSummary | undefined;
}

/** Runs a server stream to its end; rejects with the status error (its `field` from the uae-field trailer). */
export function collectGenerate(client: v1.AttackServiceClient, req: v1.GenerateRequest, md: grpc.Metadata, opts: Partial<grpc.CallOptions> = {}): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const out: Collected = { messages: [], results: [], progress: [], summary: undefined };
    const call = client.generate(req, md, opts);
    call.on('data', (m: v1.GenerateResponse) => {
      out.messages.push(m);
      if (m.kind?.$case === 'result') out.results.push(m.kind.value);
      else if (m.kind?.$case === 'progress') out.progress.push(m.kind.value);
      else if (m.kind?.$case === 'summary') out.summary = m.kind.value;
    });
    call.on('error', (e: StreamError) => {
      const field = e.metadata?.get('uae-field')[0];
      if (typeof field === 'string') e.field = field;
      reject(e);
    });
    call.on('end', () => resolve(out));
  });
}

export async function expectGenerateError(client: v1.AttackServiceClient, req: v1.GenerateRequest, md: grpc.Metadata): Promise<StreamError> {
  try {
    await collectGenerate(client, req, md);
  } catch (e) {
    return e as StreamError;
  }
  throw new Error('Generate succeeded but an error was expected');
}

export async function getNpy(store: ArtifactStore, ref: v1.ArtifactRef | undefined): Promise<NpyArray> {
  if (!ref) throw new Error('missing artifact ref');
  return parseNpy(await store.get(casKey(ref.sha256)));
}

export async function getSampleResults(store: ArtifactStore, ref: v1.ArtifactRef | undefined): Promise<v1.SampleResult[]> {
  if (!ref) throw new Error('missing artifact ref');
  return decodeSampleResults(await store.get(casKey(ref.sha256)));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
