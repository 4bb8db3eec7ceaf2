/**
 * Models in the artifact store, referenced by model_id.
 *
 * Layout (documented in services/common/README.md):
 *   sha256/<hex>             model.json (application/json) and weights.bin
 *                            (application/octet-stream): the tfjs layers format,
 *                            content-addressed so ModelArtifacts refs resolve
 *                            (artifacts.ts); model.json's manifest names
 *                            "./weights.bin" and carries userDefinedMetadata.uae
 *                            {kind, inputShape, options}, as libs/models/io.ts writes it
 *   models/<model_id>/model.pb
 *                            the uae.v1.Model record (binary protobuf): ids, artifact
 *                            refs, configs, history, test metrics. Written last, so
 *                            a model exists exactly when its record does.
 *
 * The adversarial-ae's discriminator is a second pair of the same kind
 * (ModelArtifacts.discriminator_json / discriminator_weights), so that a
 * reloaded adversarial-ae's perSampleLoss (reconstruction + generator term,
 * the `loss` attack criterion) is judged by the trained discriminator; without
 * them a reloaded one gets a fresh discriminator.
 *
 * Classifiers (mlp-classifier, cnn-classifier) are one pair with
 * userDefinedMetadata.uae {kind, inputShape, classes, info}, exactly what
 * libs/models saveClassifier writes: model.json + weights.bin downloaded into
 * a folder load with loadClassifier.
 *
 *   const record = await saveModel(bus.artifacts, { modelId, jobId, ae, ... });   // or { classifier, testAccuracy }
 *   const { ae, record } = await loadModel(bus.artifacts, req.model, 'model');   // ModelRef, autoencoders
 *   const { model } = await loadAnyModel(bus.artifacts, req.model, 'model');     // autoencoder or classifier
 */
import { ArtifactNotFoundError, type ArtifactStore } from '../../libs/bus/index.js';
import {
  AUTOENCODER_KINDS,
  fromArtifacts,
  toArtifacts,
  WEIGHTS_BIN,
  type Autoencoder,
  type AutoencoderKind,
  type CreateAutoencoderOptions,
  type EpochReport,
  type LayersModelArtifacts,
} from '../../libs/models/index.js';
import { Classifier, CLASSIFIER_KINDS, SIMCLR_KINDS, type ClassifierKind, type ClassifierOptions } from '../../libs/models/index.js';
import { classifierFromArtifacts, classifierToArtifacts, isClassifierMetadata, type ClassifierMetadata } from '../../libs/models/index.js';
import { cnnArchitectureFromProto, epochReportToProto, modelKindFromName, modelKindName, ProtoFieldError, v1, type ModelKindName } from '../../libs/proto/index.js';
import { getByRef, MEDIA_TYPES, putContent } from './artifacts.js';
import type { Kinded } from '../../libs/errors/index.js';

export const MODEL_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export class ModelNotFoundError extends Error implements Kinded {
  readonly kind = 'not-found' as const;
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ModelNotFoundError';
  }
}

/** The model id a training job produces: `m-<job_id>` (deterministic, so a resumed job writes the same record). */
export function modelIdForJob(jobId: string): string {
  return `m-${jobId}`;
}

/** Store key of a model's record. */
export function modelRecordKey(modelId: string): string {
  return `models/${modelId}/model.pb`;
}

export function checkModelId(modelId: string, field = 'model_id'): string {
  if (!MODEL_ID_PATTERN.test(modelId)) throw new ProtoFieldError(field, `must be 1–128 characters of [A-Za-z0-9_-]; got ${JSON.stringify(modelId.slice(0, 140))}`);
  return modelId;
}

/**
 * The name of a proto ModelKind the services handle. The SimCLR kinds are
 * CLI-only for now (`uae train|evaluate|attack`): INVALID_ARGUMENT naming
 * `field`, as for an unset kind.
 */
export function serviceModelKindName(kind: v1.ModelKind, field = 'model.kind'): ModelKindName {
  const name = modelKindName(kind, field);
  if ((SIMCLR_KINDS as readonly string[]).includes(name)) {
    throw new ProtoFieldError(field, `${v1.modelKindToJSON(kind)}: SimCLR is CLI-only for now (uae train --model ${name}, uae evaluate, uae attack --criterion loss); the services do not train, evaluate or attack it`);
  }
  return name;
}

