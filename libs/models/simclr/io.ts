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

/** Writes `model` to `dir` (created): model.json, weights.bin and, with a reference bank, reference.bin. */
export async function saveSimclr(model: SimclrModel, dir: string, info: Record<string, unknown> = {}): Promise<void> {
  const meta: SimclrMetadata = { kind: model.kind, inputShape: [...model.inputShape], options: structuredClone(model.options) as ResolvedSimclrOptions, info };
  const ref = model.reference;
  let refData: Float32Array | undefined;
  if (ref) {
    refData = (await ref.images.data()) as Float32Array;
    meta.reference = { file: REFERENCE_BIN, shape: [...ref.images.shape], ...structuredClone(ref.source) };
  }
  const artifacts = await captureArtifacts(model.model);
  if (refData) {
    // reference.bin first and model.json last (writeModelFiles renames it into place): a reader never sees a model without its bank.
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `${REFERENCE_BIN}.tmp-${process.pid}-${Date.now()}`);
    await writeFile(tmp, new Uint8Array(refData.buffer, refData.byteOffset, refData.byteLength));
    await rename(tmp, join(dir, REFERENCE_BIN));
  }
  await writeModelFiles(dir, artifacts, { uae: meta });
}

/** Reads a model written by saveSimclr (fresh optimizer state), with the `info` saved beside it. */
export async function loadSimclr(dir: string): Promise<{ model: SimclrModel; info: Record<string, unknown> }> {
  const a = await readModelFiles(dir);
  const meta = (a.userDefinedMetadata as { uae?: Partial<SimclrMetadata> } | undefined)?.uae;
  if (!meta || !SIMCLR_KINDS.includes(meta.kind as SimclrKind)) {
    throw new Error(`${dir}: not a saved SimCLR model (userDefinedMetadata.uae.kind is ${JSON.stringify(meta?.kind)}, not one of ${SIMCLR_KINDS.join(', ')})`);
  }
  if (!Array.isArray(meta.inputShape) || !meta.options) throw new Error(`${dir}: SimCLR metadata lacks inputShape or options`);
  const kind = meta.kind!;
  const options = resolveSimclrOptions(kind, meta.options);
  const layers = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
  let model: SimclrModel | undefined;
  try {
    model = new SimclrModel(kind, meta.inputShape, layers, options);
    const ref = meta.reference;
    if (ref) {
      const bytes = await readFile(join(dir, ref.file));
      const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const size = ref.shape.reduce((p, d) => p * d, 1);
      if (values.length !== size) throw new Error(`${dir}/${ref.file}: ${values.length} values, expected [${ref.shape.join(', ')}]`);
      const images = tf.tensor4d(values, ref.shape as [number, number, number, number]);
      try {
        model.setReference(images, { source: ref.source, ...(ref.rows ? { rows: ref.rows } : {}) });
      } finally {
        images.dispose();
      }
    }
    return { model, info: meta.info ?? {} };
  } catch (e) {
    if (model) model.dispose();
    else layers.dispose();
    throw e;
  }
}
