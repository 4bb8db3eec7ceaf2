/**
 * Attack results on disk, in the layout of `uae attack`'s --out:
 * x-adv.npy (rows in sample-id order), success.npy, similarity.npy and
 * results.json (a header plus one record per sample: its id, success,
 * similarity, f, c, iterations, ‖x′ − x‖∞ and ‖x′ − x‖₂ (linf, l2) and, when
 * kept, the per-iteration trace).
 * Used for a finished attack, for the samples an interrupted one finished
 * (`partial: true`), and read back by --resume. Every file is written
 * atomically; results.json last, so it never describes arrays not yet written.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy, readNpy } from '../libs/data/index.js';
import type { SampleResult } from '../libs/attack/index.js';
import { stackAdversarial } from '../libs/augment/index.js';
import { writeAtomic } from './atomic.js';

export const SAMPLE_FILES = ['x-adv.npy', 'success.npy', 'similarity.npy', 'results.json'] as const;

export interface SampleResultsHeader {
  /** true: only the samples listed were attacked (the run was interrupted). */
  partial: boolean;
  /** Samples the attack was asked for, and finished. */
  samples: number;
  done: number;
  [key: string]: unknown;
}

export async function writeSampleResults(dir: string, results: readonly SampleResult[], sampleShape: readonly number[], header: SampleResultsHeader, opts: { traces?: boolean } = {}): Promise<void> {
  const sorted = [...results].sort((a, b) => a.sampleId - b.sampleId);
  const d = sampleShape.reduce((a, b) => a * b, 1);
  const k = sorted.length;
  const xAdv = stackAdversarial(sorted, d);
  await writeAtomic(join(dir, 'x-adv.npy'), encodeNpy([k, ...sampleShape], xAdv));
  await writeAtomic(join(dir, 'success.npy'), encodeNpy([k], Uint8Array.from(sorted, (r) => (r.success ? 1 : 0)), { dtype: 'bool' }));
  await writeAtomic(join(dir, 'similarity.npy'), encodeNpy([k], Float32Array.from(sorted, (r) => r.similarity)));
  const perSample = sorted.map(({ xAdv: _x, trace, ...rest }) => (opts.traces && trace ? { ...rest, trace } : rest));
  await writeAtomic(join(dir, 'results.json'), JSON.stringify({ ...header, results: perSample }, null, 2) + '\n');
}

/** JSON writes NaN as null. */
const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);

export async function readSampleResults(dir: string, sampleSize: number): Promise<{ header: SampleResultsHeader; results: SampleResult[] }> {
  const path = join(dir, 'results.json');
  const doc = JSON.parse(await readFile(path, 'utf8')) as SampleResultsHeader & { results?: Array<Record<string, unknown>> };
  if (!Array.isArray(doc.results)) throw new Error(`${path}: no per-sample results`);
  const x = await readNpy(join(dir, 'x-adv.npy'));
  if (x.shape[0] !== doc.results.length || x.data.length !== doc.results.length * sampleSize) {
    throw new Error(`${dir}/x-adv.npy: shape [${x.shape.join(', ')}] does not hold the ${doc.results.length} samples of results.json (${sampleSize} values each)`);
  }
  const { results: records, ...header } = doc;
  const results = records.map((r, i): SampleResult => {
    const trace = r['trace'] as Record<string, unknown[]> | undefined;
    return {
      sampleId: num(r['sampleId']),
      xAdv: Float32Array.from((x.data as ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> }).subarray(i * sampleSize, (i + 1) * sampleSize)),
      success: r['success'] === true,
      similarity: num(r['similarity']),
      f: num(r['f']),
      finalC: num(r['finalC']),
      iterations: num(r['iterations']),
      bestIteration: num(r['bestIteration']),
      ...(typeof r['linf'] === 'number' ? { linf: r['linf'] } : {}),
      ...(typeof r['l2'] === 'number' ? { l2: r['l2'] } : {}),
      ...(trace ? { trace: { similarity: trace['similarity']!.map(num), f: trace['f']!.map(num), c: trace['c']!.map(num) } } : {}),
    };
  });
  return { header: { ...header, partial: header.partial === true } as SampleResultsHeader, results };
}
