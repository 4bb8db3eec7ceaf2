/**
 * services/common/dataset-access.ts: server-side dataset paths are off unless
 * UAE_ALLOW_DATASET_PATHS=true, then limited to UAE_DATASET_ROOTS (default
 * UAE_DATA_DIR), with symlinks resolved; registry names always pass.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkDatasetPath, datasetAccessEnv, datasetAccessFrom, NO_DATASET_PATHS } from '../../services/common/dataset-access.js';

const dir = mkdtempSync(join(tmpdir(), 'uae-access-'));
const root = join(dir, 'data');
mkdirSync(root);
writeFileSync(join(root, 'x.csv'), 'a,b\n1,2\n');
symlinkSync('/etc', join(root, 'escape'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = z.object(datasetAccessEnv);
const access = (vars: Record<string, string>, dataDir?: string) => datasetAccessFrom(env.parse(vars), dataDir);

describe('dataset access', () => {
  it('is off by default, and the refusal says how to allow paths', () => {
    expect(access({})).toEqual(NO_DATASET_PATHS);
    expect(() => checkDatasetPath(access({}), `csv:${root}/x.csv`, 'dataset.name')).toThrow(
      /^dataset\.name: .*server-side dataset paths are off.*UAE_ALLOW_DATASET_PATHS=true and UAE_DATASET_ROOTS/,
    );
    expect(() => checkDatasetPath(access({}), 'mice-protein', 'dataset.name')).not.toThrow();
  });

  it('allows paths under the roots only (symlinks resolved, .. refused), default root UAE_DATA_DIR', () => {
    const a = access({ UAE_ALLOW_DATASET_PATHS: 'true', UAE_DATASET_ROOTS: root });
    expect(() => checkDatasetPath(a, `csv:${root}/x.csv`, 'f')).not.toThrow();
    expect(() => checkDatasetPath(a, `npy:${root}`, 'f')).not.toThrow();
    expect(() => checkDatasetPath(a, 'csv:/etc/passwd', 'f')).toThrow(/not under this service's dataset roots/);
    expect(() => checkDatasetPath(a, `csv:${root}/../../etc/passwd`, 'f')).toThrow(/not under/);
    expect(() => checkDatasetPath(a, `csv:${root}/escape/passwd`, 'f')).toThrow(/not under/);
    expect(() => checkDatasetPath(a, 'csv:x.csv', 'f')).toThrow(/must be absolute/);
    // The image-dataset paths are gated alike (their names alone are not paths).
    for (const p of ['cifar10:', 'svhn:']) {
      expect(() => checkDatasetPath(a, `${p}${root}`, 'f')).not.toThrow();
      expect(() => checkDatasetPath(a, `${p}/etc`, 'f')).toThrow(/not under/);
      expect(() => checkDatasetPath(access({}), `${p}${root}`, 'f')).toThrow(/server-side dataset paths are off/);
    }
    expect(() => checkDatasetPath(access({}), 'cifar10', 'f')).not.toThrow();
    expect(() => checkDatasetPath(access({ UAE_ALLOW_DATASET_PATHS: 'true' }, root), `idx:${root}`, 'f')).not.toThrow();
    expect(() => checkDatasetPath(access({ UAE_ALLOW_DATASET_PATHS: 'true' }), `idx:${root}`, 'f')).toThrow(/no dataset roots/);
    expect(env.safeParse({ UAE_DATASET_ROOTS: 'relative/dir' }).success).toBe(false);
  });
});
