/**
 * `--fid` end to end on the bundled Fashion-MNIST slice: `uae pipeline`
 * trains and saves a feature network, writes finite FID/KID per generated
 * set and the network's record in a metrics.json that validates against the
 * result schema; a second run given `--feature-model` reuses the saved
 * network (same record, same distances, nothing trained); `uae attack --fid`
 * scores its x′ the same way.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultDocument } from '../../libs/results/index.js';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
// Generous: under a busy machine's nice a tiny run can take minutes (a few seconds of CPU).
const LONG = 1_500_000;
const uae = (...args: string[]) => run(process.execPath, [join(root, 'bin/uae.mjs'), ...args], { cwd: root, timeout: LONG });
const SLICE = join(root, 'tests/fixtures/fashion-mnist-slice');

const TINY = [
  '--dataset', `idx:${SLICE}`, '--model', 'dense-ae', '--hidden', '8', '--methods', 'mine,ga-0.1,repeat',
  '--train-samples', '24', '--test-samples', '16', '--validation', '0', '--retrain-schedule', 'longer',
  '--epochs', '2', '--retrain-epochs', '2', '--batch', '8', '--classifier-epochs', '0',
  '--iterations', '2', '--mine-steps', '1', '--mine-draws', '8', '--workers', '1', '--seed', '5', '--fid',
];

let dir: string;
let first: ResultDocument;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'uae-fid-'));
  first = JSON.parse((await uae('pipeline', ...TINY, '--out', join(dir, 'a'), '--format', 'json')).stdout) as ResultDocument;
}, LONG);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('uae pipeline --fid', () => {
  it('writes finite fid and kid per generated set and the feature network, in a document that validates', async () => {
    const schema = JSON.parse(await readFile(join(root, 'docs/results.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
    expect(validate(first) ? [] : validate.errors).toEqual([]);
    expect(JSON.parse(await readFile(join(dir, 'a', 'metrics.json'), 'utf8'))).toEqual(first);
    for (const arm of ['mine', 'ga-0.1']) {
      expect(Number.isFinite(first.methods[arm]!.fid)).toBe(true);
      expect(Number.isFinite(first.methods[arm]!.kid)).toBe(true);
      expect(first.methods[arm]!.per_seed.fid).toEqual([first.methods[arm]!.fid]);
    }
    expect(first.methods['repeat']!.fid).toBeUndefined();
    const own = join(dir, 'a', 'feature-model');
    expect(first.feature_model).toMatchObject({ path: own, input_size: 784, features: 128, classes: 10, epochs: 20, train_samples: 2000 });
    expect(first.feature_model!.architecture).toMatch(/^mlp 784-128-10/);
    expect(first.feature_model!.test_accuracy).toBeGreaterThan(0.5);
    expect(existsSync(join(own, 'model.json'))).toBe(true);
    expect(JSON.parse(await readFile(join(dir, 'a', 'config.json'), 'utf8'))).toMatchObject({ fid: true });
  });

  it('--feature-model DIR reuses a saved network: the same record and distances, nothing trained', async () => {
    const own = join(dir, 'a', 'feature-model');
    const out = join(dir, 'b');
    const second = JSON.parse((await uae('pipeline', ...TINY, '--methods', 'ga-0.1', '--feature-model', own, '--out', out, '--format', 'json')).stdout) as ResultDocument;
    expect(second.feature_model).toEqual(first.feature_model);
    expect(existsSync(join(out, 'feature-model'))).toBe(false);
    expect(second.methods['ga-0.1']!.fid).toBe(first.methods['ga-0.1']!.fid);
    expect(second.methods['ga-0.1']!.kid).toBe(first.methods['ga-0.1']!.kid);
  }, LONG);

  it('uae attack --fid scores x′ against the training split on the same network', async () => {
    const out = join(dir, 'attack');
    const { stdout } = await uae(
      'attack', '--model-dir', join(dir, 'a', 'models', 'original'), '--dataset', `idx:${SLICE}`, '--train-samples', '12',
      '--iterations', '2', '--mine-steps', '1', '--mine-draws', '8', '--workers', '1',
      '--fid', '--feature-model', join(dir, 'a', 'feature-model'), '--out', out, '--json',
    );
    const summary = JSON.parse(stdout) as { fid: number; kid: number };
    expect(Number.isFinite(summary.fid)).toBe(true);
    expect(Number.isFinite(summary.kid)).toBe(true);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { fid: number; kid: number; feature_model: unknown };
    expect(results).toMatchObject({ fid: summary.fid, kid: summary.kid, feature_model: first.feature_model });
  }, LONG);

  it('refuses --feature-model without --fid, and records fid off by default', async () => {
    const failure = await uae('pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--feature-model', 'x', '--dry-run').catch((e: { code: number; stderr: string }) => e);
    expect(failure).toMatchObject({ code: 2, stderr: expect.stringMatching(/--feature-model: needs fid on \(--fid\)/) });
    const attack = await uae('attack', '--model-dir', 'x', '--dataset', 'mice-protein', '--feature-model', 'x', '--out', join(dir, 'never')).catch((e: { code: number; stderr: string }) => e);
    expect(attack).toMatchObject({ code: 2, stderr: expect.stringMatching(/--feature-model needs --fid/) });
    const printed = JSON.parse((await uae('pipeline', '--dataset', 'mice-protein', '--model', 'dense-ae', '--dry-run')).stdout) as { fid: boolean };
    expect(printed.fid).toBe(false);
  }, LONG);
});
