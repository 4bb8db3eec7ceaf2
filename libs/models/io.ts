/**
 * Autoencoder serialisation: in-memory artifacts (worker threads, gRPC) and
 * files in the tfjs layers format (model.json + weights.bin). tfjs-core's
 * file:// handler ships with tfjs-node, which is not a dependency, so the files
 * go through our node:fs IOHandler (file-handler.ts, which users can pass to
 * stock tfjs too; docs/models.md). The optimizer state is not saved; a
 * loaded autoencoder is compiled afresh with its kind's loss and optimizer.
 *
 * Kinds beyond dense-ae / conv-ae also store their creation options (under
 * `userDefinedMetadata.uae.options`, and `options` in the artifacts); the
 * adversarial-ae's discriminator is a second layers model (`discriminator` in
 * the artifacts, the `discriminator/` folder on disk). concrete-ae's custom
 * ConcreteSelect layer is registered with tf.serialization when
 * libs/models is imported (worker threads import it too); stock tfjs
 * registers it with registerUaeLayers(tf) (layers.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../tensor/index.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { AdversarialAutoencoder } from './adversarial-ae.js';
import { wrapAutoencoder } from './zoo.js';
import type { Autoencoder, AutoencoderArtifacts, AutoencoderKind, CreateAutoencoderOptions, LayersModelArtifacts } from './types.js';
import { AUTOENCODER_KINDS } from './types.js';
import { MODEL_JSON, readModelFiles, writeModelFiles } from './file-handler.js';
import { CLASSIFIER_KINDS, compileClassifier, type Classifier, type ClassifierKind } from './classifier.js';
import { SIMCLR_KINDS, type SimclrKind } from './simclr/model.js';

export { MODEL_JSON, WEIGHTS_BIN } from './file-handler.js';

/** The adversarial-ae's discriminator, a folder beside model.json. */
export const DISCRIMINATOR_DIR = 'discriminator';

/** Metadata stored under `userDefinedMetadata.uae` in model.json. */
interface UaeMetadata {
  kind: AutoencoderKind;
  inputShape: number[];
  /** Creation options (kinds other than dense-ae / conv-ae). */
  options?: CreateAutoencoderOptions;
  /** adversarial-ae: the folder (relative) holding the discriminator. */
  discriminator?: string;
}

function joinWeightData(d: tf.io.WeightData | undefined): ArrayBuffer {
  if (d === undefined) throw new Error('model artifacts carry no weight data');
  return tf.io.CompositeArrayBuffer.join(d);
}

/** A layers model's topology and weights as tfjs-io ModelArtifacts, in memory. */
export async function captureArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!captured) throw new Error('model.save produced no artifacts');
  return captured;
}

async function layersArtifacts(model: tfl.LayersModel): Promise<LayersModelArtifacts> {
  const a = await captureArtifacts(model);
  if (!a.modelTopology || a.modelTopology instanceof ArrayBuffer) {
    throw new Error('model.save produced no JSON topology');
  }
  return { modelTopology: a.modelTopology, weightSpecs: a.weightSpecs ?? [], weightData: joinWeightData(a.weightData) };
}

/** Topology and weights of `ae` as plain data (structured-clonable; weightData transferable). */
export async function toArtifacts(ae: Autoencoder): Promise<AutoencoderArtifacts> {
  const out: AutoencoderArtifacts = {
    kind: ae.kind,
    inputShape: [...ae.inputShape],
    ...(await layersArtifacts(ae.model)),
  };
  if (ae.options) out.options = structuredClone(ae.options) as CreateAutoencoderOptions;
  if (ae instanceof AdversarialAutoencoder) out.discriminator = await layersArtifacts(ae.discriminator);
  return out;
}

function checkKind(kind: unknown): AutoencoderKind {
  if (!AUTOENCODER_KINDS.includes(kind as AutoencoderKind)) {
    throw new Error(`unknown autoencoder kind ${JSON.stringify(kind)}; expected one of ${AUTOENCODER_KINDS.join(', ')}`);
  }
  return kind as AutoencoderKind;
}

