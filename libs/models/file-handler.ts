/**
 * A tfjs IOHandler for a model folder on disk (model.json + weights.bin, the
 * tfjs layers format), with node:fs: what `file://` does in tfjs-node, for
 * stock @tensorflow/tfjs, which has no file system handler.
 *
 *   const model = await tf.loadLayersModel(modelFiles('run/models/mine'));
 *   await model.save(modelFiles('copy'));
 *
 * or, after registerFileScheme(tf), tfjs-node's spelling:
 *
 *   const model = await tf.loadLayersModel('file://run/models/mine/model.json');
 *
 * Only tfjs-core's io helpers are used (no backend is chosen or changed), so
 * it works beside any tfjs build of the same major version.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tfc from '@tensorflow/tfjs-core';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** `dir`/model.json, or the .json file itself: the model file and the folder its weight paths are relative to. */
function modelPaths(path: string): { dir: string; json: string } {
  return path.endsWith('.json') ? { dir: dirname(path), json: basename(path) } : { dir: path, json: MODEL_JSON };
}

/** Reads `path` (a folder's model.json, or a model .json file) and its weight files as tfjs model artifacts (one weight buffer). */
export async function readModelFiles(path: string): Promise<tfc.io.ModelArtifacts & { modelTopology: object; weightSpecs: tfc.io.WeightsManifestEntry[]; weightData: ArrayBuffer }> {
  const { dir, json: jsonName } = modelPaths(path);
  const jsonPath = join(dir, jsonName);
  let json: tfc.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8')) as tfc.io.ModelJSON;
  } catch (e) {
    throw new Error(`cannot read ${jsonPath}: ${(e as Error).message}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) {
    throw new Error(`${jsonPath}: not a tfjs layers model (no modelTopology / weightsManifest)`);
  }
  const weightSpecs: tfc.io.WeightsManifestEntry[] = [];
  const buffers: ArrayBuffer[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) {
      const weightsPath = join(dir, p);
      const bytes = await readFile(weightsPath).catch((e: Error) => {
        throw new Error(`${jsonPath}: cannot read its weights file ${weightsPath}: ${e.message}`);
      });
      buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    }
  }
  return {
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData: tfc.io.CompositeArrayBuffer.join(buffers),
    ...(json.format !== undefined ? { format: json.format } : {}),
    ...(json.generatedBy !== undefined ? { generatedBy: json.generatedBy } : {}),
    ...(json.convertedBy != null ? { convertedBy: json.convertedBy } : {}),
    ...(json.userDefinedMetadata ? { userDefinedMetadata: json.userDefinedMetadata } : {}),
  };
}

/**
 * Writes `artifacts` as `dir`/model.json and `dir`/weights.bin (creating
 * `dir`), each written beside its target and renamed into place, so a reader
 * never sees half a model. `metadata` is merged into userDefinedMetadata.
 */
export async function writeModelFiles(dir: string, artifacts: tfc.io.ModelArtifacts, metadata: Record<string, object> = {}): Promise<void> {
  if (!artifacts.modelTopology || artifacts.modelTopology instanceof ArrayBuffer) throw new Error('model artifacts carry no JSON topology');
  if (artifacts.weightData === undefined) throw new Error('model artifacts carry no weight data');
  const userDefinedMetadata = { ...(artifacts.userDefinedMetadata ?? {}), ...metadata };
  const modelJson: tfc.io.ModelJSON = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
    ...(Object.keys(userDefinedMetadata).length > 0 ? { userDefinedMetadata } : {}),
  };
  await mkdir(dir, { recursive: true });
  const suffix = `.tmp-${process.pid}-${Date.now()}`;
  await writeFile(join(dir, WEIGHTS_BIN + suffix), new Uint8Array(tfc.io.CompositeArrayBuffer.join(artifacts.weightData)));
  await writeFile(join(dir, MODEL_JSON + suffix), JSON.stringify(modelJson));
  await rename(join(dir, WEIGHTS_BIN + suffix), join(dir, WEIGHTS_BIN));
  await rename(join(dir, MODEL_JSON + suffix), join(dir, MODEL_JSON));
}

/**
 * The IOHandler of a model folder (or of a model .json file, for loading):
 * `tf.loadLayersModel(modelFiles(dir))`, `model.save(modelFiles(dir))`.
 */
export function modelFiles(path: string): tfc.io.IOHandler {
  return {
    load: () => readModelFiles(path),
    save: async (artifacts) => {
      await writeModelFiles(modelPaths(path).dir, artifacts);
      return { modelArtifactsInfo: tfc.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

const FILE_SCHEME = 'file://';

/** modelFiles for a `file://PATH` URL (PATH as tfjs-node takes it: the rest of the string), null for other URLs. */
export function fileSchemeRouter(url: string | string[]): tfc.io.IOHandler | null {
  return typeof url === 'string' && url.startsWith(FILE_SCHEME) ? modelFiles(url.slice(FILE_SCHEME.length)) : null;
}

/**
 * Lets stock tfjs load and save `file://` URLs through modelFiles, as
 * tfjs-node does. Not with tfjs-node loaded: its own file:// handler would
 * match too, and tfjs refuses a URL with two handlers.
 */
export function registerFileScheme(tf: { io: Pick<typeof tfc.io, 'registerLoadRouter' | 'registerSaveRouter'> }): void {
  // tfjs types a router as never returning null, but calls every router and keeps the non-null answers (its own return null too).
  const router = fileSchemeRouter as Parameters<typeof tfc.io.registerLoadRouter>[0];
  tf.io.registerLoadRouter(router);
  tf.io.registerSaveRouter(router);
}
