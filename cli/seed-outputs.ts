/**
 * One seed's outputs of `uae pipeline --seeds …` (the seed-<s>/ folders):
 * written when the seed finishes, and read back by `--resume`, so a long
 * study interrupted after some seeds reruns only the missing ones and still
 * aggregates every seed (pooled MI and diagnostics need the per-sample files).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeNpy, encodeNpz, readNpy, type Dataset, type NpyData } from '../libs/data/index.js';
import { diagnosticsCsv, methodBundle, type AugmentationReport, type RoundReport, type SampleDiagnostics } from '../libs/augment/index.js';
import type { AttackConfig, SampleResult } from '../libs/attack/index.js';
import { readSampleResults, writeSampleResults } from './sample-results.js';
import { writeAtomic } from './atomic.js';

export { writeAtomic };

const writeNpyAtomic = (path: string, shape: readonly number[], data: NpyData, opts: { dtype?: 'bool' } = {}) => writeAtomic(path, encodeNpy(shape, data, opts));

/**
 * One seed's files (docs/file-formats.md); `metrics.json` is written last, so
 * its presence marks the seed complete. `ds` is the dataset the seed ran on.
 */
export async function writeSeedOutputs(dir: string, report: AugmentationReport, ds: Dataset, withMetrics: boolean): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { generated: _g, history, trainX: _x, trainIndex, rounds, ...rest } = report;
  // Several rounds: each round's metrics in metrics.json; the samples and histories of the earlier rounds in round-<r>/ (the last round's at the top).
  const metrics = { ...rest, ...(rounds ? { rounds: rounds.map(({ round, methods }) => ({ round, methods })) } : {}) };
  // Rows of the generated sets in the dataset's (subset) training split.
  await writeNpyAtomic(join(dir, 'train-index.npy'), [report.train_samples], trainIndex);
  await writeGenerated(dir, report, ds);
  for (const r of (rounds ?? []).slice(0, -1)) {
    const roundDir = join(dir, `round-${r.round}`);
    await mkdir(roundDir, { recursive: true });
    await writeGenerated(roundDir, { ...report, generated: r.generated }, ds);
    await writeAtomic(join(roundDir, 'history.json'), JSON.stringify(r.history, null, 2) + '\n');
  }
  await writeAtomic(join(dir, 'history.json'), JSON.stringify(history, null, 2) + '\n');
  if (withMetrics) await writeAtomic(join(dir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
}

/** Per arm with data: its samples (.npy), the attacks' success and similarity, diagnostics (.csv) and the .npz bundle. */
async function writeGenerated(dir: string, report: AugmentationReport, ds: Dataset): Promise<void> {
  const inputShape = ds.inputShape;
  const n = report.train_samples;
  for (const [method, g] of Object.entries(report.generated)) {
    if (!g) continue;
    await writeNpyAtomic(join(dir, `${method}-x.npy`), [n, ...inputShape], g.x);
    if (g.results) {
      await writeNpyAtomic(join(dir, `${method}-success.npy`), [n], Uint8Array.from(g.results, (r) => (r.success ? 1 : 0)), { dtype: 'bool' });
      await writeNpyAtomic(join(dir, `${method}-similarity.npy`), [n], Float32Array.from(g.results, (r) => r.similarity));
    }
    if (g.diagnostics) await writeAtomic(join(dir, `${method}-diagnostics.csv`), diagnosticsCsv(g.diagnostics));
    await writeAtomic(join(dir, `${method}.npz`), encodeNpz(methodBundle(report, method, ds.train, inputShape)!));
  }
}

function parseDiagnosticsCsv(text: string, path: string): SampleDiagnostics[] {
  const [header, ...lines] = text.trim().split('\n');
  if (header !== 'sample_id,success,linf,l2,rel_move,cos_delta0,similarity,f') throw new Error(`${path}: not a diagnostics file (header "${header}")`);
  const num = (v: string | undefined) => (v === undefined || v === '' ? NaN : Number(v));
  return lines.map((line) => {
    const c = line.split(',');
    return { sampleId: num(c[0]), success: c[1] === '1', linf: num(c[2]), l2: num(c[3]), rel_move: num(c[4]), cos_delta0: num(c[5]), similarity: num(c[6]), f: num(c[7]) };
  });
}

/**
 * A finished seed read back from `dir`, or undefined when it did not finish
 * (no metrics.json). The attack results keep what the study aggregates
 * (success, similarity, the generated x′); traces are not kept.
 */
export async function readSeedOutputs(dir: string, ds: Dataset): Promise<AugmentationReport | undefined> {
  const metricsPath = join(dir, 'metrics.json');
  if (!existsSync(metricsPath)) return undefined;
  const { rounds: storedRounds, ...metrics } = JSON.parse(await readFile(metricsPath, 'utf8')) as Omit<AugmentationReport, 'generated' | 'history' | 'trainX' | 'trainIndex' | 'rounds'> & {
    rounds?: Array<Pick<RoundReport, 'round' | 'methods'>>;
  };
  const d = ds.inputShape.reduce((a, b) => a * b, 1);
  const trainIndex = Int32Array.from((await readNpy(join(dir, 'train-index.npy'))).data as ArrayLike<number>);
  const trainX = new Float32Array(trainIndex.length * d);
  trainIndex.forEach((row, k) => {
    if (row < 0 || row >= ds.train.n) throw new Error(`${dir}/train-index.npy: row ${row} is not in the training split of ${ds.train.n} samples; was it written for another dataset?`);
    trainX.set(ds.train.x.subarray(row * d, (row + 1) * d), k * d);
  });
  const generated = await readGenerated(dir, Object.keys(metrics.methods), d);
  const rounds = storedRounds
    ? await Promise.all(
        storedRounds.map(async (r, i, all) =>
          i === all.length - 1
            ? { ...r, generated, history: {} }
            : { ...r, generated: await readGenerated(join(dir, `round-${r.round}`), Object.keys(r.methods), d), history: {} },
        ),
      )
    : undefined;
  const historyPath = join(dir, 'history.json');
  const history = existsSync(historyPath) ? (JSON.parse(await readFile(historyPath, 'utf8')) as AugmentationReport['history']) : {};
  return { ...metrics, ...(rounds ? { rounds } : {}), generated, history, trainX, trainIndex };
}

/** The arms' generated sets in `dir` (those with a <method>-x.npy), with the attacks' results and diagnostics. */
async function readGenerated(dir: string, methods: readonly string[], d: number): Promise<AugmentationReport['generated']> {
  const generated: AugmentationReport['generated'] = {};
  for (const method of methods) {
    const xPath = join(dir, `${method}-x.npy`);
    if (!existsSync(xPath)) continue;
    const x = Float32Array.from((await readNpy(xPath)).data as ArrayLike<number>);
    const successPath = join(dir, `${method}-success.npy`);
    let results: SampleResult[] | undefined;
    if (existsSync(successPath)) {
      const success = (await readNpy(successPath)).data as ArrayLike<number>;
      const similarity = (await readNpy(join(dir, `${method}-similarity.npy`))).data as ArrayLike<number>;
      results = Array.from({ length: success.length }, (_, i) => ({
        sampleId: i,
        xAdv: x.subarray(i * d, (i + 1) * d),
        success: success[i] === 1,
        similarity: similarity[i]!,
        f: NaN,
        finalC: NaN,
        iterations: 0,
        bestIteration: 0,
      }));
    }
    const diagPath = join(dir, `${method}-diagnostics.csv`);
    const diagnostics = existsSync(diagPath) ? parseDiagnosticsCsv(await readFile(diagPath, 'utf8'), diagPath) : undefined;
    generated[method] = { x, ...(results ? { results } : {}), ...(diagnostics ? { diagnostics } : {}) };
  }
  return generated;
}

/**
 * An interrupted seed's attack samples, per arm, in <seed dir>/partial/<arm>/
 * (cli/sample-results.ts layout, with the traces the report plots): what
 * `--resume` keeps instead of attacking again. Removed once the seed finishes.
 */
export const PARTIAL_DIR = 'partial';

export async function writePartialAttack(seedDir: string, method: string, results: readonly SampleResult[], sampleShape: readonly number[], config: AttackConfig, samples: number): Promise<void> {
  const dir = join(seedDir, PARTIAL_DIR, method);
  await mkdir(dir, { recursive: true });
  await writeSampleResults(dir, results, sampleShape, { partial: results.length < samples, samples, done: results.length, config }, { traces: true });
}

/** The arm's kept samples, or undefined when none were kept; another attack's samples are refused. */
export async function readPartialAttack(seedDir: string, method: string, config: AttackConfig, samples: number, sampleSize: number): Promise<SampleResult[] | undefined> {
  const dir = join(seedDir, PARTIAL_DIR, method);
  if (!existsSync(join(dir, 'results.json'))) return undefined;
  const kept = await readSampleResults(dir, sampleSize);
  if (kept.header.samples !== samples || JSON.stringify(kept.header['config']) !== JSON.stringify(config)) {
    throw new Error(`--resume: ${dir} holds samples of another attack (other settings or sample count); remove it or use another --out`);
  }
  return kept.results;
}

export async function clearPartials(seedDir: string): Promise<void> {
  await rm(join(seedDir, PARTIAL_DIR), { recursive: true, force: true });
}
