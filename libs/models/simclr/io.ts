/**
 * SimCLR models on disk: `dir`/model.json + weights.bin (the tfjs layers
 * format, through file-handler.ts like every model of the zoo) with our
 * metadata under userDefinedMetadata.uae (kind, inputShape, the resolved
 * options: temperature, head widths, augmentation seed and strengths, …), and
 * the per-sample loss's reference images, when the model has them, in
 * `dir`/reference.bin (float32, row-major [M, H, W, C]) with their source
 * (dataset, rows) in the metadata. The optimizer state is not saved.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../../tensor/index.js';
import { readModelFiles, writeModelFiles } from '../file-handler.js';
import type { LayersModelArtifacts } from '../types.js';
import { captureArtifacts } from '../io.js';
import { SIMCLR_KINDS, SimclrModel, resolveSimclrOptions, type ReferenceSource, type ResolvedSimclrOptions, type SimclrKind } from './model.js';

export const REFERENCE_BIN = 'reference.bin';

/** What saveSimclr stores under userDefinedMetadata.uae. */
export interface SimclrMetadata {
  kind: SimclrKind;
  inputShape: number[];
  options: ResolvedSimclrOptions;
  /** The reference bank: its file (relative), shape and source. */
  reference?: { file: string; shape: number[] } & ReferenceSource;
  /** What the caller recorded with it (e.g. the dataset, epochs, the linear probe's accuracy). */
  info?: Record<string, unknown>;
}

/**
 * Everything needed to rebuild a SimclrModel, as plain structured-clonable
 * data (worker threads): the layers model, the metadata saveSimclr writes and
 * the reference bank's images (float32, row-major [M, H, W, C]), so the rebuilt
 * model's perSampleLoss equals the original's.
 */
export interface SimclrArtifacts extends LayersModelArtifacts {
  meta: SimclrMetadata;
  /** The reference bank's images, when the model has one (shape in meta.reference). */
  reference?: Float32Array;
}

/** Whether `meta` (a model.json's userDefinedMetadata.uae) describes a SimCLR model. */
export function isSimclrMetadata(meta: unknown): meta is SimclrMetadata {
  const m = meta as Partial<SimclrMetadata> | undefined;
  return !!m && SIMCLR_KINDS.includes(m.kind as SimclrKind) && Array.isArray(m.inputShape) && typeof m.options === 'object' && m.options !== null;
}

/** Topology, weights, metadata (with `info`) and reference bank of `model` as plain data. */
export async function simclrToArtifacts(model: SimclrModel, info: Record<string, unknown> = {}): Promise<SimclrArtifacts> {
  const meta: SimclrMetadata = { kind: model.kind, inputShape: [...model.inputShape], options: structuredClone(model.options) as ResolvedSimclrOptions, info };
  const ref = model.reference;
  let reference: Float32Array | undefined;
  if (ref) {
    reference = (await ref.images.data()) as Float32Array;
    meta.reference = { file: REFERENCE_BIN, shape: [...ref.images.shape], ...structuredClone(ref.source) };
  }
  const a = await captureArtifacts(model.model);
  if (!a.modelTopology || a.modelTopology instanceof ArrayBuffer || a.weightData === undefined) throw new Error('model.save produced no JSON topology or weights');
  return { meta, modelTopology: a.modelTopology, weightSpecs: a.weightSpecs ?? [], weightData: tf.io.CompositeArrayBuffer.join(a.weightData), ...(reference ? { reference } : {}) };
}

/** Rebuilds a SimclrModel (fresh optimizer state, the same reference bank) from `simclrToArtifacts` output. */
export async function simclrFromArtifacts(a: SimclrArtifacts, where = 'SimCLR artifacts'): Promise<SimclrModel> {
  if (!isSimclrMetadata(a.meta)) {
    throw new Error(`${where}: not a saved SimCLR model (userDefinedMetadata.uae.kind is ${JSON.stringify((a.meta as { kind?: unknown } | undefined)?.kind)}, not one of ${SIMCLR_KINDS.join(', ')}; or inputShape/options missing)`);
  }
  const meta = a.meta;
  const options = resolveSimclrOptions(meta.kind, meta.options);
  const layers = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
  let model: SimclrModel | undefined;
  try {
    model = new SimclrModel(meta.kind, meta.inputShape, layers, options);
    const ref = meta.reference;
    if (ref) {
      if (!a.reference) throw new Error(`${where}: the metadata names a reference bank (${ref.file}) but no images came with it`);
      const size = ref.shape.reduce((p, d) => p * d, 1);
      if (a.reference.length !== size) throw new Error(`${where}/${ref.file}: ${a.reference.length} values, expected [${ref.shape.join(', ')}]`);
      const images = tf.tensor4d(a.reference, ref.shape as [number, number, number, number]);
      try {
        model.setReference(images, { source: ref.source, ...(ref.rows ? { rows: ref.rows } : {}) });
      } finally {
        images.dispose();
      }
    }
    return model;
  } catch (e) {
    if (model) model.dispose();
    else layers.dispose();
    throw e;
  }
}

/** Writes `model` to `dir` (created): model.json, weights.bin and, with a reference bank, reference.bin. */
export async function saveSimclr(model: SimclrModel, dir: string, info: Record<string, unknown> = {}): Promise<void> {
  const { meta, reference, modelTopology, weightSpecs, weightData } = await simclrToArtifacts(model, info);
  if (reference) {
    // reference.bin first and model.json last (writeModelFiles renames it into place): a reader never sees a model without its bank.
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${REFERENCE_BIN}.tmp-${process.pid}-${Date.now()}`);
    await writeFile(tmp, new Uint8Array(reference.buffer, reference.byteOffset, reference.byteLength));
    await rename(tmp, join(dir, REFERENCE_BIN));
  }
  await writeModelFiles(dir, { modelTopology, weightSpecs, weightData }, { uae: meta });
}

/** Reads a model written by saveSimclr (fresh optimizer state), with the `info` saved beside it. */
export async function loadSimclr(dir: string): Promise<{ model: SimclrModel; info: Record<string, unknown> }> {
  const a = await readModelFiles(dir);
  const meta = (a.userDefinedMetadata as { uae?: Partial<SimclrMetadata> } | undefined)?.uae;
  if (!isSimclrMetadata(meta)) {
    throw new Error(`${dir}: not a saved SimCLR model (userDefinedMetadata.uae.kind is ${JSON.stringify(meta?.kind)}, not one of ${SIMCLR_KINDS.join(', ')}; or inputShape/options missing)`);
  }
  let reference: Float32Array | undefined;
  if (meta.reference) {
    const bytes = await readFile(join(dir, meta.reference.file));
    reference = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  const model = await simclrFromArtifacts(
    { meta, modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData, ...(reference ? { reference } : {}) },
    dir,
  );
  return { model, info: meta.info ?? {} };
}