/** Loads the layers model(s) and wraps them, compiled for `kind`; disposes them on failure. */
async function loadWrapped(
  kind: AutoencoderKind,
  inputShape: number[] | undefined,
  main: LayersModelArtifacts,
  options: CreateAutoencoderOptions | undefined,
  discriminator: LayersModelArtifacts | undefined,
): Promise<Autoencoder> {
  const load = (a: LayersModelArtifacts) =>
    tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
  const model = await load(main);
  let disc: tfl.LayersModel | undefined;
  try {
    if (discriminator && kind === 'adversarial-ae') disc = await load(discriminator);
    return wrapAutoencoder(kind, inputShape ?? (model.inputs[0]!.shape.slice(1) as number[]), model, options, disc);
  } catch (e) {
    model.dispose();
    disc?.dispose();
    throw e;
  }
}

/** Rebuilds an autoencoder (compiled, fresh optimizer state) from `toArtifacts` output. */
export async function fromArtifacts(a: AutoencoderArtifacts): Promise<Autoencoder> {
  const kind = checkKind(a.kind);
  return loadWrapped(kind, a.inputShape, a, a.options, a.discriminator);
}

/** Writes `model` to `dir` (file-handler.ts), with our metadata under userDefinedMetadata.uae. */
async function writeLayersModel(dir: string, model: tfl.LayersModel, uae?: UaeMetadata): Promise<void> {
  await writeModelFiles(dir, await captureArtifacts(model), uae ? { uae } : {});
}

/** Reads `dir`/model.json and its weight files. */
async function readLayersModel(dir: string): Promise<{ metadata: unknown; topology: object; artifacts: LayersModelArtifacts }> {
  const a = await readModelFiles(dir);
  return { metadata: a.userDefinedMetadata, topology: a.modelTopology, artifacts: { modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData } };
}

/**
 * Writes `dir`/model.json and `dir`/weights.bin (tfjs layers format); creates
 * `dir`. adversarial-ae: the discriminator goes to `dir`/discriminator/ first.
 */
export async function saveAutoencoder(ae: Autoencoder, dir: string): Promise<void> {
  const meta: UaeMetadata = { kind: ae.kind, inputShape: [...ae.inputShape] };
  if (ae.options) meta.options = structuredClone(ae.options) as CreateAutoencoderOptions;
  if (ae instanceof AdversarialAutoencoder) {
    await writeLayersModel(join(dir, DISCRIMINATOR_DIR), ae.discriminator);
    meta.discriminator = DISCRIMINATOR_DIR;
  }
  await writeLayersModel(dir, ae.model, meta);
}

/** Kinds with a uae-only layer class cannot be told from a plain dense AE without metadata. */
const UAE_ONLY_CLASSES = ['ConcreteSelect'];

function inferKind(topology: unknown): AutoencoderKind {
  const text = JSON.stringify(topology);
  const custom = UAE_ONLY_CLASSES.find((c) => text.includes(`"${c}"`));
  if (custom) throw new Error(`model.json has a ${custom} layer but no uae metadata (userDefinedMetadata.uae.kind)`);
  return text.includes('"Conv2D"') ? 'conv-ae' : 'dense-ae';
}

/**
 * Reads an autoencoder written by `saveAutoencoder` (or any tfjs layers-format
 * dense/conv autoencoder: without uae metadata the kind is inferred from the
 * presence of a Conv2D layer; the other kinds need their metadata).
 */
export async function loadAutoencoder(dir: string): Promise<Autoencoder> {
  const { metadata, topology, artifacts } = await readLayersModel(dir);
  const meta = (metadata as { uae?: Partial<UaeMetadata> } | undefined)?.uae;
  const kind = checkKind(meta?.kind ?? inferKind(topology));
  const discriminator =
    kind === 'adversarial-ae' && typeof meta?.discriminator === 'string'
      ? (await readLayersModel(join(dir, meta.discriminator))).artifacts
      : undefined;
  return loadWrapped(kind, meta?.inputShape, artifacts, meta?.options, discriminator);
}

/** Classifier metadata under `userDefinedMetadata.uae` (beside an autoencoder's kinds, so neither loader takes the other's model). */
export interface ClassifierMetadata {
  kind: Classifier['kind'];
  inputShape: number[];
  classes: number;
  /** What the caller recorded with it (e.g. the feature network's training and test accuracy). */
  info?: Record<string, unknown>;
}

