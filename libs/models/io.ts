/**
 * Autoencoder serialisation: in-memory artifacts (worker threads, gRPC) and
 * files in the tfjs layers format (model.json + weights.bin). tfjs-core's
 * file:// handler ships with tfjs-node, which is not a dependency, so the file
 * IOHandler here uses node:fs directly. The optimizer state is not saved; a
 * loaded autoencoder is compiled afresh with its kind's loss and optimizer.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tf } from '../tensor/index.js';
import * as tfl from '@tensorflow/tfjs-layers';
import { LayersAutoencoder, compileAutoencoder } from './autoencoders.js';
import type { Autoencoder, AutoencoderArtifacts, AutoencoderKind } from './types.js';
import { AUTOENCODER_KINDS } from './types.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** Metadata stored under `userDefinedMetadata.uae` in model.json. */
interface UaeMetadata {
  kind: AutoencoderKind;
  inputShape: number[];
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

/** Topology and weights of `ae` as plain data (structured-clonable; weightData transferable). */
export async function toArtifacts(ae: Autoencoder): Promise<AutoencoderArtifacts> {
  const a = await captureArtifacts(ae.model);
  if (!a.modelTopology || a.modelTopology instanceof ArrayBuffer) {
    throw new Error('model.save produced no JSON topology');
  }
  return {
    kind: ae.kind,
    inputShape: [...ae.inputShape],
    modelTopology: a.modelTopology,
    weightSpecs: a.weightSpecs ?? [],
    weightData: joinWeightData(a.weightData),
  };
}

function checkKind(kind: unknown): AutoencoderKind {
  if (!AUTOENCODER_KINDS.includes(kind as AutoencoderKind)) {
    throw new Error(`unknown autoencoder kind ${JSON.stringify(kind)}; expected one of ${AUTOENCODER_KINDS.join(', ')}`);
  }
  return kind as AutoencoderKind;
}

/** Loads a layers model from `handler` and wraps it, compiled for `kind`. */
async function loadWrapped(
  kind: AutoencoderKind,
  inputShape: number[] | undefined,
  handler: tf.io.IOHandler,
): Promise<Autoencoder> {
  const model = await tfl.loadLayersModel(handler);
  let optimizer: tf.Optimizer | undefined;
  try {
    optimizer = compileAutoencoder(kind, model);
    return new LayersAutoencoder(kind, inputShape ?? (model.inputs[0]!.shape.slice(1) as number[]), model, optimizer);
  } catch (e) {
    model.dispose();
    optimizer?.dispose();
    throw e;
  }
}

/** Rebuilds an autoencoder (compiled, fresh optimizer state) from `toArtifacts` output. */
export async function fromArtifacts(a: AutoencoderArtifacts): Promise<Autoencoder> {
  const kind = checkKind(a.kind);
  return loadWrapped(
    kind,
    a.inputShape,
    tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }),
  );
}

/** Writes `dir`/model.json and `dir`/weights.bin (tfjs layers format); creates `dir`. */
export async function saveAutoencoder(ae: Autoencoder, dir: string): Promise<void> {
  const a = await captureArtifacts(ae.model);
  const weightData = joinWeightData(a.weightData);
  const meta: UaeMetadata = { kind: ae.kind, inputShape: [...ae.inputShape] };
  const modelJson: tf.io.ModelJSON = {
    modelTopology: a.modelTopology as object,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: a.weightSpecs ?? [] }],
    userDefinedMetadata: { ...(a.userDefinedMetadata ?? {}), uae: meta },
  };
  await mkdir(dir, { recursive: true });
  // Write beside the targets, then rename: a reader never sees half a model.
  const suffix = `.tmp-${process.pid}-${Date.now()}`;
  await writeFile(join(dir, WEIGHTS_BIN + suffix), new Uint8Array(weightData));
  await writeFile(join(dir, MODEL_JSON + suffix), JSON.stringify(modelJson));
  await rename(join(dir, WEIGHTS_BIN + suffix), join(dir, WEIGHTS_BIN));
  await rename(join(dir, MODEL_JSON + suffix), join(dir, MODEL_JSON));
}

function inferKind(topology: unknown): AutoencoderKind {
  const text = JSON.stringify(topology);
  return text.includes('"Conv2D"') ? 'conv-ae' : 'dense-ae';
}

/**
 * Reads an autoencoder written by `saveAutoencoder` (or any tfjs layers-format
 * dense/conv autoencoder: without uae metadata the kind is inferred from the
 * presence of a Conv2D layer).
 */
export async function loadAutoencoder(dir: string): Promise<Autoencoder> {
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
  const weightData = tf.io.CompositeArrayBuffer.join(buffers);
  const meta = (json.userDefinedMetadata as { uae?: Partial<UaeMetadata> } | undefined)?.uae;
  const kind = checkKind(meta?.kind ?? inferKind(json.modelTopology));
  return loadWrapped(
    kind,
    meta?.inputShape,
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }),
  );
}