/** The autoencoder kind of a proto ModelKind (classifiers are not autoencoders, SimCLR is CLI-only: INVALID_ARGUMENT). */
export function autoencoderKind(kind: v1.ModelKind, field = 'model.kind'): AutoencoderKind {
  const name = serviceModelKindName(kind, field);
  if (!(AUTOENCODER_KINDS as readonly string[]).includes(name)) {
    throw new ProtoFieldError(field, `${v1.modelKindToJSON(kind)} is not supported here; expected an autoencoder (${AUTOENCODER_KINDS.join(', ')})`);
  }
  return name as AutoencoderKind;
}

/** A model the services load: an autoencoder or a classifier (tell them apart with isClassifier). */
export type AnyModel = Autoencoder | Classifier;

export function isClassifier(m: AnyModel): m is Classifier {
  return m instanceof Classifier;
}

export function isClassifierKindName(name: string): name is ClassifierKind {
  return (CLASSIFIER_KINDS as readonly string[]).includes(name);
}

/** The classifier kind of a proto ModelKind, or undefined for an autoencoder kind (unset/unknown: INVALID_ARGUMENT). */
export function classifierKindOf(kind: v1.ModelKind, field = 'model.kind'): ClassifierKind | undefined {
  const name = serviceModelKindName(kind, field);
  return isClassifierKindName(name) ? name : undefined;
}

/** ModelConfig → createClassifier's options (kind, mlp hidden width, cnn architecture, seed, learning rate); errors name the field. */
export function classifierOptions(cfg: v1.ModelConfig, kind: ClassifierKind, field = 'model'): ClassifierOptions {
  if (!Number.isSafeInteger(cfg.seed) || cfg.seed < 0) throw new ProtoFieldError(`${field}.seed`, `must be an integer in [0, 2^53 − 1]; got ${cfg.seed}`);
  const architecture = cnnArchitectureFromProto(cfg.architecture, `${field}.architecture`);
  if (kind !== 'cnn-classifier' && architecture !== undefined) throw new ProtoFieldError(`${field}.architecture`, `applies to MODEL_KIND_CNN_CLASSIFIER only, not ${kind}`);
  if (kind === 'cnn-classifier' && cfg.hidden) throw new ProtoFieldError(`${field}.hidden`, 'the cnn-classifier\'s widths are fixed by its architecture; leave hidden unset');
  if (cfg.selectedFeatures) throw new ProtoFieldError(`${field}.selected_features`, 'applies to the concrete AE only');
  if (cfg.classes === 1) throw new ProtoFieldError(`${field}.classes`, 'must be at least 2 (0/unset: from the labels)');
  if (cfg.learningRate !== undefined && !(Number.isFinite(cfg.learningRate) && cfg.learningRate > 0 && cfg.learningRate <= 10)) {
    throw new ProtoFieldError(`${field}.learning_rate`, `must be in (0, 10]; got ${cfg.learningRate}`);
  }
  return {
    kind,
    ...(cfg.hidden ? { hidden: cfg.hidden } : {}),
    ...(architecture ? { architecture } : {}),
    ...(cfg.learningRate !== undefined ? { learningRate: cfg.learningRate } : {}),
    seed: cfg.seed,
  };
}

/** ModelConfig → the creation options libs/models takes (hidden, concrete k, seed). */
export function autoencoderOptions(cfg: v1.ModelConfig, field = 'model'): CreateAutoencoderOptions {
  if (!Number.isSafeInteger(cfg.seed) || cfg.seed < 0) throw new ProtoFieldError(`${field}.seed`, `must be an integer in [0, 2^53 − 1]; got ${cfg.seed}`);
  return {
    ...(cfg.hidden ? { hidden: cfg.hidden } : {}),
    ...(cfg.selectedFeatures ? { k: cfg.selectedFeatures } : {}),
    seed: cfg.seed,
  };
}

interface ModelJson {
  modelTopology: object;
  format: string;
  generatedBy: string;
  convertedBy: null;
  weightsManifest: Array<{ paths: string[]; weights: unknown[] }>;
  userDefinedMetadata?: { uae: { kind: AutoencoderKind; inputShape: number[]; options?: CreateAutoencoderOptions } | ClassifierMetadata };
}