/** Writes a classifier to `dir` (model.json + weights.bin) with its shape, classes and `info`. */
export async function saveClassifier(clf: Classifier, dir: string, info: Record<string, unknown> = {}): Promise<void> {
  const meta: ClassifierMetadata = { kind: clf.kind, inputShape: [...clf.inputShape], classes: clf.classes, info };
  await writeModelFiles(dir, await captureArtifacts(clf.model), { uae: meta });
}

/** Reads a classifier written by `saveClassifier` (compiled afresh), with the `info` saved beside it. */
export async function loadClassifier(dir: string): Promise<{ classifier: Classifier; info: Record<string, unknown> }> {
  const { metadata, artifacts } = await readLayersModel(dir);
  const meta = (metadata as { uae?: Partial<ClassifierMetadata> } | undefined)?.uae;
  if (!meta || !CLASSIFIER_KINDS.includes(meta.kind as ClassifierKind)) {
    throw new Error(`${dir}: not a saved classifier (userDefinedMetadata.uae.kind is ${JSON.stringify(meta?.kind)}, not one of ${CLASSIFIER_KINDS.join(', ')})`);
  }
  if (!Array.isArray(meta.inputShape) || !Number.isInteger(meta.classes)) throw new Error(`${dir}: classifier metadata lacks inputShape or classes`);
  const model = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  return { classifier: compileClassifier(model, meta.inputShape, meta.classes!, undefined, meta.kind!), info: meta.info ?? {} };
}

/**
 * Everything needed to rebuild a classifier, as plain structured-clonable
 * data (worker threads, the services' artifact store): the layers model and
 * the metadata saveClassifier writes, so model.json + weights.bin written from
 * these load with loadClassifier, and the reverse.
 */
export interface ClassifierArtifacts extends LayersModelArtifacts {
  meta: ClassifierMetadata;
}

/** Whether `meta` (a model.json's userDefinedMetadata.uae) describes a classifier. */
export function isClassifierMetadata(meta: unknown): meta is ClassifierMetadata {
  const m = meta as Partial<ClassifierMetadata> | undefined;
  return !!m && CLASSIFIER_KINDS.includes(m.kind as ClassifierKind) && Array.isArray(m.inputShape) && Number.isInteger(m.classes);
}

/** Topology and weights of `clf` as plain data, with its metadata and `info`. */
export async function classifierToArtifacts(clf: Classifier, info: Record<string, unknown> = {}): Promise<ClassifierArtifacts> {
  return { meta: { kind: clf.kind, inputShape: [...clf.inputShape], classes: clf.classes, info }, ...(await layersArtifacts(clf.model)) };
}

/** Rebuilds a classifier (compiled, fresh optimizer state) from `classifierToArtifacts` output. */
export async function classifierFromArtifacts(a: ClassifierArtifacts): Promise<Classifier> {
  if (!isClassifierMetadata(a.meta)) throw new Error(`not classifier metadata: ${JSON.stringify(a.meta)} (kind one of ${CLASSIFIER_KINDS.join(', ')}, inputShape, classes)`);
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
  try {
    return compileClassifier(model, [...a.meta.inputShape], a.meta.classes, undefined, a.meta.kind);
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** What kind of model `dir` holds, from its model.json metadata (no weights read): a classifier kind, a SimCLR kind, else 'autoencoder'. */
export async function savedModelFamily(dir: string): Promise<'classifier' | 'simclr' | 'autoencoder'> {
  let kind: unknown;
  try {
    kind = (JSON.parse(await readFile(join(dir, MODEL_JSON), 'utf8')) as { userDefinedMetadata?: { uae?: { kind?: unknown } } }).userDefinedMetadata?.uae?.kind;
  } catch {
    // Unreadable: the autoencoder loader reports what is wrong with it.
    return 'autoencoder';
  }
  if (SIMCLR_KINDS.includes(kind as SimclrKind)) return 'simclr';
  return CLASSIFIER_KINDS.includes(kind as ClassifierKind) ? 'classifier' : 'autoencoder';
}
