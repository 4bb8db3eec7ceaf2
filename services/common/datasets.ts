/**
 * uae.v1.DatasetConfig → a libs/data Dataset, exactly as the CLI and the
 * in-process pipeline load it (same registry, same seeded subsets), so a
 * service computes the same numbers as `uae` and libs/augment for the same
 * config and seed.
 *
 *   source.name  "fashion-mnist", "mice-protein", or — when `access`
 *                allows (default: no; dataset-access.ts) — "idx:DIR",
 *                "csv:FILE", "npy:DIR" on the service's machine
 *   source.npy   x_train/x_test (+ optional y_train/y_test) .npy artifacts
 *                in the artifact store (artifacts.ts: `sha256/<hex>`)
 *   train_samples / test_samples (0 = all), seed, label_column (CSV)
 *
 * Flattening (libs/augment flattenFor, as in the CLI): every model kind but conv-ae
 * and cnn-classifier sees flat vectors, so with `kind` other than 'conv-ae' the input shape
 * becomes [d] and `nativeShape` keeps the original. Without `kind` the
 * native shape is kept.
 *
 * Errors name the field: ProtoFieldError (INVALID_ARGUMENT) for a missing
 * source, a refused path, unreadable arrays; DatasetConfigNotFoundError
 * (NOT_FOUND) for an unknown dataset or missing files; ArtifactRef errors
 * for the npy refs.
 */
import {
  DatasetNotFoundError,
  datasetFromNpyArrays,
  loadDataset,
  parseNpy,
  subsetDataset,
  type Dataset,
  type NpyArray,
} from '../../libs/data/index.js';
import type { ArtifactStore } from '../../libs/bus/index.js';
import { ProtoFieldError, type v1 } from '../../libs/proto/index.js';
import { flattenFor, type ModelDataset } from '../../libs/augment/index.js';
import { getByRef } from './artifacts.js';
import { checkDatasetPath, NO_DATASET_PATHS, type DatasetAccess } from './dataset-access.js';
import { checkBudget, DEFAULT_BUDGET, type ResourceBudget } from '../../libs/limits/index.js';
import { errorKindOf, type Kinded } from '../../libs/errors/index.js';

export class DatasetConfigNotFoundError extends Error implements Kinded {
  readonly kind = 'not-found' as const;
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'DatasetConfigNotFoundError';
  }
}

export interface ResolveDatasetOptions {
  /** Model kind the data are for ('dense-ae', 'conv-ae', …): all but conv-ae get flat vectors. */
  kind?: string;
  /** Proto field path of the config in error messages (default "dataset"). */
  field?: string;
  /** Which "idx:", "csv:", "npy:" paths on this machine may be read (default none; dataset-access.ts). */
  access?: DatasetAccess;
  /** Directory searched first for fashion-mnist's IDX files. */
  dataDir?: string;
  /** Budget for the arrays (maxTensorElements): checked on an artifact's size before it is downloaded, and on rows × dims once loaded. Default DEFAULT_BUDGET. */
  budget?: ResourceBudget;
}

export type ResolvedDataset = ModelDataset;

function checkCount(n: number, field: string): number | undefined {
  if (n === 0) return undefined;
  if (!Number.isSafeInteger(n) || n < 0) throw new ProtoFieldError(field, `must be a non-negative integer; got ${n}`);
  return n;
}

async function npyArray(store: ArtifactStore, ref: v1.ArtifactRef | undefined, field: string, budget: ResourceBudget): Promise<NpyArray> {
  // Every element takes at least one byte (uint8): a file larger than that many bytes
  // (plus a generous header) cannot fit, whatever its dtype.
  const bytes = await getByRef(store, ref, field, (info) =>
    checkBudget(budget, 'maxTensorElements', field, info.size - 65_536, `a ${info.size}-byte .npy artifact, at least ${Math.max(0, info.size - 65_536)} elements`),
  );
  try {
    return parseNpy(bytes, field);
  } catch (e) {
    throw new ProtoFieldError(field, (e as Error).message.replace(`${field}: `, ''));
  }
}

