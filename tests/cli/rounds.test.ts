/**
 * `uae pipeline --rounds R` (SuppMat 6.15: a second round of augmentation):
 * the run document carries `rounds`, metrics.json records every round (the
 * top level is the last) and validates against the result schema, progress
 * names the round, each round's models and samples are kept, and a
 * multi-seed run resumes at seed granularity with the same per-round metrics.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { readNpy } from '../../libs/data/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const uae = (...args: string[]) =>
  run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: 600_000, env: { ...process.env, UAE_PROGRESS_INTERVAL_MS: '0' } });
const fails = (...args: string[]) =>
  uae(...args).then(
    () => {
      throw new Error(`uae ${args.join(' ')} succeeded`);
    },
    (e: { code: number; stderr: string }) => e,
  );

const TINY = [
  '--dataset', 'mice-protein', '--model', 'dense-ae', '--hidden', '8', '--methods', 'mine,ga-0.05,repeat', '--train-samples', '24', '--test-samples', '16',
  '--validation', '0', '--retrain-schedule', 'longer', '--epochs', '2', '--retrain-epochs', '2', '--batch', '8', '--probe', 'mlp', '--classifier-epochs', '2',
  '--iterations', '2', '--mine-steps', '1', '--mine-draws', '8', '--workers', '1',
];

interface Doc {
  methods: Record<string, Record<string, unknown>>;
  comparisons: unknown[];
  rounds?: Array<{ round: number; methods: Record<string, Record<string, unknown>>; comparisons: unknown[] }>;
  started_at: string;
  finished_at: string;
}

describe('uae pipeline --rounds', () => {
  it('--dry-run resolves rounds (default 1); a bad value names the flag', async () => {
    expect(JSON.parse((await uae('pipeline', ...TINY, '--dry-run')).stdout)).toMatchObject({ rounds: 1 });
    expect(JSON.parse((await uae('pipeline', ...TINY, '--rounds', '2', '--dry-run')).stdout)).toMatchObject({ rounds: 2 });
    const zero = await fails('pipeline', ...TINY, '--rounds', '0', '--dry-run');
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/--rounds: .*>=1; got 0/);
    expect((await fails('pipeline', ...TINY, '--rounds', '1.5', '--dry-run')).stderr).toMatch(/--rounds must be a non-negative integer/);
  }, 300_000);

  it('--rounds 2 --seeds 0,1: metrics per round (top level = round 2), valid result document, per-round models and samples; --resume reads the seeds back', async () => {
    const out = await mkdtemp(join(tmpdir(), 'uae-rounds-'));
    try {
      const r = await uae('pipeline', ...TINY, '--rounds', '2', '--seeds', '0,1', '--out', out);
      // Progress names the round.
      for (const line of ['round 1 of 2: generate mine', 'round 2 of 2: generate mine', 'round 2 of 2: retrain repeat']) expect(r.stderr).toContain(line);
      expect(r.stderr).toMatch(/^round 2 of 2: attack mine: \d+\/24/m);
      // The table shows round 1, then the last round.
      expect(r.stdout).toMatch(/round 1 of 2\n[^]*round 2 of 2\n/);

      const doc = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as Doc;
      const schema = JSON.parse(await readFile(join(root, 'docs/results.schema.json'), 'utf8')) as object;
      const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
      expect(validate(doc) ? [] : validate.errors).toEqual([]);
      expect(doc.rounds!.map((x) => x.round)).toEqual([1, 2]);
      for (const round of doc.rounds!) expect(Object.keys(round.methods)).toEqual(['original', 'mine', 'ga-0.05', 'repeat']);
      expect(doc.methods).toEqual(doc.rounds![1]!.methods);
      expect(doc.comparisons).toEqual(doc.rounds![1]!.comparisons);
      // Round 2 trains on original ∪ two generated sets: 3 × 24 samples, batch 8, 2 epochs (round 1: 2 × 24).
      expect(doc.rounds![0]!.methods['mine']!['per_seed']).toMatchObject({ train_steps: [12, 12] });
      expect(doc.rounds![1]!.methods['mine']!['per_seed']).toMatchObject({ train_steps: [18, 18] });

      // Per seed: each round's models; the last round's samples at the top, the earlier ones in round-<r>/.
      for (const seed of [0, 1]) {
        const dir = join(out, `seed-${seed}`);
        for (const m of ['models/original', 'models/round-1/mine', 'models/round-2/mine', 'models/round-2/repeat', 'round-1/mine-x.npy', 'round-1/mine.npz', 'mine-x.npy']) {
          expect(existsSync(join(dir, m)), `${dir}/${m}`).toBe(true);
        }
        const seedDoc = JSON.parse(await readFile(join(dir, 'metrics.json'), 'utf8')) as Doc;
        expect(seedDoc.methods).toEqual(seedDoc.rounds![1]!.methods);
        const first = (await readNpy(join(dir, 'round-1/mine-x.npy'))).data as Float32Array;
        const second = (await readNpy(join(dir, 'mine-x.npy'))).data as Float32Array;
        expect(first.length).toBe(second.length);
        expect(Array.from(first).some((v, i) => v !== second[i])).toBe(true);
      }

      // Both seeds finished: --resume reads them back (round-<r>/ included) and aggregates the same rounds.
      const again = await uae('pipeline', ...TINY, '--rounds', '2', '--seeds', '0,1', '--out', out, '--resume');
      expect(again.stderr).toContain('seed 1: finished earlier, kept');
      expect(again.stderr).not.toContain('generate mine');
      const resumed = JSON.parse(await readFile(join(out, 'metrics.json'), 'utf8')) as Doc;
      const { started_at: _a, finished_at: _b, ...before } = doc;
      const { started_at: _c, finished_at: _d, ...after } = resumed;
      expect(after).toEqual(before);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 900_000);
});