/** One layers model as model.json + weights.bin (content-addressed); their refs. */
async function putLayersModel(store: ArtifactStore, a: LayersModelArtifacts, uae?: NonNullable<ModelJson['userDefinedMetadata']>['uae']): Promise<{ json: v1.ArtifactRef; weights: v1.ArtifactRef }> {
  const json: ModelJson = {
    modelTopology: a.modelTopology,
    format: 'layers-model',
    generatedBy: 'uae',
    convertedBy: null,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: a.weightSpecs }],
    ...(uae ? { userDefinedMetadata: { uae } } : {}),
  };
  const weights = await putContent(store, new Uint8Array(a.weightData), { mediaType: MEDIA_TYPES.octetStream, name: WEIGHTS_BIN });
  const ref = await putContent(store, new TextEncoder().encode(JSON.stringify(json)), { mediaType: MEDIA_TYPES.json, name: 'model.json' });
  return { json: ref, weights };
}

/** Writes model.json + weights.bin (content-addressed), and the adversarial-ae's discriminator pair; their ModelArtifacts. */
export async function putModelArtifacts(store: ArtifactStore, ae: Autoencoder): Promise<v1.ModelArtifacts> {
  const a = await toArtifacts(ae);
  const main = await putLayersModel(store, a, { kind: a.kind, inputShape: a.inputShape, ...(a.options ? { options: a.options } : {}) });
  const disc = a.discriminator ? await putLayersModel(store, a.discriminator) : undefined;
  return {
    kind: modelKindFromName(a.kind),
    inputShape: [...a.inputShape],
    modelJson: main.json,
    weights: main.weights,
    ...(disc ? { discriminatorJson: disc.json, discriminatorWeights: disc.weights } : {}),
  };
}

/** Writes a classifier's model.json (saveClassifier's metadata) + weights.bin (content-addressed); their ModelArtifacts. */
export async function putClassifierArtifacts(store: ArtifactStore, clf: Classifier, info: Record<string, unknown> = {}): Promise<v1.ModelArtifacts> {
  const a = await classifierToArtifacts(clf, info);
  const main = await putLayersModel(store, a, a.meta);
  return { kind: modelKindFromName(clf.kind), inputShape: [...clf.inputShape], modelJson: main.json, weights: main.weights };
}

export interface SaveModelInput {
  modelId: string;
  jobId: string;
  /** The model: an autoencoder or a classifier. */
  ae: AnyModel;
  config?: v1.ModelConfig;
  train?: v1.TrainConfig;
  dataset?: v1.DatasetConfig;
  history?: EpochReport[];
  stoppedEarly?: boolean;
  testReconError?: number;
  /** Classifiers: test accuracy. */
  testAccuracy?: number;
  createdAt?: Date;
}

/** Stores the model's artifacts, then its record (last); returns the record. */
export async function saveModel(store: ArtifactStore, input: SaveModelInput): Promise<v1.Model> {
  checkModelId(input.modelId);
  const artifacts = isClassifier(input.ae)
    ? await putClassifierArtifacts(store, input.ae, input.testAccuracy !== undefined ? { test_accuracy: input.testAccuracy } : {})
    : await putModelArtifacts(store, input.ae);
  const record = v1.Model.fromPartial({
    modelId: input.modelId,
    jobId: input.jobId,
    artifacts,
    config: input.config,
    train: input.train,
    dataset: input.dataset,
    history: { epochs: (input.history ?? []).map(epochReportToProto), stoppedEarly: input.stoppedEarly ?? false },
    ...(input.testReconError !== undefined ? { testReconError: input.testReconError } : {}),
    ...(input.testAccuracy !== undefined ? { testAccuracy: input.testAccuracy } : {}),
    createdAt: input.createdAt ?? new Date(),
  });
  await store.put(modelRecordKey(input.modelId), v1.Model.encode(record).finish(), { mediaType: `${MEDIA_TYPES.protobuf}; proto=uae.v1.Model` });
  return record;
}