const present = (ref: v1.ArtifactRef | undefined): ref is v1.ArtifactRef => ref !== undefined && ref.sha256 !== '';

/** Loads the dataset a DatasetConfig names. See the module comment. */
export async function resolveDataset(
  store: ArtifactStore,
  cfg: v1.DatasetConfig | undefined,
  opts: ResolveDatasetOptions = {},
): Promise<ResolvedDataset> {
  const field = opts.field ?? 'dataset';
  const budget = opts.budget ?? DEFAULT_BUDGET;
  if (!cfg) throw new ProtoFieldError(field, 'required');
  const trainSamples = checkCount(cfg.trainSamples, `${field}.train_samples`);
  const testSamples = checkCount(cfg.testSamples, `${field}.test_samples`);
  const seed = cfg.seed;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new ProtoFieldError(`${field}.seed`, `must be an integer in [0, 2^53 − 1]; got ${seed}`);
  const source = cfg.source;
  let ds: Dataset;
  switch (source?.$case) {
    case undefined:
      throw new ProtoFieldError(`${field}.source`, 'required: set name or npy');
    case 'name': {
      const name = source.value.trim();
      const f = `${field}.name`;
      if (name === '') throw new ProtoFieldError(f, 'must not be empty');
      checkDatasetPath(opts.access ?? NO_DATASET_PATHS, name, f);
      try {
        ds = await loadDataset(name, {
          dataDir: opts.dataDir,
          trainSamples,
          testSamples,
          seed,
          ...(cfg.labelColumn ? { labelColumn: cfg.labelColumn } : {}),
        });
      } catch (e) {
        if (e instanceof DatasetNotFoundError) throw new DatasetConfigNotFoundError(f, e.message);
        // a dataset file that does not parse (IdxFormatError, CsvFormatError, …: kind invalid)
        if (e instanceof Error && errorKindOf(e) === 'invalid') throw new ProtoFieldError(f, e.message);
        throw e;
      }
      break;
    }
    case 'npy': {
      const npy = source.value;
      const f = `${field}.npy`;
      const arrays = {
        xTrain: await npyArray(store, npy.xTrain, `${f}.x_train`, budget),
        xTest: await npyArray(store, npy.xTest, `${f}.x_test`, budget),
        ...(present(npy.yTrain) ? { yTrain: await npyArray(store, npy.yTrain, `${f}.y_train`, budget) } : {}),
        ...(present(npy.yTest) ? { yTest: await npyArray(store, npy.yTest, `${f}.y_test`, budget) } : {}),
      };
      const name = `npy:${npy.xTrain!.sha256.slice(0, 12)}`;
      try {
        ds = datasetFromNpyArrays(name, `artifacts ${npy.xTrain!.sha256}`, arrays, {
          xTrain: `${f}.x_train`,
          xTest: `${f}.x_test`,
          yTrain: `${f}.y_train`,
          yTest: `${f}.y_test`,
        });
      } catch (e) {
        const message = (e as Error).message;
        const colon = message.indexOf(': ');
        throw message.startsWith(`${f}.`) && colon > 0
          ? new ProtoFieldError(message.slice(0, colon), message.slice(colon + 2))
          : new ProtoFieldError(f, message);
      }
      ds = subsetDataset(ds, { trainSamples, testSamples, seed });
      break;
    }
  }
  for (const [split, part] of [['train', ds.train], ['test', ds.test]] as const) {
    const dims = ds.inputShape.reduce((a, b) => a * b, 1);
    checkBudget(budget, 'maxTensorElements', `${field}.${split}_samples`, part.n * dims, `${part.n} ${split} rows × ${dims} values`);
  }
  // The cnn-classifier, like the conv AE, sees images in their native shape.
  return flattenFor(ds, opts.kind === 'cnn-classifier' ? 'conv-ae' : opts.kind);
}

/** The per-sample element count. */
export function sampleSize(ds: Pick<Dataset, 'inputShape'>): number {
  return ds.inputShape.reduce((a, b) => a * b, 1);
}
