/**
 * Which server-side dataset paths (`idx:DIR`, `csv:FILE`, `npy:DIR`, `cifar10:DIR`, `svhn:DIR`) a
 * service reads: none unless UAE_ALLOW_DATASET_PATHS=true, and then only
 * under UAE_DATASET_ROOTS (comma-separated directories; default UAE_DATA_DIR
 * when set). Registry names (fashion-mnist, mice-protein) and uploaded `.npy`
 * artifacts are always allowed. A refusal is INVALID_ARGUMENT naming the
 * field and saying how to allow paths; it is decided before the path is
 * touched, so it tells nothing about what exists on the server. Symlinks are
 * resolved before the containment check.
 *
 * Every service that loads datasets (trainer, evaluator, attack-optimizer,
 * orchestrator) reads the same two variables (`datasetAccessEnv`).
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { z } from 'zod';
import { ProtoFieldError } from '../../libs/proto/index.js';

export interface DatasetAccess {
  readonly allowPaths: boolean;
  /** Absolute, symlink-resolved directories paths must lie under. */
  readonly roots: readonly string[];
}

/** The default: no server-side paths. */
export const NO_DATASET_PATHS: DatasetAccess = Object.freeze({ allowPaths: false, roots: Object.freeze([]) as readonly string[] });

/** Every registry spec that names a path (libs/data/registry.ts); a new one must be added here, or it bypasses the roots. */
export const DATASET_PATH_PREFIXES = ['idx:', 'csv:', 'npy:', 'cifar10:', 'svhn:'] as const;

const bool = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(['true', 'false'], { error: 'must be true or false' }))
  .transform((s) => s === 'true');

/** The variables, for a service's `env` schema (spread into its z.object). */
export const datasetAccessEnv = {
  UAE_ALLOW_DATASET_PATHS: bool.default(false),
  UAE_DATASET_ROOTS: z
    .string()
    .transform((s) => s.split(',').map((p) => p.trim()).filter(Boolean))
    .refine((l) => l.length > 0 && l.every(isAbsolute), { message: 'must be a comma-separated list of absolute directories' })
    .optional(),
};

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** The policy from a service's configuration (`config.extra` with datasetAccessEnv, `config.dataDir`). */
export function datasetAccessFrom(extra: { UAE_ALLOW_DATASET_PATHS: boolean; UAE_DATASET_ROOTS?: string[] | undefined }, dataDir?: string): DatasetAccess {
  if (!extra.UAE_ALLOW_DATASET_PATHS) return NO_DATASET_PATHS;
  const roots = extra.UAE_DATASET_ROOTS ?? (dataDir ? [dataDir] : []);
  return { allowPaths: true, roots: roots.map(real) };
}

export function isDatasetPath(name: string): boolean {
  return DATASET_PATH_PREFIXES.some((p) => name.startsWith(p));
}

/** Throws ProtoFieldError(field) unless `name` (e.g. "csv:/data/x.csv") may be read under `access`. */
export function checkDatasetPath(access: DatasetAccess, name: string, field: string): void {
  if (!isDatasetPath(name)) return;
  if (!access.allowPaths) {
    throw new ProtoFieldError(
      field,
      `"${name}": server-side dataset paths are off on this service; upload the arrays (uae submit --upload, ArtifactService) and reference them in the dataset's npy field, or start the service with UAE_ALLOW_DATASET_PATHS=true and UAE_DATASET_ROOTS=<dirs> to allow paths under those directories`,
    );
  }
  if (access.roots.length === 0) {
    throw new ProtoFieldError(field, `"${name}": no dataset roots are configured on this service (set UAE_DATASET_ROOTS, or UAE_DATA_DIR)`);
  }
  const path = name.slice(name.indexOf(':') + 1);
  if (!isAbsolute(path)) throw new ProtoFieldError(field, `"${name}": the path must be absolute`);
  const target = real(path);
  const inside = access.roots.some((root) => {
    const rel = relative(root, target);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  });
  if (!inside) throw new ProtoFieldError(field, `"${name}": not under this service's dataset roots (UAE_DATASET_ROOTS: ${access.roots.join(', ')})`);
}
