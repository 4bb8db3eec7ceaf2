/**
 * Autoencoder serialisation: in-memory artifacts (worker threads, gRPC) and
 * files in the tfjs layers format (model.json + weights.bin). tfjs-core's
 * file:// handler ships with tfjs-node, which is not a dependency, so the file
 * IOHandler here uses node:fs directly. The optimizer state is not saved; a
 * loaded autoencoder is compiled afresh with its kind's loss and optimizer.
 *
 * Kinds beyond dense-ae / conv-ae also store their creation options (under
 * `userDefinedMetadata.uae.options`, and `options` in the artifacts); the
 * adversarial-ae's discriminator is a second layers model (`discriminator` in
 * the artifacts, the `discriminator/` folder on disk). concrete-ae's custom
 * ConcreteSelect layer is registered with tf.serialization when
 * libs/models is imported (worker threads import it too).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../tensor/index.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { AdversarialAutoencoder } from './adversarial-ae.js';
import { wrapAutoencoder } from './zoo.js';
import type { Autoencoder, AutoencoderArtifacts, AutoencoderKind, CreateAutoencoderOptions, LayersModelArtifacts } from './types.js';
import { AUTOENCODER_KINDS } from './types.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

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

async function captureArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
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

/** Writes `dir`/model.json and `dir`/weights.bin, each written beside and renamed into place. */
async function writeLayersModel(dir: string, model: tfl.LayersModel, uae?: UaeMetadata): Promise<void> {
  const a = await captureArtifacts(model);
  const weightData = joinWeightData(a.weightData);
  const modelJson: tf.io.ModelJSON = {
    modelTopology: a.modelTopology as object,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: a.weightSpecs ?? [] }],
    ...(uae || a.userDefinedMetadata ? { userDefinedMetadata: { ...(a.userDefinedMetadata ?? {}), ...(uae ? { uae } : {}) } } : {}),
  };
  await mkdir(dir, { recursive: true });
  // Write beside the targets, then rename: a reader never sees half a model.
  const suffix = `.tmp-${process.pid}-${Date.now()}`;
  await writeFile(join(dir, WEIGHTS_BIN + suffix), new Uint8Array(weightData));
  await writeFile(join(dir, MODEL_JSON + suffix), JSON.stringify(modelJson));
  await rename(join(dir, WEIGHTS_BIN + suffix), join(dir, WEIGHTS_BIN));
  await rename(join(dir, MODEL_JSON + suffix), join(dir, MODEL_JSON));
}

/** Reads `dir`/model.json and its weight files. */
async function readLayersModel(dir: string): Promise<{ json: tf.io.ModelJSON; artifacts: LayersModelArtifacts }> {
  const jsonPath = join(dir, MODEL_JSON);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
  } catch (e) {
    throw new Error(`cannot read ${jsonPath}: ${(e as Error).message}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${jsonPath}: not a tfjs layers model (no modelTopology / weightsManifest)`);
  }
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) {
      const bytes = await readFile(join(dir, p));
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
  }
  return { json, artifacts: { modelTopology: json.modelTopology, weightSpecs, weightData: tf.io.CompositeArrayBuffer.join(buffers) } };
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
  const { json, artifacts } = await readLayersModel(dir);
  const meta = (json.userDefinedMetadata as { uae?: Partial<UaeMetadata> } | undefined)?.uae;
  const kind = checkKind(meta?.kind ?? inferKind(json.modelTopology));
  const discriminator =
    kind === 'adversarial-ae' && typeof meta?.discriminator === 'string'
      ? (await readLayersModel(join(dir, meta.discriminator))).artifacts
      : undefined;
  return loadWrapped(kind, meta?.inputShape, artifacts, meta?.options, discriminator);
}