/** A model's record; ModelNotFoundError (NOT_FOUND) when there is none (unknown id or training not finished). */
export async function getModelRecord(store: ArtifactStore, modelId: string, field = 'model_id'): Promise<v1.Model> {
  checkModelId(modelId, field);
  const key = modelRecordKey(modelId);
  if (!(await store.has(key))) throw new ModelNotFoundError(field, `no model "${modelId}" (unknown, or its training has not succeeded)`);
  try {
    return v1.Model.decode(await store.get(key));
  } catch (e) {
    if (e instanceof ArtifactNotFoundError) throw new ModelNotFoundError(field, `no model "${modelId}"`);
    throw e;
  }
}

/** Reads a model.json + weights.bin pair; ProtoFieldErrors name `jsonField` / `weightsField`. */
async function getLayersModel(
  store: ArtifactStore,
  jsonRef: v1.ArtifactRef | undefined,
  weightsRef: v1.ArtifactRef | undefined,
  jsonField: string,
  weightsField: string,
): Promise<{ json: ModelJson; artifacts: LayersModelArtifacts }> {
  const jsonBytes = await getByRef(store, jsonRef, jsonField);
  const weightBytes = await getByRef(store, weightsRef, weightsField);
  let json: Partial<ModelJson>;
  try {
    json = JSON.parse(new TextDecoder().decode(jsonBytes)) as Partial<ModelJson>;
  } catch (e) {
    throw new ProtoFieldError(jsonField, `not JSON: ${(e as Error).message}`);
  }
  if (!json || typeof json.modelTopology !== 'object' || json.modelTopology === null || !Array.isArray(json.weightsManifest)) {
    throw new ProtoFieldError(jsonField, 'not a tfjs layers model (no modelTopology / weightsManifest)');
  }
  const paths = json.weightsManifest.flatMap((g) => g.paths ?? []);
  if (paths.length !== 1) throw new ProtoFieldError(jsonField, `the weights manifest must name one file (weights.bin); it names ${paths.length}`);
  const weightData = weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.byteLength) as ArrayBuffer;
  return {
    json: json as ModelJson,
    artifacts: { modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights) as never, weightData },
  };
}

/** Rebuilds an autoencoder from its ModelArtifacts (model.json + weights.bin refs; an adversarial-ae's discriminator pair too). */
export async function modelFromArtifacts(store: ArtifactStore, artifacts: v1.ModelArtifacts | undefined, field = 'model.artifacts'): Promise<Autoencoder> {
  if (!artifacts) throw new ProtoFieldError(field, 'required');
  const kind = autoencoderKind(artifacts.kind, `${field}.kind`);
  const { json, artifacts: main } = await getLayersModel(store, artifacts.modelJson, artifacts.weights, `${field}.model_json`, `${field}.weights`);
  const meta = json.userDefinedMetadata?.uae as { kind: AutoencoderKind; inputShape: number[]; options?: CreateAutoencoderOptions } | undefined;
  if (meta?.kind !== undefined && meta.kind !== kind) {
    throw new ProtoFieldError(`${field}.kind`, `${v1.modelKindToJSON(artifacts.kind)} does not match model.json's kind "${meta.kind}"`);
  }
  const hasDisc = artifacts.discriminatorJson !== undefined || artifacts.discriminatorWeights !== undefined;
  if (hasDisc && kind !== 'adversarial-ae') throw new ProtoFieldError(`${field}.discriminator_json`, `only an adversarial-ae has a discriminator, not ${v1.modelKindToJSON(artifacts.kind)}`);
  const discriminator = hasDisc
    ? (await getLayersModel(store, artifacts.discriminatorJson, artifacts.discriminatorWeights, `${field}.discriminator_json`, `${field}.discriminator_weights`)).artifacts
    : undefined;
  const inputShape = artifacts.inputShape.length > 0 ? [...artifacts.inputShape] : meta?.inputShape;
  try {
    return await fromArtifacts({
      kind,
      inputShape: inputShape ?? [],
      ...main,
      ...(meta?.options ? { options: meta.options } : {}),
      ...(discriminator ? { discriminator } : {}),
    });
  } catch (e) {
    throw new ProtoFieldError(field, `cannot load the model: ${(e as Error).message}`);
  }
}

