/**
 * TrainingService handlers (transport-free; tests can run them in-process):
 *
 * - Train: validates the spec (model kind and options, schedule, dataset
 *   source: known registry name or present artifact refs), creates a QUEUED
 *   TRAINING job with JobStore (idempotent per request_id) and returns it with
 *   the model id it will have (`m-<job_id>`) at once; the TrainingRunner
 *   trains it in the background.
 * - GetModel: the model's record (models/<model_id>/model.pb): artifact refs
 *   (model.json + weights.bin, downloadable by sha256 through
 *   ArtifactService), configs, history, test metrics. NOT_FOUND for unknown
 *   ids and models whose training has not succeeded.
 */
import { ProtoFieldError, v1 } from '../../libs/proto/index.js';
import { statRef } from '../common/artifacts.js';
import { getModelRecord, modelIdForJob } from '../common/models.js';
import type { ServiceDeps } from '../common/service.js';
import { DatasetConfigNotFoundError } from '../common/datasets.js';
import { checkDatasetPath, isDatasetPath, NO_DATASET_PATHS, type DatasetAccess } from '../common/dataset-access.js';
import type { TrainingRunner } from './runner.js';
import { checkTrainingSize, isClassifierSpec, parseClassifierSpec, parseTrainingSpec } from '../common/training.js';
import type { ResourceBudget } from '../../libs/limits/index.js';

export const MAX_REQUEST_ID = 128;
export const MAX_LABELS = 32;

const KNOWN_DATASETS = ['fashion-mnist', 'mice-protein'];

export function checkRequestMeta(req: { requestId: string; labels: Record<string, string> }): void {
  if (req.requestId.length > MAX_REQUEST_ID) throw new ProtoFieldError('request_id', `at most ${MAX_REQUEST_ID} characters; got ${req.requestId.length}`);
  const entries = Object.entries(req.labels ?? {});
  if (entries.length > MAX_LABELS) throw new ProtoFieldError('labels', `at most ${MAX_LABELS} entries; got ${entries.length}`);
  for (const [k, v] of entries) {
    if (k.length < 1 || k.length > 63) throw new ProtoFieldError(`labels[${JSON.stringify(k.slice(0, 70))}]`, 'keys must be 1–63 characters');
    if (v.length > 256) throw new ProtoFieldError(`labels[${JSON.stringify(k)}]`, 'values must be at most 256 characters');
  }
}

/** Cheap checks of a DatasetConfig at submit time (loading happens in the job). */
export async function checkDatasetConfig(deps: Pick<ServiceDeps, 'bus'>, cfg: v1.DatasetConfig | undefined, field: string, access: DatasetAccess = NO_DATASET_PATHS): Promise<void> {
  if (!cfg) throw new ProtoFieldError(field, 'required');
  const source = cfg.source;
  switch (source?.$case) {
    case undefined:
      throw new ProtoFieldError(`${field}.source`, 'required: set name or npy');
    case 'name': {
      const name = source.value.trim();
      const path = isDatasetPath(name);
      if (name === '') throw new ProtoFieldError(`${field}.name`, 'must not be empty');
      checkDatasetPath(access, name, `${field}.name`);
      if (!path && !KNOWN_DATASETS.includes(name)) {
        throw new DatasetConfigNotFoundError(`${field}.name`, `unknown dataset "${name}": use fashion-mnist, mice-protein, cifar10, svhn, idx:DIR, csv:FILE, npy:DIR, cifar10:DIR or svhn:DIR`);
      }
      return;
    }
    case 'npy': {
      const f = `${field}.npy`;
      await statRef(deps.bus.artifacts, source.value.xTrain, `${f}.x_train`);
      await statRef(deps.bus.artifacts, source.value.xTest, `${f}.x_test`);
      if (source.value.yTrain?.sha256) await statRef(deps.bus.artifacts, source.value.yTrain, `${f}.y_train`);
      if (source.value.yTest?.sha256) await statRef(deps.bus.artifacts, source.value.yTest, `${f}.y_test`);
    }
  }
}

/**
 * Classifiers train on labels and are scored on test labels: uploaded arrays
 * must include y_train and y_test (a named dataset without labels fails its
 * job with INVALID_ARGUMENT naming spec.dataset).
 */
export function checkLabelledDataset(cfg: v1.DatasetConfig, field: string): void {
  if (cfg.source?.$case !== 'npy') return;
  const npy = cfg.source.value;
  if (!npy.yTrain?.sha256) throw new ProtoFieldError(`${field}.npy.y_train`, 'required: a classifier trains on labels (upload y_train.npy)');
  if (!npy.yTest?.sha256) throw new ProtoFieldError(`${field}.npy.y_test`, 'required: a classifier is scored on test labels (upload y_test.npy)');
}

export interface TrainingHandlerDeps extends ServiceDeps {
  runner: Pick<TrainingRunner, 'kick' | 'noteState'>;
  /** Server-side dataset paths allowed (default none). */
  access?: DatasetAccess;
  /** Resource budget (default libs/limits DEFAULT_BUDGET). */
  budget?: ResourceBudget;
}

export function trainingHandlers(deps: TrainingHandlerDeps) {
  return {
    async train(req: v1.TrainRequest): Promise<v1.TrainResponse> {
      checkRequestMeta(req);
      if (isClassifierSpec(req.spec)) {
        parseClassifierSpec(req.spec, 'spec');
        checkLabelledDataset(req.spec!.dataset!, 'spec.dataset');
      } else {
        const parsed = parseTrainingSpec(req.spec, 'spec');
        // With an input_shape the model's size is known now: refuse at once rather than in the job.
        if (parsed.inputShape) checkTrainingSize(parsed, parsed.inputShape, 0, deps.budget);
      }
      await checkDatasetConfig(deps, req.spec!.dataset, 'spec.dataset', deps.access);
      const { job, deduplicated } = await deps.jobs.create({
        kind: v1.JobKind.JOB_KIND_TRAINING,
        spec: { kind: { $case: 'training', value: req.spec! } },
        ...(req.requestId ? { requestId: req.requestId } : {}),
        labels: req.labels,
      });
      if (!deduplicated) {
        deps.runner.noteState('QUEUED');
        deps.logger.info({ jobId: job.jobId, modelId: modelIdForJob(job.jobId), model: v1.modelKindToJSON(req.spec!.model!.kind) }, 'training job created');
      }
      deps.runner.kick();
      return { job, modelId: modelIdForJob(job.jobId), deduplicated };
    },

    async getModel(req: v1.GetModelRequest): Promise<v1.GetModelResponse> {
      if (!req.modelId) throw new ProtoFieldError('model_id', 'required');
      return { model: await getModelRecord(deps.bus.artifacts, req.modelId, 'model_id') };
    },
  };
}
