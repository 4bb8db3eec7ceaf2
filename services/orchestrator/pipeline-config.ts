/**
 * uae.v1.PipelineConfig → the libraries' AugmentationConfig (libs/augment),
 * validated at submit time with errors that name the proto field
 * (ProtoFieldError → INVALID_ARGUMENT). The same function runs again when a
 * driver (re)starts a job, so a stored spec always means the same study.
 *
 * The mapping is the one `uae pipeline` uses (cli/commands/pipeline.ts), so the
 * distributed pipeline and runAugmentation compute the same numbers:
 *   train.epochs (0 → 20), train.batch_size (0 → 100), retrain_epochs (0 → 20)
 *   model.hidden / selected_features → modelOptions (hidden, k); seed → everything
 *   attack → AttackConfigInput (similarity per arm; its seed ignored)
 *   downstream / skip_downstream → classifier ({ epochs, hidden, batchSize, seed } or false)
 */
import { ZodError } from 'zod';
import { attackConfig, type AttackConfigInput } from '../../libs/attack/index.js';
import { isAttackMethod, pipelineAttackConfig, type AugmentationConfig, type AugmentationMethod } from '../../libs/augment/index.js';
import type { DownstreamOptions } from '../../libs/eval/index.js';
import { attackConfigFromProto, augmentationMethodName, ProtoFieldError, type v1 } from '../../libs/proto/index.js';
import { autoencoderKind } from '../common/models.js';

export const DEFAULT_EPOCHS = 20;
export const DEFAULT_BATCH_SIZE = 100;
export const DEFAULT_SHARD_SIZE = 256;
export const MAX_SHARD_SIZE = 100_000;
const MAX_EPOCHS = 100_000;
const MAX_BATCH = 65_536;

export interface ResolvedPipeline {
  /** What runAugmentation would be given (workers aside). */
  augmentation: AugmentationConfig;
  /** Samples per attack shard. */
  shardSize: number;
}

const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function zodToField(prefix: string, e: ZodError): ProtoFieldError {
  const issue = e.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : snake(String(p)))).join('.').replace(/\.\[/g, '[');
  return new ProtoFieldError(path ? `${prefix}.${path}` : prefix, issue.message);
}

function count(value: number, field: string, max: number, fallback: number): number {
  if (value === 0) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new ProtoFieldError(field, `must be 1–${max} (0 = default ${fallback}); got ${value}`);
  return value;
}

function seedOf(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new ProtoFieldError(field, `must be an integer in [0, 2^53 − 1]; got ${value}`);
  return value;
}

/** Structural checks of the dataset (the data themselves are loaded when the job runs). */
function checkDataset(d: v1.DatasetConfig | undefined, field: string): void {
  if (!d) throw new ProtoFieldError(field, 'required');
  switch (d.source?.$case) {
    case undefined:
      throw new ProtoFieldError(`${field}.source`, 'required: set name or npy');
    case 'name':
      if (d.source.value.trim() === '') throw new ProtoFieldError(`${field}.name`, 'must not be empty');
      break;
    case 'npy':
      if (!d.source.value.xTrain?.sha256) throw new ProtoFieldError(`${field}.npy.x_train`, 'required');
      if (!d.source.value.xTest?.sha256) throw new ProtoFieldError(`${field}.npy.x_test`, 'required');
      break;
  }
  seedOf(d.seed, `${field}.seed`);
}

function classifierOf(c: v1.PipelineConfig): DownstreamOptions | false {
  if (c.skipDownstream) return false;
  const d = c.downstream;
  const out: DownstreamOptions = {};
  if (!d) return out;
  if (d.epochs) out.epochs = count(d.epochs, 'config.downstream.epochs', MAX_EPOCHS, 50);
  if (d.hidden !== undefined) {
    if (!Number.isSafeInteger(d.hidden) || d.hidden < 0 || d.hidden > 65_536) throw new ProtoFieldError('config.downstream.hidden', `must be 0–65536; got ${d.hidden}`);
    out.hidden = d.hidden;
  }
  if (d.batchSize) out.batchSize = count(d.batchSize, 'config.downstream.batch_size', MAX_BATCH, 32);
  if (d.seed !== undefined) out.seed = seedOf(d.seed, 'config.downstream.seed');
  return out;
}

/** Validates a submitted PipelineConfig; ProtoFieldError naming the field (`config.…`) when it is not acceptable. */
export function resolvePipelineConfig(c: v1.PipelineConfig | undefined): ResolvedPipeline {
  if (!c) throw new ProtoFieldError('config', 'required');
  checkDataset(c.dataset, 'config.dataset');
  if (!c.model) throw new ProtoFieldError('config.model', 'required');
  const model = autoencoderKind(c.model.kind, 'config.model.kind');
  if (c.model.inputShape.length > 0) throw new ProtoFieldError('config.model.input_shape', "must be empty in a pipeline (the dataset's sample shape is used)");
  if (c.methods.length === 0) throw new ProtoFieldError('config.methods', 'at least one augmentation method is required');
  const methods: AugmentationMethod[] = [];
  c.methods.forEach((m, i) => {
    const name = augmentationMethodName(m, `config.methods[${i}]`) as AugmentationMethod;
    if (methods.includes(name)) throw new ProtoFieldError(`config.methods[${i}]`, `"${name}" is listed twice`);
    methods.push(name);
  });
  const seed = seedOf(c.seed, 'config.seed');
  const train = c.train;
  if (train?.validationSplit !== undefined) throw new ProtoFieldError('config.train.validation_split', 'is not supported in a pipeline');
  if (train?.earlyStopping?.patience) throw new ProtoFieldError('config.train.early_stopping', 'is not supported in a pipeline');
  const epochs = count(train?.epochs ?? 0, 'config.train.epochs', MAX_EPOCHS, DEFAULT_EPOCHS);
  const batchSize = count(train?.batchSize ?? 0, 'config.train.batch_size', MAX_BATCH, DEFAULT_BATCH_SIZE);
  const retrainEpochs = count(c.retrainEpochs, 'config.retrain_epochs', MAX_EPOCHS, DEFAULT_EPOCHS);
  const shardSize = count(c.shardSize, 'config.shard_size', MAX_SHARD_SIZE, DEFAULT_SHARD_SIZE);
  if (c.model.hidden && c.model.hidden > 65_536) throw new ProtoFieldError('config.model.hidden', `must be ≤ 65536; got ${c.model.hidden}`);

  // The attack: library input (the seed and, per arm, the similarity are the pipeline's).
  const { seed: _ignored, ...attack } = attackConfigFromProto(c.attack, 'config.attack') as AttackConfigInput & { seed?: number };
  if (c.attack?.criterion?.kind?.$case === 'cw') throw new ProtoFieldError('config.attack.criterion.cw', 'supervised attacks do not apply to autoencoder pipelines');
  try {
    attackConfig({ ...attack, seed });
    for (const m of methods) if (isAttackMethod(m)) pipelineAttackConfig(m, model, attack, seed);
  } catch (e) {
    if (e instanceof ZodError) throw zodToField('config.attack', e);
    throw e;
  }

  const augmentation: AugmentationConfig = {
    model,
    methods,
    epochs,
    retrainEpochs,
    batchSize,
    seed,
    attack,
    modelOptions: { ...(c.model.hidden ? { hidden: c.model.hidden } : {}), ...(c.model.selectedFeatures ? { k: c.model.selectedFeatures } : {}) },
    classifier: classifierOf(c),
  };
  return { augmentation, shardSize };
}
