/**
 * Classifiers as in-memory artifacts (topology, weight specs, weight data),
 * for services that keep models in an artifact store rather than on disk:
 * the same layers model and `userDefinedMetadata.uae` {kind, inputShape,
 * classes, info} that io.ts saveClassifier writes, so model.json + weights.bin
 * written from these artifacts load with loadClassifier, and the reverse.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { tf } from '../tensor/index.js';
import { CLASSIFIER_KINDS, compileClassifier, type Classifier, type ClassifierKind } from './classifier.js';
import type { LayersModelArtifacts } from './types.js';

/** What io.ts saveClassifier stores under userDefinedMetadata.uae. */
export interface ClassifierMetadata {
  kind: ClassifierKind;
  inputShape: number[];
  classes: number;
  info?: Record<string, unknown>;
}

export interface ClassifierArtifacts extends LayersModelArtifacts {
  meta: ClassifierMetadata;
}

/** Topology and weights of `clf`, with its metadata. */
export async function classifierToArtifacts(clf: Classifier, info: Record<string, unknown> = {}): Promise<ClassifierArtifacts> {
  let captured: tf.io.ModelArtifacts | undefined;
  await clf.model.save(
    tf.io.withSaveHandler(async (a) => {
      captured = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  if (!captured?.modelTopology || captured.modelTopology instanceof ArrayBuffer || captured.weightData === undefined) throw new Error('model.save produced no JSON topology or weights');
  return {
    modelTopology: captured.modelTopology,
    weightSpecs: captured.weightSpecs ?? [],
    weightData: tf.io.CompositeArrayBuffer.join(captured.weightData),
    meta: { kind: clf.kind, inputShape: [...clf.inputShape], classes: clf.classes, info },
  };
}

/** Whether `meta` (a model.json's userDefinedMetadata.uae) describes a classifier. */
export function isClassifierMetadata(meta: unknown): meta is ClassifierMetadata {
  const m = meta as Partial<ClassifierMetadata> | undefined;
  return !!m && CLASSIFIER_KINDS.includes(m.kind as ClassifierKind) && Array.isArray(m.inputShape) && Number.isInteger(m.classes);
}

/** Rebuilds a classifier (compiled afresh, as loadClassifier does) from its artifacts. */
export async function classifierFromArtifacts(a: ClassifierArtifacts): Promise<Classifier> {
  if (!isClassifierMetadata(a.meta)) throw new Error(`not classifier metadata: ${JSON.stringify(a.meta)}`);
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, weightData: a.weightData }));
  try {
    return compileClassifier(model, [...a.meta.inputShape], a.meta.classes, undefined, a.meta.kind);
  } catch (e) {
    model.dispose();
    throw e;
  }
}
