/**
 * Models and datasets the attack-optimizer loads from the artifact store,
 * cached so a worker attacking shard after shard of one job loads each once.
 *
 * Models are keyed by model id (`id:<model_id>`) or, for inline artifacts, by
 * the content hashes of model.json and weights.bin; they are reference-counted
 * so an entry evicted while a Generate call or a shard still uses it is
 * disposed only when that use ends. Failures are not cached (the next
 * delivery of a shard tries again). Datasets are keyed by their encoded
 * DatasetConfig and the model kind (which decides flattening).
 */
import type { ArtifactStore } from '../../libs/bus/index.js';
import { v1 } from '../../libs/proto/index.js';
import { loadAnyModel, type AnyModel } from '../common/models.js';
import { resolveDataset, type ResolvedDataset } from '../common/datasets.js';
import type { DatasetAccess } from '../common/dataset-access.js';
import type { ResourceBudget } from '../../libs/limits/index.js';

export interface ModelLease {
  /** An autoencoder or a classifier (services/common/models.ts isClassifier). */
  readonly model: AnyModel;
  readonly artifacts: v1.ModelArtifacts;
  /** Cache key (model id or content hashes). */
  readonly key: string;
  release(): void;
}

interface ModelEntry {
  key: string;
  loading: Promise<{ model: AnyModel; artifacts: v1.ModelArtifacts }>;
  users: number;
  evicted: boolean;
  lastUsed: number;
}

/** The cache key of a ModelRef, or undefined when it names no source (the loader reports that). */
export function modelKey(ref: v1.ModelRef | undefined): string | undefined {
  const s = ref?.source;
  if (!s) return undefined;
  if (s.$case === 'modelId') return `id:${s.value}`;
  const a = s.value;
  const disc = a.discriminatorJson || a.discriminatorWeights ? `:${a.discriminatorJson?.sha256 ?? ''}:${a.discriminatorWeights?.sha256 ?? ''}` : '';
  return `artifacts:${a.kind}:${a.modelJson?.sha256 ?? ''}:${a.weights?.sha256 ?? ''}:${a.inputShape.join('x')}${disc}`;
}

export class ModelCache {
  private readonly entries = new Map<string, ModelEntry>();

  constructor(
    private readonly store: () => ArtifactStore,
    private readonly capacity = 4,
  ) {}

  /** Loads (or reuses) the model; the caller must `release()` the lease. */
  async acquire(ref: v1.ModelRef | undefined, field = 'model'): Promise<ModelLease> {
    const key = modelKey(ref);
    if (key === undefined) {
      // let the loader produce the contract's error message
      const loaded = await loadAnyModel(this.store(), ref, field);
      loaded.model.dispose();
      throw new Error('unreachable: a model ref without a source loaded');
    }
    let entry = this.entries.get(key);
    if (!entry) {
      const created: ModelEntry = {
        key,
        users: 0,
        evicted: false,
        lastUsed: Date.now(),
        loading: loadAnyModel(this.store(), ref, field).then(({ model, artifacts }) => ({ model, artifacts })),
      };
      entry = created;
      this.entries.set(key, created);
      created.loading.catch(() => {
        if (this.entries.get(key) === created) this.entries.delete(key);
      });
    }
    entry.users += 1;
    entry.lastUsed = Date.now();
    let loaded: { model: AnyModel; artifacts: v1.ModelArtifacts };
    try {
      loaded = await entry.loading;
    } catch (e) {
      entry.users -= 1;
      throw e;
    }
    this.evict();
    const e = entry;
    let released = false;
    return {
      model: loaded.model,
      artifacts: loaded.artifacts,
      key,
      release: () => {
        if (released) return;
        released = true;
        e.users -= 1;
        e.lastUsed = Date.now();
        if (e.evicted && e.users === 0) loaded.model.dispose();
      },
    };
  }

  private evict(): void {
    if (this.entries.size <= this.capacity) return;
    const byAge = [...this.entries.values()].sort((a, b) => a.lastUsed - b.lastUsed);
    for (const e of byAge) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(e.key);
      e.evicted = true;
      if (e.users === 0) void e.loading.then(({ model }) => model.dispose()).catch(() => {});
    }
  }

  /** Disposes every model nobody uses (shutdown). */
  clear(): void {
    for (const e of this.entries.values()) {
      e.evicted = true;
      if (e.users === 0) void e.loading.then(({ model }) => model.dispose()).catch(() => {});
    }
    this.entries.clear();
  }
}

export class DatasetCache {
  private readonly entries = new Map<string, Promise<ResolvedDataset>>();

  constructor(
    private readonly store: () => ArtifactStore,
    private readonly opts: { dataDir?: string; capacity?: number; access?: DatasetAccess; budget?: ResourceBudget } = {},
  ) {}

  /** The dataset for `cfg`, shaped for a model of `kind` (flat vectors for all but conv-ae and cnn-classifier). */
  get(cfg: v1.DatasetConfig | undefined, kind: string, field = 'dataset'): Promise<ResolvedDataset> {
    const key = cfg ? `${kind}:${Buffer.from(v1.DatasetConfig.encode(cfg).finish()).toString('base64')}` : undefined;
    const opts = { kind, field, dataDir: this.opts.dataDir, ...(this.opts.access ? { access: this.opts.access } : {}), ...(this.opts.budget ? { budget: this.opts.budget } : {}) };
    if (key === undefined) return resolveDataset(this.store(), cfg, opts);
    const hit = this.entries.get(key);
    if (hit) {
      // refresh recency
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const loading = resolveDataset(this.store(), cfg, opts);
    this.entries.set(key, loading);
    loading.catch(() => {
      if (this.entries.get(key) === loading) this.entries.delete(key);
    });
    const capacity = this.opts.capacity ?? 2;
    while (this.entries.size > capacity) this.entries.delete(this.entries.keys().next().value!);
    return loading;
  }
}