export interface LoadedModel {
  ae: Autoencoder;
  /** The record, for a model_id. */
  record?: v1.Model;
  artifacts: v1.ModelArtifacts;
}

/** Resolves a ModelRef (model_id or inline artifacts) and loads the autoencoder. The caller disposes `ae`. */
export async function loadModel(store: ArtifactStore, ref: v1.ModelRef | undefined, field = 'model'): Promise<LoadedModel> {
  const source = ref?.source;
  switch (source?.$case) {
    case undefined:
      throw new ProtoFieldError(`${field}.source`, 'required: set model_id or artifacts');
    case 'modelId': {
      const record = await getModelRecord(store, source.value, `${field}.model_id`);
      const ae = await modelFromArtifacts(store, record.artifacts, `${field}.model_id`);
      return { ae, record, artifacts: record.artifacts! };
    }
    case 'artifacts': {
      const ae = await modelFromArtifacts(store, source.value, `${field}.artifacts`);
      return { ae, artifacts: source.value };
    }
  }
}

/** Rebuilds a classifier from its ModelArtifacts (model.json with saveClassifier's metadata + weights.bin). */
export async function classifierFromModelArtifacts(store: ArtifactStore, artifacts: v1.ModelArtifacts, field = 'model.artifacts'): Promise<Classifier> {
  const kind = classifierKindOf(artifacts.kind, `${field}.kind`);
  if (!kind) throw new ProtoFieldError(`${field}.kind`, `${v1.modelKindToJSON(artifacts.kind)} is not a classifier`);
  if (artifacts.discriminatorJson !== undefined || artifacts.discriminatorWeights !== undefined) {
    throw new ProtoFieldError(`${field}.discriminator_json`, `only an adversarial-ae has a discriminator, not ${v1.modelKindToJSON(artifacts.kind)}`);
  }
  const { json, artifacts: main } = await getLayersModel(store, artifacts.modelJson, artifacts.weights, `${field}.model_json`, `${field}.weights`);
  const meta = json.userDefinedMetadata?.uae;
  if (!isClassifierMetadata(meta)) throw new ProtoFieldError(`${field}.model_json`, 'has no classifier metadata (userDefinedMetadata.uae {kind, inputShape, classes}, as saveClassifier writes it)');
  if (meta.kind !== kind) throw new ProtoFieldError(`${field}.kind`, `${v1.modelKindToJSON(artifacts.kind)} does not match model.json's kind "${meta.kind}"`);
  if (artifacts.inputShape.length > 0 && artifacts.inputShape.join() !== meta.inputShape.join()) {
    throw new ProtoFieldError(`${field}.input_shape`, `[${artifacts.inputShape.join(', ')}] does not match model.json's [${meta.inputShape.join(', ')}]`);
  }
  try {
    return await classifierFromArtifacts({ ...main, meta });
  } catch (e) {
    throw new ProtoFieldError(field, `cannot load the classifier: ${(e as Error).message}`);
  }
}

export interface LoadedAnyModel {
  model: AnyModel;
  record?: v1.Model;
  artifacts: v1.ModelArtifacts;
}

/** Resolves a ModelRef and loads the autoencoder or classifier it names. The caller disposes `model`. */
export async function loadAnyModel(store: ArtifactStore, ref: v1.ModelRef | undefined, field = 'model'): Promise<LoadedAnyModel> {
  const source = ref?.source;
  const load = (a: v1.ModelArtifacts, f: string): Promise<AnyModel> =>
    classifierKindOf(a.kind, `${f}.kind`) ? classifierFromModelArtifacts(store, a, f) : modelFromArtifacts(store, a, f);
  switch (source?.$case) {
    case undefined:
      throw new ProtoFieldError(`${field}.source`, 'required: set model_id or artifacts');
    case 'modelId': {
      const record = await getModelRecord(store, source.value, `${field}.model_id`);
      if (!record.artifacts) throw new ProtoFieldError(`${field}.model_id`, `model "${source.value}" has no artifacts`);
      return { model: await load(record.artifacts, `${field}.model_id`), record, artifacts: record.artifacts };
    }
    case 'artifacts':
      return { model: await load(source.value, `${field}.artifacts`), artifacts: source.value };
  }
}
